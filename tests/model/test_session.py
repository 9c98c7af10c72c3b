"""``SessionInfo``: validation on construction and the line reports print."""

from __future__ import annotations

from typing import Any

import pytest

from ethoagent.errors import InputError
from ethoagent.model.session import SessionInfo
from ethoagent.model.skeleton import CALMS21


def test_a_session_states_its_rate_animals_and_unit() -> None:
    s = SessionInfo(
        fps=30,
        animals=["resident", "intruder"],  # type: ignore[arg-type]
        keypoints=CALMS21.keypoints,
        roles=CALMS21.roles,
        source="mice.h5",
    )
    assert s.fps == 30.0 and isinstance(s.fps, float)
    assert s.animals == ("resident", "intruder") and s.roles == CALMS21.roles
    assert not s.is_3d and SessionInfo(fps=50, animals=("m",), keypoints=("a",), unit="mm").is_3d
    assert s.describe() == "30 fps, 2 animals (resident, intruder), 7 keypoints, unit px"
    assert repr(s) == "SessionInfo(fps=30, animals=2, keypoints=7, unit='px')"
    assert s == SessionInfo(
        30.0, ("resident", "intruder"), CALMS21.keypoints, "px", dict(CALMS21.roles), "mice.h5"
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fps": 0}, "frame rate 0"),
        ({"fps": float("nan")}, "frame rate nan"),
        ({"fps": "fast"}, "frame rate 'fast'"),
        ({"animals": ()}, "one or more animals"),
        ({"animals": ("m", "m")}, r"names animals \['m'\] more than once"),
        ({"keypoints": ("nose", "")}, "one or more keypoints names"),
        ({"unit": ""}, "no unit"),
        ({"roles": {"nose": ("snout",)}}, "not keypoints of the skeleton"),
        ({"roles": {"wing": ("nose",)}}, "unknown body role 'wing'"),
    ],
)
def test_bad_sessions_are_refused_with_the_fix(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"fps": 30.0, "animals": ("m",), "keypoints": ("nose", "tail_base")}
    with pytest.raises(InputError, match=match) as err:
        SessionInfo(**{**args, **kwargs, "source": "s.csv"})
    assert err.value.fix and "\n" not in str(err.value)

"""``--body`` files (``io.body``): roles stated by the user override name matching; errors
name the file and line; the layout's recorded name rebuilds the same layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.body import read_body, read_body_roles
from ethoagent.io.keypoints import write_keypoints
from ethoagent.io.session import resolve_session
from ethoagent.model.pose import PoseData
from ethoagent.tools.features import compute_features, infer_layout, layout_named

OPENFIELD = ("snout", "leftear", "rightear", "tailbase")
OPAQUE = ("p1", "p2", "p3", "p4", "corner_tl")


def _write(tmp: Path, text: str, name: str = "body.toml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_roles_override_matching_and_opaque_names_get_a_layout(tmp_path: Path) -> None:
    body = _write(tmp_path, 'head = "p1"\ntail_base = "p4"\ncentre = ["p2", "p3"]\n')
    layout = read_body(body, OPAQUE)
    assert layout.head == ("p1",) and layout.tail_base == "p4"
    assert layout.centre == ("p2", "p3")
    assert "corner_tl" not in layout.body  # arena points stay out of the body
    # the recorded name rebuilds the same layout (a resumed run reads only the name)
    assert layout_named(layout.name, OPAQUE) == layout


def test_partial_body_file_keeps_matched_roles(tmp_path: Path) -> None:
    # name matching takes "tailbase" as the tail base; the file only moves the head
    body = _write(tmp_path, '[roles]\nhead = ["leftear", "rightear"]\n')
    layout = read_body(body, OPENFIELD)
    assert layout.head == ("leftear", "rightear")
    assert layout.tail_base == infer_layout(OPENFIELD).tail_base == "tailbase"


def test_nose_and_neck_hips_fill_head_and_centre(tmp_path: Path) -> None:
    names = ("Nose", "Neck", "Hips", "TailBase", "Tail_1", "Tail_2")
    body = _write(tmp_path, 'nose = "Nose"\nneck = "Neck"\nhips = "Hips"\n')
    layout = read_body(body, names)
    assert layout.head == ("Nose",) and layout.centre == ("Neck", "Hips")


def test_names_match_ignoring_case_and_separators(tmp_path: Path) -> None:
    body = _write(tmp_path, 'head = "SNOUT"\ntail_base = "tail-base"\n')
    layout = read_body(body, ("Snout", "Tail_Base", "Mid"))
    assert layout.head == ("Snout",) and layout.tail_base == "Tail_Base"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('head = "snout"\nsnoot = "x"\n', ":2: unknown body role 'snoot'"),
        ('head = "snout"\ntail_base = "tail"\n', ":2: tail_base names keypoint 'tail'"),
        ('head = "snout"\ncentre = 3\n', ":2: centre must be a keypoint name"),
        ('head = "snout\n', "is not valid TOML"),
        ('head = "snout"\nbody = []\n', ":2: body must be a keypoint name"),
        ("# nothing\n", "states no body role"),
    ],
)
def test_bad_body_files_name_the_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    body = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_body(body, OPENFIELD)
    message = str(err.value)
    assert str(body) in message and needle in message and "\n" not in message


def test_skeleton_toml_roles_are_read(tmp_path: Path) -> None:
    skel = _write(
        tmp_path,
        'keypoints = ["a", "b", "c"]\n[roles]\nhead = ["a"]\ntail_base = ["c"]\n',
        "skeleton.toml",
    )
    roles, body = read_body_roles(skel)
    assert roles["head"] == ("a",) and roles["tail_base"] == ("c",) and body is None
    assert read_body(skel, ("a", "b", "c")).tail_base == "c"


def test_missing_body_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"body file .* not found"):
        read_body_roles(tmp_path / "nope.toml")


def test_session_with_body_computes_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = 60
    base = np.cumsum(rng.normal(0, 1, (frames, 1, 1, 2)), axis=0)
    offsets = np.array([[0, 0], [10, 0], [20, 0], [30, 0], [500, 500]], dtype=float)
    points = base + offsets[None, None]
    data = PoseData(
        points=points,
        confidence=np.ones(points.shape[:3]),
        keypoints=OPAQUE,
        individuals=("m",),
        fps=30.0,
        unit="px",
    )
    kp = write_keypoints(data, tmp_path / "s.nc", format="netcdf")
    body = _write(tmp_path, 'head = "p1"\ntail_base = "p4"\n')
    session = resolve_session(kp, body=body)
    layout = layout_named(session.layout, session.keypoint_names)
    feats = compute_features(points, fps=30.0, keypoints=OPAQUE, individuals=("m",), layout=layout)
    # head p1 and tail base p4 lie 30 px apart: one body length
    assert np.nanmedian(feats.body_length) == pytest.approx(30.0)

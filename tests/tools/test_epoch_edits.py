"""A person's ethogram edits: relabel, split and merge applied in order, then re-tiled."""

from __future__ import annotations

import pytest

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.epoch_edits import EpochEdit, apply_epoch_edits
from ethoagent.tools.ethogram import check_tiling

BASE = {
    "m": [
        Epoch(start=0, stop=10, label="walk", confidence=0.9, cluster=0),
        Epoch(start=10, stop=20, label="rear", confidence=0.4, cluster=1),
        Epoch(start=20, stop=30, label="walk", confidence=0.8, cluster=0),
    ]
}


def _spans(eps: list[Epoch]) -> list[tuple[int, int, str]]:
    return [(e.start, e.stop, e.label) for e in eps]


def _edit(action: str, start: int, stop: int, **kw: object) -> EpochEdit:
    return EpochEdit.model_validate(
        {"animal": "m", "start": start, "stop": stop, "action": action, **kw}
    )


def test_a_relabel_retiles_and_a_split_stays_cut() -> None:
    out = apply_epoch_edits(BASE, [_edit("relabel", 10, 20, label="walk")], 30)
    assert _spans(out["m"]) == [(0, 30, "walk")]  # joined with the same-label neighbours
    assert out["m"][0].confidence == 0.8 and out["m"][0].cluster is None
    edits = [_edit("split", 10, 20, at=15), _edit("relabel", 15, 20, label="groom")]
    out = apply_epoch_edits(BASE, edits, 30)
    assert _spans(out["m"]) == [(0, 10, "walk"), (10, 15, "rear"), (15, 20, "groom"),
                                (20, 30, "walk")]  # fmt: skip
    assert out["m"][2].confidence == 1.0 and "reviewer" in out["m"][2].description
    out = apply_epoch_edits(BASE, [_edit("split", 0, 10, at=4)], 30)
    assert _spans(out["m"])[:2] == [(0, 4, "walk"), (4, 10, "walk")]  # a cut a person made
    for eps in out.values():
        assert all(c.passed for c in check_tiling(eps, 30))


def test_merges_take_the_span_label_and_spans_need_not_match_epochs() -> None:
    out = apply_epoch_edits(BASE, [_edit("merge", 10, 20, neighbour="next")], 30)
    assert _spans(out["m"]) == [(0, 10, "walk"), (10, 30, "rear")]
    out = apply_epoch_edits(BASE, [_edit("merge", 10, 20, neighbour="previous")], 30)
    assert _spans(out["m"]) == [(0, 20, "rear"), (20, 30, "walk")]
    out = apply_epoch_edits(BASE, [_edit("relabel", 5, 25, label="groom")], 30)
    assert _spans(out["m"]) == [(0, 5, "walk"), (5, 25, "groom"), (25, 30, "walk")]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (_edit("merge", 0, 10, neighbour="previous"), "it is the first"),
        (_edit("merge", 20, 30, neighbour="next"), "it is the last"),
        (_edit("split", 10, 20, at=20), "not inside the span"),
        (_edit("relabel", 10, 40, label="x"), "outside 0..30"),
        (EpochEdit(animal="z", start=0, stop=5, action="relabel", label="x"), "no such animal"),
    ],
)
def test_impossible_edits_are_one_clear_error(edit: EpochEdit, match: str) -> None:
    with pytest.raises(InputError, match=match):
        apply_epoch_edits(BASE, [edit], 30)

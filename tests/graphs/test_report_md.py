"""Report sections shared by segment, classify and profile (graphs.kit.report_md)."""

from __future__ import annotations

from ethoagent.graphs.kit.report_md import dyadic_md, roles_md, unit_words, warnings_md
from ethoagent.tools.features import BodyLayout, describe_roles


def test_roles_section_says_matched_derived_absent_and_disabled() -> None:
    names = ["snout", "leftear", "rightear", "tailbase", "corner_1"]
    roles = describe_roles(BodyLayout.from_keypoints(names), names).model_dump()
    text = "\n".join(roles_md(roles, "px"))
    assert "| head | matched | snout |" in text
    assert "| tail_base | matched | tailbase |" in text
    assert "| centre | derived | midpoint of head and tail base |" in text
    assert "| paws | absent | — |" in text
    assert "Features not computed for lack of a role: `paw_head`, `tail_bend`." in text
    assert "Arena/object points, kept out of the body: corner_1." in text
    assert "pixels (image coordinates)" in text


def test_units_warnings_and_dyadic_sections() -> None:
    assert unit_words("px") == "pixels (image coordinates)"
    assert unit_words("mm") == "mm (world coordinates)"
    assert unit_words("px", 85.25) == "pixels (image coordinates; median body length 85.2 px)"
    assert unit_words("m", 0.05) == "m (world coordinates; median body length 0.05 m)"
    assert warnings_md([]) == []
    assert warnings_md(["DEC did not converge"])[:3] == [
        "## Warnings",
        "",
        "- DEC did not converge",
    ]
    none = "\n".join(dyadic_md([]))
    assert "No frame disagrees" in none
    change = {"animal": "b", "partner": "a", "before": "huddle", "after": "close_contact"}
    text = "\n".join(dyadic_md([{**change, "frames": 12}]))
    assert "| b | a | huddle | close_contact | 12 |" in text
    assert "12 animal-frame(s) took their partner's label" in text

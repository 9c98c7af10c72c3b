"""The merge relabels cheap, unconfirmed ``still`` captions whose blob outline is restless."""

from __future__ import annotations

from ethoagent.graphs.segment.video import RESTLESS_LABEL, relabel_restless
from ethoagent.tools.captions import Caption


def test_only_a_cheap_still_caption_found_restless_is_relabelled() -> None:
    still = Caption(posture="on all fours", direction="none", speed="still",
                    social_interaction="none", label="still", confidence=0.6)  # fmt: skip
    restless = {(0, 30): 2.5}
    record = {"animal": 0, "start": 30, "stop": 60, "source": "kinematics"}
    cap, note = relabel_restless(still, record, restless, offline=False)
    assert cap.label == RESTLESS_LABEL and cap.confidence == 0.4 and "2.5x" in note
    # a real model saw the frames: its "still" stands; the offline backend's does not
    model = {**record, "source": "model"}
    assert relabel_restless(still, model, restless, offline=False) == (still, "")
    assert relabel_restless(still, model, restless, offline=True)[0].label == RESTLESS_LABEL
    for other in ({**record, "animal": 1}, {**record, "start": 0}):
        assert relabel_restless(still, other, restless, offline=False) == (still, "")
    walking = still.model_copy(update={"label": "walking"})
    assert relabel_restless(walking, record, restless, offline=False)[0] == walking

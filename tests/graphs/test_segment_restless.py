"""The merge relabels the cheap ``still`` captions of a restless cluster (video features)."""

from __future__ import annotations

from ethoagent.graphs.segment.video import RESTLESS_LABEL, relabel_restless
from ethoagent.tools.captions import Caption


def test_only_a_cheap_still_caption_of_a_restless_cluster_is_relabelled() -> None:
    still = Caption(posture="on all fours", direction="none", speed="still",
                    social_interaction="none", label="still", confidence=0.6)  # fmt: skip
    restless = {3: 2.5}
    record = {"cluster": 3, "source": "kinematics"}
    cap, note = relabel_restless(still, record, restless, offline=False)
    assert cap.label == RESTLESS_LABEL and "2.5x" in note
    # a real model saw the frames: its "still" stands; the offline backend's does not
    model = {"cluster": 3, "source": "model"}
    assert relabel_restless(still, model, restless, offline=False) == (still, "")
    assert relabel_restless(still, model, restless, offline=True)[0].label == RESTLESS_LABEL
    assert relabel_restless(still, {**record, "cluster": 1}, restless, offline=False)[1] == ""
    walking = still.model_copy(update={"label": "walking"})
    assert relabel_restless(walking, record, restless, offline=False)[0] == walking

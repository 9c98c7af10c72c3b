"""What the pose graph's 3D stage judges and keeps beyond the triangulation stage's own.

``side_offsets`` is what the 3D left/right check reads (the frame's own up where it shows
one); ``recording`` and ``kept_proposal`` let a flagged frame keep the best proposal its
escalations made instead of the last one tried. Pure functions; ``graphs.pose.stages``
wires them into ``label_frame``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from ethoagent.graphs.kit.nodes import Escalation, Feedback, Stage, StageContext
from ethoagent.graphs.pose.item_stages import BodyAxes, lateral_offsets
from ethoagent.graphs.triangulate.graph import FrameInput, FramePoints


def side_offsets(axes: BodyAxes, points_3d: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per left/right pair, how far (mm) its left keypoint lies on the body's left of its right.

    Up is the frame's own dorsal direction (hindpaws' midpoint to body centre) where the
    frame shows them, else the seeds' (``axes.up``): a fixed world up misjudges a rearing or
    curled animal (on DANNCE's hand labels it put a correct pair on the wrong side in 10 of
    81 frames, the frame's own up in none).

    Args:
        axes: the seeds' body axes.
        points_3d: ``(keypoints, 3)`` mm, NaN = missing.

    Returns:
        ``(pairs,)`` mm, positive on the correct side, NaN where unknown.
    """
    own = lateral_offsets(axes.skeleton, points_3d)
    seeds = lateral_offsets(axes.skeleton, points_3d, axes.up)
    out: NDArray[np.float64] = np.where(np.isfinite(own), own, seeds) * axes.sign
    return out


def recording(
    stage: Stage[FrameInput, FramePoints], proposals: list[FramePoints]
) -> Stage[FrameInput, FramePoints]:
    """``stage`` recording its proposals: its own and its escalations', in order made."""

    async def propose(inp: FrameInput, feedback: Feedback | None, ctx: StageContext) -> FramePoints:
        out = await stage.propose(inp, feedback, ctx)
        proposals.append(out)
        return out

    def recorded(esc: Escalation[FrameInput, FramePoints]) -> Escalation[FrameInput, FramePoints]:
        async def run(
            inp: FrameInput, last: FramePoints | None, feedback: Feedback, ctx: StageContext
        ) -> FramePoints:
            out = await esc.run(inp, last, feedback, ctx)
            proposals.append(out)
            return out

        return replace(esc, run=run)

    return replace(stage, propose=propose, escalations=[recorded(e) for e in stage.escalations])


def kept_proposal(
    stage: Stage[FrameInput, FramePoints], inp: FrameInput, proposals: Sequence[FramePoints]
) -> tuple[FramePoints, list[str]]:
    """The proposal a flagged frame keeps, and the checks it fails.

    The one failing the fewest of ``stage``'s checks; of equals, one that passes the
    coverage check (it rests on most of the frame's labels, where another left them out),
    then the earliest: an escalation that fixes nothing does not replace the proposal
    before it. Escalations
    are tried in a fixed order and the last one tried is not the best by construction:
    the model re-ask reads the per-view stages' labels again and can undo a RANSAC over
    the 2D model's names that failed one check only.

    Args:
        stage: the triangulation stage (its checks are run again, no model is asked).
        inp: the frame's input.
        proposals: every proposal made for the frame, in order (at least one).
    """
    failed = [
        [c.name for c in (check(inp, p) for check in stage.checks) if not c.passed]
        for p in proposals
    ]
    best = min(range(len(proposals)), key=lambda i: (len(failed[i]), "coverage" in failed[i], i))
    return proposals[best], failed[best]


__all__ = ["kept_proposal", "recording", "side_offsets"]

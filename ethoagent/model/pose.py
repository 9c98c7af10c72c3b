"""``PoseData``: the keypoints of one recording, with names, frame rate and unit.

Points ``(frames, individuals, keypoints, D)`` float64 (D = 2 pixels or 3 in ``unit``),
NaN = missing. Pure data, validated on construction; files are read and written by
``ethoagent.io.keypoints``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError

if TYPE_CHECKING:
    pass

__all__ = ["PoseData"]


@dataclass(frozen=True, repr=False)
class PoseData:
    """Keypoints of one recording (one view), with names and units.

    Attributes:
        points: ``(frames, individuals, keypoints, D)`` float64; D = 2 (pixels) or 3
            (``unit``); NaN = missing.
        confidence: ``(frames, individuals, keypoints)`` float64 in [0, 1] (DLC likelihood,
            SLEAP / anipose score), NaN where the file has none.
        keypoints: keypoint names, length ``keypoints``.
        individuals: individual names, length ``individuals``.
        fps: frame rate in Hz, or ``None`` if unknown.
        unit: ``"px"`` for 2D, the 3D unit (``"mm"``) otherwise.
        frame_names: row labels where the file has them (e.g. image paths of labelled
            frames), else ``None``.
        source: the file it was read from (``""`` if built in memory).
    """

    points: NDArray[np.float64]
    confidence: NDArray[np.float64]
    keypoints: tuple[str, ...]
    individuals: tuple[str, ...]
    fps: float | None = None
    unit: str = "px"
    frame_names: tuple[str, ...] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 4 or pts.shape[-1] not in (2, 3):
            raise InputError(
                f"PoseData points must be (frames, individuals, keypoints, 2|3); "
                f"found shape {pts.shape}.",
                fix="add the missing axes (e.g. points[:, None] for one individual).",
            )
        if pts.shape[1:3] != (len(self.individuals), len(self.keypoints)):
            raise InputError(
                f"PoseData points have {pts.shape[1]} individuals and {pts.shape[2]} keypoints "
                f"but {len(self.individuals)} and {len(self.keypoints)} names were given.",
                fix="pass one name per individual and keypoint.",
            )
        conf = np.asarray(self.confidence, dtype=np.float64)
        if conf.shape != pts.shape[:3]:
            raise InputError(
                f"PoseData confidence must have shape {pts.shape[:3]}; found {conf.shape}.",
                fix="pass (frames, individuals, keypoints) or NaN-filled confidence.",
            )
        if self.frame_names is not None and len(self.frame_names) != pts.shape[0]:
            raise InputError(
                f"PoseData has {pts.shape[0]} frames but {len(self.frame_names)} frame names.",
                fix="pass one frame name per frame, or frame_names=None.",
            )
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "confidence", conf)

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.points.shape[0])

    def __repr__(self) -> str:
        f, i, k, d = self.points.shape
        fps = "?" if self.fps is None else f"{self.fps:g}"
        return (
            f"PoseData(frames={f}, individuals={i}, keypoints={k}, dims={d}, fps={fps}, "
            f"unit={self.unit!r})"
        )

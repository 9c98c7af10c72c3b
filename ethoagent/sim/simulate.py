"""Simulate a whole multi-view session on disk: videos, calibration and ground truth.

``simulate_session(OUT, preset=..., frames=..., animals=..., views=..., seed=...)`` writes::

    OUT/videos/<view>.mp4              one OpenCV mp4v video per camera
    OUT/calibration.toml               anipose calibration of the cameras (mm)
    OUT/ground_truth/2d/<view>.csv     DLC-style 2D per view; likelihood = 1 visible, 0 hidden
    OUT/ground_truth/points_3d.csv     DLC-style 3D (coords x, y, z in mm, arena frame, z up)
    OUT/ground_truth/labels.csv        frame + one behaviour name per animal
    OUT/ground_truth/social_bouts.csv  behaviour, start, stop (exclusive), actor, target
    OUT/ground_truth/dropped_frames.csv frame + per view 1 where the camera repeated a frame
    OUT/ground_truth/arrays.npz        the same as arrays (points_3d, points_2d, visible, …)
    OUT/ground_truth/seeds.csv         3 labelled seed frames (first mouse) for ``ethoagent pose``
    OUT/README.txt                     what the files are

``preview_frame(preset, frame=...)`` tiles one frame of every view into one image (the
figures in the README).

Presets (``PRESETS``; every knob is a field of ``SimulationPreset``):

- ``easy``: 1 mouse, 320×240 at 30 fps, noise σ 1 grey level, no motion blur, no
  distractors, steady light, no obstacles, no dropped frames.
- ``paper-like``: 1 mouse, 320×240 at 30 fps, noise σ 3, motion blur 0.5, 4 specular
  distractors, ±10 % light drift with ~1 jump per 1,000 frames, no obstacles, no drops —
  the quantum-dot six-camera setting of the papers at low resolution.
- ``hard``: 3 mice (social behaviours, mutual occlusion), 320×240 at 25 fps, noise σ 8,
  motion blur 1, 12 distractors, ±25 % light with ~4 jumps per 1,000 frames, 2 occluding
  obstacles, 1 % dropped frames per camera.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.atomic import atomic_save_npz, atomic_write_text
from ethoagent.errors import InputError
from ethoagent.io.calibration import write_calibration
from ethoagent.io.keypoints import write_dlc_csv
from ethoagent.model.camera import Camera
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import BEHAVIOURS
from ethoagent.sim.render import (
    Occluders,
    RenderSettings,
    VideoSink,
    compute_visibility,
    make_occluders,
    render_view,
)
from ethoagent.sim.synthetic import KEYPOINTS, World, simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.labelling import write_seed_labels

ProgressCallback = Callable[[int, int], None]
"""Called with ``(done, total)`` rendered images (frames × views) as the session is written."""


class SimulationPreset(BaseModel):
    """Difficulty knobs of a simulated session.

    Attributes:
        animals: number of mice (1–3).
        width: image width, pixels.
        height: image height, pixels.
        fps: frame rate, Hz.
        arena_radius_mm: arena floor radius, mm.
        render: image-level knobs (noise, blur, distractors, lighting, occluders, drops).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    animals: int = Field(1, ge=1, le=3)
    width: int = Field(320, ge=64, le=4096)
    height: int = Field(240, ge=48, le=4096)
    fps: float = Field(30.0, gt=0.0, le=500.0)
    arena_radius_mm: float = Field(150.0, ge=100.0, le=2000.0)
    render: RenderSettings = RenderSettings()


PRESETS: dict[str, SimulationPreset] = {
    "easy": SimulationPreset(
        render=RenderSettings(
            noise_std=1.0,
            motion_blur=0.0,
            distractors=0,
            lighting_amplitude=0.0,
            lighting_jumps=0.0,
        )
    ),
    "paper-like": SimulationPreset(),
    "hard": SimulationPreset(
        animals=3,
        fps=25.0,
        render=RenderSettings(
            noise_std=8.0,
            motion_blur=1.0,
            distractors=12,
            lighting_amplitude=0.25,
            lighting_jumps=4.0,
            obstacles=2,
            dropped_frame_rate=0.01,
        ),
    ),
}
"""The named presets (see the module docstring)."""


@dataclass(frozen=True)
class SessionPaths:
    """Where ``simulate_session`` wrote each file.

    Attributes:
        root: the output folder.
        videos: one mp4 per view, in camera order.
        calibration: the anipose ``calibration.toml``.
        points_2d: one DLC-style CSV per view (likelihood = visibility).
        points_3d: DLC-style 3D CSV, mm.
        labels: frame-wise behaviour names per animal.
        social_bouts: the social bouts table.
        dropped_frames: frame-wise dropped flags per view.
        arrays: ``.npz`` with every ground-truth array.
        seeds: the first, middle and last frame's visible 2D marks of the first mouse as
            seed labels (``frame,view,keypoint,x,y``) for ``ethoagent pose``.
        readme: ``README.txt``.
    """

    root: Path
    videos: tuple[Path, ...]
    calibration: Path
    points_2d: tuple[Path, ...]
    points_3d: Path
    labels: Path
    social_bouts: Path
    dropped_frames: Path
    arrays: Path
    seeds: Path
    readme: Path


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _readme(preset_name: str, preset: SimulationPreset, world: World, cams: list[Camera]) -> str:
    views = ", ".join(c.name for c in cams)
    return f"""Synthetic multi-view mouse session (ethoagent.sim.simulate) — not a real recording.

Preset {preset_name!r}: {preset.model_dump_json()}
Frames: {world.frames} at {world.fps:g} fps; animals: {world.animals}; views: {views}.
Arena: circular floor of radius {world.arena_radius_mm:g} mm centred at the origin, z up,
all 3D coordinates in millimetres.

videos/<view>.mp4            rendered frames (OpenCV mp4v), {preset.width}x{preset.height} px.
calibration.toml             anipose/aniposelib calibration of the views (OpenCV pinhole model,
                             distortion k1 k2 p1 p2 k3, Rodrigues rotation, translation in mm).
ground_truth/2d/<view>.csv   DeepLabCut-style CSV per view: exact projections (pixels) of the 12
                             marks of every animal; likelihood = 1 if the mark is visible in that
                             view, 0 if hidden (behind a body, inside a body, outside the image).
ground_truth/points_3d.csv   DeepLabCut-style CSV, coords x, y, z in mm (arena frame).
ground_truth/labels.csv      frame, then one behaviour name per animal
                             (vocabulary: {", ".join(BEHAVIOURS)}).
ground_truth/social_bouts.csv  behaviour, start frame, stop frame (exclusive), actor, target.
ground_truth/dropped_frames.csv  frame, then per view 1 where the camera dropped the frame
                             (the video repeats the previous image; ground truth is unaffected).
ground_truth/seeds.csv       frame,view,keypoint,x,y: the visible marks of the first mouse in
                             the first, middle and last frame (seed labels for `ethoagent pose`).
ground_truth/arrays.npz      points_3d (frames, animals, 12, 3) mm; points_2d (frames, views,
                             animals, 12, 2) px; visible (frames, views, animals, 12) bool;
                             labels (frames, animals) codes into behaviours; dropped (frames,
                             views) bool; keypoints, behaviours, views, animals (names).
Keypoints: {", ".join(KEYPOINTS)}.
"""


@dataclass(frozen=True)
class _Scene:
    """Everything of a session but its images and files.

    ``visible`` is ``(frames, views, animals, keypoints)`` bool and ``uv`` the exact
    projections ``(frames, views, animals, keypoints, 2)`` float64 pixels.
    """

    name: str
    preset: SimulationPreset
    world: World
    cameras: list[Camera]
    occluders: Occluders
    visible: NDArray[np.bool_]
    uv: NDArray[np.float64]


def _view_seed(seed: int, view: int) -> int:
    """The renderer's seed of one view of a session."""
    return seed * 1000 + view


def _build_scene(
    preset: str | SimulationPreset, frames: int, animals: int | None, views: int, seed: int
) -> _Scene:
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise InputError(
                f"unknown simulation preset {preset!r}; known: {list(PRESETS)}.",
                fix="pass one of those names or a SimulationPreset.",
            )
        name, pre = preset, PRESETS[preset]
    else:
        name, pre = "custom", preset
    if animals is not None:
        pre = pre.model_copy(update={"animals": animals})
        SimulationPreset.model_validate(pre.model_dump())
    if views < 2:
        raise InputError(f"views must be >= 2, got {views}.", fix="triangulation needs two.")
    world = simulate_world(
        frames,
        animals=pre.animals,
        fps=pre.fps,
        arena_radius_mm=pre.arena_radius_mm,
        seed=seed,
    )
    # the focal length keeps the arena in view whatever the resolution
    focal = 280.0 * pre.width / 320.0
    cams = make_ring_cameras(views, size=(pre.width, pre.height), focal_px=focal, seed=seed)
    occ = make_occluders(world, obstacles=pre.render.obstacles, seed=seed)
    visible = compute_visibility(cams, world.points_3d, occ)  # (F, V, A, K)
    uv = np.moveaxis(project_points(cams, world.points_3d), 3, 1)  # (F, V, A, K, 2)
    return _Scene(name, pre, world, cams, occ, visible, uv)


def simulate_session(
    out_dir: str | os.PathLike[str],
    *,
    preset: str | SimulationPreset = "paper-like",
    frames: int = 500,
    animals: int | None = None,
    views: int = 6,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> SessionPaths:
    """Simulate a session and write videos, calibration and ground truth to ``out_dir``.

    Args:
        out_dir: output folder (created; files in it are replaced).
        preset: a name from ``PRESETS`` or a ``SimulationPreset``.
        frames: number of frames (>= 1).
        animals: number of mice (1–3); ``None`` uses the preset's.
        views: number of cameras (>= 2): a ring around the arena plus one overhead.
        seed: random seed; the same arguments give the same files' content.
        progress: called with ``(done, total)`` rendered images.

    Returns:
        The paths written.
    """
    scene = _build_scene(preset, frames, animals, views, seed)
    name, pre, world, cams = scene.name, scene.preset, scene.world, scene.cameras
    occ, visible, uv = scene.occluders, scene.visible, scene.uv
    root = Path(out_dir)
    write_calibration(root / "calibration.toml", cams, {"unit": "mm", "preset": name})
    total = frames * views
    done = 0
    videos: list[Path] = []
    dropped = np.zeros((frames, views), dtype=bool)

    for v, cam in enumerate(cams):
        path = root / "videos" / f"{cam.name}.mp4"
        tmp = path.with_name(f".{path.name}.tmp.mp4")
        with VideoSink(tmp, fps=pre.fps, size=cam.size) as sink:

            def emit(image: np.ndarray[tuple[int, ...], np.dtype[np.uint8]]) -> None:
                nonlocal done
                sink(image)
                done += 1
                if progress is not None and (done % 25 == 0 or done == total):
                    progress(done, total)

            rv = render_view(
                world,
                cam,
                points_2d=uv[:, v],
                visible=visible[:, v],
                occluders=occ,
                settings=pre.render,
                sink=emit,
                seed=_view_seed(seed, v),
            )
        tmp.replace(path)
        dropped[:, v] = rv.dropped
        videos.append(path)

    gt = root / "ground_truth"
    individuals = tuple(f"mouse_{a}" for a in range(world.animals))
    paths_2d: list[Path] = []
    for v, cam in enumerate(cams):
        pose = PoseData(
            points=uv[:, v],
            confidence=visible[:, v].astype(np.float64),
            keypoints=KEYPOINTS,
            individuals=individuals,
            fps=world.fps,
        )
        paths_2d.append(write_dlc_csv(gt / "2d" / f"{cam.name}.csv", pose, multi_animal=True))
    pose3 = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=individuals,
        fps=world.fps,
        unit="mm",
    )
    p3 = write_dlc_csv(gt / "points_3d.csv", pose3, multi_animal=True)
    names = world.behaviour.names
    labels = atomic_write_text(
        gt / "labels.csv",
        _csv_text([["frame", *individuals]] + [[f, *names[f]] for f in range(frames)]),
    )
    bouts = atomic_write_text(
        gt / "social_bouts.csv",
        _csv_text(
            [["behaviour", "start", "stop", "actor", "target"]]
            + [
                [b.behaviour, b.start, b.stop, individuals[b.actor], individuals[b.target or 0]]
                for b in world.behaviour.social_bouts
            ]
        ),
    )
    drops = atomic_write_text(
        gt / "dropped_frames.csv",
        _csv_text(
            [["frame", *(c.name for c in cams)]]
            + [[f, *dropped[f].astype(int)] for f in range(frames)]
        ),
    )
    arrays = atomic_save_npz(
        gt / "arrays.npz",
        {
            "points_3d": world.points_3d,
            "points_2d": uv,
            "visible": visible,
            "labels": world.behaviour.labels,
            "dropped": dropped,
            "keypoints": np.asarray(KEYPOINTS),
            "behaviours": np.asarray(BEHAVIOURS),
            "views": np.asarray([c.name for c in cams]),
            "animals": np.asarray(individuals),
        },
    )
    seed_frames = sorted({0, frames // 2, frames - 1})
    seeds = write_seed_labels(
        gt / "seeds.csv",
        seed_frames,
        np.where(visible[seed_frames, :, 0, :, None], uv[seed_frames, :, 0], np.nan),
        [c.name for c in cams],
        KEYPOINTS,
    )
    readme = atomic_write_text(root / "README.txt", _readme(name, pre, world, cams))
    return SessionPaths(
        root=root,
        videos=tuple(videos),
        calibration=root / "calibration.toml",
        points_2d=tuple(paths_2d),
        points_3d=p3,
        labels=labels,
        social_bouts=bouts,
        dropped_frames=drops,
        arrays=arrays,
        seeds=seeds,
        readme=readme,
    )


def preview_frame(
    preset: str | SimulationPreset = "paper-like",
    *,
    frame: int = 0,
    frames: int | None = None,
    animals: int | None = None,
    views: int = 6,
    seed: int = 0,
    columns: int = 3,
) -> NDArray[np.uint8]:
    """One frame of every view of a simulated session, tiled into a grid (for figures).

    The images are those ``simulate_session`` would encode for the same arguments (before
    video compression). Every frame of the session is rendered, because noise, lighting
    and drops run through it in order; keep ``frames`` small (the default is
    ``frame + 1``).

    Args:
        preset: a name from ``PRESETS`` or a ``SimulationPreset``.
        frame: which frame to show (0-based).
        frames: frames of the session it belongs to (default ``frame + 1``; the world
            depends on the session's length).
        animals: number of mice (1–3); ``None`` uses the preset's.
        views: number of cameras (>= 2).
        seed: random seed.
        columns: tiles per row.

    Returns:
        ``(rows * height, columns * width)`` uint8 greyscale image, views in camera order
        row by row, each tile named in its top-left corner; empty tiles are black.
    """
    n = frame + 1 if frames is None else frames
    if not 0 <= frame < n:
        raise InputError(
            f"frame must be in [0, {n}) for a {n}-frame session, got {frame}.",
            fix="pass a frame inside the session.",
        )
    if columns < 1:
        raise InputError(f"columns must be >= 1, got {columns}.", fix="pass e.g. 3.")
    scene = _build_scene(preset, n, animals, views, seed)
    w, h = scene.preset.width, scene.preset.height
    rows = -(-views // columns)
    grid = np.zeros((rows * h, columns * w), dtype=np.uint8)
    for v, cam in enumerate(scene.cameras):
        shown: list[NDArray[np.uint8]] = []

        def keep(image: NDArray[np.uint8], out: list[NDArray[np.uint8]] = shown) -> None:
            if len(out) <= frame:
                out.append(image[..., 0])

        render_view(
            scene.world,
            cam,
            points_2d=scene.uv[:, v],
            visible=scene.visible[:, v],
            occluders=scene.occluders,
            settings=scene.preset.render,
            sink=keep,
            seed=_view_seed(seed, v),
        )
        tile = shown[frame].copy()
        cv2.putText(tile, cam.name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 255, 1, cv2.LINE_AA)
        r, c = divmod(v, columns)
        grid[r * h : (r + 1) * h, c * w : (c + 1) * w] = tile
    return grid

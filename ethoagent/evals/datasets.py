"""Loaders for the shared real data sets (``../shared/data``, see its ``MANIFEST.md``).

``load_dataset(name)`` loads one folder into a ``Dataset``: keypoints in the internal
representation (``PoseData``), frame-wise labels, calibrated cameras, multi-view 2D / 3D
arrays and the facts a user needs about each (``notes``). ``DATASETS`` names them.
``summarise_dataset(name)`` (and ``summarise_datasets()`` for all) says what a folder
holds — sessions, views, frames, keypoints, labelled frames and bouts per behaviour, size
on disk — or how to get it where it is missing (``ethoagent data list``); it reads the
keypoint and label files but never decodes a video.
The data is never copied into the repository; a missing folder is one clear error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import h5py
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from ethoagent.errors import InputError
from ethoagent.io.calibration import read_calibration, read_dannce_calibration
from ethoagent.io.keypoints import read_dlc_csv
from ethoagent.io.labels import Labels, label_videos, read_labels
from ethoagent.model.camera import Camera
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import bouts_from_labels

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSummary",
    "LabelCount",
    "count_labels",
    "load_dataset",
    "shared_data_dir",
    "summarise_dataset",
    "summarise_datasets",
]


def shared_data_dir() -> Path:
    """The shared real-data folder: ``$ETHOAGENT_SHARED_DATA`` or ``<repo>/../shared/data``."""
    env = os.environ.get("ETHOAGENT_SHARED_DATA")
    if env:
        return Path(env)
    return (Path(__file__).resolve().parents[2].parent / "shared" / "data").resolve()


@dataclass(frozen=True)
class Dataset:
    """One folder of the shared real data, loaded.

    Attributes:
        name: the folder name.
        pose: per session (or view) name, its keypoints.
        labels: per session name, frame-wise labels ``(frames, columns)`` int64.
        label_columns: per session name, the names of the label columns (raters, or the
            behaviour itself where one person labelled it).
        behaviours: the label vocabulary: code ``i + 1`` in ``labels`` is
            ``behaviours[i]``, 0 = none (for 0/1 labels, the one behaviour).
        cameras: the calibrated views (empty if none).
        view_names: names of the views of ``points_2d``.
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing, or
            ``None``.
        points_3d: ``(frames, keypoints, 3)`` float64 mm, NaN = missing, or ``None``.
        keypoints_3d: keypoint names of ``points_2d`` / ``points_3d``.
        videos: per session/view name, the video file.
        fps: frame rate, Hz, where one applies to the whole set.
        notes: facts a user needs (conventions, missing parts), one per line.
    """

    name: str
    pose: dict[str, PoseData] = field(default_factory=dict)
    labels: dict[str, NDArray[np.int64]] = field(default_factory=dict)
    label_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    behaviours: tuple[str, ...] = ()
    cameras: list[Camera] = field(default_factory=list)
    view_names: tuple[str, ...] = ()
    points_2d: NDArray[np.float64] | None = None
    points_3d: NDArray[np.float64] | None = None
    keypoints_3d: tuple[str, ...] = ()
    videos: dict[str, Path] = field(default_factory=dict)
    fps: float | None = None
    notes: tuple[str, ...] = ()


def _columns(labels: Labels) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """A frame-wise file's ``(frames, columns)`` 0/1 values and its column names."""
    return labels.values, labels.columns


def _require(path: Path) -> Path:
    if not path.exists():
        raise InputError(
            f"shared data {path} not found.",
            fix="place the data set under ../shared/data (see its MANIFEST.md) or set "
            "ETHOAGENT_SHARED_DATA.",
        )
    return path


def _load_behaviordepot(root: Path) -> Dataset:
    demo = root / "demo"
    pose = {"demo1": read_dlc_csv(_require(demo / "demo1" / "demo1_tracking.csv"), fps=50.0)}
    for name, rel in (
        ("demo4", "demo4/demo4_video.csv"),
        ("demo5", "demo5/demo5_tracking.csv"),
        ("demo6", "demo6/demo6_tracking.csv"),
    ):
        if (demo / rel).is_file():
            pose[name] = read_dlc_csv(demo / rel)
    labels: dict[str, NDArray[np.int64]] = {}
    cols: dict[str, tuple[str, ...]] = {}
    labels["demo1"], cols["demo1"] = _columns(
        read_labels(_require(demo / "demo1" / "demo1_human_freezing_framewise.csv"))
    )
    raters = demo / "demo7" / "demo7_raters_freezing_framewise.csv"
    if raters.is_file():
        labels["demo7"], cols["demo7"] = _columns(read_labels(raters))
    return Dataset(
        name=root.name,
        pose=pose,
        labels=labels,
        label_columns=cols,
        behaviours=("freezing",),
        fps=50.0,
        notes=(
            "demo1: 50 fps, 1000x750 px, 32 px/cm; human freezing labels line up with rows.",
            "demo7: four raters' freezing vectors, no tracking.",
            "demo4-6: DLC tracking without human labels; their fps is not stated here.",
        ),
    )


def _load_sleap_anipose(root: Path) -> Dataset:
    sess = _require(root / "minimal_session")
    cams = read_calibration(_require(sess / "calibration.toml"))
    names = tuple(c.name for c in cams)
    videos = {n: sess / n / f"minimal_{n}.mp4" for n in names}
    notes = [
        "4 views (back, mid, side, top), 1280x1024, 30 fps, 120 frames.",
        "calibration.toml: cam_2 (side) and cam_3 (top) carry identical parameters "
        "(a fault in the upstream fixture).",
    ]
    per_view = []
    kps: tuple[str, ...] = ()
    for n in names:
        with h5py.File(_require(sess / n / f"minimal_{n}_proofread.analysis.h5"), "r") as f:
            tracks = np.asarray(f["tracks"], dtype=np.float64)  # (tracks, 2, nodes, frames)
            kps = tuple(x.decode() if isinstance(x, bytes) else str(x) for x in f["node_names"][:])
        per_view.append(np.transpose(tracks[0], (2, 1, 0)))  # (frames, nodes, 2)
    pts2 = np.stack(per_view, axis=1)
    with h5py.File(_require(sess / "points3d.h5"), "r") as f:
        pts3 = np.asarray(f["tracks"], dtype=np.float64)[:, 0]
    return Dataset(
        name=root.name,
        cameras=cams,
        view_names=names,
        points_2d=pts2,
        points_3d=pts3,
        keypoints_3d=kps,
        videos=videos,
        fps=30.0,
        notes=tuple(notes),
    )


DANNCE_KEYPOINTS: tuple[str, ...] = (
    "EarL", "EarR", "Snout", "SpineF", "SpineM", "Tail_base", "Tail_mid", "Tail_end",
    "ForepawL", "WristL", "ElbowL", "ShoulderL", "ForepawR", "WristR", "ElbowR", "ShoulderR",
    "HindpawL", "AnkleL", "KneeL", "HindpawR", "AnkleR", "KneeR",
)  # fmt: skip
"""The 22 keypoints of the DANNCE markerless-mouse labels, in column order."""


def _load_dannce(root: Path, session: str = "markerless_mouse_1") -> Dataset:
    from scipy.io import loadmat  # local: slow import

    path = _require(root / session / "label3d_dannce.mat")
    cams = read_dannce_calibration(path)
    mat = loadmat(str(path))
    label_data = np.asarray(mat["labelData"]).ravel()
    pts2 = []
    pts3 = None
    for entry in label_data:
        s = np.asarray(entry).ravel()[0]
        s = np.asarray(s).ravel()[0]
        d2 = np.asarray(s["data_2d"], dtype=np.float64)
        pts2.append(d2.reshape(d2.shape[0], -1, 2))
        if pts3 is None:
            d3 = np.asarray(s["data_3d"], dtype=np.float64)
            pts3 = d3.reshape(d3.shape[0], -1, 3)
    return Dataset(
        name=root.name,
        cameras=cams,
        view_names=tuple(c.name for c in cams),
        points_2d=np.stack(pts2, axis=1),
        points_3d=pts3,
        keypoints_3d=DANNCE_KEYPOINTS,
        notes=(
            f"session {session}; cameras read with read_dannce_calibration (MATLAB row-vector "
            "convention converted to OpenCV: R = r.T, K = K.T).",
            "2D labels are exact reprojections of the 3D labels (Label3D), not clicks.",
            "image size 1152x1024 assumed (videos absent).",
        ),
    )


def _load_openfield(root: Path) -> Dataset:
    proj = root / "openfield-Pranav-2018-10-30"
    pose = read_dlc_csv(_require(proj / "labeled-data" / "m4s1" / "CollectedData_Pranav.csv"))
    return Dataset(
        name=root.name,
        pose={"m4s1": pose},
        videos={"m3v1": proj / "videos" / "m3v1mp4.mp4"},
        fps=30.0,
        notes=(
            "m4s1: 116 labelled frames (frame_names = image paths); no behaviour labels.",
            "m3v1mp4.mp4 is a different session (640x480, 30 fps), unlabelled.",
        ),
    )


def _load_ethome(root: Path) -> Dataset:
    dlc = sorted((root / "dlc").glob("*.csv"))
    if not dlc:
        _require(root / "dlc" / "<tracking>.csv")
    video = "e3v813a-20210610T122332-122642"
    pose = {video: read_dlc_csv(dlc[0], fps=30.0)}
    labels: dict[str, NDArray[np.int64]] = {}
    cols: dict[str, tuple[str, ...]] = {}
    derived = root / "derived" / f"{video}_interact_framewise.csv"
    labels[video], cols[video] = _columns(read_labels(_require(derived)))
    for b in sorted((root / "boris").glob("*.csv")):
        vid = b.stem.removesuffix("_reencode")
        if vid == video:
            continue
        # every subject's interact bouts: (frames, subjects) codes, 0 = interact
        interact = read_labels(b, classes=("interact",), unknown="ignore")
        labels[vid] = (interact.values == 0).any(axis=1).astype(np.int64)[:, None]
        cols[vid] = ("interact",)
    return Dataset(
        name=root.name,
        pose=pose,
        labels=labels,
        label_columns=cols,
        behaviours=("interact",),
        fps=30.0,
        notes=(
            f"only {video} has both tracking (adult + juvenile, 7 keypoints) and labels.",
            "other sessions: BORIS 'interact' labels only (tracking not included).",
        ),
    )


STURMAN_OFT_BEHAVIOURS: tuple[str, ...] = ("Supported", "Unsupported", "Grooming", "Jumping")
"""Open-field label vocabulary (code ``i + 1``; 0 = none)."""


def _load_sturman(root: Path) -> Dataset:
    table = _require(root / "data" / "OFT" / "Labels" / "AllLabDataOFT_final.csv")
    labels: dict[str, NDArray[np.int64]] = {}
    cols: dict[str, tuple[str, ...]] = {}
    fps = 25.0
    for vid in label_videos(table):
        read = read_labels(
            table, fps=fps, classes=STURMAN_OFT_BEHAVIOURS, unknown="ignore", video=vid
        )
        labels[vid] = read.values + 1  # code i + 1 = STURMAN_OFT_BEHAVIOURS[i], 0 = none
        cols[vid] = read.columns
    pose = {}
    epm = sorted((root / "data" / "EPM" / "Output_DLC").glob("*.csv"))
    if epm:
        pose["EPM_15"] = read_dlc_csv(epm[0])
    return Dataset(
        name=root.name,
        pose=pose,
        labels=labels,
        label_columns=cols,
        behaviours=STURMAN_OFT_BEHAVIOURS,
        fps=fps,
        notes=(
            "OFT labels: columns are raters; codes 0 = none, "
            + ", ".join(f"{i + 1} = {b}" for i, b in enumerate(STURMAN_OFT_BEHAVIOURS))
            + "; frames = round(seconds * 25), until each video's last labelled interval.",
            "OFT tracking is not included (files over 4 MiB); EPM_15 tracking has no labels.",
        ),
    )


DATASETS: tuple[str, ...] = (
    "behaviordepot_freezing",
    "sleap_anipose_minimal_session",
    "dannce_markerless_mouse",
    "dlc_openfield_pranav2018",
    "ethome_social_interact",
    "sturman2020_dlcanalyzer",
)
"""Folders of the shared real data that ``load_dataset`` knows."""


def load_dataset(name: str, *, root: str | os.PathLike[str] | None = None) -> Dataset:
    """Load one folder of the shared real data.

    Args:
        name: one of ``DATASETS``.
        root: the shared data folder (default ``shared_data_dir()``).

    Returns:
        The loaded ``Dataset``.
    """
    base = Path(root) if root is not None else shared_data_dir()
    loaders = {
        "behaviordepot_freezing": _load_behaviordepot,
        "sleap_anipose_minimal_session": _load_sleap_anipose,
        "dannce_markerless_mouse": _load_dannce,
        "dlc_openfield_pranav2018": _load_openfield,
        "ethome_social_interact": _load_ethome,
        "sturman2020_dlcanalyzer": _load_sturman,
    }
    if name not in loaders:
        raise InputError(
            f"unknown data set {name!r}; known: {list(DATASETS)}.",
            fix="pass one of those names.",
        )
    return loaders[name](_require(base / name))


# --------------------------------------------------------------------------- summaries

SOURCES: dict[str, str] = {
    "behaviordepot_freezing": "DeNardoLab/BehaviorDEPOT @ c782b13 (GPL-3.0)",
    "sleap_anipose_minimal_session": "talmolab/sleap-anipose @ aa6e68f (GPL-3.0)",
    "dannce_markerless_mouse": "spoonsso/dannce @ cefd782 (MIT)",
    "dlc_openfield_pranav2018": "DeepLabCut/DeepLabCut @ 2df0f46 (LGPL-3.0)",
    "ethome_social_interact": "benlansdell/ethome @ 31359b5 + e3f7d42 (MIT)",
    "sturman2020_dlcanalyzer": "ETHZ-INS/DLCAnalyzer @ cfdc34a (GPL-3.0)",
}
"""Upstream repository @ commit (licence) of each data set, as in the data's MANIFEST.md."""


class LabelCount(BaseModel):
    """How much of one behaviour a data set's human labels hold.

    Attributes:
        behaviour: the label name.
        sessions: sessions whose labels contain it at least once.
        raters: the most label columns (raters) any of those sessions has.
        frames: labelled frames, summed over sessions; where several raters labelled a
            session, the mean over its raters.
        bouts: runs of consecutive labelled frames, counted the same way.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    behaviour: str
    sessions: int
    raters: int
    frames: float
    bouts: float


class DatasetSummary(BaseModel):
    """What one shared data folder holds, or why it cannot be used.

    Attributes:
        name: the folder name (one of ``DATASETS``).
        status: ``"present"`` (it loads), ``"missing"`` (no folder) or ``"incomplete"``
            (the folder exists but a file the loader needs does not).
        path: where it was looked for.
        source: upstream repository @ commit (licence).
        size_mb: size of every file in the folder, MB (10⁶ bytes); 0 when missing.
        sessions: recordings with keypoints, labels or a video.
        views: calibrated cameras (multi-view sets), else 1 where any keypoints or videos
            exist, else 0 (labels only).
        frames: frames with keypoints (tracked or hand-labelled 2D / 3D), summed over
            sessions.
        keypoints: keypoints per animal (the largest over sessions).
        animals: animals per frame (the largest over sessions).
        videos: video files present (their frames are not counted: nothing is decoded).
        fps: frame rate, Hz, where one applies to the whole set.
        labels: per behaviour, how many frames and bouts the human labels hold.
        notes: the loader's facts about the set (see ``Dataset.notes``).
        hint: for a missing or incomplete set, what is wrong and how to fix it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    status: Literal["present", "missing", "incomplete"]
    path: Path
    source: str
    size_mb: float = 0.0
    sessions: int = 0
    views: int = 0
    frames: int = 0
    keypoints: int = 0
    animals: int = 0
    videos: int = 0
    fps: float | None = None
    labels: tuple[LabelCount, ...] = ()
    notes: tuple[str, ...] = ()
    hint: str | None = None


def _folder_size_mb(path: Path) -> float:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            fp = Path(dirpath) / f
            if fp.is_file() and not fp.is_symlink():
                total += fp.stat().st_size
    return total / 1e6


def count_labels(data: Dataset) -> tuple[LabelCount, ...]:
    """Labelled frames and bouts of each behaviour of ``data.behaviours``.

    Each label column of a session (``data.labels[session]``, ``(frames, columns)`` int64,
    code ``i + 1`` = ``data.behaviours[i]``) is one rater's view; a bout is a run of
    consecutive frames with the code. Counts are summed over sessions after taking the mean
    over a session's raters.

    Args:
        data: a loaded data set.

    Returns:
        One count per behaviour, in ``data.behaviours`` order (zero where never labelled).
    """
    out: list[LabelCount] = []
    for code, behaviour in enumerate(data.behaviours, start=1):
        sessions = raters = 0
        frames = bouts = 0.0
        for lab in data.labels.values():
            hit = lab == code  # (frames, raters)
            if not hit.any():
                continue
            n = hit.shape[1]
            sessions += 1
            raters = max(raters, n)
            frames += float(hit.sum()) / n
            bouts += (
                sum(
                    sum(1 for c, _, _ in bouts_from_labels(hit[:, j].astype(np.int64)) if c == 1)
                    for j in range(n)
                )
                / n
            )
        out.append(
            LabelCount(
                behaviour=behaviour, sessions=sessions, raters=raters, frames=frames, bouts=bouts
            )
        )
    return tuple(out)


def summarise_dataset(name: str, *, root: str | os.PathLike[str] | None = None) -> DatasetSummary:
    """Say what one shared data folder holds, without decoding any video.

    A missing folder, or one that lacks a file the loader needs, is not an error: the
    summary says so in ``status`` and ``hint``.

    Args:
        name: one of ``DATASETS``.
        root: the shared data folder (default ``shared_data_dir()``).

    Returns:
        The summary.
    """
    if name not in DATASETS:
        raise InputError(
            f"unknown data set {name!r}; known: {list(DATASETS)}.",
            fix="pass one of those names.",
        )
    base = Path(root) if root is not None else shared_data_dir()
    path = base / name
    source = SOURCES[name]
    if not path.is_dir():
        return DatasetSummary(
            name=name,
            status="missing",
            path=path,
            source=source,
            hint=f"not found at {path}; copy it from {source} as described in the shared "
            "data's MANIFEST.md, or point --root / ETHOAGENT_SHARED_DATA at the folder "
            "that holds it.",
        )
    size = _folder_size_mb(path)
    try:
        data = load_dataset(name, root=base)
    except InputError as exc:
        return DatasetSummary(
            name=name,
            status="incomplete",
            path=path,
            source=source,
            size_mb=size,
            hint=f"{exc} Compare the folder with its SOURCE.md; the files come from {source}.",
        )
    sessions = set(data.pose) | set(data.labels)
    if not data.view_names:  # multi-view videos are keyed by view, not by session
        sessions |= set(data.videos)
    elif not sessions:
        sessions = {"multi-view"}
    frames = sum(p.points.shape[0] for p in data.pose.values())
    frames += data.points_2d.shape[0] if data.points_2d is not None else 0
    keypoints = max(
        [p.points.shape[2] for p in data.pose.values()] + [len(data.keypoints_3d)], default=0
    )
    animals = max(
        [p.points.shape[1] for p in data.pose.values()] + [1 if data.points_2d is not None else 0],
        default=0,
    )
    single_view = 1 if data.pose or data.videos else 0  # 0: labels only
    views = len(data.view_names) if data.view_names else single_view
    return DatasetSummary(
        name=name,
        status="present",
        path=path,
        source=source,
        size_mb=size,
        sessions=len(sessions),
        views=views,
        frames=int(frames),
        keypoints=int(keypoints),
        animals=int(animals),
        videos=sum(1 for v in data.videos.values() if v.is_file()),
        fps=data.fps,
        labels=count_labels(data),
        notes=data.notes,
    )


def summarise_datasets(root: str | os.PathLike[str] | None = None) -> list[DatasetSummary]:
    """Summarise every folder of ``DATASETS`` (see ``summarise_dataset``).

    Args:
        root: the shared data folder (default ``shared_data_dir()``); it must exist.

    Returns:
        One summary per name of ``DATASETS``, in that order.
    """
    base = Path(root) if root is not None else shared_data_dir()
    if not base.is_dir():
        raise InputError(
            f"shared data folder {base} does not exist.",
            fix="pass --root DIR (the folder that holds MANIFEST.md and the data set "
            "folders) or set ETHOAGENT_SHARED_DATA.",
        )
    return [summarise_dataset(name, root=base) for name in DATASETS]

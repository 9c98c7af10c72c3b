"""The segment queue: a run's epochs worst first, their evidence, and the person's edits.

An epoch is queued when its confidence is low, a caption inside it was flagged, it is
short, or its label is not what its cluster is mostly called (caption/cluster
disagreement). The page shows the epoch as the person's edits so far have left it
(``current_epochs``), so a split's two parts can be relabelled in turn.

Item ids are ``segment:epoch:<animal index>:<start>:<stop>`` (frames, ``stop``
exclusive); a correction's ``after`` is the new label (``relabel``), the frame to split at
(``split``) or ``previous`` / ``next`` (``merge``).
"""

from __future__ import annotations

import csv
from collections import Counter
from typing import Any

import cv2
import numpy as np
from pydantic import ValidationError

from ethoagent.errors import InputError
from ethoagent.graphs.segment import SegmentInputs
from ethoagent.io.video import VideoReader
from ethoagent.model.ethogram import Epoch
from ethoagent.review.store import Correction, CorrectionStore
from ethoagent.runs import Run
from ethoagent.tools.epoch_edits import EpochEdit, apply_epoch_edits
from ethoagent.tools.ethogram import read_ethogram_csv
from ethoagent.tools.sheets import skeleton_edges, skeleton_tiles, tile_images, video_tiles

SEGMENT_CONFIDENCE = 0.6
"""An epoch with a lower confidence than this is queued."""

SHORT_EPOCH_S = 1.0
"""An epoch shorter than this many seconds is queued."""

SHEET_TILES = 8
"""Frames on an epoch's contact sheet."""


def segment_item_id(animal: int, start: int, stop: int) -> str:
    """The review item id of an epoch."""
    return f"segment:epoch:{animal}:{start}:{stop}"


def edits_of(run: Run, records: list[Correction]) -> list[EpochEdit]:
    """The standing segment corrections of ``run`` as ethogram edits, in the order made.

    Raises:
        InputError: a record with a malformed item or value (its id named).
    """
    animals = list(run.info().inputs["animals"])
    out = []
    for rec in records:
        if rec.kind != "segment" or rec.action not in ("relabel", "split", "merge"):
            continue
        p = rec.item.split(":")
        try:
            a, start, stop = int(p[2]), int(p[3]), int(p[4])
            key = {"relabel": "label", "split": "at", "merge": "neighbour"}[rec.action]
            span = {"animal": animals[a], "start": start, "stop": stop}
            out.append(EpochEdit.model_validate({**span, "action": rec.action, key: rec.after}))
        except (IndexError, ValueError) as exc:
            why = (
                "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
                if isinstance(exc, ValidationError)
                else "no such animal or span"
            )
            raise InputError(
                f"correction {rec.id} in {run.root} ({rec.action} {rec.item}) is malformed: {why}.",
                fix="undo it in `ethoagent review`.",
            ) from None
    return out


def current_epochs(run: Run) -> dict[str, list[Epoch]]:
    """Each animal's epochs of ``run``'s ethogram with the person's edits so far applied."""
    inputs = SegmentInputs.model_validate(run.info().inputs)
    epochs = read_ethogram_csv(run.outputs_dir / "ethogram.csv")
    edits = edits_of(run, CorrectionStore(run.root).standing())
    return apply_epoch_edits(epochs, edits, inputs.frames) if edits else epochs


def read_captions(run: Run) -> list[dict[str, Any]]:
    """The rows of the run's ``captions.csv`` (frames and confidence parsed)."""
    with (run.outputs_dir / "captions.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["start_frame"], r["stop_frame"] = int(r["start_frame"]), int(r["stop_frame"])
        r["confidence"] = float(r["confidence"]) if r["confidence"] else None
    return rows


def segment_queue(run: Run) -> list[dict[str, Any]]:
    """The epochs to review, worst first: flagged, disagreeing, short, least confident."""
    inputs = SegmentInputs.model_validate(run.info().inputs)
    epochs = current_epochs(run)
    captions = read_captions(run)
    names = _cluster_names(epochs)
    items = []
    for a, (animal, eps) in enumerate(epochs.items()):
        for e in eps:
            caps = _inside(captions, animal, e)
            flagged = any(c["status"] == "flagged" for c in caps)
            usual = names.get(e.cluster) if e.cluster is not None else None
            disagree = usual is not None and usual != e.label
            short = (e.stop - e.start) / inputs.fps < SHORT_EPOCH_S
            low = e.confidence < SEGMENT_CONFIDENCE
            if not (flagged or disagree or short or low):
                continue
            items.append(
                {
                    "item": segment_item_id(a, e.start, e.stop),
                    "animal": animal,
                    "animal_index": a,
                    "start": e.start,
                    "stop": e.stop,
                    "label": e.label,
                    "confidence": e.confidence,
                    "cluster": e.cluster,
                    "cluster_label": usual,
                    "flagged": flagged,
                    "disagree": disagree,
                    "short": short,
                }
            )
    items.sort(key=lambda i: (not i["flagged"], not i["disagree"], not i["short"], i["confidence"]))
    return items


def segment_item(run: Run, animal: int, start: int, stop: int) -> dict[str, Any]:
    """One epoch's evidence: its captions, the epochs around it and the run's labels.

    Raises:
        InputError: no current epoch of that animal spans ``[start, stop)``.
    """
    epochs = current_epochs(run)
    names = list(epochs)
    eps = epochs[names[animal]] if 0 <= animal < len(names) else []
    at = next((i for i, e in enumerate(eps) if (e.start, e.stop) == (start, stop)), None)
    if at is None:
        raise InputError(
            f"no epoch {animal}:{start}:{stop} in run {run.root} (after the edits so far).",
            fix="pick an epoch from the segment queue.",
        )
    inputs = SegmentInputs.model_validate(run.info().inputs)
    return {
        "animal": names[animal],
        "epoch": eps[at].model_dump(),
        "previous": eps[at - 1].model_dump() if at > 0 else None,
        "next": eps[at + 1].model_dump() if at + 1 < len(eps) else None,
        "around": [e.model_dump() for e in eps[max(0, at - 3) : at + 4]],
        "captions": _inside(read_captions(run), names[animal], eps[at]),
        "labels": sorted({e.label for v in epochs.values() for e in v}),
        "fps": inputs.fps,
    }


def epoch_png(run: Run, animal: int, start: int, stop: int) -> bytes:
    """A contact sheet of ``SHEET_TILES`` frames of an epoch: video crops or keypoints.

    Raises:
        InputError: the span is outside the run.
    """
    inputs = SegmentInputs.model_validate(run.info().inputs)
    points = run.load_arrays("points")["points"]  # (frames, animals, keypoints, dims)
    if not (0 <= animal < points.shape[1] and 0 <= start < stop <= points.shape[0]):
        raise InputError(
            f"epoch {animal}:{start}:{stop} is outside run {run.root}.",
            fix="pick an epoch from the segment queue.",
        )
    frames = np.unique(np.linspace(start, stop - 1, SHEET_TILES).round().astype(int))
    if inputs.video is not None:
        with VideoReader(inputs.video) as reader:
            images = [reader[int(f)] for f in frames]
        focal = points[frames, animal] if inputs.dims == 2 else None
        tiles = video_tiles(images, focal)
    else:
        with np.errstate(all="ignore"):
            path = np.nanmean(points[start:stop, animal, :, :2], axis=1)
        tiles = skeleton_tiles(
            points[frames],
            animal,
            skeleton_edges(points),
            path=path,
            flip_y=inputs.dims == 3,
        )
    sheet = tile_images(tiles, [f"frame {f}" for f in frames])
    ok, buf = cv2.imencode(".png", sheet)
    assert ok, "PNG encoding of a contact sheet failed"
    return bytes(buf)


def _inside(captions: list[dict[str, Any]], animal: str, e: Epoch) -> list[dict[str, Any]]:
    """The caption rows of ``animal`` overlapping epoch ``e``."""
    return [
        c
        for c in captions
        if c["animal"] == animal and c["start_frame"] < e.stop and c["stop_frame"] > e.start
    ]


def _cluster_names(epochs: dict[str, list[Epoch]]) -> dict[int, str]:
    """What each cluster is mostly called: the label covering most of its epochs' frames."""
    frames: dict[int, Counter[str]] = {}
    for eps in epochs.values():
        for e in eps:
            if e.cluster is not None:
                frames.setdefault(e.cluster, Counter())[e.label] += e.stop - e.start
    return {k: c.most_common(1)[0][0] for k, c in frames.items()}


__all__ = [
    "SEGMENT_CONFIDENCE",
    "SHORT_EPOCH_S",
    "current_epochs",
    "edits_of",
    "epoch_png",
    "read_captions",
    "segment_item",
    "segment_item_id",
    "segment_queue",
]

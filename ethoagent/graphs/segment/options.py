"""The settings of a segment run: the only copy of their defaults and bounds.

The CLI's ``ethoagent segment`` options, the chat's ``run_segment`` arguments, a batch
file's ``[options.segment]`` and profile's per-session segment runs all validate into
``SegmentOptions``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.tools.features import LAYOUTS


class SegmentOptions(BaseModel):
    """Settings of one segment run.

    Attributes:
        k: DEC clusters (joint over all animals).
        seed: seed of the DEC fit (the stability fit uses ``seed + 1``).
        dec_pretrain_epochs: autoencoder pretraining epochs.
        dec_cluster_iters: most DEC clustering iterations.
        min_cluster_fraction: a cluster with fewer rows than this fraction is degenerate.
        check_stability: fit a second seed and report the adjusted Rand index.
        stability_ari: the ARI the stability check asks for. 0.5, not the tool's 0.8:
            ten clusters of continuous kinematics typically agree at 0.4–0.7 between
            seeds, so 0.8 would flag nearly every session.
        min_snippet_s, max_snippet_s: snippet duration bounds, s.
        split_snippet_s: split snippets where the kinematic captioner's per-frame label
            (``tools.captions.classify_frames``) changes for at least this long, into
            pieces of at least this long, s; 0 keeps the cluster runs whole. With video
            alone at most ``tools.blob_features.BLOB_SPLIT_S`` (0.1 s).
        sample_fps: frames per second sampled from a snippet (at most 10).
        sheet_tiles: most frames on one contact sheet.
        min_epoch_s: shortest epoch of the ethogram, s.
        merge_window: snippets per merge window; merge_overlap: snippets shared by
            neighbouring windows.
        model_every_snippet: ask the VLM for every snippet, also where the kinematics
            are clear.
        layout: name of a ready body layout (``tools.features.LAYOUTS``); ``None`` infers.
        feature_window_s, max_gap_s: ``compute_features`` settings, s.
        pose_components: principal components of the egocentric pose added to the
            clustered features of 2D keypoints (``tools.features.cluster_features``); 0
            clusters the kinematics alone (signed turns as they are). This, the context
            window, ``cluster_dwell_s`` and ``dec_pretrain_steps`` apply to 2D keypoints
            only: on 3D keypoints and video features they cost the merged ethogram of
            the eval (docs/segment.md) and are left off.
        context_window_s: a second, longer window of the clustered features' rolling
            statistics, s (0 = none, the default: a 2 s window smoothed DEC's clusters
            but cost the merged ethogram on BehaviorDEPOT freezing and three mice,
            docs/segment.md).
        cluster_dwell_s: expected bout length of the sticky HMM that smooths each
            animal's DEC assignments over time (``tools.cluster.smooth_assignments``), s;
            0 keeps the per-frame argmax.
        dec_pretrain_steps: least mini-batch steps of autoencoder pretraining (more
            epochs for a short session, whose epochs are few steps).
        nan_warning: warn when an animal has no features in more than this fraction of
            its frames.
        concurrency: snippets captioned at once (model calls in flight).
        caption_chunk: snippets per checkpointed caption step (grows for long sessions).
        features: what is clustered: ``"keypoints"`` (pose features), ``"video"`` (the
            blobs of ``tools.video_features``: motion and shape, no keypoints needed) or
            ``"both"`` (pose features clustered and captioned, the blobs tracked and
            matched to the keypoint animals, ``graphs.segment.video``); ``None`` =
            keypoints when there are, else video.
        video_animals: animals to follow in a video without keypoints (with keypoints,
            the keypoint file's individuals).
        video_threshold: foreground threshold, grey levels; ``None`` = from the noise.
        video_max_width: frames are scaled down to at most this width for detection, px.
        video_embeddings: append EfficientNet-Lite0 embeddings of animal-centred crops
            (10 fps, 8 principal components) to the video features; needs the ``vision``
            extra.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(10, ge=2)
    seed: int = 0
    dec_pretrain_epochs: int = Field(10, ge=0)
    dec_cluster_iters: int = Field(2000, ge=0)
    min_cluster_fraction: float = Field(0.005, ge=0, lt=1)
    check_stability: bool = True
    stability_ari: float = Field(0.5, ge=-0.5, le=1)
    min_snippet_s: float = Field(1.0, ge=0)
    max_snippet_s: float = Field(5.0, gt=0)
    split_snippet_s: float = Field(0.5, ge=0)
    sample_fps: float = Field(10.0, gt=0, le=10)
    sheet_tiles: int = Field(8, ge=1, le=32)
    min_epoch_s: float = Field(0.5, ge=0)
    merge_window: int = Field(40, ge=2)
    merge_overlap: int = Field(8, ge=0)
    model_every_snippet: bool = False
    layout: str | None = None
    feature_window_s: float = Field(0.5, ge=0)
    pose_components: int = Field(6, ge=0, le=32)
    context_window_s: float = Field(0.0, ge=0)
    cluster_dwell_s: float = Field(0.5, ge=0)
    dec_pretrain_steps: int = Field(400, ge=0)
    max_gap_s: float = Field(0.25, ge=0)
    nan_warning: float = Field(0.2, ge=0, le=1)
    concurrency: int = Field(8, ge=1)
    caption_chunk: int = Field(64, ge=1)
    features: Literal["keypoints", "video", "both"] | None = None
    video_animals: int = Field(1, ge=1, le=16)
    video_threshold: float | None = Field(None, gt=0, lt=255)
    video_max_width: int = Field(320, ge=64, le=4096)
    video_embeddings: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> SegmentOptions:
        if self.min_snippet_s > self.max_snippet_s:
            raise ValueError(
                f"min_snippet_s ({self.min_snippet_s}) must be <= max_snippet_s "
                f"({self.max_snippet_s})"
            )
        if self.merge_overlap >= self.merge_window:
            raise ValueError(
                f"merge_overlap ({self.merge_overlap}) must be < merge_window ({self.merge_window})"
            )
        if self.layout is not None and self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {sorted(LAYOUTS)}")
        return self


__all__ = ["SegmentOptions"]

"""The settings of a profile run: the only copy of their defaults and bounds.

The sessions it segments take the segment pipeline's ``SegmentOptions``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.agent.embed import EmbedderKind
from ethoagent.graphs.segment import SegmentOptions
from ethoagent.tools.profile_stats import METRICS


class ProfileOptions(BaseModel):
    """Settings of one profile run.

    Attributes:
        embedder: ``auto`` (endpoint when online, else MiniLM when installed, else
            TF-IDF), ``endpoint``, ``minilm`` or ``tfidf``.
        clusters: vocabulary size (k-means K); ``None`` = chosen by the silhouette in
            ``[min_clusters, max_clusters]``.
        seed: seed of k-means and of the resampling.
        metrics: per-behaviour metrics tested (``tools.profile_stats.METRICS``).
        reference_group: compare every other group against this one; ``None`` = every
            pair of groups.
        alpha: false-discovery rate (Benjamini–Hochberg over all tests of the run).
        n_resamples: permutations per test.
        novel_min_fraction: a profile has an entry when it spends at least this share of
            its labelled time in it.
        novel_max_share: an entry that at most this share of the profiles have is
            reported as novel (present in only some sessions) ...
        novel_max_p: ... when its bouts are also more concentrated in those profiles
            than one common rate explains (``bout_dispersion_p`` below this; 1 = off).
        reference_threshold: an entry whose name + definition is less similar than this
            (cosine) to every entry of the reference vocabulary is novel.
        examples: example snippets kept per entry.
        segment: the segment pipeline's settings for sessions it runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    embedder: EmbedderKind = "auto"
    clusters: int | None = Field(None, ge=1)
    min_clusters: int = Field(4, ge=2)
    max_clusters: int = Field(14, ge=2)
    seed: int = 0
    metrics: tuple[str, ...] = METRICS
    reference_group: str | None = None
    alpha: float = Field(0.05, gt=0, lt=1)
    n_resamples: int = Field(9999, ge=99)
    novel_min_fraction: float = Field(0.01, ge=0, lt=1)
    novel_max_share: float = Field(0.5, gt=0, le=1)
    novel_max_p: float = Field(0.01, gt=0, le=1)
    reference_threshold: float = Field(0.5, ge=-1, le=1)
    examples: int = Field(5, ge=1)
    segment: SegmentOptions = SegmentOptions()

    @model_validator(mode="after")
    def _consistent(self) -> ProfileOptions:
        if self.min_clusters > self.max_clusters:
            raise ValueError("min_clusters must be <= max_clusters")
        bad = [m for m in self.metrics if m not in METRICS]
        if bad or not self.metrics:
            raise ValueError(f"metrics must be among {list(METRICS)}, got {list(self.metrics)}")
        return self


__all__ = ["ProfileOptions"]

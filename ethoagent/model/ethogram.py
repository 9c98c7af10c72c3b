"""Ethogram data: labelled epochs, cluster snippets and labelled example clips (pure data).

Every class is a stretch ``[start, stop)`` of one animal's frames (frame indices, ``stop``
exclusive), validated on construction. Checks, metrics and exports of ethograms are in
``ethoagent.tools.ethogram``; cutting snippets in ``ethoagent.tools.snippets``; reading and
using examples in ``ethoagent.tools.classify``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Epoch", "Example", "Snippet"]


class Epoch(BaseModel):
    """One labelled stretch of an animal's timeline.

    Attributes:
        start: first frame.
        stop: one past the last frame (exclusive), ``> start``.
        label: behaviour name (from the vocabulary).
        description: free text, e.g. a model's description of the snippet.
        confidence: in ``[0, 1]``.
        cluster: the cluster the epoch came from, if any.
    """

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    label: str
    description: str = ""
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    cluster: int | None = None

    @model_validator(mode="after")
    def _nonempty(self) -> Epoch:
        if self.stop <= self.start:
            raise ValueError(f"epoch stop ({self.stop}) must be > start ({self.start})")
        return self

    def __repr__(self) -> str:
        return f"Epoch([{self.start}, {self.stop}), {self.label!r})"


class Snippet(BaseModel):
    """A contiguous stretch of one animal's frames assigned to one cluster.

    Attributes:
        start: first frame (index into the animal's frames).
        stop: one past the last frame (exclusive).
        cluster: the cluster index of the stretch.
        seconds: duration, ``(stop - start) / fps`` seconds.
    """

    model_config = ConfigDict(frozen=True)

    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    cluster: int
    seconds: float = Field(ge=0)

    @property
    def frames(self) -> int:
        """Number of frames, ``stop - start``."""
        return self.stop - self.start


class Example(BaseModel):
    """One labelled example clip: frames ``[start, stop)`` of one animal.

    Attributes:
        animal: index of the individual.
        start: first frame; ``stop``: one past the last.
        label: a class of the label set.
    """

    model_config = ConfigDict(frozen=True)

    animal: int = Field(ge=0)
    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    label: str

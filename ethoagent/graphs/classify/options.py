"""The settings of a classify run: the only copy of their defaults and bounds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.tools.features import LAYOUTS


class ClassifyOptions(BaseModel):
    """Settings of one classify run.

    Attributes:
        window_s: length of a query window, s; the model classifies windows, and each
            frame of a window it answers takes that answer.
        k: in-context examples per class (every class is always represented).
        max_examples_per_class: example windows kept per class.
        strip_frames: frames per window shown to the model (motion is measured across them).
        image_size: side of each frame tile, pixels.
        crop_body_lengths: side of the animal-centred crop in body lengths (fixed per
            session, so that displacement between the frames reads alike in every window).
        use_definitions, use_examples, preprocess: the three helps of the seed paper;
            switched off one at a time by the ablation.
        kinematics_in_prompt: add the window's keypoint summary to the prompt (and to the
            offline solver's features).
        model_budget: share of the query windows that may go to the model, in [0, 1]: the
            ones the classical detector (``tools.detectors``) is least sure of; the rest
            take the detector's answer. 0 = never ask the model, 1 = ask it everywhere.
            ``None`` (default): ``MODEL_BUDGET`` with a model endpoint, 0 with the offline
            backend, whose stand-in answer (a feature kNN) is weaker than the detector.
            Small because a window's answer loses the detector's frame precision at bout
            edges: in ``ethoagent eval classify`` (``model_call_curve``, the graph run
            with a scripted model right on 90 % of its windows) it lowers macro-F1 on the
            synthetic set and on BehaviorDEPOT demo1 at every budget, and raises it on
            ethome interact (0.857 -> 0.878 at 0.05; random windows 0.856).
        windows_by: which ``model_budget`` share of the windows goes to the model:
            ``uncertainty`` (the detector's most uncertain, default) or ``random`` (as many
            drawn at random, seed 0: the control of ``ethoagent eval classify``).
        min_freezing_s: immobility a freezing label needs, s.
        px_per_cm: the pixel scale of 2D keypoints (BehaviorDEPOT's "pixel-to-cm
            calibration", e.g. 32 for its demo1), or ``None``: the ruler of the published
            freezing rule (``tools.detectors.FREEZING_PUBLISHED``), which otherwise takes
            the body length as 6.5 cm (3D keypoints in a metric unit need none). Every
            other feature is in body lengths.
        smoothing: ``hmm`` (sticky Viterbi), ``mode`` (majority filter) or ``none``.
        hmm_stay: the HMM's self-transition probability per window.
        mode_windows: width of the mode filter, windows.
        layout: a body layout of ``tools.features.LAYOUTS``; ``None`` infers.
        concurrency: windows classified at once; chunk: windows per checkpointed step.
        ask_person: pause the run for a person on the windows still flagged after every
            retry and escalation (the run ends ``waiting``; answer them in ``ethoagent
            review RUN``, then ``ethoagent classify --resume RUN``); else they stay flagged.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_s: float = Field(0.5, gt=0, le=5)
    k: int = Field(2, ge=1, le=10)
    max_examples_per_class: int = Field(12, ge=1)
    strip_frames: int = Field(3, ge=2, le=8)
    image_size: int = Field(96, ge=32, le=512)
    crop_body_lengths: float = Field(3.0, gt=0)
    use_definitions: bool = True
    use_examples: bool = True
    preprocess: bool = True
    kinematics_in_prompt: bool = True
    model_budget: float | None = Field(None, ge=0, le=1)
    windows_by: Literal["uncertainty", "random"] = "uncertainty"
    min_freezing_s: float = Field(1.0, ge=0)
    px_per_cm: float | None = Field(None, gt=0)
    smoothing: Literal["hmm", "mode", "none"] = "hmm"
    hmm_stay: float = Field(0.5, gt=0, lt=1)
    mode_windows: int = Field(3, ge=1)
    layout: str | None = None
    feature_window_s: float = Field(0.5, ge=0)
    max_gap_s: float = Field(0.25, ge=0)
    concurrency: int = Field(8, ge=1)
    chunk: int = Field(256, ge=1)
    ask_person: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ClassifyOptions:
        if self.layout is not None and self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {sorted(LAYOUTS)}")
        return self


__all__ = ["ClassifyOptions"]


MODEL_BUDGET = 0.05
"""Share of windows sent to a model endpoint when ``--model-budget`` is not given."""


def effective_budget(options: ClassifyOptions, backend: str) -> float:
    """The share of windows that may go to the model for ``backend`` (see ``model_budget``)."""
    if options.model_budget is not None:
        return options.model_budget
    return 0.0 if backend == "offline" else MODEL_BUDGET

"""What a demo section gets and is: the demo's options, its context (run, settings, earlier
sections, progress, sub-runs, figures) and a section's entry (key, title, function)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ethoagent.demo.html import ReportFigure, Section
from ethoagent.runs import Run

if TYPE_CHECKING:
    from ethoagent.config import Settings
    from ethoagent.graphs.kit.run import PipelineResult
    from ethoagent.graphs.kit.runtime import ProgressCallback
    from ethoagent.graphs.kit.spec import AnyPipeline


class DemoOptions(BaseModel):
    """Settings of the end-to-end demo (kept in ``run.json`` so a resume finds them).

    Attributes:
        frames: frames of the simulated session (30 fps).
        views: cameras (a ring plus one overhead); 3 or more, since with 2 a mark hidden
            in one view cannot be triangulated and pose leaves too few complete frames.
        seed: seed of the session, the model fits and the gate's training.
        preset: simulation preset (``evals.simulate.PRESETS``).
        skip: section keys not to run (shown as skipped).
        gate_epochs: passes over the training windows of the gate model.
        gate_block_s: the gate trains on even blocks of this many seconds of ground-truth
            labels and is scored on the odd ones.
        triangulate_frames: frames of the verified-triangulation section.
        classify_examples: labelled example clips per class given to the classify section.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(900, ge=60)
    views: int = Field(4, ge=3, le=16)
    seed: int = 0
    preset: str = "paper-like"
    skip: list[str] = Field(default_factory=list)
    gate_epochs: int = Field(60, ge=1)
    gate_block_s: float = Field(3.0, gt=0)
    triangulate_frames: int = Field(150, ge=3)
    classify_examples: int = Field(2, ge=1, le=10)

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        from ethoagent.sim.simulate import PRESETS

        if value not in PRESETS:
            raise ValueError(f"preset {value!r} is not one of {sorted(PRESETS)}")
        return value


@dataclass
class DemoContext:
    """What a section function gets: the demo run, settings and earlier sections.

    Attributes:
        run: the demo run.
        settings: the effective settings (backend, models).
        options: the demo's settings.
        sections: finished sections by key (later sections read earlier ones' ``data``).
        progress: ``(stage, done, total)`` callback, ``done`` an increment.
    """

    run: Run
    settings: Settings
    options: DemoOptions
    sections: dict[str, Section] = field(default_factory=dict)
    progress: ProgressCallback | None = None

    @property
    def session_dir(self) -> Path:
        return self.run.root / "session"

    @property
    def figures_dir(self) -> Path:
        return self.run.outputs_dir / "figures"

    def report_progress(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def figure(self, name: str, png: bytes, title: str, caption: str = "") -> ReportFigure:
        """Write ``outputs/figures/<name>.png`` and describe it for the report."""
        self.run.write_output(f"figures/{name}.png", png)
        return ReportFigure(title=title, file=f"figures/{name}.png", caption=caption)

    def copy_figure(self, src: Path, name: str, title: str, caption: str = "") -> ReportFigure:
        """Reuse a figure a pipeline wrote (e.g. ``runs/pose/outputs/reprojection.png``)."""
        return self.figure(name, src.read_bytes(), title, caption)

    def pipeline(
        self, key: str, spec: AnyPipeline, inputs: BaseModel, options: BaseModel
    ) -> PipelineResult:
        """Run ``spec`` as the demo's sub-run ``runs/<key>/`` (resumed where it exists)."""
        from ethoagent.graphs.kit.run import run_pipeline

        settings = self.settings.model_copy(update={"runs_dir": self.run.root / "runs"})
        resume = key if (settings.runs_dir / key / "run.json").is_file() else None

        def on_progress(stage: str, done: int, total: int) -> None:
            self.report_progress(f"{key}: {stage}", done, total)

        return run_pipeline(
            spec, inputs, options, settings, resume=resume, run_id=key, progress=on_progress
        )

    def rel(self, path: Path) -> str:
        """``path`` relative to the demo run's root (for the report)."""
        try:
            return str(path.relative_to(self.run.root))
        except ValueError:
            return str(path)


SectionFn = Callable[[DemoContext], Section]


@dataclass(frozen=True)
class SectionSpec:
    """One pipeline's entry in the demo: its key, title and section function."""

    key: str
    title: str
    build: SectionFn


__all__ = ["DemoContext", "DemoOptions", "SectionFn", "SectionSpec"]

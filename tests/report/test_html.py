"""The HTML report and the demo's section driver, without running any pipeline: figures
embedded as PNG data URLs, no external URL, a failing section isolated, resume reusing
finished sections, and the page checked in headless Chromium where it is installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.config import load_settings
from ethoagent.demo.driver import (
    DemoContext,
    DemoOptions,
    SectionSpec,
    per_class_f1,
    run_full_demo,
)
from ethoagent.demo.figures import timeline_figure
from ethoagent.demo.html import ReportFigure, ReportTable, Section, png_data_url, render_html
from ethoagent.errors import InputError, RunError
from ethoagent.figures import new_figure, png_bytes
from ethoagent.runs import Run
from tests.report.htmlcheck import (
    assert_self_contained,
    decode_png,
    find_chromium,
    parse_page,
    render_in_chromium,
)


def _png(width_in: float = 3.0) -> bytes:
    fig, ax = new_figure(width_in, 2.0)
    ax.plot([0, 1, 2], [1, 0, 1])
    return png_bytes(fig)


def test_png_data_url_round_trips_and_refuses_other_bytes() -> None:
    png = _png()
    img = decode_png(png_data_url(png))
    assert img.shape[1] == 300  # 3 inches at 100 dpi
    with pytest.raises(InputError, match="not a PNG"):
        png_data_url(b"GIF89a....")


def test_render_embeds_figures_escapes_text_and_marks_missing_figures(tmp_path: Path) -> None:
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "a.png").write_bytes(_png())
    sections = [
        Section(
            key="one",
            title="One <b>",
            summary="a & b",
            metrics=[("error", "0.5 mm")],
            figures=[ReportFigure(title="a", file="figures/a.png", caption="cap")],
            tables=[ReportTable(title="t", columns=["x", "y"], rows=[["1", "<i>"]])],
            notes=["synthetic"],
            run_dir="runs/one",
        ),
        Section(
            key="two",
            title="Two",
            figures=[ReportFigure(title="gone", file="figures/missing.png")],
        ),
        Section(key="three", title="Three", status="error", error="Traceback ...\nBoom"),
    ]
    text = render_html("t", sections, tmp_path, intro=["hello"], footer="bye")
    parts = assert_self_contained(text)
    assert len(parts.images) == 1
    assert parts.sections == {"one": "ok", "two": "ok", "three": "error"}
    assert "One &lt;b&gt;" in text and "a &amp; b" in text and "&lt;i&gt;" in text
    assert "figure gone missing" in text and "Boom" in text
    assert 'href="#three" class="error"' in text


def test_per_class_f1_by_name() -> None:
    truth = ["a", "a", "b", "b"]
    assert per_class_f1(truth, ["a", "a", "b", "b"]) == {"a": 1.0, "b": 1.0}
    # predicted names outside the truth's classes count as errors, not as classes
    assert per_class_f1(truth, ["a", "x", "b", "b"]) == {"a": round(2 / 3, 4), "b": 1.0}


def test_timeline_figure_is_a_png() -> None:
    lab = np.array(["walk"] * 30 + ["rest"] * 30 + [""] * 10)
    png = timeline_figure([("truth", lab), ("pred", lab[::-1].copy())], 30.0, "t", shade=None)
    assert png.startswith(b"\x89PNG")


def _ok(key: str, calls: list[str]) -> SectionSpec:
    def build(ctx: DemoContext) -> Section:
        calls.append(key)
        fig = ctx.figure(f"{key}_fig", _png(), f"{key} figure")
        return Section(key=key, title=key, summary=f"{key} ran", figures=[fig], data={"n": 1})

    return SectionSpec(key, key, build)


def _needs(key: str, other: str, calls: list[str]) -> SectionSpec:
    def build(ctx: DemoContext) -> Section:
        calls.append(key)
        if ctx.sections[other].status != "ok":
            raise RunError(f"{other} did not finish")
        return Section(key=key, title=key, summary="used " + other)

    return SectionSpec(key, key, build)


def test_a_failing_section_is_isolated_and_rerun_on_resume(tmp_path: Path) -> None:
    settings = load_settings(None, {"runs_dir": tmp_path})
    run = Run.create(tmp_path, "demo", settings, run_id="d")
    calls: list[str] = []
    broken = [True]

    def flaky(ctx: DemoContext) -> Section:
        calls.append("flaky")
        if broken[0]:
            raise ValueError("boom in flaky")
        return Section(key="flaky", title="flaky", summary="fixed")

    specs = [
        _ok("first", calls),
        SectionSpec("flaky", "flaky", flaky),
        _needs("after", "flaky", calls),
        _ok("last", calls),
    ]
    sections, report = run_full_demo(run, settings, DemoOptions(), specs=specs)
    assert [s.status for s in sections] == ["ok", "error", "error", "ok"]
    assert "boom in flaky" in (sections[1].error or "") and "ValueError" in sections[1].summary
    text = report.read_text()
    parts = assert_self_contained(text)
    assert parts.sections["flaky"] == "error" and parts.sections["overview"] == "ok"
    assert len(parts.images) == 2  # the two ok sections' figures (overview has no data)
    assert "2 section(s) failed" in text

    # resume: finished sections are reused, failed ones run again
    broken[0] = False
    calls.clear()
    sections, report = run_full_demo(run, settings, DemoOptions(), specs=specs)
    assert calls == ["flaky", "after"]
    assert [s.status for s in sections] == ["ok"] * 4
    assert parse_page(report.read_text()).sections["flaky"] == "ok"


def test_skipped_sections_and_unknown_skips(tmp_path: Path) -> None:
    settings = load_settings(None, {"runs_dir": tmp_path})
    run = Run.create(tmp_path, "demo", settings, run_id="d")
    calls: list[str] = []
    specs = [_ok("a", calls), _ok("b", calls)]
    sections, _ = run_full_demo(run, settings, DemoOptions(skip=["b"]), specs=specs)
    assert calls == ["a"] and sections[1].status == "skipped"
    with pytest.raises(RunError, match="no such section"):
        run_full_demo(run, settings, DemoOptions(skip=["nope"]), specs=specs)


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    (tmp_path / "figures").mkdir()
    for i, w in enumerate((3.0, 5.0)):
        (tmp_path / "figures" / f"{i}.png").write_bytes(_png(w))
    page = tmp_path / "report.html"
    page.write_text(
        render_html(
            "probe page",
            [
                Section(
                    key="s",
                    title="s",
                    figures=[ReportFigure(title=str(i), file=f"figures/{i}.png") for i in range(2)],
                )
            ],
            tmp_path,
        )
    )
    result = render_in_chromium(chromium, page, tmp_path)
    assert result.console == []
    assert result.probe["title"] == "probe page" and result.probe["sections"] == 1
    widths = [(im["width"], im["complete"]) for im in result.probe["images"]]  # type: ignore[attr-defined]
    assert widths == [(300, True), (500, True)]


def test_chromium_check_catches_an_external_image(tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    page = tmp_path / "report.html"
    text = render_html("bad", [Section(key="s", title="s")], tmp_path)
    page.write_text(text.replace("</main>", '<img src="http://127.0.0.1:9/x.png"></main>'))
    result = render_in_chromium(chromium, page, tmp_path)
    assert any("Content Security Policy" in line for line in result.console), result.console
    assert result.probe["images"] == [{"complete": True, "width": 0, "height": 0}]


def test_cli_writes_the_report_then_fails_naming_the_failed_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import ethoagent.demo.driver as demo_module
    from ethoagent.cli.app import app

    calls: list[str] = []

    def broken(ctx: DemoContext) -> Section:
        raise ValueError("segment exploded")

    monkeypatch.setattr(
        demo_module,
        "SECTIONS",
        [_ok("session", calls), SectionSpec("segment", "Segment", broken), _ok("gate", calls)],
    )
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(
        app, ["demo", "--frames", "60", "--runs-dir", str(tmp_path), "--run-id", "d"]
    )
    assert isinstance(result.exception, RunError), result.output
    assert "1 demo section(s) failed (segment)" in str(result.exception)
    assert calls == ["session", "gate"]
    assert "segment exploded" in result.output  # the summary table's row
    report = tmp_path / "d" / "outputs" / "report.html"
    assert parse_page(report.read_text()).sections["segment"] == "error"
    info = (tmp_path / "d" / "run.json").read_text()
    assert '"status": "failed"' in info

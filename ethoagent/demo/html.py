"""One self-contained HTML page from a list of report sections.

A ``Section`` is what one pipeline contributes: a title, a status (``ok``, ``error`` or
``skipped``), metrics, figures, tables, notes and the run directory it came from. It is a
pydantic model, so a finished section is saved as JSON beside the report and a resumed
run reuses it. Figures are PNG files next to the report; ``render_html`` embeds them as
base64 ``data:`` URLs with inline CSS and a Content-Security-Policy that forbids loading
anything else, so the page opens the same from a laptop, an e-mail or a lab wiki with no
network.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ethoagent.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SectionStatus = Literal["ok", "error", "skipped"]
# Only inline styles and data: images; scripts, fonts, frames and fetches are refused.
CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


class ReportFigure(BaseModel):
    """A PNG figure of a section.

    Attributes:
        title: shown above the image (also its alt text).
        file: path of the PNG, relative to the report's folder.
        caption: shown below the image: what is plotted, units, which data.
    """

    title: str
    file: str
    caption: str = ""


class ReportTable(BaseModel):
    """A small table of a section (cells already formatted as text)."""

    title: str
    columns: list[str]
    rows: list[list[str]]


class Section(BaseModel):
    """What one pipeline contributes to a report.

    Attributes:
        key: short id (also the HTML anchor), e.g. ``"pose"``.
        title: heading.
        status: ``ok``; ``error`` (the pipeline raised: ``error`` holds why); ``skipped``.
        summary: one sentence, also printed in the terminal.
        metrics: ``(name, value)`` rows, values formatted with their unit.
        figures: PNG figures.
        tables: extra tables (flagged frames, per-class scores, ...).
        notes: caveats a reader needs (synthetic data, offline backend, what was not run).
        error: the error message of a failed pipeline.
        run_dir: the run directory holding the pipeline's outputs and trace.
        seconds: wall-clock seconds the pipeline took.
        data: machine-readable results for ``summary.json`` and for later sections.
    """

    key: str
    title: str
    status: SectionStatus = "ok"
    summary: str = ""
    metrics: list[tuple[str, str]] = Field(default_factory=list)
    figures: list[ReportFigure] = Field(default_factory=list)
    tables: list[ReportTable] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    error: str | None = None
    run_dir: str | None = None
    seconds: float | None = None
    data: dict[str, object] = Field(default_factory=dict)


def png_data_url(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes.

    Raises:
        InputError: the bytes are not a PNG file.
    """
    if not png.startswith(PNG_SIGNATURE):
        raise InputError(
            f"figure bytes are not a PNG (start {png[:8]!r}).", fix="encode figures as PNG."
        )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2327;
margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
header h1{margin:0 0 4px;font-size:26px}
header p{margin:4px 0;color:#50575e}
nav{margin:14px 0 8px;display:flex;flex-wrap:wrap;gap:6px}
nav a{text-decoration:none;padding:3px 10px;border-radius:12px;background:#e6e9ee;color:#1d2327;
font-size:13px}
nav a.error{background:#f8d7da}
section{background:#fff;border:1px solid #dcdfe4;border-radius:8px;margin:18px 0;
padding:14px 20px}
section.error{border-color:#d63638}
section.skipped{opacity:.75}
h2{margin:4px 0 6px;font-size:20px}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;margin-left:8px;vertical-align:2px}
.badge.ok{background:#d1f0d8;color:#0a5c2a}
.badge.error{background:#f8d7da;color:#8a1f25}
.badge.skipped{background:#eee;color:#555}
.summary{margin:2px 0 10px}
table{border-collapse:collapse;margin:8px 0 12px;font-size:14px}
th,td{border-bottom:1px solid #e3e5e8;padding:4px 12px 4px 0;text-align:left;
vertical-align:top}
th{font-weight:600;color:#3c434a}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:12px 0 18px}
figure img{max-width:100%;height:auto;border:1px solid #eceef1;display:block}
figcaption{color:#50575e;font-size:13px;margin-top:4px}
figure h3,h3{font-size:15px;margin:10px 0 6px}
pre{background:#fbeaea;border-radius:6px;padding:8px 10px;white-space:pre-wrap;
font-size:13px}
code{font-size:13px;background:#f0f1f3;padding:1px 4px;border-radius:3px}
ul.notes{color:#50575e;font-size:14px;padding-left:20px}
p.missing{color:#8a1f25}
footer{color:#6c7278;font-size:13px;margin-top:30px}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _numeric(cell: str) -> bool:
    """A number with at most a unit or two after it (right-aligned), not a sentence."""
    words = cell.strip().split()
    if not words or len(words) > 4:
        return False
    head = words[0].rstrip("%")
    try:
        float(head.replace(",", ""))
    except ValueError:
        return False
    return True


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str = "") -> str:
    out = [f"<h3>{_e(title)}</h3>"] if title else []
    out.append("<table>")
    if columns:
        out.append("<tr>" + "".join(f"<th>{_e(c)}</th>" for c in columns) + "</tr>")
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = ' class="num"' if i > 0 and _numeric(cell) else ""
            cells.append(f"<td{cls}>{_e(cell)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _figure(fig: ReportFigure, base: Path) -> str:
    path = base / fig.file
    try:
        url = png_data_url(path.read_bytes())
    except (OSError, InputError) as exc:
        return f'<p class="missing">figure {_e(fig.title)} missing: {_e(exc)}</p>'
    caption = f"<figcaption>{_e(fig.caption)}</figcaption>" if fig.caption else ""
    return (
        f'<figure><h3>{_e(fig.title)}</h3><img src="{url}" alt="{_e(fig.title)}">{caption}</figure>'
    )


def render_section(section: Section, base: Path) -> str:
    """The ``<section>`` element of one section; figures read from ``base``."""
    parts = [
        f'<section id="{_e(section.key)}" class="{section.status}">',
        f'<h2>{_e(section.title)}<span class="badge {section.status}">{section.status}</span></h2>',
    ]
    if section.summary:
        parts.append(f'<p class="summary">{_e(section.summary)}</p>')
    if section.error:
        parts.append(f"<pre>{_e(section.error)}</pre>")
    if section.metrics:
        parts.append(_table([], [list(m) for m in section.metrics]))
    parts += [_figure(f, base) for f in section.figures]
    parts += [_table(t.columns, t.rows, t.title) for t in section.tables]
    if section.notes:
        parts.append(
            '<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in section.notes) + "</ul>"
        )
    footer = []
    if section.run_dir:
        footer.append(f"run directory <code>{_e(section.run_dir)}</code>")
    if section.seconds is not None:
        footer.append(f"{section.seconds:.1f} s")
    if footer:
        parts.append(f'<p class="summary">{" · ".join(footer)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def render_html(
    title: str,
    sections: Sequence[Section],
    base: str | Path,
    *,
    intro: Sequence[str] = (),
    footer: str = "",
) -> str:
    """A self-contained HTML page: header, a link per section, then every section.

    Args:
        title: page title and heading.
        sections: in page order.
        base: folder the figures' ``file`` paths are relative to.
        intro: paragraphs under the heading.
        footer: a last line (e.g. how to reproduce the run).

    Returns:
        The HTML text: every image a PNG ``data:`` URL, CSS inline, no external URL.
    """
    root = Path(base)
    nav = "".join(f'<a href="#{_e(s.key)}" class="{s.status}">{_e(s.title)}</a>' for s in sections)
    body = "\n".join(render_section(s, root) for s in sections)
    paras = "".join(f"<p>{_e(p)}</p>" for p in intro)
    foot = f"<footer>{_e(footer)}</footer>" if footer else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style></head>\n"
        f"<body><main><header><h1>{_e(title)}</h1>{paras}</header>\n"
        f"<nav>{nav}</nav>\n{body}\n{foot}</main></body></html>\n"
    )


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "ReportFigure",
    "ReportTable",
    "Section",
    "png_data_url",
    "render_html",
    "render_section",
]

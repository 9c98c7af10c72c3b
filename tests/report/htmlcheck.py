"""Structural and browser checks of a self-contained HTML report (shared by the tests)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np

from ethoagent.demo.html import CONTENT_SECURITY_POLICY, PNG_SIGNATURE

DATA_URL = "data:image/png;base64,"


@dataclass
class PageParts:
    """What ``parse_page`` found: image sources, other URL attributes, section ids/classes."""

    images: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    scripts: int = 0
    links: int = 0


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts = PageParts()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.parts.images.append(a.get("src", ""))
        if tag == "section":
            self.parts.sections[a.get("id", "")] = a.get("class", "")
        if tag == "script":
            self.parts.scripts += 1
        if tag == "link":
            self.parts.links += 1
        for key in ("src", "href", "srcset", "action", "poster", "data"):
            if key in a and not a[key].startswith(("#", DATA_URL)):
                self.parts.urls.append(a[key])


def parse_page(text: str) -> PageParts:
    parser = _Parser()
    parser.feed(text)
    return parser.parts


def decode_png(src: str) -> np.ndarray:
    """The image of a PNG data URL (asserts it is one and decodes)."""
    assert src.startswith(DATA_URL), src[:60]
    raw = base64.b64decode(src[len(DATA_URL) :], validate=True)
    assert raw.startswith(PNG_SIGNATURE)
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape[0] > 0 and img.shape[1] > 0
    return np.asarray(img)


def assert_self_contained(text: str) -> PageParts:
    """Every image a decodable PNG data URL; no external URL, script, stylesheet link."""
    parts = parse_page(text)
    for src in parts.images:
        decode_png(src)
    assert parts.urls == [], parts.urls
    assert parts.scripts == 0 and parts.links == 0
    assert not re.search(r"https?://", text), re.findall(r"https?://\S{0,40}", text)
    assert "url(" not in text
    assert CONTENT_SECURITY_POLICY in text
    return parts


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


# Added to a copy of the page: after load, write every image's state into the DOM.
_PROBE = """<div id="probe"></div><script>
window.addEventListener("load", () => {
  const imgs = [...document.images].map(i => ({complete: i.complete, width: i.naturalWidth,
                                               height: i.naturalHeight}));
  const out = {title: document.title, images: imgs,
               sections: document.querySelectorAll("section").length};
  document.getElementById("probe").textContent = JSON.stringify(out);
});
</script>"""


@dataclass
class BrowserResult:
    probe: dict[str, object]
    console: list[str]


def chromium_flags() -> list[str]:
    return ["--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0"]


def render_in_chromium(chromium: str, page: Path, work: Path) -> BrowserResult:
    """Load a copy of ``page`` (plus the probe script) in headless Chromium.

    The copy's Content-Security-Policy gains ``script-src 'unsafe-inline'`` for the probe
    only; everything else it forbids (any fetch that is not a data: image) stays forbidden,
    so an external resource would show up as a console message.
    """
    text = page.read_text()
    assert CONTENT_SECURITY_POLICY in text
    probed = text.replace(
        CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY + "; script-src 'unsafe-inline'"
    ).replace("</body>", _PROBE + "</body>")
    copy = work / "probed.html"
    copy.write_text(probed)
    out = subprocess.run(
        [chromium, *chromium_flags(), "--virtual-time-budget=10000", "--dump-dom",
         copy.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    match = re.search(r'<div id="probe">(.*?)</div>', out.stdout, re.S)
    assert match is not None and match.group(1), "the probe script did not run"
    import html

    probe = json.loads(html.unescape(match.group(1)))
    console = [ln for ln in out.stderr.splitlines() if ":CONSOLE" in ln]
    return BrowserResult(probe=probe, console=console)


def screenshot(chromium: str, page: Path, out: Path, height: int = 2400) -> None:
    """A PNG screenshot of ``page`` 1280 pixels wide."""
    subprocess.run(
        [chromium, *chromium_flags(), "--hide-scrollbars", f"--window-size=1280,{height}",
         f"--screenshot={out}", page.as_uri()],
        capture_output=True,
        timeout=180,
        check=True,
    )  # fmt: skip

"""A run's reasoning trace per item, and as one self-contained HTML page.

``group_items`` gathers a trace's events by (node, item) with what a reader asks first: did
a check fail, was the item retried, escalated, flagged, how many model calls did it cost.
``select_events`` applies the filters of ``ethoagent trace show|export`` (item, node, kind,
check, failures). ``render_trace_html`` writes one HTML file with no external asset (inline
CSS and a little vanilla JS): a summary of the run, then one collapsible entry per item with
its attempts, proposals, model calls (prompt, answer, parse errors), tool calls, checks
(value vs threshold), decisions and flags, and filters by text, node, check and outcome.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ethoagent.agent.trace_report import summarize_trace

__all__ = ["ItemTrace", "group_items", "render_trace_html", "select_events"]

MAX_MESSAGE_CHARS = 4000
"""Longest message or answer text shown in the page (the JSON export keeps it all)."""


@dataclass
class ItemTrace:
    """The events of one (node, item) and what they add up to.

    Attributes:
        node: the graph node (stage) name.
        item: the item (e.g. ``frame 12``, ``snippet 3``).
        events: its events in trace order.
        checks: names of the checks that ran on it.
        failed_checks: names of the checks that failed at least once.
        attempts: proposals made (first + retries + escalations).
        retries, escalations: decisions of that kind.
        flagged: the item was flagged for human review.
        accepted: a proposal passed every check.
        model_calls: model calls made for it.
    """

    node: str
    item: str
    events: list[Mapping[str, Any]] = field(default_factory=list)
    checks: set[str] = field(default_factory=set)
    failed_checks: set[str] = field(default_factory=set)
    attempts: int = 0
    retries: int = 0
    escalations: int = 0
    flagged: bool = False
    accepted: bool = False
    model_calls: int = 0

    @property
    def failed(self) -> bool:
        """A check failed on it or it was flagged."""
        return bool(self.failed_checks) or self.flagged

    @property
    def outcome(self) -> str:
        """``flagged``, ``accepted`` or ``open`` (flagged wins)."""
        if self.flagged:
            return "flagged"
        if self.accepted:
            return "accepted"
        return "open"

    def add(self, ev: Mapping[str, Any]) -> None:
        """Append one of the item's trace events and update its checks, flag and outcome."""
        self.events.append(ev)
        kind = ev.get("kind")
        if kind == "check":
            name = str(ev.get("name"))
            self.checks.add(name)
            if not ev.get("passed"):
                self.failed_checks.add(name)
        elif kind == "proposal":
            self.attempts += 1
        elif kind == "decision":
            action = str(ev.get("action") or "").lower()
            self.retries += action.startswith("retry")
            self.escalations += action.startswith("escalat")
        elif kind == "flag":
            self.flagged = True
        elif kind == "accepted":
            self.accepted = True
        elif kind == "model_call":
            self.model_calls += 1


def group_items(
    events: Iterable[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[ItemTrace]]:
    """Split a trace into run-level events (no item) and per-(node, item) groups.

    Returns:
        ``(run_events, items)``, both in trace order (items by first appearance).
    """
    header: list[Mapping[str, Any]] = []
    groups: dict[tuple[str, str], ItemTrace] = {}
    for ev in events:
        if ev.get("item") is None:
            header.append(ev)
            continue
        key = (str(ev.get("node") or ""), str(ev["item"]))
        if key not in groups:
            groups[key] = ItemTrace(node=key[0], item=key[1])
        groups[key].add(ev)
    return header, list(groups.values())


def select_events(
    events: Sequence[Mapping[str, Any]],
    *,
    item: str | None = None,
    node: str | None = None,
    kind: str | None = None,
    check: str | None = None,
    failed_only: bool = False,
) -> list[Mapping[str, Any]]:
    """The events of the items that match every filter given, in trace order.

    Run-level events (no item) are kept unless ``item``, ``check`` or ``failed_only`` is
    given (they belong to no item); with ``node`` only those of that node or of none.

    Args:
        events: the trace's events in order (``read_trace``).
        item: only this item.
        node: only this node.
        kind: only events of this kind.
        check: only items on which this check ran (with ``failed_only``: failed).
        failed_only: only items with a failed check or a flag.
    """
    header, items = group_items(events)
    keep: set[int] = set()
    if item is None and check is None and not failed_only:
        keep.update(id(e) for e in header if node is None or e.get("node") in (None, node))
    for it in items:
        if item is not None and it.item != item:
            continue
        if node is not None and it.node != node:
            continue
        if check is not None and check not in (it.failed_checks if failed_only else it.checks):
            continue
        if failed_only and not it.failed:
            continue
        keep.update(id(e) for e in it.events)
    return [e for e in events if id(e) in keep and (kind is None or e.get("kind") == kind)]


# --------------------------------------------------------------------------- HTML


class _Images:
    """The PNGs a trace's model calls sent, embedded once each as ``data:`` URIs.

    Args:
        run_root: the run directory (image paths in the trace are relative to it), or
            ``None`` to embed nothing.
        max_bytes: stop embedding once this many image bytes are in the page.
    """

    def __init__(self, run_root: Path | None, max_bytes: int) -> None:
        self.run_root = run_root
        self.max_bytes = max_bytes
        self.uris: dict[str, str] = {}
        self.total = 0
        self.skipped: set[str] = set()

    def tag(self, record: Mapping[str, Any]) -> str:
        """An ``<img>`` whose source the page's script fills in, or a note why not."""
        sha = str(record.get("sha256") or record.get("image") or "")
        rel = record.get("path")
        if sha not in self.uris:
            path = None if self.run_root is None or not rel else self.run_root / str(rel)
            if path is None or not path.is_file():
                return f"<span class='note'>image {_esc(sha[:12])} (not embedded)</span>"
            size = path.stat().st_size
            if self.total + size > self.max_bytes:
                self.skipped.add(sha)
                return f"<span class='note'>image not embedded (size cap): {_esc(rel)}</span>"
            self.total += size
            self.uris[sha] = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
        return f"<img class='shot' alt='image {_esc(sha[:12])}' data-sha='{_esc(sha)}'>"

    def script(self) -> str:
        """The JSON map ``sha256 -> data URI`` (``</`` escaped so it cannot end the script)."""
        text = json.dumps(self.uris).replace("</", "<\\/")
        return f"<script type='application/json' id='images'>{text}</script>"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "—" if x is None else _esc(x)
    return f"{x:.4g}"


def _clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text)} characters in all]"


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=1, sort_keys=True)
    return f"<pre>{_esc(_clip(text))}</pre>"


def _fold(label: str, body: str) -> str:
    return f"<details class='fold'><summary>{label}</summary>{body}</details>"


def _short_json(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split())
    return _esc(text if len(text) <= limit else text[: limit - 1] + "…")


def _model_call_html(ev: Mapping[str, Any], cls: str, images: _Images) -> str:
    prompt = ev.get("prompt") or {}
    usage = ev.get("usage") or {}
    head = (
        f"model <b>{_esc(ev.get('role'))}</b> {_esc(ev.get('model'))} via "
        f"{_esc(ev.get('backend'))} · prompt {_esc(prompt.get('name'))}.v"
        f"{_esc(prompt.get('version'))} · {usage.get('prompt_tokens', 0)}+"
        f"{usage.get('completion_tokens', 0)} tokens"
    )
    if ev.get("cache_hit"):
        head += " · <span class='ok'>cache hit</span>"
    if isinstance(ev.get("latency_s"), int | float):
        head += f" · {ev['latency_s']:.2f} s"
    parts = [head]
    if ev.get("error"):
        cls += " fail"
        parts.append(f"<div class='bad'>error: {_esc(ev['error'])}</div>")
    if ev.get("parse_error"):
        cls += " fail"
        parts.append(f"<div class='bad'>parse error: {_esc(ev['parse_error'])}</div>")
    if ev.get("parsed") is not None:
        parts.append(_fold("answer", _pre(ev["parsed"])))
    elif ev.get("tool_calls"):
        parts.append(_fold("tool calls", _pre(ev["tool_calls"])))
    elif ev.get("text"):
        parts.append(_fold("answer text", _pre(str(ev["text"]))))
    messages = ev.get("messages") or []
    if messages:
        body = "".join(
            f"<div class='msg'><i>{_esc(m.get('role'))}</i>"
            + (f" · {len(m['images'])} image(s)" if m.get("images") else "")
            + _pre(str(m.get("content", "")))
            + "".join(images.tag(im) for im in m.get("images") or [] if isinstance(im, Mapping))
            + "</div>"
            for m in messages
            if isinstance(m, Mapping)
        )
        parts.append(_fold(f"request ({len(messages)} messages)", body))
    return f"<div class='{cls}' data-kind='model_call'>{''.join(parts)}</div>"


def _event_html(ev: Mapping[str, Any], images: _Images) -> str:
    kind = str(ev.get("kind", ""))
    cls = f"ev k-{_esc(kind)}"
    if kind == "check":
        ok = bool(ev.get("passed"))
        cls += " pass" if ok else " fail"
        body = (
            f"<span class='mark'>{'✓' if ok else '✗'}</span> check "
            f"<b>{_esc(ev.get('name'))}</b> value {_num(ev.get('value'))} vs threshold "
            f"{_num(ev.get('threshold'))} — {_esc(ev.get('message') or '')}"
        )
        return (
            f"<div class='{cls}' data-kind='check' data-check='{_esc(ev.get('name'))}'>{body}</div>"
        )
    if kind == "model_call":
        return _model_call_html(ev, cls, images)
    if kind == "tool_call":
        head = f"tool <b>{_esc(ev.get('name'))}</b>({_short_json(ev.get('args') or {}, 120)})"
        if ev.get("error"):
            cls += " fail"
            head += f" <span class='bad'>error: {_esc(ev['error'])}</span>"
        else:
            head += f" → {_short_json(ev.get('result'), 120)}"
        if isinstance(ev.get("duration_s"), int | float):
            head += f" · {ev['duration_s']:.3f} s"
        return f"<div class='{cls}' data-kind='tool_call'>{head}</div>"
    if kind == "decision":
        body = (
            f"decision by <b>{_esc(ev.get('decided_by'))}</b>: "
            f"<b class='act'>{_esc(ev.get('action'))}</b> — {_esc(ev.get('reason') or '')}"
        )
        if ev.get("strategy"):
            body += f" · strategy <b>{_esc(ev['strategy'])}</b>"
        if ev.get("instruction"):
            body += f" · instruction: {_esc(ev['instruction'])}"
        return f"<div class='{cls}' data-kind='decision'>{body}</div>"
    if kind == "flag":
        return (
            f"<div class='{cls} fail' data-kind='flag'><span class='flag'>⚑ FLAG</span> "
            f"{_esc(ev.get('reason') or '')}</div>"
        )
    if kind == "proposal":
        return (
            f"<div class='{cls}' data-kind='proposal'>proposal by "
            f"<b>{_esc(ev.get('proposer'))}</b></div>"
        )
    if kind == "accepted":
        return (
            f"<div class='{cls} pass' data-kind='accepted'><span class='mark'>✓</span> "
            f"accepted ({_esc(ev.get('proposer'))})</div>"
        )
    skip = {"ts", "seq", "run_id", "kind", "graph", "node", "item", "attempt"}
    rest = ", ".join(f"{k}={_short_json(v, 80)}" for k, v in sorted(ev.items()) if k not in skip)
    if kind in ("error", "warning"):
        cls += " fail"
    return f"<div class='{cls}' data-kind='{_esc(kind)}'><b>{_esc(kind)}</b> {rest}</div>"


def _item_html(it: ItemTrace, images: _Images) -> str:
    badges = [f"<span class='b'>{it.attempts} attempt{'s' * (it.attempts != 1)}</span>"]
    for name in sorted(it.failed_checks):
        badges.append(f"<span class='b bad'>✗ {_esc(name)}</span>")
    if it.retries:
        badges.append(
            f"<span class='b warn'>{it.retries} retr{'ies' if it.retries > 1 else 'y'}</span>"
        )
    if it.escalations:
        badges.append(f"<span class='b warn'>{it.escalations} escalation(s)</span>")
    if it.flagged:
        badges.append("<span class='b flag'>⚑ flagged</span>")
    if it.model_calls:
        badges.append(f"<span class='b'>{it.model_calls} model call(s)</span>")
    if it.flagged or not it.accepted:
        mark = "<span class='bad' title='flagged or not accepted'>✗</span>"
    elif it.failed_checks:
        mark = "<span class='warnm' title='accepted after a failed check'>✓</span>"
    else:
        mark = "<span class='ok' title='accepted, no failed check'>✓</span>"
    body: list[str] = []
    current: Any = object()
    for ev in it.events:
        attempt = ev.get("attempt")
        if attempt != current:
            if body:
                body.append("</div>")
            label = f"attempt {_esc(attempt)}" if attempt is not None else "outside attempts"
            body.append(f"<div class='attempt'><div class='alabel'>{label}</div>")
            current = attempt
        body.append(_event_html(ev, images))
    if body:
        body.append("</div>")
    attrs = {
        "data-node": it.node,
        "data-item": it.item,
        "data-outcome": it.outcome,
        "data-failed": "1" if it.failed else "0",
        "data-checks": " ".join(sorted(it.checks)),
        "data-failed-checks": " ".join(sorted(it.failed_checks)),
        "data-retried": "1" if it.retries else "0",
        "data-escalated": "1" if it.escalations else "0",
    }
    attr_text = " ".join(f"{k}='{_esc(v)}'" for k, v in attrs.items())
    return (
        f"<details class='item' {attr_text}><summary>{mark} <span class='node'>"
        f"{_esc(it.node) or '—'}</span> › <b>{_esc(it.item)}</b> {''.join(badges)}</summary>"
        f"{''.join(body)}</details>"
    )


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:14px 20px}header h1{margin:0;font-size:19px}
header .sub{opacity:.8;font-size:13px}
main{padding:12px 20px}
table.sum{border-collapse:collapse;margin:8px 0 12px}table.sum td{padding:2px 12px 2px 0}
table.sum td:first-child{color:#5b6475}
.bar{position:sticky;top:0;background:#f6f7f9;padding:8px 0;border-bottom:1px solid #d8dce3;
z-index:2;display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.bar input[type=search]{width:220px}.bar select,.bar input,.bar button{font:inherit;
padding:3px 6px}
#count{color:#5b6475;margin-left:auto}
details.item{background:#fff;border:1px solid #d8dce3;border-radius:6px;margin:6px 0;
padding:4px 10px}
details.item>summary{cursor:pointer;padding:3px 0}
.node{color:#5b6475}
.b{display:inline-block;font-size:12px;border-radius:9px;padding:0 7px;margin-left:5px;
background:#e8ebf0}
.b.bad{background:#fde2e1;color:#a1100c}.b.warn{background:#fff1cc;color:#7a5200}
.b.flag{background:#a1100c;color:#fff}
.attempt{border-left:3px solid #d8dce3;margin:6px 0 6px 4px;padding-left:10px}
.alabel{font-weight:600;font-size:12px;color:#5b6475}
.ev{padding:2px 0;word-break:break-word}.ev.fail{color:#a1100c}.ev.pass .mark{color:#16794a}
.ok{color:#16794a}.warnm{color:#b07800}.bad{color:#a1100c}.act{text-transform:uppercase;font-size:12px}
.flag{background:#a1100c;color:#fff;padding:0 6px;border-radius:4px;font-weight:600}
pre{background:#f3f4f7;padding:6px;white-space:pre-wrap;max-height:320px;overflow:auto;
font-size:12px;margin:4px 0}
details.fold>summary{cursor:pointer;color:#2456b3;font-size:12px}
.hidden{display:none}img.shot{max-width:360px;display:block;margin:4px 0;border:1px solid #d8dce3}
.note{color:#5b6475;font-size:12px}
"""

_JS = """
(function(){
  var items=[].slice.call(document.querySelectorAll('details.item'));
  var q=document.getElementById('q'),node=document.getElementById('node'),
      check=document.getElementById('check'),outcome=document.getElementById('outcome'),
      count=document.getElementById('count'),kinds=[].slice.call(document.querySelectorAll('.kind'));
  function has(list,name){return (' '+list+' ').indexOf(' '+name+' ')>=0;}
  function apply(){
    var text=q.value.toLowerCase(),n=0,hiddenKinds={};
    kinds.forEach(function(k){if(!k.checked){hiddenKinds[k.value]=1;}});
    items.forEach(function(el){
      var d=el.dataset,ok=true,o=outcome.value;
      var hay=(d.item+' '+d.node+' '+el.textContent).toLowerCase();
      if(text&&hay.indexOf(text)<0){ok=false;}
      if(node.value&&d.node!==node.value){ok=false;}
      if(check.value){var failedOnly=(o==='failed');
        if(!has(failedOnly?d.failedChecks:d.checks,check.value)){ok=false;}}
      if(o==='failed'&&d.failed!=='1'){ok=false;}
      if(o==='flagged'&&d.outcome!=='flagged'){ok=false;}
      if(o==='retried'&&d.retried!=='1'){ok=false;}
      if(o==='escalated'&&d.escalated!=='1'){ok=false;}
      if(o==='passed'&&d.failed!=='0'){ok=false;}
      el.classList.toggle('hidden',!ok);if(ok){n++;}
    });
    [].forEach.call(document.querySelectorAll('.ev'),function(ev){
      ev.classList.toggle('hidden',!!hiddenKinds[ev.dataset.kind]);});
    count.textContent=n+' of '+items.length+' items';
  }
  [q,node,check,outcome].forEach(function(el){el.addEventListener('input',apply);});
  kinds.forEach(function(k){k.addEventListener('change',apply);});
  var imgs=JSON.parse(document.getElementById('images').textContent);
  [].forEach.call(document.querySelectorAll('details'),function(d){
    d.addEventListener('toggle',function(){if(!d.open){return;}
      [].forEach.call(d.querySelectorAll('img.shot'),function(im){
        if(!im.src&&imgs[im.dataset.sha]){im.src=imgs[im.dataset.sha];}});});});
  document.getElementById('open').addEventListener('click',function(){
    items.forEach(function(el){if(!el.classList.contains('hidden')){el.open=true;}});});
  document.getElementById('close').addEventListener('click',function(){
    items.forEach(function(el){el.open=false;});});
  apply();
})();
"""


def render_trace_html(
    events: Sequence[Mapping[str, Any]],
    *,
    title: str,
    info: Mapping[str, Any] | None = None,
    run_root: Path | None = None,
    max_image_bytes: int = 25_000_000,
) -> str:
    """One self-contained HTML page of a trace: summary, filters, one entry per item.

    Args:
        events: trace events in order (``read_trace``).
        title: the page title (e.g. the run id).
        info: the run's ``run.json`` fields (graph, status, created), shown in the header.
        run_root: the run directory; the images the model calls sent are embedded from it
            (each once, shown when its request is opened). ``None``: no images.
        max_image_bytes: most image bytes embedded; later images are named, not shown.

    Returns:
        The HTML document (UTF-8 text; no external URL, script or style sheet).
    """
    header, items = group_items(events)
    counts = summarize_trace(events)
    info = info or {}
    sub = " · ".join(
        f"{k} {_esc(info[k])}" for k in ("graph", "status", "created") if info.get(k) is not None
    )
    rows = [
        ("items", f"{len(items)} ({sum(it.failed for it in items)} with a failed check or flag)"),
        ("checks", f"{counts['checks']} ({counts['checks_failed']} failed)"),
        ("retries / escalations", f"{counts['retries']} / {counts['escalations']}"),
        ("flagged", f"{counts['flags']}"),
        (
            "model calls",
            f"{counts['model_calls']} (by backend: "
            + (", ".join(f"{k} {v}" for k, v in counts["model_calls_by_backend"].items()) or "none")
            + f"; cache hits {counts['cache_hits']}; errors {counts['model_errors']}; "
            f"parse errors {counts['parse_errors']})",
        ),
        ("tool calls", f"{counts['tool_calls']} ({counts['tool_errors']} errors)"),
        ("failed checks by name", ", ".join(
            f"{k} {v}" for k, v in sorted(counts["checks_failed_by_name"].items())) or "none"),
        ("events", f"{counts['events']} ({counts['first_ts']} → {counts['last_ts']})"),
    ]  # fmt: skip
    nodes = sorted({it.node for it in items})
    checks = sorted({c for it in items for c in it.checks})
    kinds = sorted({str(e.get("kind")) for it in items for e in it.events})

    def options(values: Sequence[str], blank: str) -> str:
        return f"<option value=''>{blank}</option>" + "".join(
            f"<option value='{_esc(v)}'>{_esc(v)}</option>" for v in values
        )

    outcome = (
        "<option value=''>all items</option><option value='failed'>failed check or flag</option>"
        "<option value='passed'>no failed check</option>"
        "<option value='retried'>retried</option><option value='escalated'>escalated</option>"
        "<option value='flagged'>flagged</option>"
    )
    kind_boxes = "".join(
        f"<label><input type='checkbox' class='kind' value='{_esc(k)}' checked> {_esc(k)}</label>"
        for k in kinds
    )
    images = _Images(run_root, max_image_bytes)
    run_events = "".join(_event_html(e, images) for e in header)
    body_items = "".join(_item_html(it, images) for it in items) or "<p>No items in this trace.</p>"
    if images.skipped:
        rows.append(
            ("images", f"{len(images.skipped)} not embedded (over {max_image_bytes:,} bytes)")
        )
    summary = "".join(f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in rows)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>trace {_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Reasoning trace · {_esc(title)}</h1><div class='sub'>{sub}</div></header>"
        f"<main><table class='sum'>{summary}</table>"
        f"<details class='fold'><summary>run events ({len(header)})</summary>{run_events}</details>"
        "<div class='bar'><input type='search' id='q' placeholder='search items and events'>"
        f"<select id='node'>{options(nodes, 'all nodes')}</select>"
        f"<select id='check'>{options(checks, 'any check')}</select>"
        f"<select id='outcome'>{outcome}</select>"
        "<button id='open' type='button'>expand shown</button>"
        "<button id='close' type='button'>collapse all</button>"
        f"<span class='kinds'>{kind_boxes}</span><span id='count'></span></div>"
        f"<section id='items'>{body_items}</section></main>"
        f"{images.script()}<script>{_JS}</script></body></html>\n"
    )

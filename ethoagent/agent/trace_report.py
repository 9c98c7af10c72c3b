"""A run's trace read back for people.

``summarize_trace`` counts per kind, route and stage; ``render_trace`` draws the terminal
tree of ``ethoagent trace show``.

The trace itself is written by ``agent.trace.Tracer``; the HTML page is ``agent.trace_html``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

__all__ = ["render_trace", "summarize_trace"]


# --------------------------------------------------------------------------- summary


def _is_retry(action: str) -> bool:
    return action.lower().startswith("retry")


def _is_escalation(action: str) -> bool:
    return action.lower().startswith("escalat")


def summarize_trace(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts over a trace, for reports.

    Tokens are counted for calls that reached a model (``tokens``) and separately for answers
    served from the cache (``tokens_cached``).

    Args:
        events: trace events (``Tracer.events`` or ``read_trace``).

    Returns:
        A JSON-able dict: ``events``, ``run_ids``, ``model_calls``, ``model_calls_by_backend``,
        ``model_calls_by_prompt``, ``model_errors``, ``parse_errors``, ``cache_hits``,
        ``tokens`` / ``tokens_cached`` (``prompt``, ``completion``, ``total``), ``model_latency_s``,
        ``tool_calls``, ``tool_calls_by_name``, ``tool_errors``, ``checks``,
        ``checks_passed``, ``checks_failed``, ``checks_failed_by_name``, ``decisions``,
        ``decisions_by``, ``retries``, ``escalations``, ``flags``, ``flagged_items``,
        ``items``, ``errors``, ``first_ts``, ``last_ts``.
    """
    n_events = 0
    run_ids: list[str] = []
    by_backend: Counter[str] = Counter()
    by_prompt: Counter[str] = Counter()
    tools_by_name: Counter[str] = Counter()
    failed_by_name: Counter[str] = Counter()
    decided_by: Counter[str] = Counter()
    c: Counter[str] = Counter()
    tokens = {"prompt": 0, "completion": 0}
    cached = {"prompt": 0, "completion": 0}
    latency = 0.0
    items: set[str] = set()
    flagged: set[str] = set()
    first_ts: str | None = None
    last_ts: str | None = None
    for ev in events:
        n_events += 1
        kind = ev.get("kind")
        rid = ev.get("run_id")
        if isinstance(rid, str) and rid not in run_ids:
            run_ids.append(rid)
        ts = ev.get("ts")
        if isinstance(ts, str):
            first_ts = ts if first_ts is None or ts < first_ts else first_ts
            last_ts = ts if last_ts is None or ts > last_ts else last_ts
        item = ev.get("item")
        if item is not None:
            items.add(str(item))
        if kind == "model_call":
            c["model_calls"] += 1
            by_backend[str(ev.get("backend"))] += 1
            prompt = ev.get("prompt")
            if isinstance(prompt, Mapping):
                by_prompt[f"{prompt.get('name')}.v{prompt.get('version')}"] += 1
            if ev.get("error"):
                c["model_errors"] += 1
            if ev.get("parse_error"):
                c["parse_errors"] += 1
            usage = ev.get("usage") or {}
            target = cached if ev.get("cache_hit") else tokens
            if ev.get("cache_hit"):
                c["cache_hits"] += 1
            else:
                lat = ev.get("latency_s")
                latency += float(lat) if isinstance(lat, int | float) else 0.0
            target["prompt"] += int(usage.get("prompt_tokens") or 0)
            target["completion"] += int(usage.get("completion_tokens") or 0)
        elif kind == "tool_call":
            c["tool_calls"] += 1
            tools_by_name[str(ev.get("name"))] += 1
            if ev.get("error"):
                c["tool_errors"] += 1
        elif kind == "check":
            c["checks"] += 1
            if ev.get("passed"):
                c["checks_passed"] += 1
            else:
                c["checks_failed"] += 1
                failed_by_name[str(ev.get("name"))] += 1
        elif kind == "decision":
            c["decisions"] += 1
            decided_by[str(ev.get("decided_by"))] += 1
            action = str(ev.get("action") or "")
            if _is_retry(action):
                c["retries"] += 1
            if _is_escalation(action):
                c["escalations"] += 1
        elif kind == "flag":
            c["flags"] += 1
            if item is not None:
                flagged.add(str(item))
        elif kind == "error":
            c["errors"] += 1
    keys = (
        "model_calls",
        "model_errors",
        "parse_errors",
        "cache_hits",
        "tool_calls",
        "tool_errors",
        "checks",
        "checks_passed",
        "checks_failed",
        "decisions",
        "retries",
        "escalations",
        "flags",
        "errors",
    )
    out: dict[str, Any] = {k: c[k] for k in keys}
    out.update(
        events=n_events,
        run_ids=run_ids,
        model_calls_by_backend=dict(by_backend),
        model_calls_by_prompt=dict(by_prompt),
        tokens={**tokens, "total": tokens["prompt"] + tokens["completion"]},
        tokens_cached={**cached, "total": cached["prompt"] + cached["completion"]},
        model_latency_s=round(latency, 6),
        tool_calls_by_name=dict(tools_by_name),
        checks_failed_by_name=dict(failed_by_name),
        decisions_by=dict(decided_by),
        items=len(items),
        flagged_items=sorted(flagged),
        first_ts=first_ts,
        last_ts=last_ts,
    )
    return out


# --------------------------------------------------------------------------- rendering


def _short(value: Any, limit: int = 120) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _num(x: Any) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return "—" if x is None else str(x)
    return f"{x:.4g}"


def _line_model_call(ev: Mapping[str, Any]) -> str:
    prompt = ev.get("prompt") or {}
    usage = ev.get("usage") or {}
    parts = [
        f"[cyan]model[/] {escape(str(ev.get('role', '')))} "
        f"{escape(str(ev.get('model', '')))} via {escape(str(ev.get('backend', '')))}",
        f"prompt {escape(str(prompt.get('name')))}.v{prompt.get('version')}",
    ]
    if ev.get("cache_hit"):
        parts.append("[green]cache hit[/]")
    parts.append(f"{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tok")
    lat = ev.get("latency_s")
    if isinstance(lat, int | float):
        parts.append(f"{lat:.2f}s")
    line = " · ".join(parts)
    if ev.get("error"):
        return line + f" [red]error: {escape(_short(ev['error']))}[/]"
    if ev.get("parsed") is not None:
        line += f" → {escape(_short(ev['parsed']))}"
    elif ev.get("tool_calls"):
        names = ", ".join(str(tc.get("name")) for tc in ev["tool_calls"])
        line += f" → tool calls: {escape(names)}"
    elif ev.get("text"):
        line += f" → {escape(_short(ev['text']))}"
    if ev.get("parse_error"):
        line += f" [yellow]parse error: {escape(_short(ev['parse_error']))}[/]"
    return line


def _line_tool_call(ev: Mapping[str, Any]) -> str:
    args = ev.get("args") or {}
    arg_text = ", ".join(f"{k}={_short(v, 40)}" for k, v in args.items())
    line = f"[magenta]tool[/] {escape(str(ev.get('name')))}({escape(_short(arg_text, 100))})"
    dur = ev.get("duration_s")
    if ev.get("error"):
        line += f" [red]error: {escape(_short(ev['error']))}[/]"
    else:
        line += f" → {escape(_short(ev.get('result'), 80))}"
    if isinstance(dur, int | float):
        line += f" · {dur:.3f}s"
    return line


def _line_check(ev: Mapping[str, Any]) -> str:
    passed = bool(ev.get("passed"))
    mark = "[green]✓[/]" if passed else "[red]✗[/]"
    line = f"{mark} check {escape(str(ev.get('name')))}"
    if ev.get("value") is not None or ev.get("threshold") is not None:
        line += f" value {_num(ev.get('value'))} vs threshold {_num(ev.get('threshold'))}"
    if ev.get("message"):
        msg = escape(_short(ev["message"], 200))
        line += f" — {msg}" if passed else f" — [red]{msg}[/]"
    return line


def _line_decision(ev: Mapping[str, Any]) -> str:
    who = str(ev.get("decided_by", ""))
    style = "blue" if who.lower() == "policy" else "yellow"
    action = str(ev.get("action", ""))
    line = (
        f"[bold]decision[/] by [{style}]{escape(who)}[/]: [bold]{escape(action)}[/]"
        f" — {escape(_short(ev.get('reason'), 200))}"
    )
    if ev.get("strategy"):
        line += f" · strategy {escape(str(ev['strategy']))}"
    if ev.get("instruction"):
        line += f" · instruction: {escape(_short(ev['instruction'], 160))}"
    return line


_SKIP_FIELDS = {"ts", "seq", "run_id", "kind", "graph", "node", "item", "attempt"}


def _line_generic(ev: Mapping[str, Any]) -> str:
    kind = str(ev.get("kind", ""))
    rest = ", ".join(f"{k}={_short(v, 60)}" for k, v in sorted(ev.items()) if k not in _SKIP_FIELDS)
    if kind == "flag":
        return f"[bold white on red] ⚑ FLAG [/] [red]{escape(_short(rest, 240))}[/]"
    style = "red" if kind == "error" else "bold"
    return f"[{style}]{escape(kind)}[/] {escape(_short(rest, 200))}"


def _line(ev: Mapping[str, Any]) -> str:
    kind = ev.get("kind")
    if kind == "model_call":
        return _line_model_call(ev)
    if kind == "tool_call":
        return _line_tool_call(ev)
    if kind == "check":
        return _line_check(ev)
    if kind == "decision":
        return _line_decision(ev)
    return _line_generic(ev)


def _group_failed(evs: Sequence[Mapping[str, Any]]) -> bool:
    return any(
        (e.get("kind") == "check" and not e.get("passed")) or e.get("kind") == "flag" for e in evs
    )


def render_trace(
    events: Iterable[Mapping[str, Any]],
    console: Console,
    *,
    item: str | None = None,
    node: str | None = None,
    kind: str | None = None,
    failed_only: bool = False,
    check: str | None = None,
) -> None:
    """Print a trace as rich trees: a header, then one tree per (node, item).

    Under each (node, item) come its attempts, each with its model calls, tool calls, checks
    (✓/✗ with value vs threshold), decisions and flags, in order. Events without an item
    (``run_start``, ``run_end``, ...) go in the header.

    Args:
        events: trace events in order.
        console: where to print.
        item: show only this item.
        node: show only this node.
        kind: show only events of this kind.
        failed_only: show only items that had a failed check or a flag.
        check: show only items on which this check ran (with ``failed_only``: failed).
    """
    header: list[Mapping[str, Any]] = []
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    run_ids: list[str] = []
    for ev in events:
        rid = ev.get("run_id")
        if isinstance(rid, str) and rid not in run_ids:
            run_ids.append(rid)
        if ev.get("item") is None:
            header.append(ev)
        else:
            key = (str(ev.get("node", "")), str(ev["item"]))
            groups.setdefault(key, []).append(ev)

    shown = False
    head_evs = [
        e
        for e in header
        if (kind is None or e.get("kind") == kind)
        and (node is None or e.get("node") in (None, node))
    ]
    if head_evs:
        title = ", ".join(escape(r) for r in run_ids) or "trace"
        head = Tree(f"[bold]run {title}[/]")
        for e in head_evs:
            prefix = f"[dim]{escape(str(e['node']))}[/] " if e.get("node") else ""
            head.add(prefix + _line(e))
        console.print(head)
        shown = True

    for (g_node, g_item), evs in groups.items():
        if item is not None and g_item != item:
            continue
        if node is not None and g_node != node:
            continue
        failed = _group_failed(evs)
        if failed_only and not failed:
            continue
        if check is not None and not any(
            e.get("kind") == "check"
            and e.get("name") == check
            and not (failed_only and e.get("passed"))
            for e in evs
        ):
            continue
        visible = [e for e in evs if kind is None or e.get("kind") == kind]
        if not visible:
            continue
        status = "[red]✗[/]" if failed else "[green]✓[/]"
        label = f"{status} [bold]{escape(g_node) or '—'}[/] › {escape(g_item)}"
        tree = Tree(label)
        attempts: dict[str, Tree] = {}
        for e in visible:
            attempt = e.get("attempt")
            parent = tree
            if attempt is not None:
                label_a = str(attempt)
                if label_a not in attempts:
                    attempts[label_a] = tree.add(f"[bold]attempt {escape(label_a)}[/]")
                parent = attempts[label_a]
            parent.add(_line(e))
        console.print(tree)
        shown = True
    if not shown:
        console.print("[dim]no matching events[/]")

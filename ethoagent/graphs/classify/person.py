"""The classify graph's pause for a person (``--ask-person``): flagged windows to review.

After the last ``classify`` chunk, the windows still flagged (every retry and escalation
failed) go to a person through ``graphs.kit.nodes.ask_person``: the graph pauses with
LangGraph's ``interrupt`` (the run ends ``waiting``; ``ethoagent review RUN`` shows the
windows in its classify queue) and, once resumed with the person's answers, each relabelled
window takes the person's label on all its frames (``source = reviewed``) and each
accepted one keeps the run's answer (``source = person_accepted``); then ``smooth`` runs.
The classified chunks are not run again.
"""

from __future__ import annotations

import json
from typing import Any

from ethoagent.atomic import atomic_write_bytes
from ethoagent.graphs.classify.inputs import ClassifyState
from ethoagent.graphs.classify.nodes import ClassifyGraphEnv
from ethoagent.graphs.kit.nodes import ask_person as pause_for_person


def window_item_id(animal: int, start: int, stop: int) -> str:
    """The review item id of a classify window (as ``review.queues.classify_item_id``)."""
    return f"classify:window:{animal}:{start}:{stop}"


def ask_person(state: ClassifyState, env: ClassifyGraphEnv) -> dict[str, Any]:
    """Pause for a person on the flagged windows; apply the answers once resumed.

    Returns:
        The state's ``flagged`` (the windows still flagged), ``routes`` (``flagged`` moved
        to ``reviewed`` / ``person_accepted``) and ``person_answers`` (windows answered).
    """
    run, classes, animals = env.run, env.inputs.classes, env.inputs.animals
    paths = [run.artifacts_dir / f"windows_{i:04d}.json" for i in range(state["n_chunks"])]
    chunks: list[list[dict[str, Any]]] = [json.loads(p.read_text()) for p in paths]
    items = [
        {
            "item": window_item_id(r["animal"], r["start"], r["stop"]),
            "kind": "classify",
            "animal": animals[r["animal"]],
            "animal_index": r["animal"],
            "start": r["start"],
            "stop": r["stop"],
            "before": classes[max(range(len(classes)), key=lambda j: r["probabilities"][j])],
            "probabilities": dict(zip(classes, r["probabilities"], strict=True)),
            "reason": r["reason"],
            "attempts": r["attempts"],
        }
        for recs in chunks
        for r in recs
        if r["status"] == "flagged"
    ]
    if not items:
        return {}
    answers = pause_for_person(env.runtime.tracer, "classify", items)
    routes = dict(state.get("routes", {}))
    answered = 0
    for path, recs in zip(paths, chunks, strict=True):
        touched = False
        for r in recs:
            ans = answers.get(window_item_id(r["animal"], r["start"], r["stop"]))
            if ans is None or r["status"] != "flagged":
                continue
            label = ans.get("after")
            if ans.get("action") == "relabel" and label in classes:
                r["probabilities"] = [1.0 if c == label else 0.0 for c in classes]
                r["source"], r["reason"] = "reviewed", f"labelled {label} by a person"
            else:
                r["source"] = "person_accepted"
            r["status"] = "accepted"
            routes["flagged"] = routes.get("flagged", 0) - 1
            routes[r["source"]] = routes.get(r["source"], 0) + 1
            answered += 1
            touched = True
        if touched:
            atomic_write_bytes(path, json.dumps(recs).encode())
    still = {window_item_id(i["animal_index"], i["start"], i["stop"]) for i in items} - set(answers)
    flagged = [
        f"window {i['animal']} {i['start']}-{i['stop']}" for i in items if i["item"] in still
    ]
    routes = {k: v for k, v in routes.items() if v > 0}
    return {"flagged": flagged, "routes": routes, "person_answers": answered}


__all__ = ["ask_person", "window_item_id"]

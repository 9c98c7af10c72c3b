"""The review web app (FastAPI): queues, evidence, actions, undo and re-run for some runs.

Every route names a run by its id among the runs the app was started with; nothing else on
disk can be reached (``/api/{run}/files/{path}`` refuses a path that leaves the run). The
page and its script are one inline HTML document (``review.page``): no external assets, it
works offline. Actions append to the run's corrections file (``review.store``); a re-run
(``review.rerun``) creates a new run beside the reviewed one, which the app then serves too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from ethoagent.config import Settings
from ethoagent.errors import EthoagentError, InputError
from ethoagent.review.evidence import (
    crop_box,
    video_size,
    view_candidates,
    view_png,
    window_png,
)
from ethoagent.review.page import PAGE
from ethoagent.review.profile import current_names, profile_item, profile_queue
from ethoagent.review.queues import (
    classify_queue,
    open_run,
    parse_item,
    pose_item,
    pose_queue,
    read_pose_run,
)
from ethoagent.review.rerun import rerun, resume_waiting, review_counts
from ethoagent.review.segment import (
    current_epochs,
    edits_of,
    epoch_png,
    segment_item,
    segment_queue,
)
from ethoagent.review.store import Action, Correction, CorrectionStore, Kind
from ethoagent.runs import Run
from ethoagent.tools.epoch_edits import apply_epoch_edits


class ActionRequest(BaseModel):
    """One action posted by the page."""

    model_config = ConfigDict(extra="forbid")

    item: str
    kind: Kind
    action: Action
    before: Any = None
    after: Any = None


class ReviewState:
    """The runs an app serves, by run id (a re-run is added when it finishes)."""

    def __init__(self, runs: list[Run], settings: Settings) -> None:
        """Serve ``runs``; a re-run uses ``settings``."""
        self.runs = {r.info().run_id: r for r in runs}
        self.settings = settings

    def run(self, run_id: str) -> Run:
        """The served run ``run_id``; 404 for any other."""
        run = self.runs.get(run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id!r} is being reviewed here")
        return run


def make_app(runs: list[Path], settings: Settings) -> FastAPI:
    """The review app for ``runs`` (finished pose, classify, segment or profile runs).

    A change (POST) must come as JSON from a page of the app itself: a form or a script on
    another site the user visits cannot post one (a JSON body needs a CORS preflight this
    app never grants, and an ``Origin`` other than the app's is refused with 403).

    Raises:
        InputError: a path that is not a finished pose, classify, segment or profile run.
    """
    state = ReviewState([open_run(p) for p in runs], settings)
    app = FastAPI(title="ethoagent review", docs_url=None, redoc_url=None, openapi_url=None)

    app.middleware("http")(_same_origin)

    @app.exception_handler(EthoagentError)
    async def _user_error(_request: Any, exc: EthoagentError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/api/runs")
    def runs_list() -> list[dict[str, Any]]:
        return [_run_card(r) for r in state.runs.values()]

    @app.get("/api/{run_id}/queue")
    def queue(run_id: str) -> dict[str, Any]:
        run = state.run(run_id)
        active = CorrectionStore(run.root).active()
        graph = run.info().graph
        queues = {
            "pose": pose_queue,
            "classify": classify_queue,
            "segment": segment_queue,
            "profile": profile_queue,
        }
        items = queues[graph](run)
        for it in items:
            it["reviewed"] = _reviewed(it["item"], active)
        return {"graph": graph, "items": items, "waiting": run.info().status == "waiting"}

    _add_evidence_routes(app, state)

    @app.get("/api/{run_id}/files/{path:path}")
    def files(run_id: str, path: str) -> FileResponse:
        return FileResponse(_inside(state.run(run_id).root, path))

    @app.get("/api/{run_id}/corrections")
    def corrections(run_id: str) -> list[dict[str, Any]]:
        return [c.model_dump() for c in CorrectionStore(state.run(run_id).root).read()]

    @app.post("/api/{run_id}/action")
    def act(run_id: str, req: ActionRequest) -> dict[str, Any]:
        run = state.run(run_id)
        if req.action != "accept" and parse_item(req.item)["kind"] != req.kind:
            raise InputError(f"{req.item} is not a {req.kind} item.", fix="post its own kind.")
        store = CorrectionStore(run.root)
        if req.kind == "segment" and req.action != "accept":
            _check_epoch_edit(run, req)
        if req.kind == "profile" and req.action != "accept":
            current_names(run, pending=[_draft(req)])  # refused (400) before it is stored
        rec = store.append(req.item, req.kind, req.action, req.before, req.after)
        return rec.model_dump()

    @app.post("/api/{run_id}/undo")
    def undo(run_id: str) -> dict[str, Any]:
        rec = CorrectionStore(state.run(run_id).root).undo()
        return {"undone": rec.model_dump() if rec else None}

    _add_rerun_route(app, state)
    return app


def _add_rerun_route(app: FastAPI, state: ReviewState) -> None:
    """The re-run route: a new run with the corrections, or a waiting run resumed."""

    @app.post("/api/{run_id}/rerun")
    async def rerun_route(run_id: str) -> dict[str, Any]:
        run = state.run(run_id)
        if run.info().status == "waiting":  # paused for a person: resume it in place
            result = await run_in_threadpool(resume_waiting, run, state.settings)
            return {"run": run_id, "path": str(run.root), "summary": result.summary,
                    "waiting": result.unanswered}  # fmt: skip
        result = await run_in_threadpool(rerun, run, state.settings)
        new_id = result.run.info().run_id
        state.runs[new_id] = result.run
        return {"run": new_id, "path": str(result.run.root), "summary": result.summary}


def _add_evidence_routes(app: FastAPI, state: ReviewState) -> None:
    """The routes of an item's evidence: a pose frame, a view's crop, a window's sheet."""

    @app.get("/api/{run_id}/pose/{frame}")
    def pose_frame(run_id: str, frame: int) -> dict[str, Any]:
        run = state.run(run_id)
        out = pose_item(run, frame)
        out["boxes"] = [
            crop_box(np.asarray(_nan(pts), dtype=np.float64), video_size(video))
            for pts, video in zip(out["points"], read_pose_run(run).videos, strict=True)
        ]
        if run.info().inputs.get("candidates") is None:  # marks, not pose-model peaks
            videos = read_pose_run(run).videos
            out["candidates"] = [
                view_candidates(video, frame, box)
                for video, box in zip(videos, out["boxes"], strict=True)
            ]
        active = CorrectionStore(run.root).active()
        out["corrections"] = {
            k: v.model_dump() for k, v in active.items() if k.startswith(f"pose:frame:{frame}:")
        }
        return out

    @app.get("/api/{run_id}/pose/{frame}/{view}.png")
    def pose_view(run_id: str, frame: int, view: str) -> Response:
        run = state.run(run_id)
        pr = read_pose_run(run)
        if view not in pr.views or not 0 <= frame < pr.points_2d.shape[0]:
            raise HTTPException(404, f"no view {view!r} / frame {frame} in run {run_id}")
        v = pr.views.index(view)
        box = crop_box(pr.points_2d[frame, v], video_size(pr.videos[v]))
        return Response(view_png(pr.videos[v], frame, box), media_type="image/png")

    @app.get("/api/{run_id}/entry/{cluster}")
    def entry(run_id: str, cluster: int) -> dict[str, Any]:
        return profile_item(state.run(run_id), cluster)

    @app.get("/api/{run_id}/epoch/{animal}/{start}/{stop}.png")
    def epoch_sheet(run_id: str, animal: int, start: int, stop: int) -> Response:
        png = epoch_png(state.run(run_id), animal, start, stop)
        return Response(png, media_type="image/png")

    @app.get("/api/{run_id}/epoch/{animal}/{start}/{stop}")
    def epoch(run_id: str, animal: int, start: int, stop: int) -> dict[str, Any]:
        return segment_item(state.run(run_id), animal, start, stop)

    @app.get("/api/{run_id}/window/{animal}/{start}/{stop}.png")
    def window(run_id: str, animal: int, start: int, stop: int) -> Response:
        png = window_png(state.run(run_id), animal, start, stop)
        return Response(png, media_type="image/png")


def _check_epoch_edit(run: Run, req: ActionRequest) -> None:
    """Refuse an epoch edit the ethogram cannot take, before it is stored (400)."""
    if parse_item(req.item)["kind"] != "segment":
        raise InputError(f"{req.item} is not a segment epoch.", fix="post a segment:epoch item.")
    edits = edits_of(run, [_draft(req)])
    apply_epoch_edits(current_epochs(run), edits, int(run.info().inputs["frames"]))


def _draft(req: ActionRequest) -> Correction:
    """``req`` as a correction record, to check it before it is stored."""
    return Correction(id="new", time="", **req.model_dump())


async def _same_origin(request: Request, call_next: Any) -> Any:
    """Refuse a change (not GET) that is not JSON or comes from another site's page."""
    if request.method != "GET":
        origin = request.headers.get("origin")
        host = request.headers.get("host", "")
        if origin is not None and origin.split("://", 1)[-1] != host:
            return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return JSONResponse({"detail": "send JSON (application/json)"}, status_code=415)
    return await call_next(request)


def _run_card(run: Run) -> dict[str, Any]:
    info = run.info()
    counts = review_counts(CorrectionStore(run.root).active())
    return {"run": info.run_id, "graph": info.graph, "status": info.status, **counts}


def _reviewed(item: str, active: dict[str, Any]) -> str | None:
    """The latest standing action on ``item`` or any of its sub-items (a frame's points)."""
    hits = [v for k, v in active.items() if k == item or k.startswith(item + ":")]
    return hits[-1].action if hits else None


def _nan(points: list[list[float] | None]) -> list[list[float]]:
    return [p if p is not None else [float("nan")] * 2 for p in points]


def _inside(root: Path, rel: str) -> Path:
    """``root / rel`` if it is a file inside ``root``; 403 if it leaves it, 404 if absent."""
    base = root.resolve()
    target = (base / rel).resolve()
    if not target.is_relative_to(base):
        raise HTTPException(403, "path outside the run")
    if not target.is_file():
        raise HTTPException(404, f"no file {rel!r} in the run")
    return target


__all__ = ["ActionRequest", "ReviewState", "make_app"]

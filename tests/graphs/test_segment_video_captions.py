"""Captions from video: a clip for a vlm declared with ``video_input``, the contact sheet
otherwise, and the offline captioner reading pixel motion where keypoints do not track the
animal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ethoagent.agent.trace import read_trace
from ethoagent.agent.types import Request
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.segment.graph import GRAPH_NAME, run_segment
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentSources, resolve_segment
from ethoagent.graphs.segment.item_stages import (
    CAPTION_PROMPT,
    CAPTION_VIDEO_PROMPT,
    MERGE_PROMPT,
    offline_caption,
    offline_merge,
)
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.synthetic import KEYPOINTS, World, simulate_world
from tests.scripted import ScriptedClient

FPS = 30.0
FAST = {"dec_pretrain_epochs": 3, "dec_cluster_iters": 300}


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world(300, animals=1, fps=FPS, seed=2)


def _session(tmp: Path, points: np.ndarray[Any, Any]) -> tuple[Path, Path]:
    """Keypoints (px) and a 320x240 video of white dots at them, 30 fps."""
    data = PoseData(
        points=points,
        confidence=np.full(points.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0",),
        fps=FPS,
        unit="px",
    )
    nc = write_keypoints(data, tmp / "s.nc", format="netcdf")
    video = tmp / "s.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (320, 240))
    for frame in points:
        img = np.zeros((240, 320, 3), dtype=np.uint8)
        for x, y in frame[0]:
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(img, (round(x), round(y)), 3, (255, 255, 255), -1)
        writer.write(img)
    writer.release()
    return nc, video


def _run(tmp: Path, inputs: SegmentInputs, client: ScriptedClient, *, video_input: bool) -> Any:
    rt = offline_runtime(tmp, GRAPH_NAME, "run", inputs.model_dump(), client)
    rt.settings.models["vlm"].capabilities.video_input = video_input
    asyncio.run(run_segment(rt, inputs))
    return rt.run


def _scripts() -> dict[str, Any]:
    def caption(r: Request) -> str:
        return offline_caption(r).model_dump_json()

    return {
        CAPTION_PROMPT: caption,
        CAPTION_VIDEO_PROMPT: caption,
        MERGE_PROMPT: lambda r: offline_merge(r).model_dump_json(),
    }


def test_a_video_capable_vlm_gets_each_snippet_as_a_clip(world: World, tmp_path: Path) -> None:
    pts = world.points_3d[:180, :, :, :2] * 0.5 + np.array([160.0, 120.0])
    nc, video = _session(tmp_path, pts)
    opts = SegmentOptions(**FAST, check_stability=False, model_every_snippet=True, k=4)
    inputs = resolve_segment(SegmentSources(keypoints=nc, video=video), opts)
    client = ScriptedClient(_scripts())
    run = _run(tmp_path / "runs", inputs, client, video_input=True)
    calls = client.calls(CAPTION_VIDEO_PROMPT)
    assert calls and not client.calls(CAPTION_PROMPT)
    for r in calls:
        msg = r.messages[0]
        assert not msg.images and len(msg.clips) == 1
        clip = msg.clips[0]
        stop, start = r.payload["stop"], r.payload["start"]
        seconds = (stop - start) / FPS
        assert clip.fps <= 10.0 + 1e-9
        assert len(clip.frames) == min(32, max(1, int(np.floor(seconds * 10 + 1e-9))))
        frames = clip.to_arrays()
        assert frames[0].shape == (240, 320, 3)
        assert f"{len(clip.frames)} video frames" in msg.content
        assert clip.data_url().startswith("data:video/jpeg;base64,")
        assert clip.data_url().count(",") == len(clip.frames)
    forms = [e for e in read_trace(run.trace_path) if e["kind"] == "caption_form"]
    assert forms and all(e["form"] == "video" for e in forms)
    models = [e for e in read_trace(run.trace_path) if e["kind"] == "model_call"]
    assert any(m["messages"][0].get("clips") for m in models)


def test_without_video_input_the_vlm_gets_the_contact_sheet(world: World, tmp_path: Path) -> None:
    pts = world.points_3d[:150, :, :, :2] * 0.5 + np.array([160.0, 120.0])
    nc, video = _session(tmp_path, pts)
    opts = SegmentOptions(**FAST, check_stability=False, model_every_snippet=True, k=3)
    inputs = resolve_segment(SegmentSources(keypoints=nc, video=video), opts)
    client = ScriptedClient(_scripts())
    _run(tmp_path / "runs", inputs, client, video_input=False)
    calls = client.calls(CAPTION_PROMPT)
    assert calls and not client.calls(CAPTION_VIDEO_PROMPT)
    assert all(len(r.messages[0].images) == 1 and not r.messages[0].clips for r in calls)


def test_untracked_snippets_are_captioned_from_pixel_motion(world: World, tmp_path: Path) -> None:
    pts = world.points_3d[:, :, :, :2] * 0.5 + np.array([160.0, 120.0])
    nc, video = _session(tmp_path, pts)
    # the keypoints file loses the animal after the first frames; the video still shows it
    lost = pts.copy()
    lost[30:] = np.nan
    data = PoseData(
        points=lost,
        confidence=np.full(lost.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0",),
        fps=FPS,
        unit="px",
    )
    write_keypoints(data, nc, format="netcdf")
    opts = SegmentOptions(**FAST, check_stability=False, k=3)
    inputs = resolve_segment(SegmentSources(keypoints=nc, video=video), opts)
    client = ScriptedClient(_scripts(), backend="offline")
    _run(tmp_path / "runs", inputs, client, video_input=False)
    calls = client.calls(CAPTION_PROMPT)
    visual = [r for r in calls if r.payload.get("visual")]
    assert visual, "untracked snippets should carry their pixel motion"
    labels = {offline_caption(r).label for r in visual}
    assert labels - {"untracked"}, "pixel motion should name a behaviour"
    assert "From the pixels" in visual[0].messages[0].content


def test_with_several_animals_untracked_snippets_are_not_read_from_whole_frames(
    tmp_path: Path,
) -> None:
    pair = simulate_world(300, animals=2, fps=FPS, seed=2)
    pts = pair.points_3d[:, :, :, :2] * 0.5 + np.array([160.0, 120.0])
    _, video = _session(tmp_path, pts[:, :1])
    lost = pts.copy()
    lost[30:, 1] = np.nan  # the second animal is lost; the frames' motion is the first's
    data = PoseData(
        points=lost,
        confidence=np.full(lost.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0", "mouse_1"),
        fps=FPS,
        unit="px",
    )
    nc = write_keypoints(data, tmp_path / "pair.nc", format="netcdf")
    opts = SegmentOptions(**FAST, check_stability=False, k=3)
    inputs = resolve_segment(SegmentSources(keypoints=nc, video=video), opts)
    client = ScriptedClient(_scripts(), backend="offline")
    _run(tmp_path / "runs", inputs, client, video_input=False)
    calls = client.calls(CAPTION_PROMPT)
    lost_calls = [r for r in calls if r.payload["animal"] == "mouse_1"]
    assert lost_calls and not any(r.payload.get("visual") for r in calls)
    assert {offline_caption(r).label for r in lost_calls if r.payload["start"] >= 30} == {
        "untracked"
    }

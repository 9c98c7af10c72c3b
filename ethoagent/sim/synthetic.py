"""Synthetic mouse keypoints with exact ground truth (the kinematic core of the simulator).

Articulated mice (head, body, tail chain) move through a circular arena, driven by a
semi-Markov behaviour program (``ethoagent.sim.behaviour``: still/freezing, walking,
darting, turning, rearing, grooming and, for 2–3 animals, approach, chase, huddle,
nose-to-nose and nose-to-anogenital contact). Their 12 quantum-dot-style keypoints, in 4
regions, are returned in millimetres in the arena frame (z up, floor at z = 0), and two
body ellipsoids per mouse (``body_ellipsoids``) are the occluders used by the renderer
(``ethoagent.sim.render``) to decide which marks each camera sees. ``observe`` projects
them into calibrated cameras and corrupts the 2D observations the way real labelling goes
wrong: pixel noise, missing marks and left/right swaps, with the corruption returned as
ground truth too.

Everything is seeded: the same arguments give the same arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import MOUSE12
from ethoagent.sim.behaviour import (
    CODE,
    BehaviourProgram,
    Bout,
    bouts_from_labels,
    simulate_behaviour,
)
from ethoagent.tools.cameras import project_points

SKELETON = MOUSE12
"""The simulated mouse: the named skeleton ``mouse12`` of ``ethoagent.model.skeleton``."""
KEYPOINTS: tuple[str, ...] = SKELETON.keypoints
REGIONS: dict[str, tuple[str, ...]] = SKELETON.regions
_IDX = {name: i for i, name in enumerate(KEYPOINTS)}
REGION_OF: tuple[int, ...] = SKELETON.region_of
"""Per keypoint, the index of its region in ``REGIONS``."""
SWAP_PAIRS: tuple[tuple[int, int], ...] = SKELETON.left_right_index
"""Left/right keypoint pairs (indices into ``KEYPOINTS``) that labellers confuse."""
BONES: tuple[tuple[int, int], ...] = SKELETON.bone_index
"""Skeleton edges used for bone-length consistency checks."""

# Body-frame template (mm): x forward, y left, z up.
_TEMPLATE = np.array(
    [
        [38.0, 9.0, 28.0],  # ear_left
        [38.0, -9.0, 28.0],  # ear_right
        [22.0, 0.0, 32.0],  # back_front
        [0.0, 0.0, 34.0],  # back_mid
        [-22.0, 0.0, 30.0],  # back_rear
        [24.0, 13.0, 2.0],  # forepaw_left
        [24.0, -13.0, 2.0],  # forepaw_right
        [-20.0, 16.0, 2.0],  # hindpaw_left
        [-20.0, -16.0, 2.0],  # hindpaw_right
        [-38.0, 0.0, 20.0],  # tail_base
        [-68.0, 0.0, 10.0],  # tail_mid
        [-98.0, 0.0, 4.0],  # tail_tip
    ]
)


# Body ellipsoids in the body frame (mm): centre, semi-axes. Every template mark lies
# outside them, so a mark is hidden only when another part of a body is in the way.
ELLIPSOIDS: tuple[str, ...] = ("body", "head")
"""Names of the occluding body ellipsoids, in the order of ``body_ellipsoids``."""
_ELL_CENTRE = np.array([[0.0, 0.0, 19.0], [40.0, 0.0, 20.0]])
_ELL_AXES = np.array([[30.0, 14.0, 14.0], [14.0, 9.0, 9.0]])
_NOSE_X_MM = 52.0  # tip of the head ellipsoid, body frame
# rearing pitches the front about the hips, just under the back_rear mark, so the lower
# back (back_rear -> tail_base) keeps its length as in a real mouse
_REAR_PIVOT = np.array([-22.0, 0.0, 28.0])
_REAR_PITCH = np.deg2rad(55.0)
_GROOM_HZ = 5.0
_BODY_LENGTH_MM = 2 * _NOSE_X_MM - 2.0
_RIGID = np.array([i not in (_IDX["hindpaw_left"], _IDX["hindpaw_right"]) for i in range(12)])
_RIGID[[_IDX["tail_base"], _IDX["tail_mid"], _IDX["tail_tip"]]] = False


@dataclass(frozen=True)
class World:
    """A simulated session: keypoints, body poses and behaviour, all ground truth.

    Attributes:
        points_3d: ``(frames, animals, 12, 3)`` float64, millimetres, arena frame (z up,
            floor at z = 0), keypoint order ``KEYPOINTS``.
        position: ``(frames, animals, 2)`` float64, body-centre position on the floor, mm.
        heading: ``(frames, animals)`` float64, body yaw, radians (0 = +x).
        pitch: ``(frames, animals)`` float64, rearing pitch of the front body, radians.
        behaviour: the behaviour program that drove the motion (labels per frame/animal).
        fps: frame rate, Hz.
        arena_radius_mm: radius of the circular arena floor, mm.
    """

    points_3d: NDArray[np.float64]
    position: NDArray[np.float64]
    heading: NDArray[np.float64]
    pitch: NDArray[np.float64]
    behaviour: BehaviourProgram
    fps: float
    arena_radius_mm: float

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.points_3d.shape[0])

    @property
    def animals(self) -> int:
        """Number of animals."""
        return int(self.points_3d.shape[1])


def _wrap(a: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.angle(np.exp(1j * a)), dtype=np.float64)


def _social_goals(
    bout: Bout, pos: NDArray[np.float64], heading: NDArray[np.float64], kind: str
) -> tuple[NDArray[np.float64], float]:
    """Where the actor's body centre should be (mm) and its heading (rad) for a contact."""
    t = bout.target if bout.target is not None else bout.actor
    fwd = np.array([np.cos(heading[t]), np.sin(heading[t])])
    left = np.array([-fwd[1], fwd[0]])
    if kind == "nose_to_nose":
        return pos[t] + fwd * 2 * _NOSE_X_MM, float(heading[t] + np.pi)
    if kind == "nose_to_anogenital":
        return pos[t] - fwd * (_NOSE_X_MM + 40.0), float(heading[t])
    return pos[t] + left * 30.0, float(heading[t])  # huddle: side by side


def simulate_world(
    frames: int,
    *,
    animals: int = 1,
    fps: float = 30.0,
    arena_radius_mm: float = 150.0,
    seed: int = 0,
    rate_scale: Mapping[str, float] | None = None,
) -> World:
    """Simulate mice whose motion is driven by a semi-Markov behaviour program.

    The program (``ethoagent.sim.behaviour``) sets per-frame targets — speed, turn rate,
    rearing pitch, grooming — that the body follows with a 0.1 s lag; walls repel; social
    bouts steer the actor to the target (approach ends in contact, chase follows a darting
    target). Paws trot with a speed-dependent stride, the tail sways, forepaws rub the head
    rhythmically (5 Hz) while grooming and the front body pitches up 55° while rearing.

    Args:
        frames: number of frames (>= 1).
        animals: number of mice (1–3).
        fps: frame rate, Hz.
        arena_radius_mm: radius of the arena floor, mm (>= 100).
        seed: random seed; the same arguments give the same world.
        rate_scale: behaviour -> factor on its expected share of time
            (``behaviour.simulate_behaviour``), e.g. ``{"rearing": 2.0}``.

    Returns:
        The world: ``points_3d`` ``(frames, animals, 12, 3)`` mm plus poses and labels.
    """
    if frames < 1:
        raise InputError(f"frames must be >= 1, got {frames}.", fix="pass a positive count.")
    if arena_radius_mm < 100.0:
        raise InputError(
            f"arena_radius_mm must be >= 100 mm to hold a mouse, got {arena_radius_mm}.",
            fix="pass a larger arena.",
        )
    prog = simulate_behaviour(frames, animals, fps=fps, seed=seed, rate_scale=rate_scale)
    rng = np.random.default_rng([seed, 0x5E55])
    dt = 1.0 / fps
    lab = prog.labels
    code = CODE
    # a random turn direction per individual bout of turning
    turn_sign = np.where(rng.random((frames, animals)) < 0.5, -1.0, 1.0)
    for a in range(animals):
        for c, s, e in bouts_from_labels(prog.individual[:, a]):
            turn_sign[s:e, a] = turn_sign[s, a]
            del c
    by_frame: list[Bout | None] = [None] * frames
    next_contact: dict[int, str] = {}
    for i, b in enumerate(prog.social_bouts):
        for f in range(b.start, b.stop):
            by_frame[f] = b
        if b.behaviour == "approach" and i + 1 < len(prog.social_bouts):
            next_contact[b.start] = prog.social_bouts[i + 1].behaviour

    lim = arena_radius_mm - 45.0
    ang = rng.uniform(-np.pi, np.pi, animals)
    rad = lim * np.sqrt(rng.uniform(0.0, 0.6, animals))
    p = np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
    h = rng.uniform(-np.pi, np.pi, animals)
    v = np.zeros(animals)
    w = np.zeros(animals)
    pitch_now = np.zeros(animals)
    groom_now = np.zeros(animals)
    wander = np.zeros(animals)
    alpha = 1.0 - np.exp(-dt / 0.1)
    pos = np.empty((frames, animals, 2))
    heading = np.empty((frames, animals))
    pitch = np.empty((frames, animals))
    groom = np.empty((frames, animals))
    speed = np.empty((frames, animals))
    noise = rng.normal(size=(frames, animals, 2))
    for t in range(frames):
        wander += -2.0 * wander * dt + 1.5 * np.sqrt(dt) * noise[t, :, 0]
        lt = lab[t]
        v_goal = np.zeros(animals)
        w_goal = wander.copy()
        pitch_goal = np.zeros(animals)
        groom_goal = np.zeros(animals)
        v_goal[lt == code["walking"]] = 110.0 + 20.0 * noise[t, lt == code["walking"], 1]
        v_goal[lt == code["darting"]] = 360.0
        is_turn = lt == code["turning"]
        v_goal[is_turn] = 15.0
        w_goal[is_turn] = 2.8 * turn_sign[t, is_turn]
        pitch_goal[lt == code["rearing"]] = _REAR_PITCH
        groom_goal[lt == code["grooming"]] = 1.0
        w_goal[lt == code["still"]] = 0.0
        # walls: steer towards the centre
        r = np.hypot(p[:, 0], p[:, 1])
        near = r > 0.7 * lim
        to_c = np.arctan2(-p[:, 1], -p[:, 0])
        w_goal[near] += 4.0 * _wrap(to_c - h)[near] * (r[near] / lim)
        sb = by_frame[t]
        snap = np.zeros(animals, dtype=bool)
        if sb is not None and sb.target is not None:
            act, tgt = sb.actor, sb.target
            remaining = max(sb.stop - t, 1) * dt
            if sb.behaviour == "chase":
                v_goal[tgt] = 330.0
                v_goal[act] = 330.0
                d = p[tgt] - p[act]
                w_goal[act] = 6.0 * float(_wrap(np.arctan2(d[1], d[0]) - h[act]))
            else:
                kind = next_contact.get(sb.start, sb.behaviour)
                goal, goal_h = _social_goals(sb, p, h, kind)
                goal = goal * min(1.0, lim / max(float(np.hypot(*goal)), 1e-9))
                v_goal[tgt] = 0.0
                w_goal[tgt] = 0.0
                pitch_goal[[act, tgt]] = 0.0
                groom_goal[[act, tgt]] = 0.0
                d = goal - p[act]
                dist = float(np.hypot(*d))
                if sb.behaviour == "approach" and remaining > 0.3 and dist > 5.0:
                    v_goal[act] = min(dist / remaining, 400.0)
                    w_goal[act] = 6.0 * float(_wrap(np.arctan2(d[1], d[0]) - h[act]))
                else:
                    snap[act] = True
                    k = 1.0 - np.exp(-dt / 0.15)
                    p[act] = p[act] + k * d
                    h[act] = h[act] + k * float(_wrap(np.array(goal_h - h[act])))
                    v_goal[act] = 0.0
                    w_goal[act] = 0.0
        v += alpha * (v_goal - v)
        w += alpha * (w_goal - w)
        pitch_now += alpha * (pitch_goal - pitch_now)
        groom_now += alpha * (groom_goal - groom_now)
        h = np.where(snap, h, h + w * dt)
        step = np.where(snap, 0.0, v * dt)
        p = p + step[:, None] * np.stack([np.cos(h), np.sin(h)], axis=1)
        r = np.hypot(p[:, 0], p[:, 1])
        out = r > lim
        p[out] *= (lim / r[out])[:, None]
        pos[t], heading[t], pitch[t], groom[t], speed[t] = p, h, pitch_now, groom_now, v
    points = _pose_keypoints(pos, heading, pitch, groom, speed, fps, rng)
    return World(points, pos, heading, pitch, prog, float(fps), float(arena_radius_mm))


def _pitch_matrix(pitch: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotation about +y lifting +x towards +z: ``(...,)`` rad -> ``(..., 3, 3)``."""
    c, s = np.cos(pitch), np.sin(pitch)
    z, o = np.zeros_like(c), np.ones_like(c)
    return np.stack(
        [np.stack([c, z, -s], -1), np.stack([z, o, z], -1), np.stack([s, z, c], -1)], -2
    )


def _yaw_matrix(yaw: NDArray[np.float64]) -> NDArray[np.float64]:
    c, s = np.cos(yaw), np.sin(yaw)
    z, o = np.zeros_like(c), np.ones_like(c)
    return np.stack(
        [np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2
    )


def _to_world(
    body: NDArray[np.float64], pos: NDArray[np.float64], heading: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Body-frame points ``(F, A, N, 3)`` -> arena frame (yaw + translation)."""
    rot = _yaw_matrix(heading)  # (F, A, 3, 3)
    world: NDArray[np.float64] = np.einsum("faij,fanj->fani", rot, body)
    world[..., :2] += pos[:, :, None, :]
    return world


def _pose_keypoints(
    pos: NDArray[np.float64],
    heading: NDArray[np.float64],
    pitch: NDArray[np.float64],
    groom: NDArray[np.float64],
    speed: NDArray[np.float64],
    fps: float,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    frames, animals = heading.shape
    dt = 1.0 / fps
    body = np.broadcast_to(_TEMPLATE, (frames, animals, len(KEYPOINTS), 3)).copy()
    phase = np.cumsum(2 * np.pi * (speed / 60.0) * dt, axis=0)  # stride ~60 mm
    stride = np.clip(speed / 300.0, 0.0, 1.0) * 10.0  # paw swing amplitude, mm
    swing = stride * np.sin(phase)
    up, down = np.clip(np.sin(phase), 0, None), np.clip(-np.sin(phase), 0, None)
    for name, sgn, lift in (
        ("forepaw_left", 1.0, up),
        ("hindpaw_right", 1.0, up),
        ("forepaw_right", -1.0, down),
        ("hindpaw_left", -1.0, down),
    ):  # trot: diagonal pairs move together
        body[:, :, _IDX[name], 0] += sgn * swing
        body[:, :, _IDX[name], 2] += lift * stride * 0.4
    # grooming: forepaws to the face, rubbing up and down
    t = np.arange(frames)[:, None] / fps
    offset = rng.uniform(0, 2 * np.pi, animals)
    rub = 4.0 * np.sin(2 * np.pi * _GROOM_HZ * t + offset)
    for name, side in (("forepaw_left", 1.0), ("forepaw_right", -1.0)):
        i = _IDX[name]
        face = np.stack(
            [np.full_like(rub, 52.0), np.full_like(rub, 7.0 * side), 18.0 + rub], axis=-1
        )
        body[:, :, i] += groom[..., None] * (face - body[:, :, i])
    sway = 8.0 * np.sin(0.5 * phase + t * 1.5 + offset)
    body[:, :, _IDX["tail_mid"], 1] += sway
    body[:, :, _IDX["tail_tip"], 1] += 2.2 * sway
    # rearing: the front body pitches up about the hips
    rot = _pitch_matrix(pitch)
    rel = body[:, :, _RIGID] - _REAR_PIVOT
    body[:, :, _RIGID] = np.einsum("faij,fanj->fani", rot, rel) + _REAR_PIVOT
    return _to_world(body, pos, heading)


def body_ellipsoids(
    world: World,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The occluding ellipsoids of every body (see ``ELLIPSOIDS``) in the arena frame.

    Args:
        world: a simulated world.

    Returns:
        ``(centres, rotations, semi_axes)``: centres ``(frames, animals, E, 3)`` mm;
        rotations ``(frames, animals, E, 3, 3)`` (columns = ellipsoid axes in the arena
        frame); semi-axes ``(E, 3)`` mm.
    """
    frames, animals = world.heading.shape
    pr = _pitch_matrix(world.pitch)
    rel = np.broadcast_to(_ELL_CENTRE - _REAR_PIVOT, (frames, animals, len(ELLIPSOIDS), 3))
    centres_body = np.einsum("faij,fanj->fani", pr, rel) + _REAR_PIVOT
    centres = _to_world(centres_body, world.position, world.heading)
    rot = np.einsum("faij,fajk->faik", _yaw_matrix(world.heading), pr)
    rots = np.broadcast_to(rot[:, :, None], (frames, animals, len(ELLIPSOIDS), 3, 3)).copy()
    return centres, rots, _ELL_AXES.copy()


def simulate_trajectory(
    frames: int,
    *,
    fps: float = 30.0,
    arena_radius_mm: float = 150.0,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Simulate one mouse in a circular arena (``simulate_world`` with one animal).

    Args:
        frames: number of frames (>= 1).
        fps: frame rate in Hz.
        arena_radius_mm: radius of the arena floor in mm.
        seed: random seed.

    Returns:
        ``(frames, 12, 3)`` float64, millimetres, arena frame (z up), order ``KEYPOINTS``.
    """
    world = simulate_world(frames, animals=1, fps=fps, arena_radius_mm=arena_radius_mm, seed=seed)
    return world.points_3d[:, 0]


@dataclass(frozen=True)
class Observations:
    """Corrupted 2D observations with the corruption as ground truth.

    Attributes:
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing.
        clean_2d: ``(frames, views, keypoints, 2)`` the exact projections, pixels.
        swapped: ``(frames, views, pairs)`` bool, where a left/right pair was swapped.
        missing: ``(frames, views, keypoints)`` bool, where a mark was dropped.
    """

    points_2d: NDArray[np.float64]
    clean_2d: NDArray[np.float64]
    swapped: NDArray[np.bool_]
    missing: NDArray[np.bool_]


def observe(
    cameras: list[Camera],
    points_3d: NDArray[np.float64],
    *,
    noise_px: float = 0.7,
    missing_rate: float = 0.03,
    swap_rate: float = 0.02,
    swap_pairs: tuple[tuple[int, int], ...] = SWAP_PAIRS,
    seed: int = 0,
) -> Observations:
    """Project 3D keypoints into every camera and corrupt them like imperfect 2D labels.

    Args:
        cameras: the calibrated cameras (views).
        points_3d: ``(frames, keypoints, 3)`` millimetres.
        noise_px: standard deviation of Gaussian pixel noise.
        missing_rate: probability that a mark is missing in a view.
        swap_rate: probability, per frame, view and left/right pair, of a swap.
        swap_pairs: keypoint index pairs that can be swapped.
        seed: random seed.
    """
    pts = np.asarray(points_3d, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise InputError(f"points_3d must be (frames, keypoints, 3), got shape {pts.shape}.")
    rng = np.random.default_rng(seed)
    clean = np.moveaxis(project_points(cameras, pts), -2, 1)  # (frames, views, kp, 2)
    obs = clean + rng.normal(0.0, noise_px, size=clean.shape)
    frames, views, _, _ = obs.shape
    swapped = rng.random((frames, views, len(swap_pairs))) < swap_rate
    for p, (a, b) in enumerate(swap_pairs):
        f, v = np.nonzero(swapped[:, :, p])
        obs[f, v, a], obs[f, v, b] = obs[f, v, b].copy(), obs[f, v, a].copy()
    missing = rng.random(obs.shape[:3]) < missing_rate
    obs[missing] = np.nan
    return Observations(points_2d=obs, clean_2d=clean, swapped=swapped, missing=missing)


def describe_keypoints() -> dict[str, Any]:
    """Keypoint names, regions, swap pairs and bones as plain data (for reports)."""
    return {
        "keypoints": list(KEYPOINTS),
        "regions": {k: list(v) for k, v in REGIONS.items()},
        "swap_pairs": [[KEYPOINTS[a], KEYPOINTS[b]] for a, b in SWAP_PAIRS],
        "bones": [[KEYPOINTS[a], KEYPOINTS[b]] for a, b in BONES],
    }

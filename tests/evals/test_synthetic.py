"""Tests of the synthetic world and its behaviour program (ethoagent.sim.synthetic/behaviour)."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.sim import behaviour as bh
from ethoagent.sim import synthetic as syn


def test_simulate_trajectory_shape_and_determinism() -> None:
    a = syn.simulate_trajectory(120, seed=3)
    b = syn.simulate_trajectory(120, seed=3)
    c = syn.simulate_trajectory(120, seed=4)
    assert a.shape == (120, len(syn.KEYPOINTS), 3)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.all(np.isfinite(a))


def test_world_stays_in_arena_and_above_floor() -> None:
    w = syn.simulate_world(600, animals=3, arena_radius_mm=150.0, seed=1)
    assert w.points_3d.shape == (600, 3, 12, 3)
    assert np.hypot(w.position[..., 0], w.position[..., 1]).max() <= 150.0 - 45.0 + 1e-9
    # marks may sink a few mm into the floor only while rearing pitches the body
    assert w.points_3d[..., 2].min() > -10.0


def test_bouts_not_flicker() -> None:
    prog = bh.simulate_behaviour(3000, 3, fps=30.0, seed=0)
    min_frames = int(np.ceil(bh.MIN_BOUT_S * 30.0))
    for a in range(3):
        runs = bh.bouts_from_labels(prog.individual[:, a])
        # every run except the last (cut by the session end) lasts >= 0.3 s
        assert min(stop - start for _, start, stop in runs[:-1]) >= min_frames
        assert max(stop - start for _, start, stop in runs) <= bh.MAX_BOUT_S * 30.0 + 1
    for b in prog.social_bouts[:-1]:
        assert b.stop - b.start >= min_frames


def test_darting_is_rare_but_present() -> None:
    prog = bh.simulate_behaviour(40_000, 1, seed=7)
    frac = float(np.mean(prog.labels == bh.CODE["darting"]))
    assert 0.02 <= frac <= 0.05


@pytest.mark.parametrize("animals", [1, 3])
def test_every_behaviour_appears_in_2000_frames(animals: int) -> None:
    w = syn.simulate_world(2000, animals=animals, seed=0)
    seen = set(np.unique(w.behaviour.names).tolist())
    wanted = set(bh.INDIVIDUAL_BEHAVIOURS if animals == 1 else bh.BEHAVIOURS)
    assert wanted <= seen


def test_social_bouts_label_both_participants() -> None:
    prog = bh.simulate_behaviour(1500, 2, seed=2)
    assert prog.social_bouts
    for b in prog.social_bouts:
        assert b.target is not None and b.target != b.actor
        code = bh.CODE[b.behaviour]
        assert np.all(prog.labels[b.start : b.stop, b.actor] == code)
        assert np.all(prog.labels[b.start : b.stop, b.target] == code)


def test_nose_to_nose_brings_heads_together() -> None:
    w = syn.simulate_world(2000, animals=2, seed=1)
    ears = w.points_3d[:, :, :2].mean(axis=2)
    gaps = [
        np.linalg.norm(ears[b.stop - 1, b.actor] - ears[b.stop - 1, b.target])
        for b in w.behaviour.social_bouts
        if b.behaviour == "nose_to_nose" and b.stop - b.start >= 15
    ]
    assert gaps and max(gaps) < 45.0  # heads ~28 mm apart ear-centre to ear-centre


def test_rearing_lifts_front_and_grooming_brings_paws_to_head() -> None:
    w = syn.simulate_world(3000, seed=5)
    lab = w.behaviour.labels[:, 0]
    p = w.points_3d[:, 0]
    front_z = p[:, syn.KEYPOINTS.index("back_front"), 2]
    rear = lab == bh.CODE["rearing"]
    still = lab == bh.CODE["still"]
    assert np.median(front_z[rear]) > np.median(front_z[still]) + 20.0
    groom = lab == bh.CODE["grooming"]
    head = p[:, :2].mean(axis=1)
    paw = p[:, syn.KEYPOINTS.index("forepaw_left")]
    d = np.linalg.norm(paw - head, axis=1)
    assert np.median(d[groom]) < 0.6 * np.median(d[still])


def test_invalid_arguments_raise_input_error() -> None:
    with pytest.raises(InputError, match="animals"):
        bh.simulate_behaviour(10, 4)
    with pytest.raises(InputError, match="frames"):
        syn.simulate_world(0)


def test_body_ellipsoids_keep_marks_outside() -> None:
    w = syn.simulate_world(200, seed=0)
    centres, rots, axes = syn.body_ellipsoids(w)
    assert centres.shape == (200, 1, len(syn.ELLIPSOIDS), 3)
    still = w.behaviour.labels[:, 0] == bh.CODE["still"]
    # the back marks sit on top of the body: outside every ellipsoid when not grooming
    back = [syn.KEYPOINTS.index(k) for k in syn.REGIONS["back"]]
    rel = w.points_3d[:, 0, back][:, :, None] - centres[:, 0][:, None]  # (F, 3, E, 3)
    local = np.einsum("feji,fnej->fnei", rots[:, 0], rel) / axes
    r2 = np.sum(local**2, axis=-1)
    assert np.all(r2[still] > 1.0)

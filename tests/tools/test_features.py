"""Pose features: analytic motions, gaps, social pairs, synthetic behaviours, real data."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.evals.datasets import load_dataset
from ethoagent.model.skeleton import CALMS21, Skeleton, match_roles
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.features import (
    BEHAVIORDEPOT_LAYOUT,
    CALMS21_LAYOUT,
    ETHOME_LAYOUT,
    NOSE_TAILBASE_LAYOUT,
    PAIR_FEATURES,
    SYNTHETIC_LAYOUT,
    BodyLayout,
    Features,
    compute_features,
    describe_roles,
    infer_layout,
    layout_named,
)
from tests.data_paths import require_shared

FPS = 30.0

# Synthetic 12-keypoint mouse in its body frame (mm): x forward, y left, z up.
MOUSE = np.array(
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
# head (ear midpoint) (38, 0, 28) to tail base (-38, 0, 20)
MOUSE_LENGTH = float(np.hypot(76.0, 8.0))

# CalMS21-style 2D mouse (pixels): nose to tail base = 100 px, centre (neck + hips) at x=-10.
CALMS = np.array(
    [
        [50.0, 0.0],
        [40.0, 8.0],
        [40.0, -8.0],
        [30.0, 0.0],
        [-30.0, 10.0],
        [-30.0, -10.0],
        [-50.0, 0.0],
    ]
)
CALMS_NAMES = ("nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail_base")


def _place(
    template: NDArray[np.float64], xy: NDArray[np.float64], yaw: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Template ``(K, D)`` rotated by ``yaw`` ``(F,)`` about z and moved to ``xy`` ``(F, 2)``."""
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    out = np.repeat(template[None], len(yaw), axis=0)
    x, y = template[:, 0][None], template[:, 1][None]
    out[..., 0] = c * x - s * y + xy[:, :1]
    out[..., 1] = s * x + c * y + xy[:, 1:]
    return out


def _linear(frames: int = 60, speed: float = 120.0, yaw: float = 0.6) -> NDArray[np.float64]:
    """Synthetic mouse walking straight ahead at ``speed`` mm/s: ``(F, 1, 12, 3)``."""
    t = np.arange(frames) / FPS
    xy = np.stack([np.cos(yaw), np.sin(yaw)])[None] * speed * t[:, None] + [10.0, -5.0]
    return _place(MOUSE, xy, np.full(frames, yaw))[:, None]


def _features(points: NDArray[np.float64], **kwargs: object) -> Features:
    return compute_features(points, fps=FPS, keypoints=KEYPOINTS, **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- analytic


def test_uniform_linear_motion_has_constant_speed_and_no_turning() -> None:
    feats = _features(_linear())
    assert feats.layout == SYNTHETIC_LAYOUT
    assert feats.body_length[0] == pytest.approx(MOUSE_LENGTH)
    expected = 120.0 / MOUSE_LENGTH  # body lengths per second
    np.testing.assert_allclose(feats.column("speed"), expected, rtol=1e-12)
    np.testing.assert_allclose(feats.column("forward_speed"), expected, rtol=1e-12)
    np.testing.assert_allclose(feats.column("lateral_speed"), 0.0, atol=1e-9)
    np.testing.assert_allclose(feats.column("acceleration"), 0.0, atol=1e-9)
    np.testing.assert_allclose(feats.column("heading_rate"), 0.0, atol=1e-9)
    np.testing.assert_allclose(feats.column("speed_mean"), expected, rtol=1e-9)
    np.testing.assert_allclose(feats.column("speed_std"), 0.0, atol=1e-6)
    assert feats.valid.all()
    assert "nose_nose" not in feats.names  # one animal: no social features


def test_rotation_in_place_has_known_heading_rate_and_still_centre() -> None:
    omega = 2.0  # rad/s; 3 s wraps the heading past +-pi
    t = np.arange(90) / FPS
    pts = _place(MOUSE, np.zeros((90, 2)), omega * t)[:, None]
    feats = _features(pts)
    np.testing.assert_allclose(feats.column("heading_rate"), omega, rtol=1e-9)
    np.testing.assert_allclose(feats.column("speed"), 0.0, atol=1e-9)
    np.testing.assert_allclose(feats.column("elongation"), 76.0 / MOUSE_LENGTH, rtol=1e-12)


def test_elongation_of_static_templates_is_their_known_ratio() -> None:
    feats = _features(np.repeat(MOUSE[None, None], 10, axis=0))
    np.testing.assert_allclose(feats.column("elongation"), 76.0 / MOUSE_LENGTH, rtol=1e-12)
    np.testing.assert_allclose(feats.column("height"), 32.0 / MOUSE_LENGTH, rtol=1e-12)
    # nearest paw (a forepaw) to the head (38, 0, 28): (14, 13, 26)
    paw = float(np.linalg.norm([14.0, 13.0, 26.0]))
    np.testing.assert_allclose(feats.column("paw_head"), paw / MOUSE_LENGTH, rtol=1e-12)
    # tail chain: segments (-30, 0, -10) then (-30, 0, -6)
    a, b = np.array([-30.0, 0.0, -10.0]), np.array([-30.0, 0.0, -6.0])
    bend = np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    np.testing.assert_allclose(feats.column("tail_bend"), bend, rtol=1e-9)
    # 2D: 7 frames 100 px long, 3 frames 80 px long -> median 100, elongation 1 and 0.8
    pts = np.repeat(CALMS[None, None], 10, axis=0)
    pts[7:, 0, 6, 0] = -30.0
    feats2 = compute_features(pts, fps=FPS, keypoints=CALMS_NAMES, window_s=0.0)
    assert feats2.layout == CALMS21_LAYOUT
    np.testing.assert_allclose(feats2.column("elongation")[:, 0], [1.0] * 7 + [0.8] * 3)
    assert not any(n.endswith(("_mean", "_std")) for n in feats2.names)


def test_two_animals_approaching_give_known_distances_and_approach_speed() -> None:
    v, frames = 60.0, 60  # each mouse walks 60 px/s towards the other
    t = np.arange(frames) / FPS
    zero = np.zeros(frames)
    a = _place(CALMS, np.stack([-200.0 + v * t, zero], 1), zero)
    b = _place(CALMS, np.stack([200.0 - v * t, zero], 1), np.full(frames, np.pi))
    far = _place(CALMS, np.tile([0.0, 1000.0], (frames, 1)), np.full(frames, 0.3))
    pts = np.stack([a, b, far], axis=1)
    feats = compute_features(
        pts, fps=FPS, keypoints=CALMS_NAMES, individuals=("a", "b", "far"), max_gap_s=0.0
    )
    assert feats.pairs.shape == (frames, 3, 3, len(PAIR_FEATURES))
    assert np.isnan(feats.pairs[:, [0, 1, 2], [0, 1, 2]]).all()
    # body length 100 px; noses at -150 + vt and 150 - vt; tail base of b at 250 - vt
    for i in (0, 1):  # nearest partner of a is b and vice versa, never "far"
        np.testing.assert_allclose(feats.column("nose_nose")[:, i], (300.0 - 2 * v * t) / 100)
        np.testing.assert_allclose(feats.column("nose_tailbase")[:, i], (400.0 - 2 * v * t) / 100)
        np.testing.assert_allclose(feats.column("approach_speed")[:, i], 2 * v / 100)
        np.testing.assert_allclose(feats.column("relative_heading")[:, i], np.pi)
        np.testing.assert_allclose(feats.column("partner_bearing")[:, i], 0.0, atol=1e-12)
        np.testing.assert_allclose(feats.column("speed")[:, i], v / 100, rtol=1e-12)
    # the centre distance is symmetric, and so is the approach speed (equal body lengths)
    k = PAIR_FEATURES.index("approach_speed")
    approach = feats.pairs[..., k]
    np.testing.assert_allclose(approach, approach.transpose(0, 2, 1), rtol=1e-12)
    assert feats.report["masked_frames"] == {"a": 0, "b": 0, "far": 0}


def test_short_gap_is_interpolated_exactly_and_long_gap_masked() -> None:
    pts = _linear(frames=80)
    ref = _features(pts)
    holed = pts.copy()
    holed[10:14] = np.nan  # 4 frames <= 0.25 s
    holed[40:60, :, 3] = np.nan  # 20 frames of the body centre > 0.25 s
    feats = _features(holed)
    assert feats.report["missing_frames"]["individual_0"] == 24
    assert feats.report["interpolated_frames"]["individual_0"] == 4
    assert feats.report["masked_frames"]["individual_0"] == 20
    assert feats.report["settings"] == {"max_gap_frames": 8, "window_frames": 15}
    raw = [feats.names.index(n) for n in ("speed", "acceleration", "heading_rate", "elongation")]
    np.testing.assert_allclose(feats.values[:40, 0, raw], ref.values[:40, 0, raw], atol=1e-9)
    assert not feats.valid[40:60, 0].any() and feats.valid[:40, 0].all()
    assert np.isnan(feats.values[40:60, 0]).all()
    # next to the gap speed comes from a one-sided difference: still exact
    np.testing.assert_allclose(feats.column("speed")[60:, 0], ref.column("speed")[60:, 0])
    x, index = feats.matrix()
    assert x.shape == (60, len(feats.names)) and np.isfinite(x).all()
    np.testing.assert_array_equal(index[:, 0], np.r_[0:40, 60:80])
    np.testing.assert_array_equal(index[:, 1], 0)


def test_hidden_paws_and_tail_keep_the_frame_with_the_posture_of_the_points_seen() -> None:
    pts = _linear(frames=80)
    ref = _features(pts)
    holed = pts.copy()
    holed[10:40, :, 5] = np.nan  # the left forepaw hidden for 1 s: the right one is as near
    holed[50:70, :, 5:9] = np.nan  # every paw hidden for 20 frames (> the 8-frame gap fill)
    holed[50:70, :, 10] = np.nan  # and the middle of the tail
    feats = _features(holed)
    assert feats.valid.all()
    assert feats.report["masked_frames"]["individual_0"] == 0
    assert feats.report["posture_imputed_frames"]["individual_0"] == 20
    for name in ("paw_head", "tail_bend", "speed", "elongation"):
        np.testing.assert_allclose(feats.column(name), ref.column(name), atol=1e-9)
    # a moving posture: the hidden stretch takes the animal's median of the frames seen
    stretched = pts.copy()
    stretched[:, :, 5:7, 0] += np.linspace(0.0, 20.0, 80)[:, None, None]  # forepaws ahead
    stretched[50:70, :, 5:9] = np.nan
    paw = _features(stretched).column("paw_head")[:, 0]
    seen = _features(stretched[np.r_[0:50, 70:80]]).column("paw_head")[:, 0]
    np.testing.assert_allclose(paw[50:70], np.median(seen), rtol=1e-12)
    head_lost = pts.copy()
    head_lost[50:70, :, 0:2] = np.nan  # the head is a core point: those frames stay masked
    assert not _features(head_lost).valid[50:70, 0].any()


# --------------------------------------------------------------------------- synthetic world


def _behaviour_means(frames: int, name: str) -> dict[str, float]:
    world = simulate_world(frames, animals=1, seed=0)
    feats = _features(world.points_3d, individuals=("mouse",))
    labels = world.behaviour.names[:, 0]
    col = feats.column(name)[:, 0]
    return {str(b): float(np.nanmean(col[labels == b])) for b in np.unique(labels)}


def test_synthetic_behaviours_separate_by_speed_and_paw_to_head() -> None:
    speed = _behaviour_means(600, "speed")
    assert speed["walking"] > 10 * speed["still"]  # about 1.4 vs 0.04 body lengths/s
    assert speed["darting"] > 2 * speed["walking"]  # about 4.2
    paw = _behaviour_means(3000, "paw_head")  # the first grooming bout of seed 0 is later
    assert paw["grooming"] < 0.75 * paw["walking"]  # about 0.25 vs 0.40 body lengths


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (KEYPOINTS, SYNTHETIC_LAYOUT),
        (CALMS_NAMES, CALMS21_LAYOUT),
        (("nose", "leftear", "rightear", "neck", "lefthip", "righthip", "tail"), ETHOME_LAYOUT),
        (
            (
                "Nose",
                "Left Ear",
                "Right Ear",
                "Tailbase",
                "Left Leg",
                "Right Leg",
                "Mid-Back",
                "Tail",
            ),
            BEHAVIORDEPOT_LAYOUT,
        ),
        (("nose", "tailbase"), NOSE_TAILBASE_LAYOUT),
    ],
)
def test_infer_layout_picks_by_names(names: tuple[str, ...], expected: BodyLayout) -> None:
    assert infer_layout(names) == expected


def test_infer_layout_without_fit_derives_one_from_the_names() -> None:
    layout = infer_layout(("snout", "tail_tip", "Corner1"))
    assert layout == BodyLayout.from_keypoints(("snout", "tail_tip", "Corner1"))
    assert (layout.name, layout.head, layout.tail_base) == ("derived", ("snout",), "")
    assert layout.body == ("snout", "tail_tip")  # the arena corner is not on the body
    with pytest.raises(InputError, match="two or more body keypoints"):
        infer_layout(("nose", "feeder"))


def test_custom_layout_without_centre_uses_head_tail_midpoint() -> None:
    layout = BodyLayout(name="two", head=("snout",), tail_base="tail_base")
    pts = _linear()[:, :, [0, 9], :2]  # ear_left and tail base, 2D
    feats = compute_features(pts, fps=FPS, keypoints=("snout", "tail_base"), layout=layout)
    length = float(np.linalg.norm(MOUSE[0, :2] - MOUSE[9, :2]))
    np.testing.assert_allclose(feats.column("speed"), 120.0 / length, rtol=1e-12)
    assert "height" not in feats.names and "paw_head" not in feats.names


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"points": np.zeros((5, 12, 3))}, "shape"),
        ({"points": np.zeros((5, 1, 12, 4))}, "shape"),
        ({"keypoints": KEYPOINTS[:-1]}, "keypoint names"),
        ({"keypoints": (*KEYPOINTS[:-1], "Ear Left")}, "unique"),
        ({"individuals": ("a", "b")}, "individuals"),
        ({"fps": 0.0}, "fps"),
        ({"window_s": -1.0}, "window_s"),
        ({"max_gap_s": float("nan")}, "max_gap_s"),
        ({"layout": CALMS21_LAYOUT}, "lacks"),
        ({"points": np.full((5, 1, 12, 3), np.inf)}, "infinite"),
    ],
)
def test_invalid_inputs_raise_input_error(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"points": _linear(5), "fps": FPS, "keypoints": KEYPOINTS}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        compute_features(**args)  # type: ignore[arg-type]


def test_layout_needs_head_and_tail_base() -> None:
    with pytest.raises(InputError, match="head"):
        BodyLayout(name="bad", head=(), tail_base="tail_base")
    bare = Skeleton(name="bare", keypoints=("nose", "tail_base"), roles={"nose": ("nose",)})
    with pytest.raises(InputError, match="tail base"):
        BodyLayout.from_skeleton(bare)


def test_layouts_from_skeleton_roles() -> None:
    roles = {"head": ("ear_left", "ear_right"), "centre": ("back_mid",)}
    assert SYNTHETIC_LAYOUT.head == roles["head"] and SYNTHETIC_LAYOUT.centre == roles["centre"]
    assert SYNTHETIC_LAYOUT.tail == ("tail_base", "tail_mid", "tail_tip")
    assert BodyLayout.from_skeleton(CALMS21) == CALMS21_LAYOUT
    assert CALMS21_LAYOUT.centre == ("neck", "left_hip", "right_hip") and not CALMS21_LAYOUT.paws
    # a user's skeleton with roles read from its names gives a layout for its data
    names = ("Snout", "Left Ear", "Right Ear", "Mid-Back", "Tail Base")
    mine = Skeleton(name="mine", keypoints=names, roles=match_roles(names))
    layout = BodyLayout.from_skeleton(mine)
    assert (layout.name, layout.head, layout.tail_base) == ("mine", ("Snout",), "Tail Base")
    assert layout.missing(names) == ()


def test_unknown_feature_name_raises() -> None:
    with pytest.raises(InputError, match="no feature named"):
        _features(_linear(5)).column("wiggle")


# --------------------------------------------------------------------------- derived roles


def _bar(frames: int, velocity: float, names: tuple[str, ...]) -> NDArray[np.float64]:
    """Two points 20 px apart on the x axis moving at ``velocity`` px/s along x, plus
    arena points that never move: ``(F, 1, len(names), 2)``."""
    t = np.arange(frames) / FPS
    pts = np.zeros((frames, 1, len(names), 2))
    pts[:, 0, 0, 0] = 10.0 + velocity * t
    pts[:, 0, 1, 0] = -10.0 + velocity * t
    pts[:, 0, 2:] = [[300.0, 200.0]]
    return pts


@pytest.mark.parametrize("velocity", [60.0, -60.0])
def test_principal_axis_points_the_way_the_body_moves(velocity: float) -> None:
    names = ("a", "b", "corner_tl")
    feats = compute_features(_bar(30, velocity, names), fps=FPS, keypoints=names)
    assert feats.layout.body == ("a", "b")
    assert {"head", "tail_base", "centre"} <= set(feats.roles.derived)
    assert feats.roles.arena == ("corner_tl",)
    # body length 20 px, the centre moves 60 px/s: 3 L/s forwards whichever way it goes
    np.testing.assert_allclose(feats.column("forward_speed"), 3.0, rtol=1e-9)
    np.testing.assert_allclose(feats.column("lateral_speed"), 0.0, atol=1e-9)
    np.testing.assert_allclose(feats.column("heading_rate"), 0.0, atol=1e-9)
    np.testing.assert_allclose(feats.body_length, 20.0)


def test_missing_tail_base_is_the_rear_of_the_other_points() -> None:
    names = ("snout", "tail_tip", "lever")
    feats = compute_features(_bar(30, -60.0, names), fps=FPS, keypoints=names)
    assert feats.roles.matched == {"head": ("snout",)}
    assert "tail_base" in feats.roles.derived and "head" not in feats.roles.derived
    # the snout is at +x but the body moves to -x: it walks backwards at 3 L/s
    np.testing.assert_allclose(feats.column("forward_speed"), -3.0, rtol=1e-9)


def test_roles_record_says_what_was_matched_derived_and_disabled() -> None:
    names = ("snout", "leftear", "rightear", "tailbase", "objectA", "Implant")
    layout = infer_layout(names)
    roles = describe_roles(layout, names)
    assert roles.matched == {
        "head": ("snout",),
        "ear_left": ("leftear",),
        "ear_right": ("rightear",),
        "tail_base": ("tailbase",),
    }
    assert roles.derived["centre"] == "midpoint of head and tail base"
    assert roles.absent == ("paws", "tail") and roles.disabled == ("paw_head", "tail_bend")
    assert roles.arena == ("objectA",) and roles.unused == ("Implant",)
    assert any(line.startswith("features not computed") for line in roles.lines())
    # the centre is the head-tail-base midpoint: static arena points do not slow it, and
    # ears or an implant that nod with the head do not move it
    pts = np.zeros((20, 1, len(names), 2))
    pts[:, 0, :, 0] = np.arange(20)[:, None] * 2.0 + [10.0, 4.0, 4.0, -10.0, 500.0, 0.0]
    pts[:, 0, 4] = 500.0
    pts[:, 0, [1, 2, 5], 1] = 3.0 * (np.arange(20) % 2)[:, None]
    feats = compute_features(pts, fps=FPS, keypoints=names)
    np.testing.assert_allclose(feats.column("speed"), 2.0 * FPS / 20.0, rtol=1e-9)
    assert feats.roles == roles and layout_named("derived", names) == layout


def test_ready_layouts_keep_no_body_and_unchanged_centres() -> None:
    for layout in (SYNTHETIC_LAYOUT, CALMS21_LAYOUT, NOSE_TAILBASE_LAYOUT):
        assert layout.body == () and layout_named(layout.name, layout.names()) == layout
    with pytest.raises(InputError, match="no body layout named"):
        layout_named("rat9", ("nose",))


# --------------------------------------------------------------------------- real data


REAL_FILES = {
    "dlc_openfield": "dlc_openfield_pranav2018/openfield-Pranav-2018-10-30/labeled-data/m4s1/"
    "CollectedData_Pranav.csv",
    "sleap_15_node_slp": "sleap_anipose_minimal_session/minimal_session/top/"
    "minimal_top_proofread.slp",
    "sleap_15_node_h5": "sleap_anipose_minimal_session/minimal_session/side/"
    "minimal_side_proofread.analysis.h5",
    "ethome_two_mice": "ethome_social_interact/dlc/e3v813a-20210610T122332-122642DLC_"
    "dlcrnetms5_pilot_studySep24shuffle1_100000_el_filtered.csv",
    "behaviordepot_demo1": "behaviordepot_freezing/demo/demo1/demo1_tracking.csv",
    "behaviordepot_demo4": "behaviordepot_freezing/demo/demo4/demo4_video.csv",
    "behaviordepot_demo5": "behaviordepot_freezing/demo/demo5/demo5_tracking.csv",
    "behaviordepot_demo6": "behaviordepot_freezing/demo/demo6/demo6_tracking.csv",
}


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_features_run_on_every_real_keypoint_file(name: str) -> None:
    from ethoagent.io.keypoints import read_keypoints

    pose = read_keypoints(require_shared(REAL_FILES[name]), fps=30.0)
    feats = compute_features(
        pose.points, fps=30.0, keypoints=pose.keypoints, individuals=pose.individuals
    )
    assert feats.valid.any() and "head" in feats.roles.matched
    assert "tail_base" in feats.roles.matched
    if name.startswith("sleap"):
        assert feats.roles.matched["centre"] == ("Trunk",)
        assert feats.roles.matched["tail"] == ("TTI", "Tail_0", "Tail_1", "Tail_2", "TailTip")
        assert "tail_bend" in feats.names


def test_ethome_two_mice_smoke() -> None:
    data = load_dataset(
        "ethome_social_interact", root=require_shared("ethome_social_interact").parent
    )
    pose = next(iter(data.pose.values()))
    feats = compute_features(
        pose.points, fps=pose.fps or 30.0, keypoints=pose.keypoints, individuals=pose.individuals
    )
    assert feats.layout == ETHOME_LAYOUT and feats.values.shape[1] == 2
    assert "nose_nose" in feats.names and "height" not in feats.names
    assert feats.valid.mean() > 0.95
    x, _ = feats.matrix()
    assert np.isfinite(x).all()
    speed = np.nanmedian(feats.column("speed"), axis=0)
    assert np.all((speed > 0.01) & (speed < 10.0))  # body lengths per second


def test_behaviordepot_2d_smoke() -> None:
    data = load_dataset(
        "behaviordepot_freezing", root=require_shared("behaviordepot_freezing").parent
    )
    pose = data.pose["demo1"]
    feats = compute_features(pose.points, fps=pose.fps or 50.0, keypoints=pose.keypoints)
    assert feats.layout == BEHAVIORDEPOT_LAYOUT
    assert {"paw_head", "tail_bend"} <= set(feats.names) and "height" not in feats.names
    assert feats.valid.mean() > 0.95
    assert np.isfinite(feats.matrix()[0]).all()
    assert 0.5 < float(np.nanmedian(feats.column("elongation"))) < 1.5

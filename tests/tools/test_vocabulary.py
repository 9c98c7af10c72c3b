"""Vocabulary tools: description texts, clustering, name and definition checks."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.vocabulary import (
    ClusterKinematics,
    check_definition,
    check_unique_name,
    cluster_embeddings,
    match_reference,
    snippet_text,
)

FAST = ClusterKinematics(members=10, seconds=12.0, speed=2.8, speed_p90=3.5, height_ratio=1.0,
                         elongation=1.1, paw_head_ratio=1.0)  # fmt: skip
STILL = ClusterKinematics(members=10, seconds=30.0, speed=0.02, speed_p90=0.05, height_ratio=1.0,
                          elongation=1.0, paw_head_ratio=1.0)  # fmt: skip


def test_snippet_text_names_every_field() -> None:
    text = snippet_text({"label": "slow_walking", "posture": "level", "direction": "forward",
                         "speed": "slow", "social_interaction": "none"})  # fmt: skip
    assert text.startswith("slow walking:") and "speed slow" in text and "social none" in text


def test_definition_saying_still_fails_for_a_fast_cluster() -> None:
    bad = check_definition("freezing", "The animal stays still.", FAST)
    assert not bad.passed and "2.80 body lengths/s" in bad.message
    assert check_definition("darting", "A fast run across the arena.", FAST).passed
    # a negated word is not a claim
    assert check_definition("darting", "Fast running, never still.", FAST).passed


def test_definition_saying_walking_fails_for_a_cluster_at_rest() -> None:
    bad = check_definition("walking", "Locomotion at a walking pace.", STILL)
    assert not bad.passed and "barely move" in bad.message
    assert check_definition("still", "No movement of the body centre.", STILL).passed
    rear = check_definition("rearing", "Front body raised on the hind legs.", STILL)
    assert not rear.passed and "usual height" in rear.message
    alone = check_definition("huddle", "Resting side by side with another animal.", STILL)
    assert not alone.passed and "alone" in alone.message


def test_unique_name_compares_normalised_names() -> None:
    assert check_unique_name("slow walking", ["still", "rearing"]).passed
    taken = check_unique_name("Slow Walking", ["slow_walking"])
    assert not taken.passed and "already the name" in taken.message
    assert not check_unique_name("!!", []).passed


def test_cluster_embeddings_finds_separated_groups() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(5)[:3]
    x = np.concatenate([c + 0.03 * rng.normal(size=(20, 5)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels, scores = cluster_embeddings(x, k_range=(2, 6))
    assert len(set(labels)) == 3 and max(scores, key=lambda k: scores[k]) == 3
    assert all(len(set(labels[i * 20 : (i + 1) * 20])) == 1 for i in range(3))
    fixed, none = cluster_embeddings(x, k=2)
    assert len(set(fixed)) == 2 and none == {}
    with pytest.raises(InputError, match="distinct"):
        cluster_embeddings(x[:2], k=5)


def test_match_reference_picks_the_most_similar() -> None:
    entries = np.asarray([[1.0, 0.0], [0.0, 1.0]])
    ref = np.asarray([[0.0, 1.0], [0.6, 0.8]])
    assert match_reference(entries, ref) == [(1, 0.6), (0, 1.0)]
    assert match_reference(entries, np.zeros((0, 2))) == [(-1, 0.0), (-1, 0.0)]

"""The video background: lighting gain and the animals' side of the background."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.tools.video_background import animal_polarity, estimate_background, match_gain

H, W = 120, 160


def test_the_gain_of_a_uniformly_brighter_frame_is_its_ratio_to_the_background() -> None:
    rng = np.random.default_rng(1)
    background = rng.uniform(30, 200, (H, W)).astype(np.float32)
    frame = 1.2 * background
    frame[40:60, 40:80] = 20.0  # an animal covers a small part: the median ignores it
    assert match_gain(frame, background) == pytest.approx(1.2, rel=1e-6)
    assert match_gain(background, np.zeros_like(background)) == 1.0  # no lit pixel


@pytest.mark.parametrize(("floor", "animal", "sign"), [(200.0, 40.0, -1), (40.0, 200.0, 1)])
def test_the_animals_side_is_found_even_where_the_background_holds_a_ghost(
    floor: float, animal: float, sign: int
) -> None:
    # the animal rests at A in 7 of 10 samples (the background holds it there: a ghost
    # when it leaves) and is at B, C or D in the others
    spots = [(20, 20)] * 7 + [(20, 100), (80, 20), (80, 100)]
    samples = []
    for y, x in spots:
        img = np.full((H, W), floor, np.float32)
        img[y : y + 15, x : x + 30] = animal
        samples.append(img)
    background = estimate_background(samples)
    assert background[25, 30] == animal  # the ghost
    assert animal_polarity(samples, background, 10.0) == sign
    assert animal_polarity(samples[:1], np.asarray(samples[0]), 10.0) == 1  # nothing differs

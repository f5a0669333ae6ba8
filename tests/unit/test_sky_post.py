"""Sky refinement after the clean-up (model.sky_post, ADR 0035), against hand-drawn masks."""

from __future__ import annotations

import numpy as np
import pytest

from model.config import BafeConfig
from model.inference import Prediction
from model.sky_post import fill_ground_holes, pull_back_from_ground, refine_sky


def _half_sky(h: int, w: int, rows: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[:rows] = True
    return m


def test_small_ground_holes_are_filled_larger_ones_kept():
    sky = np.ones((40, 40), bool)
    sky[5:8, 5:8] = False  # 9 px hole
    sky[20:26, 20:26] = False  # 36 px hole
    expected = np.ones((40, 40), bool)
    expected[20:26, 20:26] = False
    assert np.array_equal(fill_ground_holes(sky, 20), expected)
    assert np.array_equal(fill_ground_holes(sky, 0), sky)


def test_ground_touching_a_hole_diagonally_is_two_holes():
    # 4-connected ground, as the clean-up counts holes: two 2-px diagonal neighbours are two holes
    sky = np.ones((10, 10), bool)
    sky[2, 2] = sky[3, 3] = False
    assert fill_ground_holes(sky, 2).all()


def test_sky_is_pulled_back_from_the_ground_not_from_the_frame_edge():
    sky = _half_sky(20, 20, 10)  # rows 0-9 sky, 10-19 ground
    # distance of row 9 to the ground is 1, row 8: 2, row 7: 3 -> > 2.5 keeps rows 0-7
    assert np.array_equal(pull_back_from_ground(sky, 2.5), _half_sky(20, 20, 8))
    assert np.array_equal(pull_back_from_ground(sky, 0.0), sky)
    assert pull_back_from_ground(np.ones((5, 5), bool), 3.0).all()  # all sky: no ground to leave


def test_refine_scales_with_the_long_side():
    sky = _half_sky(250, 500, 100)
    sky[20:22, 100:104] = False  # an 8 px hole, 0.0064 % of the frame
    # hole_area 0.001 of 125000 px = 125 px: the hole is filled; erode 4 per 1000 of 500 px = 2 px:
    # rows 98 (distance 2) and 99 (1) become ground
    assert np.array_equal(refine_sky(sky, 0.001, 4.0), _half_sky(250, 500, 98))


def test_prediction_sky_mask_applies_the_refinement_after_the_clean_up():
    logit = np.where(_half_sky(64, 64, 32), 5.0, -5.0).astype(np.float32)
    common = dict(boxes=np.zeros((0, 4), np.float32), scores=np.zeros(0, np.float32), points=np.zeros((0, 2)),
                  sky_logit=None, image_size=(64, 64), operating_threshold=0.5, sky_threshold=0.5,
                  sky_whole_logit=logit, sky_smooth=1.0, sky_min_area=0.001)
    # 40 px per 1000 of 64 px = 2.56 px: rows 30 (distance 2) and 31 (1) leave the sky
    refined = Prediction(**common, sky_hole_area=0.01, sky_erode=40.0).sky_mask()
    assert np.array_equal(refined, _half_sky(64, 64, 30))
    assert np.array_equal(Prediction(**common).sky_mask(), _half_sky(64, 64, 32))
    # no clean-up asked for: no refinement either (a plain threshold)
    plain = {**common, "sky_smooth": 0.0, "sky_min_area": 0.0}
    assert np.array_equal(Prediction(**plain, sky_erode=40.0).sky_mask(), _half_sky(64, 64, 32))


@pytest.mark.parametrize("field,value", [("sky_erode", -1.0), ("sky_hole_area", 1.0)])
def test_config_rejects_bad_refinement(field, value):
    with pytest.raises(ValueError, match=field):
        BafeConfig(**{field: value})


def test_weights_written_before_the_refinement_get_it():
    old = BafeConfig(sky_smooth=4.0, sky_min_area=0.005).to_json().replace('"sky_erode"', '"_gone_a"')
    old = old.replace('"sky_hole_area"', '"_gone_b"')
    cfg = BafeConfig.from_json(old)
    assert (cfg.sky_erode, cfg.sky_hole_area) == (2.0, 0.03)  # ADR 0035's values


def test_a_weights_config_with_a_bad_refinement_is_refused():
    from model.checkpoint import config_problems

    assert config_problems({"sky_hole_area": 1.5}) == ["sky_hole_area = 1.5 (a number in [0, 1])"]
    assert config_problems({"sky_erode": "wide"}) == ["sky_erode = 'wide' (a number)"]
    assert config_problems({"sky_hole_area": 0.01, "sky_erode": 2.0}) == []

"""The sky-label study's thin-structure measure (benchmarks/sky_label_study.py), hand-derived."""

from __future__ import annotations

import numpy as np

from benchmarks.sky_label_study import thin_edits, thin_ground


def test_a_wire_across_the_sky_is_thin_ground_and_the_horizon_is_not():
    sky = np.zeros((100, 200), bool)
    sky[:60] = True  # sky above row 60 (the horizon: a straight edge, nothing to close)
    sky[20, :] = False  # a 1 px wire across the sky
    thin = thin_ground(sky)  # disk of 1.5 % of 200 px = 3 px
    assert thin[20].all() and thin.sum() == 200


def test_a_gap_wider_than_the_disk_is_not_thin():
    sky = np.zeros((100, 200), bool)
    sky[:60] = True
    sky[20:30, :] = False  # a 10 px band: a roof line, not a wire
    assert not thin_ground(sky).any()


def test_an_edit_on_the_wire_counts_as_thin_and_one_on_the_horizon_does_not():
    label = np.zeros((100, 200), bool)
    label[:60] = True
    label[20, :] = False  # the label cuts the wire out
    model = np.zeros((100, 200), bool)
    model[:60] = True  # the model keeps the wire's sky (200 px) ...
    model[60:70, :20] = True  # ... and bulges 200 px over the ground at the horizon
    assert thin_edits(label, model, min_area=100) == 1

"""Hit-testing of the canvas tools (widgets/canvas_hit.py) against values derived by hand, with
no window: which target, box handle, sky vertex, edge or ring lies under a point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from widgets.canvas_hit import (
    TargetArrays,
    edge_at,
    handle_at,
    ids_in_rect,
    pick_tolerance,
    ring_at,
    ring_index,
    target_at,
    vertex_at,
)

NAN4 = (np.nan,) * 4
REPO = Path(__file__).resolve().parents[2]


def targets(selected: tuple[int, ...] = ()) -> TargetArrays:
    """A: box 10..20 with its point; B: a 3-px box inside A; C: a point only at (40, 40);
    D: a box hidden (e.g. a proposal below the score threshold)."""
    ids = np.array([1, 2, 3, 4])
    boxes = np.array([(10, 10, 20, 20), (12, 12, 15, 15), NAN4, (60, 60, 63, 63)], dtype=float)
    centres = np.array([(15.5, 15.5), (13.5, 13.5), (40.5, 40.5), (61.5, 61.5)])
    visible = np.array([True, True, True, False])
    return TargetArrays(ids, boxes, centres, visible, np.isin(ids, selected))


def test_pick_tolerance_is_six_screen_pixels_in_image_pixels() -> None:
    assert pick_tolerance(6.0) == 1.0  # 6 screen px per image px
    assert pick_tolerance(0.5) == 12.0  # zoomed out: one screen px covers 2 image px
    assert pick_tolerance(3.0, pick_px=4.5) == 1.5


def test_target_at_prefers_the_smallest_box_and_skips_hidden_ones() -> None:
    t = targets()
    assert target_at(t, 13, 13, 1.0) == 2  # inside A and B: B is smaller (9 px^2 vs 100)
    assert target_at(t, 18, 18, 1.0) == 1
    assert target_at(t, 20.9, 15, 1.0) == 1  # A grown by the tolerance reaches x = 21
    assert target_at(t, 21.1, 15, 1.0) is None
    assert target_at(t, 61, 61, 1.0) is None  # D is hidden


def test_target_at_a_point_within_one_and_a_half_tolerances() -> None:
    t = targets()
    assert target_at(t, 41.9, 40.5, 1.0) == 3  # 1.4 from the point's centre (40.5, 40.5)
    assert target_at(t, 42.1, 40.5, 1.0) is None  # 1.6 > 1.5


def test_the_same_point_hits_when_zoomed_out_and_misses_zoomed_in() -> None:
    t = targets()
    assert target_at(t, 23, 15, pick_tolerance(2.0)) == 1  # 3 image px reach x = 23
    assert target_at(t, 23, 15, pick_tolerance(6.0)) is None  # 1 image px reaches x = 21


def test_handle_at_edges_and_corners_of_selected_boxes() -> None:
    t = targets(selected=(1, 2))
    assert handle_at(t, 10.5, 15, 1.0) == (1, (True, False, False, False))  # left edge
    assert handle_at(t, 15, 19.2, 1.0) == (1, (False, False, False, True))  # bottom edge
    assert handle_at(t, 20, 20, 1.0) == (1, (False, False, True, True))  # bottom-right corner
    assert handle_at(t, 15, 16, 1.0) is None  # the body moves, it does not resize
    assert handle_at(t, 10.5, 15, 3.0) is None  # 10 px box < 4 tolerances (12): no handles
    assert handle_at(t, 12, 13.5, 1.0) is None  # B's left edge, but B is 3 px < 4 tolerances
    assert handle_at(t, 12, 13.5, 0.5) == (2, (True, False, False, False))  # 3 px >= 4 x 0.5
    assert handle_at(targets(), 10.5, 15, 1.0) is None  # A not selected


def test_ids_in_rect_by_box_centre_in_any_corner_order() -> None:
    t = targets()
    assert ids_in_rect(t, 0, 0, 16, 16) == [1, 2]  # centres (15, 15) and (13.5, 13.5)
    assert ids_in_rect(t, 16, 16, 0, 0) == [1, 2]
    assert ids_in_rect(t, 14, 14, 16, 16) == [1]
    assert ids_in_rect(t, 30, 30, 50, 50) == [3]  # a point-only target by its centre
    assert ids_in_rect(t, 55, 55, 70, 70) == []  # D is hidden


SQUARE = [(0, 0), (10, 0), (10, 10), (0, 10)]
INNER = [(4, 4), (6, 4), (6, 6), (4, 6)]


def test_ring_index_flattens_the_rings() -> None:
    ix = ring_index([np.array(SQUARE), np.array(INNER)])
    assert ix.vertices.tolist() == [list(p) for p in SQUARE + INNER]
    assert ix.ring_of.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert ix.vertex_of.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert ix.seg_end[:4].tolist() == [[10, 0], [10, 10], [0, 10], [0, 0]]
    assert ix.bboxes.tolist() == [[0, 0, 10, 10], [4, 4, 6, 6]]
    assert ix.areas.tolist() == [100.0, 4.0]
    empty = ring_index([])
    assert vertex_at(empty, 1, 1, 5) is None and edge_at(empty, 1, 1, 5) is None
    assert ring_at(empty, 1, 1) is None


def test_vertex_edge_and_ring_under_a_point() -> None:
    ix = ring_index([np.array(SQUARE), np.array(INNER)])
    assert vertex_at(ix, 10.5, 0.5, 1.0) == (0, 1)  # 0.71 from (10, 0)
    assert vertex_at(ix, 10.5, 0.5, 0.5) is None
    assert edge_at(ix, 5, 0.8, 1.0) == (0, 0, (5.0, 0.0))  # segment (0, 0) -> (10, 0)
    assert edge_at(ix, 5, 0.8, 0.5) is None
    assert edge_at(ix, 5, 3.5, 1.0) == (1, 0, (5.0, 4.0))  # the inner ring is 0.5 away
    assert edge_at(ix, -0.6, 5, 1.0) == (0, 3, (0.0, 5.0))  # the closing segment (0, 10) -> (0, 0)
    assert ring_at(ix, 5, 5) == 1  # inside both: the smaller ring wins
    assert ring_at(ix, 2, 2) == 0
    assert ring_at(ix, 10, 5) == 0  # on the outline counts as inside
    assert ring_at(ix, 11, 5) is None


def test_hit_testing_imports_no_qt() -> None:
    code = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import widgets.canvas_hit\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("zoom", [0.5, 1.0, 6.0, 24.0])
def test_a_vertex_is_picked_within_six_screen_pixels_at_any_zoom(zoom: float) -> None:
    ix = ring_index([np.array(SQUARE)])
    tol = pick_tolerance(zoom)
    assert vertex_at(ix, 10 + 5.9 / zoom, 0, tol) == (0, 1)  # 5.9 screen px away
    assert vertex_at(ix, 10 + 6.1 / zoom, 0, tol) is None  # 6.1 screen px away

"""False-alarm inspector dock on the hand-made scene (see tests/gui/test_inspector_support.py).

The scene has targets A (detected, sky) and B (missed, non-sky, contrast 25) and one false alarm
(score 0.8, non-sky, contrast 10) centred at (15, 15).
"""

from __future__ import annotations

import json
import threading

import pytest
from PySide6.QtCore import Qt

from app import inspector_panel
from core.services.inspection import FA, MISS, NON_SKY, cache_path, load_summaries
from tests.gui.test_inspector_support import (
    BOX_B,
    BOX_FA,
    BoxPredictor,
    PanelWindow,
    scene_project,
    scene_proposals,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def setup(qtbot, tmp_path):
    project, ids = scene_project(tmp_path, extra_no_sky=True)
    win = PanelWindow(project)
    qtbot.addWidget(win)
    predictors: list[BoxPredictor] = []

    def factory(_weights):
        return predictors[-1]

    panel = inspector_panel.install(win, predictor_factory=factory)
    yield win, panel, ids, predictors
    panel.shutdown()
    project.close()


def _run(qtbot, panel) -> inspector_panel.InspectionRun:
    with qtbot.waitSignal(panel.run_finished, timeout=20_000) as blocker:
        assert panel.start()
    return blocker.args[0]


def test_gallery_lists_the_hand_made_false_alarm_and_miss(qtbot, setup) -> None:
    win, panel, ids, _ = setup
    panel.choose_source(inspector_panel.STORED)
    panel.threshold.setValue(0.5)
    run = _run(qtbot, panel)
    cards = {c.kind: c for c in panel.gallery.cards() if c.image_id == ids[0]}
    assert set(cards) == {FA, MISS}
    fa, miss = cards[FA], cards[MISS]
    assert (fa.box, fa.score, fa.background) == (BOX_FA, pytest.approx(0.8), NON_SKY)
    assert fa.contrast == pytest.approx(10.0)
    assert (miss.box, miss.score, miss.background) == (BOX_B, None, NON_SKY)
    assert miss.contrast == pytest.approx(25.0)
    assert fa.crop.shape == (48, 48)
    # the image without sky has one target and no stored proposal: one miss, class unknown
    other = [c for c in panel.gallery.cards() if c.image_id == ids[1]]
    assert [(c.kind, c.background) for c in other] == [(MISS, "unknown")]
    assert (run.summary.fa_non_sky, run.summary.fa_sky, run.summary.misses) == (1, 0, 2)


def test_click_on_a_crop_jumps_to_its_centre(qtbot, setup) -> None:
    win, panel, ids, _ = setup
    panel.choose_source(inspector_panel.STORED)
    panel.threshold.setValue(0.5)
    _run(qtbot, panel)
    panel.gallery.set_kind_filter(FA)
    lst = panel.gallery.list
    assert lst.count() == 1
    win.show()
    qtbot.waitExposed(win)
    panel.parent().show()
    qtbot.waitExposed(lst)
    rect = lst.visualItemRect(lst.item(0))
    qtbot.mouseClick(lst.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert win.gotos[-1] == (ids[0], (15.0, 15.0))
    assert win.canvas.centers[-1] == (15.0, 15.0, inspector_panel.JUMP_ZOOM)
    assert win.canvas.highlights[-1] == ([BOX_FA], inspector_panel.HIT_COLOR)


def test_filters_and_sort(qtbot, setup) -> None:
    win, panel, ids, _ = setup
    panel.choose_source(inspector_panel.STORED)
    panel.threshold.setValue(0.5)
    _run(qtbot, panel)
    g = panel.gallery
    g.set_kind_filter(MISS)
    assert [c.kind for c in g.visible_cards()] == [MISS, MISS]
    g.set_sort("Contrast, high first")  # flat image miss: 50, scene miss B: 25
    assert [round(c.contrast) for c in g.visible_cards()] == [50, 25]
    g.set_background_filter("sky")
    assert g.visible_cards() == []
    assert g.count_label.text() == "0 of 3"


def test_model_run_threshold_change_and_version_comparison(qtbot, setup) -> None:
    win, panel, ids, predictors = setup
    predictors.append(BoxPredictor(scene_proposals()))
    panel.choose_source(inspector_panel.SHIPPED_DEFAULT_NAME)
    panel.threshold.setValue(0.5)
    run = _run(qtbot, panel)
    assert predictors[0].calls == 2  # both reviewed images
    assert run.summary.false_alarms == 3  # scene: 1; flat image: both boxes miss its target
    saved = json.loads(cache_path(win.project.root, run.version).read_text())
    assert saved["fa_non_sky"] == run.summary.fa_non_sky and saved["threshold"] == 0.5
    # a higher threshold drops the 0.8 false alarm without running the model again
    with qtbot.waitSignal(panel.run_finished, timeout=20_000) as blocker:
        panel.threshold.setValue(0.85)
    high = blocker.args[0]
    assert predictors[0].calls == 2
    assert high.summary.false_alarms == 1 and high.threshold == pytest.approx(0.85)
    # stored proposals as a second "version": both appear in the comparison table
    panel.choose_source(inspector_panel.STORED)
    _run(qtbot, panel)
    table = panel.summary_table
    versions = sorted(table.item(r, 0).text() for r in range(table.rowCount()))
    assert versions == sorted([inspector_panel.SHIPPED_DEFAULT_NAME, inspector_panel.STORED])
    assert set(load_summaries(win.project.root)) == set(versions)
    # a new window session reads the comparison back from the project's cache
    panel.on_project_opened(win.project)
    assert panel.summary_table.rowCount() == 2 and panel.gallery.cards() == []


def test_cancel_mid_run_keeps_finished_images_and_saves_nothing(qtbot, setup) -> None:
    win, panel, ids, predictors = setup
    gate = threading.Event()
    predictors.append(BoxPredictor(scene_proposals(), gate=gate))
    panel.choose_source(inspector_panel.SHIPPED_DEFAULT_NAME)
    with qtbot.waitSignal(panel.run_finished, timeout=20_000) as blocker:
        assert panel.start()
        assert not panel.start()  # one run at a time
        assert predictors[0].started.wait(10)
        panel.cancel()
        gate.set()
    run = blocker.args[0]
    assert run.cancelled and [r.image_id for r in run.results] == [ids[0]]
    assert predictors[0].calls == 1
    assert not cache_path(win.project.root, run.version).exists()
    assert "Cancelled" in panel.status.text()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_model_that_cannot_load_is_reported(qtbot, setup) -> None:
    win, panel, ids, predictors = setup

    def broken(_weights):
        raise RuntimeError("weights file is truncated")

    panel.factory = broken
    panel.choose_source(inspector_panel.SHIPPED_DEFAULT_NAME)
    with qtbot.waitSignal(panel.run_failed, timeout=20_000):
        assert panel.start()
    assert "weights file is truncated" in panel.status.text()


def test_refuses_without_reviewed_images(qtbot, tmp_path) -> None:
    from core.store.project import Project

    project = Project.create(tmp_path / "empty")
    win = PanelWindow(project)
    qtbot.addWidget(win)
    panel = inspector_panel.install(win)
    assert not panel.start()
    assert "review some images first" in panel.status.text()
    project.close()


def test_closing_the_project_mid_run_stops_and_drops_the_run(qtbot, setup) -> None:
    win, panel, ids, predictors = setup
    gate = threading.Event()
    predictors.append(BoxPredictor(scene_proposals(), gate=gate))
    panel.choose_source(inspector_panel.SHIPPED_DEFAULT_NAME)
    project = win.project
    results: list = []
    panel.run_finished.connect(results.append)
    assert panel.start()
    assert predictors[0].started.wait(10)
    win.project = None  # what MainWindow.close_project leaves behind
    gate.set()
    qtbot.waitUntil(lambda: panel.thread is None, timeout=20_000)  # the worker reported back
    assert predictors[0].calls == 1  # the second image was never started
    assert results == [] and panel.gallery.cards() == []
    assert not cache_path(project.root, inspector_panel.SHIPPED_DEFAULT_NAME).exists()
    win.project = project  # let the fixture close it

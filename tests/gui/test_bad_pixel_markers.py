"""Pre-annotation of a 16-bit frame with injected hot / dead pixels in the real MainWindow (the
real Predictor around a tiny net): the canvas marks exactly the injected pixels (scene positions
of the markers = the image item's scene positions of those pixels' centres), the View toggle
(B) hides and shows them, the Image dock counts them, and undo takes them away again."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QPointF, Qt  # noqa: E402

from app import preannotate_panel  # noqa: E402
from core.badpixels import inject_bad_pixels  # noqa: E402

WAIT_MS = 90_000


def defect_frame(path) -> set[tuple[int, int]]:
    rng = np.random.default_rng(4)
    h, w = 72, 96
    yy, xx = np.mgrid[:h, :w]
    clean = (2500 + 10 * yy + rng.normal(0, 15, (h, w))).astype(np.uint16)
    bad, coords = inject_bad_pixels(clean, 15 / (h * w), rng, hot=16383, dead=0)
    assert cv2.imwrite(str(path), bad)
    return {(int(x), int(y)) for x, y in coords}


@pytest.fixture
def window(qtbot, tmp_path):
    import torch

    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from core.store.new_image import NewImage
    from core.store.project import Project
    from model.inference import Predictor
    from tests.gui.test_preannotate_support import save_tiny_weights

    torch.set_num_threads(1)
    create_application(exception_hook=False)
    weights = save_tiny_weights(tmp_path / "tiny.safetensors")
    truth = defect_frame(tmp_path / "frame.png")
    project = Project.create(tmp_path / "proj")
    project.add_images([NewImage(tmp_path / "frame.png")])
    win = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    win.set_project(project)
    preannotate_panel.install(win, lambda _w: Predictor(weights, threads=1, backend="torch"))
    panel = win.findChild(preannotate_panel.PreannotatePanel)
    yield win, panel, truth
    panel.controller.shutdown(10_000)
    win.close()


def marker_scene_points(canvas) -> set[tuple[float, float]]:
    item = canvas.bad_pixels_item
    return {(round(p.x(), 6), round(p.y(), 6))
            for p in (item.mapToScene(QPointF(x, y)) for x, y in item.centres())}  # fmt: skip


def test_markers_sit_on_the_injected_pixels_and_follow_the_toggle_and_undo(qtbot, window):
    win, panel, truth = window
    canvas = win.canvas
    assert len(canvas.bad_pixels_item.coords) == 0  # nothing recorded before pre-annotation
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS):
        assert panel.run_current()
    qtbot.waitUntil(lambda: len(canvas.bad_pixels_item.coords) == len(truth), timeout=5000)
    expected = {
        (round(p.x(), 6), round(p.y(), 6))
        for p in (canvas.image_item.mapToScene(QPointF(x + 0.5, y + 0.5)) for x, y in truth)
    }
    assert marker_scene_points(canvas) == expected
    assert canvas.bad_pixels_item.isVisible()  # on by default
    assert f"{len(truth)} bad pixels repaired" in win.image_panel.facts_label.text()
    assert "not taken for a target" in win.image_panel.facts_label.toolTip()

    action = win.actions_by_id["toggle_bad_pixels"]
    assert "B" in [s.toString() for s in action.shortcuts()]
    assert "repaired" in action.statusTip()
    canvas.setFocus()
    qtbot.keyClick(win, Qt.Key.Key_B)
    assert not action.isChecked() and not canvas.bad_pixels_item.isVisible()
    action.trigger()
    assert action.isChecked() and canvas.bad_pixels_item.isVisible()

    win.undo_stacks.stack(win.current_image_id).undo()  # the pre-annotation, markers and all
    assert len(canvas.bad_pixels_item.coords) == 0
    assert "bad pixel" not in win.image_panel.facts_label.text()
    assert win.project.get_image(win.current_image_id).n_bad_pixels is None

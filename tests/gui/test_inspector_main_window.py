"""The three panels installed into the real MainWindow (not the fake): canvas, goto, image list."""

from __future__ import annotations

import numpy as np
import pytest

from app import bagcp_preview, inspector_panel, stats_panel
from core.domain import ImageAnnotation, ReviewStatus, Split, Target
from tests.gui.test_inspector_support import BOX_FA, scene_project, write_png

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def window(qtbot, tmp_path):
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from core.store.new_image import NewImage

    project, ids = scene_project(tmp_path)
    rng = np.random.default_rng(3)
    big = rng.integers(40, 60, size=(64, 64)).astype(np.uint8)
    sky = np.zeros((64, 64), dtype=bool)
    sky[:40] = True
    big[50:53, 30:33] = 200
    (info,) = project.add_images([NewImage(
        path=write_png(tmp_path / "images" / "big.png", big), split=Split.TRAIN,
        annotation=ImageAnnotation(targets=[Target(point=(31.5, 51.5), box=(30, 50, 33, 53))], sky=sky),
        status=ReviewStatus.REVIEWED,
    )])  # fmt: skip
    create_application(exception_hook=False)
    win = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.set_project(project)
    panels = (bagcp_preview.install(win), inspector_panel.install(win), stats_panel.install(win))
    yield win, panels, ids + [info.id]
    for p in panels:
        p.shutdown()
    win.close()


def test_menu_entries_and_docks(window) -> None:
    win, _, _ = window
    texts = [a.text().replace("&", "") for a in win.tool_menu(stats_panel.MENU).actions()]
    assert {"BAG-CP Preview", "False-alarm Inspector", "Dataset Statistics"} <= set(texts)


def test_inspector_click_shows_the_spot_on_the_real_canvas(qtbot, window, monkeypatch) -> None:
    win, (_, inspector, _), ids = window
    calls: list[list] = []
    real = win.canvas.set_highlight_boxes
    monkeypatch.setattr(
        win.canvas,
        "set_highlight_boxes",
        lambda boxes, color=None: (calls.append(list(boxes)), real(boxes, color)),
    )
    win.goto_image(ids[1])
    inspector.choose_source(inspector_panel.STORED)
    inspector.threshold.setValue(0.5)
    with qtbot.waitSignal(inspector.run_finished, timeout=30_000):
        assert inspector.start()
    inspector.gallery.set_kind_filter("fa")
    inspector.gallery.click_card(0)
    assert win.current_image_id == ids[0]
    assert calls[-1] == [BOX_FA]
    win.goto_image(ids[1])  # another image: the outlines go away
    assert calls[-1] == []


def test_bagcp_result_on_the_real_canvas_and_in_the_list(qtbot, window) -> None:
    win, (bagcp, _, _), ids = window
    win.goto_image(ids[1])
    bagcp.controls.set_params({"n_regions": (1, 1), "per_region": (8, 8)})
    with qtbot.waitSignal(bagcp.preview_ready, timeout=30_000) as blocker:
        assert bagcp.run_preview()
    preview = blocker.args[0]
    assert np.array_equal(win.canvas.image(), preview.result.image)
    bagcp.controls.set_showing_after(False)
    assert np.array_equal(win.canvas.image(), preview.original)
    with qtbot.waitSignal(bagcp.image_added, timeout=30_000) as blocker:
        assert bagcp.add_to_project()
    info = blocker.args[0]
    assert info.id in win.list_model.ids()  # the image list shows it at once
    assert win.project.get_image(info.id).split == Split.TRAIN  # source image is train

"""Workspaces, View > Panels, Reset Layout and the versioned saved layout (app/workspaces.py), on
the real MainWindow with every panel of app/extensions.py."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget

from app import layout_probe
from app.docks import Workspace
from app.workspaces import LAYOUT_VERSION

pytestmark = pytest.mark.timeout(120)
LABEL = {"dock_images", "dock_navigator", "dock_image", "dock_objects", "PreannotateDock",
         "dock_team"}  # fmt: skip
TRAIN = {"dock_images", "TrainingDock", "BagcpPreviewDock"}
INSPECT = {"dock_images", "InspectorDock", "StatsDock", "dock_label_noise"}


def make_window(qtbot):
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    w = MainWindow(AppSettings())
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(qtbot):
    w = make_window(qtbot)
    yield w
    w.close()


def open_docks(w) -> set[str]:
    """Docks open in the window (shown, or a tab behind another): View > Panels is ticked."""
    return {d.objectName() for d in w.findChildren(QDockWidget) if d.toggleViewAction().isChecked()}


def test_view_panels_lists_every_dock_and_toggles_it(window):
    menu = window.findChild(type(window.view_menu), "menu_panels")
    docks = window.findChildren(QDockWidget)
    assert len(docks) == 11  # 10 + the label-noise finder (issue 20)
    assert sorted(a.text() for a in menu.actions()) == sorted(d.windowTitle() for d in docks)
    objects = next(a for a in menu.actions() if a.text() == "Objects")
    dock = window.findChild(QDockWidget, "dock_objects")
    assert dock.isVisible()
    objects.trigger()
    assert not dock.isVisible() and "dock_objects" not in open_docks(window)
    objects.trigger()
    assert dock.isVisible()


def test_workspaces_show_their_docks_and_keep_what_the_user_did(window):
    assert window.workspaces.current == Workspace.LABEL
    assert open_docks(window) == LABEL
    for action_id, docks in (("workspace_train", TRAIN), ("workspace_inspect", INSPECT)):
        window.actions_by_id[action_id].trigger()
        assert open_docks(window) == docks
        assert window.actions_by_id[action_id].isChecked()
    window.actions_by_id["workspace_label"].trigger()
    window.findChild(QDockWidget, "dock_navigator").close()
    window.actions_by_id["workspace_train"].trigger()
    window.actions_by_id["workspace_label"].trigger()
    assert open_docks(window) == LABEL - {"dock_navigator"}  # as the user left it


def test_docks_do_not_tear_off_unless_asked(window):
    floatable = QDockWidget.DockWidgetFeature.DockWidgetFloatable
    docks = window.findChildren(QDockWidget)
    assert not any(d.features() & floatable for d in docks)
    assert all(d.features() & QDockWidget.DockWidgetFeature.DockWidgetClosable for d in docks)
    window.workspaces.detachable_action.setChecked(True)
    assert all(d.features() & floatable for d in docks)
    navigator = window.findChild(QDockWidget, "dock_navigator")
    navigator.setFloating(True)
    window.workspaces.detachable_action.setChecked(False)
    assert not navigator.isFloating()
    assert not any(d.features() & floatable for d in docks)


def test_reset_layout_puts_every_dock_back(window):
    images = window.images_dock
    image = window.image_dock
    images.close()
    window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, image)  # dragged to the left
    window.workspaces.detachable_action.setChecked(True)
    window.findChild(QDockWidget, "dock_objects").setFloating(True)
    window.findChild(QDockWidget, "PreannotateDock").close()
    window.actions_by_id["reset_layout"].trigger()
    assert open_docks(window) == LABEL
    assert window.dockWidgetArea(image) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.dockWidgetArea(images) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert not any(d.isFloating() for d in window.findChildren(QDockWidget))
    # Column order from the table: Image above Objects above Pre-annotation.
    tops = [window.findChild(QDockWidget, n).geometry().top()
            for n in ("dock_image", "dock_objects", "PreannotateDock")]  # fmt: skip
    assert tops == sorted(tops)


def test_saved_layout_comes_back_only_for_the_same_version(qtbot, isolated_settings):
    w1 = make_window(qtbot)
    w1.findChild(QDockWidget, "dock_navigator").close()
    w1.actions_by_id["workspace_train"].trigger()
    w1.close()
    settings = QSettings()
    assert int(settings.value("layout/version")) == LAYOUT_VERSION
    assert settings.value("layout/workspace") == "train"
    w2 = make_window(qtbot)
    assert w2.workspaces.current == Workspace.TRAIN and open_docks(w2) == TRAIN
    assert w2.actions_by_id["workspace_train"].isChecked()
    w2.actions_by_id["workspace_label"].trigger()
    assert open_docks(w2) == LABEL - {"dock_navigator"}
    w2.close()
    # A layout saved by another version of the default layout is not restored.
    settings = QSettings()
    settings.setValue("layout/version", LAYOUT_VERSION - 1)
    settings.sync()
    w3 = make_window(qtbot)
    assert w3.workspaces.current == Workspace.LABEL and open_docks(w3) == LABEL
    w3.close()


def test_tool_menu_entry_switches_to_the_docks_workspace(window):
    action = next(a for a in window.tool_menu("&Tools").actions()
                  if a.text().replace("&", "") == "False-alarm Inspector")  # fmt: skip
    action.trigger()
    assert window.workspaces.current == Workspace.INSPECT
    inspector = window.findChild(QDockWidget, "InspectorDock")
    assert inspector.isVisible() and not inspector.visibleRegion().isEmpty()


def test_layout_probe_sees_a_squeezed_dock(window):
    """The screen test's clipping check can fail: squeeze the Image dock and it reports why."""
    window.resize(1366, 768)
    window.workspaces.reset()
    window.workspaces.fit_sizes()
    image = window.image_dock
    assert layout_probe.dock_problems(image) == []
    window.resizeDocks([image], [110], Qt.Orientation.Vertical)
    window.layout().activate()
    problems = layout_probe.dock_problems(image)
    assert any("Mark reviewed" in p and "cut off" in p for p in problems), problems


def test_a_dock_grows_when_an_opened_image_needs_more_room(qtbot, app_project_dir):
    """Sized on the welcome page, the Image dock gets more lines once an image is shown: it
    grows (the Objects list gives the room) instead of hiding "Mark reviewed & next"."""
    w = make_window(qtbot)
    try:
        w.resize(1366, 768)
        w.workspaces.reset()
        w.workspaces.fit_sizes()
        qtbot.wait(50)
        image = w.image_dock
        before = image.height()
        assert w.open_project(app_project_dir)
        qtbot.waitUntil(lambda: image.height() > before, timeout=3000)
        assert layout_probe.dock_problems(image) == []
        button = w.image_panel.review_button
        assert image.rect().contains(button.mapTo(image, button.rect().bottomRight()))
    finally:
        w.close()


def test_gallery_rows_show_their_captions_in_the_inspect_workspace(qtbot, app_project_dir):
    """Issue 19: in the old bottom dock the gallery's captions showed only with the canvas
    squeezed to ~180 px. In Inspect (1366x768) whole rows, crop and caption, are in view."""
    from app.inspector_panel import STORED, InspectorPanel

    w = make_window(qtbot)
    try:
        w.resize(1366, 768)
        assert w.open_project(app_project_dir)
        w.show_dock(w.findChild(QDockWidget, "InspectorDock"))
        w.workspaces.reset()
        w.workspaces.fit_sizes()
        panel = w.findChild(InspectorPanel)
        panel.refresh_sources()
        panel.choose_source(STORED)
        with qtbot.waitSignal(panel.run_finished, timeout=60_000):
            assert panel.start() is not False
        gallery = panel.gallery.list
        qtbot.waitUntil(lambda: gallery.count() > 0, timeout=5000)
        viewport = gallery.viewport().rect()
        first_row = [gallery.visualItemRect(gallery.item(i)) for i in range(gallery.count())]
        first_row = [r for r in first_row if r.top() == first_row[0].top()]
        assert len(first_row) >= 3  # a wide column: several crops per row
        grid = gallery.gridSize()
        for rect in first_row:
            assert viewport.contains(rect), (rect, viewport)
        assert viewport.height() >= 2 * grid.height()  # two whole rows, captions included
        caption = gallery.item(0).text()
        assert caption and ("FA" in caption or "Miss" in caption)
    finally:
        w.close()


def test_the_brush_size_comes_back_next_time(qtbot, isolated_settings):
    """The sky brush's radius, changed with ] in paint-sky mode, is the next window's; a stored
    value that is not a positive number gives the default."""
    w1 = make_window(qtbot)
    default = w1.canvas.brush_radius()
    w1.set_mode("paint_sky")
    w1.canvas.view.setFocus()
    for _ in range(3):
        qtbot.keyClick(w1.canvas.view, Qt.Key.Key_BracketRight)
    assert w1.canvas.brush_radius() == pytest.approx(default * 1.25**3)
    w1.close()
    assert float(QSettings().value("brush_radius")) == pytest.approx(default * 1.25**3)
    w2 = make_window(qtbot)
    assert w2.canvas.brush_radius() == pytest.approx(default * 1.25**3)
    w2.close()
    QSettings().setValue("brush_radius", "-3")
    w3 = make_window(qtbot)
    assert w3.canvas.brush_radius() == default
    w3.close()

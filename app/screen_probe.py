"""Where things are on screen, for the screen-level tests (tests/screen/), off unless asked for.

With ``SIRST_SCREEN_PROBE=FILE`` in the environment the window writes, whenever it changes, a JSON
file saying where the canvas puts image pixels on the screen (the view-box mapping, not the
paint path under test), the display settings it believes it shows, and the screen rectangles of
the controls a test clicks. The tests compare the grabbed screen with the file's pixels through
a window computed by themselves; this file only tells them where to look. Without the variable
``install`` does nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QPointF, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QWidget

from app import layout_probe
from app.host import PanelHost
from app.views import GATE_NAME, ViewGate
from core.fileio import atomic_write_text

PROBE_ENV = "SIRST_SCREEN_PROBE"
INTERVAL_MS = 100
INTERVAL_ENV = "SIRST_SCREEN_PROBE_MS"  # a finer interval for benchmarks timing what appears


def _rect(widget: QWidget | None) -> list[int] | None:
    """[x, y, w, h] of a visible widget in screen (root window) coordinates."""
    if widget is None or not widget.isVisible():
        return None
    top_left = widget.mapToGlobal(QPoint(0, 0))
    return [top_left.x(), top_left.y(), widget.width(), widget.height()]


def _global_point(widget: QWidget, point: QPointF) -> list[float]:
    p = widget.mapToGlobal(point)
    return [float(p.x()), float(p.y())]


def canvas_state(window) -> dict:
    """What the probe writes: image placement, display settings, controls (screen coordinates)."""
    canvas = window.canvas
    img = canvas.image()
    info = window.current_info
    state: dict = {
        "image": info.name if info is not None and img is not None else None,
        "mode": canvas.mode(),
        "window": _rect(window),
        "viewport": _rect(canvas.view.viewport()),
    }
    if img is not None:
        h, w = img.shape[:2]
        view = canvas.view.viewport()
        # Sub-pixel accuracy: map through floats, not the rounded QPoint of image_to_widget.
        to_view = canvas.view.viewportTransform()
        vo = to_view.map(canvas.viewbox.mapViewToScene(QPointF(0, 0)))
        vc = to_view.map(canvas.viewbox.mapViewToScene(QPointF(w, h)))
        state["shape"] = [h, w]
        state["image_origin"] = _global_point(view, vo)  # screen position of image point (0, 0)
        state["image_corner"] = _global_point(view, vc)  # and of (w, h)
        s = canvas.display_settings()
        state["display"] = {"levels": list(s.levels), "gamma": s.gamma, "cmap": s.cmap}
    controls = canvas.display_controls
    state["controls"] = {
        "auto": _rect(controls.auto_button),
        "full": _rect(controls.full_button),
        "gamma": _rect(controls.gamma_spin),
        "auto_check": _rect(controls.auto_check),
        "histogram": _rect(controls.plot.viewport()),
    }
    region_vb = controls.plot.getPlotItem().getViewBox()
    levels = controls.region.getRegion()
    ys = region_vb.viewRect().center().y()
    plot_view = controls.plot
    lines = []
    for value in levels:
        p = plot_view.mapFromScene(region_vb.mapViewToScene(QPointF(float(value), ys)))
        lines.append(_global_point(plot_view.viewport(), QPointF(p)))
    state["controls"]["level_lines"] = lines
    overlays = (canvas.status, canvas.loupe, canvas.hint)
    state["overlays"] = [r for r in map(_rect, overlays) if r]
    state["zoom_label"] = canvas.status.text() if canvas.status.isVisible() else ""
    state["selected"] = canvas.selected_ids()
    focus = QApplication.focusWidget()
    state["focus"] = focus.objectName() or type(focus).__name__ if focus is not None else None
    lv = window.image_list.view  # the current row of the image list, to click on
    row = lv.visualRect(lv.currentIndex())
    state["list_row"] = (
        [*_global_point(lv.viewport(), QPointF(row.center())), row.width(), row.height()]
        if row.isValid() and lv.isVisible() else None
    )  # fmt: skip
    if layout_probe.enabled():
        state["layout"] = layout_probe.layout_state(window)
    state["drawn_targets"] = len(canvas.visible_ids())  # accepted + proposals drawn now
    state["status_message"] = window.statusBar().currentMessage()
    warmer = window.panel("model_warmer")  # app/model_warmup.py
    state["model"] = warmer.state.value if warmer is not None else None
    state["training"] = training_state(window)
    state["views"] = views_state(window)
    return state


def views_state(window) -> dict:
    """Per dock: whether its panel follows visits and edits now (app/views.py), whether it owes
    a refresh, and the line a test compares with the database (Objects, Team)."""
    docks = {}
    for dock in window.findChildren(QDockWidget):
        widget = dock.widget()
        gate = widget.findChild(ViewGate, GATE_NAME) if widget is not None else None
        if gate is not None:
            docks[dock.objectName()] = {"live": gate.live(), "stale": gate.stale()}
    objects, team = window.panel("object_list"), window.panel("team_panel")
    return {"docks": docks,
            "objects_summary": objects.widget.summary.text() if objects is not None else None,
            "team_holder": team.holder_label.text() if team is not None else None}  # fmt: skip


def training_state(window) -> dict | None:
    """The Training dock (app/training_panel.py): its status line, progress bar and where its
    budget box, sky row and Train button are on the screen."""
    dock = window.findChild(QDockWidget, "TrainingDock")
    panel = dock.widget() if dock is not None else None
    if panel is None or not hasattr(panel, "sky_stage"):
        return None
    return {"status": panel.status.text(), "progress": [panel.progress.value(), panel.progress.maximum()],
            "eta": panel.eta.text(), "sky_split": panel.sky_stage.text(), "budget": _rect(panel.budget),
            "sky_check": _rect(panel.sky_stage.enabled), "train": _rect(panel.train_button),
            "comparison": panel.comparison.title.text() if panel.comparison.isVisible() else None}


class ScreenProbe(QObject):
    """Writes ``canvas_state`` to a file (atomically) whenever it changes."""

    def __init__(self, window, path: Path) -> None:
        super().__init__(window)
        self.window = window
        self._path = path
        self._last = ""
        interval = int(os.environ.get(INTERVAL_ENV) or INTERVAL_MS)
        self._timer = QTimer(self, interval=max(10, interval))
        self._timer.timeout.connect(self.write)
        self._timer.start()

    def write(self) -> None:
        text = json.dumps(canvas_state(self.window), sort_keys=True)
        if text == self._last:
            return
        atomic_write_text(self._path, text, fsync=False)  # a test reads it; no need to sync
        self._last = text


def install(window: PanelHost) -> None:
    """Start the probe when ``SIRST_SCREEN_PROBE`` names a file; otherwise nothing."""
    target = os.environ.get(PROBE_ENV)
    if target:
        window.keep_panel("screen_probe", ScreenProbe(window, Path(target)))

"""Save PNG screenshots of every view, on the demo project, for the docs.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py docs/screenshots

(Works offscreen too, with QT_QPA_PLATFORM=offscreen, but fonts look better under Xvfb.) Settings
and the demo project live in a temp dir, so the user's own settings are never touched.

Shots: welcome, main window, sky editing, cheat sheet, export dialog, then the panels: the
pre-annotation dock after a real run of the shipped weights (skipped, with a message, when
resources/models/bafenet_default.safetensors is absent), the training dock replaying a recorded
run (docs/screenshots/training_events.jsonl, epochs 1-3 of the shipped model's training), the
BAG-CP preview with the pasted targets outlined, the false-alarm inspector and the statistics.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EVENTS = REPO / "docs" / "screenshots" / "training_events.jsonl"
PROPOSAL_SHOT_THRESHOLD = 0.4
WAIT_S = 300.0  # a model run on the demo images takes seconds; a loaded machine needs more


def settle(app, seconds: float = 0.6) -> None:
    """Let background thumbnails arrive and paints happen."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def wait_for(app, done: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    end = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > end:
            raise TimeoutError(f"{what} did not finish within {timeout_s:.0f} s")
        app.processEvents()
        time.sleep(0.02)


def wait_signal(app, signal, start: Callable[[], object], what: str) -> tuple:
    """Call ``start`` and spin the event loop until ``signal`` fires; returns its arguments."""
    got: list[tuple] = []

    def slot(*args: object) -> None:
        got.append(args)

    signal.connect(slot)
    try:
        if start() is False:
            raise RuntimeError(f"{what} refused to start (see the dock's message)")
        wait_for(app, lambda: bool(got), what)
    finally:
        signal.disconnect(slot)
    return got[0]


def dock(window, name: str):
    """Show and raise a panel's dock (object name from its module's DOCK_NAME), in its workspace."""
    from PySide6.QtWidgets import QDockWidget

    found = window.findChild(QDockWidget, name)
    window.show_dock(found)
    return found


def zoom_to(window, boxes: list, margin: float = 30.0, max_zoom: float = 8.0) -> None:
    """Centre the canvas on ``boxes`` at the zoom that shows them all with a margin."""
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    viewport = window.canvas.view.viewport()
    zoom = min(
        viewport.width() / (x1 - x0 + 2 * margin), viewport.height() / (y1 - y0 + 2 * margin)
    )
    window.canvas.center_on((x0 + x1) / 2, (y0 + y1) / 2, min(max(zoom, 1.0), max_zoom))


def hover_canvas(window, app) -> None:
    """Move the mouse over the canvas so its readout (pixel value, zoom) is current."""
    from PySide6.QtTest import QTest

    viewport = window.canvas.view.viewport()
    QTest.mouseMove(viewport, viewport.rect().center())
    settle(app, 0.3)


def save(widget, path: Path) -> None:
    if not widget.grab().save(str(path)):
        raise OSError(f"cannot write {path}")
    print(f"wrote {path}")


def save_floated(app, dock_widget, size: tuple[int, int], path: Path) -> None:
    """Shoot a dock floated at ``size`` (its place in the window is too small to show it all),
    then put it back."""
    dock_widget.setFloating(True)
    dock_widget.resize(*size)
    settle(app, 0.8)
    save(dock_widget, path)
    dock_widget.setFloating(False)


def busiest_image(project) -> int:
    """An image with sky, targets and proposals makes the most telling picture."""
    infos = project.list_images()
    with_sky = [i for i in infos if project.sky_mask(i.id) is not None] or infos
    return max(with_sky, key=lambda i: (i.n_targets + i.n_proposals, i.width)).id


def add_proposals(project, image_id: int) -> None:
    """A few model-like proposals next to real targets so the screenshot shows both styles."""
    from core.domain import Source, Target, TargetState

    targets = project.targets(image_id, TargetState.ACCEPTED)
    info = project.get_image(image_id)
    proposals = []
    for k, t in enumerate(targets[:4]):
        x0, y0, x1, y1 = t.box
        dx = 9 if x1 + 12 < info.width else -9
        proposals.append(Target(point=(t.point[0] + dx, t.point[1]) if t.point else None,
                                box=(x0 + dx, y0, x1 + dx, y1), source=Source.MODEL,
                                score=0.9 - 0.2 * k, state=TargetState.PROPOSAL))  # fmt: skip
    project.propose(image_id, proposals, None)


def show_sky_edit(window, app) -> None:
    """Edit-sky mode zoomed on the horizon, with a vertex picked by a real click."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from core.geometry import mask_to_rings

    window.set_mode("edit_sky")
    sky = window.project.sky_mask(window.current_image_id)
    if sky is None:
        return
    ring = max(mask_to_rings(sky), key=lambda r: len(r.points))
    x, y = ring.points[len(ring.points) // 3]
    window.canvas.center_on(float(x), float(y), 7.0)
    settle(app, 0.3)
    viewport = window.canvas.view.viewport()
    QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     window.canvas.image_to_widget(float(x), float(y)))  # fmt: skip
    QTest.mouseMove(viewport, window.canvas.image_to_widget(float(x) + 0.3, float(y) + 0.3))
    settle(app)


def show_sky_brush(window, app) -> QtPress:
    """Paint-sky mode on the horizon, a real drag in progress (the stroke's preview shown); returns
    the press to release after the shot."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from core.geometry import mask_to_rings

    window.set_mode("paint_sky")
    sky = window.project.sky_mask(window.current_image_id)
    ring = max(mask_to_rings(sky), key=lambda r: len(r.points))
    x, y = ring.points[len(ring.points) // 3]
    window.canvas.center_on(float(x), float(y), 5.0)
    settle(app, 0.3)
    viewport = window.canvas.view.viewport()
    start = window.canvas.image_to_widget(float(x) - 12, float(y) + 4)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for k in range(1, 13):
        QTest.mouseMove(viewport, window.canvas.image_to_widget(float(x) - 12 + 2 * k, float(y) + 4 + (k % 4) * 0.5))
    settle(app)
    return QtPress(viewport, window.canvas.image_to_widget(float(x) + 12, float(y) + 4))


class QtPress:
    """A left button held on ``viewport``; ``release`` lets it go at ``pos``."""

    def __init__(self, viewport, pos) -> None:
        self.viewport, self.pos = viewport, pos

    def release(self) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        QTest.mouseRelease(self.viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, self.pos)


def shoot_preannotation(window, app, out: Path) -> None:
    """The shipped weights' real proposals on the unreviewed demo images."""
    from app.preannotate_panel import DOCK_NAME, PreannotatePanel
    from core.domain import TargetState
    from model.inference import default_weights_path

    if not default_weights_path().is_file():
        print(f"skipped preannotate.png: no shipped weights at {default_weights_path()}")
        return
    dock(window, DOCK_NAME)
    panel = window.findChild(PreannotatePanel)
    (summary,) = wait_signal(
        app, panel.controller.run_ended, panel.run_unreviewed, "pre-annotation"
    )
    if summary is None or not summary.done:
        raise RuntimeError(f"pre-annotation gave nothing to show: {panel.status.text()}")

    # The shipped weights' operating threshold (MODEL.md), not the slider's stricter default.
    window.set_score_threshold(PROPOSAL_SHOT_THRESHOLD)

    def shown(image_id: int) -> list:
        props = window.project.targets(image_id, TargetState.PROPOSAL)
        return [t.box for t in props if (t.score or 0.0) >= PROPOSAL_SHOT_THRESHOLD]

    best = max(summary.done, key=lambda i: len(shown(i)))
    window.goto_image(best)
    settle(app, 0.5)
    if shown(best):
        zoom_to(window, shown(best), margin=12.0)
    hover_canvas(window, app)
    save(window, out / "preannotate.png")


def shoot_training(window, app, out: Path, events: Path) -> None:
    """A recorded run replayed through the Training dock's process signals (as if live)."""
    from PySide6.QtCore import Qt

    from app.training_panel import DOCK_NAME, TrainingPanel

    training_dock = dock(window, DOCK_NAME)
    panel = window.findChild(TrainingPanel)
    process = panel.process
    signals = {"start": process.run_started, "step": process.step_logged,
               "epoch": process.epoch_finished, "checkpoint": process.checkpoint_saved}  # fmt: skip
    for line in events.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "start":
            panel.epochs.setValue(int(event["epochs"]))
        if event["event"] in signals:
            signals[event["event"]].emit(event)
    panel.plot.redraw()
    # A wide right column for the dock (the Train workspace): the plots need room for legends.
    window.resizeDocks([training_dock], [720], Qt.Orientation.Horizontal)
    hover_canvas(window, app)
    settle(app, 0.8)
    save(window, out / "training.png")


def shoot_bagcp(window, app, out: Path, image_id: int) -> None:
    """BAG-CP result on a sky image, zoomed on the pasted regions (outlined on the canvas)."""
    from app.bagcp_preview import DOCK, BagcpPreviewPanel

    dock(window, DOCK.name)
    panel = window.findChild(BagcpPreviewPanel)
    window.goto_image(image_id)
    panel.controls.set_seed(7)
    (preview,) = wait_signal(app, panel.preview_ready, panel.run_preview, "BAG-CP preview")
    if not preview.pasted_boxes:
        raise RuntimeError(f"BAG-CP pasted nothing: {preview.result.message}")
    zoom_to(window, preview.pasted_boxes)
    hover_canvas(window, app)
    save(window, out / "bagcp_preview.png")


def shoot_inspector(window, app, out: Path) -> None:
    """False alarms and misses of the shipped weights (else the stored proposals)."""
    from app.inspector_panel import DOCK, STORED, InspectorPanel
    from app.model_versions import SHIPPED_DEFAULT_NAME
    from model.inference import default_weights_path

    inspector_dock = dock(window, DOCK.name)
    panel = window.findChild(InspectorPanel)
    panel.refresh_sources()
    panel.choose_source(SHIPPED_DEFAULT_NAME if default_weights_path().is_file() else STORED)
    wait_signal(app, panel.run_finished, panel.start, "false-alarm inspection")
    # Floated: a bottom dock in the window is too short to show the gallery's grid.
    save_floated(app, inspector_dock, (1300, 820), out / "inspector.png")


def shoot_stats(window, app, out: Path) -> None:
    """Dataset statistics of every demo image, the dock floated to show the whole grid."""
    from app.stats_panel import DOCK_NAME, StatsPanel

    stats_dock = dock(window, DOCK_NAME)
    panel = window.findChild(StatsPanel)
    panel.scope.setCurrentText("All images")
    wait_signal(app, panel.stats_ready, panel.compute, "dataset statistics")
    save_floated(app, stats_dock, (1100, 900), out / "stats.png")


def shoot_shell(window, app, out: Path, tmp: Path) -> int:
    """Welcome, main window, sky editing, keyboard review, cheat sheet, export dialog; returns
    the shown image."""
    from app.export_dialog import ExportDialog
    from app.settings import demo_project_dir
    from app.shortcuts import CheatSheetDialog
    from core.store.project import Project

    save(window, out / "welcome.png")
    with Project.open(demo_project_dir()) as project:
        image_id = busiest_image(project)
        add_proposals(project, image_id)
    window.open_project(demo_project_dir())
    window.goto_image(image_id)
    settle(app, 1.5)
    # The best proposal selected, as after a click in the Objects list (canvas and list in step).
    best = window.object_list.widget.ids()[:1]
    window.canvas.select(best)
    settle(app, 0.3)
    save(window, out / "main_window.png")
    window.canvas.select([])

    show_sky_edit(window, app)
    save(window, out / "sky_edit.png")
    press = show_sky_brush(window, app)
    save(window, out / "sky_brush.png")
    press.release()
    settle(app)
    window.undo_stacks.stack(image_id).undo()  # the demo's sky as it was
    settle(app)
    window.set_mode("edit")
    window.canvas.fit()

    window.review_keys.step(1)  # Tab: the best proposal selected and centred (keyboard review)
    settle(app)
    save(window, out / "review_keys.png")
    window.canvas.select([])
    window.canvas.fit()

    sheet = CheatSheetDialog(window)
    sheet.show()
    settle(app)
    save(sheet, out / "cheat_sheet.png")
    sheet.close()

    export = ExportDialog(window.project, window, str(tmp / "export"))
    export.show()
    settle(app)
    save(export, out / "export_dialog.png")
    export.close()
    return image_id


def shoot_all(out: Path, events: Path, tmp: Path) -> None:
    os.environ["SIRST_STUDIO_DATA_DIR"] = str(tmp / "data")
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))

    from app.application import create_application
    from app.main_window import MainWindow
    from app.project_actions import build_demo
    from app.settings import AppSettings, demo_project_dir

    app = create_application(exception_hook=False)
    build_demo(demo_project_dir())
    settings = AppSettings()
    settings.add_recent(demo_project_dir())
    window = MainWindow(settings)
    window.resize(1500, 940)
    window.show()
    settle(app)
    try:
        image_id = shoot_shell(window, app, out, tmp)
        if window.canvas.loupe_enabled:  # it follows the mouse and would hide overlays
            window.canvas.set_loupe_visible(False)
        shoot_preannotation(window, app, out)
        shoot_training(window, app, out, events)
        shoot_bagcp(window, app, out, image_id)
        shoot_inspector(window, app, out)
        shoot_stats(window, app, out)
    finally:
        window.close()  # stops the panels' workers and closes the project before the cleanup


def main() -> int:
    parser = argparse.ArgumentParser(description="Screenshots of SIRST Studio's views.")
    parser.add_argument("out", type=Path, help="folder for the PNGs (e.g. docs/screenshots)")
    parser.add_argument("--events", type=Path, default=EVENTS,
                        help="training events (JSON lines) replayed in the Training dock")  # fmt: skip
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="sirst-shots-"))
    try:
        shoot_all(args.out, args.events, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

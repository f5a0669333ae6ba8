"""Save PNG screenshots of the main views, on the demo project, for the docs.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshots.py docs/screenshots

(Works offscreen too, with QT_QPA_PLATFORM=offscreen, but fonts look better under Xvfb.) Settings
and the demo project live in a temp dir, so the user's own settings are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def settle(app, seconds: float = 0.6) -> None:
    """Let background thumbnails arrive and paints happen."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def save(widget, path: Path) -> None:
    if not widget.grab().save(str(path)):
        raise OSError(f"cannot write {path}")
    print(f"wrote {path}")


def busiest_image(project) -> int:
    """An image with sky, targets and proposals makes the most telling picture."""
    infos = project.list_images()
    with_sky = [i for i in infos if project.sky_mask(i.id) is not None] or infos
    return max(with_sky, key=lambda i: (i.n_targets + i.n_proposals, i.width)).id


def add_proposals(project, image_id: int) -> None:
    """A few model-like proposals next to real targets so the screenshot shows both styles."""
    from core.types import Source, Target, TargetState

    targets = project.targets(image_id, TargetState.ACCEPTED)
    info = project.get_image(image_id)
    proposals = []
    for k, t in enumerate(targets[:4]):
        x0, y0, x1, y1 = t.box
        dx = 9 if x1 + 12 < info.width else -9
        proposals.append(Target(point=(t.point[0] + dx, t.point[1]) if t.point else None,
                                box=(x0 + dx, y0, x1 + dx, y1), source=Source.MODEL,
                                score=0.9 - 0.2 * k, state=TargetState.PROPOSAL))  # fmt: skip
    project.replace_proposals(image_id, proposals, None)


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


def main() -> int:
    parser = argparse.ArgumentParser(description="Screenshots of SIRST Studio's main views.")
    parser.add_argument("out", type=Path, help="folder for the PNGs (e.g. docs/screenshots)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="sirst-shots-"))
    os.environ["SIRST_STUDIO_DATA_DIR"] = str(tmp / "data")
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))

    from app.application import create_application
    from app.export_dialog import ExportDialog
    from app.main_window import MainWindow
    from app.project_actions import build_demo
    from app.settings import AppSettings, demo_project_dir
    from app.shortcuts import CheatSheetDialog
    from core.project import Project

    app = create_application(exception_hook=False)
    build_demo(demo_project_dir())
    settings = AppSettings()
    settings.add_recent(demo_project_dir())
    window = MainWindow(settings)
    window.resize(1500, 940)
    window.show()
    settle(app)
    save(window, args.out / "welcome.png")

    with Project.open(demo_project_dir()) as project:
        image_id = busiest_image(project)
        add_proposals(project, image_id)
    window.open_project(demo_project_dir())
    window.goto_image(image_id)
    settle(app, 1.5)
    save(window, args.out / "main_window.png")

    show_sky_edit(window, app)
    save(window, args.out / "sky_edit.png")
    window.set_mode("edit")
    window.canvas.fit()

    sheet = CheatSheetDialog(window)
    sheet.show()
    settle(app)
    save(sheet, args.out / "cheat_sheet.png")
    sheet.close()

    export = ExportDialog(window.project, window, str(tmp / "export"))
    export.show()
    settle(app)
    save(export, args.out / "export_dialog.png")
    export.close()
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

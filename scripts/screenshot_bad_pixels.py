"""docs/screenshots/bad_pixels.png: the real app after pre-annotating a defect-laden 16-bit frame.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot_bad_pixels.py \
        ../shared/datasets/DenseSIRST/SIRSTdevkit iraytek-262 docs/screenshots/bad_pixels.png

The frame is a DenseSIRST image made linear 16-bit (``v * 50 + 2000``, as MODEL.md's defect
protocol) with 0.02 % isolated hot (16383) / dead (0) pixels injected (core.badpixels, seed 0),
in a throw-away project. The shipped model pre-annotates it through the Pre-annotation dock,
the canvas is zoomed on the part of the frame with the most repaired pixels, and the window is
saved. Settings live in a temp dir.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.screenshots import dock, hover_canvas, save, settle, wait_signal  # noqa: E402


def defect_frame(root: Path, image_id: str, out: Path) -> np.ndarray:
    import cv2

    from core.badpixels import inject_bad_pixels
    from core.imageio import read_image, to_gray

    gray = to_gray(read_image(root / "PNGImages" / f"{image_id}.png")).astype(np.float64)
    linear = (gray * 50 + 2000).astype(np.uint16)
    frame, coords = inject_bad_pixels(linear, 0.0002, np.random.default_rng(0), hot=16383, dead=0)
    if not cv2.imwrite(str(out), frame):
        raise OSError(f"cannot write {out}")
    return coords


def densest_window(coords: np.ndarray, w: int, h: int, size: tuple[int, int]) -> tuple[float, float]:
    """Centre of the size-[w, h] window (image pixels) holding the most of ``coords``."""
    best, centre = -1, (w / 2, h / 2)
    for cx in range(size[0] // 2, w - size[0] // 2 + 1, 8):
        for cy in range(size[1] // 2, h - size[1] // 2 + 1, 8):
            n = int(((np.abs(coords[:, 0] - cx) < size[0] / 2) & (np.abs(coords[:, 1] - cy) < size[1] / 2)).sum())
            if n > best:
                best, centre = n, (cx, cy)
    return centre


def main() -> int:
    parser = argparse.ArgumentParser(description="Screenshot of the bad-pixel markers.")
    parser.add_argument("dataset", type=Path, help="DenseSIRST root (SIRSTdevkit)")
    parser.add_argument("image_id", help="an image id of that dataset (e.g. from val_v2)")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--zoom", type=float, default=4.0, help="screen pixels per image pixel")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sirst-badpx-"))
    try:
        os.environ["SIRST_STUDIO_DATA_DIR"] = str(tmp / "data")
        from PySide6.QtCore import QSettings

        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
        from app.application import create_application
        from app.main_window import MainWindow
        from app.preannotate_panel import DOCK_NAME, PreannotatePanel
        from app.settings import AppSettings
        from core.services.importer import import_images
        from core.store.project import Project

        (tmp / "images").mkdir()
        coords = defect_frame(args.dataset, args.image_id, tmp / "images" / f"{args.image_id}_defects.png")
        with Project.create(tmp / "project") as project:
            import_images(project, tmp / "images")
        app = create_application(exception_hook=False)
        window = MainWindow(AppSettings())
        window.resize(1500, 940)
        window.show()
        settle(app)
        try:
            if not window.open_project(tmp / "project"):
                raise RuntimeError("cannot open the temp project")
            settle(app)
            dock(window, DOCK_NAME)
            panel = window.findChild(PreannotatePanel)
            (summary,) = wait_signal(app, panel.controller.run_ended, panel.run_current, "pre-annotation")
            if summary is None or not summary.done:
                raise RuntimeError(f"pre-annotation failed: {panel.status.text()}")
            window.goto_image(window.current_image_id)
            settle(app, 0.5)
            window.set_score_threshold(0.4)
            info = window.document.info
            viewport = window.canvas.view.viewport()
            span = (viewport.width() / args.zoom, viewport.height() / args.zoom)
            cx, cy = densest_window(coords, info.width, info.height, (int(span[0]), int(span[1])))
            window.canvas.center_on(cx, cy, args.zoom)
            dock(window, "dock_image")
            hover_canvas(window, app)
            settle(app, 0.8)
            repaired = window.document.bad_pixels()
            print(f"{args.image_id}: {len(coords)} injected, {len(repaired)} repaired, "
                  f"{len({tuple(c) for c in repaired.tolist()} & {tuple(c) for c in coords.tolist()})} of them "
                  "injected ones")  # fmt: skip
            save(window, args.out)
        finally:
            window.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

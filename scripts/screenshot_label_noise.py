"""README screenshot of the label-noise queue: real val_v2 frames with injected noise (the recipe of
benchmarks/bench_noise_finder.py, seed 2026), the shipped model's cached output stored as their
proposals, the list sorted by "needs attention", and the Label noise dock after a scan.

    xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/screenshot_label_noise.py \
        docs/screenshots/label_noise.png [--cache runs/noise_cache] [--images 40]

The model output comes from ``benchmarks/noise_predictions.py`` (run first if the cache is empty).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build(root: Path, cache: Path, n_images: int) -> tuple[object, str]:
    """A project of the injected errors' images plus clean ones; returns it and the first error's image."""
    import numpy as np

    from benchmarks.bench_noise_finder import DEVKIT, inject
    from core.domain import ImageAnnotation, ReviewStatus, Source, Split, Target, TargetState
    from core.store.new_image import NewImage
    from core.store.project import Project

    ids = [s for s in (DEVKIT / "Splits" / "val_v2.txt").read_text().split() if s]
    labels, skies, errors = inject(DEVKIT, ids, 2026, 25, 25, 10)
    noisy = list(dict.fromkeys(e.image for e in errors))
    chosen = noisy[: n_images // 2] + [i for i in ids if i not in noisy][: n_images - n_images // 2]
    project = Project.create(root)
    items = [NewImage(path=DEVKIT / "PNGImages" / f"{i}.png", split=Split.VAL, status=ReviewStatus.REVIEWED,
                      annotation=ImageAnnotation([Target(box=b) for b in labels[i]], skies[i]))
             for i in chosen]  # fmt: skip
    for info in project.add_images(items):
        with np.load(cache / f"{info.name}.npz") as z:
            props = [Target(box=tuple(b), source=Source.MODEL, score=float(s), state=TargetState.PROPOSAL)
                     for b, s in zip(z["boxes"].tolist(), z["scores"].tolist(), strict=True)]  # fmt: skip
            project.propose(info.id, props, z["sky"])
            project.record_attention(info.id, float(z["operating"]), float(z["sky_uncertain"]))
    return project, noisy[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--cache", type=Path, default=REPO / "runs" / "noise_cache")
    ap.add_argument("--images", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="noise_shot_"))
    import os

    os.environ["SIRST_STUDIO_DATA_DIR"] = str(tmp / "data")
    from PySide6.QtCore import QCoreApplication, QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "settings"))
    QCoreApplication.setOrganizationName("SIRST Studio Screenshots")
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from scripts.screenshots import dock, save, settle, wait_for

    project, _ = build(tmp / "project", args.cache, args.images)
    app = create_application(exception_hook=False)
    window = MainWindow(AppSettings())
    window.resize(1600, 1000)
    window.show()
    window.set_score_threshold(0.58)  # the shipped model's operating threshold
    window.set_project(project)
    settle(app, 1.0)
    window.actions_by_id["sort_attention"].trigger()
    dock(window, "dock_label_noise")
    panel = window.noise_panel
    panel.start()
    wait_for(app, lambda: not panel.job.is_running(), "the label-noise scan")
    settle(app, 0.3)
    panel.queue.setCurrentRow(0)
    settle(app, 1.5)
    save(window, args.out)
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

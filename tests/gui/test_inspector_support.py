"""Shared fakes for the BAG-CP preview, inspector and statistics GUI tests (no tests in here).

``PanelWindow`` is the shared ``FakeWindow`` (a PanelHost, app/host.py, with a recording canvas)
plus a goto log. ``scene_project`` builds a real project whose numbers are known
by hand: see ``SCENE`` below.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np

from core.domain import ImageAnnotation, ReviewStatus, Source, Target, TargetState
from tests._support.inspection_scene import BOX_A, BOX_B, BOX_FA, scene_pixels, scene_targets  # noqa: F401
from tests._support.labels import replace_proposals
from tests.gui.test_preannotate_support import FakeCanvas, FakeWindow  # noqa: F401 (FakeCanvas: shared)


class PanelWindow(FakeWindow):
    """FakeWindow (a PanelHost with a recording canvas) with a log of ``goto_image`` calls."""

    def __init__(self, project=None) -> None:
        super().__init__(project)
        self.gotos: list[tuple[int, tuple[float, float] | None]] = []

    def goto_image(self, image_id: int, center: tuple[float, float] | None = None) -> None:
        self.gotos.append((image_id, center))
        super().goto_image(image_id, center)


def scene_proposals() -> list[Target]:
    """What a model proposed on the scene: A (a hit) and the false alarm."""
    return [
        Target(
            point=(4.5, 4.5), box=BOX_A, source=Source.MODEL, score=0.9, state=TargetState.PROPOSAL
        ),
        Target(
            point=(14.5, 14.5),
            box=BOX_FA,
            source=Source.MODEL,
            score=0.8,
            state=TargetState.PROPOSAL,
        ),
    ]


def write_png(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return path


def scene_project(root: Path, with_proposals: bool = True, extra_no_sky: bool = False):
    """A reviewed project holding the scene (and optionally a second image without sky)."""
    from core.store.new_image import NewImage
    from core.store.project import Project

    img, sky = scene_pixels()
    project = Project.create(root / "proj")
    items = [
        NewImage(
            path=write_png(root / "images" / "scene.png", img),
            annotation=ImageAnnotation(targets=scene_targets(), sky=sky),
            status=ReviewStatus.REVIEWED,
        )
    ]
    if extra_no_sky:
        flat = np.full((16, 24), 40, np.uint8)
        flat[5:7, 5:7] = 90
        items.append(
            NewImage(
                path=write_png(root / "images" / "nosky.png", flat),
                annotation=ImageAnnotation(targets=[Target(point=(5.5, 5.5), box=(5, 5, 7, 7))]),
                status=ReviewStatus.REVIEWED,
            )
        )
    infos = project.add_images(items)
    if with_proposals:
        replace_proposals(project, infos[0].id, scene_proposals(), None)
    return project, [i.id for i in infos]


class BoxPredictor:
    """A fake ``model.inference.Predictor``: returns fixed proposals, optionally gated per image."""

    def __init__(self, proposals: list[Target], gate: threading.Event | None = None) -> None:
        self.proposals = proposals
        self.gate = gate
        self.calls = 0
        self.started = threading.Event()

    def predict_targets(self, image: np.ndarray, score_thr: float):
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.calls += 1
        kept = [t for t in self.proposals if (t.score or 0.0) >= score_thr]
        return kept, np.zeros(image.shape[:2], dtype=bool)

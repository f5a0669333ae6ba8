"""Two models side by side on the same labelled images, as pre-annotation would serve them.

Each model runs through its own ``Predictor`` (ONNX Runtime fp32 for both, so the comparison is
not coloured by one of them having a gated int8 file), at its own operating and sky thresholds
(the ones stored in its weights, which the GUI uses). Per model:

- mAP07: every detection (score >= the config's 0.05), legacy widths, IoU >= 0.5
- Pd / FA per image: the boxes kept at the operating threshold, rounded to pixels as `predict`
  writes them
- sky IoU: the cleaned sky proposal against the labelled sky, pooled over the labelled images
  (all three scored by core.evaluation.score on the detections in `predict`'s file forms, so they
  are `evaluate`'s figures: docs/adr/0021)
- corrections per image: core.effort on the same kept boxes and sky proposal

Used by `main.py train --compare` (the Training dock's comparison before "Activate") and by
benchmarks/bench_family_finetune.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core import evaluation
from core.effort import Corrections, image_corrections, summarize

COMPARE_BACKEND = "onnx"
Progress = Callable[[int, int], None]


@dataclass
class EvalItem:
    """One labelled image: raw pixels (as stored), true boxes, true sky (None: not labelled)."""

    name: str
    raw: np.ndarray
    boxes: np.ndarray  # float [N, 4] (x1, y1, x2, y2)
    sky: np.ndarray | None  # bool [H, W]


def _boxes(annotation) -> np.ndarray:
    boxes = [t.box for t in annotation.targets if t.box is not None]
    return np.asarray(boxes, np.float64).reshape(-1, 4)


def project_items(root, split: str, reviewed_only: bool = True) -> tuple[int, Iterator[EvalItem]]:
    """(count, items) of a project split; images are read one at a time as the items are used."""
    from core.services.training_data import labelled_images

    count, images = labelled_images(root, split, reviewed_only)

    def gen() -> Iterator[EvalItem]:
        for im in images:
            sky = None if im.annotation.sky is None else np.asarray(im.annotation.sky, bool)
            yield EvalItem(im.name, im.pixels, _boxes(im.annotation), sky)

    return count, gen()


def densesirst_items(root: Path, ids: list[str]) -> Iterator[EvalItem]:
    """DenseSIRST images by id (boxes from SIRST/BBox, sky from SkySeg), read one at a time."""
    from core.formats.densesirst import read_sample
    from core.imageio import read_image

    for image_id in ids:
        s = read_sample(root, image_id)
        sky = None if s.annotation.sky is None else np.asarray(s.annotation.sky, bool)
        yield EvalItem(image_id, read_image(s.image_path), _boxes(s.annotation), sky)


class _Tally:
    """What one model accumulates over the images."""

    def __init__(self) -> None:
        self.gts: list[np.ndarray] = []
        self.dets: list[tuple[np.ndarray, np.ndarray]] = []
        self.kept: list[np.ndarray] = []
        self.sky: list[tuple[int, int, tuple[int, ...]]] = []
        self.corrections: list[Corrections] = []
        self.rows: list[list] = []  # per image: name, deletes, adds, box fixes, sky edits, sky IoU

    def add(self, item: EvalItem, pred) -> None:
        kept = evaluation.kept_boxes(pred.boxes, pred.scores, pred.operating_threshold)
        sky = pred.sky_mask()
        self.gts.append(item.boxes)
        self.dets.append(evaluation.as_written(pred.boxes, pred.scores))
        self.kept.append(kept)
        iou = None
        if item.sky is not None:
            self.sky.append(evaluation.sky_count(sky, item.sky))
            inter, union, _shape = self.sky[-1]
            iou = round(inter / union, 4) if union else 1.0
        c = image_corrections(item.boxes, kept, item.sky, sky)
        self.corrections.append(c)
        self.rows.append([item.name, c.deletes, c.adds, c.box_fixes, c.sky_edits, iou])

    def figures(self) -> dict:
        res = evaluation.score(self.gts, self.dets, self.kept, self.sky)  # `evaluate`'s (docs/adr/0021)
        effort = summarize(self.corrections)
        return {
            "images": len(self.gts), "mAP07": res["mAP07"], "mAP12": res["mAP12"], "pd": res["pd"],
            "fa_per_image": res["fa_per_image"], "sky_iou": res["sky_iou"],
            "corrections_per_image": effort.get("actions_per_img_assisted"),
            "effort": effort, "per_image": self.rows,  # which images moved (MODEL.md's family benchmark)
        }  # fmt: skip


def load_predictor(weights: Path, threads: int | None = 1):
    from model.inference import Predictor

    return Predictor(weights, threads=threads, backend=COMPARE_BACKEND)


def evaluate_models(weights: dict[str, Path], items: Iterable[EvalItem], total: int = 0,
                    threads: int | None = 1, progress: Progress | None = None,
                    stop: Callable[[], bool] | None = None) -> dict[str, dict] | None:
    """Figures of each named model on the same items (one pass over the images); None when
    ``stop()`` turned true midway."""
    predictors = {name: load_predictor(w, threads) for name, w in weights.items()}
    tallies = {name: _Tally() for name in weights}
    done = 0
    for item in items:
        if stop is not None and stop():
            return None
        for name, predictor in predictors.items():
            tallies[name].add(item, predictor.predict(item.raw))
        done += 1
        if progress is not None:
            progress(done, total)
    out = {}
    for name, p in predictors.items():
        out[name] = tallies[name].figures() | {
            "weights": str(weights[name]), "operating_threshold": p.operating_threshold,
            "sky_threshold": p.sky_threshold,
        }  # fmt: skip
    return out


# The rows of the comparison table: (key, label, higher is better)
ROWS = (
    ("mAP07", "mAP07", True),
    ("pd", "Pd", True),
    ("fa_per_image", "False alarms / image", False),
    ("sky_iou", "Sky IoU", True),
    ("corrections_per_image", "Corrections / image", False),
)

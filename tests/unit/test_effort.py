"""core.effort counts the corrections exactly as the reference tool ../shared/tools/effort.py does,
on the same files (the tool runs as a separate process; the app never imports it)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.effort import image_corrections, summarize
from core.formats.densesirst import bbox_xml
from tests.conftest import DENSESIRST_ROOT

# ../shared/tools/effort.py, found next to the shared datasets (SIRST_DENSESIRST_ROOT moves both)
TOOL = DENSESIRST_ROOT.parents[2] / "tools" / "effort.py"


def _write_set(root: Path, images: dict[str, tuple[list, np.ndarray | None]]) -> None:
    (root / "SIRST" / "BBox").mkdir(parents=True)
    (root / "SkySeg" / "BinaryMask").mkdir(parents=True)
    for image_id, (boxes, sky) in images.items():
        (root / "SIRST" / "BBox" / f"{image_id}.xml").write_text(bbox_xml(image_id, 96, 80, boxes))
        if sky is not None:
            cv2.imwrite(str(root / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png"), sky.astype(np.uint8) * 255)


def _read_boxes(path: Path) -> np.ndarray:
    out = [[float(o.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
           for o in ET.parse(path).getroot().iter("object")]  # fmt: skip
    return np.asarray(out, float).reshape(-1, 4)


def _crafted(rng: np.random.Generator, n_images: int) -> tuple[dict, dict]:
    """Truth and a perturbed "prediction": targets dropped, shifted (1-4 px), resized, added, and
    sky masks with blobs of both signs, large and small; one image without a predicted sky."""
    gt, pred = {}, {}
    for k in range(n_images):
        boxes = []
        for _ in range(rng.integers(0, 9)):
            x, y = int(rng.integers(0, 88)), int(rng.integers(0, 72))
            boxes.append((x, y, x + int(rng.integers(2, 7)), y + int(rng.integers(2, 7))))
        sky = np.zeros((80, 96), bool)
        sky[: int(rng.integers(10, 60))] = True
        guess = []
        for b in boxes:
            r = rng.random()
            if r < 0.2:
                continue  # missed
            dx, dy = (int(rng.integers(-4, 5)), int(rng.integers(-4, 5))) if r < 0.5 else (0, 0)
            grow = int(rng.integers(0, 3)) if r > 0.8 else 0
            guess.append((b[0] + dx, b[1] + dy, b[2] + dx + grow, b[3] + dy + grow))
        for _ in range(rng.integers(0, 4)):  # false alarms
            x, y = int(rng.integers(0, 90)), int(rng.integers(0, 74))
            guess.append((x, y, x + 3, y + 3))
        psky = sky.copy()
        for _ in range(rng.integers(0, 4)):
            x, y, s = int(rng.integers(0, 90)), int(rng.integers(0, 74)), int(rng.integers(2, 9))
            psky[y:y + s, x:x + s] = rng.random() < 0.5
        image_id = f"img_{k}"
        gt[image_id] = (boxes, sky)
        pred[image_id] = (guess, None if k == 3 else psky)
    return gt, pred


def test_counts_equal_the_reference_tool(tmp_path):
    if not TOOL.is_file():
        pytest.skip(f"reference tool not found at {TOOL}")
    gt, pred = _crafted(np.random.default_rng(5), 24)
    _write_set(tmp_path / "gt", gt)
    _write_set(tmp_path / "pred", pred)
    (tmp_path / "gt" / "Splits").mkdir()
    (tmp_path / "gt" / "Splits" / "s.txt").write_text("\n".join(gt))
    out = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "gt"), "s", str(tmp_path / "pred")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    expected = json.loads(out.stdout)
    rows = []
    for image_id in gt:
        g = _read_boxes(tmp_path / "gt" / "SIRST" / "BBox" / f"{image_id}.xml")
        p = _read_boxes(tmp_path / "pred" / "SIRST" / "BBox" / f"{image_id}.xml")
        gs = cv2.imread(str(tmp_path / "gt" / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png"), 0) > 127
        ps_path = tmp_path / "pred" / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png"
        ps = cv2.imread(str(ps_path), 0) > 127 if ps_path.exists() else None
        rows.append(image_corrections(g, p, gs, ps))
    mine = summarize(rows)
    assert mine == expected
    # the crafted set exercises every kind of correction
    assert all(sum(getattr(r, k) for r in rows) > 0 for k in ("deletes", "adds", "box_fixes", "sky_edits"))


def test_hand_counted_image():
    gt = np.array([[10, 10, 13, 13], [30, 30, 34, 34], [50, 50, 53, 53]], float)
    pred = np.array([[11, 10, 14, 13],  # 1 px off: found, no fix
                     [32, 30, 38, 34],  # centre 3 px off: found, right side 4 px off: a fix
                     [70, 70, 73, 73]], float)  # a false alarm; the third target is missed
    sky = np.zeros((100, 100), bool)
    sky[:40] = True
    proposed = sky.copy()
    proposed[60:70, 60:70] = True  # 100 px of ground called sky: one edit (>= 16 px)
    proposed[0:3, 0:3] = False  # 9 px: below the smallest edit
    c = image_corrections(gt, pred, sky, proposed)
    assert (c.deletes, c.adds, c.box_fixes, c.sky_edits, c.manual, c.targets) == (1, 1, 1, 1, 4, 3)
    assert c.actions == 4
    assert image_corrections(gt, pred, None, proposed).sky_edits == 0  # no sky label: nothing to fix


@pytest.mark.parametrize("seed", range(8))
def test_least_corrections_threshold_counts_as_the_plain_loop_does(seed):
    """The grid search counts each threshold as ``target_corrections`` does (the plain loop over
    thresholds, the reference), on frames with ties, boxes at exactly 3 px, empty frames."""
    from core.effort import _corrections_on_grid, least_corrections_threshold, target_corrections

    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(12):
        g = rng.integers(0, 3) if rng.random() < 0.2 else rng.integers(1, 8)
        xy = rng.uniform(5, 90, (g, 2)).round()
        gt = np.hstack([xy, xy + rng.integers(2, 6, (g, 2))])
        n = rng.integers(0, 15)
        near = gt[rng.integers(0, max(g, 1), n)] if g else np.zeros((n, 4))
        jitter = rng.choice([0.0, 1.0, 3.0, 2.5, 6.0], (n, 1)) * rng.choice([-1, 1], (n, 2)).repeat(2, 1)
        boxes = np.where(rng.random((n, 1)) < 0.7, near + jitter, rng.uniform(0, 100, (n, 4)))
        scores = rng.choice([0.1, 0.3, 0.3, 0.5, 0.7, 0.9], n) if seed % 2 else rng.random(n)
        gts.append(gt)
        dets.append((boxes, scores))
    grid = np.unique(np.concatenate([s for _, s in dets] + [[0.0, 0.3, 0.95]]))
    plain = np.array([target_corrections(gts, dets, float(t)) for t in grid])
    fast = sum(_corrections_on_grid(g, b, s, grid) for g, (b, s) in zip(gts, dets, strict=True))
    assert np.array_equal(fast, plain)
    thr = least_corrections_threshold(gts, dets)  # searched up to the best score (some box kept)
    top = max(s.max() for _, s in dets if len(s))
    assert target_corrections(gts, dets, thr) == plain[grid <= top].min()

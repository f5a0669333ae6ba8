"""Pd / FA by centre distance against the shared referee tool (../shared/tools/effort.py).

The referee counts the corrections of a prediction folder: deletes (kept boxes that find no target
within 3 px, centre to centre, one to one) and adds (targets no box found). `main.py evaluate` must
count the same: FA per image = deletes per image, Pd = 1 - adds / targets. Checked on random,
crowded predictions (jittered hits, duplicates, boxes between two targets, far false alarms).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.cli import main as cli_main
from core import metrics
from core.domain import ImageAnnotation, Target
from core.formats.densesirst import bbox_xml, write_sample, write_split

REPO = Path(__file__).resolve().parents[2]
W, H = 128, 96


def _effort_tool() -> Path:
    env = os.environ.get("SIRST_EFFORT_TOOL")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "tools" / "effort.py", REPO.parents[1] / "shared" / "tools" / "effort.py"]
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip("the shared referee tool effort.py was not found (set SIRST_EFFORT_TOOL)")


def _effort_module():
    spec = importlib.util.spec_from_file_location("effort", _effort_tool())
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _crowded(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Targets in a tight cluster (so matches compete) and predictions around them."""
    n = int(rng.integers(0, 9))
    cx, cy = rng.uniform(20, W - 20), rng.uniform(20, H - 20)
    gt = []
    for _ in range(n):
        x, y = int(cx + rng.integers(-8, 9)), int(cy + rng.integers(-8, 9))
        s = int(rng.integers(2, 6))
        gt.append((x, y, x + s, y + s))
    pred = []
    for x0, y0, x1, y1 in gt:
        for _ in range(int(rng.integers(0, 3))):  # 0, 1 or 2 boxes per target, jittered up to 4 px
            dx, dy = rng.integers(-4, 5, size=2)
            grow = int(rng.integers(0, 2))
            pred.append((x0 + dx, y0 + dy, x1 + dx + grow, y1 + dy + grow))
    for _ in range(int(rng.integers(0, 3))):  # false alarms anywhere
        x, y = int(rng.integers(0, W - 5)), int(rng.integers(0, H - 5))
        pred.append((x, y, x + 3, y + 3))
    pred = [(max(0, a), max(0, b), min(W, c), min(H, d)) for a, b, c, d in pred]
    pred = [p for p in pred if p[2] > p[0] and p[3] > p[1]]
    return np.array(gt, float).reshape(-1, 4), np.array(pred, float).reshape(-1, 4)


def test_centre_matching_finds_as_many_as_the_referee():
    effort = _effort_module()
    rng = np.random.default_rng(7)
    checked = competing = 0
    for _ in range(3000):
        gt, pred = _crowded(rng)
        found, _fixes = effort.match(gt, pred)
        assert int((metrics.centre_matches(gt, pred) >= 0).sum()) == found, (gt.tolist(), pred.tolist())
        checked += 1
        if len(gt) > 1 and len(pred) > 1:
            d = np.linalg.norm(metrics.box_centres(gt)[:, None] - metrics.box_centres(pred)[None], axis=2)
            competing += int(((d <= 3).sum(axis=0) > 1).any())  # a box within reach of two targets
    assert checked == 3000 and competing > 300  # the cases where the order of matching matters occur


def test_evaluate_pd_fa_equal_the_referee_counts(tmp_path, capsys):
    effort, referee = _effort_tool(), _effort_module()
    rng = np.random.default_rng(3)
    root, pred_dir = tmp_path / "gt", tmp_path / "pred"
    ids, adds, deletes, targets = [], 0, 0, 0
    sky = np.zeros((H, W), bool)
    sky[: H // 2] = True
    (pred_dir / "SIRST" / "BBox").mkdir(parents=True)
    (pred_dir / "SkySeg" / "BinaryMask").mkdir(parents=True)
    for k in range(40):
        image_id = f"img_{k:02d}"
        gt, pred = _crowded(rng)
        img = np.full((H, W), 40, np.uint8)
        tg = [Target(point=(int(b[0]), int(b[1])), box=tuple(int(v) for v in b)) for b in gt]
        write_sample(root, image_id, img, ImageAnnotation(targets=tg, sky=sky), W, H)
        boxes = [tuple(int(v) for v in b) for b in pred]
        (pred_dir / "SIRST" / "BBox" / f"{image_id}.xml").write_text(bbox_xml(image_id, W, H, boxes))
        from core.imageio import encode_png

        (pred_dir / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png").write_bytes(encode_png(sky.astype(np.uint8) * 255))
        # exact counts: the referee's own matcher on the files as written
        ids.append(image_id)
        targets += len(gt)
        g = referee.read_xml_boxes(root / "SIRST" / "BBox" / f"{image_id}.xml")
        found, _ = referee.match(g, referee.read_xml_boxes(pred_dir / "SIRST" / "BBox" / f"{image_id}.xml"))
        adds += len(gt) - found
        deletes += len(pred) - found
    write_split(root, "val", ids)
    (pred_dir / "detections.csv").write_text("image_id,xmin,ymin,xmax,ymax,score\n")
    ref = subprocess.run([sys.executable, str(effort), str(root), "val", str(pred_dir)],
                         capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(ref.stdout)
    assert cli_main(["evaluate", str(root), "val", str(pred_dir), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert out["images"] == res["images"] == 40 and res["targets"] == targets
    # the referee prints per-image figures rounded to 2 decimals
    assert res["fa_per_image"] == pytest.approx(out["of_which_deletes"], abs=0.005)
    assert res["fa_per_image"] == pytest.approx(deletes / 40)
    assert res["targets"] * (1 - res["pd"]) / 40 == pytest.approx(out["adds"], abs=0.005)
    assert res["pd"] == pytest.approx(1 - adds / targets)
    assert deletes > 0 and adds > 0  # both kinds of correction are exercised

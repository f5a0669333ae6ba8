"""The model card in a weights file: one operating threshold, current figures, tensors untouched."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from core.domain import ImageAnnotation, Target
from core.formats.densesirst import bbox_xml, write_sample, write_split
from core.imageio import encode_png
from model.card_meta import merged_sky, refreshed, rewrite_metadata, tensor_bytes
from model.checkpoint import read_metadata, save_weights
from model.config import preset
from model.net import BafeNet

REPO = Path(__file__).resolve().parents[2]
STALE_VAL = {"mAP07": 0.5, "sky_iou": 0.8277, "sky_median": 0.94, "rings": 11.4, "pd": 0.8, "threshold": 0.4}


@pytest.fixture()
def weights(tmp_path) -> Path:
    torch.manual_seed(0)
    cfg = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)
    path = tmp_path / "w.safetensors"
    save_weights(path, BafeNet(cfg).eval(), cfg, "default", operating_threshold="0.4", sky_threshold="0.3",
                 val=STALE_VAL, sky_val={"sky_iou": 0.94}, epoch=9)
    return path


def test_save_weights_writes_one_operating_threshold(weights):
    meta = read_metadata(weights)
    assert meta["operating_threshold"] == "0.4" and json.loads(meta["config"])["operating_threshold"] == 0.4


def test_merged_sky_replaces_every_sky_figure():
    val = merged_sky(json.dumps(STALE_VAL), {"sky_iou": 0.941, "sky_threshold": 0.3, "sky_large": 0.928})
    assert val == {"mAP07": 0.5, "pd": 0.8, "threshold": 0.4, "sky_iou": 0.941, "sky_threshold": 0.3,
                   "sky_large": 0.928}  # the stale median and rings of the detector's own head are gone
    assert merged_sky("not json", {"sky_iou": 0.9}) == {"sky_iou": 0.9}


def test_rewrite_metadata_keeps_the_tensor_bytes(weights):
    before_tensors = tensor_bytes(weights)
    before = load_file(str(weights))
    new = refreshed(read_metadata(weights), {"mAP07": 0.81, "pd": 0.86, "fa_per_image": 1.69}, "test")
    rewrite_metadata(weights, new)
    assert tensor_bytes(weights) == before_tensors
    after = load_file(str(weights))
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata()
    assert "sky_val" not in meta and meta["val_source"] == "test" and meta["epoch"] == "9"
    val = json.loads(meta["val"])
    assert val == {"mAP07": 0.81, "pd": 0.86, "fa_per_image": 1.69, "threshold": 0.4, "sky_threshold": 0.3}
    assert json.loads(meta["config"])["operating_threshold"] == float(meta["operating_threshold"]) == 0.4
    # the header is padded so the tensors start 8-byte aligned, as safetensors writes them
    assert int.from_bytes(weights.read_bytes()[:8], "little") % 8 == 0


def test_rewrite_refuses_a_file_that_is_not_safetensors(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"\xff" * 16)
    with pytest.raises(ValueError, match="not a safetensors file"):
        rewrite_metadata(bad, {"a": "b"})
    assert bad.read_bytes() == b"\xff" * 16


def _dataset(root: Path, pred: Path) -> None:
    """Two 64x80 frames: 3 targets, 2 predicted (one 2 px off centre, one far away) + a false alarm."""
    gts = {"a": [(10, 10, 13, 13), (40, 20, 43, 23)], "b": [(30, 40, 33, 43)]}
    kept = {"a": [(12, 10, 15, 13), (60, 50, 63, 53)], "b": [(30, 40, 33, 43)]}
    sky = np.zeros((64, 80), bool)
    sky[:32] = True
    for image_id, boxes in gts.items():
        targets = [Target(point=(b[0] + 1, b[1] + 1), box=b) for b in boxes]
        write_sample(root, image_id, np.full((64, 80), 50, np.uint8), ImageAnnotation(targets=targets, sky=sky), 80, 64)
    write_split(root, "val", list(gts))
    (pred / "SIRST" / "BBox").mkdir(parents=True)
    (pred / "SkySeg" / "BinaryMask").mkdir(parents=True)
    rows = ["image_id,xmin,ymin,xmax,ymax,score"]
    for image_id, boxes in kept.items():
        (pred / "SIRST" / "BBox" / f"{image_id}.xml").write_text(bbox_xml(image_id, 80, 64, boxes))
        rows += [f"{image_id},{b[0]},{b[1]},{b[2]},{b[3]},0.9" for b in boxes]
        mask = np.zeros((64, 80), np.uint8)
        mask[:16] = 255  # half the true sky: IoU 0.5 on each frame
        (pred / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png").write_bytes(encode_png(mask))
    (pred / "detections.csv").write_text("\n".join(rows) + "\n")


def test_refresh_command_writes_the_figures_of_the_prediction_folder(weights, tmp_path):
    root, pred = tmp_path / "gt", tmp_path / "pred"
    _dataset(root, pred)
    before = hashlib.sha256(tensor_bytes(weights)).hexdigest()
    proc = subprocess.run([sys.executable, "-m", "model.model_card", "--refresh", str(weights), "--pred", str(pred),
                           "--data", str(root), "--split", "val"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    meta = read_metadata(weights)
    val = json.loads(meta["val"])
    # by centre: the 2-px shift still finds its 3x3 target, so 2 of 3 found, 1 false alarm over 2 frames
    assert val["pd"] == pytest.approx(2 / 3, abs=1e-4) and val["fa_per_image"] == pytest.approx(0.5)
    # by IoU >= 0.5 (legacy widths: 4x4 boxes overlapping 2x4 -> 8 / 24): only the exact box counts
    assert val["pd_iou"] == pytest.approx(1 / 3, abs=1e-4) and val["fa_per_image_iou"] == pytest.approx(1.0)
    assert val["sky_iou"] == pytest.approx(0.5) and val["sky_median"] == pytest.approx(0.5)
    assert val["rings"] == pytest.approx(1.0) and val["threshold"] == 0.4 and val["images"] == 2
    assert "sky_val" not in meta and "main.py evaluate" in meta["val_source"]
    assert json.loads(meta["config"])["operating_threshold"] == 0.4
    assert hashlib.sha256(tensor_bytes(weights)).hexdigest() == before


def test_the_rescorer_note_reads_the_header_alone(tmp_path):
    """``header_metadata`` against the safetensors library's own writer; ``rescorer_note`` for
    each thing a weights file can say about its rescorer (ADR 0042)."""
    import torch
    from safetensors.torch import save_file

    from model.card_meta import header_metadata, rescorer_note

    path = tmp_path / "w.safetensors"
    carry = {"carry": "parent", "rescore": [0.5] * 14, "two_fold": {"none": 2.25, "parent": 1.75, "refit": 1.8}}
    meta = {"config": json.dumps({"rescore": [0.5] * 14}), "rescore_carry": json.dumps(carry)}
    save_file({"w": torch.zeros(3)}, str(path), metadata=meta)
    assert header_metadata(path) == meta
    assert rescorer_note(meta) == ("Second look at scores (rescorer): the parent's, kept; target corrections "
                                   "per image, out of fold: none 2.25, parent 1.75, refit 1.80.")
    off = {**meta, "rescore_carry": json.dumps({**carry, "carry": "none", "rescore": []})}
    assert "off (the network's own scores did better" in rescorer_note(off)
    assert rescorer_note({"config": json.dumps({"rescore": [0.5] * 14})}) == "Second look at scores (rescorer): on."
    assert rescorer_note({"config": json.dumps({"rescore": []})}) == ""
    assert rescorer_note({"config": "{", "rescore_carry": "x"}) == ""
    (tmp_path / "bad").write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="not a safetensors file"):
        header_metadata(tmp_path / "bad")

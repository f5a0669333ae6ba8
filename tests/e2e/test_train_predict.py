"""train -> export -> predict -> evaluate through the CLI on a tiny synthetic DenseSIRST folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from app.cli import main as cli_main
from core.domain import ImageAnnotation, Target
from core.formats.densesirst import read_boxes, read_mask, read_points, write_sample, write_split

REPO = Path(__file__).resolve().parents[2]
TINY = ["--set", "fpn_channels=16", "--set", "gn_groups=4", "--set", "tower_convs=1", "--set", "adapter_hidden=8"]
EVENT_KEYS = {
    "start": {"run_dir", "epochs", "steps_per_epoch", "resumed_from_epoch"},
    "step": {"epoch", "step", "steps", "losses", "lr", "elapsed_s", "eta_s"},
    "epoch": {"epoch", "losses", "val", "best", "elapsed_s", "eta_s"},
    "checkpoint": {"path", "epoch", "best"},
    "done": {"best_weights", "val", "elapsed_s"},
}


def _image(rng: np.random.Generator, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    img = rng.normal(50, 3, (80, 96)).clip(0, 255)
    img[40:] += 60
    for x0, y0, x1, y1 in boxes:
        img[y0:y1, x0:x1] = 240
    return img.astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dense")
    rng = np.random.default_rng(0)
    ids = [f"img_{i}" for i in range(6)]
    for i, image_id in enumerate(ids):
        boxes = [(10 + 25 * k + i, 8 + 5 * k, 13 + 25 * k + i, 11 + 5 * k) for k in range(3)]
        sky = np.zeros((80, 96), bool)
        sky[:40] = True
        targets = [Target(point=(b[0] + 1, b[1] + 1), box=b) for b in boxes]
        write_sample(root, image_id, _image(rng, boxes), ImageAnnotation(targets=targets, sky=sky), 96, 80)
    write_split(root, "train", ids[:4])
    write_split(root, "val", ids[4:])
    return root


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory) -> tuple[Path, list[dict]]:
    run_dir = tmp_path_factory.mktemp("run")
    cmd = [sys.executable, str(REPO / "main.py"), "train", "--data", str(dataset), "--train-split", "train",
           "--val-split", "val", "--out", str(run_dir), "--epochs", "1", "--batch", "2", "--crop", "64",
           "--threads", "1", "--bagcp-prob", "0", "--events-jsonl", *TINY]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    return run_dir, events


def test_train_cli_emits_contract_events(trained):
    run_dir, events = trained
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "epoch" in kinds
    assert kinds.count("step") == 2  # 4 images, batch 2
    for e in events:
        assert EVENT_KEYS[e["event"]] <= set(e), e
    epoch = next(e for e in events if e["event"] == "epoch")
    assert set(epoch["val"]) >= {"mAP07", "mAP12", "recall", "sky_iou", "pd", "fa_per_image"}
    assert set(epoch["losses"]) == {"cls", "box", "ctr", "sky", "total"}
    assert Path(events[-1]["best_weights"]) == run_dir / "best.safetensors"
    assert (run_dir / "last.pt").is_file()
    logged = (run_dir / "events.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in logged] == events


def test_export_then_predict_files_parse_back(trained, dataset, tmp_path, capsys):
    run_dir, _ = trained
    weights = tmp_path / "model.safetensors"
    assert cli_main(["train", "--export", str(run_dir), str(weights)]) == 0
    images = tmp_path / "images"
    images.mkdir()
    for name in ("img_4", "img_5"):
        (images / f"{name}.png").write_bytes((dataset / "PNGImages" / f"{name}.png").read_bytes())
    colour16 = (np.random.default_rng(1).random((50, 70, 3)) * 4000).astype(np.uint16)
    tifffile.imwrite(images / "deep.tif", colour16)
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "pred"
    code = cli_main(["predict", str(images), str(out), "--weights", str(weights), "--score-thr", "0.0",
                     "--operating-thr", "0.0", "--threads", "1"])
    assert code == 1  # broken.png skipped and reported
    assert "broken" in capsys.readouterr().err
    for name, (w, h) in (("img_4", (96, 80)), ("deep", (70, 50))):
        boxes = read_boxes(out / "SIRST" / "BBox" / f"{name}.xml", w, h)
        points = read_points(out / "SIRST" / "Point_label" / f"{name}_pixels0.txt")
        sky = read_mask(out / "SkySeg" / "BinaryMask" / f"{name}_pixels0.png", w, h)
        assert len(boxes) == len(points) > 0 and sky.shape == (h, w)
        assert all(float(b).is_integer() for box in boxes for b in box)
    lines = (out / "detections.csv").read_text().splitlines()
    assert lines[0] == "image_id,xmin,ymin,xmax,ymax,score"
    assert {row.split(",")[0] for row in lines[1:]} == {"img_4", "img_5", "deep"}


def _write_prediction(pred: Path, dataset: Path, rows: list[str], kept: dict[str, list], sky_rows: int) -> None:
    from core.formats._io import atomic_write_text
    from core.formats.densesirst import bbox_xml
    from core.imageio import encode_png

    atomic_write_text(pred / "detections.csv", "\n".join(["image_id,xmin,ymin,xmax,ymax,score", *rows]) + "\n")
    for image_id, boxes in kept.items():
        atomic_write_text(pred / "SIRST" / "BBox" / f"{image_id}.xml", bbox_xml(image_id, 96, 80, boxes))
        sky = np.zeros((80, 96), np.uint8)
        sky[:sky_rows] = 255
        (pred / "SkySeg" / "BinaryMask").mkdir(parents=True, exist_ok=True)
        (pred / "SkySeg" / "BinaryMask" / f"{image_id}_pixels0.png").write_bytes(encode_png(sky))


def test_evaluate_matches_hand_computation(dataset, tmp_path, capsys):
    # val images img_4, img_5 have 3 targets each: boxes (10+25k+i, 8+5k, 13+25k+i, 11+5k)
    gt4 = [(14 + 25 * k, 8 + 5 * k, 17 + 25 * k, 11 + 5 * k) for k in range(3)]
    gt5 = [(15 + 25 * k, 8 + 5 * k, 18 + 25 * k, 11 + 5 * k) for k in range(3)]
    rows = [f"img_4,{b[0]},{b[1]},{b[2]},{b[3]},0.9" for b in gt4[:2]]  # two hits at 0.9
    rows.append("img_4,60,60,63,63,0.8")  # a false alarm at 0.8
    rows.append(f"img_5,{gt5[0][0] + 1},{gt5[0][1]},{gt5[0][2] + 1},{gt5[0][3]},0.7")  # shifted 1 px
    pred = tmp_path / "pred"
    _write_prediction(pred, dataset, rows, {"img_4": [gt4[0], (60, 60, 63, 63)], "img_5": []}, sky_rows=30)
    assert cli_main(["evaluate", str(dataset), "val", str(pred), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    # legacy widths: the 1-px shift of a 3x3 box gives IoU 12/20 = 0.6 -> a hit; plain: 6/12 = 0.5 -> a hit
    # ranked TP, TP, FP, TP over 6 targets: recall 3/6; precision 1, 1, 2/3, 3/4
    assert res["recall"] == pytest.approx(0.5) and res["recall_plain"] == pytest.approx(0.5)
    # 11-point: r in {0, .1, .2, .3} -> 1; {.4, .5} -> 3/4; above -> 0  => (4 + 1.5) / 11
    assert res["mAP07"] == pytest.approx(5.5 / 11)
    # area: 1 * 2/6 + 3/4 * 1/6
    assert res["mAP12"] == pytest.approx(2 / 6 + 0.75 / 6)
    # kept at the operating threshold: one hit of 6, one false alarm over 2 images (by centre and by IoU)
    assert res["pd"] == pytest.approx(1 / 6) and res["fa_per_image"] == pytest.approx(0.5)
    assert res["pd_iou"] == pytest.approx(1 / 6) and res["fa_per_image_iou"] == pytest.approx(0.5)
    assert res["sky_iou"] == pytest.approx(30 / 40)
    assert res["sky_median"] == pytest.approx(30 / 40) and res["sky_large"] is None  # no 1280x1024 frame
    assert cli_main(["evaluate", str(dataset), "val", str(tmp_path / "nowhere")]) == 2

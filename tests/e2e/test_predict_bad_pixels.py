"""`predict` writes where it repaired sensor pixels: OUT/bad_pixels.csv (image_id,x,y), checked
against the defects injected into 16-bit frames; header only with --no-bad-pixel-filter."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from app.cli import main as cli_main
from core.badpixels import inject_bad_pixels
from model.checkpoint import save_weights
from model.config import preset
from model.net import BafeNet


def _frames(folder: Path) -> dict[str, set[tuple[int, int]]]:
    folder.mkdir()
    truth = {}
    for k, name in enumerate(("f1", "f2")):
        rng = np.random.default_rng(k)
        clean = (3000 + rng.normal(0, 15, (64, 80))).astype(np.uint16)
        bad, coords = inject_bad_pixels(clean, 12 / clean.size, rng, hot=16383, dead=0)
        assert cv2.imwrite(str(folder / f"{name}.png"), bad)
        truth[name] = {(int(x), int(y)) for x, y in coords}
    return truth


def test_bad_pixels_csv_lists_the_injected_defects(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    cfg = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)
    weights = tmp_path / "w.safetensors"
    save_weights(weights, BafeNet(cfg).eval(), cfg, "default", sky_threshold=0.5)
    truth = _frames(tmp_path / "imgs")
    out = tmp_path / "out"
    args = ["predict", str(tmp_path / "imgs"), str(out), "--weights", str(weights), "--backend", "torch",
            "--threads", "1"]
    assert cli_main(args) == 0
    rows = (out / "bad_pixels.csv").read_text().splitlines()
    assert rows[0] == "image_id,x,y"
    got: dict[str, set[tuple[int, int]]] = {}
    for row in rows[1:]:
        name, x, y = row.split(",")
        got.setdefault(name, set()).add((int(x), int(y)))
    assert got == truth and len(rows) == 1 + 24
    assert "12 bad pixels repaired" in capsys.readouterr().err
    assert cli_main([*args, "--no-bad-pixel-filter"]) == 0  # same folder: the old rows must go
    assert (out / "bad_pixels.csv").read_text() == "image_id,x,y\n"

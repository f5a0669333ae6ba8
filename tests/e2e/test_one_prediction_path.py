"""One prediction path (docs/adr/0021): training validation, train-sky's validation and the int8
gate give exactly the figures of `main.py predict` + `main.py evaluate` on the same frames.

Truth: the files `predict` writes (a separate process, the torch backend), scored by `evaluate`
(another process). The in-process side is model.validate.validate on the shipped network held in
memory, as the training loop holds its own; the weights `predict` runs are those validation
chose thresholds for, saved as training saves its best weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests._support.cli import cli
from tests._support.finetune import mini_root, small_frames

# Four small frames of val_v2, one 640x512 and one 1280x1024 (the sky_large figure).
LARGER = ["S7_60", "iraytek-262"]
SPLIT = "mini"
DETECTION = ("mAP07", "mAP12", "recall", "pd", "fa_per_image", "pd_iou", "fa_per_image_iou")
SKY = ("sky_iou", "sky_median", "sky_large")


@pytest.fixture(scope="module")
def shipped():
    from model.inference import default_weights_path
    from model.net import build_from_weights

    return build_from_weights(default_weights_path())


@pytest.fixture(scope="module")
def frames(densesirst_root, tmp_path_factory) -> Path:
    ids = small_frames(densesirst_root, "val_v2", 4) + LARGER
    return mini_root(tmp_path_factory.mktemp("mini"), densesirst_root, {SPLIT: ids})


@pytest.fixture(scope="module")
def validated(shipped, frames) -> dict:
    from model.data import load_densesirst
    from model.validate import validate

    net, cfg, meta = shipped
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as `predict --threads 1`: the same arithmetic order in the convolutions
    try:
        # crop training keeps the parent's sky threshold (its sky network does not move): validation
        # runs the sky at it, as training's validation does (model.train.DetectorTask.evaluate)
        return validate(net, cfg, load_densesirst(frames, SPLIT), sky_threshold=float(meta["sky_threshold"]))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def evaluated(shipped, frames, validated, tmp_path_factory) -> tuple[dict, Path]:
    """`predict` (torch backend) with the weights as training would save them, then `evaluate`."""
    from core.formats.densesirst import read_split
    from model.checkpoint import save_weights

    net, cfg, meta = shipped
    work = tmp_path_factory.mktemp("predict")
    weights = work / "best.safetensors"
    # the shipped file has a rescorer: validation chose what goes with these weights (ADR 0042)
    save_weights(weights, net, cfg, meta.get("preset", "default"), rescore=validated["rescorer"]["rescore"],
                 operating_threshold=str(validated["threshold"]),
                 sky_threshold=str(validated["sky_threshold"]))
    images = work / "images"
    images.mkdir()
    for image_id in read_split(frames, SPLIT):
        (images / f"{image_id}.png").symlink_to(frames / "PNGImages" / f"{image_id}.png")
    pred = work / "pred"
    r = cli("predict", images, pred, "--weights", weights, "--backend", "torch", "--threads", "1", timeout=600)
    assert r.returncode == 0, r.stderr
    r = cli("evaluate", frames, SPLIT, pred, "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), weights


def test_training_validation_gives_the_figures_of_predict_and_evaluate(validated, evaluated):
    ev, _ = evaluated
    assert ev["images"] == 6 and ev["targets"] > 0 and ev["sky_large"] is not None  # the set covers every figure
    assert 0.0 < ev["mAP07"] < 1.0 and 0.0 < ev["pd"] < 1.0 and ev["fa_per_image"] > 0  # not a degenerate case
    for key in DETECTION + SKY:
        assert validated[key] == ev[key], key  # exactly: one path, not "close"


def test_sky_network_validation_gives_the_sky_of_predict_and_evaluate(shipped, frames, validated, evaluated):
    """train-sky validates the sky network alone (predict_sky): at the threshold the weights carry,
    the same sky and figures."""
    from model.data import load_densesirst
    from model.validate import validate_sky

    net, cfg, _ = shipped
    assert net.sky_net is not None  # the shipped model has its whole-frame sky network
    ev, _ = evaluated
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sky = validate_sky(net.sky_net, cfg, load_densesirst(frames, SPLIT), sky_threshold=validated["sky_threshold"])
    finally:
        torch.set_num_threads(threads)
    assert sky["sky_threshold"] == validated["sky_threshold"]
    for key in SKY:
        assert sky[key] == ev[key], key


def test_int8_gate_figures_are_those_of_evaluate(frames, evaluated):
    """The gate's scoring (model.int8_gate.evaluate) on the Predictor users load, torch backend."""
    from model.inference import Predictor
    from model.int8_gate import evaluate, load_split

    ev, weights = evaluated
    figures = evaluate(Predictor(weights, threads=1, backend="torch"), load_split(frames, SPLIT))
    assert (figures.map07, figures.sky_iou, figures.fa_per_image, figures.images) == (
        ev["mAP07"], ev["sky_iou"], ev["fa_per_image"], ev["images"])

"""Issue 11 item 11 (argument side) and item 5 (train): nonsense arguments and incomplete resume
checkpoints get a clear error and exit 2 before anything is written (real CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support.cli import assert_clean, cli_here, tiny_densesirst


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train") / "SIRSTdevkit"
    tiny_densesirst(root, n=3)
    return root


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--batch", "0"], "--batch = 0 is out of range"),
        (["--batch", "-2"], "--batch = -2"),
        (["--epochs", "0"], "--epochs = 0"),
        (["--time-budget-min", "-1"], "--time-budget-min = -1.0"),
        (["--target-bias", "5"], "--target-bias = 5.0"),
        (["--bagcp-prob", "2"], "--bagcp-prob = 2.0"),
        (["--crop", "100000"], "--crop = 100000"),
        (["--lr", "nan"], "not a finite number"),
        (["--threads", "-3"], "--threads = -3"),
        (["--set", "bogus=1"], "--set bogus: no such config field"),
        (["--set", "fpn_channels=-1"], "--set fpn_channels = -1"),
        (["--set", "fpn_channels=200000"], "--set fpn_channels = 200000"),
        (["--set", "fpn_channels=\"abc\""], "expected a number"),
        (["--set", "p=5"], "must be in (0, 1]"),
        (["--set", "gn_groups=7"], "multiple of gn_groups"),
        (["--set", "seg_head=3"], "expected true or false"),
        (["--set", "nothing"], "use KEY=VALUE"),
        # options merged from issues 12 and 14
        (["--whole-frames", "-1"], "--whole-frames = -1 is out of range"),
        (["--whole-long-side", "8"], "--whole-long-side = 8 is out of range"),
        (["--warmup-steps", "-3"], "--warmup-steps = -3 is out of range"),
        (["--nproc", "0"], "--nproc = 0 is out of range"),
        (["--set", "sky_pass_long_side=-5"], "--set sky_pass_long_side = -5"),
        (["--set", "sky_min_area=2"], "--set sky_min_area = 2"),
    ],
)
def test_nonsense_arguments_exit_2_before_writing(data: Path, tmp_path: Path, extra, words) -> None:
    out = tmp_path / "run"
    result = cli_here("train", "--data", data, "--train-split", "train", "--val-split", "val",
                 "--out", out, *extra)  # fmt: skip
    assert_clean(result)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert not out.exists()


def test_resume_from_an_incomplete_checkpoint_is_refused(data: Path, tmp_path: Path) -> None:
    import torch

    from model.config import preset

    out = tmp_path / "run"
    out.mkdir()
    cfg = preset("default")
    torch.save({"model": {}, "config": cfg.to_json()}, out / "last.pt")
    args = ["train", "--data", data, "--train-split", "train", "--val-split", "val", "--out", out,
            "--resume"]  # fmt: skip
    result = cli_here(*args)
    assert_clean(result)
    assert result.returncode == 2 and "lacks optim, progress" in result.stderr
    torch.save({"model": {"w": torch.zeros(2)}, "optim": {}, "config": cfg.to_json(),
                "progress": {}}, out / "last.pt")  # fmt: skip
    result = cli_here(*args)
    assert_clean(result)
    assert result.returncode == 2 and "does not fit its own config" in result.stderr
    (out / "last.pt").write_bytes(b"PK\x03\x04 not a zip")
    result = cli_here(*args)
    assert_clean(result)
    assert result.returncode == 2 and "truncated or corrupt" in result.stderr


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--set", "fpn_channels=8"], "changes the network's tensors"),
        (["--set", "bogus=1"], "--set bogus: no such config field"),
        (["--sky-threshold", "1.5"], "--sky-threshold 1.5 is not in [0, 1]"),
    ],
)
def test_export_with_overrides_that_do_not_fit_exits_2_without_writing(tmp_path: Path, extra, words) -> None:
    from model.checkpoint import save_weights
    from model.config import preset
    from model.net import BafeNet

    cfg = preset("default", fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)
    save_weights(tmp_path / "a.safetensors", BafeNet(cfg), cfg, "default")
    dest = tmp_path / "b.safetensors"
    result = cli_here("train", "--export", tmp_path / "a.safetensors", dest, *extra)
    assert_clean(result)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert not dest.exists()

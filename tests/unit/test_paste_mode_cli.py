"""`train --paste` reaches the crop sampler; `load_densesirst(every=N)` / `model.validate --every N`."""

from __future__ import annotations

import pytest

from model.data import PasteMode
from tests._support.cli import tiny_densesirst

TINY = ["--set", "fpn_channels=16", "--set", "gn_groups=4", "--set", "tower_convs=1", "--set", "adapter_hidden=8"]


def _train_args(root, out, *extra: str) -> list[str]:
    return ["train", "--data", str(root), "--train-split", "train", "--val-split", "none", "--out", str(out),
            "--epochs", "1", "--batch", "2", "--crop", "32", "--threads", "1", *TINY, *extra]


@pytest.mark.parametrize(("flag", "mode"), [([], PasteMode.BAGCP), (["--paste", "plain"], PasteMode.PLAIN),
                                            (["--paste", "off"], PasteMode.OFF)])
def test_train_cli_hands_the_paste_mode_to_the_augmenter(tmp_path, monkeypatch, flag, mode):
    import model.data
    from app.cli import main as cli_main

    tiny_densesirst(tmp_path / "ds", n=3)
    seen = []
    real = model.data.try_bagcp

    def spy(samples, prob, paste=PasteMode.BAGCP):
        seen.append((prob, paste))
        return real(samples, prob, paste)

    monkeypatch.setattr(model.data, "try_bagcp", spy)
    assert cli_main(_train_args(tmp_path / "ds", tmp_path / "run", *flag)) == 0
    assert seen == [(0.5, mode)]
    assert (tmp_path / "run" / "best.safetensors").is_file()


def test_train_cli_rejects_an_unknown_paste_mode(tmp_path, capsys):
    from app.cli import main as cli_main

    tiny_densesirst(tmp_path / "ds", n=3)
    with pytest.raises(SystemExit) as exc:
        cli_main(_train_args(tmp_path / "ds", tmp_path / "run", "--paste", "mixup"))
    assert exc.value.code == 2 and "mixup" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_load_densesirst_every_takes_every_nth_image_in_split_order(tmp_path):
    from model.data import load_densesirst

    ids = tiny_densesirst(tmp_path, n=6)  # train = ids[:5]
    assert [s.name for s in load_densesirst(tmp_path, "train", every=2)] == [ids[0], ids[2], ids[4]]
    assert [s.name for s in load_densesirst(tmp_path, "train")] == ids[:5]


def test_validate_cli_rejects_every_below_one(tmp_path, capsys):
    from model.validate import main

    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path / "w.safetensors"), "--data", str(tmp_path), "--every", "0"])
    assert exc.value.code == 2 and "--every 0" in capsys.readouterr().err

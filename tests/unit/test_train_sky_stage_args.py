"""`main.py train`'s sky-stage flags (app/cli/train_sky_stage.py, ADR 0031): the default share, the
budget split and the refusals, on the parsed arguments (no training)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.cli import train_sky_stage as stage


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--time-budget-min", type=float)
    p.add_argument("--init-weights", type=Path)
    p.add_argument("--from-active", action="store_true")
    p.add_argument("--resume", action="store_true")
    stage.add_arguments(p)
    return p.parse_args(argv)


def test_from_active_with_a_budget_gives_the_sky_network_its_default_share():
    args = _args(["--from-active", "--time-budget-min", "10", "--init-weights", "w.safetensors"])
    assert stage.problem(args) is None and args.sky_share == 0.3 and stage.wanted(args)
    assert stage.detector_budget(args) == pytest.approx(7.0)  # 70 % of 10 min by hand


@pytest.mark.parametrize("argv", [
    ["--from-active", "--init-weights", "w.safetensors"],  # no budget: by epochs, no sky stage unless asked
    ["--init-weights", "w.safetensors", "--time-budget-min", "5"],  # explicit weights: opt in
    ["--from-active", "--init-weights", "w.safetensors", "--time-budget-min", "5", "--sky-share", "0"],  # off
])  # fmt: skip
def test_no_sky_stage_unless_asked_or_defaulted(argv):
    args = _args(argv)
    assert stage.problem(args) is None and not stage.wanted(args)
    assert stage.detector_budget(args) == args.time_budget_min


@pytest.mark.parametrize(("argv", "message"), [
    (["--sky-share", "0.95", "--time-budget-min", "5", "--init-weights", "w"], "must be in 0 .. 0.9"),
    (["--sky-share", "nan", "--time-budget-min", "5", "--init-weights", "w"], "must be in 0 .. 0.9"),
    (["--sky-steps", "-1", "--init-weights", "w"], "must be 0 or more"),
    (["--sky-share", "0.5", "--init-weights", "w"], "give a budget"),
    (["--sky-steps", "4"], "starting weights"),
])  # fmt: skip
def test_refusals(argv, message):
    assert message in stage.problem(_args(argv))


def test_a_resume_needs_no_starting_weights():
    assert stage.problem(_args(["--sky-steps", "4", "--resume"])) is None

"""A fine-tune from the active model replays the project's other reviewed images and gives the newly
corrected ones a fixed share of every batch (ADR 0034): the Training dock's command carries it, and
the train CLI picks the new images from project.sqlite's review times."""

from __future__ import annotations

import argparse
import os
import sqlite3
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.cli import train_replay
from core.domain import ModelVersion
from core.services.training_data import reviewed_since
from tests._support.training_commands import capture_commands, flag, training_dock

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 30_000


@pytest.fixture
def setup(qtbot, tmp_path):
    with training_dock(qtbot, tmp_path, images=4, train=3) as (window, panel, project):
        yield window, panel, project, tmp_path


def test_the_docks_fine_tune_marks_the_new_images_and_their_share(qtbot, setup):
    window, panel, project, tmp_path = setup
    seen = capture_commands(panel)
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    args = seen[-1]
    # the shipped model is active: every image a person reviewed in the app is new; half of each batch
    assert flag(args, "--new-since") == "ever" and flag(args, "--new-share") == "0.5"
    assert "--keep-bn-stats" in args  # the parent's BatchNorm statistics are kept (MODEL.md, D)

    weights = tmp_path / "mine.safetensors"
    weights.write_bytes(b"weights of an earlier run")
    made = "2026-01-01T10:00:00+00:00"
    mv = project.add_model_version(ModelVersion(None, "run-a", str(weights), made, {}, "default"))
    project.set_active_model(mv.id)
    panel.refresh_versions()
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    assert flag(seen[-1], "--new-since") == made  # reviewed after the parent version was made

    panel.from_scratch.setChecked(True)
    assert panel.start_training()
    qtbot.waitUntil(lambda: not panel.process.is_running(), timeout=WAIT_MS)
    assert "--new-since" not in seen[-1] and "--new-share" not in seen[-1] and "--keep-bn-stats" not in seen[-1]


def _review_times(root: Path, times: dict[str, str | None]) -> None:
    with sqlite3.connect(root / "project.sqlite") as db:
        for name, at in times.items():
            db.execute("UPDATE images SET reviewed_at = ? WHERE name = ?", (at, name))


def test_new_images_are_those_reviewed_after_the_parent(setup):
    _window, _panel, project, _tmp = setup
    names = [i.name for i in project.list_images()]
    root = Path(project.root)
    project.close()
    # image 0 came reviewed (imported: no review time), 1 was reviewed before the parent, 2 after
    # it (milliseconds, as the store writes them), 3 before it in another time zone's notation
    # (09:30 UTC; as text it sorts after 10:00)
    _review_times(root, {names[0]: None, names[1]: "2026-01-01T09:59:59.999+00:00",
                         names[2]: "2026-01-01T10:00:00.001+00:00", names[3]: "2026-01-01T10:30:00+01:00"})
    assert reviewed_since(root, "2026-01-01T10:00:00+00:00") == sorted([names[2]])
    assert reviewed_since(root, None) == sorted(names[1:])

    args = argparse.Namespace(project=root, data=None, new_split=None, new_since="2026-01-01T10:00:00+00:00",
                              new_share=None, l2sp=None, sky_l2sp=None, sky_lr=None, keep_bn_stats=None, sky_keep_bn_stats=None, init_weights=Path("w"),
                              resume=False, from_active=False)  # fmt: skip
    assert train_replay.problem(args) is None and args.new_share == 0.5 and args.keep_bn_stats is True
    assert train_replay.new_indices(args, names) == (2,)
    args.new_since = "ever"  # every image reviewed in the app: 1, 2, 3 of 0..3
    assert train_replay.new_indices(args, names) == (1, 2, 3)
    assert train_replay.new_indices(args, names[1:]) == ()  # all of them new: nothing to mix with


@pytest.mark.parametrize(("change", "message"), [
    ({"new_since": "yesterday"}, "ISO 8601"),
    ({"new_since": "ever", "project": None}, "needs --project"),
    ({"new_split": "fam", "new_since": "ever"}, "either --new-split or --new-since"),
    ({"new_share": 1.5}, "--new-share 1.5 must be in 0 .. 1"),
    ({"sky_l2sp": -1.0}, "--sky-l2sp -1.0"),
    ({"l2sp": 0.01, "init_weights": None}, "pull toward the starting weights"),
    ({"sky_lr": 0.0}, "--sky-lr 0.0"),
])  # fmt: skip
def test_bad_replay_arguments_are_named(change, message, tmp_path):
    args = argparse.Namespace(project=tmp_path, data=None, new_split=None, new_since=None, new_share=None, l2sp=None,
                              sky_l2sp=None, sky_lr=None, keep_bn_stats=None, sky_keep_bn_stats=None, init_weights=Path("w"), resume=False, from_active=False)
    vars(args).update(change)
    assert message in (train_replay.problem(args) or "")


def test_defaults_without_new_images_change_nothing(tmp_path):
    args = argparse.Namespace(project=None, data=tmp_path, new_split=None, new_since=None, new_share=None, l2sp=None,
                              sky_l2sp=None, sky_lr=None, keep_bn_stats=None, sky_keep_bn_stats=None, init_weights=None, resume=False, from_active=False)
    assert train_replay.problem(args) is None
    assert (args.new_share, args.l2sp, args.sky_l2sp, args.keep_bn_stats) == (0.0, 0.0, 0.0, False)
    assert args.sky_keep_bn_stats is False
    assert train_replay.new_indices(args, ["a", "b"]) == ()


def test_the_sky_stage_follows_keep_bn_stats_unless_told(tmp_path):
    def resolved(**change):
        args = argparse.Namespace(project=tmp_path, data=None, new_split=None, new_since="ever", new_share=None,
                                  l2sp=None, sky_l2sp=None, sky_lr=None, keep_bn_stats=None, sky_keep_bn_stats=None,
                                  init_weights=Path("w"), resume=False, from_active=False)
        vars(args).update(change)
        assert train_replay.problem(args) is None
        return args.keep_bn_stats, args.sky_keep_bn_stats

    assert resolved() == (True, True)  # new images marked: both kept
    assert resolved(sky_keep_bn_stats=False) == (True, False)
    assert resolved(keep_bn_stats=False) == (False, False)

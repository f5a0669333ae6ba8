"""Training dock with a fake train process: plot, model registration, failures, stop / resume."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app import training_panel
from app.train_process import (
    TrainOptions,
    TrainProcess,
    find_resumable_run,
    last_event,
    new_run_dir,
    train_command,
)
from core.domain import ReviewStatus, Split
from core.store.project import Project
from tests._support.labels import set_split, set_status
from tests.gui.test_preannotate_support import (
    FakeWindow,
    fake_train_builder,
    make_project,
    write_fake_train_script,
)

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 30_000


def _review(project, ids, split):
    for i in ids:
        set_split(project, i, split)
        set_status(project, i, ReviewStatus.REVIEWED)


@pytest.fixture
def setup(qtbot, tmp_path):
    project, ids = make_project(tmp_path, 3)
    _review(project, ids[:2], Split.TRAIN)
    _review(project, ids[2:], Split.VAL)
    window = FakeWindow(project)
    qtbot.addWidget(window)
    training_panel.install(window)
    panel = window.dock_widget(training_panel.DOCK_NAME)
    script = write_fake_train_script(tmp_path)
    yield window, panel, script, project
    panel.process.shutdown(2000)
    project.close()


def _run(qtbot, panel, script, mode, resume=False):
    panel.command_builder = fake_train_builder(script, mode)
    with qtbot.waitSignal(panel.process.process_exited, timeout=WAIT_MS) as blocker:
        assert (panel.resume_training() if resume else panel.start_training()) is True
    return blocker.args[0]


def test_train_command_has_the_cli_flags(tmp_path):
    run_dir = new_run_dir(tmp_path, datetime(2024, 5, 1, 12, 0, 0))
    assert run_dir == tmp_path / "models" / "runs" / "20240501-120000"
    run_dir.mkdir(parents=True)
    assert new_run_dir(tmp_path, datetime(2024, 5, 1, 12, 0, 0)).name == "20240501-120000-2"
    args = train_command(tmp_path, run_dir, TrainOptions(epochs=3, bagcp_prob=0.5, resume=True))
    assert args[0].endswith("main.py") and args[1] == "train"
    joined = " ".join(args)
    for flag in ("--events-jsonl", "--reviewed-only", "--resume", "--bagcp-prob 0.5", "--epochs 3"):
        assert flag in joined
    assert f"--project {tmp_path}" in joined and f"--out {run_dir}" in joined
    no_bag = train_command(tmp_path, run_dir, TrainOptions(bagcp_prob=None))
    assert "--bagcp-prob" not in no_bag and "--resume" not in no_bag


def test_menu_actions_are_installed(setup):
    window, panel, _, _ = setup
    actions = window.menu_actions("&Model")
    assert {"Train a New Model", "Stop Training", "Resume Training"} <= set(actions)
    assert actions["Train a New Model"].shortcut().toString() == "Ctrl+Shift+T"
    assert panel.stop_button.isEnabled() is False and panel.train_button.isEnabled()


def test_done_run_plots_and_registers_a_version(qtbot, setup):
    window, panel, script, project = setup
    with qtbot.waitSignal(panel.version_registered, timeout=WAIT_MS) as reg:
        code = _run(qtbot, panel, script, "ok")
    assert code == 0
    # 6 steps + the step event that arrived split over two writes
    assert len(panel.plot.loss_points("total")) == 7
    assert [x for x, _ in panel.plot.metric_points("mAP07")] == [1.0, 2.0]
    assert "fa_per_image" not in panel.plot.series_names()[1]  # not on the 0..1 axis
    versions = project.list_model_versions()
    assert len(versions) == 1 and reg.args[0].id == versions[0].id
    mv = versions[0]
    assert project.resolve_path(mv) == panel.run_dir / "best.safetensors"
    assert mv.metrics["mAP07"] == pytest.approx(0.2) and mv.preset == "default"
    assert panel.run_dir.parent == project.models_dir / "runs"
    assert project.active_model() is None  # the user picks; nothing switches behind their back
    assert "Second look at scores (rescorer): refitted on the validation images" in panel.status.text()
    assert "none 2.50, parent 2.00, refit 1.50" in panel.status.text()
    assert panel.versions.count() == 2 and panel.versions.currentIndex() == 0
    assert panel.progress.value() == panel.progress.maximum() == 6
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()
    assert "a stray log line" in panel.process.stderr_text()


def test_picking_a_version_sets_the_active_model(qtbot, setup):
    window, panel, script, project = setup
    _run(qtbot, panel, script, "ok")
    with qtbot.waitSignal(panel.active_model_changed) as changed:
        panel.versions.setCurrentIndex(1)
    assert project.active_model() is not None and changed.args[0].id == project.active_model().id
    panel.versions.setCurrentIndex(0)
    assert project.active_model() is None
    # The pick survives a reload (the combo reads the project).
    panel.versions.setCurrentIndex(1)
    window.open_project(project)
    assert panel.versions.currentIndex() == 1


def test_error_event_is_shown_and_project_stays_usable(qtbot, setup, tmp_path):
    window, panel, script, project = setup
    with qtbot.waitSignal(panel.process.training_failed, timeout=WAIT_MS) as failed:
        _run(qtbot, panel, script, "error")
    assert failed.args[0] == "no reviewed images with labels in this project"
    assert "loading images..." in failed.args[1]
    assert panel.error_box.isVisibleTo(panel)
    assert "no reviewed images" in panel.error_box.toPlainText()
    assert "no reviewed images" in panel.status.text()
    assert panel.train_button.isEnabled()
    assert project.list_model_versions() == []
    with Project.open(project.root) as again:
        assert len(again.list_images()) == 3


def test_crash_without_error_event_shows_stderr(qtbot, setup):
    _, panel, script, _ = setup
    with qtbot.waitSignal(panel.process.training_failed, timeout=WAIT_MS) as failed:
        code = _run(qtbot, panel, script, "crash")
    assert code == 4
    assert failed.args[0] == "training exited with code 4: MemoryError: out of memory"
    assert "Traceback" in panel.error_box.toPlainText()
    assert not panel.resume_button.isEnabled()  # no checkpoint was ever saved


def test_stop_saves_and_resume_continues_the_same_run(qtbot, setup):
    _, panel, script, project = setup
    panel.command_builder = fake_train_builder(script, "sleep")
    with qtbot.waitSignal(panel.process.step_logged, timeout=WAIT_MS):
        panel.start_training()
    assert panel.stop_button.isEnabled()
    run_dir = panel.run_dir
    with qtbot.waitSignal(panel.process.training_stopped, timeout=WAIT_MS) as stopped:
        assert panel.stop_training() is True
    assert stopped.args[0] == 3
    assert panel.resume_button.isEnabled() and "Resume" in panel.status.text()
    points_before = len(panel.plot.loss_points("total"))
    with qtbot.waitSignal(panel.process.run_started, timeout=WAIT_MS) as started:
        _run(qtbot, panel, script, "ok", resume=True)
    assert started.args[0]["resumed_from_epoch"] == 1
    assert panel.run_dir == run_dir  # same folder, continued
    assert len(panel.plot.loss_points("total")) > points_before  # the plot continues
    assert len(project.list_model_versions()) == 1


def test_stop_kills_a_process_that_ignores_sigint(qtbot, tmp_path):
    script = write_fake_train_script(tmp_path)
    proc = TrainProcess(kill_timeout_ms=300)
    with qtbot.waitSignal(proc.run_started, timeout=WAIT_MS):
        proc.start([str(script), "stubborn", str(tmp_path / "run")])
    with qtbot.waitSignal(proc.training_stopped, timeout=WAIT_MS) as stopped:
        proc.stop()
    assert stopped.args[0] == -1 and not proc.is_running()
    assert proc.stop() is False


def test_process_that_cannot_start_is_reported(qtbot, tmp_path):
    proc = TrainProcess()
    with qtbot.waitSignal(proc.training_failed, timeout=WAIT_MS) as failed:
        proc.start([], program=str(tmp_path / "no-such-python"))
    assert "cannot start the training process" in failed.args[0]


def test_train_without_project_says_what_to_do(qtbot):
    window = FakeWindow(None)
    qtbot.addWidget(window)
    training_panel.install(window)
    panel = window.dock_widget(training_panel.DOCK_NAME)
    assert panel.start_training() is False and "Open a project" in panel.status.text()
    assert panel.resume_training() is False and "Nothing to resume" in panel.status.text()
    assert not panel.versions.isEnabled()


def test_python_is_this_interpreter():
    # The train process must run in the app's venv (torch lives there), not a PATH python.
    assert training_panel.default_command(Path("p"), Path("r"), TrainOptions())[0] == sys.executable


def test_plan_trains_on_the_device_torch_finds():
    """The dock's run picks its device as `train --device auto` does: the GPU when there is one."""
    import argparse

    from app.cli import train as train_cli

    args = training_panel.default_command(Path("p"), Path("r"), TrainOptions())[1]
    parser = argparse.ArgumentParser()
    train_cli.add_parser(parser.add_subparsers())
    assert parser.parse_args(args[1:]).device == "auto" and args[-2:] == ["--device", "auto"]


def test_plan_training_needs_reviewed_train_images(qtbot, tmp_path):
    project, ids = make_project(tmp_path, 3)
    flags, note = training_panel.plan_training(project)
    assert note.startswith("Cannot train") and "Image dock" in note
    window = FakeWindow(project)
    qtbot.addWidget(window)
    training_panel.install(window)
    panel = window.dock_widget(training_panel.DOCK_NAME)
    assert panel.start_training() is False and "no reviewed images in the train split" in (
        panel.status.text()
    )
    assert not panel.process.is_running()
    _review(project, ids[:1], Split.UNASSIGNED)
    assert "1 reviewed images are in other splits" in training_panel.plan_training(project)[1]
    _review(project, ids, Split.TRAIN)
    flags, note = training_panel.plan_training(project)
    assert flags == ("--val-split", "none") and "no validation" in note
    _review(project, ids[2:], Split.VAL)
    assert training_panel.plan_training(project) == (
        (),
        "2 reviewed train images, 1 reviewed val images.",
    )
    project.close()


def test_start_passes_the_dock_settings(qtbot, setup):
    _, panel, script, _ = setup
    seen = []
    fake = fake_train_builder(script, "ok")

    def builder(root, run_dir, opts):
        seen.append(opts)
        return fake(root, run_dir, opts)

    panel.command_builder = builder
    panel.epochs.setValue(7)
    panel.bagcp.setChecked(False)
    with qtbot.waitSignal(panel.process.process_exited, timeout=WAIT_MS):
        panel.start_training()
    opts = seen[0]
    assert opts.epochs == 7 and opts.bagcp_prob == 0.0 and opts.extra == () and not opts.resume
    assert "--bagcp-prob 0" in " ".join(train_command(Path("p"), Path("r"), opts))


def _fake_run(root, name, events, state=True, age=0.0):
    run_dir = Path(root) / "models" / "runs" / name
    run_dir.mkdir(parents=True)
    lines = [json.dumps({"event": e}) for e in events]
    (run_dir / "events.jsonl").write_text("\n".join(lines) + '\n{"event": "ste')  # cut by a kill
    if state:
        (run_dir / "last.pt").write_bytes(b"state")
        t = time.time() - age
        os.utime(run_dir / "last.pt", (t, t))
    return run_dir


def test_find_resumable_run_picks_the_newest_unfinished(tmp_path):
    assert find_resumable_run(tmp_path) is None
    _fake_run(tmp_path, "old", ["start", "checkpoint"], age=100)
    done = _fake_run(tmp_path, "done", ["start", "checkpoint", "done"], age=50)
    assert last_event(done) == "done"  # the cut last line is skipped
    assert find_resumable_run(tmp_path) is None  # the newest run finished
    new = _fake_run(tmp_path, "new", ["start", "step", "checkpoint"], age=10)
    _fake_run(tmp_path, "nostate", ["start"], state=False)
    assert find_resumable_run(tmp_path) == new


def test_unfinished_run_from_an_earlier_session_can_be_resumed(qtbot, setup):
    window, panel, script, project = setup
    run_dir = _fake_run(project.root, "20240101-000000", ["start", "checkpoint"])
    logged = [
        {"event": "start", "steps_per_epoch": 4, "epochs": 7},
        {"event": "step", "epoch": 1, "step": 2, "steps": 4, "losses": {"total": 3.0}},
        {"event": "epoch", "epoch": 1, "val": {"mAP07": 0.25}},
    ]
    with open(run_dir / "events.jsonl", "a") as f:
        f.write("".join("\n" + json.dumps(ev) for ev in logged) + "\n")
    window.open_project(project)
    assert panel.resume_button.isEnabled() and run_dir.name in panel.status.text()
    assert panel.plot.loss_points("total") == [(0.5, 3.0)]  # the earlier session's curves
    assert panel.plot.metric_points("mAP07") == [(1.0, 0.25)]
    seen = []
    fake = fake_train_builder(script, "ok")

    def builder(root, rd, opts):
        seen.append((rd, opts))
        return fake(root, rd, opts)

    panel.command_builder = builder
    with qtbot.waitSignal(panel.version_registered, timeout=WAIT_MS):
        assert panel.resume_training()
    assert seen[0][0] == run_dir and seen[0][1].resume
    # to the run's own 7 epochs, and no time budget of today's settings (it would end a resumed run)
    assert seen[0][1].epochs == 7 and seen[0][1].time_budget_min is None


def test_processes_spin_box_passes_nproc(setup):
    """The dock's Processes box becomes `train --nproc N` (model/distributed.py)."""
    window, panel, _script, project = setup
    assert "--nproc" not in train_command(project.root, project.root / "r", panel.options())
    panel.nproc.setValue(2)
    args = train_command(project.location, project.root / "r", panel.options())
    assert args[args.index("--nproc") + 1] == "2"
    assert args[args.index("--project") + 1] == str(project.root)


def test_copy_paste_kind_box_passes_paste(setup):
    """The dock's copy-paste box becomes `train --paste plain`; BAG-CP (the default) adds no flag."""
    _window, panel, _script, project = setup
    args = train_command(project.root, project.root / "r", panel.options())
    assert "--paste" not in args and args[args.index("--bagcp-prob") + 1] == "0.5"
    panel.paste.setCurrentIndex(panel.paste.findText("plain"))
    args = train_command(project.root, project.root / "r", panel.options())
    assert args[args.index("--paste") + 1] == "plain"
    panel.bagcp.setChecked(False)
    assert not panel.paste.isEnabled()

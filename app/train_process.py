"""Run `python main.py train ... --events-jsonl` as a separate process and turn its JSON lines
into Qt signals.

Training runs in its own process (not a thread) so a crash, a CUDA/OOM abort or a hung torch op
can never take the GUI or the open project down with it. Output is parsed incrementally in
``readyReadStandardOutput``: the GUI never blocks on a read. Stop sends SIGINT (the train command
saves a checkpoint and exits with code 3) and kills the process if it has not exited in time.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from app.model_versions import ParentModel
from core.domain import PasteMode
from core.errors import SirstError
from model.replay import DEFAULT_NEW_SHARE, NEW_SINCE_EVER

MAIN_PY = Path(__file__).resolve().parents[1] / "main.py"
EXIT_INTERRUPTED = 3  # app/cli: "interrupted (state saved)"
STDERR_KEEP_CHARS = 64_000  # the tail shown when a run fails; older output is dropped
CHILD_NICENESS = 10
RESUME_STATE = "last.pt"  # what `main.py train --resume` continues from  # training yields the CPU to the GUI on a small machine


class TrainProcessError(SirstError):
    """The training process cannot be started (already running, bad arguments...)."""


@dataclass
class TrainOptions:
    """What the Training dock asks for; turned into train CLI flags by ``train_command``."""

    epochs: int = 5
    preset: str = "default"
    bagcp_prob: float | None = 0.5
    paste: PasteMode = PasteMode.BAGCP  # which copy-paste the probability applies to
    reviewed_only: bool = True
    resume: bool = False
    nproc: int = 1  # data-parallel training processes (train --nproc)
    init_weights: Path | None = None  # fine-tune from these weights (None: from scratch)
    parent_name: str | None = None  # the model version those weights are (recorded with the new one)
    time_budget_min: float | None = None  # train --time-budget-min
    lr: float | None = None  # None: the CLI's defaults for the three
    warmup_steps: int | None = None
    repeats: int | None = None
    threads: int | None = None
    compare: bool = True  # after training, compare with the active model on the val images
    sky_share: float = 0.0  # train --sky-share: this part of the budget fine-tunes the sky network (ADR 0031)
    sky_steps: int = 0  # train --sky-steps: sky-network steps when there is no budget to share
    # ADR 0034: the images reviewed after this time (ISO, or "ever") are the newly corrected ones,
    # and they get this share of every batch (train --new-since / --new-share); None: not passed
    new_since: str | None = None
    new_share: float | None = None
    keep_bn_stats: bool = False  # train --keep-bn-stats: BatchNorm layers keep the parent's statistics
    extra: tuple[str, ...] = ()  # further CLI flags (tests, advanced use)


@dataclass(frozen=True)
class FineTuneDefaults:
    """What "Train" does by default: continue the active model for a few minutes on one core.

    The parent already detects targets and segments the sky; a few hundred crops of the newly
    reviewed images adapt it, while the full learning rate (2e-3, from scratch) would undo much
    of what it learned in the first steps. One core leaves the other to the annotator's GUI and
    pre-annotation (two torch threads on a busy 2-core machine wait on each other). Validation
    runs once, at the end (each one costs a pass over the val images).
    """

    lr: float = 5e-4  # a quarter of the from-scratch rate; half the shipped detector's 1e-3 fine-tune
    warmup_steps: int = 10
    steps: int = 64  # optimiser steps of 8 crops aimed at (about 2-4 s each on one core)
    batch: int = 8  # the CLI's default batch
    epochs: int = 1
    minutes: float = 5.0  # the time budget (training + validation); the rate anneals to reach it
    threads: int = 1

    def repeats(self, n_train: int) -> int:
        """Crops per training image so that one epoch is about ``steps`` steps."""
        return max(1, -(-self.steps * self.batch // max(n_train, 1)))


FINE_TUNE = FineTuneDefaults()


def fine_tune_options(opts: TrainOptions, parent: ParentModel, n_train: int) -> TrainOptions:
    """``opts`` turned into a short fine-tune of ``parent`` (FINE_TUNE) on ``n_train`` images."""
    return replace(opts, init_weights=parent.weights, parent_name=parent.name, preset=parent.preset,
                   lr=FINE_TUNE.lr, warmup_steps=FINE_TUNE.warmup_steps, repeats=FINE_TUNE.repeats(n_train),
                   threads=FINE_TUNE.threads, new_since=parent.created or NEW_SINCE_EVER, new_share=DEFAULT_NEW_SHARE,
                   keep_bn_stats=True)


def new_run_dir(project_root: Path, now: datetime | None = None) -> Path:
    """``<project>/models/runs/<timestamp>``: one folder per training run (not created here)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(project_root) / "models" / "runs"
    run_dir, n = base / stamp, 1
    while run_dir.exists():  # two runs started in the same second
        n += 1
        run_dir = base / f"{stamp}-{n}"
    return run_dir


def read_events(run_dir: Path, max_bytes: int = 32_000_000) -> list[dict]:
    """Every event the train CLI logged to ``run_dir/events.jsonl`` (all sessions of a run)."""
    path = Path(run_dir) / "events.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(max(path.stat().st_size - max_bytes, 0))  # a huge log: its recent part
            raw = f.read()
    except OSError:
        return []
    events = []
    for line in raw.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill (or the partial first line of a capped read)
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
    return events


def last_event(run_dir: Path) -> str | None:
    """The kind of the last event in ``run_dir/events.jsonl`` (the train CLI appends to it)."""
    path = Path(run_dir) / "events.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(max(path.stat().st_size - 8192, 0))  # the tail is enough: one event per line
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
    except OSError:
        return None
    for raw in reversed(lines):
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            continue  # a line cut by a kill: look at the one before
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            return event["event"]
    return None


def find_resumable_run(project_root: Path) -> Path | None:
    """The newest run under ``models/runs`` with a saved state (last.pt) that never finished."""
    runs = Path(project_root) / "models" / "runs"
    if not runs.is_dir():
        return None
    candidates = [d for d in runs.iterdir() if (d / RESUME_STATE).is_file()]
    if not candidates:
        return None
    # Only the newest: offering an older run after a newer one finished would be confusing.
    newest = max(candidates, key=lambda d: (d / RESUME_STATE).stat().st_mtime)
    return newest if last_event(newest) != "done" else None


def train_command(project_root: Path | str, run_dir: Path, opts: TrainOptions) -> list[str]:
    """Arguments for ``sys.executable`` that run the train CLI on a project."""
    args = [str(MAIN_PY), "train", "--project", str(project_root), "--out", str(run_dir)]
    args += ["--events-jsonl", "--preset", opts.preset, "--epochs", str(int(opts.epochs))]
    if opts.reviewed_only:
        args.append("--reviewed-only")
    if opts.bagcp_prob is not None:
        args += ["--bagcp-prob", f"{float(opts.bagcp_prob):g}"]
    if PasteMode(opts.paste) is not PasteMode.BAGCP:  # BAG-CP is the CLI default
        args += ["--paste", PasteMode(opts.paste).value]
    if opts.resume:
        args.append("--resume")
    if opts.nproc > 1:
        args += ["--nproc", str(int(opts.nproc))]
    if opts.init_weights is not None:
        args += ["--init-weights", str(opts.init_weights)]
    for flag, value in (("--time-budget-min", opts.time_budget_min), ("--lr", opts.lr),
                        ("--warmup-steps", opts.warmup_steps), ("--repeats", opts.repeats),
                        ("--threads", opts.threads)):  # fmt: skip
        if value is not None:
            args += [flag, f"{value:g}" if isinstance(value, float) else str(int(value))]
    if opts.sky_share > 0 and opts.time_budget_min:
        args += ["--sky-share", f"{float(opts.sky_share):g}"]
    if opts.sky_steps > 0:
        args += ["--sky-steps", str(int(opts.sky_steps))]
    if opts.new_since:
        args += ["--new-since", opts.new_since]
    if opts.new_share is not None:
        args += ["--new-share", f"{float(opts.new_share):g}"]
    if opts.keep_bn_stats:
        args.append("--keep-bn-stats")
    args.append("--no-register")  # the dock registers the version itself (register_done_run)
    if opts.compare:
        args.append("--compare")
    return args + list(opts.extra)


class TrainProcess(QObject):
    """One training process at a time, with its events as signals.

    Exactly one of ``training_stopped`` / ``training_failed`` / ``process_exited`` ends each run
    (``training_finished`` is sent when the "done" event arrives, before the process exits).
    """

    event_received = Signal(dict)  # every parsed event, before the specific signal below
    run_started = Signal(dict)  # "start"
    step_logged = Signal(dict)  # "step"
    epoch_finished = Signal(dict)  # "epoch"
    checkpoint_saved = Signal(dict)  # "checkpoint"
    training_finished = Signal(dict)  # "done": best weights + val metrics
    comparison_progress = Signal(dict)  # "compare_progress": images evaluated so far
    comparison_ready = Signal(dict)  # "comparison": the new model against the active one
    training_failed = Signal(str, str)  # message, stderr tail
    training_stopped = Signal(int)  # exit code (3: checkpoint saved; other: killed)
    process_exited = Signal(int)  # any exit (after the signals above)
    output_logged = Signal(str)  # stderr text and stray stdout lines, as they arrive

    _SPECIFIC = {
        "start": "run_started",
        "step": "step_logged",
        "epoch": "epoch_finished",
        "checkpoint": "checkpoint_saved",
        "done": "training_finished",
        "compare_progress": "comparison_progress",
        "comparison": "comparison_ready",
    }

    def __init__(self, parent: QObject | None = None, kill_timeout_ms: int = 20_000) -> None:
        super().__init__(parent)
        self.kill_timeout_ms = kill_timeout_ms
        self._proc: QProcess | None = None
        self._stdout_buf = bytearray()
        self._stderr: deque[str] = deque()
        self._stderr_chars = 0
        self._error_message: str | None = None
        self._done: dict | None = None
        self._stop_requested = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    # ------------------------------------------------------------------ control
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.state() != QProcess.ProcessState.NotRunning

    def start(self, args: list[str], program: str | None = None, cwd: Path | None = None) -> None:
        """Start ``program args`` (default: this Python interpreter)."""
        if self.is_running():
            raise TrainProcessError("a training run is already in progress; stop it first")
        self._reset()
        proc = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")  # events must arrive as they are printed
        proc.setProcessEnvironment(env)
        proc.setWorkingDirectory(str(cwd or MAIN_PY.parent))
        proc.readyReadStandardOutput.connect(self._read_stdout)
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.started.connect(self._lower_priority)
        proc.errorOccurred.connect(self._on_error)
        proc.finished.connect(self._on_finished)
        self._proc = proc
        proc.start(program or sys.executable, [str(a) for a in args])

    def stop(self) -> bool:
        """Ask the run to save a checkpoint and exit (SIGINT); kill it after the timeout.

        Returns False when nothing is running.
        """
        if not self.is_running():
            return False
        self._stop_requested = True
        pid = self._proc.processId()
        if hasattr(signal, "SIGINT") and os.name == "posix" and pid > 0:
            os.kill(pid, signal.SIGINT)
        else:  # no SIGINT for console-less children: ask politely, then kill on timeout
            self._proc.terminate()
        self._kill_timer.start(self.kill_timeout_ms)
        return True

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Stop and wait (blocking, for application exit only) so no orphan keeps training."""
        if self.stop() and self._proc is not None and not self._proc.waitForFinished(wait_ms):
            self._kill()
            self._proc.waitForFinished(1000)

    def stderr_text(self) -> str:
        return "".join(self._stderr)

    # ------------------------------------------------------------------ internals
    def _reset(self) -> None:
        self._stdout_buf.clear()
        self._stderr.clear()
        self._stderr_chars = 0
        self._error_message = None
        self._done = None
        self._stop_requested = False
        if self._proc is not None:
            self._proc.deleteLater()
            self._proc = None

    def _lower_priority(self) -> None:
        if self._proc is None or not hasattr(os, "setpriority"):
            return
        try:
            os.setpriority(os.PRIO_PROCESS, self._proc.processId(), CHILD_NICENESS)
        except OSError:
            pass  # not permitted here: training still works, just at normal priority

    def _kill(self) -> None:
        if self.is_running():
            self._proc.kill()

    def _read_stdout(self) -> None:
        self._stdout_buf += bytes(self._proc.readAllStandardOutput().data())
        *lines, rest = self._stdout_buf.split(b"\n")
        self._stdout_buf = bytearray(rest)
        for line in lines:
            self._handle_line(line)

    def _read_stderr(self) -> None:
        text = bytes(self._proc.readAllStandardError().data()).decode("utf-8", "replace")
        self._append_log(text)

    def _append_log(self, text: str) -> None:
        if not text:
            return
        self._stderr.append(text)
        self._stderr_chars += len(text)
        while self._stderr_chars > STDERR_KEEP_CHARS and len(self._stderr) > 1:
            self._stderr_chars -= len(self._stderr.popleft())
        self.output_logged.emit(text)

    def _handle_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            self._append_log(line + "\n")  # stray print: keep it with the log, never crash
            return
        self.event_received.emit(event)
        kind = event["event"]
        if kind == "error":
            self._error_message = str(event.get("message") or "training reported an error")
        elif kind == "done":
            self._done = event
        name = self._SPECIFIC.get(kind)
        if name is not None:
            getattr(self, name).emit(event)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            msg = f"cannot start the training process: {self._proc.errorString()}"
            self.training_failed.emit(msg, self.stderr_text())
            self.process_exited.emit(-1)

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self._read_stderr()
        if self._stdout_buf:  # a last line without its newline
            self._handle_line(bytes(self._stdout_buf))
            self._stdout_buf.clear()
        crashed = status == QProcess.ExitStatus.CrashExit
        exit_code = -1 if crashed else int(code)
        if self._error_message is not None or (self._done is None and not self._stopped(code)):
            self.training_failed.emit(self._failure_message(code, crashed), self.stderr_text())
        elif self._done is None:
            self.training_stopped.emit(exit_code)
        self.process_exited.emit(exit_code)

    def _stopped(self, code: int) -> bool:
        return self._stop_requested or code == EXIT_INTERRUPTED

    def _failure_message(self, code: int, crashed: bool) -> str:
        if self._error_message is not None:
            return self._error_message
        if crashed:
            return "the training process crashed (killed or aborted)"
        if code == 0:
            return "the training process ended without reporting a result ('done' event)"
        lines = [ln for ln in self.stderr_text().splitlines() if ln.strip()]
        last = f": {lines[-1].strip()}" if lines else ""
        return f"training exited with code {code}{last}"

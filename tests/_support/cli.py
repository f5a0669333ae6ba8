"""Run the real CLI in a subprocess, and build tiny DenseSIRST folders for bad-input tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
# Per-user folders the session points at its own temp dirs (tests/conftest.py): a process run
# as another user cannot read those, and would not use them.
OTHER_USERS_OWN = ("SIRST_CONFIG_DIR", "SIRST_CACHE_DIR", "SIRST_STUDIO_CACHE")


def cli(*args: str | Path, timeout: float = 120, env: dict | None = None,
        user: int | None = None, max_file_bytes: int | None = None) -> subprocess.CompletedProcess:  # fmt: skip
    """``python main.py ARGS`` (as ``user`` via setpriv when given); a hang fails the test.
    ``max_file_bytes``: RLIMIT_FSIZE, a full disk without root (writes beyond it fail with EFBIG;
    Python ignores SIGXFSZ)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "SIRST_LOG_DIR": str(REPO / ".pytest_logs"),
                **(env or {})}  # fmt: skip
    cmd = [sys.executable, str(REPO / "main.py"), *map(str, args)]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
        full_env["HOME"] = "/tmp"
        for key in OTHER_USERS_OWN:  # that user has their own settings, not the test's
            full_env.pop(key, None)
    limit = None
    if max_file_bytes is not None:
        import resource

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=REPO, preexec_fn=limit)  # fmt: skip


TORCH_COMMANDS = ("train", "train-sky", "predict", "export-model", "evaluate")


def cli_here(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """``main.py ARGS`` run in this process: the same parser, commands and exit-code mapping as
    ``cli`` (stdout/stderr captured, warnings logged by the library shown on stderr as a fresh
    process's last-resort handler would), without a new interpreter's 0.5-1 s start. For tests
    about what a command does to files and rows; a test about a fresh process (start-up imports,
    signals, other users, resource limits, a hang) uses ``cli``. What a command may change in the
    process (root logging handlers, SIGINT/SIGTERM handlers, torch's thread count, the pixel limit,
    the environment, the working directory) is put back afterwards."""
    import contextlib
    import io
    import logging

    from app.cli import main
    from core import imagelimits

    out, err = io.StringIO(), io.StringIO()
    saved_env = {k: os.environ.get(k) for k in ("SIRST_LOG_DIR", *(env or {}))}
    os.environ["SIRST_LOG_DIR"] = str(REPO / ".pytest_logs")
    os.environ.update({k: str(v) for k, v in (env or {}).items()})
    root = logging.getLogger()
    saved_log = (list(root.handlers), root.level)  # a command's basicConfig ends with the command
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    argv = [str(a) for a in args]
    if argv and argv[0] in TORCH_COMMANDS:  # imported first, so that its thread count can be put back
        import torch
    torch = sys.modules.get("torch")
    saved_threads = torch.get_num_threads() if torch is not None else None
    shown = logging.StreamHandler(err)  # what logging.lastResort prints in a fresh process
    shown.setLevel(logging.WARNING)
    root.addHandler(shown)
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(cwd)
        root.handlers[:], root.level = saved_log
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler)
        if saved_threads is not None:
            torch.set_num_threads(saved_threads)
        imagelimits.set_max_pixels(None)  # --max-pixels lasts one command, as in its own process
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["main.py", *argv], code, out.getvalue(), err.getvalue())


def assert_clean(result: subprocess.CompletedProcess) -> None:
    """No Python traceback reached the user."""
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def skipped(result: subprocess.CompletedProcess) -> dict[str, str]:
    out = {}
    for line in result.stderr.splitlines():
        if line.startswith("skipped "):
            name, _, message = line[len("skipped ") :].partition(": ")
            out[name] = message
    return out


def warnings(result: subprocess.CompletedProcess) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in result.stderr.splitlines():
        if line.startswith("warning "):
            name, _, message = line[len("warning ") :].partition(": ")
            out[name] = out.get(name, "") + message
    return out


def tiny_densesirst(root: Path, n: int = 3, size: tuple[int, int] = (40, 30)) -> list[str]:
    """A DenseSIRST folder of ``n`` gray images (w x h = size), one 3x3 target each, split
    train (all but the last) / val (the last). Returns the ids."""
    from core.domain import ImageAnnotation, Target, TargetMask
    from core.formats import densesirst as ds

    w, h = size
    ids = [f"img-{k}" for k in range(n)]
    for k, image_id in enumerate(ids):
        img = np.full((h, w), 20 + k, np.uint8)
        x, y = 5 + k, 6 + k
        img[y : y + 3, x : x + 3] = 200
        mask = TargetMask(x, y, np.ones((3, 3), bool))
        sky = np.zeros((h, w), bool)
        sky[: h // 2] = True
        target = Target(point=(x + 1.0, y + 1.0), box=(x, y, x + 3, y + 3), mask=mask)
        ds.write_sample(root, image_id, img, ImageAnnotation([target], sky), w, h)
    ds.write_split(root, "train", ids[:-1])
    ds.write_split(root, "val", ids[-1:])
    return ids

"""The supervisor of ``main.py train --nproc N``: checks before any rank starts, the ranks as its
own children, and the run folder's lock.

Why not torchrun (ADR 0012): its agent sits between us and the ranks, so a rank killed by a signal
ended in its ChildFailedError traceback, and a launcher killed with SIGKILL left torchrun and the
ranks training on their own (writing checkpoints into a folder a ``--resume`` could be using).
Here each rank is a direct child started with the usual env:// variables (MASTER_ADDR/PORT, RANK,
WORLD_SIZE, LOCAL_RANK), and
- asks the kernel for SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG), so a killed
  launcher never leaves an unsupervised rank behind;
- when one rank dies or fails, the others are killed at once (a collective with a dead peer
  cannot finish) and one line says which rank, why, and how to continue (``--resume``);
- the launcher holds an exclusive lock on RUN_DIR/.lock (inherited by the ranks), and every run
  takes it first: a second run in the same folder is refused while any process of the first lives.
Torch is not imported here: the checks run before anything heavy loads.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.errors import SirstError

LOCK_NAME = ".lock"
EXIT_INTERRUPTED = 3  # README "Command line"


WORKER_ENV = "SIRST_DDP_WORKER"  # set by launch(): this process is one rank of a run


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (the workers must not launch again)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; os.cpu_count() without one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def nproc_problem(nproc: int, batch: int, whole_frames: int, allow_oversubscribe: bool) -> str | None:
    """Why ``--nproc`` cannot work with these arguments (None: it can), checked before any rank
    starts: each rank takes an equal share of the global batch and of the whole frames, and
    more ranks than cores only thrash (and each holds a copy of the model and data)."""
    if nproc < 1:
        return f"--nproc = {nproc} is out of range (>= 1)"
    if batch % nproc:
        return (f"--batch {batch} is not a multiple of --nproc {nproc} (each process takes an equal "
                f"share of the global batch); use --batch {max(nproc, batch - batch % nproc)} or another --nproc")
    if whole_frames % nproc:
        return f"--whole-frames {whole_frames} is not a multiple of --nproc {nproc} (each process takes an equal share)"
    cores = usable_cores()
    if nproc > cores and not allow_oversubscribe:
        return (f"--nproc {nproc} is more than the {cores} CPU cores this process may use; use --nproc {cores} "
                "or fewer, or add --allow-oversubscribe to start that many processes anyway")
    return None


class RunLock:
    """An exclusive flock on RUN_DIR/.lock for the life of the run (and of every process that
    inherited its descriptor: the ranks). ``RunBusy`` (exit 2) when it is held."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / LOCK_NAME
        self.fd = -1
        try:
            import fcntl
        except ImportError:  # Windows: no flock; the ranks still die with their launcher
            return
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask applies
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise RunBusy(f"{run_dir} is in use by another training run (its processes are still "
                          "running); wait for it to end or choose another --out") from None

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class RunBusy(SirstError):
    """The run folder is locked by another live run (exit 2: nothing was changed)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with(parent: int):
    """preexec_fn of a rank: SIGKILL when the launcher dies (and at once if it already has)."""
    import ctypes

    def setup() -> None:
        pr_set_pdeathsig = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # not Linux: the run-folder lock still guards the folder
            pass
        if os.getppid() != parent:  # the launcher died between fork and prctl
            os._exit(1)

    return setup


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def launch(argv: list[str], nproc: int, run_dir: Path, main_py: Path) -> int:
    """Run ``main.py <argv>`` (without --nproc) as ``nproc`` ranks; returns the run's exit code.

    SIGINT / SIGTERM reaching the launcher are passed to every rank (rank 0 saves last.pt, exit 3).
    A rank that dies from a signal or fails stops the others; the exit code is then 3 when the
    folder holds a checkpoint to ``--resume`` from, else that of the failure (1 for a signal)."""
    lock = RunLock(run_dir)
    env = dict(os.environ, **{WORKER_ENV: "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
                               "WORLD_SIZE": str(nproc), "LOCAL_WORLD_SIZE": str(nproc)})  # fmt: skip
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, str(main_py), *strip_nproc(argv)]
    procs: list[subprocess.Popen] = []
    previous = {}

    def forward(signum, _frame) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, forward)
    relays: list[threading.Thread] = []
    try:
        for rank in range(nproc):
            rank_env = dict(env, RANK=str(rank), LOCAL_RANK=str(rank))
            procs.append(subprocess.Popen(cmd, env=rank_env, pass_fds=(lock.fd,) if lock.fd >= 0 else (),
                                          stderr=subprocess.PIPE,
                                          preexec_fn=_die_with(os.getpid()) if os.name == "posix" else None))  # fmt: skip
            relays.append(threading.Thread(target=_relay, args=(procs, rank), daemon=True))
            relays[-1].start()
        code, report = _supervise(procs, run_dir)
        for t in relays:  # every rank's last words before the launcher's
            t.join(timeout=10)
        if report:
            print(report, file=sys.stderr, flush=True)
        return code
    finally:
        for p in procs:  # nothing outlives the launcher
            if p.poll() is None:
                p.kill()
                p.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.release()


def _relay(procs: list[subprocess.Popen], rank: int) -> None:
    """Copy rank ``rank``'s stderr to ours, until another rank has failed: what the survivors say
    then is only the lost connection to it (gloo's traceback), which the launcher's line replaces."""
    for raw in procs[rank].stderr:
        if any(p.poll() not in (None, 0, EXIT_INTERRUPTED) for r, p in enumerate(procs) if r != rank):
            continue  # keep draining, so the rank never blocks on a full pipe
        sys.stderr.write(raw.decode("utf-8", "replace"))
        sys.stderr.flush()


def _supervise(procs: list[subprocess.Popen], run_dir: Path) -> tuple[int, str | None]:
    """Wait for every rank; on the first failure kill the rest; (exit code, what to say)."""
    while True:
        codes = [p.poll() for p in procs]
        failed = [(r, c) for r, c in enumerate(codes) if c not in (None, 0, EXIT_INTERRUPTED)]
        if failed:
            rank, code = failed[0]
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for p in procs:
                p.wait()
            return _report(rank, code, run_dir)
        if all(c is not None for c in codes):
            return max(codes), None  # 0, or 3 when interrupted (every rank saw the stop)
        time.sleep(0.2)


def _report(rank: int, code: int, run_dir: Path) -> tuple[int, str]:
    resumable = (run_dir / "last.pt").is_file()
    how = ("continue with the same command and --resume" if resumable
           else "no checkpoint was written yet: start the run again")  # fmt: skip
    if code < 0:  # killed by a signal: it could say nothing itself
        return (EXIT_INTERRUPTED if resumable else 1,
                f"error: training process {rank} was killed by {_signal_name(code)}; the other processes "
                f"were stopped; {how}")  # fmt: skip
    return code, (f"error: training process {rank} failed (exit {code}, its message is above); the other "
                  "processes were stopped")  # fmt: skip

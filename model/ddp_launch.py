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
Several machines (ADR 0020): every machine runs the same command with ``--nnodes N --node-rank K
--rdzv-endpoint HOST:PORT``; the launchers meet first (model/rendezvous.py), then each starts its
``--nproc`` ranks with the global RANK = K * nproc + local rank, WORLD_SIZE = N * nproc and node 0's
address. Node K > 0 locks RUN_DIR/.lock.nodeK, so the shared run folder admits one run at a time.
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
from dataclasses import dataclass
from pathlib import Path

from core.errors import SirstError
from model.ranks import NODE_RANK_ENV, WORKER_ENV

LOCK_NAME = ".lock"
EXIT_USAGE, EXIT_INTERRUPTED = 2, 3  # README "Command line"
AGREE_GRACE_S = 20.0  # how long the others may take to reach a refusal one rank reached (exit 2)
LAUNCH_FLAGS = ("--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint")  # the launcher's, not a rank's


@dataclass(frozen=True)
class Placement:
    """Where this launcher's ranks sit in the run: one machine (the default) or node ``node_rank``
    of ``nnodes``, meeting at ``master_addr:master_port`` (chosen by the rendezvous)."""

    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None  # None: a free port on this machine

    def lock_name(self) -> str:
        return LOCK_NAME if self.node_rank == 0 else f"{LOCK_NAME}.node{self.node_rank}"


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without the launch flags (``--nproc N``, ``--nnodes=N``...): the ranks must not
    launch again."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in LAUNCH_FLAGS:
            skip = True
        elif not a.startswith(tuple(f"{f}=" for f in LAUNCH_FLAGS)):
            out.append(a)
    return out


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; os.cpu_count() without one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def nproc_problem(nproc: int, batch: int, whole_frames: int, allow_oversubscribe: bool,
                  nnodes: int = 1) -> str | None:  # fmt: skip
    """Why ``--nproc`` (on each of ``nnodes`` machines) cannot work with these arguments (None: it
    can), checked before any rank starts: each rank takes an equal share of the global batch and
    of the whole frames, and more ranks than cores only thrash (and each holds a copy of the model
    and data)."""
    if nproc < 1:
        return f"--nproc = {nproc} is out of range (>= 1)"
    world = nproc * nnodes
    ranks = f"--nproc {nproc}" if nnodes == 1 else f"the {world} processes (--nproc {nproc} x --nnodes {nnodes})"
    if batch % world:
        return (f"--batch {batch} is not a multiple of {ranks} (each process takes an equal share of the global "
                f"batch); use --batch {max(world, batch - batch % world)} or another --nproc")  # fmt: skip
    if whole_frames % world:
        return f"--whole-frames {whole_frames} is not a multiple of {ranks} (each process takes an equal share)"
    cores = usable_cores()
    if nproc > cores and not allow_oversubscribe:
        return (f"--nproc {nproc} is more than the {cores} CPU cores this process may use; use --nproc {cores} "
                "or fewer, or add --allow-oversubscribe to start that many processes anyway")
    return None


class RunLock:
    """An exclusive flock on RUN_DIR/.lock for the life of the run (and of every process that
    inherited its descriptor: the ranks). ``RunBusy`` (exit 2) when it is held."""

    def __init__(self, run_dir: Path, name: str = LOCK_NAME) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = run_dir / name
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


def launch(argv: list[str], nproc: int, run_dir: Path, main_py: Path, where: Placement | None = None) -> int:
    """Run ``main.py <argv>`` (without the launch flags) as ``nproc`` ranks of this node; returns
    the run's exit code.

    SIGINT / SIGTERM reaching the launcher are passed to every rank (rank 0 saves last.pt, exit 3).
    A rank that dies from a signal or fails stops the others; the exit code is then 3 when the
    folder holds a checkpoint to ``--resume`` from, else that of the failure (1 for a signal)."""
    where = where or Placement()
    lock = RunLock(run_dir, where.lock_name())
    env = dict(os.environ, **{WORKER_ENV: "1", "MASTER_ADDR": where.master_addr,
                               "MASTER_PORT": str(where.master_port or _free_port()),
                               "WORLD_SIZE": str(nproc * where.nnodes), "LOCAL_WORLD_SIZE": str(nproc),
                               NODE_RANK_ENV: str(where.node_rank)})  # fmt: skip
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
    muted = threading.Event()
    try:
        for rank in range(nproc):
            rank_env = dict(env, RANK=str(where.node_rank * nproc + rank), LOCAL_RANK=str(rank))
            procs.append(subprocess.Popen(cmd, env=rank_env, pass_fds=(lock.fd,) if lock.fd >= 0 else (),
                                          stderr=subprocess.PIPE,
                                          preexec_fn=_die_with(os.getpid()) if os.name == "posix" else None))  # fmt: skip
            relays.append(threading.Thread(target=_relay, args=(procs, rank, muted), daemon=True))
            relays[-1].start()
        code, report = _supervise(procs, run_dir, where.node_rank * nproc, muted)
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


def _relay(procs: list[subprocess.Popen], rank: int, muted: threading.Event) -> None:
    """Copy rank ``rank``'s stderr to ours, until another rank died or failed (or the launcher
    stops the ranks): what the survivors say then is only the lost connection (gloo's traceback),
    which the launcher's line replaces."""
    quiet_after = (None, 0, EXIT_USAGE, EXIT_INTERRUPTED)  # outcomes the others report themselves
    for raw in procs[rank].stderr:
        if muted.is_set() or any(p.poll() not in quiet_after for r, p in enumerate(procs) if r != rank):
            continue  # keep draining, so the rank never blocks on a full pipe
        sys.stderr.write(raw.decode("utf-8", "replace"))
        sys.stderr.flush()


def _supervise(procs: list[subprocess.Popen], run_dir: Path, first_rank: int = 0,
               muted: threading.Event | None = None) -> tuple[int, str | None]:  # fmt: skip
    """Wait for every rank; on the first failure kill the rest; (exit code, what to say).

    A refusal every rank agrees on (exit 2 from all, e.g. run folders that differ between nodes)
    ends like one process: that code, the message the ranks printed, no line of the launcher's."""
    muted = muted or threading.Event()
    while True:
        codes = [p.poll() for p in procs]
        failed = [(r, c) for r, c in enumerate(codes) if c not in (None, 0, EXIT_INTERRUPTED)]
        if failed:
            rank, code = failed[0]
            if code == EXIT_USAGE and _all_exit(procs, EXIT_USAGE, AGREE_GRACE_S):
                return EXIT_USAGE, None
            muted.set()
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for p in procs:
                p.wait()
            return _report(first_rank + rank, code, run_dir)
        if all(c is not None for c in codes):
            return max(codes), None  # 0, or 3 when interrupted (every rank saw the stop)
        time.sleep(0.2)


def _all_exit(procs: list[subprocess.Popen], code: int, grace_s: float) -> bool:
    """Every rank ends with ``code`` within ``grace_s`` (False at the first other outcome)."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        codes = [p.poll() for p in procs]
        if any(c is not None and c != code for c in codes):
            return False
        if all(c == code for c in codes):
            return True
        time.sleep(0.1)
    return False


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

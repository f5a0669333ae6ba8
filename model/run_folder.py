"""Every rank of a run must see one run folder, one resume state and one data set (ADR 0020).

Rank 0 alone writes the run folder (checkpoints, best weights, events), and every rank reads
``last.pt`` on ``--resume``; with several machines that works only when the folder is shared (NFS,
a cluster file system). ``check_shared`` proves it before anything is read or written: rank 0 writes
a fresh random token into RUN_DIR/.run-token, every rank reads the file in its own RUN_DIR, and the
ranks compare, with their ``last.pt`` digest on resume (so all resume from the same step) and the
digest of the images and labels they loaded (each rank draws its share of one global batch by
index, so different data would train on a silent mix). A disagreement raises ``RunFolderMismatch``
on every rank, naming the first rank, node and host that differ from rank 0.

The comparison runs over a gloo group (CPU tensors, JSON, no pickle), whatever the run's backend.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.distributed as dist

from core.errors import SirstError
from core.fileio import atomic_write_text
from model import ranks

TOKEN_NAME = ".run-token"
TOKEN_WAIT_S = 10.0  # a shared file system may show a new file to other machines a little later
RESUME_STATE = "last.pt"


class RunFolderMismatch(SirstError):
    """The ranks do not share one run folder / resume state / data set (exit 2). Every rank
    raises it with the same message (``agreed``): one line per machine, not one per rank."""

    agreed = True


def data_key(samples: Sequence) -> str:
    """Digest of the loaded images' names, sizes and boxes (model.data.Sample-like objects)."""
    h = hashlib.sha256()
    for s in samples:
        h.update(s.name.encode())
        h.update(repr(tuple(s.image.shape)).encode())
        h.update(s.boxes.tobytes())
    return h.hexdigest()[:16]


def _file_digest(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()[:16]
    except OSError:
        return None


def _cpu_group():
    """A gloo group for these small CPU collectives (the default group may be NCCL)."""
    return None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")


def _gather_json(obj: dict, group) -> list[dict]:
    data = torch.tensor(list(json.dumps(obj).encode()), dtype=torch.uint8)
    size = torch.tensor([data.numel()], dtype=torch.int64)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size(group))]
    dist.all_gather(sizes, size, group=group)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8)
    padded[: data.numel()] = data
    chunks = [torch.zeros_like(padded) for _ in sizes]
    dist.all_gather(chunks, padded, group=group)
    return [json.loads(bytes(c[: int(n.item())].tolist())) for c, n in zip(chunks, sizes, strict=True)]


def _broadcast_token(token: str, group) -> str:
    t = torch.tensor(list(bytes.fromhex(token)) if token else [0] * 16, dtype=torch.uint8)
    dist.broadcast(t, src=0, group=group)
    return bytes(t.tolist()).hex()


def _read_token(run_dir: Path, expected: str) -> str | None:
    """The token this rank sees in its RUN_DIR (waiting a little for a shared file system)."""
    deadline = time.monotonic() + TOKEN_WAIT_S
    while True:
        try:
            seen = (run_dir / TOKEN_NAME).read_text(encoding="utf-8").split()[0]
        except (OSError, IndexError):
            seen = None
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def check_shared(run_dir: Path, resume: bool, data: str | None = None) -> None:
    """On every rank, after ``init_process_group`` and before the run reads ``last.pt`` or
    writes anything: RunFolderMismatch unless all ranks see rank 0's run folder (and, on resume,
    the same last.pt; with ``data`` = ``data_key(...)``, the same images and labels)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return
    node = ranks.from_environ().node_rank
    group = _cpu_group()
    run_dir = Path(run_dir)
    token = ""
    if dist.get_rank() == 0:
        token = secrets.token_hex(16)
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / TOKEN_NAME, f"{token}\n")  # fsync'd: other machines read it next
    token = _broadcast_token(token, group)  # also the barrier: the token is on disk now
    seen = _read_token(run_dir, token)
    mine = {"rank": dist.get_rank(), "where": f"rank {dist.get_rank()} (node {node}, host {socket.gethostname()})", "dir": str(run_dir.resolve()), "seen": seen,
            "resume": _file_digest(run_dir / RESUME_STATE) if resume else None, "data": data}  # fmt: skip
    everyone = _gather_json(mine, group)
    if (problem := _disagreement(everyone, token, run_dir.name)) is not None:
        raise RunFolderMismatch(problem)


def _disagreement(everyone: list[dict], token: str, name: str) -> str | None:
    chief = everyone[0]
    for other in everyone[1:]:
        if other["seen"] != token:
            found = "no token file" if other["seen"] is None else "another run's token"
            return (f"{other['where']} does not see the run folder of rank 0: its {other['dir']} holds {found} "
                    f"where {chief['where']} just wrote "
                    f"{chief['dir']}/{TOKEN_NAME}. Every machine needs the same folder: put --out on a "
                    "file system all of them mount (NFS, a cluster file system) and give its path on each")  # fmt: skip
        if other["resume"] != chief["resume"]:
            return (f"{other['where']} reads another {name}/{RESUME_STATE} than rank 0 "
                    f"(digest {other['resume']} vs {chief['resume']}); all ranks must resume from one state")  # fmt: skip
        if other["data"] != chief["data"]:
            return (f"{other['where']} loaded other images or labels than rank 0 (digest {other['data']} vs "
                    f"{chief['data']}); give every machine the same --data / --project and splits")  # fmt: skip
    return None


def join_run(here: ranks.RankEnv, run_dir: Path, resume: bool, samples: Sequence,
             init_group: Callable[[], object]) -> None:  # fmt: skip
    """What every rank of a distributed run does first, however it was started: the env://
    variables (srun), ``init_group()`` (joins the process group), then ``check_shared``. One
    process: nothing."""
    if not here.distributed:
        return
    ranks.export_torch_env(here)
    init_group()
    check_shared(run_dir, resume, data_key(samples))

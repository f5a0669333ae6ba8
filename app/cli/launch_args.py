"""The flags that start a training command as several processes, on one machine or several
(torchrun's names: --nproc per node, --nnodes, --node-rank, --rdzv-endpoint), shared by `train`
and `train-sky`, and what the command does with them before any training code loads (ADR 0020):
refuse what cannot work, meet the other machines' launchers, start this machine's ranks.

Under the user's own torchrun or srun (model/ranks.py) the command is already one rank: it
launches nothing, and the launch flags are refused (the launcher decides the processes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MAIN_PY = Path(__file__).resolve().parents[2] / "main.py"
EXIT_USAGE = 2  # README "Command line"
TELL_S = 30.0  # how long a refused machine tries to tell node 0 before it gives up


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nproc", type=int, default=1, help="data-parallel training processes on this machine "
                   "(torch.distributed; --batch is the global batch, a multiple of all processes)")
    p.add_argument("--allow-oversubscribe", action="store_true",
                   help="allow --nproc above the CPU cores this process may use")
    p.add_argument("--nnodes", type=int, default=1, help="machines in the run; run the same command on each, "
                   "with its --node-rank (the run folder --out must be shared by all)")
    p.add_argument("--node-rank", type=int, default=0, help="this machine's place among --nnodes (0: the one "
                   "at --rdzv-endpoint)")
    p.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                   help="node 0's address and a free port there, where the machines meet (--nnodes above 1)")


def world_size(args: argparse.Namespace) -> int:
    """Processes in the whole run: this command's flags, or the user's launcher's environment."""
    from model import ranks

    here = ranks.from_environ()
    return here.world_size if here.external else args.nproc * args.nnodes


def problem(args: argparse.Namespace, batch: int, whole_frames: int = 0) -> str | None:
    """Why the launch flags cannot work with these arguments (None: they can); checked before
    anything starts, on every machine."""
    from model import ranks
    from model.ddp_launch import nproc_problem
    from model.rendezvous import nodes_problem

    try:
        here = ranks.from_environ()
    except ranks.RankEnvError as exc:
        return f"cannot tell this process's rank: {exc}"
    if here.external:
        given = [f for f, v in (("--nproc", args.nproc != 1), ("--nnodes", args.nnodes != 1),
                                ("--node-rank", args.node_rank != 0), ("--rdzv-endpoint", args.rdzv_endpoint))
                 if v]  # fmt: skip
        if given:
            return (f"this process is rank {here.rank} of {here.world_size} started by {here.launcher.value}, "
                    f"which decides the processes: leave out {', '.join(given)}")  # fmt: skip
        if batch % here.world_size or whole_frames % here.world_size:
            what = "--batch" if batch % here.world_size else "--whole-frames"
            return (f"{what} {batch if what == '--batch' else whole_frames} is not a multiple of the "
                    f"{here.world_size} processes {here.launcher.value} started (each takes an equal share)")  # fmt: skip
        return None
    if msg := nodes_problem(args.nnodes, args.node_rank, args.rdzv_endpoint):
        return msg
    if args.nproc != 1 or args.nnodes != 1:
        return nproc_problem(args.nproc, batch, whole_frames, args.allow_oversubscribe, args.nnodes)
    return None


def must_launch(args: argparse.Namespace) -> bool:
    """This command starts ranks (it is not one itself)."""
    from model import ranks

    return ranks.from_environ().launcher is ranks.Launcher.SINGLE and (args.nproc > 1 or args.nnodes > 1)


def start(args: argparse.Namespace, problem: str | None, run_dir: Path) -> int | None:
    """When this command starts the ranks (``must_launch``): refuse ``problem`` (telling the other
    machines), or meet them and run this machine's ranks; the exit code. None: this process
    trains itself (one process, or a rank)."""
    from model.rendezvous import RendezvousError

    if not must_launch(args):
        return None
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        _tell(args, problem)
        return EXIT_USAGE
    try:
        where = _meet(args)
    except RendezvousError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from model.ddp_launch import launch

    return launch(sys.argv[1:], args.nproc, run_dir, MAIN_PY, where)


def _nodes(args: argparse.Namespace):
    from model.rendezvous import Nodes, nodes_problem, parse_endpoint

    if args.nnodes == 1 or nodes_problem(args.nnodes, args.node_rank, args.rdzv_endpoint) is not None:
        return None
    return Nodes(args.nnodes, args.node_rank, *parse_endpoint(args.rdzv_endpoint))


def _meet(args: argparse.Namespace):
    """With --nnodes above 1: meet the other machines; the ranks' Placement (RendezvousError: exit 2)."""
    from model.ddp_launch import Placement
    from model.rendezvous import join

    nodes = _nodes(args)
    if nodes is None:
        return Placement()
    return Placement(nodes.nnodes, nodes.node_rank, nodes.host, join(nodes, args.nproc))


def _tell(args: argparse.Namespace, problem: str) -> None:
    """Let node 0 know this machine cannot start (so no machine waits for it); a node 0 that is not
    up within TELL_S is not waited for longer."""
    from model.rendezvous import RendezvousError, join

    nodes = _nodes(args)
    if nodes is None or nodes.node_rank == 0:
        return
    try:
        join(nodes, args.nproc, problem, timeout=TELL_S)
    except RendezvousError:
        pass


# What torch's backends say when a peer process is gone (gloo raises a plain RuntimeError)
LOST_PEER_WORDS = ("Connection closed by peer", "Connection reset by peer", "gloo/transport")


def lost_peer(exc: BaseException) -> bool:
    """``exc`` is a collective failing because another rank of the run is gone."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(w in str(exc) for w in LOST_PEER_WORDS)


def lost_peer_exit(run_dir: Path) -> tuple[int, str]:
    """(exit code, message) of a rank whose peer vanished (another machine stopped or failed), as
    the launcher reports a rank it saw die: 3 with a checkpoint to --resume from, else 1."""
    resumable = (run_dir / "last.pt").is_file()
    how = ("continue with the same command and --resume" if resumable
           else "no checkpoint was written yet: start the run again")  # fmt: skip
    return (3 if resumable else 1,
            f"error: lost the connection to another training process (it stopped, or its machine did: see "
            f"that machine's output); {how}")  # fmt: skip

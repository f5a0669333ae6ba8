"""The launchers of a several-machine run meet before any rank starts (ADR 0020).

``main.py train --nnodes N --node-rank K --rdzv-endpoint HOST:PORT --nproc P`` runs on every
machine. Node 0's launcher listens on PORT; every other launcher connects to HOST:PORT (retrying
until node 0 is up) and says who it is: node rank, --nnodes, --nproc, host, and whether its own
checks passed. Node 0 answers once all N nodes are in: either the port of the ranks' rendezvous
(MASTER_PORT, chosen free on node 0; MASTER_ADDR is HOST) or one error, given to every node, naming
the node at fault (two nodes with one node rank, different --nproc or --nnodes, a node whose
arguments were refused). So a mistake stops every machine at once, before a rank waits in
torch's rendezvous for a peer that never comes. Plain sockets and JSON lines: torch is not imported.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from dataclasses import dataclass

from core.errors import SirstError

JOIN_TIMEOUT_S = 600.0  # as torchrun's default join timeout: the machines need not start together
PROTOCOL = 1


class RendezvousError(SirstError):
    """The nodes cannot form one run (exit 2: no rank was started)."""


@dataclass(frozen=True)
class Nodes:
    nnodes: int
    node_rank: int
    host: str
    port: int

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> tuple[str, int]:
    """'host:port' or '[v6addr]:port' -> (host, port); ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"--rdzv-endpoint {text!r}: give HOST:PORT (the address of node 0 and a free port "
                         "there, e.g. 10.0.0.5:29500)")  # fmt: skip
    return host, int(port)


def nodes_problem(nnodes: int, node_rank: int, endpoint: str | None) -> str | None:
    """Why these several-machine flags cannot work (None: they can)."""
    if not 1 <= nnodes <= 4096:
        return f"--nnodes = {nnodes} is out of range (1 .. 4096)"
    if not 0 <= node_rank < nnodes:
        return f"--node-rank {node_rank} is out of range for --nnodes {nnodes} (0 .. {nnodes - 1})"
    if nnodes > 1 and endpoint is None:
        return "--nnodes above 1 needs --rdzv-endpoint HOST:PORT (node 0's address)"
    if endpoint is not None:
        try:
            parse_endpoint(endpoint)
        except ValueError as exc:
            return str(exc)
    return None


def _hello(nodes: Nodes, nproc: int, problem: str | None) -> dict:
    return {"protocol": PROTOCOL, "node_rank": nodes.node_rank, "nnodes": nodes.nnodes, "nproc": nproc,
            "host": socket.gethostname(), "problem": problem}  # fmt: skip


def _send(conn: socket.socket, msg: dict) -> None:
    try:
        conn.sendall((json.dumps(msg) + "\n").encode())
    except OSError:  # that node is gone; the others still get their answer
        pass


def _recv(conn: socket.socket, deadline: float) -> dict | None:
    buf = b""
    while not buf.endswith(b"\n"):
        conn.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = conn.recv(4096)
        except (TimeoutError, OSError):
            return None
        if not chunk or len(buf) > 65536:
            return None
        buf += chunk
    try:
        msg = json.loads(buf)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _mismatch(first: dict, hello: dict) -> str | None:
    """Why a node's hello does not fit the run node 0 leads (None: it fits)."""
    who = f"node {hello.get('node_rank')} (host {hello.get('host')})"
    if hello.get("protocol") != PROTOCOL:
        return f"{who} runs another version of SIRST Studio (rendezvous protocol {hello.get('protocol')})"
    if hello.get("problem"):
        return f"{who} cannot start: {hello['problem']}"
    if hello["nnodes"] != first["nnodes"]:
        return f"{who} says --nnodes {hello['nnodes']}, node 0 says --nnodes {first['nnodes']}"
    if hello["nproc"] != first["nproc"]:
        return f"{who} says --nproc {hello['nproc']}, node 0 says --nproc {first['nproc']} (every node runs as many)"
    return None


def _serve(nodes: Nodes, nproc: int, timeout: float) -> int:
    own = _hello(nodes, nproc, None)
    deadline = time.monotonic() + timeout
    try:
        server = socket.create_server(("", nodes.port), reuse_port=False)
    except OSError as exc:
        raise RendezvousError(f"node 0 cannot listen on port {nodes.port} ({exc.strerror or exc}); "
                              "choose another port in --rdzv-endpoint on every node") from None  # fmt: skip
    joined: dict[int, tuple[socket.socket, dict]] = {}
    try:
        while len(joined) < nodes.nnodes - 1:
            server.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                conn, _ = server.accept()
            except TimeoutError:
                missing = sorted(set(range(1, nodes.nnodes)) - set(joined))
                raise _fail(joined, f"node(s) {', '.join(map(str, missing))} did not join {nodes.endpoint} "
                                    f"within {timeout:.0f} s") from None  # fmt: skip
            hello = _recv(conn, min(deadline, time.monotonic() + 30))
            if hello is None or not isinstance(hello.get("node_rank"), int):
                conn.close()  # not one of ours (a port scan, a stray client): keep waiting
                continue
            rank = hello["node_rank"]
            problem = _mismatch(own, hello)
            if problem is None and (rank == 0 or rank in joined):
                taken = "node 0 (this one)" if rank == 0 else f"host {joined[rank][1]['host']}"
                problem = f"two nodes say --node-rank {rank}: host {hello.get('host')} and {taken}"
            if problem is not None:
                joined[-1] = (conn, hello)
                raise _fail(joined, problem)
            joined[rank] = (conn, hello)
        port = _free_port()
        for conn, _hello_msg in joined.values():
            _send(conn, {"ok": True, "master_port": port})
        return port
    finally:
        for conn, _msg in joined.values():
            conn.close()
        server.close()


def _fail(joined: dict[int, tuple[socket.socket, dict]], problem: str) -> RendezvousError:
    for conn, _msg in joined.values():
        _send(conn, {"ok": False, "error": problem})
    return RendezvousError(problem)


def _connect(nodes: Nodes, hello: dict, deadline: float) -> socket.socket:
    while True:
        try:
            conn = socket.create_connection((nodes.host, nodes.port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise RendezvousError(f"node 0 did not answer at {nodes.endpoint}: start the same command there "
                                      "with --node-rank 0, or check the address and port") from None  # fmt: skip
            time.sleep(0.5)
            continue
        _send(conn, hello)
        return conn


def join(nodes: Nodes, nproc: int, problem: str | None = None, timeout: float = JOIN_TIMEOUT_S) -> int:
    """Meet the other nodes' launchers; the ranks' MASTER_PORT (on ``nodes.host``).

    ``problem``: why this node cannot start (its arguments were refused); the others are told and
    this node returns at once (the caller reports it). RendezvousError when the nodes do not fit."""
    if nodes.node_rank == 0:
        if problem is not None:
            raise RendezvousError(problem)
        print(f"waiting for {nodes.nnodes - 1} more node(s) at port {nodes.port}", file=sys.stderr, flush=True)
        return _serve(nodes, nproc, timeout)
    deadline = time.monotonic() + timeout
    conn = _connect(nodes, _hello(nodes, nproc, problem), deadline)
    try:
        if problem is not None:
            raise RendezvousError(problem)
        answer = _recv(conn, deadline)
    finally:
        conn.close()
    if answer is None:
        raise RendezvousError(f"node 0 at {nodes.endpoint} gave no answer (it stopped, or is another program)")
    if not answer.get("ok"):
        raise RendezvousError(str(answer.get("error")))
    return int(answer["master_port"])

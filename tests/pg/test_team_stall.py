"""Nobody waits on a stalled peer, and live refresh survives a server restart (issue 22), on a
real PostgreSQL server (tests/pgserver.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from core.domain import ImageAnnotation, ReviewStatus, Target
from core.edits import AnnotationEdit, TargetChange
from core.errors import ImageBusy, ProjectError
from core.machine import MachineSettings
from core.store.live import ChangeListener
from core.store.project import Project
from tests._support.labels import set_note
from tests.unit.test_project import new

ROOT = Path(__file__).resolve().parents[2]

# A SIRST Studio client (the project's own engine and connection settings) that takes the
# image's row lock the way a save does, says so, and then hangs inside the transaction.
PEER = textwrap.dedent(
    """
    import sys, time
    from sqlalchemy import text
    from core.store.engine import make_engine
    engine = make_engine(sys.argv[1])
    with engine.begin() as conn:
        conn.execute(text("SELECT id FROM images WHERE id = :i FOR UPDATE"), {"i": int(sys.argv[2])})
        print("locked", flush=True)
        time.sleep(600)
    """
)


def _project_with_a_target(url: str) -> tuple[int, Target]:
    with Project.create(url, machine=MachineSettings("ann")) as p:
        ann = ImageAnnotation(targets=[Target(point=(5, 5), box=(4, 4, 7, 7))])
        (info,) = p.add_images([new("a", annotation=ann, status=ReviewStatus.NEW)])
        return info.id, p.targets(info.id)[0]


def test_a_frozen_peer_holding_a_lock_fails_the_edit_clearly_then_it_succeeds(pg_url) -> None:
    iid, t = _project_with_a_target(pg_url)
    peer = subprocess.Popen([sys.executable, "-c", PEER, pg_url, str(iid)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert peer.stdout.readline().strip() == "locked"
        os.kill(peer.pid, signal.SIGSTOP)  # a suspended laptop: its transaction stays open
        with Project.open(pg_url, machine=MachineSettings("bob")) as bob:
            edit = AnnotationEdit(iid, "Move", (TargetChange(t, replace(t, point=(6.0, 6.0))),))
            started = time.monotonic()
            with pytest.raises(ImageBusy, match="try again"):
                bob.apply_edit(edit)
            # Refused after the lock timeout (4 s), not after the 45 s+ of before.
            assert time.monotonic() - started < 30
            assert bob.targets(iid)[0].point == (5.0, 5.0)  # nothing of it was written
            # The server ends the stalled transaction (idle timeout, 10 s): the retry lands.
            deadline = time.monotonic() + 60
            while True:
                try:
                    bob.apply_edit(edit)
                    break
                except ImageBusy:
                    assert time.monotonic() < deadline, "the stalled lock was never released"
                    time.sleep(1)
            assert bob.targets(iid)[0].point == (6.0, 6.0)
    finally:
        os.kill(peer.pid, signal.SIGCONT)
        peer.kill()
        peer.wait(10)


def test_poll_returns_at_the_first_change(pg_url) -> None:
    iid, _t = _project_with_a_target(pg_url)
    with Project.open(pg_url, machine=MachineSettings("bob")) as bob:
        listener = ChangeListener(bob)
        try:
            writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
                import time
                from core.machine import MachineSettings
                from core.store.project import Project
                from tests._support.labels import set_note
                time.sleep(0.5)
                with Project.open({pg_url!r}, machine=MachineSettings("ann")) as p:
                    set_note(p, {iid}, "seen")
                """)], cwd=ROOT)  # fmt: skip
            started = time.monotonic()
            heard = listener.poll(timeout=120)
            waited = time.monotonic() - started
            writer.wait(60)
            assert [(c.image_id, c.author) for c in heard] == [(iid, "ann")]
            assert waited < 60  # it came back with the change, not after the 120 s asked
        finally:
            listener.close()


def test_live_refresh_catches_up_after_a_server_restart(tmp_path: Path) -> None:
    from tests.pgserver import own_server_or_skip

    server = own_server_or_skip()
    try:
        url = server.create_database()
        iid, _t = _project_with_a_target(url)
        with Project.open(url, machine=MachineSettings("bob")) as bob, \
                Project.open(url, machine=MachineSettings("ann")) as ann:  # fmt: skip
            listener = ChangeListener(bob)
            try:
                r = server.pg_ctl("-l", str(server.base / "server.log"), "-m", "fast", "restart")
                assert r.returncode == 0, r.stderr
                set_note(ann, iid, "made while nobody listened")
                with pytest.raises(ProjectError, match="lost the live connection"):
                    listener.poll(timeout=1.0)
                caught_up = listener.reconnect()  # what happened meanwhile, from the edit log
                assert [(c.image_id, c.author) for c in caught_up] == [(iid, "ann")]
                set_note(ann, iid, "after the restart")
                heard = listener.poll(timeout=10.0)
                assert [(c.image_id, c.author) for c in heard] == [(iid, "ann")]
            finally:
                listener.close()
    finally:
        server.stop()

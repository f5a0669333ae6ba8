"""A throw-away PostgreSQL server for the test suite (Debian's `postgresql` package).

The server refuses to run as root, so when the tests run as root it runs as the `postgres` OS
user, with its data directory and unix socket in a temp dir that user owns. It listens on
127.0.0.1 only, on a free port, with `trust` authentication (nothing else can reach it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = [Path(p) for p in os.environ.get("SIRST_PG_BIN", "").split(os.pathsep) if p] + sorted(
    Path("/usr/lib/postgresql").glob("*/bin"), reverse=True
)
SERVICE_USER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL bin dir holding initdb and pg_ctl, or None."""
    for d in BIN_DIRS:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bin_dir: Path
    base: Path
    port: int
    user: str  # the OS user that runs the server (and the database superuser name)

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://{SERVICE_USER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SERVICE_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        prefix: list[str] = []
        if os.geteuid() == 0:
            prefix = ["runuser", "-u", self.user, "--"]
        return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        data = self.base / "data"
        r = self._run(str(self.bin_dir / "initdb"), "-D", str(data), "-U", SERVICE_USER,
                      "--auth=trust", "-E", "UTF8", "--no-sync")  # fmt: skip
        if r.returncode:
            raise RuntimeError(f"initdb failed: {r.stderr or r.stdout}")
        r = self.start_again()
        if r.returncode:
            log = (self.base / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"pg_ctl start failed: {r.stderr or r.stdout}\n{log}")

    def pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        """``pg_ctl`` on this server's data dir, waiting (60 s at most) until it is done."""
        return self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.base / "data"), "-w", "-t", "60",
                         *args)  # fmt: skip

    def stop_for_now(self) -> subprocess.CompletedProcess:
        """A fast shutdown that keeps the data, so that ``start_again`` can bring it back."""
        return self.pg_ctl("-m", "fast", "stop")

    def start_again(self) -> subprocess.CompletedProcess:
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off -c max_connections=120"
        return self.pg_ctl("-l", str(self.base / "server.log"), "-o", opts, "start")

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.base / "data"), "-m", "fast",
                  "-w", "stop")  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)

    def create_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SERVICE_USER,
                             dbname="postgres", autocommit=True) as conn:  # fmt: skip
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(host="127.0.0.1", port=self.port, user=SERVICE_USER,
                             dbname="postgres", autocommit=True) as conn:  # fmt: skip
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def own_server_or_skip() -> PgServer:
    """A server of the test's own (one that it may stop or restart; the session's is shared):
    the test is skipped where none can start, except in CI (SIRST_REQUIRE_PG=1), where it fails."""
    import pytest

    try:
        return start_server()
    except (FileNotFoundError, RuntimeError) as e:
        if os.environ.get("SIRST_REQUIRE_PG") == "1":
            raise
        pytest.skip(f"no PostgreSQL server: {e}")


def start_server(attempts: int = 3) -> PgServer:
    """Start a server in a fresh temp dir; raises RuntimeError (with the log) on failure.
    Each test worker (pytest-xdist) starts its own: another process may take the free port
    between the check and the start, so a failed start is tried again on another port."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL binaries not found (apt-get install postgresql)")
    for attempt in range(attempts):
        base = Path(tempfile.mkdtemp(prefix="sirst-pg-"))
        user = pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            user = SERVICE_USER
            pw = pwd.getpwnam(SERVICE_USER)
            os.chown(base, pw.pw_uid, pw.pw_gid)
        os.chmod(base, 0o700)
        server = PgServer(bin_dir, base, _free_port(), user)
        try:
            server.start()
            return server
        except RuntimeError:
            shutil.rmtree(base, ignore_errors=True)
            if attempt == attempts - 1:
                raise
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            raise
    raise AssertionError("unreachable")

"""Live refresh: hear about changes other users commit to a shared project (ADR 0008).

PostgreSQL: LISTEN on the channel every committed change NOTIFYs (core/store/db.touch), on a
connection of its own, so a change is heard as soon as it commits. SQLite: the edit log is read
for rows after the last one seen (ids grow in commit order there: writers are serialised).
``poll()`` never blocks longer than asked, so a GUI timer can call it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import ProjectError
from core.store import db

MAX_CHANGES = 1000  # per poll: a burst is taken in slices, the GUI thread never stalls


@dataclass(frozen=True)
class Change:
    image_id: int
    version: int
    author: str


class ChangeListener:
    """Changes committed to ``project`` since the listener started (by anyone, this process
    included: compare versions to tell one's own apart)."""

    def __init__(self, project) -> None:
        self.project = project
        self._conn = None
        self._cursor = 0
        # The edit log's position: where a catch-up after a lost connection starts (a server
        # restart loses the NOTIFYs sent while nobody listened, never the log rows).
        self._cursor = project.latest_change()
        if project.is_server:
            self._conn = _listen(project.url)

    def poll(self, timeout: float = 0.0) -> list[Change]:
        """The changes heard since the last call, oldest first. On a server it waits up to
        ``timeout`` s for the first one and returns as soon as one arrives (with whatever else
        is already there). ProjectError when the live connection is lost: ``reconnect()``."""
        if self._conn is None:
            if not self.project.is_server:
                return self._since_cursor()
            raise ProjectError("the live connection to the server is closed; reconnect")
        import psycopg

        out: list[Change] = []
        try:
            # stop_after=1: return at the first change instead of waiting out the timeout, then
            # take what else has arrived without waiting.
            for wait, stop in ((timeout, 1), (0.0, None)):
                for n in self._conn.notifies(timeout=wait, stop_after=stop):
                    image_id, version, author = n.payload.split(":", 2)
                    out.append(Change(int(image_id), int(version), author))
                    if len(out) >= MAX_CHANGES:
                        return out
                if not out:
                    break
        except psycopg.Error as e:
            self.close()
            raise ProjectError(f"lost the live connection to {self.project.db_path} ({e})") from e
        if out:
            self._cursor = max(self._cursor, self._log_cursor_hint())
        return out

    def reconnect(self) -> list[Change]:
        """Listen again after a lost connection (server restart, outage) and return what was
        committed meanwhile, read from the edit log, so nothing is missed. ProjectError while
        the server is still unreachable (call again later)."""
        self.close()
        if self.project.is_server:
            self._conn = _listen(self.project.url)
        return self._since_cursor()

    def _since_cursor(self) -> list[Change]:
        rows = self.project.changes_since(self._cursor)
        if rows:
            self._cursor = rows[-1][0]
        return [Change(int(i), int(v), str(a)) for _, i, v, a in rows]

    def _log_cursor_hint(self) -> int:
        """The edit log's newest id (so a later catch-up starts after what was heard); kept
        cheap: only read when something was heard."""
        try:
            return int(self.project.latest_change())
        except ProjectError:
            return self._cursor

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def _listen(url: str):
    """A psycopg connection (autocommit) listening on the change channel."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
        conn.execute(f"LISTEN {db.CHANNEL}")
    except psycopg.Error as e:
        raise ProjectError(f"cannot listen for changes on the server ({e})") from e
    return conn

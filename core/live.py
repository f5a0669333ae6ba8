"""Live refresh: hear about changes other users commit to a shared project (ADR 0008).

PostgreSQL: LISTEN on the channel every committed change NOTIFYs (core/team_store.touch), on a
connection of its own, so a change is heard as soon as it commits. SQLite: the edit log is read
for rows after the last one seen (ids grow in commit order there: writers are serialised).
``poll()`` never blocks longer than asked, so a GUI timer can call it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import db
from core.errors import ProjectError


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
        if project.is_server:
            self._conn = _listen(project.url)
        else:
            self._cursor = project.latest_change()

    def poll(self, timeout: float = 0.0) -> list[Change]:
        """The changes heard since the last call, oldest first (waits up to ``timeout`` s for
        the first one on a server)."""
        if self._conn is None:
            rows = self.project.changes_since(self._cursor)
            if rows:
                self._cursor = rows[-1][0]
            return [Change(int(i), int(v), str(a)) for _, i, v, a in rows]
        import psycopg

        out = []
        try:
            for n in self._conn.notifies(timeout=timeout, stop_after=None):
                image_id, version, author = n.payload.split(":", 2)
                out.append(Change(int(image_id), int(version), author))
                if len(out) >= 1000:
                    break
        except psycopg.Error as e:
            raise ProjectError(f"lost the live connection to {self.project.db_path} ({e})") from e
        return out

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
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

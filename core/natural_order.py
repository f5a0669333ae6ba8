"""The natural order of image names: "Enhance-2" before "Enhance-11".

A leaf module (no project imports): the store's tables, its migrations and the listing all sort
by this key, and it must be the same function of the name everywhere.
"""

from __future__ import annotations

import re

# A digit run is written as its length (2 digits) then the digits without leading zeros, so that
# plain string order is numeric order for runs of up to 99 digits: "Enhance-2" < "Enhance-11".
_DIGITS = re.compile(r"\d+")


def natural_key(name: str) -> str:
    """The sort key of ``name`` in natural order (case-insensitive; numbers by value).

    Compared as plain strings (bytewise: SQLite's BINARY, PostgreSQL's "C" collation)."""

    def run(m: re.Match[str]) -> str:
        digits = m.group().lstrip("0") or "0"
        return f"{min(len(digits), 99):02d}{digits}"

    return _DIGITS.sub(run, name.casefold())

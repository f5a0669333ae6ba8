"""Small wording helpers shared by widgets and panels."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``"1 target"``, ``"3 targets"``; ``many`` for irregular plurals (``"miss", "misses"``)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"

"""One exception family per subsystem; every message says what is wrong and what to do."""

from __future__ import annotations


class SirstError(Exception):
    """Base of every error SIRST Studio raises on purpose."""


class ImageReadError(SirstError):
    """An image file cannot be read (missing, corrupt, truncated, unsupported)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}")


class FormatError(SirstError):
    """An annotation file is malformed (bad XML, non-numeric box, mask of the wrong size...)."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ProjectError(SirstError):
    """The project folder or database cannot be used (not a project, newer schema, locked...)."""


class CheckpointError(SirstError):
    """A model checkpoint is missing, truncated or incompatible."""

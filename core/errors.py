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


class DamagedMask(ProjectError):
    """A mask stored in the project (a PNG blob) cannot be decoded."""

    def __init__(self, message: str = "a mask stored in the project is damaged (PNG blob cannot be decoded)"):
        super().__init__(message)


class EditConflict(ProjectError):
    """An edit was refused because someone else changed the image since it was read.

    Optimistic concurrency (ADR 0008): nothing of the refused edit was written; the caller
    reloads the image (which then shows the other person's change) and may redo the edit.
    """

    def __init__(self, image_id: int, name: str, detail: str, by: str | None = None) -> None:
        self.image_id = int(image_id)
        self.image_name = name
        self.by = by
        who = f" by {by}" if by else ""
        super().__init__(
            f"image {name!r} was changed{who} meanwhile ({detail}); your edit was not applied, "
            "the image now shows the latest labels: check them and redo your edit if still needed"
        )


class ImageBusy(ProjectError):
    """Another writer holds the image (its save has not finished within the lock timeout: a
    frozen laptop, a cut network). Nothing was changed; the same edit may simply be retried."""


class ServerUnreachable(ProjectError):
    """The project's server could not be reached or dropped the connection (down, restarting,
    a cut network). Nothing was changed; the same edit may be retried once it is back."""


class CheckpointError(SirstError):
    """A model checkpoint is missing, truncated or incompatible."""

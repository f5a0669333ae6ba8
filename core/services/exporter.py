"""Export a project's accepted labels to DenseSIRST, COCO, Pascal VOC or YOLO.

Only ACCEPTED targets and the ACCEPTED sky are exported: proposals are not labels. Images are
copied byte for byte (DenseSIRST re-encodes non-PNG sources as PNG at full depth). Every file
is written atomically, so a cancelled or killed export leaves whole files only; re-running it
overwrites them.

An export never lies:
- every source file is checked against what was imported (sha256, and the header's size)
  before it is written: a file replaced after import, or a crafted stored path such as
  ``/etc/passwd``, is reported and skipped, never exported beside labels of another image;
- the format's index files (split lists, COCO JSON, data.yaml...) are deleted first and
  written last, so an interrupted or cancelled export has no index and cannot pass for a
  complete one (left-over temp files of a killed export are removed at the next start);
- nothing is written through a symlink: an OUT holding a symlinked folder is refused.

DenseSIRST split files: the names recorded by a DenseSIRST import (see core.services.importer, e.g.
``train_v2`` = TRAIN, ``trainval_v2`` = TRAIN + VAL) are written back with their members taken
from the project's current splits; splits no recorded file covers get ``Splits/<split>.txt``.
Without any record the files are ``train``, ``val``, ``test`` and ``trainval``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core import imageio
from core.domain import ImageAnnotation, ImageInfo, ReviewStatus, Split
from core.errors import FormatError, ImageReadError, SirstError
from core.formats import densesirst as ds
from core.formats._validate import validate_targets
from core.formats.coco import CocoWriter
from core.formats.voc import VocWriter
from core.formats.yolo import YoloWriter
from core.services.split_record import load_split_record
from core.store.project import Project

FORMATS = ("densesirst", "coco", "voc", "yolo")
DEFAULT_SPLIT_FILES = {
    "train": [Split.TRAIN.value],
    "val": [Split.VAL.value],
    "test": [Split.TEST.value],
    "trainval": [Split.TRAIN.value, Split.VAL.value],
}


@dataclass
class ExportReport:
    """``exported`` images written; ``skipped`` images refused (see ``errors``: (name, message));
    ``targets`` written; ``skipped_targets`` that the format cannot hold (a bare point in a
    box-only format); ``files`` the index files (JSON, split lists, data.yaml)."""

    out: Path
    fmt: str
    exported: int = 0
    skipped: int = 0
    targets: int = 0
    skipped_targets: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    cancelled: bool = False


# what each format's index files are called (relative globs): removed first, written last
INDEX_FILES = {
    "densesirst": ["Splits/*.txt"],
    "coco": ["annotations/instances_*.json"],
    "voc": ["ImageSets/Main/*.txt", "labelmap.txt"],
    "yolo": ["data.yaml", "classes.txt"],
}
# temp files of core.fileio (".<name>.<8 random chars>.tmp") that a killed export left behind
_STALE_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


class _Writer(Protocol):
    skipped_targets: int

    def add(self, info: ImageInfo, src: Path, ann: ImageAnnotation) -> None: ...

    def finish(self) -> list[Path]: ...


class DenseSirstWriter:
    """Writes every DenseSIRST file per image, and the split files at ``finish``."""

    def __init__(self, out: Path, split_files: dict[str, list[str]]) -> None:
        self.out = Path(out)
        self.split_files = split_files or DEFAULT_SPLIT_FILES
        self.members: dict[str, list[str]] = {}
        self.skipped_targets = 0

    def add(self, info: ImageInfo, src: Path, ann: ImageAnnotation) -> None:
        ds.write_sample(self.out, info.name, src, ann, info.width, info.height)
        self.members.setdefault(info.split.value, []).append(info.name)

    def finish(self) -> list[Path]:
        written = []
        covered: set[str] = set()
        for name, splits in sorted(self.split_files.items()):
            ids = [i for s in splits for i in self.members.get(s, [])]
            covered.update(splits)
            if ids:
                ds.write_split(self.out, name, sorted(ids))
                written.append(self.out / ds.SPLITS / f"{name}.txt")
        for split, ids in sorted(self.members.items()):
            if split not in covered and split != Split.UNASSIGNED.value:
                ds.write_split(self.out, split, sorted(ids))
                written.append(self.out / ds.SPLITS / f"{split}.txt")
        return written


def make_writer(project: Project, out: Path, fmt: str) -> _Writer:
    if fmt == "densesirst":
        return DenseSirstWriter(out, load_split_record(project.root))
    if fmt == "coco":
        return CocoWriter(out)
    if fmt == "voc":
        return VocWriter(out)
    if fmt == "yolo":
        return YoloWriter(out)
    raise FormatError(fmt, f"unknown export format; use one of {', '.join(FORMATS)}")


def export_project(
    project: Project,
    out: Path | str,
    fmt: str,
    split: Split | str | None = None,
    progress: Callable[..., object] | None = None,
    cancel: Callable[[], bool] | None = None,
    reviewed_only: bool = False,
) -> ExportReport:
    """Export the project's images (all, or one split; only REVIEWED ones with
    ``reviewed_only``) with their accepted labels into ``out``. FormatError, before anything
    is written, when ``out`` cannot be used. A cancelled export writes no index files."""
    out = Path(out)
    fmt = str(fmt).lower()
    writer = make_writer(project, out, fmt)
    status = ReviewStatus.REVIEWED if reviewed_only else None
    infos = sorted(
        project.list_images(split=Split(split) if split else None, status=status),
        key=lambda i: i.name,
    )
    _refuse_source_folder(project, out)
    prepare_out(out, fmt)
    report = ExportReport(out=out, fmt=fmt)
    for done, info in enumerate(infos, start=1):
        if cancel is not None and cancel():
            report.cancelled = True
            break
        _export_one(project, writer, info, report)
        if progress is not None:
            progress(done, len(infos), info.name)
    report.skipped_targets = writer.skipped_targets
    report.targets -= writer.skipped_targets
    if not report.cancelled:
        try:
            report.files = writer.finish()
        except OSError as exc:  # disk full at the very end: say the export is incomplete
            report.errors.append((
                "index files",
                f"could not be written ({exc.strerror or exc}); this export is incomplete: "
                "free some space and export again",
            ))  # fmt: skip
    return report


def prepare_out(out: Path, fmt: str) -> None:
    """Make ``out`` ready: a writable folder with no symlinked folder inside, old index files
    of ``fmt`` and stale temp files removed. FormatError (nothing written) otherwise."""
    if out.exists() and not out.is_dir():
        raise FormatError(out, "the export target is a file; choose a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FormatError(out, f"cannot create the export folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise FormatError(out, "the export folder is not writable; choose another one")
    stale = []
    for folder, dirs, files in os.walk(out):  # never follows symlinks
        for name in dirs:
            path = Path(folder) / name
            if path.is_symlink():
                raise FormatError(
                    path, "is a symlink inside the export folder; exports never write through "
                    "symlinks: remove it or choose an empty folder",
                )  # fmt: skip
        stale += [Path(folder) / n for n in files if _STALE_TEMP.match(n)]
    try:
        for pattern in INDEX_FILES.get(fmt, []):
            for path in out.glob(pattern):
                path.unlink()
        for path in stale:
            path.unlink()
    except OSError as exc:
        raise FormatError(out, f"cannot clear the old index files ({exc.strerror or exc})") from None


def _refuse_source_folder(project: Project, out: Path) -> None:
    """An export into the folder the images live in would replace the dataset's own index
    files (and, cancelled, leave the source without them): refuse it before touching OUT."""
    if not out.exists():
        return
    real = out.resolve()
    for info in project.list_images():
        if project.resolve_path(info).resolve().is_relative_to(real):
            raise FormatError(
                out, f"holds the project's own images (e.g. {info.name}); export into another "
                "folder so the source dataset stays as it is",
            )  # fmt: skip


def check_source(info: ImageInfo, src: Path) -> None:
    """The file at ``src`` is still the image that was imported; ImageReadError otherwise."""
    header = imageio.read_header(src)  # a regular image file (never /etc/passwd or a FIFO)
    if (header.width, header.height) != (info.width, info.height):
        raise ImageReadError(
            src, f"is {header.width}x{header.height} now, {info.width}x{info.height} when "
            "imported: the file was replaced; re-import it",
        )  # fmt: skip
    if info.sha256 and imageio.file_sha256(src) != info.sha256:
        raise ImageReadError(
            src, "changed since it was imported (its sha256 differs); its labels may not fit "
            "any more: check it and re-import it",
        )  # fmt: skip


def _export_one(project: Project, writer: _Writer, info: ImageInfo, report: ExportReport) -> None:
    src = project.resolve_path(info)
    if not src.is_file():
        report.skipped += 1
        report.errors.append((info.name, f"image file missing at {src}; re-link or restore it"))
        return
    try:
        check_source(info, src)
        ann = project.annotation(info.id)
        # labels stored by older versions may reach outside the image: clip them here too, so
        # no format gets "xmin 5001 ... xmax 640"; a label wholly outside skips the image
        targets, _clipped = validate_targets(info.name, ann.targets, info.width, info.height)
        ann = dataclasses.replace(ann, targets=targets)
        writer.add(info, src, ann)
    except (SirstError, OSError) as exc:
        report.skipped += 1
        report.errors.append((info.name, str(exc)))
        return
    report.exported += 1
    report.targets += len(ann.targets)

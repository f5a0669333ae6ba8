"""Export a project's accepted labels to DenseSIRST, COCO, Pascal VOC or YOLO.

Only ACCEPTED targets and the ACCEPTED sky are exported: proposals are not labels. Images are
copied byte for byte (DenseSIRST re-encodes non-PNG sources as PNG at full depth). Every file
is written atomically, so a cancelled or killed export leaves whole files only; re-running it
overwrites them. An image whose file is missing or unreadable is reported and skipped.

DenseSIRST split files: the names recorded by a DenseSIRST import (see core.importer, e.g.
``train_v2`` = TRAIN, ``trainval_v2`` = TRAIN + VAL) are written back with their members taken
from the project's current splits; splits no recorded file covers get ``Splits/<split>.txt``.
Without any record the files are ``train``, ``val``, ``test`` and ``trainval``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.errors import FormatError, SirstError
from core.formats import densesirst as ds
from core.formats.coco import CocoWriter
from core.formats.voc import VocWriter
from core.formats.yolo import YoloWriter
from core.importer import load_split_record
from core.project import Project
from core.types import ImageAnnotation, ImageInfo, ReviewStatus, Split

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
    """Export the project's images (all, or one split) with their accepted labels into ``out``.

    ``reviewed_only`` leaves out images whose status is not REVIEWED: a never-reviewed image
    would be written as an image with no targets, i.e. a wrong label.
    """
    out = Path(out)
    fmt = str(fmt).lower()
    writer = make_writer(project, out, fmt)
    if out.exists() and not out.is_dir():
        raise FormatError(out, "the export target is a file; choose a folder")
    out.mkdir(parents=True, exist_ok=True)
    infos = sorted(project.list_images(split=Split(split) if split else None), key=lambda i: i.name)
    if reviewed_only:
        infos = [i for i in infos if i.status == ReviewStatus.REVIEWED]
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
    report.files = writer.finish()
    return report


def _export_one(project: Project, writer: _Writer, info: ImageInfo, report: ExportReport) -> None:
    src = project.resolve_path(info)
    if not src.is_file():
        report.skipped += 1
        report.errors.append((info.name, f"image file missing at {src}; re-link or restore it"))
        return
    try:
        ann = project.annotation(info.id)
        writer.add(info, src, ann)
    except (SirstError, OSError) as exc:
        report.skipped += 1
        report.errors.append((info.name, str(exc)))
        return
    report.exported += 1
    report.targets += len(ann.targets)

"""COCO import: a COCO detection JSON into a project, through the importer's machinery
(core/services/importer.py: ``ImportTarget``, ``ImportReport``, batches, the thread pool).

A service of its own because the COCO reader stands a floor above the DenseSIRST one (it reads
mask files with it): the importer, and the demo built on it, need not stand on COCO
(docs/adr/0029)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core import imageio
from core.domain import ReviewStatus, Split
from core.errors import FormatError, SirstError
from core.formats import coco
from core.formats._io import check_id
from core.services.importer import (
    ImportReport,
    ImportTarget,
    Progress,
    add_in_batches,
    loaded_new,
    present_names,
)
from core.store.new_image import NewImage


def import_coco(
    project: ImportTarget,
    json_path: Path | str,
    images_dir: Path | str | None = None,
    split: Split | str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a COCO detection JSON: category "sky" (if any) becomes the sky mask, every other
    category a target (box, mask from the segmentation, point from our ``point`` extension).
    Images are looked up in ``images_dir`` (default: the JSON's folder)."""
    json_path = Path(json_path)
    images_dir = Path(images_dir) if images_dir else json_path.parent
    entries = coco.read_coco(json_path)
    report = ImportReport()
    present = present_names(project)
    forced = Split(split) if split else None

    def load(entry):
        try:
            return _coco_item(entry, images_dir, json_path, forced)
        except SirstError as exc:
            return exc

    def items() -> Iterator[NewImage | None]:
        for got in loaded_new(entries, lambda e: e.name in present, load, lambda e: e.name, report):
            if got is None:
                yield None
                continue
            entry, item = got
            report.warnings += [(entry.name, w) for w in entry.warnings]
            yield item

    add_in_batches(project, items(), len(entries), report, progress)
    return report


def _coco_item(entry, images_dir: Path, json_path: Path, forced: Split | None) -> NewImage:
    check_id(entry.name, json_path)
    if Path(entry.file_name).suffix.lower() not in imageio.IMAGE_SUFFIXES:
        raise FormatError(json_path, f"file_name {entry.file_name!r} is not a PNG/TIFF/JPEG/BMP")
    path = (images_dir / entry.file_name).resolve()
    if not path.is_relative_to(images_dir.resolve()):
        raise FormatError(json_path, f"file_name {entry.file_name!r} points outside {images_dir}")
    header, sha = imageio.probe_file(path)
    ann = coco.build_annotation(entry, header.width, header.height, json_path)
    return NewImage(
        path=path, name=entry.name, annotation=ann,
        split=forced or entry.split or Split.UNASSIGNED,
        status=ReviewStatus.REVIEWED if ann.targets or ann.sky is not None else ReviewStatus.NEW,
        header=header, sha256=sha,
    )  # fmt: skip

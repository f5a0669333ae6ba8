"""Import images and labels into a project: DenseSIRST folders and plain image folders here, COCO
JSON in core/services/coco_import.py on the same machinery.

Images are referenced in place (never copied or modified). Every image is read and checked
before it is added; a bad file (corrupt image, malformed XML, mask of the wrong size...) is
reported in ``ImportReport.errors`` and skipped while the rest imports. Images are added in
small batches, one transaction each, so an import killed mid-way leaves only whole images
(each with all its targets) and running it again adds just what is missing.

DenseSIRST split files map to project splits by name (``train*`` -> TRAIN, ``val*`` -> VAL,
``test*`` -> TEST; an image listed in ``trainval`` and in ``train`` gets TRAIN). The upstream
file names and the project splits each covers are kept in ``<project>/densesirst_splits.json``
so that export writes the same split files (e.g. ``train_v2``, ``val_v2``, ``trainval_v2``).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Protocol, TypeVar

from core import imageio
from core.domain import ImageInfo, ReviewStatus, Split
from core.errors import FormatError, ImageReadError, ProjectError, SirstError
from core.formats import densesirst as ds
from core.formats._io import check_id
from core.services.split_record import SPLIT_RECORD, load_split_record, record_split_files
from core.store.new_image import NewImage

BATCH = 32
T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[..., object]  # progress(done, total, label)


class ImportTarget(Protocol):
    """What an import uses of a project (``core.store.project.Project`` is one): its folder, its
    images, and the one call that adds images. Named so that the importer depends on these four
    members, not on the whole store (ADR 0025)."""

    root: Path

    def list_images(self) -> list[ImageInfo]: ...

    def resolve_path(self, info: ImageInfo) -> Path: ...

    def add_images(self, items: Iterable[NewImage]) -> list[ImageInfo]: ...


@dataclass
class ImportReport:
    """``added`` new images; ``skipped`` images refused (one ``errors`` entry each, as
    (name, message)); ``existing`` images already in the project (left untouched);
    ``warnings`` (name, message) about images added after a repair (a box clipped to the
    image, a mask with unusual values) or files ignored (an unreadable split file)."""

    added: int = 0
    skipped: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    existing: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def fail(self, name: str, message: str) -> None:
        self.skipped += 1
        self.errors.append((name, message))


# ---------------------------------------------------------------------------- DenseSIRST
def split_for_name(split_name: str) -> Split | None:
    """Project split of an upstream split file name; None for union files like ``trainval``."""
    low = split_name.lower()
    if low.startswith("trainval"):
        return None
    for prefix, split in (("train", Split.TRAIN), ("val", Split.VAL), ("test", Split.TEST)):
        if low.startswith(prefix):
            return split
    return None


def densesirst_splits(
    root: Path, bad: list[tuple[str, str]] | None = None
) -> tuple[dict[str, Split], dict[str, list[str]]]:
    """(split of every listed id, members of every split file). Specific files (train*, val*,
    test*) win over union files (trainval*); ids only in a union file go to TRAIN. Unsafe ids
    in split files are left out and appended to ``bad`` as (id, message)."""
    members: dict[str, list[str]] = {}
    for name in ds.list_splits(root):
        try:
            members[name], refused = ds.read_split_lenient(root, name)
        except FormatError as exc:  # one unreadable split file must not sink the import
            if bad is not None:
                bad.append((f"{ds.SPLITS}/{name}.txt", f"{exc}; split file ignored"))
            continue
        if bad is not None:
            bad += [(i, str(exc)) for i, exc in refused]
    of_id: dict[str, Split] = {}
    for name, ids in members.items():
        split = split_for_name(name)
        if split is not None:
            for i in ids:
                of_id.setdefault(i, split)
    for name, ids in members.items():
        if split_for_name(name) is None and name.lower().startswith("trainval"):
            for i in ids:
                of_id.setdefault(i, Split.TRAIN)
    return of_id, members


def check_densesirst_source(root: Path | str, split: str | None = None) -> int:
    """Number of images an import of ``root`` (one split or all) would consider; FormatError
    (nothing is touched) when the folder, the split name or the selection is unusable."""
    root = Path(root)
    bad: list[tuple[str, str]] = []
    of_id, members = densesirst_splits(root, bad)
    ids = _select_ids(root, split, of_id, members)
    if not ids:
        what = f"split {split!r} of " if split else ""
        raise FormatError(root, f"{what}this DenseSIRST folder lists no images")
    return len(ids)


def _select_ids(
    root: Path, split: str | None, of_id: dict[str, Split], members: dict[str, list[str]]
) -> list[str]:
    """Every image (those in PNGImages plus those a split file lists, so that a listed image
    whose file is missing gets reported), or those of one split file or project split."""
    all_ids = sorted(set(ds.list_ids(root)) | set(of_id))
    if not split:
        return all_ids
    if split in members:
        return members[split]
    values = {s.value for s in Split}
    if split in values:
        return [i for i in all_ids if of_id.get(i, Split.UNASSIGNED).value == split]
    known = ", ".join([*ds.list_splits(root), *sorted(values)])
    raise FormatError(root / ds.SPLITS, f"unknown split {split!r}; use one of: {known}")


def import_densesirst(
    project: ImportTarget,
    src: Path | str,
    split: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a SIRSTdevkit folder (all images, or one split). Labels become ACCEPTED / MANUAL
    targets and an ACCEPTED sky; images get status REVIEWED."""
    root = Path(src)
    load_split_record(project.root)  # unreadable record: refuse before anything changes
    bad: list[tuple[str, str]] = []
    of_id, members = densesirst_splits(root, bad)
    ids = _select_ids(root, split, of_id, members)
    report = ImportReport()
    for name, message in dict(bad).items():
        if name.startswith(f"{ds.SPLITS}/"):
            report.warnings.append((name, message))
        else:
            report.fail(name, message)
    present = present_names(project)

    def load(image_id: str):
        try:
            sample = ds.read_sample(root, image_id)
            return sample, imageio.probe_file(sample.image_path)
        except (FormatError, ImageReadError) as exc:
            return exc, None

    def items() -> Iterator[NewImage | None]:
        todo = [i for i in ids if i not in present]
        for _ in range(len(ids) - len(todo)):
            report.existing += 1
            yield None
        for image_id, (sample, probed) in zip(todo, ordered_map(load, todo), strict=True):
            if probed is None:
                report.fail(image_id, str(sample))
                yield None
                continue
            header, sha = probed
            report.warnings += [(image_id, w) for w in sample.warnings]
            yield NewImage(
                path=sample.image_path, name=image_id, annotation=sample.annotation,
                split=of_id.get(image_id, Split.UNASSIGNED), status=ReviewStatus.REVIEWED,
                header=header, sha256=sha,
            )  # fmt: skip

    add_in_batches(project, items(), len(ids), report, progress)
    try:
        record_split_files(project.root, members, of_id)
    except OSError as exc:  # disk full, read-only folder: the images are in, say what is not
        report.errors.append((
            SPLIT_RECORD,
            f"could not be written ({exc.strerror or exc}); the images were added, but an "
            "export will use default split names until an import writes it",
        ))  # fmt: skip
    return report


# ---------------------------------------------------------------------------- plain images
def collect_images(folder_or_paths: Path | str | Iterable[Path | str]) -> list[Path]:
    """Image files of a folder (recursively, sorted) or of an explicit list."""
    if isinstance(folder_or_paths, str | Path):
        src = Path(folder_or_paths)
        if src.is_file():
            return [src]
        if not src.is_dir():
            raise ImageReadError(src, "no such file or folder")
        found = [p for p in src.rglob("*") if p.suffix.lower() in imageio.IMAGE_SUFFIXES]
        found = [p for p in found if not p.name.startswith(".") and p.is_file()]
        if not found:
            raise ImageReadError(src, "the folder holds no PNG, TIFF, JPEG or BMP file")
        return sorted(found)
    return [Path(p) for p in folder_or_paths]


def import_images(
    project: ImportTarget,
    folder_or_paths: Path | str | Iterable[Path | str],
    split: Split = Split.UNASSIGNED,
    progress: Progress | None = None,
) -> ImportReport:
    """Add unlabelled images (PNG/TIFF/JPEG/BMP, 8/16-bit) with status NEW. An image already in
    the project (same name and file) is left alone; a different file with a taken name gets
    a ``-2``, ``-3``... suffix."""
    paths = collect_images(folder_or_paths)
    infos = {i.name: i for i in project.list_images()}
    known_paths = {project.resolve_path(i).resolve() for i in infos.values()}
    taken = set(infos)
    report = ImportReport()

    def load(path: Path):
        try:
            check_id(path.stem, "file name")  # a name every exporter would refuse
            return imageio.probe_file(path)
        except (ImageReadError, FormatError) as exc:
            return exc

    def items() -> Iterator[NewImage | None]:
        for got in loaded_new(paths, lambda p: p.resolve() in known_paths, load, lambda p: p.name, report):
            if got is None:
                yield None
                continue
            path, (header, sha) = got
            name = _free_name(path.stem, taken)
            taken.add(name)
            yield NewImage(path=path.resolve(), name=name, split=Split(split),
                           status=ReviewStatus.NEW, header=header, sha256=sha)  # fmt: skip

    add_in_batches(project, items(), len(paths), report, progress)
    return report


def _free_name(stem: str, taken: set[str]) -> str:
    if stem not in taken:
        return stem
    n = 2
    while f"{stem}-{n}" in taken:
        n += 1
    return f"{stem}-{n}"


# ---------------------------------------------------------------------------- batching
def present_names(project: ImportTarget) -> set[str]:
    return {i.name for i in project.list_images()}


def workers() -> int:
    """Threads that read and check files: the cores this process may use (at most 4)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def ordered_map(fn: Callable[[T], R], items: Iterable[T], n: int | None = None) -> Iterator[R]:
    """``map(fn, items)`` on a thread pool, results in order, a few items ahead at most.

    Reading, inflating (zlib), hashing (hashlib), decoding (OpenCV) and most numpy work release
    the GIL, so a file check per thread uses every core. ``fn`` must return its expected errors
    as values: any exception it raises stops the iteration, pending work is cancelled."""
    n = workers() if n is None else n
    it = iter(items)
    if n <= 1:
        yield from map(fn, it)
        return
    pool = ThreadPoolExecutor(n, thread_name_prefix="import")
    try:
        # a batch ahead: the workers go on while the caller commits the previous batch
        window = deque(pool.submit(fn, x) for x in islice(it, BATCH + 2 * n))
        while window:
            done = window.popleft().result()
            window.extend(pool.submit(fn, x) for x in islice(it, 1))
            yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def loaded_new(
    keys: list[T], known: Callable[[T], bool], load: Callable[[T], R | SirstError],
    name: Callable[[T], str], report: ImportReport,
) -> Iterator[tuple[T, R] | None]:
    """``(key, load(key))`` for each key not ``known`` (loaded on the thread pool, in order); None
    for each known key (counted in ``report.existing``) and for each load that returned an error
    (reported under ``name(key)``): the stream ``add_in_batches`` counts its progress on."""
    todo = [k for k in keys if not known(k)]
    for _ in range(len(keys) - len(todo)):
        report.existing += 1
        yield None
    for key, item in zip(todo, ordered_map(load, todo), strict=True):
        if isinstance(item, SirstError):
            report.fail(name(key), str(item))
            yield None
        else:
            yield key, item


def add_in_batches(
    project: ImportTarget,
    items: Iterable[NewImage | None],
    total: int,
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """Add ``items`` BATCH at a time (None = already counted as skipped/existing)."""
    batch: list[NewImage] = []
    done = 0
    for item in items:
        done += 1
        if item is not None:
            batch.append(item)
        if len(batch) >= BATCH:
            _flush(project, batch, report)
            batch = []
        if progress is not None:
            progress(done, total, item.name if item is not None else "")
    _flush(project, batch, report)
    if progress is not None:
        progress(total, total, "")


def _flush(project: ImportTarget, batch: list[NewImage], report: ImportReport) -> None:
    if not batch:
        return
    if len(batch) > 1:
        try:
            report.added += len(project.add_images(batch))
            return
        except ProjectError:
            pass  # one bad item spoils its batch's transaction: retry one by one to find it
    for item in batch:
        try:
            report.added += len(project.add_images([item]))
        except ProjectError as exc:
            report.fail(str(item.name), str(exc))

"""The big round trip: import all of SIRSTdevkit, export it as DenseSIRST, compare with the source.

Every image's boxes and points (as multisets), target and sky masks (pixel-exact), image bytes
and split membership must come back unchanged.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.domain import ReviewStatus, Split, TargetState
from core.formats import densesirst as ds
from core.services.exporter import export_project
from core.services.importer import import_densesirst
from core.store.project import Project

pytestmark = [pytest.mark.dataset, pytest.mark.slow]


@pytest.fixture(scope="module")
def roundtrip(densesirst_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("roundtrip")
    with Project.create(base / "project") as project:
        imported = import_densesirst(project, densesirst_root)
        exported = export_project(project, base / "out", "densesirst")
        infos = project.list_images()
        first = project.annotation(infos[0].id, states=(TargetState.ACCEPTED, TargetState.PROPOSAL))
    return {"imported": imported, "exported": exported, "out": base / "out", "infos": infos,
            "first": first}  # fmt: skip


def _boxes(path: Path) -> Counter:
    text = path.read_text()
    return Counter(text.split("<object>")[1:])  # each object block, compared verbatim


def _lines(path: Path) -> Counter:
    return Counter(line for line in path.read_text().splitlines() if line.strip())


def _mask(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 0


def assert_same_boxes_points_image(out: Path, root: Path, image_id: str) -> None:
    """The exported image's XML objects and point list are the original's (any order), its PNG
    the original byte for byte (also used by tests/pg/test_pg_roundtrip.py)."""
    xml = f"{ds.BBOX}/{image_id}.xml"
    assert _boxes(out / xml) == _boxes(root / xml), xml
    pts = f"{ds.POINTS}/{image_id}_pixels0.txt"
    assert _lines(out / pts) == _lines(root / pts), pts
    img = f"{ds.IMAGES}/{image_id}.png"
    a, b = (hashlib.sha256((folder / img).read_bytes()).digest() for folder in (out, root))
    assert a == b, img


def assert_same_masks(out: Path, root: Path, image_id: str) -> None:
    """The exported target and sky masks are the original's, pixel for pixel."""
    for folder in (ds.TARGET_BIN, ds.SKY_BIN):
        rel = f"{folder}/{image_id}_pixels0.png"
        assert np.array_equal(_mask(out / rel), _mask(root / rel)), rel


def test_every_image_imported_and_exported(roundtrip: dict, densesirst_root: Path) -> None:
    ids = ds.list_ids(densesirst_root)
    assert len(ids) == 768
    rep = roundtrip["imported"]
    assert (rep.added, rep.skipped, rep.errors) == (768, 0, [])
    exp = roundtrip["exported"]
    assert (exp.exported, exp.skipped, exp.skipped_targets, exp.errors) == (768, 0, 0, [])
    assert {i.name for i in roundtrip["infos"]} == set(ids)
    assert {i.status for i in roundtrip["infos"]} == {ReviewStatus.REVIEWED}
    counts = Counter(i.split for i in roundtrip["infos"])
    assert counts == {Split.TRAIN: 512, Split.VAL: 256}


def test_imported_labels_are_accepted_manual(roundtrip: dict) -> None:
    ann = roundtrip["first"]
    assert ann.targets and ann.sky is not None
    assert all(t.state == TargetState.ACCEPTED and t.source == "manual" for t in ann.targets)


def test_boxes_points_and_images_identical(roundtrip: dict, densesirst_root: Path) -> None:
    for image_id in ds.list_ids(densesirst_root):
        assert_same_boxes_points_image(roundtrip["out"], densesirst_root, image_id)


def test_masks_pixel_exact(roundtrip: dict, densesirst_root: Path) -> None:
    for image_id in ds.list_ids(densesirst_root):
        assert_same_masks(roundtrip["out"], densesirst_root, image_id)


def test_split_membership(roundtrip: dict, densesirst_root: Path) -> None:
    out = roundtrip["out"]
    assert ds.list_splits(out) == ds.list_splits(densesirst_root)
    for name in ds.list_splits(densesirst_root):
        assert set(ds.read_split(out, name)) == set(ds.read_split(densesirst_root, name)), name
        assert not (out / ds.SPLITS / f"{name}.txt").read_bytes().endswith(b"\n")

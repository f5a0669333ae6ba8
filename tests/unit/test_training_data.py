"""core.services.training_data: what model/ trains and evaluates on, read from a project."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from core.domain import ImageAnnotation, ReviewStatus, Split, Target, TargetState
from core.services.training_data import labelled_images
from core.store.new_image import NewImage
from core.store.project import Project
from model.compare import project_items
from model.data import load_project, make_sample


def _project(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Three images written to disk: two in train (one reviewed), one in val."""
    root = tmp_path / "proj"
    rng = np.random.default_rng(4)
    pixels = {}
    items = []
    for name, split, status in (("b", Split.TRAIN, ReviewStatus.REVIEWED),
                                ("a", Split.TRAIN, ReviewStatus.PRE_ANNOTATED),
                                ("c", Split.VAL, ReviewStatus.REVIEWED)):  # fmt: skip
        img = rng.integers(0, 65535, (12, 16), dtype=np.uint16)
        path = tmp_path / f"{name}.png"
        assert cv2.imwrite(str(path), img)
        pixels[name] = img
        sky = np.zeros((12, 16), bool)
        sky[:4] = True
        ann = ImageAnnotation(targets=[
            Target(point=(5.5, 6.5), box=(5, 6, 8, 9)),
            Target(box=(1, 1, 3, 3), state=TargetState.PROPOSAL, score=0.4),
        ], sky=sky)  # fmt: skip
        items.append(NewImage(path, name=name, split=split, annotation=ann, status=status))
    with Project.create(root) as p:
        p.add_images(items)
    return root, pixels


def test_labelled_images_reads_pixels_from_disk_and_accepted_labels(tmp_path: Path) -> None:
    root, pixels = _project(tmp_path)
    count, images = labelled_images(root, "train")
    got = list(images)
    assert count == 2 and [im.name for im in got] == ["b", "a"]  # import order
    for im in got:
        assert np.array_equal(im.pixels, pixels[im.name]) and im.pixels.dtype == np.uint16
        assert [t.box for t in im.annotation.targets] == [(5, 6, 8, 9)]  # the proposal is not a label
        assert im.annotation.sky is not None and int(im.annotation.sky.sum()) == 4 * 16
    count, images = labelled_images(root, Split.TRAIN, reviewed_only=True)
    assert count == 1 and [im.name for im in images] == ["b"]
    assert labelled_images(root, "test")[0] == 0


def test_an_unused_iterator_holds_the_project_closed(tmp_path: Path) -> None:
    root, _ = _project(tmp_path)
    count, _images = labelled_images(root, "val")
    assert count == 1
    # Nothing is held open: SQLite removes the -wal file when the last connection closes.
    assert not (root / "project.sqlite-wal").exists()


def test_model_reads_projects_through_the_service(tmp_path: Path) -> None:
    root, pixels = _project(tmp_path)
    samples = load_project(root, "train", reviewed_only=True)
    assert [s.name for s in samples] == ["b"]
    # the file's pixels, through the model's own input conversion
    assert samples[0].raw_max == 65535
    assert np.array_equal(samples[0].image, make_sample("b", pixels["b"], ImageAnnotation()).image)
    assert samples[0].boxes.tolist() == [[5, 6, 8, 9]]
    n, items = project_items(root, "val")
    items = list(items)
    assert n == 1 and items[0].name == "c" and np.array_equal(items[0].raw, pixels["c"])
    assert items[0].boxes.tolist() == [[5, 6, 8, 9]] and items[0].sky.sum() == 4 * 16

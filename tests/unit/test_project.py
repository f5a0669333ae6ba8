"""core.store.project: round trips, undo-style delete/restore, batch atomicity, listing, sky, models."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.domain import (
    ImageAnnotation,
    ModelVersion,
    ReviewStatus,
    Source,
    Split,
    Target,
    TargetMask,
    TargetState,
)
from core.errors import ProjectError
from core.store import db
from core.store.new_image import NewImage
from core.store.project import Project
from tests._support.labels import (
    add_target,
    delete_targets,
    replace_proposals,
    restore_targets,
    set_note,
    set_sky_mask,
    set_split,
    set_status,
    set_target_states,
    update_target,
)

W, H = 40, 30


def header(w: int = W, h: int = H, bit_depth: int = 8, channels: int = 1) -> SimpleNamespace:
    return SimpleNamespace(width=w, height=h, bit_depth=bit_depth, channels=channels)


def new(name: str, path: Path | str | None = None, **kw) -> NewImage:
    kw.setdefault("header", header())
    kw.setdefault("sha256", f"sha-{name}")
    return NewImage(path=path or f"/nowhere/{name}.png", name=name, **kw)


def rich_annotation(rng: np.random.Generator) -> ImageAnnotation:
    return ImageAnnotation(
        targets=[
            Target(point=(3.25, 4.75)),
            Target(box=(10.0, 11.0, 13.5, 14.0), source=Source.SYNTHETIC),
            Target(
                point=(20.0, 21.0),
                box=(19.0, 20.0, 22.0, 23.0),
                mask=TargetMask(19, 20, rng.random((3, 3)) > 0.4),
                source=Source.MODEL,
                score=0.8125,
                state=TargetState.PROPOSAL,
            ),
            Target(point=(1, 1), box=(0, 0, 3, 2), mask=TargetMask(0, 0, np.ones((2, 3), bool))),
        ],
        sky=rng.random((H, W)) > 0.5,
        target_mask_extra=rng.random((H, W)) > 0.9,
    )


@pytest.fixture
def project(project_target):
    """The same tests on both back-ends: an SQLite folder and a PostgreSQL database (ADR 0008)."""
    with Project.create(project_target) as p:
        yield p


def test_mask_codec_is_pixel_exact_and_fresh() -> None:
    rng = np.random.default_rng(1)
    for shape in [(1, 1), (1, 7), (9, 1), (31, 17), (256, 320)]:
        mask = rng.random(shape) > 0.5
        back = db.decode_mask(db.encode_mask(mask))
        assert back.dtype == bool and back.shape == shape
        assert np.array_equal(back, mask)
        assert back.flags.writeable
    with pytest.raises(ProjectError, match="non-empty 2-D"):
        db.encode_mask(np.zeros((0, 3), bool))


def test_round_trip_every_field_survives_reopen(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ann = rich_annotation(rng)
    root = tmp_path / "proj"
    inside = root / "images" / "a.png"
    with Project.create(root) as p:
        added = p.add_images([
            new("a", inside, annotation=ann, split=Split.VAL, status=ReviewStatus.PRE_ANNOTATED,
                header=header(bit_depth=16, channels=3)),
            new("b", tmp_path / "outside" / "b.png"),
        ])  # fmt: skip
        set_note(p, added[0].id, "hot pixel top-left")
        image_id = added[0].id
    with Project.open(root) as p:
        info = p.get_image(image_id)
        assert (info.name, info.path, info.width, info.height) == ("a", "images/a.png", W, H)
        assert (info.bit_depth, info.channels, info.sha256) == (16, 3, "sha-a")
        assert (info.split, info.status, info.note) == (
            Split.VAL,
            ReviewStatus.PRE_ANNOTATED,
            "hot pixel top-left",
        )
        assert (info.n_targets, info.n_proposals) == (3, 1)
        assert p.resolve_path(info) == root / "images" / "a.png"
        outside = p.find_image("b")
        assert outside is not None and outside.path == str(tmp_path / "outside" / "b.png")
        got = p.annotation(image_id, states=(TargetState.ACCEPTED, TargetState.PROPOSAL))
        assert [replace_id(t) for t in got.targets] == ann.targets
        assert all(t.id is not None for t in got.targets)
        assert np.array_equal(got.sky, ann.sky)
        assert np.array_equal(got.target_mask_extra, ann.target_mask_extra)
        accepted_only = p.annotation(image_id)
        assert [t.state for t in accepted_only.targets] == [TargetState.ACCEPTED] * 3


def replace_id(t: Target) -> Target:
    return Target(t.point, t.box, t.mask, t.source, t.score, t.state, id=None)


def test_delete_then_restore_gives_identical_targets_and_ids(project: Project) -> None:
    image_id = project.add_images([new("a", annotation=rich_annotation(np.random.default_rng(3)))])[
        0
    ].id
    before = project.targets(image_id)
    victims = [before[0].id, before[2].id]
    deleted = delete_targets(project, image_id, victims)
    assert [t.id for t in deleted] == victims
    assert deleted[1].mask is not None and deleted[1] == before[2]
    assert [t.id for t in project.targets(image_id)] == [before[1].id, before[3].id]
    restore_targets(project, image_id, deleted)
    assert project.targets(image_id) == before
    with pytest.raises(ProjectError, match="exists already"):
        restore_targets(project, image_id, deleted)
    assert project.targets(image_id) == before  # the failed restore changed nothing


def test_add_target_never_reuses_an_id(project: Project) -> None:
    image_id = project.add_images([new("a")])[0].id
    t = add_target(project, image_id, Target(point=(5, 6), id=77))
    assert t.id not in (None, 77) and project.targets(image_id) == [t]
    delete_targets(project, image_id, [t.id])  # the newest id is freed: SQLite would reuse it
    t2 = add_target(project, image_id, Target(point=(7, 8)))
    assert t2.id > t.id
    with pytest.raises(ProjectError, match="no image with id"):
        add_target(project, 999, Target(point=(1, 1)))


def test_update_target_and_states(project: Project) -> None:
    image_id = project.add_images([new("a")])[0].id
    t = add_target(project, image_id, Target(point=(5, 6), state=TargetState.PROPOSAL, score=0.4))
    t.point, t.box = (5.5, 6.5), (4.0, 5.0, 7.0, 8.0)
    t.mask = TargetMask(4, 5, np.eye(3, dtype=bool))
    update_target(project, image_id, t)
    assert project.targets(image_id) == [t]
    set_target_states(project, image_id, [t.id], TargetState.ACCEPTED)
    assert project.targets(image_id, TargetState.ACCEPTED)[0].state == TargetState.ACCEPTED
    assert project.targets(image_id, TargetState.PROPOSAL) == []
    delete_targets(project, image_id, [t.id])
    with pytest.raises(ProjectError, match="no longer exists"):
        update_target(project, image_id, t)
    with pytest.raises(ProjectError, match="id is None"):
        update_target(project, image_id, Target(point=(1, 1)))


class Boom(RuntimeError):
    pass


def test_add_images_batch_is_all_or_nothing(project: Project, monkeypatch) -> None:
    rng = np.random.default_rng(4)
    project.add_images([new("kept", annotation=rich_annotation(rng))])
    real, calls = db.fill_target_row, {"n": 0}

    def failing(row, target):
        calls["n"] += 1
        if calls["n"] == 6:  # in the middle of the second image of the batch
            raise Boom("simulated crash")
        return real(row, target)

    monkeypatch.setattr(db, "fill_target_row", failing)
    batch = [new(f"b{i}", annotation=rich_annotation(rng)) for i in range(3)]
    with pytest.raises(Boom):
        project.add_images(batch)
    assert calls["n"] == 6
    assert [i.name for i in project.list_images()] == ["kept"]
    assert project.stats(check_files=False).n_targets == 3  # only "kept"'s accepted targets
    monkeypatch.setattr(db, "fill_target_row", real)
    assert [i.name for i in project.add_images(batch)] == ["b0", "b1", "b2"]


def test_add_images_rejects_wrong_mask_shape_and_adds_nothing(project: Project) -> None:
    bad = ImageAnnotation(sky=np.zeros((H + 1, W), bool))
    with pytest.raises(ProjectError, match="'b'.*shape"):
        project.add_images([new("a"), new("b", annotation=bad)])
    assert project.list_images() == []


def test_reimport_adds_only_new_names_and_defaults_status(project: Project) -> None:
    ann = ImageAnnotation(targets=[Target(point=(1, 2))])
    proposals = ImageAnnotation(targets=[Target(point=(1, 2), state=TargetState.PROPOSAL)])
    first = project.add_images(
        [new("a", annotation=ann), new("b"), new("b"), new("c", annotation=proposals)]
    )
    assert [(i.name, i.status) for i in first] == [
        ("a", ReviewStatus.REVIEWED), ("b", ReviewStatus.NEW), ("c", ReviewStatus.PRE_ANNOTATED),
    ]  # fmt: skip
    again = project.add_images([new("a"), new("d"), new("b")])
    assert [i.name for i in again] == ["d"]
    assert [i.name for i in project.list_images()] == ["a", "b", "c", "d"]
    unnamed = project.add_images([NewImage(path="/x/frame_9.png", header=header(), sha256="s")])
    assert unnamed[0].name == "frame_9"


def test_list_images_counts_filters_and_search(project: Project) -> None:
    accepted = [Target(point=(i, i)) for i in range(3)]
    proposal = [Target(point=(9, 9), state=TargetState.PROPOSAL, score=0.5)]
    project.add_images([
        new("Misc_1", annotation=ImageAnnotation(targets=accepted + proposal), split=Split.TRAIN,
            status=ReviewStatus.PRE_ANNOTATED),
        new("misc_20", split=Split.VAL),
        new("iraytek_5", split=Split.TRAIN, status=ReviewStatus.REVIEWED),
        new("50%_done", split=Split.VAL),
    ])  # fmt: skip
    counts = {i.name: (i.n_targets, i.n_proposals) for i in project.list_images()}
    assert counts == {"Misc_1": (3, 1), "misc_20": (0, 0), "iraytek_5": (0, 0), "50%_done": (0, 0)}
    assert [i.name for i in project.list_images(split=Split.VAL)] == ["misc_20", "50%_done"]
    assert [i.name for i in project.list_images(split="train", status="reviewed")] == ["iraytek_5"]
    assert [i.name for i in project.list_images(search="MISC")] == ["Misc_1", "misc_20"]
    assert [i.name for i in project.list_images(search="%")] == [
        "50%_done"
    ]  # literal, not wildcard
    assert [i.name for i in project.list_images(search="c_")] == ["Misc_1", "misc_20"]
    assert project.list_images(search="zzz") == []


def test_missing_files_are_reported_not_fatal(project: Project, tmp_path: Path) -> None:
    present = project.root / "img" / "here.png"
    present.parent.mkdir()
    present.write_bytes(b"png")
    gone = tmp_path / "gone.png"
    gone.write_bytes(b"png")
    project.add_images(
        [new("here", present), new("gone", gone), new("never", tmp_path / "never.png")]
    )
    gone.unlink()
    assert all(not i.missing for i in project.list_images())  # cheap listing does not stat
    assert [i.name for i in project.check_missing()] == ["gone", "never"]
    flags = {i.name: i.missing for i in project.list_images(check_files=True)}
    assert flags == {"here": False, "gone": True, "never": True}
    assert project.stats().n_missing == 2


def test_replace_proposals_swaps_only_proposals(project: Project) -> None:
    reviewed, fresh = project.add_images([
        new("r", status=ReviewStatus.REVIEWED, annotation=ImageAnnotation(targets=[Target(point=(1, 1))])),
        new("n"),
    ])  # fmt: skip
    mv = project.add_model_version(
        ModelVersion(None, "m1", "/w/m1.safetensors", "2025-01-01T00:00:00")
    )
    sky = np.zeros((H, W), bool)
    sky[:10] = True
    first = replace_proposals(project,
        fresh.id, [Target(point=(2, 2), source=Source.MODEL)], sky, mv.id
    )
    assert [t.state for t in first] == [TargetState.PROPOSAL] and first[0].id is not None
    assert project.get_image(fresh.id).status == ReviewStatus.PRE_ANNOTATED
    assert np.array_equal(project.sky_mask(fresh.id, TargetState.PROPOSAL), sky)
    assert project.sky_mask(fresh.id) is None  # the proposal is not the accepted sky
    second = [Target(point=(3, 3), score=0.9), Target(point=(4, 4), score=0.7)]
    replace_proposals(project, fresh.id, second, None)
    assert [t.point for t in project.targets(fresh.id, TargetState.PROPOSAL)] == [
        (3.0, 3.0),
        (4.0, 4.0),
    ]
    assert project.sky_mask(fresh.id, TargetState.PROPOSAL) is None
    replace_proposals(project, reviewed.id, second, sky)
    info = project.get_image(reviewed.id)
    assert (info.status, info.n_targets, info.n_proposals) == (ReviewStatus.REVIEWED, 1, 2)
    with pytest.raises(ProjectError, match="shape"):
        replace_proposals(project, reviewed.id, [], np.zeros((2, 2), bool))
    with pytest.raises(ProjectError, match="no model version with id 999"):
        replace_proposals(project, reviewed.id, [], None, model_version_id=999)
    assert project.get_image(reviewed.id).n_proposals == 2  # failed calls changed nothing


def test_sky_mask_set_replace_remove(project: Project) -> None:
    image_id = project.add_images([new("a")])[0].id
    assert project.sky_mask(image_id) is None
    sky = np.random.default_rng(5).random((H, W)) > 0.3
    set_sky_mask(project, image_id, sky)
    got = project.sky_mask(image_id)
    got[:] = False  # a fresh array: editing it must not touch the stored mask
    assert np.array_equal(project.sky_mask(image_id), sky)
    set_sky_mask(project, image_id, ~sky, source=Source.MODEL)
    assert np.array_equal(project.sky_mask(image_id), ~sky)
    assert project.stats(check_files=False).n_with_sky == 1
    set_sky_mask(project, image_id, None)
    assert project.sky_mask(image_id) is None and project.annotation(image_id).sky is None
    with pytest.raises(ProjectError, match="shape"):
        set_sky_mask(project, image_id, np.zeros((W, H), bool))


def test_status_split_note_and_unknown_image(project: Project) -> None:
    image_id = project.add_images([new("a")])[0].id
    set_status(project, image_id, ReviewStatus.REVIEWED)
    set_split(project, image_id, "val")
    set_note(project, image_id, "check later")
    info = project.get_image(image_id)
    assert (info.status, info.split, info.note) == (ReviewStatus.REVIEWED, Split.VAL, "check later")
    with pytest.raises(ProjectError, match="no image with id 42"):
        set_status(project, 42, ReviewStatus.NEW)
    with pytest.raises(ProjectError, match="no image with id 42"):
        project.get_image(42)
    assert project.find_image("nope") is None


def test_model_versions_single_active(project: Project) -> None:
    inside = project.models_dir / "ft.safetensors"
    a = project.add_model_version(
        ModelVersion(None, "a", str(inside), "", {"mAP07": 0.28}, active=True)
    )
    # SQLite: relative to the project folder; server: the local models dir is per machine.
    assert a.path == (str(inside) if project.is_server else "models/ft.safetensors")
    assert a.created and a.metrics == {"mAP07": 0.28}
    b = project.add_model_version(ModelVersion(None, "b", "/abs/b.safetensors", "t", active=True))
    assert [m.active for m in project.list_model_versions()] == [False, True]
    project.set_active_model(a.id)
    assert project.active_model().id == a.id
    project.set_active_model(None)
    assert project.active_model() is None
    with pytest.raises(ProjectError, match="no model version"):
        project.set_active_model(b.id + 10)
    assert project.resolve_path(project.list_model_versions()[0]) == inside


def test_connection_pragmas(project: Project) -> None:
    if project.is_server:
        pytest.skip("SQLite connection pragmas")
    with project._engine.connect() as conn:  # every pooled connection gets the pragmas
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        image_id = project.add_images(
            [new("a", annotation=ImageAnnotation(targets=[Target(point=(1, 1))]))]
        )[0].id
        conn.exec_driver_sql(f"DELETE FROM images WHERE id = {image_id}")
        conn.commit()
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM targets").scalar() == 0
        )  # ON DELETE CASCADE


def test_add_images_reads_header_and_hash_from_file(project: Project, tmp_path: Path) -> None:
    imageio = pytest.importorskip("core.imageio")
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.full((12, 17), 9, np.uint16))
    info = project.add_images([NewImage(path=path)])[0]
    assert (info.width, info.height, info.bit_depth, info.channels) == (17, 12, 16, 1)
    assert info.sha256 == imageio.file_sha256(path)
    assert project.load_pixels(info.id).dtype == np.uint16

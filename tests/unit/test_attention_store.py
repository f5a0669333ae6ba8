"""core.store.attention_store on a real project file: the schema step, stored attention, the order of
"next by attention", the noise finder's verdicts and fixes, all read back with sqlite3."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core import attention as att
from core.domain import ReviewStatus, Source, Target, TargetState
from core.store import db
from core.store.attention_store import accept_model_edit, second_look_edit
from core.store.new_image import NewImage
from core.store.project import Project
from tests._support.labels import add_target, delete_targets, set_sky_mask, set_status

W = H = 100


def new(name: str) -> NewImage:
    hdr = SimpleNamespace(width=W, height=H, bit_depth=8, channels=1)
    return NewImage(path=f"/nowhere/{name}.png", name=name, header=hdr, sha256=f"sha-{name}")


def rows(path: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def labelled(project: Project, image_id: int) -> None:
    """The scene of tests/unit/test_attention.py: three labels, four proposals, skies that differ
    on rows 40-49 (10 % of the frame)."""
    for x, y in ((10, 10), (30, 30), (50, 50)):
        add_target(project, image_id, Target(box=(x, y, x + 4, y + 4)))
    sky = np.zeros((H, W), bool)
    sky[:40] = True
    set_sky_mask(project, image_id, sky)
    proposed = np.zeros((H, W), bool)
    proposed[:50] = True
    props = [Target(box=(x, y, x + 4, y + 4), source=Source.MODEL, score=s, state=TargetState.PROPOSAL)
             for x, y, s in ((11, 10, 0.9), (30, 32, 0.08), (78, 78, 0.7), (88, 88, 0.45))]  # fmt: skip
    project.propose(image_id, props, proposed)


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p") as p:
        yield p


def test_v6_file_is_upgraded_with_its_rows_intact(tmp_path: Path) -> None:
    root = tmp_path / "old"
    with Project.create(root) as p:
        (info,) = p.add_images([new("a")])
        labelled(p, info.id)
    path = root / "project.sqlite"
    con = sqlite3.connect(path)  # the same file as v6 wrote it: without this step's tables
    con.executescript("DROP TABLE image_attention; DROP TABLE label_verdicts; PRAGMA user_version=6;")
    con.close()
    before = {t: rows(path, f"SELECT * FROM {t} ORDER BY id") for t in ("images", "targets", "regions")}
    with Project.open(root) as p:
        p.record_attention(info.id, operating=0.5, sky_uncertain=0.12)
    assert rows(path, "PRAGMA user_version") == [(db.SCHEMA_VERSION,)]
    for table, old in before.items():  # record_attention touches none of them
        assert rows(path, f"SELECT * FROM {table} ORDER BY id") == old
    # 9.4 as in the next test, + 1: dropping the table also dropped the model's support for
    # label 1 (its 0.9 proposal duplicates the label, so it is not stored as a proposal)
    assert rows(path, "SELECT image_id, round(score, 4) FROM image_attention") == [(info.id, 10.4)]
    names = {r[0] for r in rows(path, "SELECT name FROM sqlite_master WHERE type='index'")}
    assert "ix_image_attention_score" in names


def test_record_attention_stores_the_hand_derived_score(project: Project) -> None:
    (info,) = project.add_images([new("a")])
    labelled(project, info.id)
    a = project.record_attention(info.id, operating=0.5, sky_uncertain=0.12)
    stored = rows(project.db_path, "SELECT score, reason, sky_uncertain, operating FROM image_attention")
    assert stored == [(pytest.approx(9.4), "model disputes 3 labels, sky disputed 10 %, "
                       "sky uncertain 12 %, 1 proposal near threshold", 0.12, 0.5)]  # fmt: skip
    assert a.score == pytest.approx(9.4)
    # ranking again (no model) keeps the stored sky uncertainty and threshold
    delete_targets(project, info.id, [t.id for t in project.targets(info.id, TargetState.ACCEPTED)][:1])
    assert project.rank_images(operating=0.9) == 1
    # the deleted label at (12, 12) was what the 0.9 detection confirmed; that detection was
    # never stored as a proposal (it duplicated the label: core/duplicates), so no unlabelled
    # detection appears in its place (threshold 0.5 as stored, not 0.9): 2 doubtful + 1 unlabelled
    (score,) = rows(project.db_path, "SELECT score FROM image_attention")[0]
    assert score == pytest.approx(1 + 4 + 1 + 2 + 1.4)


def test_next_by_attention_follows_the_stored_order(project: Project) -> None:
    infos = project.add_images([new(n) for n in "abcde"])
    ids = [i.id for i in infos]
    scores = {ids[0]: 1.0, ids[1]: 5.0, ids[2]: 3.0, ids[3]: 5.0}  # e: never ranked
    con = sqlite3.connect(project.db_path)
    con.executemany("INSERT INTO image_attention (image_id, score, reason) VALUES (?, ?, '')",
                    scores.items())  # fmt: skip
    con.commit()
    con.close()
    set_status(project, ids[3], ReviewStatus.REVIEWED)
    expected = [r[0] for r in rows(
        project.db_path, "SELECT a.image_id FROM image_attention a JOIN images i ON i.id = a.image_id "
        "WHERE i.status != 'reviewed' ORDER BY a.score DESC, a.image_id")]  # fmt: skip
    assert expected == [ids[1], ids[2], ids[0]]
    assert project.attention_order() == expected
    walk, cur = [], None
    for _ in range(4):
        cur = project.next_by_attention(cur)
        walk.append(cur)
    assert walk == [*expected, expected[0]]  # wraps
    assert project.next_by_attention(ids[4]) == expected[0]  # an unranked image: start at the top
    assert project.attention_scores() == {i: (s, "") for i, s in scores.items()}


def test_verdicts_hide_disputes_and_are_stored(project: Project) -> None:
    (info,) = project.add_images([new("a")])
    labelled(project, info.id)
    found = project.label_disputes(info.id, operating=0.5)
    assert [(d.kind, round(d.strength, 2)) for d in found] == [
        (att.DisputeKind.DOUBTFUL, 1.0), (att.DisputeKind.SKY, 1.0),
        (att.DisputeKind.DOUBTFUL, 0.92), (att.DisputeKind.UNLABELLED, 0.7)]  # fmt: skip
    project.set_verdict(info.id, found[0], att.Verdict.KEPT)
    assert rows(project.db_path, "SELECT image_id, key, verdict FROM label_verdicts") == [
        (info.id, "doubtful:52:52", "kept")]
    assert found[0].key not in {d.key for d in project.label_disputes(info.id, operating=0.5)}
    # the queue is over reviewed images only, with a model result
    (bare,) = project.add_images([new("never_predicted")])
    add_target(project, bare.id, Target(box=(5, 5, 9, 9)))
    set_status(project, bare.id, ReviewStatus.REVIEWED)
    assert project.label_disputes(bare.id, operating=0.5) == []
    assert project.noise_queue(operating=0.5) == []
    set_status(project, info.id, ReviewStatus.REVIEWED)
    assert len(project.noise_queue(operating=0.5)) == 3


def test_accepting_the_models_view_changes_the_rows(project: Project) -> None:
    (info,) = project.add_images([new("a")])
    labelled(project, info.id)
    disputes = {d.kind: d for d in project.label_disputes(info.id, operating=0.5)}  # last of a kind
    assert disputes[att.DisputeKind.DOUBTFUL].key == "doubtful:32:32"
    for kind in (att.DisputeKind.DOUBTFUL, att.DisputeKind.UNLABELLED, att.DisputeKind.SKY):
        project.apply_edit(accept_model_edit(project.labels(info.id), disputes[kind]))
    path = project.db_path
    gone = disputes[att.DisputeKind.DOUBTFUL].target_id
    assert rows(path, "SELECT count(*) FROM targets WHERE id = ?", gone) == [(0,)]
    taken = disputes[att.DisputeKind.UNLABELLED].target_id
    assert rows(path, "SELECT state FROM targets WHERE id = ?", taken) == [("accepted",)]
    (blob,) = rows(path, "SELECT mask_png FROM regions WHERE state = 'accepted'")[0]
    sky = db.decode_mask(blob)
    assert sky[:50].all() and not sky[50:].any()  # rows 40-49 now sky, as the model says
    edit = second_look_edit(project.get_image(info.id), disputes[att.DisputeKind.DOUBTFUL])
    project.apply_edit(edit)
    assert rows(path, "SELECT note FROM images") == [("second look: label the model scores 0.08 at 32:32",)]
    assert second_look_edit(project.get_image(info.id), disputes[att.DisputeKind.DOUBTFUL]) is None


def test_storing_a_prediction_scores_the_image(project: Project) -> None:
    """app.proposals: a pre-annotation result is stored with its attention (operating threshold
    and uncertain sky from the Prediction itself)."""
    from app.proposals import proposal_from_prediction, store_proposal
    from model.inference import Prediction

    (info,) = project.add_images([new("a")])
    prob = np.full((H, W), 0.95, np.float32)
    prob[:10] = 0.5  # 10 rows = 10 % of the frame within the band around the 0.5 sky threshold
    logit = np.log(prob / (1 - prob)).astype(np.float32)
    boxes = np.array([[20, 20, 24, 24], [60, 60, 64, 64]], np.float32)
    pred = Prediction(boxes, np.array([0.62, 0.3], np.float32), boxes[:, :2] + 1.5, None, (H, W),
                      operating_threshold=0.6, sky_threshold=0.5, sky_whole_logit=logit)  # fmt: skip
    stand_in = SimpleNamespace(targets=lambda p, thr: ([
        Target(box=tuple(b), source=Source.MODEL, score=float(s), state=TargetState.PROPOSAL)
        for b, s in zip(p.boxes.tolist(), p.scores.tolist(), strict=True) if s >= thr], p.sky_mask()))
    proposal = proposal_from_prediction(stand_in, pred, 0.05)
    assert proposal.operating == pytest.approx(0.6) and proposal.sky_uncertain == pytest.approx(0.1)
    store_proposal(project, info.id, proposal, None)
    # 0.62 is 0.02 from 0.6 (near), 0.3 is 0.3 away; no labels; 10 % uncertain sky = 2 points
    assert rows(project.db_path, "SELECT score, reason, operating FROM image_attention") == [
        (pytest.approx(3.0), "sky uncertain 10 %, 1 proposal near threshold", pytest.approx(0.6))]


def test_a_stale_dispute_is_refused_and_changes_nothing(project: Project) -> None:
    from core.errors import ProjectError

    (info,) = project.add_images([new("a")])
    labelled(project, info.id)
    doubtful = next(d for d in project.label_disputes(info.id, 0.5) if d.kind is att.DisputeKind.DOUBTFUL)
    delete_targets(project, info.id, [doubtful.target_id])  # someone else removed the label meanwhile
    before = rows(project.db_path, "SELECT id, state FROM targets ORDER BY id")
    with pytest.raises(ProjectError, match="no longer exists; refresh the queue"):
        accept_model_edit(project.labels(info.id), doubtful)
    assert rows(project.db_path, "SELECT id, state FROM targets ORDER BY id") == before

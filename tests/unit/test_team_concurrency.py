"""Two annotators on one project (ADR 0008), on both back-ends: optimistic concurrency, authors,
reviewers, assignment and the change feed. The 'two machines' are two Project objects."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from core.document import AnnotationDocument
from core.domain import ImageAnnotation, ReviewStatus, Target
from core.edits import ImageField
from core.errors import EditConflict
from core.machine import MachineSettings
from core.store.live import ChangeListener
from core.store.project import Project
from tests._support.labels import delete_targets, set_note
from tests.unit.test_project import H, W, new


@pytest.fixture
def team(project_target):
    """(ann's project, bob's project, image id, other image id) on one shared store."""
    with Project.create(project_target, machine=MachineSettings("ann")) as pa:
        ann = ImageAnnotation(targets=[Target(point=(5, 5), box=(4, 4, 7, 7)), Target(point=(20, 9))])
        ids = [i.id for i in pa.add_images([new("a", annotation=ann, status=ReviewStatus.NEW), new("b")])]
        with Project.open(pa.location, machine=MachineSettings("bob")) as pb:
            yield pa, pb, ids[0], ids[1]


def _docs(pa, pb, iid):
    da, db_ = AnnotationDocument(pa), AnnotationDocument(pb)
    da.load(iid)
    db_.load(iid)
    return da, db_


def test_second_writer_of_a_stale_version_gets_a_conflict_and_sees_the_change(team) -> None:
    pa, pb, iid, _ = team
    da, dbb = _docs(pa, pb, iid)
    t = da.targets[0]
    da.apply(da.edit_targets_edit([replace(t, box=(4, 4, 8, 8))], "Resize"))
    stale = dbb.edit_targets_edit([replace(dbb.targets[0], box=(1, 1, 2, 2))], "Move")
    with pytest.raises(EditConflict, match="changed by ann") as err:
        dbb.apply(stale)
    assert err.value.image_id == iid and err.value.by == "ann"
    # Nothing of bob's edit landed; bob's document now shows ann's change.
    stored = {x.id: x for x in pa.targets(iid)}
    assert stored[t.id].box == (4.0, 4.0, 8.0, 8.0)
    assert {x.id: x.box for x in dbb.targets} == {x.id: x.box for x in stored.values()}
    # Redone on the fresh document it lands, after ann's: no edit lost.
    dbb.apply(dbb.edit_targets_edit([replace(dbb.targets[1], point=(21.0, 9.0))], "Nudge"))
    stored = {x.id: x for x in pa.targets(iid)}
    assert stored[t.id].box == (4.0, 4.0, 8.0, 8.0) and stored[dbb.targets[1].id].point == (21.0, 9.0)
    hist = [(v, who) for v, who, _, _ in pa.history(iid)]
    assert hist == [(1, "ann"), (2, "bob")]


def test_undo_after_a_reload_never_overwrites_someone_elses_newer_value(team) -> None:
    pa, pb, iid, _ = team
    da, dbb = _docs(pa, pb, iid)
    t = da.targets[0]
    mine = da.apply(da.edit_targets_edit([replace(t, box=(4, 4, 9, 9))], "Resize"))
    dbb.refresh()
    dbb.apply(dbb.edit_targets_edit([replace(dbb.targets[0], box=(0, 0, 3, 3))], "Resize"))
    assert da.refresh(pa.image_version(iid))  # ann's window hears bob's change and reloads
    with pytest.raises(EditConflict, match=f"target {t.id} was modified"):
        da.apply(mine.inverse())  # ann's undo would put back the box bob replaced
    assert {x.id: x.box for x in pa.targets(iid)}[t.id] == (0.0, 0.0, 3.0, 3.0)


def test_every_change_records_its_author_and_review_records_the_reviewer(team) -> None:
    pa, pb, iid, other = team
    da, dbb = _docs(pa, pb, iid)
    da.apply(da.add_target_edit(Target(point=(30, 3))))
    from core.document import field_edit

    dbb.refresh()
    dbb.apply(field_edit(dbb.info, ImageField.STATUS, ReviewStatus.REVIEWED))
    info = pa.get_image(iid)
    assert (info.status, info.reviewed_by, info.edited_by) == (ReviewStatus.REVIEWED, "bob", "bob")
    set_note(pb, other, "dark frame")
    assert pa.get_image(other).edited_by == "bob" and pa.get_image(other).reviewed_by is None
    with pa._session() as s:  # every label names who made it
        from core.store.db import TargetRow

        rows = {r.px: r.edited_by for r in s.query(TargetRow).filter_by(image_id=iid)}
    assert rows[30.0] == "ann"
    assert [(a, w) for _, a, _, w in pa.history(iid)] == [("ann", "Add target"), ("bob", "Set status to reviewed")]


def test_claims_and_assignment(team) -> None:
    pa, pb, iid, other = team
    assert pa.claim(iid).assignee == "ann"
    with pytest.raises(EditConflict, match="held by ann"):
        pb.claim(iid)
    assert pb.claim(other).assignee == "bob"
    assert [i.name for i in pa.list_images(assignee="ann")] == ["a"]
    assert [i.name for i in pa.list_images(assignee="")] == []
    pb.assign([iid], "carol")  # a reviewer reassigns
    assert pa.get_image(iid).assignee == "carol"
    assert pa.annotators() == ["ann", "bob", "carol"]
    with pytest.raises(Exception, match="held by carol"):
        pa.release(iid)
    assert pb.release(other).assignee is None


def test_the_change_feed_names_image_version_and_author(team) -> None:
    pa, pb, iid, _ = team
    listener = ChangeListener(pb)
    try:
        set_note(pa, iid, "checked")
        deadline, heard = time.monotonic() + 2.0, []
        while not heard and time.monotonic() < deadline:
            heard = listener.poll(timeout=0.2)
        assert [(c.image_id, c.version, c.author) for c in heard] == [(iid, 1, "ann")]
        assert listener.poll() == []
    finally:
        listener.close()


def test_two_users_editing_different_targets_of_one_image_both_land(team) -> None:
    """Conflicts are per object (ADR 0008): bob's document is stale on the image's version,
    but his edit touches another target than ann's, so it lands, and his document then
    holds ann's change as well as his own (equal to the database)."""
    pa, pb, iid, _ = team
    da, dbb = _docs(pa, pb, iid)
    first, second = sorted(da.targets, key=lambda t: t.id)
    da.apply(da.edit_targets_edit([replace(first, box=(3, 3, 8, 8))], "Resize"))
    b_second = next(t for t in dbb.targets if t.id == second.id)
    dbb.apply(dbb.edit_targets_edit([replace(b_second, point=(22.0, 10.0))], "Move"))
    stored = {x.id: x for x in pa.targets(iid)}
    assert stored[first.id].box == (3.0, 3.0, 8.0, 8.0)  # ann's edit is there
    assert stored[second.id].point == (22.0, 10.0)  # and bob's
    assert {x.id: (x.box, x.point) for x in dbb.targets} == {
        x.id: (x.box, x.point) for x in stored.values()
    }
    assert [(v, who) for v, who, _, _ in pa.history(iid)] == [(1, "ann"), (2, "bob")]
    # A sky edit by ann and a target edit by bob of the same image: both land too.
    sky = np.zeros((H, W), bool)
    sky[:10] = True
    da.refresh()
    da.apply(da.sky_edit(sky, "Draw sky"))
    b_first = next(t for t in dbb.targets if t.id == first.id)
    dbb.apply(dbb.edit_targets_edit([replace(b_first, point=(6.0, 6.0))], "Move"))
    assert pa.sky_mask(iid) is not None and pa.sky_mask(iid)[:10].all()
    assert {x.id: x for x in pa.targets(iid)}[first.id].point == (6.0, 6.0)


def test_an_undo_before_the_live_refresh_is_not_lost(team) -> None:
    """Ann edits, bob edits another target, ann undoes before her window heard of bob: the undo
    goes through (it is stale on the version only) and bob's change stays."""
    pa, pb, iid, _ = team
    da, dbb = _docs(pa, pb, iid)
    first, second = sorted(da.targets, key=lambda t: t.id)
    mine = da.apply(da.edit_targets_edit([replace(first, box=(2, 2, 9, 9))], "Resize"))
    dbb.refresh()
    b_second = next(t for t in dbb.targets if t.id == second.id)
    dbb.apply(dbb.edit_targets_edit([replace(b_second, point=(25.0, 12.0))], "Move"))
    da.apply(mine.inverse())  # no EditConflict: ann's undo touches only her own target
    stored = {x.id: x for x in pa.targets(iid)}
    assert stored[first.id].box == first.box
    assert stored[second.id].point == (25.0, 12.0)
    assert [x.id for x in da.targets] == [x.id for x in pa.targets(iid)]


def test_an_edit_of_a_target_someone_deleted_is_a_conflict(team) -> None:
    pa, pb, iid, _ = team
    da, _dbb = _docs(pa, pb, iid)
    t = da.targets[0]
    delete_targets(pb, iid, [t.id])
    with pytest.raises(EditConflict, match=f"target {t.id} was deleted"):
        da.apply(da.edit_targets_edit([replace(t, point=(1.0, 1.0))], "Move"))
    assert t.id not in {x.id for x in da.targets}  # the document shows bob's deletion

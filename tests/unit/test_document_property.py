"""Property test of the annotation document: random edit / undo / redo / switch-image sequences
(pre-annotation results included) over several images of a real project.

After every step the database equals the document, no image other than the open one changed,
and undoing everything on every image restores the start exactly. The undo history is modelled
the way QUndoStack keeps it (a done list, an undone list cleared by a new edit), replaying the
values the document returned: the app's EditCommand does the same.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.document import AnnotationDocument, field_edit
from core.domain import ImageAnnotation, ReviewStatus, Target, TargetMask, TargetState
from core.edits import AnnotationEdit, ImageField
from core.store.project import Project
from tests.unit.test_project import new

H, W, N_IMAGES = 30, 40, 3  # the size tests.unit.test_project.new declares


def starting_labels(k: int) -> ImageAnnotation:
    sky = np.zeros((H, W), bool)
    sky[: 4 + 3 * k] = True
    targets = [
        Target(point=(5 + k, 15), box=(4 + k, 14, 7 + k, 17),
               mask=TargetMask(4 + k, 14, np.eye(3, dtype=bool))),
        Target(point=(20, 10 + k), box=(19, 9 + k, 22, 12 + k), score=0.6,
               state=TargetState.PROPOSAL),
    ]  # fmt: skip
    return ImageAnnotation(targets=targets, sky=sky if k != 1 else None)


def snapshot(project: Project, image_id: int) -> tuple:
    """Everything stored for one image, compared by value (masks as bytes)."""
    info = project.get_image(image_id)
    targets = tuple(
        (t.id, t.point, t.box, t.state, t.source, t.score,
         None if t.mask is None else (t.mask.x0, t.mask.y0, t.mask.pixels.tobytes()))
        for t in project.targets(image_id)
    )  # fmt: skip
    skies = tuple(_bytes(project.sky_mask(image_id, s)) for s in TargetState)
    return (info.status, info.split, info.note, info.n_targets, info.n_proposals, targets, skies)


def document_snapshot(doc: AnnotationDocument) -> tuple:
    info = doc.info
    targets = tuple(
        (t.id, t.point, t.box, t.state, t.source, t.score,
         None if t.mask is None else (t.mask.x0, t.mask.y0, t.mask.pixels.tobytes()))
        for t in doc.targets
    )  # fmt: skip
    skies = tuple(_bytes(doc.sky(s)) for s in TargetState)
    return (info.status, info.split, info.note, info.n_targets, info.n_proposals, targets, skies)


def _bytes(mask: np.ndarray | None) -> bytes | None:
    return None if mask is None else np.packbits(mask).tobytes()


@dataclass
class History:
    done: list[AnnotationEdit] = field(default_factory=list)
    undone: list[AnnotationEdit] = field(default_factory=list)


class Session:
    """One open project, its document, and a per-image history."""

    def __init__(self, root: Path) -> None:
        self.project = Project.create(root)
        infos = self.project.add_images(
            [new(f"img{k}", annotation=starting_labels(k)) for k in range(N_IMAGES)]
        )
        self.ids = [i.id for i in infos]
        self.doc = AnnotationDocument(self.project)
        self.doc.load(self.ids[0])
        self.histories = {i: History() for i in self.ids}
        self.heard: list = []
        self.doc.subscribe(self.heard.append)

    def push(self, edit: AnnotationEdit | None) -> None:
        if edit is None or edit.is_empty:
            return
        h = self.histories[edit.image_id]
        h.done.append(self.doc.apply(edit).compact())
        h.undone.clear()

    def record(self, edit: AnnotationEdit) -> None:
        self.doc.record(edit)
        h = self.histories[edit.image_id]
        h.done.append(edit.compact())
        h.undone.clear()

    def undo(self) -> None:
        h = self.histories[self.doc.image_id]
        if h.done:
            edit = h.done.pop()
            self.doc.apply(edit.inverse())
            h.undone.append(edit)

    def redo(self) -> None:
        h = self.histories[self.doc.image_id]
        if h.undone:
            h.done.append(self.doc.apply(h.undone.pop()).compact())


def step(s: Session, op: tuple) -> None:
    doc, kind = s.doc, op[0]
    targets = doc.targets
    pick = targets[op[1] % len(targets)] if targets and len(op) > 1 else None
    if kind == "switch":
        doc.load(s.ids[op[1] % N_IMAGES])
    elif kind == "add":
        x, y = op[1] % (W - 2) + 1, op[2] % (H - 2) + 1
        s.push(doc.add_target_edit(Target(point=(x, y), box=(x - 1, y - 1, x + 2, y + 2))))
    elif kind == "move" and pick is not None:
        dx, dy = op[2], op[3]
        moved = replace(pick, point=(pick.point[0] + dx, pick.point[1] + dy),
                        box=tuple(v + d for v, d in zip(pick.box, (dx, dy, dx, dy), strict=True)))  # fmt: skip
        s.push(doc.edit_targets_edit([moved], "Move"))
    elif kind == "delete" and pick is not None:
        s.push(doc.delete_edit([pick.id]))
    elif kind == "accept" and pick is not None:
        s.push(doc.set_states_edit([pick.id], TargetState.ACCEPTED))
    elif kind == "sky":
        mask = np.zeros((H, W), bool)
        mask[: op[1] % H, : op[2] % W + 1] = True
        s.push(doc.sky_edit(mask if mask.any() else None, "Sky"))
    elif kind == "accept_sky":
        s.push(doc.accept_sky_edit())
    elif kind == "note":
        s.push(field_edit(doc.info, ImageField.NOTE, f"note {op[1]}"))
    elif kind == "status":
        s.push(field_edit(doc.info, ImageField.STATUS, list(ReviewStatus)[op[1] % 3]))
    elif kind == "propose":  # a pre-annotation worker: committed elsewhere, then recorded
        image_id = s.ids[op[1] % N_IMAGES]
        proposals = [Target(point=(3 + j, 3), box=(2 + j, 2, 5 + j, 5), score=0.5 + j / 10)
                     for j in range(op[2] % 3)]  # fmt: skip
        sky = np.zeros((H, W), bool)
        sky[: op[2] % H + 1] = True
        s.record(s.project.propose(image_id, proposals, sky))
    elif kind == "undo":
        s.undo()
    elif kind == "redo":
        s.redo()


small = st.integers(0, 40)
ops = st.one_of(
    st.tuples(st.sampled_from(["switch", "delete", "accept", "note", "status"]), small),
    st.tuples(st.sampled_from(["add", "sky", "propose"]), small, small),
    st.tuples(st.just("move"), small, st.integers(-2, 2), st.integers(-2, 2)),
    st.tuples(st.sampled_from(["undo", "redo", "undo", "accept_sky"])),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=30))
def test_random_sequences_keep_db_and_document_equal_and_undo_to_start(sequence) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        s = Session(Path(tmp) / "proj")
        try:
            start = {i: snapshot(s.project, i) for i in s.ids}
            for op in sequence:
                before = {i: snapshot(s.project, i) for i in s.ids}
                step(s, op)
                open_id = s.doc.image_id
                assert document_snapshot(s.doc) == snapshot(s.project, open_id), op
                touched = {open_id} | ({s.ids[op[1] % N_IMAGES]} if op[0] == "propose" else set())
                for i in s.ids:
                    if i not in touched:
                        assert snapshot(s.project, i) == before[i], (op, i)
            for i in s.ids:  # undo everything, image by image
                s.doc.load(i)
                while s.histories[i].done:
                    s.undo()
                assert document_snapshot(s.doc) == snapshot(s.project, i)
            assert {i: snapshot(s.project, i) for i in s.ids} == start
        finally:
            s.project.close()

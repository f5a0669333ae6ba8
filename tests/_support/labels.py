"""Label writes for tests, each one ``Project.apply_edit`` (or ``propose``) with an edit value.

The project has one label writer (docs/adr/0025-core3-three-layers.md); these helpers keep the
tests' set-up short, and build the edits the way the annotation document does: the values an
edit replaces are read from the project first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from core.domain import ReviewStatus, Source, Split, Target, TargetState
from core.edits import AnnotationEdit, FieldChange, ImageField, Region, RegionChange, TargetChange
from core.errors import ProjectError


def add_target(project, image_id: int, target: Target) -> Target:
    """A new target under a fresh id (``target.id`` is ignored)."""
    edit = AnnotationEdit(image_id, "Add target", (TargetChange(None, replace(target, id=None)),))
    return project.apply_edit(edit).targets[0].after


def update_target(project, image_id: int, target: Target) -> None:
    """Overwrite the stored target with ``target.id`` (a blind write: no conflict check)."""
    if target.id is None:
        raise ProjectError("update_target needs a stored target (its id is None); add it first")
    project.apply_edit(AnnotationEdit(image_id, "Edit target", (TargetChange(target, target),)),
                       verify=False)  # fmt: skip


def _stored(project, image_id: int, ids: Iterable[int]) -> list[Target]:
    by_id = {t.id: t for t in project.targets(image_id)}
    missing = sorted({int(i) for i in ids} - set(by_id))
    if missing:
        raise ProjectError(f"targets {missing} are not targets of image {image_id}")
    return [by_id[i] for i in sorted({int(i) for i in ids})]


def delete_targets(project, image_id: int, ids: Iterable[int]) -> list[Target]:
    """Delete targets (all or none); returns them in full, as undo needs them."""
    deleted = _stored(project, image_id, ids)
    project.apply_edit(AnnotationEdit(image_id, f"Delete {len(deleted)} targets",
                                      tuple(TargetChange(t, None) for t in deleted)))  # fmt: skip
    return deleted


def restore_targets(project, image_id: int, targets: Iterable[Target]) -> None:
    """Re-insert deleted targets with their original ids (all or none)."""
    changes = tuple(TargetChange(None, t) for t in targets)
    project.apply_edit(AnnotationEdit(image_id, "Restore targets", changes))


def set_target_states(project, image_id: int, ids: Iterable[int], state: TargetState | str) -> None:
    state = TargetState(state)
    changes = tuple(TargetChange(t, replace(t, state=state)) for t in _stored(project, image_id, ids))
    project.apply_edit(AnnotationEdit(image_id, f"Set targets {state.value}", changes))


def replace_proposals(
    project, image_id: int, targets: Iterable[Target], sky: np.ndarray | None,
    model_version_id: int | None = None, bad_pixels: np.ndarray | None = None,
) -> list[Target]:  # fmt: skip
    """The image's proposals swapped for a pre-annotation result; the stored proposals."""
    edit = project.propose(image_id, targets, sky, model_version_id, bad_pixels)
    return [c.after for c in edit.targets if c.after is not None]


def set_sky_mask(
    project, image_id: int, mask: np.ndarray | None,
    state: TargetState | str = TargetState.ACCEPTED, source: Source | str = Source.MANUAL,
) -> None:  # fmt: skip
    """Store (replace) the sky of ``state``; ``None`` removes it."""
    state = TargetState(state)
    labels = project.labels(image_id)
    before = labels.sky if state == TargetState.ACCEPTED else labels.sky_proposal
    after = None if mask is None else Region.from_mask(mask, Source(source))
    project.apply_edit(AnnotationEdit(image_id, f"Set {state.value} sky",
                                      regions=(RegionChange(state, before, after),)))  # fmt: skip


def _set_field(project, image_id: int, name: ImageField, value: object) -> None:
    """A blind field write, as the image actions make (the caller states the new value)."""
    before = getattr(project.get_image(image_id), name.value)
    edit = AnnotationEdit(image_id, f"Set {name.value}", fields=(FieldChange(name, before, value),))
    project.apply_edit(edit, verify=False)


def set_status(project, image_id: int, status: ReviewStatus | str) -> None:
    """REVIEWED records the project's user as the reviewer."""
    _set_field(project, image_id, ImageField.STATUS, ReviewStatus(status))


def set_split(project, image_id: int, split: Split | str) -> None:
    _set_field(project, image_id, ImageField.SPLIT, Split(split))


def set_note(project, image_id: int, text: str) -> None:
    _set_field(project, image_id, ImageField.NOTE, str(text))

"""The annotation document: the open image's labels in memory, always equal to the database.

Views never re-read the database after an edit: every change goes through ``apply`` (write-through:
``Project.apply_edit`` commits it at once, so a kill loses nothing) or ``record`` (an edit someone
else committed, e.g. a pre-annotation worker), the document folds the edit's values into its own
state and publishes exactly one ``DocumentChange`` to its observers. Qt-free: the window
subscribes a plain callback; undo commands are thin adapters that replay edits and inverses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np

from core.domain import ImageAnnotation, ImageInfo, Source, Target, TargetState
from core.duplicates import split_duplicates
from core.edits import (
    FIELD_TYPES,
    AnnotationEdit,
    BadPixels,
    FieldChange,
    ImageField,
    ImageLabels,
    Region,
    RegionChange,
    TargetChange,
)
from core.errors import EditConflict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentChange:
    """What observers hear: ``edit`` is None when an image was (re)loaded as a whole."""

    image_id: int
    edit: AnnotationEdit | None
    info: ImageInfo | None  # the image's info after the change (counts, status, note) if known
    current: bool  # the change concerns the image the document holds


Observer = Callable[[DocumentChange], None]


def info_after(info: ImageInfo, edit: AnnotationEdit) -> ImageInfo:
    """``info`` with the counts and fields ``edit`` changed (no database round trip)."""
    n = {TargetState.ACCEPTED: info.n_targets, TargetState.PROPOSAL: info.n_proposals}
    for c in edit.targets:
        if c.before is not None:
            n[c.before.state] -= 1
        if c.after is not None:
            n[c.after.state] += 1
    out = replace(info, n_targets=n[TargetState.ACCEPTED], n_proposals=n[TargetState.PROPOSAL])
    for f in edit.fields:
        name = ImageField(f.name)
        setattr(out, name.value, FIELD_TYPES[name](f.after))
    if edit.bad_pixels is not None:
        after = edit.bad_pixels.after
        out.n_bad_pixels = len(after) if after is not None else None
    if edit.version is not None:
        out.version = edit.version
    return out


class AnnotationDocument:
    """Labels of one image at a time. ``load(image_id)`` switches image; ``apply(edit)`` writes
    an edit of any image (the loaded one's state follows); observers hear every change once."""

    def __init__(self, project) -> None:
        self.project = project
        self.image_id: int | None = None
        self.info: ImageInfo | None = None
        self.pixels: np.ndarray | None = None  # decoded once per visit, shared by every user
        self._targets: dict[int, Target] = {}
        self._regions: dict[TargetState, Region | None] = {}
        # Decoded skies, kept by the document (not by the edits, which an undo history keeps).
        self._masks: dict[TargetState, np.ndarray | None] = {}
        self._bad_pixels: BadPixels | None = None  # repaired by the latest pre-annotation
        self._bad_coords: np.ndarray | None = None  # decoded once per value
        self._observers: list[Observer] = []

    # ------------------------------------------------------------------ observers
    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(change)`` after every change; returns the unsubscribe function."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _publish(self, change: DocumentChange) -> None:
        for observer in list(self._observers):
            observer(change)

    # ------------------------------------------------------------------ loading
    def load(
        self, image_id: int, labels: ImageLabels | None = None, pixels: np.ndarray | None = None
    ) -> None:
        """Hold ``image_id``: its labels (read now unless given, e.g. prefetched) and pixels."""
        labels = labels if labels is not None else self.project.labels(int(image_id))
        self.image_id, self.info, self.pixels = int(image_id), labels.info, pixels
        self._targets = {int(t.id): t for t in labels.targets}
        self._regions, self._masks = {}, {}
        self._set_region(TargetState.ACCEPTED, labels.sky)
        self._set_region(TargetState.PROPOSAL, labels.sky_proposal)
        self._set_bad_pixels(labels.bad_pixels)
        self._publish(DocumentChange(self.image_id, None, self.info, True))

    def clear(self) -> None:
        self.image_id = self.info = self.pixels = None
        self._targets, self._regions, self._masks = {}, {}, {}
        self._set_bad_pixels(None)

    def _set_bad_pixels(self, value: BadPixels | None) -> None:
        self._bad_pixels, self._bad_coords = value, None

    def _set_region(self, state: TargetState, region: Region | None) -> None:
        self._regions[state] = region
        self._masks[state] = region._mask if region is not None else None  # decoded already?

    def _mask(self, state: TargetState) -> np.ndarray | None:
        """The shared read-only decoded sky of ``state`` (decoded once per value)."""
        region = self._regions.get(state)
        if region is None:
            return None
        if self._masks.get(state) is None:
            self._masks[state] = region.view()
        return self._masks[state]

    # ------------------------------------------------------------------ reading
    @property
    def targets(self) -> list[Target]:
        """Every target (accepted and proposals), in id order."""
        return [self._targets[k] for k in sorted(self._targets)]

    def targets_by_id(self, ids: Iterable[int]) -> list[Target]:
        """The held targets among ``ids`` (others, e.g. of another image, are left out)."""
        return [self._targets[int(i)] for i in ids if int(i) in self._targets]

    def region(self, state: TargetState = TargetState.ACCEPTED) -> Region | None:
        return self._regions.get(TargetState(state))

    def sky(self, state: TargetState = TargetState.ACCEPTED) -> np.ndarray | None:
        """A fresh copy of the sky mask of ``state`` (decoded at most once per value)."""
        mask = self._mask(TargetState(state))
        return mask.copy() if mask is not None else None

    def sky_view(self, state: TargetState = TargetState.ACCEPTED) -> np.ndarray | None:
        """The sky mask of ``state`` shared read-only (no copy: for views that only draw it)."""
        return self._mask(TargetState(state))

    def bad_pixels(self) -> np.ndarray | None:
        """int32 [K, 2] (x, y) of the sensor pixels the latest pre-annotation repaired, shared
        read-only; None when none are recorded (never pre-annotated, or the filter was off)."""
        if self._bad_pixels is None:
            return None
        if self._bad_coords is None:
            arr = self._bad_pixels.coords()
            arr.flags.writeable = False
            self._bad_coords = arr
        return self._bad_coords

    def annotation(self) -> ImageAnnotation:
        """Accepted targets and sky, as export and the BAG-CP preview read them."""
        accepted = [t for t in self.targets if t.state == TargetState.ACCEPTED]
        return ImageAnnotation(targets=accepted, sky=self.sky())

    # ------------------------------------------------------------------ writing
    def apply(self, edit: AnnotationEdit) -> AnnotationEdit:
        """Commit ``edit`` (ProjectError: nothing changed) and fold it in; returns the edit with
        its new targets' ids, the value to replay for redo (its inverse undoes it)."""
        current = edit.image_id == self.image_id and self.info is not None
        expected = self.info.version if current else None
        try:
            resolved = self.project.apply_edit(edit, expected_version=expected)
        except EditConflict:
            if current:
                self.load(self.image_id, pixels=self.pixels)  # show what the other person did
            raise
        if current and expected is not None and resolved.version != expected + 1:
            # Someone else changed other objects of this image meanwhile (conflicts are per
            # object, ADR 0008): reload so the document holds their change too, not only ours.
            self.load(self.image_id, pixels=self.pixels)
            self._publish(DocumentChange(resolved.image_id, resolved, self.info, True))
            return resolved
        self._absorb(resolved)
        return resolved

    def record(self, edit: AnnotationEdit) -> None:
        """Fold in an edit that was already committed (a worker's pre-annotation result)."""
        if (
            edit.image_id == self.image_id
            and edit.version is not None
            and self.info is not None
            and self.info.version >= edit.version
        ):  # already in what the document holds (it was reloaded since the commit)
            self._publish(DocumentChange(edit.image_id, edit, self.info, True))
            return
        self._absorb(edit)

    def refresh(self, version: int | None = None) -> bool:
        """Reload the held image when the database moved past ``version`` (someone else's
        change, announced by core.store.live); returns whether it reloaded."""
        if self.image_id is None or self.info is None:
            return False
        if version is not None and version <= self.info.version:
            return False  # our own change, or one we already hold
        self.load(self.image_id, pixels=self.pixels)
        return True

    def _absorb(self, edit: AnnotationEdit) -> None:
        current = edit.image_id == self.image_id
        info = None
        if current:
            for c in edit.targets:
                if c.after is None:
                    self._targets.pop(int(c.before.id), None)
                else:
                    self._targets[int(c.after.id)] = c.after
            for r in edit.regions:
                self._set_region(TargetState(r.state), r.after)
            if edit.bad_pixels is not None:
                self._set_bad_pixels(edit.bad_pixels.after)
            self.info = info = info_after(self.info, edit)
        self._publish(DocumentChange(edit.image_id, edit, info, current))

    # ------------------------------------------------------------------ building edits
    # Each returns the edit of the loaded image (not applied), or None when nothing would change.
    def add_target_edit(self, target: Target, text: str = "Add target") -> AnnotationEdit:
        return self._edit(text, targets=(TargetChange(None, replace(target, id=None)),))

    def edit_targets_edit(self, new: Iterable[Target], text: str) -> AnnotationEdit | None:
        changes = tuple(
            TargetChange(self._targets[int(t.id)], t)
            for t in new
            if t.id is not None and int(t.id) in self._targets and self._targets[int(t.id)] != t
        )
        return self._edit(text, targets=changes) if changes else None

    def delete_edit(self, ids: Iterable[int], text: str = "") -> AnnotationEdit | None:
        gone = self.targets_by_id(sorted({int(i) for i in ids}))
        if not gone:
            return None
        text = text or f"Delete {len(gone)} target{'s' * (len(gone) != 1)}"
        return self._edit(text, targets=tuple(TargetChange(t, None) for t in gone))

    def set_states_edit(
        self, ids: Iterable[int], state: TargetState, text: str = ""
    ) -> AnnotationEdit | None:
        found = [t for t in self.targets_by_id(sorted({int(i) for i in ids})) if t.state != state]
        if not found:
            return None
        n = len(found)
        text = text or f"Accept {n} proposal{'s' * (n != 1)}"
        changes = tuple(TargetChange(t, replace(t, state=TargetState(state))) for t in found)
        return self._edit(text, targets=changes)

    def accept_edit(self, ids: Iterable[int], qualifier: str = "") -> AnnotationEdit | None:
        """Accept the proposals among ``ids``, as one edit. A proposal that duplicates an accepted
        target, or a higher-scoring proposal accepted with it (core.duplicates), is rejected
        instead, so accepting never labels one object twice. ``qualifier`` ends the undo text's
        first part ("Accept 3 proposals<qualifier>")."""
        found = [t for t in self.targets_by_id(sorted({int(i) for i in ids}))
                 if t.state == TargetState.PROPOSAL]  # fmt: skip
        if not found:
            return None
        accepted = [t for t in self._targets.values() if t.state == TargetState.ACCEPTED]
        kept, dupes = split_duplicates(found, accepted)
        text = f"Accept {len(kept)} proposal{'s' * (len(kept) != 1)}{qualifier}"
        if dupes:
            text += f", reject {len(dupes)} duplicate{'s' * (len(dupes) != 1)}"
        changes = [TargetChange(t, replace(t, state=TargetState.ACCEPTED)) for t in kept]
        changes += [TargetChange(t, None) for t in dupes]
        return self._edit(text, targets=tuple(changes))

    def sky_to_edit(self) -> tuple[np.ndarray | None, bool]:
        """The sky an editing stroke starts from, and whether that is the proposal: the accepted
        sky; when there is none, the proposed sky (what the annotator sees and means to fix)."""
        accepted = self.sky()
        if accepted is not None:
            return accepted, False
        proposal = self.sky(TargetState.PROPOSAL)
        return proposal, proposal is not None

    def sky_edit(self, mask: np.ndarray | None, text: str, from_proposal: bool = False) -> AnnotationEdit | None:
        """The accepted sky replaced by ``mask`` (None removes it). ``from_proposal``: ``mask`` was
        made from the proposed sky (``sky_to_edit``), which the same edit consumes, as accepting it
        would (one undo step gives both back)."""
        if from_proposal:
            proposal = self.region(TargetState.PROPOSAL)
            if proposal is not None and self.region(TargetState.ACCEPTED) is None:
                new = Region.from_mask(mask) if mask is not None else None
                return self._edit(text, regions=(RegionChange(TargetState.ACCEPTED, None, new),
                                                  RegionChange(TargetState.PROPOSAL, proposal, None)))
        old = self.region(TargetState.ACCEPTED)
        if mask is None and old is None:
            return None
        if (
            mask is not None
            and old is not None
            and np.array_equal(self._mask(TargetState.ACCEPTED), mask)
        ):
            return None  # nothing changed: no empty undo step
        new = Region.from_mask(mask) if mask is not None else None
        return self._edit(text, regions=(RegionChange(TargetState.ACCEPTED, old, new),))

    def accept_sky_edit(self) -> AnnotationEdit | None:
        """The proposed sky becomes the accepted sky; the proposal is consumed."""
        proposal = self.region(TargetState.PROPOSAL)
        if proposal is None:
            return None
        accepted = replace(proposal, source=Source.MODEL)
        regions = (
            RegionChange(TargetState.ACCEPTED, self.region(TargetState.ACCEPTED), accepted),
            RegionChange(TargetState.PROPOSAL, proposal, None),
        )
        return self._edit("Accept the proposed sky", regions=regions)

    def _edit(self, text: str, **changes) -> AnnotationEdit:
        if self.image_id is None:
            raise RuntimeError("no image is loaded in the annotation document")
        return AnnotationEdit(self.image_id, text, **changes)


def field_edit(info: ImageInfo, name: ImageField, value: object) -> AnnotationEdit | None:
    """Status, split or note of any image (``info`` as listed); None when unchanged."""
    name = ImageField(name)
    old, new = getattr(info, name.value), FIELD_TYPES[name](value)
    if str(old) == str(new):
        return None
    text = "Edit note" if name == ImageField.NOTE else f"Set {name.value} to {new!s}"
    return AnnotationEdit(int(info.id), text, fields=(FieldChange(name, old, new),))

"""The rows service: the one owner of what the window knows about each image's row (ADR 0023).

A label or field change, whoever made it, reaches the image list, the missing-file flag, the
prefetch cache and the views in one place:

- the open project's ``AnnotationDocument`` is followed here (``follow``): an edit's row is the
  row before it folded with the edit (``info_after``), nothing is read back;
- a change made outside the document (labels written straight through ``Project``, a team
  member's change, a claim) comes in through ``reread(image_id)`` or ``update(info)``.

Either way the row keeps its ``missing`` flag, the image's prefetched labels are forgotten (the
open image has none: ``ImagePrefetcher.take``), the list row is replaced and the subscribers hear ``image_id`` exactly once. Asking for a re-read and
hearing about a change are two different calls, so a subscriber's reaction can never loop back
into another re-read (the window's old ``_announcing`` flag guarded that).

Views subscribe with ``subscribe(observer)`` (rows) and ``subscribe_document(observer)`` (the open
document's changes, across project switches), and unsubscribe themselves when they close:
``subscribe_view`` ties the unsubscription to the view's ``destroyed`` signal, as napari's views
disconnect from their layer's events on close.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject

from core.document import AnnotationDocument, DocumentChange, info_after
from core.domain import ImageInfo
from core.errors import ProjectError

log = logging.getLogger(__name__)

RowObserver = Callable[[int], None]  # observer(image_id): that image's row changed
DocumentObserver = Callable[[DocumentChange], None]
Unsubscribe = Callable[[], None]


class ImageRows(QObject):
    """Rows of the open project's images, as the list shows them; see the module docstring."""

    def __init__(self, list_model, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.list_model = list_model  # app.image_list_model.ImageListModel
        self.project = None
        self.document: AnnotationDocument | None = None
        self.prefetcher = None
        self._row_observers: list[RowObserver] = []
        self._doc_observers: list[DocumentObserver] = []
        self._stop_following: Unsubscribe | None = None

    # ------------------------------------------------------------------ project lifecycle
    def open(self, project, document: AnnotationDocument, prefetcher) -> None:
        """Follow ``project``'s document (after the window's own observer, which redraws)."""
        self.close()
        self.project, self.document, self.prefetcher = project, document, prefetcher
        self._stop_following = document.subscribe(self.follow)

    def close(self) -> None:
        if self._stop_following is not None:
            self._stop_following()
        self._stop_following = None
        self.project = self.document = self.prefetcher = None

    # ------------------------------------------------------------------ subscriptions
    def subscribe(self, observer: RowObserver) -> Unsubscribe:
        """``observer(image_id)`` after every change of an image's row; returns the
        unsubscribe function."""
        return _add(self._row_observers, observer)

    def subscribe_document(self, observer: DocumentObserver) -> Unsubscribe:
        """``observer(change)`` for every change of the open project's document (loads and
        edits), whichever project is open; after the row of an edit is updated."""
        return _add(self._doc_observers, observer)

    def observer_count(self) -> int:
        return len(self._row_observers) + len(self._doc_observers)

    def hears_document(self, observer: DocumentObserver) -> bool:
        """``observer`` is subscribed and a document is open (it hears its changes)."""
        return self.document is not None and observer in self._doc_observers

    # ------------------------------------------------------------------ the missing flag
    def is_missing(self, image_id: int) -> bool:
        """The image's file was found missing (by the list's background check or a visit)."""
        return self.list_model.is_missing(int(image_id))

    def missing_ids(self) -> set[int]:
        """Images whose file was found missing so far (complete once the list's
        ``files_checked`` was emitted)."""
        return self.list_model.missing_ids()

    def set_missing(self, info: ImageInfo, missing: bool) -> None:
        """A visit found the file there or not: the row says so (no announcement: no label
        changed)."""
        info.missing = bool(missing)
        listed = self.list_model.info(int(info.id))
        if listed is None or listed != info:
            self.list_model.update_image(info)

    # ------------------------------------------------------------------ changes
    def follow(self, change: DocumentChange) -> None:
        """Subscribed to the document: an edit's row, from the edit itself."""
        if change.edit is not None and self.project is not None:
            old = self.list_model.cached(change.image_id)  # the row before the edit
            info = change.info
            if info is None:  # another image than the open one (a note, a worker's result)
                edit = change.edit
                info = info_after(old, edit) if old is not None else self.project.get_image(edit.image_id)
            self._replace(info)
        for observer in list(self._doc_observers):
            observer(change)
        if change.edit is not None and self.project is not None:
            self._announce(change.image_id)

    def update(self, info: ImageInfo) -> None:
        """A row someone read after a change outside the document (a team member's change, a
        claim, an assignment): listed, prefetch forgotten, announced."""
        self._replace(info)
        self._announce(int(info.id))

    def reread(self, image_id: int) -> ImageInfo | None:
        """Labels were written outside the document (straight through ``Project``): read the
        row again, and the labels too when the image is open; announced once. None (and the
        reason logged) when the image cannot be read, e.g. deleted meanwhile."""
        if self.project is None:
            return None
        try:
            info = self.project.get_image(int(image_id))
        except ProjectError as exc:
            log.info("cannot re-read image %s: %s", image_id, exc)
            return None
        doc = self.document
        if doc is not None and doc.image_id == int(image_id):
            # The reload's DocumentChange redraws the views (edit None: no announcement there).
            doc.load(int(image_id), None, doc.pixels)
            info = doc.info
        self.update(info)
        return info

    def forget_prefetched(self, image_id: int) -> None:
        """The image changed somewhere its row is not listed yet: its prefetched labels go."""
        if self.prefetcher is not None:
            self.prefetcher.forget(int(image_id))

    # ------------------------------------------------------------------ internals
    def _replace(self, info: ImageInfo) -> None:
        info.missing = self.is_missing(info.id)
        doc = self.document
        if doc is None or doc.image_id != int(info.id):
            # The open image is never prefetched (ImagePrefetcher.take): its labels are the
            # document's. Another image's prefetched labels may be stale now.
            self.forget_prefetched(info.id)
        self.list_model.update_image(info)

    def _announce(self, image_id: int) -> None:
        for observer in list(self._row_observers):
            observer(int(image_id))


def _add(observers: list, observer: Callable) -> Unsubscribe:
    observers.append(observer)
    return lambda: observers.remove(observer) if observer in observers else None


def subscribe_view(view: QObject, *subscriptions: Unsubscribe) -> None:
    """Unsubscribe ``subscriptions`` (the functions ``subscribe`` returned) when ``view`` is
    destroyed: a closed view is never called again."""

    def unsubscribe_all(_obj: object = None) -> None:
        for unsubscribe in subscriptions:
            unsubscribe()

    view.destroyed.connect(unsubscribe_all)

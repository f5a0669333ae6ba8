"""Panels that work only while someone can see them (issue 24, ADR 0038).

A panel follows what happens in the window (an image shown, a row or the document changed) with
``follow(view, source, observer, refresh)`` instead of connecting ``observer`` itself. While the
panel's dock is on screen ``observer`` is connected to ``source`` as it would be by hand, and runs
in the same call. While it is not (the dock is closed, belongs to another workspace, or is a tab
behind another tab) it is disconnected: a visit or an edit does nothing for it, not even a check.
The panel is then stale, and ``refresh()`` brings it up to date once when its dock is shown
again, as napari's layer views refresh when they become visible instead of on every event.

``app.docks.install_dock`` tells a view's gate which dock shows it, so every docked panel gets
this from the one install helper; a view in no dock is always "visible". ``follow`` also
unsubscribes for good when the view is destroyed (``app.rows.subscribe_view``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, SignalInstance
from PySide6.QtWidgets import QDockWidget

GATE_NAME = "view_gate"
Unsubscribe = Callable[[], None]  # as app.rows returns (not imported: docks stay a low floor)
Refresh = Callable[[], object]
Source = SignalInstance | Callable[[Callable], Unsubscribe]  # a Qt signal or rows.subscribe*
SHOWN_EVENTS = (QEvent.Type.ShowToParent, QEvent.Type.HideToParent)


@dataclass
class _Link:
    """One subscription of a view: connected only while the view is visible."""

    source: Source
    observer: Callable
    refresh: Refresh
    unsubscribe: Unsubscribe | None = None

    def connect(self) -> None:
        if self.unsubscribe is not None:
            return
        if isinstance(self.source, SignalInstance):
            signal, slot = self.source, self.observer
            signal.connect(slot)
            self.unsubscribe = lambda: _disconnect(signal, slot)
        else:
            self.unsubscribe = self.source(self.observer)

    def disconnect(self) -> None:
        if self.unsubscribe is not None:
            self.unsubscribe()
            self.unsubscribe = None


class ViewGate(QObject):
    """Whether one view is on screen; its subscriptions are connected only then."""

    def __init__(self, view: QObject) -> None:
        super().__init__(view)
        self.setObjectName(GATE_NAME)
        self.dock: QDockWidget | None = None
        self._links: list[_Link] = []
        self._shown: bool | None = None  # the dock's last visibilityChanged (tabs say it)
        self._live = True  # subscriptions connected
        self._stale = False  # hidden since the last refresh: changes were not followed
        links = self._links  # not a method of self: the gate goes with the view
        view.destroyed.connect(lambda _obj=None: [link.disconnect() for link in links])

    # ------------------------------------------------------------------ wiring
    def add(self, link: _Link) -> None:
        self._links.append(link)
        if self._live:
            link.connect()

    def attach(self, dock: QDockWidget) -> None:
        """The dock that shows this view (``install_dock``, before the window places it)."""
        self.dock = dock
        dock.visibilityChanged.connect(self._visibility_changed)
        dock.installEventFilter(self)  # only Show/HideToParent: docks get few events

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.dock and event.type() in SHOWN_EVENTS:
            self.update()
        return False

    # ------------------------------------------------------------------ state
    def visible(self) -> bool:
        """On screen: the dock is open in the current workspace and not a tab behind another.
        Before the window is shown (scripts, tests) an open dock counts as visible."""
        dock = self.dock
        if dock is None:
            return True
        host = dock.parentWidget()
        if host is not None and not dock.isVisibleTo(host):
            return False  # closed, or not in this workspace
        if host is None or not host.isVisible() or self._shown is None:
            return True
        return self._shown  # Qt keeps a tab behind another "visible"; the signal tells

    def stale(self) -> bool:
        """The view was hidden since its last refresh (what happened meanwhile is not shown)."""
        return self._stale

    def live(self) -> bool:
        """Its subscriptions are connected."""
        return self._live

    def update(self) -> None:
        """Connect or disconnect after a visibility change; refresh once when shown stale."""
        visible = self.visible()
        if visible == self._live:
            return
        self._live = visible
        if not visible:
            self._stale = True
            for link in self._links:
                link.disconnect()
            return
        for link in self._links:
            link.connect()
        if self._stale:
            self._stale = False
            done: set[int] = set()
            for link in self._links:
                if id(link.refresh) not in done:  # a refresh shared by several sources: once
                    done.add(id(link.refresh))
                    link.refresh()

    def _visibility_changed(self, shown: bool) -> None:
        self._shown = bool(shown)
        self.update()


def gate_of(view: QObject) -> ViewGate:
    """The view's gate (made on first use)."""
    gate = view.findChild(ViewGate, GATE_NAME, Qt.FindChildOption.FindDirectChildrenOnly)
    return gate if gate is not None else ViewGate(view)


def follow(view: QObject, source: Source, observer: Callable, refresh: Refresh) -> None:
    """Connect ``observer`` to ``source`` while ``view`` is visible (see the module docstring);
    ``source`` is a Qt signal or a subscribe function of the rows service (``rows.subscribe``,
    ``rows.subscribe_document``). ``refresh()``: show the current state (after being hidden)."""
    gate_of(view).add(_Link(source, observer, refresh))


def _disconnect(signal: SignalInstance, slot: Callable) -> None:
    with warnings.catch_warnings():  # PySide warns when the sender went first (window closing)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            signal.disconnect(slot)
        except (RuntimeError, TypeError, SystemError):  # SystemError: the receiver went
            pass

"""Task workspaces and the dock layout: View > Label / Train / Inspect, View > Panels, Reset Layout.

Each workspace shows the docks of one task (ADR 0012): Label keeps the canvas big with the image
list, the Image dock, the object list, the navigator and pre-annotation; Train gives the training
plot and the BAG-CP preview a wide column; Inspect gives the false-alarm gallery and the dataset
statistics the bottom of the window. Every dock comes through ``app.docks.install_dock`` (or
``MainWindow.add_dock``), so every dock is in View > Panels and is put back by Reset Layout.

What the user rearranges is kept per workspace, and across sessions in QSettings under
``LAYOUT_VERSION``: a state saved by an older layout is dropped, never restored half-broken.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QScrollArea, QToolBar

from app.docks import DOCKED_FEATURES, Area, DockSpec, Place, Workspace
from app.shortcuts import make_action

LAYOUT_VERSION = 2  # bump when the default layout changes: saved layouts of older ones are dropped
DEFAULT = Workspace.LABEL
DEFAULT_SIZE = (1400, 900)
# Column widths (left / right areas) as a fraction of the window's width, and the bottom area's
# height as a fraction of its height. Label keeps >= 60 % of a 1366x768 window for the canvas.
EXTENT = {
    Workspace.LABEL: {Area.LeftDockWidgetArea: 0.145, Area.RightDockWidgetArea: 0.17},
    Workspace.TRAIN: {Area.LeftDockWidgetArea: 0.145, Area.RightDockWidgetArea: 0.36},
    Workspace.INSPECT: {Area.LeftDockWidgetArea: 0.145, Area.RightDockWidgetArea: 0.5},
}
MIN_EXTENT = {Area.LeftDockWidgetArea: 190, Area.RightDockWidgetArea: 230,
              Area.BottomDockWidgetArea: 260, Area.TopDockWidgetArea: 120}  # fmt: skip
ACTION_IDS = {Workspace.LABEL: "workspace_label", Workspace.TRAIN: "workspace_train",
              Workspace.INSPECT: "workspace_inspect"}  # fmt: skip


def default_size(window: QMainWindow) -> QSize:
    """1400x900, or the screen's free area when it is smaller (e.g. a 1366x768 laptop)."""
    screen = window.screen()
    if screen is None:
        return QSize(*DEFAULT_SIZE)
    free = screen.availableGeometry()
    return QSize(min(DEFAULT_SIZE[0], free.width()), min(DEFAULT_SIZE[1], free.height()))


def _dock_height(dock: QDockWidget, width: int) -> int:
    """The height ``dock`` needs to show all its controls at ``width`` (word-wrapped labels grow
    taller as the column narrows; a form panel's scroll area would otherwise scroll)."""
    widget = dock.widget()
    chrome = dock.sizeHint().height() - widget.sizeHint().height()  # title bar and frame
    inner_width = max(width - 8, 50)
    area = widget.findChild(QScrollArea, options=Qt.FindChildOption.FindDirectChildrenOnly)
    content = area.widget() if area is not None else widget
    if content is None:
        return dock.sizeHint().height()
    if content.hasHeightForWidth():
        height = content.heightForWidth(inner_width)
    else:
        height = content.sizeHint().height()
    if area is not None:
        margins = widget.contentsMargins()
        height += margins.top() + margins.bottom() + 2 * area.frameWidth()
    return max(height, content.minimumSizeHint().height()) + chrome


def _vertical(area: Area) -> bool:
    """Docks of the left and right areas stack top to bottom."""
    return area in (Area.LeftDockWidgetArea, Area.RightDockWidgetArea)


class WorkspaceLayout(QObject):
    """Owns the window's docks: which are shown in which workspace, and where."""

    def __init__(self, window: QMainWindow, settings) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        self._docks: dict[str, tuple[QDockWidget, DockSpec]] = {}
        self._current = DEFAULT
        self._states: dict[Workspace, QByteArray] = {}  # as the user left each workspace
        self._panels_menu: QMenu | None = None
        self._actions: dict[Workspace, QAction] = {}
        self.detachable_action: QAction | None = None
        self.reset_action: QAction | None = None
        self._size_on_show = False
        # A panel's content changes with the image (a wrapped line more in the Image dock): grow
        # a dock that no longer shows all its controls, once the new image is laid out.
        self._fit_timer = QTimer(self, singleShot=True, interval=0)
        self._fit_timer.timeout.connect(self.ensure_fits)
        window.image_changed.connect(self._fit_timer.start)
        window.project_opened.connect(self._fit_timer.start)

    # ------------------------------------------------------------------ docks
    def add(self, dock: QDockWidget, spec: DockSpec) -> None:
        """Take ``dock`` into the layout (shown when it belongs to the current workspace)."""
        if not dock.objectName():
            dock.setObjectName(spec.name)
        dock.setFeatures(self._features())
        place = spec.place(self._current)
        mate = self._slot_mate(place) if place is not None else None
        self._docks[dock.objectName()] = (dock, spec)
        self._window.addDockWidget(place.area if place else spec.default_area, dock)
        if self._panels_menu is not None:
            self._panels_menu.addAction(self._toggle_action(dock))
        if place is None:
            dock.hide()
        elif mate is not None:  # same slot: a tab beside it (the full arrangement waits for
            self._window.tabifyDockWidget(mate, dock)  # restore / switch / reset)
            mate.raise_()

    def _slot_mate(self, place: Place) -> QDockWidget | None:
        """A dock already in ``place``'s area and slot in the current workspace."""
        for dock, spec in self._docks.values():
            other = spec.place(self._current)
            if other is not None and (other.area, other.slot) == (place.area, place.slot):
                return dock
        return None

    def docks(self) -> list[QDockWidget]:
        return [dock for dock, _spec in self._docks.values()]

    def docks_of(self, workspace: Workspace) -> list[QDockWidget]:
        return [d for d, spec in self._docks.values() if spec.place(workspace) is not None]

    def reveal(self, dock: QDockWidget) -> None:
        """Show and raise ``dock``; switch to a workspace of it when the current one lacks it."""
        spec = self._docks[dock.objectName()][1]
        if spec.place(self._current) is None:
            target = next((w for w in Workspace if spec.place(w) is not None), None)
            if target is not None:
                self.switch(target)
        dock.show()
        dock.raise_()

    # ------------------------------------------------------------------ menus
    def build_menus(self, view_menu: QMenu, toolbar: QToolBar) -> None:
        """Workspace entries (View menu and toolbar), View > Panels, Detachable, Reset Layout."""
        window = self._window
        group = QActionGroup(window)
        view_menu.addSeparator()
        toolbar.addSeparator()
        for workspace in Workspace:
            action_id = ACTION_IDS[workspace]
            action = make_action(window, action_id, lambda w=workspace: self.switch(w))
            action.setCheckable(True)
            action.setChecked(workspace == self._current)
            action.setIconText(workspace.title.replace("&", ""))
            group.addAction(action)
            view_menu.addAction(action)
            toolbar.addAction(action)
            window.actions_by_id[action_id] = action
            self._actions[workspace] = action
        self._panels_menu = view_menu.addMenu("&Panels")
        self._panels_menu.setObjectName("menu_panels")
        for dock in self.docks():
            self._panels_menu.addAction(self._toggle_action(dock))
        self.detachable_action = view_menu.addAction("&Detachable Panels")
        self.detachable_action.setObjectName("action_detachable_panels")
        self.detachable_action.setCheckable(True)
        self.detachable_action.setToolTip("Let panels be torn off into their own windows")
        self.detachable_action.toggled.connect(self._set_detachable)
        self.reset_action = make_action(window, "reset_layout", self.reset)
        window.actions_by_id["reset_layout"] = self.reset_action
        view_menu.addAction(self.reset_action)

    def _toggle_action(self, dock: QDockWidget) -> QAction:
        action = dock.toggleViewAction()
        action.setText(dock.windowTitle())
        return action

    def _features(self) -> QDockWidget.DockWidgetFeature:
        features = DOCKED_FEATURES
        if self.detachable_action is not None and self.detachable_action.isChecked():
            features |= QDockWidget.DockWidgetFeature.DockWidgetFloatable
        return features

    def _set_detachable(self, on: bool) -> None:
        for dock in self.docks():
            dock.setFeatures(self._features())
            if not on and dock.isFloating():
                dock.setFloating(False)

    # ------------------------------------------------------------------ workspaces
    @property
    def current(self) -> Workspace:
        return self._current

    def switch(self, workspace: Workspace | str) -> None:
        """Show ``workspace``: as the user left it this session (or last), else its default."""
        workspace = Workspace(workspace)
        if workspace == self._current:
            self._check(workspace)
            return
        self._states[self._current] = self._window.saveState(LAYOUT_VERSION)
        self._current = workspace
        self._check(workspace)
        if not self._restore_state(workspace):
            self._arrange(workspace, resize=True)

    def reset(self) -> None:
        """View > Reset Layout: every workspace back to its default; the current one now."""
        self._states.clear()
        for dock in self.docks():
            if dock.isFloating():
                dock.setFloating(False)
        self._arrange(self._current, resize=True)

    def _check(self, workspace: Workspace) -> None:
        action = self._actions.get(workspace)
        if action is not None:
            action.setChecked(True)

    def _columns(self, workspace: Workspace) -> dict[Area, list[list[tuple[QDockWidget, Place]]]]:
        """The workspace's docks by area, then by slot (a list of tabbed docks per slot)."""
        areas: dict[Area, dict[int, list[tuple[QDockWidget, Place]]]] = {}
        for dock, spec in self._docks.values():
            place = spec.place(workspace)
            if place is not None:
                areas.setdefault(place.area, {}).setdefault(place.slot, []).append((dock, place))
        return {area: [slots[k] for k in sorted(slots)] for area, slots in areas.items()}

    def _arrange(self, workspace: Workspace, resize: bool) -> None:
        """Put the workspace's docks in their places (stacked, tabbed) and hide the others."""
        window = self._window
        columns = self._columns(workspace)
        members = {id(d) for stack in columns.values() for tabs in stack for d, _p in tabs}
        for dock in self.docks():
            if dock.isFloating():
                dock.setFloating(False)
            # Taken out first, so that stacking and tabbing again start from nothing.
            window.removeDockWidget(dock)
            if id(dock) not in members:
                dock.hide()
        for area, stack in columns.items():
            orientation = Qt.Orientation.Vertical if _vertical(area) else Qt.Orientation.Horizontal
            previous = None
            for tabs in stack:
                first = tabs[0][0]
                if previous is None:
                    window.addDockWidget(area, first)
                else:
                    window.splitDockWidget(previous, first, orientation)
                first.show()
                for dock, _place in tabs[1:]:
                    window.tabifyDockWidget(first, dock)
                    dock.show()
                first.raise_()
                previous = first
        if resize:
            if window.isVisible():
                self.fit_sizes()
            elif not self._size_on_show:
                self._size_on_show = True
                # Watch the window only until it is shown: later events never pass through here.
                window.installEventFilter(self)

    def fit_sizes(self) -> None:
        """Column widths from ``EXTENT``; in a column, each dock the height its controls need
        and the ``fill`` docks what is left."""
        window = self._window
        columns = self._columns(self._current)
        across, across_sizes, along, along_sizes = [], [], [], []
        for area, stack in columns.items():
            share = EXTENT.get(self._current, {}).get(area)
            total = window.width() if _vertical(area) else window.height()
            if share is not None:
                across.append(stack[0][0][0])
                across_sizes.append(max(int(total * share), MIN_EXTENT[area]))
            if not _vertical(area) or len(stack) < 2:
                continue
            width = across_sizes[-1] if share is not None else stack[0][0][0].width()
            needs = [self._need(tabs, width) for tabs in stack]
            column_height = sum(tabs[0][0].height() for tabs in stack)
            fixed = sum(n for n in needs if n is not None)
            n_fill = sum(1 for n in needs if n is None) or 1
            rest = max(column_height - fixed, 80 * n_fill) // n_fill
            along.extend(tabs[0][0] for tabs in stack)
            along_sizes.extend(n if n is not None else rest for n in needs)
        if across:
            window.resizeDocks(across, across_sizes, Qt.Orientation.Horizontal)
        if along:
            window.resizeDocks(along, along_sizes, Qt.Orientation.Vertical)

    def ensure_fits(self) -> None:
        """Grow each shown dock of a stacked column that is shorter than its controls need,
        taking the height from the column's filling dock (the user's other sizes stay)."""
        window = self._window
        if not window.isVisible():
            return
        for area, stack in self._columns(self._current).items():
            if not _vertical(area) or len(stack) < 2:
                continue
            fill = next((tabs[0][0] for tabs in stack if any(p.fill for _d, p in tabs)), None)
            if fill is None or not fill.isVisible():
                continue
            for tabs in stack:
                dock = next((d for d, _p in tabs if d.isVisible()), None)
                if dock is None or dock is fill or dock.isFloating():
                    continue
                short = _dock_height(dock, dock.width()) - dock.height()
                if short > 0:
                    sizes = [dock.height() + short, max(fill.height() - short, 60)]
                    window.resizeDocks([dock, fill], sizes, Qt.Orientation.Vertical)

    @staticmethod
    def _need(tabs: list[tuple[QDockWidget, Place]], width: int) -> int | None:
        """Height a slot needs at ``width``: its tallest dock's; None for a slot that fills."""
        if any(place.fill for _dock, place in tabs):
            return None
        return max(_dock_height(dock, width) for dock, _place in tabs)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self._window and event.type() == QEvent.Type.Show and self._size_on_show:
            self._size_on_show = False
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self.fit_sizes)  # once the window has its size
        return False

    # ------------------------------------------------------------------ persistence
    def save(self) -> None:
        """Remember every workspace's arrangement and the current workspace (on close)."""
        self._states[self._current] = self._window.saveState(LAYOUT_VERSION)
        self._settings.save_layout(LAYOUT_VERSION, self._current.value,
                                   {w.value: s for w, s in self._states.items()})  # fmt: skip

    def restore(self) -> bool:
        """Bring back the last session's workspace and arrangements (same ``LAYOUT_VERSION``
        only); otherwise the default layout. True when a saved arrangement was restored."""
        current, states = self._settings.saved_layout(LAYOUT_VERSION)
        self._states = {Workspace(k): v for k, v in states.items() if k in set(Workspace)}
        try:
            self._current = Workspace(current) if current else DEFAULT
        except ValueError:
            self._current = DEFAULT
        self._check(self._current)
        if self._restore_state(self._current):
            return True
        self._arrange(self._current, resize=True)
        return False

    def _restore_state(self, workspace: Workspace) -> bool:
        """The workspace as it was saved; False when nothing (usable) was saved."""
        saved = self._states.get(workspace)
        if saved is None:
            return False
        if not self._window.restoreState(saved, LAYOUT_VERSION):
            return False
        members = {id(d) for d in self.docks_of(workspace)}
        for dock in self.docks():  # Qt shows the docks a state does not name: not ours
            if id(dock) not in members:
                dock.hide()
        return True

"""Team projects in the GUI (ADR 0008): File > Open server project..., the Team dock (who you
are, the annotator filter, claim / release / assign, unmapped image folders) and live refresh.

Live refresh: a timer polls a core.store.live.ChangeListener every POLL_MS (LISTEN/NOTIFY on a
server, the edit log on SQLite); a change of the open image by someone else reloads the
document, so the canvas shows it within about a second; other images' list rows are re-read.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.error_dialog import show_error
from app.host import PanelHost
from app.shortcuts import Shortcut, panel_action
from app.views import follow
from core.errors import SirstError

MAX_ROWS_PER_TICK = 50  # list rows re-read per poll for other images' changes
RECONNECT_FIRST_S, RECONNECT_MAX_S = 1.0, 30.0  # live refresh back-off after a lost server
POLL_MS = 500  # well inside the 2 s the issue allows, and one cheap query per tick on SQLite
OPEN_SERVER = Shortcut("open_server_project", "Open &Server Project...", ("Ctrl+Shift+O",), "File")
CLAIM = Shortcut("claim_image", "&Claim this image", ("Ctrl+Alt+C",), "Team")
RELEASE = Shortcut("release_image", "&Release this image", (), "Team")
ASSIGN = Shortcut("assign_images", "&Assign selected images to...", (), "Team")
SERVER_ADVICE = ("Check the URL (postgresql+psycopg://user@host:port/database), that the server runs "
                 "and that you may log in; the database must exist (CREATE DATABASE).")  # fmt: skip

# Filter choices besides the annotators' names (combo item data).
EVERYONE, MINE, NOBODY = "\x00everyone", "\x00mine", "\x00nobody"

DOCK = DockSpec("dock_team", "Team", {Workspace.LABEL: Place(Area.RightDockWidgetArea, 2)})


class ServerProjectDialog(QDialog):
    """Asks for the server URL; ``url`` and ``create`` hold the answer after accept()."""

    def __init__(self, parent: QWidget | None = None, url: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Open server project")
        self.url_edit = QLineEdit(url, self)
        self.url_edit.setPlaceholderText("postgresql+psycopg://user@host:5432/database")
        self.url_edit.setMinimumWidth(420)
        self.create_box = QCheckBox("Create the project when the database is empty", self)
        self.create_box.setChecked(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.open_button = buttons.button(QDialogButtonBox.StandardButton.Open)
        self.url_edit.textChanged.connect(self._validate)
        form = QFormLayout()
        form.addRow("Database URL:", self.url_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.create_box)
        layout.addWidget(buttons)
        self._validate()

    def _validate(self) -> None:
        from core.store.location import as_url

        self.open_button.setEnabled(as_url(self.url_edit.text().strip()) is not None)

    @property
    def url(self) -> str:
        return self.url_edit.text().strip()

    @property
    def create(self) -> bool:
        return self.create_box.isChecked()


def open_server_project(window, url: str, create: bool = True) -> bool:
    """Open (or, with ``create``, create in an empty database) the project at ``url``."""
    from core.store.project import Project

    try:
        project = Project.open_or_create(url) if create else Project.open(url)
    except (SirstError, OSError) as exc:
        show_error(window, "Cannot open the server project", str(exc), SERVER_ADVICE)
        return False
    window.set_project(project)
    return True


class LiveRefresh(QObject):
    """Polls the project's change feed and brings the window up to date."""

    changed_by_other = Signal(int, str)  # image id, author: the open image was reloaded

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.listener = None
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self._retry_at = 0.0  # non-zero: the connection was lost, the next tick reconnects
        self._backoff = RECONNECT_FIRST_S

    def start(self, project) -> None:
        from core.store.live import ChangeListener

        self.stop()
        try:
            self.listener = ChangeListener(project)
        except SirstError as exc:
            self.window.show_message(f"Live refresh is off: {exc}")
            return
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        self.timer.setInterval(POLL_MS)
        self._retry_at, self._backoff = 0.0, RECONNECT_FIRST_S
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def poll(self) -> None:
        project, listener = self.window.project, self.listener
        if project is None or listener is None:
            return
        try:
            changes = listener.reconnect() if self._retry_at else listener.poll(0.0)
        except SirstError as exc:
            self._lost(exc)
            return
        if self._retry_at:
            self._retry_at, self._backoff = 0.0, RECONNECT_FIRST_S
            self.timer.setInterval(POLL_MS)
            self.window.show_message("Live refresh resumed: caught up with the changes made meanwhile", 6000)
        latest: dict[int, tuple[int, str]] = {}
        for c in changes:
            latest[c.image_id] = (c.version, c.author)
        doc = self.window.document
        current = doc.image_id if doc is not None else None
        others = 0
        for image_id, (version, author) in latest.items():
            if image_id != current:
                # This user's own changes of other images are in the list already (documents,
                # workers' record_edit); a burst of others' changes is capped per tick so the GUI
                # thread never stalls: the rest shows when those rows are next listed.
                if author == project.user or others >= MAX_ROWS_PER_TICK:
                    continue
                others += 1
            self._apply(project, image_id, version, author)

    def _lost(self, exc: Exception) -> None:
        """The server went away (restart, outage): retry with back-off, say so meanwhile."""
        self._retry_at = time.monotonic() + self._backoff
        self.timer.setInterval(int(self._backoff * 1000))
        self.window.show_message(
            f"Live refresh lost ({exc}); reconnecting in {self._backoff:.0f} s", int(self._backoff * 1000) + 1000
        )
        self._backoff = min(self._backoff * 2, RECONNECT_MAX_S)

    def _apply(self, project, image_id: int, version: int, author: str) -> None:
        window, doc = self.window, self.window.document
        current = doc is not None and doc.image_id == image_id
        if current:
            if not doc.refresh(version):
                return  # our own change (the document is at that version already)
            info = doc.info
            window.image_panel.set_info(info)
            if author != project.user:  # one's own change (a claim, another window) is no news
                window.show_message(f"{author} changed this image; it shows their change now", 6000)
        else:
            try:
                info = project.get_image(image_id)
            except SirstError:
                return  # deleted meanwhile
        old = window.list_model.cached(image_id)  # a row not read yet is read fresh when shown
        if old is not None and old.version < info.version:
            window.rows.update(info)  # missing flag, prefetch, list row, one announcement
        else:
            window.rows.forget_prefetched(image_id)  # its prefetched labels may be stale
        if current:
            self.changed_by_other.emit(image_id, author)  # after the row: listeners read it


class TeamPanel(QWidget):
    """Who I am, whose images the list shows, and the claim / release / assign actions."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.user_edit = QLineEdit(self)
        self.user_edit.setPlaceholderText("your name (default: the OS user)")
        self.user_edit.editingFinished.connect(self._save_user)
        self.filter_combo = QComboBox(self)
        self.filter_combo.setSizeAdjustPolicy(  # the dock shares a narrow column (workspaces)
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.filter_combo.setMinimumContentsLength(8)
        self.filter_combo.currentIndexChanged.connect(self._apply_filter)
        self.claim_button = QPushButton("Claim", self)
        self.release_button = QPushButton("Release", self)
        self.assign_button = QPushButton("Assign...", self)
        self.holder_label = QLabel(self)
        self.holder_label.setWordWrap(True)
        self.unmapped_label = QLabel(self)
        self.unmapped_label.setWordWrap(True)
        self.unmapped_label.setStyleSheet("color: #c0392b")
        form = QFormLayout()
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow("You are:", self.user_edit)
        form.addRow("Show images of:", self.filter_combo)
        buttons = QHBoxLayout()
        for b in (self.claim_button, self.release_button, self.assign_button):
            b.setMinimumWidth(b.fontMetrics().horizontalAdvance(b.text()) + 20)  # not the 80 px default
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.holder_label)
        layout.addWidget(self.unmapped_label)
        layout.addStretch(1)
        self.claim_button.clicked.connect(self.claim_current)
        self.release_button.clicked.connect(self.release_current)
        self.assign_button.clicked.connect(self.assign_selected)
        self._fill_filter([])
        self.setEnabled(False)

    # ---------------------------------------------------------------- project lifecycle
    def on_project_opened(self, project) -> None:
        self.setEnabled(True)
        self.user_edit.setText(project.user)
        self._fill_filter(project.annotators())
        self.show_unmapped(project)
        self.on_image_changed(self.window.current_image_id)

    def on_project_closed(self, _project) -> None:
        self.window.image_list.set_assignee_filter(False)
        self._fill_filter([])
        self.unmapped_label.clear()
        self.holder_label.clear()
        self.setEnabled(False)

    def on_image_changed(self, image_id: int | None) -> None:
        info = self.window.list_model.info(image_id) if image_id is not None else None
        if info is None:
            self.holder_label.clear()
            return
        held = f"held by {info.assignee}" if info.assignee else "held by nobody"
        reviewed = f", reviewed by {info.reviewed_by}" if info.reviewed_by else ""
        edited = f", last change by {info.edited_by}" if info.edited_by else ""
        self.holder_label.setText(f"{info.name}: {held}{reviewed}{edited}")

    def show_unmapped(self, project) -> None:
        """Folders of missing images that no path mapping covers (what to add to the map)."""
        from core.machine import FILE_NAME, config_dir

        # The list checks files in the background (issue 22); called again when it is done.
        missing = project.images_by_id(sorted(self.window.rows.missing_ids()))
        for info in missing:
            info.missing = True
        unmapped = project.unmapped_images(missing)
        if not unmapped:
            self.unmapped_label.clear()
            return
        n = sum(len(v) for v in unmapped.values())
        folders = "\n".join(f"  {k} ({len(v)})" for k, v in list(unmapped.items())[:5])
        self.unmapped_label.setText(
            f"{n} images are not found on this machine and no path mapping covers them:\n"
            f"{folders}\nAdd [stored prefix, local prefix] to path_map in "
            f"{config_dir() / FILE_NAME}."
        )

    # ---------------------------------------------------------------- filter
    def _fill_filter(self, names: list[str]) -> None:
        self.filter_combo.blockSignals(True)
        self.filter_combo.clear()
        self.filter_combo.addItem("everyone", EVERYONE)
        self.filter_combo.addItem("me", MINE)
        self.filter_combo.addItem("nobody (unassigned)", NOBODY)
        for name in names:
            self.filter_combo.addItem(name, name)
        self.filter_combo.blockSignals(False)

    def set_filter(self, value: str) -> None:
        """Select a filter by its item data (EVERYONE, MINE, NOBODY or a name)."""
        index = self.filter_combo.findData(value)
        if index < 0:
            self.filter_combo.addItem(value, value)
            index = self.filter_combo.count() - 1
        self.filter_combo.setCurrentIndex(index)

    def _apply_filter(self, *_args) -> None:
        value = self.filter_combo.currentData()
        project = self.window.project
        if value == EVERYONE or value is None or project is None:
            self.window.image_list.set_assignee_filter(False)
        elif value == NOBODY:
            self.window.image_list.set_assignee_filter(True, None)
        else:
            self.window.image_list.set_assignee_filter(True, project.user if value == MINE else value)

    # ---------------------------------------------------------------- actions
    def _save_user(self) -> None:
        from core import machine

        project = self.window.project
        text = self.user_edit.text().strip()
        try:
            settings = machine.load()
            settings.user = text or None
            machine.save(settings)
        except (SirstError, OSError) as exc:
            show_error(self.window, "Cannot save your name", str(exc), "Check the config folder.")
            return
        if project is not None:
            project.user = settings.user_name
            self.user_edit.setText(project.user)

    def _refresh_rows(self, infos) -> None:
        for info in infos:
            self.window.rows.update(info)
        self.on_image_changed(self.window.current_image_id)

    def _run(self, what: str, fn) -> None:
        try:
            self._refresh_rows(fn())
        except SirstError as exc:
            show_error(self.window, f"Cannot {what}", str(exc),
                       "Pick another image, or ask its holder to release it.")  # fmt: skip

    def claim_current(self) -> None:
        project, iid = self.window.project, self.window.current_image_id
        if project is not None and iid is not None:
            self._run("claim the image", lambda: [project.claim(iid)])

    def release_current(self) -> None:
        project, iid = self.window.project, self.window.current_image_id
        if project is not None and iid is not None:
            self._run("release the image", lambda: [project.release(iid)])

    def assign_selected(self, user: str | None = None) -> None:
        project = self.window.project
        ids = self.window.selected_image_ids() or (
            [self.window.current_image_id] if self.window.current_image_id is not None else []
        )
        if project is None or not ids:
            return
        if user is None:
            user, ok = QInputDialog.getItem(self.window, "Assign images",
                                            f"Give {len(ids)} image(s) to:",
                                            project.annotators() or [project.user], 0, True)  # fmt: skip
            if not ok or not user.strip():
                return
        self._run("assign the images", lambda: project.assign(ids, user.strip()))
        self._fill_filter(project.annotators())


def _insert_in_file_menu(window, action: QAction) -> None:
    """After File > Open Project (the menu is built by the window from app/shortcuts.py)."""
    anchor = window.actions_by_id.get("open_project")
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        if menu is not None and anchor in menu.actions():
            following = menu.actions()[menu.actions().index(anchor) + 1 :]
            menu.insertAction(following[0] if following else None, action)
            return
    window.tool_menu("&File").addAction(action)


def install(window: PanelHost) -> TeamPanel:
    panel = TeamPanel(window)
    live = LiveRefresh(window)
    panel.live = live
    # The Team dock's "last change by" follows every change of the open image, live ones too.
    # While the dock is hidden none of this runs; shown again, it says the open image's holder.
    def current() -> None:
        panel.on_image_changed(window.current_image_id)

    follow(panel, live.changed_by_other, lambda iid, _who: panel.on_image_changed(iid), current)
    follow(panel, window.rows.subscribe,
           lambda iid: panel.on_image_changed(iid) if iid == window.current_image_id else None,
           current)  # fmt: skip

    def ask_server_project() -> None:
        last = window.project.url if window.project is not None and window.project.is_server else ""
        dialog = ServerProjectDialog(window, last or "")
        if dialog.exec() == QDialog.DialogCode.Accepted:
            open_server_project(window, dialog.url, dialog.create)

    _insert_in_file_menu(window, panel_action(window, OPEN_SERVER, ask_server_project))
    menu = window.tool_menu("&Team")
    for spec, slot in ((CLAIM, panel.claim_current), (RELEASE, panel.release_current),
                       (ASSIGN, panel.assign_selected)):  # fmt: skip
        menu.addAction(panel_action(window, spec, slot))
    install_dock(window, panel, DOCK)
    window.project_opened.connect(panel.on_project_opened)
    window.list_model.files_checked.connect(
        lambda: window.project is not None and panel.show_unmapped(window.project)
    )
    window.project_opened.connect(live.start)
    window.project_closed.connect(lambda _p: live.stop())
    window.project_closed.connect(panel.on_project_closed)
    follow(panel, window.image_changed, panel.on_image_changed, current)
    window.keep_panel("team_panel", panel)
    return panel

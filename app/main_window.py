"""The main window: wires the canvas, the image list, the Image dock, menus, toolbar and undo
stacks to a Project. It only wires: edits live in app/commands.py, request handling in
app/annotation_controller.py, panels in app/extensions.py (installed through the "MainWindow API"
of docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QUndoCommand
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QMenu,
    QSlider,
    QStackedWidget,
)

import app.extensions
from app import document_view, project_actions
from app.annotation_controller import AnnotationController, UndoStacks
from app.claims import ClaimGuard
from app.commands import EditCommand
from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.image_list_model import ImageListModel
from app.image_panel import ImagePanel
from app.rows import ImageRows
from app.save_queue import SaveQueue
from app.save_status import SaveStatusBar, flush_before_close
from app.saving_document import SavingDocument
from app.settings import AppSettings
from app.shortcuts import BY_ID, MENUS, TOOLBAR_TEXT, CheatSheetDialog, ShortcutTable, make_action
from app.welcome import WelcomeWidget, dropped_folder
from app.workspaces import WorkspaceLayout, default_size
from core.document import AnnotationDocument
from core.domain import CanvasMode, ImageInfo, ReviewStatus, TargetState
from core.edits import AnnotationEdit
from core.errors import ImageReadError, ProjectError
from widgets.canvas import IRCanvas
from widgets.image_list import ImageListWidget

APP_TITLE = "SIRST Studio"
PREFETCH_DELAY_MS = 40  # let the new image paint before the background decode competes for CPU
LAST_IMAGE_DELAY_MS = 500  # "last image" is written once stepping pauses (not labels: may wait)
MODES = {"mode_edit": CanvasMode.EDIT, "mode_draw_sky": CanvasMode.DRAW_SKY,
         "mode_edit_sky": CanvasMode.EDIT_SKY, "mode_paint_sky": CanvasMode.PAINT_SKY}  # fmt: skip


class MainWindow(QMainWindow):
    """See docs/architecture.md, "MainWindow API", for what panels may use."""

    project_opened = Signal(object)
    project_closed = Signal(object)  # the Project about to close; panels stop work using it
    image_changed = Signal(int)
    score_threshold_changed = Signal(float)

    def __init__(self, settings: AppSettings | None = None, install_panels: bool = True) -> None:
        super().__init__()
        self.setObjectName("main_window")
        self.settings = settings if settings is not None else AppSettings()
        self.project = None
        self.document: AnnotationDocument | None = None  # the open image's labels and pixels
        self.save_queue: SaveQueue | None = None  # commits the document's edits, in order
        self._unsubscribe = None
        self.document_canvas = document_view.DocumentCanvas(self)
        self.current_image_id: int | None = None
        self.thumbnails = None
        self.prefetcher = None
        self._panels: dict[str, object] = {}  # installed panels by name (keep_panel)
        self._score_threshold = self.settings.score_threshold()
        self.undo_stacks = UndoStacks(self)
        self.claim_guard = ClaimGuard(self)  # asks before editing an image someone else holds
        self.controller = AnnotationController(self)
        self.workspaces = WorkspaceLayout(self, self.settings)  # every dock goes through it
        self._build_central()
        self._build_docks()
        self.actions_by_id: dict[str, QAction] = {}
        self.shortcut_table = ShortcutTable()  # SHORTCUTS + what panels register
        self._tool_menus: dict[str, QMenu] = {}
        self._prefetch_timer = QTimer(self, singleShot=True, interval=PREFETCH_DELAY_MS)
        self._prefetch_timer.timeout.connect(self._prefetch_neighbours)
        self._last_image_timer = QTimer(self, singleShot=True, interval=LAST_IMAGE_DELAY_MS)
        self._last_image_timer.timeout.connect(self._remember_last_image)
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()
        self.setAcceptDrops(True)
        self.resize(default_size(self))
        if install_panels:
            app.extensions.install_all(self)
        self.settings.restore_window(self)
        self.workspaces.restore()
        self.welcome.set_recent(self.settings.recent_projects())
        self._update_title()

    # ---------------------------------------------------------------- construction
    def _build_central(self) -> None:
        self.canvas = IRCanvas(self)
        self.canvas.set_brush_radius(self.settings.brush_radius(self.canvas.brush_radius()))
        self.canvas.set_score_threshold(self._score_threshold)
        self.message_page = QLabel("", self)
        self.message_page.setObjectName("canvas_message")
        self.message_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_page.setWordWrap(True)
        self.message_page.setStyleSheet(
            "QLabel { font-size: 15px; color: #c0c0c0; background: #202020; }"
        )
        self.editor = QStackedWidget(self)
        self.editor.addWidget(self.canvas)
        self.editor.addWidget(self.message_page)
        self.welcome = WelcomeWidget(self)
        self.pages = QStackedWidget(self)
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(self.editor)
        self.setCentralWidget(self.pages)

    def _build_docks(self) -> None:
        self.list_model = ImageListModel(None, self)
        self.rows = ImageRows(self.list_model, self)  # rows, missing flags, "annotation changed"
        self.image_list = ImageListWidget(self)
        self.image_list.set_source_model(self.list_model)
        self.image_panel = ImagePanel(self)
        everywhere = {w: Place(Area.LeftDockWidgetArea, 0, fill=True) for w in Workspace}
        self.images_dock = install_dock(
            self, self.image_list, DockSpec("dock_images", "Images", everywhere)
        )
        self.image_dock = install_dock(self, self.image_panel, DockSpec(
            "dock_image", "Image", {Workspace.LABEL: Place(Area.RightDockWidgetArea, 0)}))  # fmt: skip

    def _slots(self) -> dict[str, object]:
        c = self.controller
        return {
            "new_project": lambda: project_actions.new_project(self),
            "open_project": lambda: project_actions.open_project_dialog(self),
            "open_demo": lambda: project_actions.open_demo(self), "quit": self.close,
            "import": lambda: project_actions.import_dialog(self),
            "export": lambda: project_actions.export_dialog(self),
            "close_project": self.close_project, "accept_above": c.accept_above_threshold,
            "accept_sky": c.accept_proposed_sky, "cheat_sheet": self.show_cheat_sheet,
            "next_image": lambda: self.step_image(1), "prev_image": lambda: self.step_image(-1),
            "next_unreviewed": self.next_unreviewed, "mark_reviewed": self.mark_reviewed_and_next,
            "find": self.image_list.focus_search, "toggle_sky": self._toggle_sky,
            "toggle_bad_pixels": self._toggle_bad_pixels,
            # Keys the canvas handles itself; the menu items do the same for the selection.
            "delete": lambda: c.delete_targets(self.canvas.selected_ids()),
            "accept": lambda: c.accept(self.canvas.selected_ids()),
            "reject": lambda: c.reject(self.canvas.selected_ids()),
            "select_all": lambda: self.canvas.select(self.canvas.visible_ids()),
            "fit": self.canvas.fit,
            "loupe": lambda: self.canvas.set_loupe_visible(not self.canvas.loupe_enabled),
        }  # fmt: skip

    def _build_menus(self) -> None:
        slots = self._slots()
        for action_id, group_action in (("undo", self.undo_stacks.createUndoAction(self)),
                                        ("redo", self.undo_stacks.createRedoAction(self))):  # fmt: skip
            group_action.setShortcuts([QKeySequence(k) for k in BY_ID[action_id].keys])
            group_action.setObjectName(f"action_{action_id}")
            self.addAction(group_action)
            self.actions_by_id[action_id] = group_action
        modes = QActionGroup(self)
        for action_id in MODES:
            action = make_action(self, action_id, lambda a=action_id: self.set_mode(MODES[a]))
            action.setCheckable(True)
            modes.addAction(action)
            self.actions_by_id[action_id] = action
        self.actions_by_id["mode_edit"].setChecked(True)
        for menu_title, ids in MENUS.items():
            menu = self.menuBar().addMenu(menu_title)
            for action_id in ids:
                if action_id is None:
                    menu.addSeparator()
                    continue
                if action_id not in self.actions_by_id:
                    self.actions_by_id[action_id] = make_action(
                        self, action_id, slots.get(action_id)
                    )
                menu.addAction(self.actions_by_id[action_id])
        self.actions_by_id["toggle_sky"].setCheckable(True)
        self.actions_by_id["toggle_sky"].setChecked(True)
        document_view.setup_bad_pixel_action(self.actions_by_id["toggle_bad_pixels"])
        self.view_menu = self.menuBar().actions()[list(MENUS).index("&View")].menu()
        self.help_menu = self.menuBar().addMenu("&Help")
        self.actions_by_id["cheat_sheet"] = make_action(self, "cheat_sheet", slots["cheat_sheet"])
        self.help_menu.addAction(self.actions_by_id["cheat_sheet"])

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Tools")
        bar.setObjectName("toolbar_tools")
        for action_id in ("undo", "redo", None, *MODES, None, "accept_above", "accept_sky"):
            if action_id is None:
                bar.addSeparator()
            else:
                bar.addAction(self.actions_by_id[action_id])
        for action_id, text in TOOLBAR_TEXT.items():
            self.actions_by_id[action_id].setIconText(text)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.threshold_slider.setObjectName("score_threshold")
        self.threshold_slider.setRange(0, 100)
        self.threshold_slider.setSingleStep(5)
        self.threshold_slider.setFixedWidth(140)
        self.threshold_slider.setValue(round(self._score_threshold * 100))
        self.threshold_slider.setToolTip("Proposals below this score are hidden (no model re-run)")
        self.threshold_label = QLabel(f" score >= {self._score_threshold:.2f} ", self)
        bar.addWidget(QLabel(" Proposal threshold ", self))
        bar.addWidget(self.threshold_slider)
        bar.addWidget(self.threshold_label)
        self.workspaces.build_menus(self.view_menu, bar)

    def _build_status_bar(self) -> None:
        self.cursor_label = QLabel("", self)
        self.saved_label = QLabel("", self)
        self.saved_label.setObjectName("saved_label")
        self.statusBar().addPermanentWidget(self.cursor_label)
        self.statusBar().addPermanentWidget(self.saved_label)
        self.save_status = SaveStatusBar(self)  # "saving 2 edits..." and Discard unsaved

    def _connect(self) -> None:
        self.controller.connect_canvas(self.canvas)
        self.canvas.cursor_moved.connect(self._show_cursor)
        self.threshold_slider.valueChanged.connect(lambda v: self.set_score_threshold(v / 100))
        self.image_list.current_image_changed.connect(self.goto_image)
        self.list_model.query_failed.connect(self.show_message)
        self.rows.subscribe(lambda image_id: document_view.follow_row(self, image_id))
        self.image_changed.connect(lambda _id: document_view.clear_readouts(self))
        self.image_panel.field_edited.connect(self.controller.set_field)
        self.image_panel.mark_reviewed_clicked.connect(self.mark_reviewed_and_next)
        self.welcome.new_requested.connect(lambda: project_actions.new_project(self))
        self.welcome.open_requested.connect(lambda: project_actions.open_project_dialog(self))
        self.welcome.demo_requested.connect(lambda: project_actions.open_demo(self))
        self.welcome.recent_activated.connect(self.open_project)
        self.welcome.folder_dropped.connect(lambda f: project_actions.import_folder(self, Path(f)))

    # ---------------------------------------------------------------- MainWindow API
    @property
    def score_threshold(self) -> float:
        return self._score_threshold

    def set_score_threshold(self, value: float) -> None:
        value = min(max(float(value), 0.0), 1.0)
        if abs(value - self._score_threshold) < 1e-9:
            return
        self._score_threshold = value
        self.threshold_label.setText(f" score >= {value:.2f} ")
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(value * 100))
        self.threshold_slider.blockSignals(False)
        self.canvas.set_score_threshold(value)
        self.settings.set_score_threshold(value)
        self.score_threshold_changed.emit(value)

    @property
    def current_info(self) -> ImageInfo | None:
        return self.document.info if self.document is not None else None

    @property
    def current_pixels(self):
        """The open image's pixels, decoded once per visit (None when unreadable)."""
        return self.document.pixels if self.document is not None else None

    def push_command(self, cmd: QUndoCommand) -> None:
        """Push onto the current image's stack (redo() runs now and saves the edit)."""
        if self.current_image_id is None:
            raise ProjectError("no image is open; open a project and pick an image first")
        if self.refuse_if_read_only():
            return
        self.undo_stacks.stack(self.current_image_id).push(cmd)

    def refuse_if_read_only(self) -> bool:
        """True (and a status message saying why) when the open project cannot be changed."""
        if self.project is None or not getattr(self.project, "read_only", False):
            return False
        self.show_message(
            "This project is read-only (its folder, database or disk is not writable): "
            "edits are not possible. Copy it to a writable folder to edit it."
        )
        return True

    def apply_edit(self, edit: AnnotationEdit) -> None:
        """An undoable edit of any image: onto that image's stack, committed at once."""
        if self.refuse_if_read_only() or self.claim_guard.refuse(edit.image_id):
            return
        self.undo_stacks.stack(edit.image_id).push(EditCommand(self.document, edit))

    def record_edit(self, edit: AnnotationEdit) -> None:
        """An edit someone else already committed (a worker's pre-annotation result): it joins
        that image's history, so undo brings the previous labels back."""
        if self.project is not None and self.document is not None:
            stack = self.undo_stacks.stack(edit.image_id)
            stack.push(EditCommand(self.document, edit, applied=True))

    def tool_menu(self, title: str) -> QMenu:
        menu = self._tool_menus.get(title)
        if menu is None:
            menu = QMenu(title, self)
            self.menuBar().insertMenu(self.help_menu.menuAction(), menu)
            self._tool_menus[title] = menu
        return menu

    def add_dock(
        self, dock: QDockWidget, spec: DockSpec | Qt.DockWidgetArea = Area.RightDockWidgetArea
    ) -> None:
        """Add a panel's dock (``app.docks.install_dock`` builds it from a DockSpec); a bare area
        puts it in every workspace, tabbed with that area's docks."""
        if not isinstance(spec, DockSpec):
            name = dock.objectName() or f"dock_{dock.windowTitle().lower().replace(' ', '_')}"
            spec = DockSpec(name, dock.windowTitle(), default_area=spec)
        self.workspaces.add(dock, spec)

    def show_dock(self, dock: QDockWidget) -> None:
        """Show and raise a dock, switching to a workspace that has it when needed."""
        self.workspaces.reveal(dock)

    def register_action(self, spec, slot) -> QAction:
        """A panel's action, listed in the cheat sheet; ShortcutError if its key is taken."""
        action = self.shortcut_table.add_action(self, spec, slot)
        self.actions_by_id[spec.action_id] = action
        return action

    def keep_panel(self, name: str, panel: object) -> None:
        """Keep an installed panel under ``name``: ``panel(name)``, and ``window.<name>`` for
        scripts and tests."""
        self._panels[name] = panel
        setattr(self, name, panel)

    def panel(self, name: str):
        """The panel kept under ``name``, or None when that panel is not installed."""
        return self._panels.get(name)

    def selected_image_ids(self) -> list[int]:
        return self.image_list.selected_ids()

    def show_message(self, text: str, timeout_ms: int = 8000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def set_mode(self, mode: CanvasMode | str) -> None:
        mode = CanvasMode(mode)
        self.canvas.set_mode(mode)
        for action_id, m in MODES.items():
            self.actions_by_id[action_id].setChecked(m == mode)

    # ---------------------------------------------------------------- project lifecycle
    def open_project(self, root: str | Path) -> bool:
        """Open a project folder or server URL; on failure a dialog says why and what to do."""
        from core.store.location import as_url

        # a URL stays a string (Path() folds its "//"); a bad one is refused inside, in a dialog
        return project_actions.open_project(self, as_url(str(root)) or Path(root))

    def set_project(self, project) -> None:
        """Show ``project`` (already opened); used by every way of opening one."""
        self.close_project()
        from app.prefetch import ImagePrefetcher
        from app.thumbnails import ThumbnailCache

        self.project = project
        self.save_queue = SaveQueue(project, self)  # edits are saved off the GUI thread
        self.document = SavingDocument(project, self.save_queue)
        self.document.on_refused = self.save_status.refused
        self.save_status.attach(self.save_queue)
        self._unsubscribe = self.document.subscribe(self.document_canvas.follow)
        self.thumbnails = ThumbnailCache(project, parent=self)
        self.list_model.set_thumbnails(self.thumbnails)
        self.prefetcher = ImagePrefetcher(project, display=self.canvas.display_plan)
        # after the canvas: views that subscribe to the document find it redrawn
        self.rows.open(project, self.document, self.prefetcher)
        self.list_model.set_project(project)  # listed in the background (issue 22)
        self.settings.add_recent(project.location)
        self.settings.set_last_project(project.location)
        self.pages.setCurrentWidget(self.editor)
        self._update_title()
        self.project_opened.emit(project)
        self._show_first_image()

    def _show_first_image(self) -> None:
        last = self.settings.last_image(self.project.location)
        found = self.project.find_image(last) if last else None
        if found is None:
            self.image_list.sync()  # the first row of the list (no need to wait otherwise)
        target = found.id if found is not None else self.list_model.id_at(0)
        if target is None:
            self._show_page_message("This project has no images yet.\n\nUse File > Import (Ctrl+I) "
                                    "or drop a folder of images on this window.")  # fmt: skip
            return
        self.goto_image(target)

    def reload_images(self) -> None:
        """Re-list the project's images (after an import)."""
        if self.project is not None:
            self.list_model.refresh()
            if self.current_image_id is None:
                self._show_first_image()

    def close_project(self) -> None:
        if self.project is None:
            return
        self._remember_last_image()  # a pending "last image" lands before the project goes
        # First, while the project is still open: panels stop the workers that read or write it.
        self.project_closed.emit(self.project)
        self.image_panel.commit_note()
        flush_before_close(self, self.save_queue)  # every pending save lands (or is discarded)
        self.save_queue.close()
        self.save_status.attach(None)
        for worker in (self.thumbnails, self.prefetcher):
            if worker is not None:
                worker.close()
        self.list_model.set_thumbnails(None)
        self.list_model.set_project(None)
        self.image_list.set_filters()  # the next project's list shows all its images
        self.undo_stacks.clear_all()
        self._unsubscribe()
        self.rows.close()
        self.project.close()
        self.project = self.thumbnails = self.prefetcher = self.document = self.save_queue = None
        self.current_image_id = None
        self.image_panel.set_info(None)
        document_view.show_bad_pixels(self, None)
        document_view.clear_readouts(self)
        self.welcome.set_recent(self.settings.recent_projects())
        self.pages.setCurrentWidget(self.welcome)
        self._update_title()

    def _update_title(self) -> None:
        name = self.project.display_name if self.project is not None else None
        if name and getattr(self.project, "read_only", False):
            name += " (read-only)"
        # Qt adds " — SIRST Studio" (the application's display name) to a title not ending in it.
        self.setWindowTitle(f"{name} — {APP_TITLE}" if name else APP_TITLE)

    # ---------------------------------------------------------------- images
    def goto_image(self, image_id: int, center: tuple[float, float] | None = None) -> None:
        """Show an image: pixels and labels (prefetched when possible), list row, Image dock."""
        if self.project is None:
            return
        self.image_panel.commit_note()  # a pending note belongs to the image being left
        self.undo_stacks.activate(int(image_id))
        try:
            loaded = self.prefetcher.take(int(image_id))
        except ImageReadError as exc:
            if not self._load_document(int(image_id), None, None):
                return
            self.rows.set_missing(self.document.info, True)
            name = self.document.info.name
            self._show_page_message(f"Cannot show {name}.\n\n{exc.reason}\n{exc.path}\n\n"
                                    "Move the file back, or re-import its folder.")  # fmt: skip
            self.show_message(f"Cannot read {name}: {exc.reason}")
        except ProjectError as exc:  # e.g. an image deleted meanwhile
            self.show_message(str(exc))
            return
        else:
            self.editor.setCurrentWidget(self.canvas)
            self.canvas.set_image(loaded.pixels, prepared=loaded.prepared)
            self.document_canvas.expect_rings(loaded.rings)
            if not self._load_document(int(image_id), loaded.labels, loaded.pixels):
                return
            self.rows.set_missing(self.document.info, False)
            if center is not None:
                self.canvas.center_on(float(center[0]), float(center[1]))
        info = self.document.info
        self.image_list.set_current_id(info.id, emit=False)
        self.image_panel.set_info(info)
        self._last_image_timer.start()  # the settings' "last image", once stepping pauses
        # Start loading the neighbours once this image is painted, not while it is being painted.
        self._prefetch_timer.start()
        self.image_changed.emit(info.id)

    def _load_document(self, image_id: int, labels, pixels) -> bool:
        """Load the document (its change notification redraws the canvas); False on failure."""
        self.current_image_id = image_id
        try:
            self.document.load(image_id, labels, pixels)
        except ProjectError as exc:
            self.show_message(str(exc))
            return False
        return True

    def _remember_last_image(self) -> None:
        """Write the shown image as the project's "last image" (reopened there next time)."""
        self._last_image_timer.stop()
        info = self.document.info if self.document is not None else None
        if self.project is not None and info is not None:
            self.settings.set_last_image(self.project.location, info.name)

    def _prefetch_neighbours(self) -> None:
        if self.prefetcher is not None:
            ids = [self.image_list.neighbour_id(1), self.image_list.neighbour_id(-1)]
            self.prefetcher.prefetch(ids)

    def _show_page_message(self, text: str) -> None:
        self.message_page.setText(text)
        self.editor.setCurrentWidget(self.message_page)

    def reload_current(self) -> None:
        """Re-read the open image's labels (after a change made outside the document)."""
        if self.current_image_id is not None:
            self.rows.reread(self.current_image_id)

    # ---------------------------------------------------------------- navigation
    def step_image(self, step: int) -> None:
        target = self.image_list.neighbour_id(step)
        if target is not None:
            self.goto_image(target)
        else:
            self.show_message("This is the last image in the list." if step > 0 else
                              "This is the first image in the list.", 3000)  # fmt: skip

    def next_unreviewed(self) -> None:
        me = self.project.user if self.project is not None else None
        self.image_list.sync()  # others' images (held by someone else) are theirs: skipped
        target = self.list_model.next_unreviewed(self.current_image_id, me)
        if target is None:
            self.show_message("Every image in the list is reviewed.", 5000)
        else:
            self.goto_image(target)

    def mark_reviewed_and_next(self) -> None:
        if self.current_image_id is None:
            return
        doc = self.document
        unaccepted = (doc is not None and doc.image_id == self.current_image_id and doc.sky_view() is None
                      and doc.sky_view(TargetState.PROPOSAL) is not None)  # fmt: skip
        name = doc.info.name if unaccepted else ""
        self.controller.set_field(self.current_image_id, "status", ReviewStatus.REVIEWED)
        self.next_unreviewed()
        if unaccepted:  # said after the move, so the next image's own messages do not cover it
            self.show_message(f"{name}: its proposed sky was not accepted, so it has no sky label "
                              "(go back and press Ctrl+Shift+K to accept it).", 12000)  # fmt: skip

    # ---------------------------------------------------------------- misc UI
    def show_cheat_sheet(self) -> None:
        CheatSheetDialog(self, self.shortcut_table).exec()

    def _toggle_sky(self) -> None:
        self.canvas.show_sky(self.actions_by_id["toggle_sky"].isChecked())

    def _toggle_bad_pixels(self) -> None:
        self.canvas.show_bad_pixels(self.actions_by_id["toggle_bad_pixels"].isChecked())

    def _show_cursor(self, x: float, y: float, value: object) -> None:
        self.cursor_label.setText(
            f"x {x:.1f}  y {y:.1f}  value {value}" if value is not None else ""
        )

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if dropped_folder(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        folder = dropped_folder(event)
        if folder is not None:
            event.acceptProposedAction()
            project_actions.import_folder(self, folder)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.image_panel.commit_note()
        self.settings.save_window(self)
        self.settings.set_brush_radius(self.canvas.brush_radius())
        self.workspaces.save()
        self.close_project()
        self.list_model.close()
        self.settings.sync()
        super().closeEvent(event)

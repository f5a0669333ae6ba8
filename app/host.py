"""What a panel may use of the window: the ``PanelHost`` interface (ADR 0023).

Panels (the modules of ``app.extensions.PANELS``) receive a ``PanelHost`` in ``install(host)``
instead of "the main window": ``MainWindow`` implements it, and so does the test host of
tests/gui/test_preannotate_support.py. Nothing else of the window is theirs: no
``getattr(window, ...)`` fallbacks and no ``window._private`` (tests/gui/test_host.py reads every
panel module's source and fails on either, or on a member not declared here).

The members are grouped by what they serve; each is documented where the window implements it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from PySide6.QtCore import QObject, SignalInstance
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar, QStatusBar

from app.docks import DockSpec
from app.rows import ImageRows
from core.document import AnnotationDocument
from core.domain import ImageInfo
from core.edits import AnnotationEdit


@runtime_checkable
class PanelHost(Protocol):
    """The window as a panel sees it."""

    # ---------------------------------------------------------------- what is open
    project: Any  # core.store.project.Project | None: the open project
    document: AnnotationDocument | None  # the open image's labels (write-through)
    rows: ImageRows  # the rows service: list rows, missing flags, "annotation changed"
    current_image_id: int | None

    @property
    def current_pixels(self) -> Any: ...  # the open image's pixels (numpy), decoded once

    @property
    def current_info(self) -> ImageInfo | None: ...

    @property
    def score_threshold(self) -> float: ...

    # ---------------------------------------------------------------- what happened
    project_opened: SignalInstance  # (Project)
    project_closed: SignalInstance  # (Project) before it closes: stop work that uses it
    image_changed: SignalInstance  # (image id) another image is shown
    score_threshold_changed: SignalInstance  # (float)

    # ---------------------------------------------------------------- the views panels drive
    canvas: Any  # widgets.canvas.IRCanvas
    image_list: Any  # widgets.image_list.ImageListWidget
    list_model: Any  # app.image_list_model.ImageListModel (queries, counts, sort)
    image_panel: Any  # app.image_panel.ImagePanel (the Image dock)
    actions_by_id: dict[str, QAction]

    # ---------------------------------------------------------------- what panels ask for
    def goto_image(self, image_id: int, center: tuple[float, float] | None = None) -> None: ...

    def reload_images(self) -> None: ...

    def set_project(self, project: Any) -> None: ...

    def selected_image_ids(self) -> list[int]: ...

    def apply_edit(self, edit: AnnotationEdit) -> None: ...

    def record_edit(self, edit: AnnotationEdit) -> None: ...

    def refuse_if_read_only(self) -> bool: ...

    def show_message(self, text: str, timeout_ms: int = 8000) -> None: ...

    # ---------------------------------------------------------------- where panels plug in
    def tool_menu(self, title: str) -> QMenu: ...

    def add_dock(self, dock: QDockWidget, spec: DockSpec) -> None: ...

    def show_dock(self, dock: QDockWidget) -> None: ...

    def register_action(self, spec: Any, slot: Callable[[], object] | None) -> QAction: ...

    def keep_panel(self, name: str, panel: object) -> None: ...

    def panel(self, name: str) -> Any: ...

    def menuBar(self) -> QMenuBar: ...  # noqa: N802 (Qt's name)

    def statusBar(self) -> QStatusBar: ...  # noqa: N802 (Qt's name)

    def findChild(self, kind: type, name: str = ...) -> QObject | None: ...  # noqa: N802

    def findChildren(self, kind: type) -> list[QObject]: ...  # noqa: N802 (Qt's name)


def host_members() -> set[str]:
    """The names ``PanelHost`` declares (attributes, properties, methods)."""
    names = set(PanelHost.__annotations__)
    names |= {n for n in vars(PanelHost) if not n.startswith("_")}
    return names

"""The welcome screen (new / open / recent / demo / drop a folder) and the project-choosing
dialogs behind it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

PROJECT_FILE = "project.sqlite"
IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp"}


def dropped_folder(event: QDragEnterEvent | QDropEvent) -> Path | None:
    """The one local folder being dragged, if that is what the drag carries."""
    urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
    if len(urls) != 1 or not urls[0].isLocalFile():
        return None
    path = Path(urls[0].toLocalFile())
    return path if path.is_dir() else None


def count_images(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class WelcomeWidget(QWidget):
    """Start page. Emits requests; the main window does the work."""

    new_requested = Signal()
    open_requested = Signal()
    demo_requested = Signal()
    recent_activated = Signal(str)
    folder_dropped = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcome")
        self.setAcceptDrops(True)
        title = QLabel("<h1>SIRST Studio</h1>"
                       "<p>Annotate infrared small targets: points, boxes, masks and sky.</p>", self)  # fmt: skip
        title.setTextFormat(Qt.TextFormat.RichText)
        self.new_button = QPushButton("New Project...", self)
        self.open_button = QPushButton("Open Project...", self)
        self.demo_button = QPushButton("Open the Demo Project", self)
        self.recent_list = QListWidget(self)
        self.recent_list.setObjectName("recent_projects")
        self.drop_zone = QLabel("Drop a folder of images here to start a project", self)
        self.drop_zone.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.drop_zone.setFrameShape(QFrame.Shape.StyledPanel)
        self.drop_zone.setMinimumHeight(90)
        self.drop_zone.setStyleSheet(
            "QLabel { border: 2px dashed #888; border-radius: 8px; color: #888; }"
        )
        self._build(title)
        self.new_button.clicked.connect(self.new_requested)
        self.open_button.clicked.connect(self.open_requested)
        self.demo_button.clicked.connect(self.demo_requested)
        self.recent_list.itemActivated.connect(self._recent_item_activated)

    def _build(self, title: QLabel) -> None:
        buttons = QHBoxLayout()
        for b in (self.new_button, self.open_button, self.demo_button):
            b.setMinimumHeight(34)
            buttons.addWidget(b)
        column = QVBoxLayout()
        column.addWidget(title)
        column.addLayout(buttons)
        column.addSpacing(12)
        column.addWidget(QLabel("<b>Recent projects</b> (double-click or Enter to open)", self))
        column.addWidget(self.recent_list, 1)
        column.addWidget(self.drop_zone)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column, 3)
        outer.addStretch(1)

    def _recent_item_activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(path, str) and path:  # the "no recent projects" line carries no path
            self.recent_activated.emit(path)

    def set_recent(self, paths: list[str]) -> None:
        self.recent_list.clear()
        for path in paths:
            exists = (Path(path) / PROJECT_FILE).is_file()
            item = QListWidgetItem(
                f"{Path(path).name}    {path}" + ("" if exists else "   (missing)")
            )
            item.setData(Qt.ItemDataRole.UserRole, path)
            if not exists:
                item.setForeground(Qt.GlobalColor.gray)
            self.recent_list.addItem(item)
        if not paths:
            self.recent_list.addItem(QListWidgetItem("No recent projects yet."))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if dropped_folder(event) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        folder = dropped_folder(event)
        if folder is not None:
            event.acceptProposedAction()
            self.folder_dropped.emit(str(folder))


def new_project_dialog(parent: QWidget, start: str) -> QFileDialog:
    """A folder dialog that accepts a folder that does not exist yet (it is created).

    ``getExistingDirectory`` only returns existing folders, so typing the name of the new project
    folder was refused; in save mode the typed name is taken as it is.
    """
    dialog = QFileDialog(parent, "New project: pick an empty folder or type a new folder name",
                         start)  # fmt: skip
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, True)
    dialog.setLabelText(QFileDialog.DialogLabel.Accept, "Create")
    dialog.setLabelText(QFileDialog.DialogLabel.FileName, "Project folder")
    return dialog


def choose_new_project_dir(parent: QWidget, start: str) -> Path | None:
    """Folder for a new project, existing or not (created by ``Project.create``); a folder that
    already holds a project is opened instead (the user is told)."""
    dialog = new_project_dialog(parent, start)
    if not dialog.exec() or not dialog.selectedFiles():
        return None
    folder = dialog.selectedFiles()[0]
    if Path(folder).exists() and not Path(folder).is_dir():
        QMessageBox.warning(parent, "New project", f"{folder} is a file; type the name of a "
                            "folder (it is created when it does not exist).")  # fmt: skip
        return None
    if (Path(folder) / PROJECT_FILE).exists():
        QMessageBox.information(parent, "New project", f"{folder} already holds a project; "
                                "it will be opened instead.")  # fmt: skip
    return Path(folder)


def choose_project_dir(parent: QWidget, start: str) -> Path | None:
    folder = QFileDialog.getExistingDirectory(parent, "Open project folder", start)
    return Path(folder) if folder else None


def project_dir_for_images(parent: QWidget, folder: Path) -> Path | None:
    """Ask where the project for a dropped image folder goes: in it, or next to it."""
    n = count_images(folder)
    if n == 0:
        QMessageBox.warning(parent, "No images", f"{folder} holds no PNG, TIFF, JPEG or BMP images "
                            "at its top level; drop the folder that contains the images.")  # fmt: skip
        return None
    beside = folder.parent / f"{folder.name}-sirst"
    box = QMessageBox(QMessageBox.Icon.Question, "Create a project",
                      f"Create a SIRST Studio project for the {n} images in\n{folder}\nand import "
                      "them? The image files are referenced, never modified.", parent=parent)  # fmt: skip
    inside = box.addButton("Create in that folder", QMessageBox.ButtonRole.AcceptRole)
    next_to = box.addButton(f"Create next to it ({beside.name})", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(inside)
    box.exec()
    if box.clickedButton() is inside:
        return folder
    if box.clickedButton() is next_to:
        return beside
    return None

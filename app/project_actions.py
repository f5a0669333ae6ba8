"""Opening, creating and filling projects from the GUI (menus, welcome screen, drag-and-drop).

Kept apart from main_window.py so the window only wires. Every failure ends in a dialog that says
what is wrong and what to do; nothing here half-opens a project.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from app.error_dialog import show_error
from app.export_dialog import ExportDialog
from app.import_dialog import ImportDialog
from app.job_dialog import run_with_progress, summarize
from app.settings import demo_project_dir
from app.welcome import (
    PROJECT_FILE,
    choose_new_project_dir,
    choose_project_dir,
    project_dir_for_images,
)
from core.domain import Split
from core.errors import SirstError

OPEN_ADVICE = ("Choose the folder that holds project.sqlite, or start a new project with "
               "File > New Project. If the database is damaged, restore the folder from a backup.")  # fmt: skip


def open_project(window, root: Path) -> bool:
    from core.store.project import Project

    try:
        project = Project.open(root)
    except (SirstError, OSError) as exc:
        show_error(window, "Cannot open the project", str(exc), OPEN_ADVICE)
        return False
    window.set_project(project)
    return True


def open_project_dialog(window) -> bool:
    root = choose_project_dir(window, window.settings.last_dir("project"))
    if root is None:
        return False
    window.settings.set_last_dir("project", root.parent)
    return open_project(window, root)


def new_project(window) -> bool:
    from core.store.project import Project

    root = choose_new_project_dir(window, window.settings.last_dir("project"))
    if root is None:
        return False
    window.settings.set_last_dir("project", root.parent)
    try:
        project = Project.open_or_create(root)
    except (SirstError, OSError) as exc:
        show_error(window, "Cannot create the project", str(exc),
                   "Choose a folder you can write to.")  # fmt: skip
        return False
    window.set_project(project)
    return True


def open_demo(window) -> bool:
    """Open the demo project, building it under the per-user data dir on first use."""
    root = demo_project_dir()
    if not (root / PROJECT_FILE).is_file():
        state, _ = run_with_progress(window, "Creating the demo project", build_demo,
                                     "Check that there is free space in " + str(root.parent),
                                     root=root)  # fmt: skip
        if state != "ok":
            return False
    return open_project(window, root)


def import_folder(window, folder: Path) -> bool:
    """A dropped folder: open it if it is a project, else import its images (new project when
    none is open, after a confirmation)."""
    from core.services.importer import import_images
    from core.store.project import Project

    if (folder / PROJECT_FILE).is_file():
        return open_project(window, folder)
    project, created = window.project, False
    if project is None:
        root = project_dir_for_images(window, folder)
        if root is None:
            return False
        try:
            project, created = Project.open_or_create(root), True
        except (SirstError, OSError) as exc:
            show_error(window, "Cannot create the project", str(exc),
                       "Choose the other location, or a folder you can write to.")  # fmt: skip
            return False
    elif QMessageBox.question(window, "Import images",
                              f"Import the images of\n{folder}\ninto this project?") \
            != QMessageBox.StandardButton.Yes:  # fmt: skip
        return False
    state, report = run_with_progress(window, "Importing images", import_images,
                                      "Check that the folder's images are readable.",
                                      project=project, folder_or_paths=folder,
                                      split=Split.UNASSIGNED)  # fmt: skip
    if created:
        window.set_project(project)
    else:
        window.reload_images()
    if state == "ok":
        window.show_message(f"Imported from {folder.name}: {summarize(report)}")
    return state == "ok"


def import_dialog(window) -> None:
    if window.project is None:
        window.show_message("Open or create a project first (File > New Project).")
        return
    dialog = ImportDialog(window.project, window, window.settings.last_dir("import"))
    dialog.exec()
    if dialog.src_edit.text():
        window.settings.set_last_dir("import", dialog.src_edit.text())
    if dialog.result_report is not None:
        window.reload_images()


def export_dialog(window) -> None:
    if window.project is None:
        window.show_message("Open a project first: there is nothing to export.")
        return
    purpose = export_purpose(window.project)
    start = window.settings.last_dir(purpose, default_export_dir(window.project))
    dialog = ExportDialog(window.project, window, start)
    dialog.exec()
    if dialog.out_edit.text():
        window.settings.set_last_dir(purpose, dialog.out_edit.text())


EXPORTS_FOLDER = "exports"


def default_export_dir(project) -> Path:
    """Where a project's first export goes: ``exports`` beside its database (for a server
    project, beside its local files), not the home folder."""
    return Path(project.root) / EXPORTS_FOLDER


def export_purpose(project) -> str:
    """Settings key of the folder this project last exported into (each project its own)."""
    return f"export:{project.location}"


def build_demo(root: Path, progress: Callable[..., object] | None = None) -> None:
    """Write and import the demo images (core.services.demo); the window then opens the project."""
    from core.services.demo import create_demo

    create_demo(root, progress=progress).close()

"""File > Export...: format, split and output folder, run as a job (app/job_dialog.py); an output
folder that already holds files is not mixed into silently."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QLabel, QMessageBox, QWidget

from app.job_dialog import JobDialog, path_row, split_combo
from core.domain import ReviewStatus
from core.image_query import ImageQuery
from widgets.text import plural

EXPORT_FORMATS = ("densesirst", "coco", "voc", "yolo")


class NonEmptyChoice(Enum):
    FRESH = "fresh"  # export into a new folder beside it
    MERGE = "merge"  # write into it (files of the same name are replaced)
    CANCEL = "cancel"


def is_non_empty_dir(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def fresh_folder(path: Path) -> Path:
    """``path`` itself when free, else the first free ``<name>-2``, ``<name>-3``... beside it."""
    if not path.exists():
        return path
    k = 2
    while (candidate := path.with_name(f"{path.name}-{k}")).exists():
        k += 1
    return candidate


def ask_non_empty(parent: QWidget, out: Path) -> NonEmptyChoice:
    """Ask what to do with an output folder that already holds files (an export merged into an
    older one silently mixed two exports)."""
    fresh = fresh_folder(out)
    box = QMessageBox(QMessageBox.Icon.Warning, "Export: the folder is not empty",
                      f"{out} already holds files. Exporting into it mixes this export with "
                      "what is there (files of the same name are replaced).", parent=parent)  # fmt: skip
    fresh_button = box.addButton(f"Export into {fresh.name}", QMessageBox.ButtonRole.AcceptRole)
    merge_button = box.addButton("Write into it anyway", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(fresh_button)
    box.exec()
    clicked = box.clickedButton()
    if clicked is fresh_button:
        return NonEmptyChoice.FRESH
    if clicked is merge_button:
        return NonEmptyChoice.MERGE
    return NonEmptyChoice.CANCEL


class ExportDialog(JobDialog):
    """File > Export...: format, split and output folder; runs core.services.exporter.export_project."""

    start_label = "Export"
    advice = (
        "Choose an output folder you can write to (an empty or new folder is safest) and try again."
    )

    def __init__(self, project, parent: QWidget | None = None, out_dir: str = "") -> None:
        super().__init__("Export", parent)
        self.setObjectName("export_dialog")
        self.project = project
        self.format_combo = QComboBox(self)
        self.format_combo.addItems(list(EXPORT_FORMATS))
        self.split_combo = split_combo(self, "All images")
        row, self.out_edit = path_row(self, self._pick_out)
        self.out_edit.setText(out_dir)
        self.reviewed_check = QCheckBox("Reviewed images only", self)
        self.reviewed_check.setChecked(True)
        self.reviewed_check.setToolTip(
            "Leave out images nobody has reviewed: exported, they would say 'no targets here'"
        )
        n_all = project.count_images() if project is not None else 0  # counted in SQL
        n_rev = (project.count_images(ImageQuery(status=ReviewStatus.REVIEWED))
                 if project is not None else 0)  # fmt: skip
        self.reviewed_check.setText(f"Reviewed images only ({n_rev} of {plural(n_all, 'image')})")
        self.form.addRow("Format", self.format_combo)
        self.form.addRow("Split", self.split_combo)
        self.form.addRow("", self.reviewed_check)
        self.form.addRow("Output folder", row)
        self.form.addRow(
            QLabel("Only accepted labels are exported; proposals are not labels.", self)
        )

    def _pick_out(self) -> str:
        return QFileDialog.getExistingDirectory(self, "Export into folder", self.out_edit.text())

    def job_function(self) -> tuple[Callable[..., object], dict] | None:
        out = self.out_edit.text().strip()
        if not out:
            self.status.setText("Choose an output folder first.")
            return None
        target = Path(out)
        if is_non_empty_dir(target):
            choice = ask_non_empty(self, target)
            if choice == NonEmptyChoice.CANCEL:
                self.status.setText("Not exported: choose another folder.")
                return None
            if choice == NonEmptyChoice.FRESH:
                target = fresh_folder(target)
                self.out_edit.setText(str(target))
        from core.services.exporter import export_project

        kwargs = {"project": self.project, "out": target, "fmt": self.format_combo.currentText(),
                  "split": self.split_combo.currentData(),
                  "reviewed_only": self.reviewed_check.isChecked()}  # fmt: skip
        return export_project, kwargs

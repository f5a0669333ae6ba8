"""File > Import...: a DenseSIRST folder, a COCO JSON (+ images folder) or a plain image folder,
run as a job (app/job_dialog.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFileDialog, QLineEdit, QWidget

from app.job_dialog import JobDialog, path_row, split_combo
from core.domain import Split

IMPORT_KINDS = {"densesirst": "DenseSIRST folder", "coco": "COCO JSON", "images": "Image folder"}


class ImportDialog(JobDialog):
    """File > Import...: a DenseSIRST folder, a COCO JSON (+ images folder) or a plain image folder."""

    start_label = "Import"
    advice = "Check that the source is the format you chose and that its files are readable."

    def __init__(self, project, parent: QWidget | None = None, start_dir: str = "") -> None:
        super().__init__("Import", parent)
        self.setObjectName("import_dialog")
        self.project = project
        self.kind_combo = QComboBox(self)
        for key, label in IMPORT_KINDS.items():
            self.kind_combo.addItem(label, key)
        row, self.src_edit = path_row(self, self._pick_src)
        images_row, self.images_edit = path_row(self, self._pick_images)
        self.src_edit.setText(start_dir)
        self.split_combo = split_combo(self, "From the source (or unassigned)")
        self.source_split = QLineEdit(self)
        self.source_split.setPlaceholderText("all images (or a Splits/ file name, e.g. train_v2)")
        self.form.addRow("Source type", self.kind_combo)
        self.form.addRow("Source", row)
        self.form.addRow("COCO images folder", images_row)
        self.form.addRow("DenseSIRST split file", self.source_split)
        self.form.addRow("Project split", self.split_combo)
        self.kind_combo.currentIndexChanged.connect(lambda _i: self._kind_changed(images_row))
        self._kind_changed(images_row)

    def _kind_changed(self, images_row: QWidget) -> None:
        kind = self.kind_combo.currentData()
        images_row.setEnabled(kind == "coco")
        self.source_split.setEnabled(kind == "densesirst")
        # DenseSIRST images take their split from the source's Splits/ files.
        self.split_combo.setEnabled(kind != "densesirst")

    def _pick_src(self) -> str:
        if self.kind_combo.currentData() == "coco":
            return QFileDialog.getOpenFileName(self, "COCO annotations", self.src_edit.text(),
                                               "COCO JSON (*.json)")[0]  # fmt: skip
        return QFileDialog.getExistingDirectory(self, "Source folder", self.src_edit.text())

    def _pick_images(self) -> str:
        return QFileDialog.getExistingDirectory(self, "COCO images folder", self.images_edit.text())

    def job_function(self) -> tuple[Callable[..., object], dict] | None:
        src = self.src_edit.text().strip()
        if not src or not Path(src).exists():
            self.status.setText("Choose an existing source first.")
            return None
        from core.services import coco_import, importer

        kind, split = self.kind_combo.currentData(), self.split_combo.currentData()
        if kind == "densesirst":
            name = self.source_split.text().strip() or None  # a Splits/ file, or everything
            return importer.import_densesirst, {"project": self.project, "src": Path(src),
                                                "split": name}  # fmt: skip
        if kind == "coco":
            images = self.images_edit.text().strip() or str(Path(src).parent)
            return coco_import.import_coco, {"project": self.project, "json_path": Path(src),
                                          "images_dir": Path(images), "split": split}  # fmt: skip
        return importer.import_images, {"project": self.project, "folder_or_paths": Path(src),
                                        "split": Split(split) if split else Split.UNASSIGNED}  # fmt: skip

"""Export / import dialogs, drag-and-drop of an image folder, the demo button, thumbnails and the
image list at 10,000 rows."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

import app.project_actions
from app.export_dialog import ExportDialog
from app.image_list_model import ImageListModel
from app.import_dialog import ImportDialog
from core.domain import ReviewStatus, Split
from widgets.image_list import ImageListWidget


def run_dialog(qtbot, dialog) -> None:
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is not None and dialog.job.isFinished(), timeout=60000)
    qtbot.wait(20)  # deliver the job's queued signals


def write_images(folder, n: int, depth=np.uint8) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        img = rng.integers(0, 200 if depth == np.uint8 else 40000, (48, 64)).astype(depth)
        cv2.imwrite(str(folder / f"drop_{i}.png"), img)


def test_export_coco_from_dialog(main_window, qtbot, tmp_path):
    out = tmp_path / "coco"
    dialog = ExportDialog(main_window.project, main_window, str(out))
    qtbot.addWidget(dialog)
    dialog.format_combo.setCurrentText("coco")
    dialog.reviewed_check.setChecked(False)  # every image (the default leaves unreviewed out)
    run_dialog(qtbot, dialog)
    report = dialog.result_report
    n = len(main_window.project.list_images())
    assert report is not None and report.exported == n
    assert dialog.status.text().startswith("Finished:")
    files = list(out.rglob("*.json"))  # one COCO file per split
    assert files and sum(len(json.loads(f.read_text())["images"]) for f in files) == n


def test_export_error_is_shown_with_advice(main_window, qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(
        (box.text(), box.informativeText())) or 0)  # fmt: skip
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    dialog = ExportDialog(main_window.project, main_window, str(blocker))
    qtbot.addWidget(dialog)
    run_dialog(qtbot, dialog)
    assert dialog.result_report is None and dialog.status.text().startswith("Failed:")
    assert shown and "output folder" in shown[0][1]


def test_import_image_folder_from_dialog(main_window, qtbot, tmp_path):
    write_images(tmp_path / "more", 3, np.uint16)
    before = len(main_window.list_model.ids())
    dialog = ImportDialog(main_window.project, main_window, str(tmp_path / "more"))
    qtbot.addWidget(dialog)
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("images"))
    dialog.split_combo.setCurrentIndex(dialog.split_combo.findData(Split.VAL.value))
    run_dialog(qtbot, dialog)
    assert dialog.result_report.added == 3
    main_window.reload_images()
    assert len(main_window.list_model.ids()) == before + 3
    new = main_window.project.list_images(split=Split.VAL, status=ReviewStatus.NEW)
    assert {i.name for i in new} >= {"drop_0", "drop_1", "drop_2"}


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Qt has only the QPoint form
def test_drop_image_folder_on_welcome_creates_project(qtbot, tmp_path, monkeypatch):
    from app.main_window import MainWindow
    from app.settings import AppSettings

    folder = tmp_path / "frames"
    write_images(folder, 4)
    monkeypatch.setattr(app.project_actions, "project_dir_for_images", lambda parent, f: f)
    w = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(w)
    w.show()
    assert w.pages.currentWidget() is w.welcome
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(QPoint(20, 20), *args)
    QApplication.sendEvent(w.welcome, enter)  # Qt delivers a drop only after an accepted enter
    assert enter.isAccepted()
    QApplication.sendEvent(w.welcome, QDropEvent(QPointF(20, 20), *args))
    assert w.project is not None and w.project.root == folder
    assert sorted(w.project.list_images(), key=lambda i: i.name)[0].name == "drop_0"
    assert len(w.list_model.ids()) == 4 and w.current_image_id is not None
    assert w.pages.currentWidget() is w.editor
    w.close()


@pytest.mark.slow
def test_demo_button_builds_and_opens_the_demo(qtbot, isolated_settings, monkeypatch):
    from app.main_window import MainWindow
    from app.settings import AppSettings, demo_project_dir

    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append(box.text()) or 0)

    w = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.mouseClick(w.welcome.demo_button, Qt.MouseButton.LeftButton)
    assert not shown, shown
    assert demo_project_dir().is_relative_to(isolated_settings)
    assert w.project is not None and w.project.root == demo_project_dir().absolute()
    assert w.list_model.ids()
    w.close()


def test_thumbnails_are_made_in_background_and_cached(main_window, qtbot):
    w = main_window
    first = w.list_model.info(w.list_model.ids()[0])
    path = w.thumbnails.path_for(first)
    qtbot.waitUntil(path.exists, timeout=10000)
    qtbot.waitUntil(lambda: w.thumbnails.get(first) is not None, timeout=5000)
    assert path.parent == w.project.root / ".cache" / "thumbs"
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert img is not None and max(img.shape) <= 96


def test_image_list_of_10k_images_navigates_and_filters_in_the_database(qtbot, tmp_path):
    from types import SimpleNamespace

    from core.store.new_image import NewImage
    from core.store.project import Project

    header = SimpleNamespace(width=640, height=512, bit_depth=16, channels=1)
    statuses = {i: ReviewStatus.REVIEWED if i % 3 else ReviewStatus.NEW for i in range(1, 10001)}
    model = ImageListModel()
    widget = ImageListWidget()
    qtbot.addWidget(widget)
    widget.set_source_model(model)
    widget.show()
    with Project.create(tmp_path / "p") as project:
        project.add_images(NewImage(f"f{i}.png", f"frame_{i:05d}", status=statuses[i],
                                    header=header, sha256="0") for i in range(1, 10001))  # fmt: skip
        ids = {i.name: i.id for i in project.list_images()}
        model.set_project(project)
        widget.set_current_id(ids["frame_09999"])
        assert widget.neighbour_id(1) == ids["frame_10000"]
        assert widget.neighbour_id(-1) == ids["frame_09998"]
        widget.set_filters(status=ReviewStatus.NEW.value)
        assert len(widget.visible_ids()) == list(statuses.values()).count(ReviewStatus.NEW)
        widget.set_filters(search="frame_0999")
        assert widget.visible_ids() == [ids[f"frame_{i:05d}"] for i in range(9990, 10000)]
        assert widget.count_label.text() == "10 of 10000 images"
        model.close()


def test_import_densesirst_split_file_from_dialog(qtbot, demo_project_dir, tmp_path):
    from core.store.project import Project

    src = demo_project_dir / "demo_data" / "SIRSTdevkit"
    wanted = (src / "Splits" / "val.txt").read_text().split()
    with Project.create(tmp_path / "fresh") as project:
        dialog = ImportDialog(project, None, str(src))
        qtbot.addWidget(dialog)
        dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("densesirst"))
        assert not dialog.split_combo.isEnabled()  # DenseSIRST brings its own splits
        qtbot.keyClicks(dialog.source_split, "val")
        assert dialog.source_split.text() == "val"
        run_dialog(qtbot, dialog)
        assert dialog.result_report.added == len(wanted) and not dialog.result_report.errors
        infos = project.list_images()
        assert sorted(i.name for i in infos) == sorted(wanted)
        assert all(i.status == ReviewStatus.REVIEWED and i.n_targets > 0 for i in infos)


@pytest.mark.parametrize("takes_cancel", [False, True])
def test_job_thread_cancel_stops_the_job(qtbot, takes_cancel):
    """Core's keyword functions on the one job thread: one with a ``cancel`` argument polls it,
    one without is stopped by its next progress call."""
    from types import SimpleNamespace

    from app.job_dialog import was_cancelled
    from app.jobs import JobThread, keyword_job

    done = []

    def without_cancel(progress):
        for i in range(2000):
            progress(i, 2000, f"item {i}")  # raises JobCancelled once cancel() was called
            done.append(i)
            time.sleep(0.002)
        return "finished"

    def with_cancel(progress, cancel):
        for i in range(2000):
            if cancel():
                return SimpleNamespace(cancelled=True)
            progress(i, 2000)
            done.append(i)
            time.sleep(0.002)
        return SimpleNamespace(cancelled=False)

    job = JobThread(keyword_job(with_cancel if takes_cancel else without_cancel))
    outcome = []
    job.task_finished.connect(
        lambda r: outcome.append("cancelled" if was_cancelled(job, r) else "ok"))
    job.progress_changed.connect(lambda d, t: d >= 5 and job.cancel())
    job.start()
    qtbot.waitUntil(job.isFinished, timeout=10000)
    qtbot.wait(20)
    assert outcome == ["cancelled"] and len(done) < 2000

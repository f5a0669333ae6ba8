"""Issue 9's rough edges, each checked against an independent truth (files, DB, geometry)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QUndoCommand
from PySide6.QtWidgets import QDockWidget, QFileDialog, QTableWidget

import app.export_dialog as export_dialog
import app.project_actions as project_actions
from app.export_dialog import ExportDialog, NonEmptyChoice, fresh_folder
from app.image_actions import ImageActions, random_split
from app.image_list_model import ImageListModel
from app.image_panel import ImagePanel
from app.shortcuts import CheatSheetDialog, ShortcutTable
from app.welcome import new_project_dialog
from core.domain import ImageInfo, ReviewStatus, Split
from tests._support.labels import set_status
from widgets.canvas import IRCanvas
from widgets.display_controls import DisplayControls
from widgets.image_list import ImageRole
from widgets.overlays import LabelPlacer
from widgets.text import plural
from widgets.train_plot import TrainPlot


def _export_and_count(qtbot, dialog) -> None:
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is not None and dialog.job.isFinished(), timeout=60000)
    qtbot.wait(20)


def _coco_images(folder) -> int:
    return sum(len(json.loads(f.read_text())["images"]) for f in folder.rglob("*.json"))


# ---------------------------------------------------------------- 1: docks fit the screen
def test_docks_do_not_grow_the_window_past_the_screen(qtbot, app_project_dir):
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings

    create_application(exception_hook=False)
    window = MainWindow(AppSettings())
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    assert window.open_project(app_project_dir)
    for dock in window.findChildren(QDockWidget):
        dock.show()
    qtbot.wait(50)
    assert window.minimumSizeHint().height() <= 900, window.minimumSizeHint()
    assert window.height() <= 900
    window.close()


# ---------------------------------------------------------------- 2: export
def _dialog_on_non_empty(main_window, qtbot, out: Path, old_text: str, choice, monkeypatch):
    """An export dialog aimed at ``out``, which holds old.txt; the user's answer to "the folder is
    not empty" is ``choice``."""
    out.mkdir()
    (out / "old.txt").write_text(old_text)
    monkeypatch.setattr(export_dialog, "ask_non_empty", lambda *_a: choice)
    dialog = ExportDialog(main_window.project, main_window, str(out))
    qtbot.addWidget(dialog)
    return dialog


def test_export_into_a_non_empty_folder_offers_a_fresh_one(main_window, qtbot, tmp_path,
                                                          monkeypatch):  # fmt: skip
    out = tmp_path / "out"
    dialog = _dialog_on_non_empty(main_window, qtbot, out, "an earlier export", NonEmptyChoice.FRESH,
                                  monkeypatch)  # fmt: skip
    dialog.format_combo.setCurrentText("coco")
    _export_and_count(qtbot, dialog)
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]  # untouched
    assert (tmp_path / "out-2").is_dir() and _coco_images(tmp_path / "out-2") > 0
    assert fresh_folder(out) == tmp_path / "out-3"


def test_export_cancelled_on_a_non_empty_folder_writes_nothing(main_window, qtbot, tmp_path,
                                                               monkeypatch):  # fmt: skip
    out = tmp_path / "out"
    dialog = _dialog_on_non_empty(main_window, qtbot, out, "x", NonEmptyChoice.CANCEL, monkeypatch)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.job is None and list(out.iterdir()) == [out / "old.txt"]
    assert not (tmp_path / "out-2").exists()


def test_export_reviewed_images_only(main_window, qtbot, tmp_path):
    project = main_window.project
    infos = project.list_images()
    set_status(project, infos[0].id, ReviewStatus.NEW)
    set_status(project, infos[1].id, ReviewStatus.PRE_ANNOTATED)
    n_reviewed = len([i for i in project.list_images() if i.status == ReviewStatus.REVIEWED])
    for checked, out, expected in ((True, tmp_path / "a", n_reviewed),
                                   (False, tmp_path / "b", len(infos))):  # fmt: skip
        dialog = ExportDialog(project, main_window, str(out))
        qtbot.addWidget(dialog)
        dialog.format_combo.setCurrentText("coco")
        assert dialog.reviewed_check.isChecked()  # on by default
        dialog.reviewed_check.setChecked(checked)
        _export_and_count(qtbot, dialog)
        assert _coco_images(out) == expected


# ---------------------------------------------------------------- 3: typed gamma
def test_typed_gamma_is_not_truncated(qtbot):
    controls = DisplayControls()
    qtbot.addWidget(controls)
    controls.show()
    got = []
    controls.display_changed.connect(lambda s: got.append(s.gamma))
    for text, value in (("2.5", 2.5), ("1.5", 1.5), ("0.75", 0.75)):
        controls.gamma_spin.setFocus()
        controls.gamma_spin.selectAll()
        qtbot.keyClicks(controls.gamma_spin, text)
        qtbot.keyClick(controls.gamma_spin, Qt.Key.Key_Return)
        assert got[-1] == pytest.approx(value), (text, got)


# ---------------------------------------------------------------- 4: score labels
def test_label_placer_never_lets_labels_overlap():
    placer = LabelPlacer()
    assert placer.take(QRectF(0, 0, 30, 12))
    assert not placer.take(QRectF(20, 5, 30, 12))  # overlaps the first
    assert placer.take(QRectF(31, 0, 30, 12))  # touches nothing
    assert placer.take(QRectF(200, 300, 30, 12))


def test_clustered_proposals_get_readable_labels(qtbot, monkeypatch):
    from core.domain import Source, Target, TargetState

    canvas = IRCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(800, 600)
    canvas.show()
    canvas.set_image(np.zeros((100, 120), np.uint16))
    rng = np.random.default_rng(0)
    targets = [
        Target(point=(float(x), float(y)), box=(x - 1, y - 1, x + 2, y + 2), id=k + 1,
               source=Source.MODEL, state=TargetState.PROPOSAL, score=float(s))
        for k, (x, y, s) in enumerate(zip(rng.integers(40, 60, 60), rng.integers(40, 50, 60),
                                          rng.uniform(0.05, 0.9, 60), strict=True))
    ]  # fmt: skip
    canvas.set_targets(targets)
    canvas.set_score_threshold(0.05)
    rects: list[QRectF] = []
    real = QPainter.drawText

    def spy(self, *args):
        if len(args) == 3 and isinstance(args[0], QRectF):
            rects.append(QRectF(args[0]))
        return real(self, *args)

    monkeypatch.setattr(QPainter, "drawText", spy)
    canvas.grab()
    assert 1 <= len(rects) < 60
    for i, a in enumerate(rects):
        assert not any(a.intersects(b) for b in rects[i + 1 :])


# ---------------------------------------------------------------- 5: toolbar does not jump
class _Named(QUndoCommand):
    def __init__(self, text: str) -> None:
        super().__init__(text)


def test_undo_button_keeps_its_width(main_window, qtbot):
    bar = main_window.findChild(type(main_window.addToolBar("x")), "toolbar_tools")
    button = bar.widgetForAction(main_window.actions_by_id["undo"])
    main_window.push_command(_Named("Add target"))
    qtbot.wait(10)
    before = (button.text(), button.sizeHint().width(), bar.widgetForAction(
        main_window.actions_by_id["mode_edit"]).x())  # fmt: skip
    main_window.push_command(_Named("Move 12 targets and resize their boxes by one pixel"))
    qtbot.wait(10)
    after = (button.text(), button.sizeHint().width(), bar.widgetForAction(
        main_window.actions_by_id["mode_edit"]).x())  # fmt: skip
    assert before == after and after[0] == "Undo"
    assert "Move 12 targets" in main_window.actions_by_id["undo"].text()  # the menu still says it


# ---------------------------------------------------------------- 6: sky mode help
def test_cheat_sheet_and_canvas_say_how_to_close_a_sky_polygon(qtbot, monkeypatch):
    sheet = CheatSheetDialog(None, ShortcutTable())
    qtbot.addWidget(sheet)
    table = sheet.findChildren(QTableWidget)[0]
    cells = [table.item(r, c).text() for r in range(table.rowCount())
             for c in range(table.columnCount()) if table.item(r, c) is not None]  # fmt: skip
    assert any("Close the sky polygon (adds sky)" in c for c in cells), cells
    canvas = IRCanvas()
    qtbot.addWidget(canvas)
    canvas.set_image(np.zeros((50, 60), np.uint8))
    canvas.set_mode("draw_sky")
    assert "Enter closes" in canvas.hint.text() and "Shift+Enter" in canvas.hint.text()
    canvas.set_mode("edit_sky")
    assert "drag a vertex" in canvas.hint.text()
    sky = np.zeros((50, 60), bool)
    sky[5:20, 5:30] = True
    canvas.set_sky(sky)
    drawn = []
    import widgets.overlays_sky as overlays_sky

    real = overlays_sky.handles
    monkeypatch.setattr(overlays_sky, "handles", lambda p, pts, *a: drawn.append(len(pts)) or
                        real(p, pts, *a))  # fmt: skip
    canvas.resize(400, 300)
    canvas.grab()
    assert drawn and drawn[0] >= 4  # every vertex shown before any ring is clicked


# ---------------------------------------------------------------- 8: training plot, plurals
def test_training_plot_ranges_on_the_first_step(qtbot):
    plot = TrainPlot(redraw_ms=1)
    qtbot.addWidget(plot)
    plot.resize(400, 400)
    plot.set_epochs(5)
    plot.add_step(0.02, {"total": 2.4, "cls": 1.1})
    plot.redraw()
    (x0, x1), (y0, y1) = plot.loss_plot.viewRange()
    assert x0 <= 0.0 and 5.0 <= x1 <= 5.5
    assert -0.2 <= y0 <= 0.0 and 2.4 < y1 <= 2.4 * 1.5  # the point is inside, with headroom
    legend = plot.loss_plot.plotItem.legend
    top = plot.loss_plot.plotItem.vb.mapViewToScene(QPointF(0.02, 2.4))
    assert not legend.sceneBoundingRect().contains(top)


def test_plural():
    assert plural(1, "target") == "1 target" and plural(3, "step") == "3 steps"
    assert plural(1, "miss", "misses") == "1 miss" and plural(0, "miss", "misses") == "0 misses"


# ---------------------------------------------------------------- 9: new project folder
def test_new_project_creates_a_folder_that_does_not_exist(main_window, tmp_path, monkeypatch):
    target = tmp_path / "new" / "campaign"
    monkeypatch.setattr(project_actions, "choose_new_project_dir", lambda *_a: target)
    assert project_actions.new_project(main_window)
    assert (target / "project.sqlite").is_file() and main_window.project.root == target
    dialog = new_project_dialog(None, str(tmp_path))
    assert dialog.fileMode() == QFileDialog.FileMode.AnyFile  # a typed new name is accepted
    assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave


# ---------------------------------------------------------------- 10: many images at once
def test_random_split_is_80_20_and_reproducible():
    ids = list(range(100, 150))
    train, val = random_split(ids)
    assert len(train) == 40 and len(val) == 10
    assert sorted(train + val) == ids and not set(train) & set(val)
    assert random_split(list(reversed(ids))) == (train, val)


def test_set_split_and_status_of_selected_images(main_window, qtbot):
    import sqlite3

    actions = ImageActions(main_window)
    ids = main_window.list_model.ids()[:3]
    assert actions.set_split(Split.TEST, ids) == 3
    assert actions.set_status(ReviewStatus.NEW, ids) == 3
    con = sqlite3.connect(main_window.project.root / "project.sqlite")
    rows = con.execute(f"SELECT split, status FROM images WHERE id IN ({','.join(map(str, ids))})")
    assert rows.fetchall() == [("test", "new")] * 3
    con.close()
    assert main_window.list_model.info(ids[0]).split == Split.TEST  # the list follows
    assert actions.set_split(Split.TRAIN, main_window.list_model.ids()) > 0
    assert actions.set_split(Split.UNASSIGNED, ids + [main_window.list_model.ids()[-1]]) == 4
    assert actions.split_randomly(confirm=False) == 4  # only the unassigned ones
    splits = [main_window.project.get_image(i).split.value for i in main_window.list_model.ids()]
    assert splits.count("val") == 1 and splits.count("unassigned") == 0


# ---------------------------------------------------------------- 11: list and Image dock
def test_image_dock_without_image_shows_no_stale_fields(qtbot):
    panel = ImagePanel()
    qtbot.addWidget(panel)
    info = ImageInfo(id=1, name="a", path="a.png", width=4, height=3, bit_depth=8, channels=1, sha256="",
                     status=ReviewStatus.REVIEWED, split=Split.TRAIN, n_targets=1)  # fmt: skip
    panel.set_info(info)
    assert panel.status_combo.currentText() == "reviewed" and "1 target," in panel.facts_label.text()
    panel.set_info(None)
    assert panel.status_combo.currentText() == "" and panel.split_combo.currentText() == ""


def _contrast(a: QColor, b: QColor) -> float:
    def lum(c: QColor) -> float:
        ch = [v / 255 for v in (c.red(), c.green(), c.blue())]
        ch = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_selected_row_details_are_readable(qtbot, monkeypatch):
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QImage, QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QListView, QStyle, QStyleOptionViewItem

    from widgets.image_list import ROW_HEIGHT, ImageItemDelegate

    model = QStandardItemModel()
    item = QStandardItem("demo-1")
    for role, value in ((ImageRole.STATUS, "reviewed"), (ImageRole.SPLIT, "train"),
                        (ImageRole.N_TARGETS, 3), (ImageRole.N_PROPOSALS, 0)):  # fmt: skip
        item.setData(value, role)
    model.appendRow(item)
    view = QListView()
    view.setModel(model)
    qtbot.addWidget(view)
    pens = []
    real = QPainter.drawText

    def spy(self, *args):
        pens.append((args[-1], self.pen().color()))
        return real(self, *args)

    monkeypatch.setattr(QPainter, "drawText", spy)
    image = QImage(320, ROW_HEIGHT, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    option = QStyleOptionViewItem()
    option.rect = QRect(0, 0, 320, ROW_HEIGHT)
    option.widget = view
    option.state |= QStyle.StateFlag.State_Selected
    ImageItemDelegate(view).paint(painter, option, model.index(0, 0))
    painter.end()
    text, color = pens[-1]
    assert "3 targets" in text
    highlight = view.palette().highlight().color()
    # 3:1, WCAG's minimum for UI text on a coloured highlight; the old grey had 1.3:1.
    assert _contrast(color, highlight) >= 3.0 > _contrast(QColor("#9a9a9a"), highlight)


# ---------------------------------------------------------------- 12: proposals above threshold
def test_list_counts_proposals_at_or_above_the_threshold(tmp_path):
    from types import SimpleNamespace

    from core.domain import ImageAnnotation, Target, TargetState
    from core.store.new_image import NewImage
    from core.store.project import Project

    proposals = [Target(point=(1.0, 1.0), box=(0, 0, 2, 2), state=TargetState.PROPOSAL,
                        score=0.01 * k) for k in range(100)]  # fmt: skip
    header = SimpleNamespace(width=4, height=3, bit_depth=8, channels=1)
    model = ImageListModel()
    with Project.create(tmp_path / "p") as project:
        project.add_images([NewImage("a.png", annotation=ImageAnnotation(proposals),
                                     header=header, sha256="0")])  # fmt: skip
        model.set_project(project)
        model.sync()
        index = model.index(0)
        assert model.data(index, ImageRole.N_PROPOSALS) == 100  # threshold 0: all of them
        model.set_threshold(0.5)  # counted in the database at the threshold
        assert model.data(index, ImageRole.N_PROPOSALS) == 50
        model.set_threshold(0.9)
        assert model.data(index, ImageRole.N_PROPOSALS) == 10
        model.close()


def test_window_list_follows_the_threshold(main_window, qtbot):
    from core.domain import Source, Target, TargetState

    actions = ImageActions(main_window)
    image_id = main_window.current_image_id
    proposals = [Target(point=(5.0 + k, 5.0), box=(4 + k, 4, 7 + k, 7), source=Source.MODEL,
                        state=TargetState.PROPOSAL, score=s)
                 for k, s in enumerate((0.2, 0.4, 0.6, 0.8))]  # fmt: skip
    main_window.record_edit(main_window.project.propose(image_id, proposals, None))
    root = main_window.project.root
    assert main_window.open_project(root)  # scores load in the background on open
    actions.wait_loaded()
    image_id = main_window.current_image_id
    main_window.set_score_threshold(0.5)
    row = main_window.list_model.index(main_window.list_model.row_of(image_id))
    assert main_window.list_model.data(row, ImageRole.N_PROPOSALS) == 2
    assert "2 proposals at score >= 0.50 (of 4)" in main_window.image_panel.facts_label.text()
    main_window.set_score_threshold(0.3)
    assert main_window.list_model.data(row, ImageRole.N_PROPOSALS) == 3
    del actions

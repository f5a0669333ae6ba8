"""The image list as a window onto the database (issue 22): rows read a page at a time as the
view scrolls, one query per burst of keystrokes, counts and order from SQL, files checked in
the background, *next unreviewed* in SQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QApplication

from app.image_list_model import CACHE_ROWS, PAGE, ImageListModel
from core.domain import ReviewStatus
from core.image_query import ImageSort
from core.natural_order import natural_key
from core.store.new_image import NewImage
from core.store.project import Project
from tests._support.labels import set_status
from widgets.image_list import SEARCH_DEBOUNCE_MS, ImageListWidget, ImageRole

HEADER = SimpleNamespace(width=8, height=6, bit_depth=8, channels=1)
N = 3000


@pytest.fixture
def listed(qtbot, tmp_path):
    """A project of N images named frame-<k> (imported in reverse), its model and widget."""
    root = tmp_path / "p"
    (root / "img").mkdir(parents=True)
    project = Project.create(root)
    project.add_images(
        NewImage(root / "img" / f"frame-{k}.png", f"frame-{k}", header=HEADER, sha256=str(k),
                 status=ReviewStatus.REVIEWED if k % 7 else ReviewStatus.NEW)
        for k in range(N, 0, -1)
    )  # fmt: skip
    for k in (1, 2, 3):  # only these files exist
        (root / "img" / f"frame-{k}.png").write_bytes(b"x")
    model = ImageListModel()
    widget = ImageListWidget()
    qtbot.addWidget(widget)
    widget.set_source_model(model)
    widget.resize(300, 400)
    widget.show()
    model.set_project(project)
    model.sync()
    yield SimpleNamespace(root=root, project=project, model=model, widget=widget)
    model.close()
    project.close()


def _sql(root: Path, query: str) -> list:
    con = sqlite3.connect(root / "project.sqlite")
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_rows_are_read_a_window_at_a_time_as_the_view_scrolls(listed, qtbot):
    model, view = listed.model, listed.widget.view
    assert model.rowCount() == N  # every row is there (the scroll bar is right) ...
    QApplication.processEvents()
    first = model.pages_read
    assert len(model._infos) <= 2 * PAGE  # ... but only the rows on screen were read
    assert [model.data(model.index(r)) for r in range(3)] == ["frame-1", "frame-2", "frame-3"]
    view.scrollToBottom()
    QApplication.processEvents()
    assert model.pages_read > first
    assert model.data(model.index(N - 1)) == f"frame-{N}"
    assert len(model._infos) <= 4 * PAGE  # the middle of the list was never read
    for row in range(0, N, PAGE):  # touching every row keeps the cache bounded
        model.data(model.index(row))
    assert len(model._infos) <= CACHE_ROWS


def test_list_order_and_counts_equal_sql(listed):
    rows = _sql(listed.root, "SELECT id, name FROM images")
    natural = [i for i, _ in sorted(rows, key=lambda r: (natural_key(r[1]), r[0]))]
    assert listed.model.ids() == natural
    listed.widget.set_filters(status=ReviewStatus.NEW.value)
    new = [i for (i,) in _sql(listed.root, "SELECT id FROM images WHERE status = 'new'")]
    assert listed.widget.visible_ids() == [i for i in natural if i in set(new)]
    assert listed.widget.count_label.text() == f"{len(new)} of {N} images"
    listed.widget.set_sort(ImageSort.IMPORTED)
    assert listed.widget.visible_ids() == sorted(new)


def test_keystrokes_run_one_query_for_the_last_one(listed, qtbot):
    model, widget = listed.model, listed.widget
    before = model.queries_run
    widget.focus_search()
    qtbot.keyClicks(widget.search, "frame-29")  # 8 keystrokes within the debounce window
    assert model.queries_run == before and model.rowCount() == N  # nothing ran on the keys
    qtbot.waitUntil(lambda: model.rowCount() < N, timeout=5000)
    qtbot.wait(2 * SEARCH_DEBOUNCE_MS)
    assert model.queries_run == before + 1
    expected = [f"frame-{k}" for k in range(1, N + 1) if "frame-29" in f"frame-{k}"]
    assert sorted(model.data(model.index(r)) for r in range(model.rowCount())) == sorted(expected)


def test_missing_files_are_checked_in_the_background(listed, qtbot):
    model = listed.model
    qtbot.waitUntil(model.files_complete, timeout=20_000)
    ids = {n: i for i, n in _sql(listed.root, "SELECT id, name FROM images")}
    assert model.missing_ids() == {ids[f"frame-{k}"] for k in range(4, N + 1)}
    assert model.data(model.index(model.row_of(ids["frame-2"])), ImageRole.MISSING) is False
    assert model.data(model.index(model.row_of(ids["frame-9"])), ImageRole.MISSING) is True


def test_an_edit_that_leaves_the_filter_requeries(listed, qtbot):
    model, widget, project = listed.model, listed.widget, listed.project
    widget.set_filters(status=ReviewStatus.NEW.value)
    first = widget.visible_ids()[0]
    set_status(project, first, ReviewStatus.REVIEWED)
    model.update_image(project.get_image(first))
    assert first not in widget.visible_ids()
    assert model.info(first).status == ReviewStatus.REVIEWED  # still readable by id


def test_next_unreviewed_follows_the_list_order_and_wraps(listed):
    model = listed.model
    order = model.ids()
    status = dict(_sql(listed.root, "SELECT id, status FROM images"))
    unreviewed = [i for i in order if status[i] != "reviewed"]
    assert model.next_unreviewed(order[0], None) == unreviewed[0]  # frame-7 after frame-1
    assert model.next_unreviewed(unreviewed[0], None) == unreviewed[1]
    assert model.next_unreviewed(unreviewed[-1], None) == unreviewed[0]  # wraps
    # far ahead of the current row (past the first page): the SQL fallback finds it
    for i in unreviewed[:-1]:
        set_status(listed.project, i, ReviewStatus.REVIEWED)
    assert model.next_unreviewed(order[0], None) == unreviewed[-1]
    listed.project.assign([unreviewed[-1]], "bob")
    assert model.next_unreviewed(order[0], "me") is None  # bob's image is his


def test_the_top_of_the_list_shows_before_the_whole_answer(listed):
    from app.list_queries import FIRST_ROWS, run_head

    model, project = listed.model, listed.project
    natural = model.ids()
    model.refresh()  # a new question; answer it with its top rows only
    head = run_head(project, model._generation, model.query(), model.threshold())
    model._swap(head)
    assert model.pending() and model.rowCount() == N  # every row, the scroll bar right
    assert [model.data(model.index(r), ImageRole.ID) for r in range(FIRST_ROWS)] == natural[:FIRST_ROWS]
    assert model.data(model.index(FIRST_ROWS), ImageRole.ID) is None  # not known yet
    assert model.ids() == natural and not model.pending()  # the whole answer follows


def test_an_edit_of_a_row_not_read_yet_is_counted_once(main_window):
    from core.domain import Target
    from core.edits import AnnotationEdit, TargetChange

    w = main_window
    other = [i for i in w.list_model.ids() if i != w.current_image_id][-1]
    w.list_model._infos.pop(other, None)  # the list never read this row (never scrolled to)
    before = w.project.get_image(other).n_targets
    w.apply_edit(AnnotationEdit(other, "Add target", (TargetChange(None, Target(point=(3.0, 3.0))),)))
    stored = w.project.get_image(other).n_targets
    assert stored == before + 1
    assert w.list_model.info(other).n_targets == stored  # not before + 2

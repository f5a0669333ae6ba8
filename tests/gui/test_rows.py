"""The rows service (app/rows.py): a label change made outside the document reaches the list row
(checked against the project's database rows), keeps the row's missing flag, drops the stale
prefetched labels and is announced once; views that close stop hearing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget

from app.rows import subscribe_view
from core.domain import Target
from core.store.project import Project
from tests._support.labels import add_target
from tests._support.sqlite_rows import project_rows
from widgets.image_list import ImageRole

pytestmark = pytest.mark.timeout(120)


def db_counts(root: Path, image_id: int) -> tuple[int, int]:
    """(accepted, proposals) of an image, read from project.sqlite itself."""
    counts = dict(project_rows(root, "SELECT state, COUNT(*) FROM targets WHERE image_id = ? GROUP BY state",
                               image_id))  # fmt: skip
    return counts.get("accepted", 0), counts.get("proposal", 0)


def list_row(w, image_id: int) -> tuple[int, int, bool]:
    """(targets, proposals, missing) as the list model's row shows them."""
    w.image_list.sync()
    index = w.list_model.index(w.list_model.row_of(image_id))
    return (index.data(ImageRole.N_TARGETS), index.data(ImageRole.N_PROPOSALS),
            bool(index.data(ImageRole.MISSING)))  # fmt: skip


def write_outside(root: Path, image_id: int, n: int = 2) -> None:
    """Labels written by another writer than the window (a script, another process)."""
    with Project.open(root) as other:
        for k in range(n):
            add_target(other, image_id, Target(point=(5.5 + 3 * k, 5.5), box=(4 + 3 * k, 4, 7 + 3 * k, 7)))


def test_a_change_outside_the_document_updates_the_row_and_keeps_missing(main_window, app_project_dir):
    w = main_window
    ids = w.list_model.ids()
    gone = ids[3]  # not a neighbour of the shown image: not prefetched
    path = w.project.resolve_path(w.project.get_image(gone))
    shutil.move(path, path.with_suffix(".moved"))
    w.goto_image(gone)  # the visit finds the file missing
    w.goto_image(ids[0])
    assert list_row(w, gone)[2] is True
    heard: list[int] = []
    w.rows.subscribe(heard.append)
    before = db_counts(app_project_dir, gone)
    write_outside(app_project_dir, gone)
    after = db_counts(app_project_dir, gone)
    assert after == (before[0] + 2, before[1])  # the writer really wrote
    w.rows.reread(gone)
    assert list_row(w, gone) == (*after, True)  # the database's counts, still missing
    assert heard == [gone]  # announced once


def test_the_open_image_is_reread_with_its_labels_and_prefetch_is_forgotten(main_window, app_project_dir, qtbot):
    w = main_window
    ids = w.list_model.ids()
    current, neighbour = w.current_image_id, ids[1]
    w.prefetcher.prefetch([neighbour])
    qtbot.waitUntil(lambda: w.prefetcher.is_ready(neighbour), timeout=20_000)
    write_outside(app_project_dir, neighbour, n=1)
    write_outside(app_project_dir, current, n=1)
    heard: list[int] = []
    w.rows.subscribe(heard.append)
    w.rows.reread(neighbour)
    assert not w.prefetcher.is_ready(neighbour)  # the stale labels were dropped
    w.reload_current()
    accepted, proposals = db_counts(app_project_dir, current)
    assert list_row(w, current)[:2] == (accepted, proposals)
    assert sum(t.state == "accepted" for t in w.document.targets) == accepted  # labels re-read
    assert f"{accepted} target" in w.image_panel.facts_label.text()  # the Image dock follows
    assert heard == [neighbour, current]
    w.goto_image(neighbour)  # read afresh, not from the prefetched copy
    assert sum(t.state == "accepted" for t in w.document.targets) == db_counts(app_project_dir, neighbour)[0]


def test_an_edit_through_the_document_is_announced_once(main_window, app_project_dir, monkeypatch):
    w = main_window
    image_id = w.current_image_id
    heard: list[int] = []
    rereads: list[int] = []
    real = w.rows.reread
    monkeypatch.setattr(w.rows, "reread", lambda i: rereads.append(i) or real(i))
    w.rows.subscribe(heard.append)
    w.apply_edit(w.document.add_target_edit(Target(point=(5.5, 5.5), box=(4, 4, 7, 7))))
    # Hearing a change and asking for a re-read are two calls: the notification of the
    # document's own edit re-reads nothing (the window's old _announcing flag guarded that).
    assert heard == [image_id] and rereads == []
    assert list_row(w, image_id)[:2] == db_counts(app_project_dir, image_id)
    assert not hasattr(w, "_announcing") and not hasattr(w, "_visit_rings")


def test_a_view_that_closes_unsubscribes_itself(main_window, qtbot):
    w = main_window
    count = w.rows.observer_count()
    view = QWidget()
    heard: list[object] = []
    subscribe_view(view, w.rows.subscribe(heard.append), w.rows.subscribe_document(heard.append))
    assert w.rows.observer_count() == count + 2
    view.deleteLater()
    qtbot.waitUntil(lambda: w.rows.observer_count() == count, timeout=5000)
    w.apply_edit(w.document.add_target_edit(Target(point=(5.5, 5.5), box=(4, 4, 7, 7))))
    assert heard == []


def test_views_follow_the_document_across_projects(main_window, app_project_dir, qtbot):
    w = main_window
    changes: list[int] = []
    w.rows.subscribe_document(lambda c: changes.append(c.image_id))
    w.close_project()
    assert not w.rows.hears_document(changes.append)
    assert w.open_project(app_project_dir)
    assert changes[-1] == w.current_image_id  # the reopened project's first load was heard

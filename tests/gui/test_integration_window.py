"""The main window with every panel installed, on the demo project: the list follows label changes
from anywhere, project_closed stops and resets every dock, and a pre-annotation re-run is one undoable step
that brings the previous proposals back."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from app import bagcp_preview, inspector_panel, preannotate_panel, stats_panel, training_panel
from core.domain import ModelVersion, ReviewStatus, Target, TargetState
from core.store.project import Project
from tests._support.labels import add_target
from tests._support.windows import bare_window, show_window
from tests.gui.test_preannotate_support import recording_factory
from widgets.image_list import ImageRole

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 20_000
CTRL, CTRL_SHIFT = (
    Qt.KeyboardModifier.ControlModifier,
    (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier),
)


def key(qtbot, window, k, modifier) -> None:
    """A real key press on the canvas viewport, where the user's focus is while annotating."""
    viewport = window.canvas.view.viewport()
    viewport.setFocus()
    qtbot.keyClick(viewport, k, modifier)


def db_state(root, image_id: int) -> tuple:
    """One image's labels and status, read through a fresh connection."""
    with Project.open(root) as p:
        targets = sorted(
            (t.id, t.state.value, t.point, t.box, t.score) for t in p.targets(image_id)
        )
        return p.get_image(image_id).status.value, targets


@pytest.fixture
def full(qtbot, app_project_dir):
    """The real MainWindow, the five panels (fake predictor), the demo copy open."""
    w = bare_window(qtbot)
    factory = recording_factory()
    preannotate_panel.install(w, predictor_factory=factory)
    training_panel.install(w)
    panels = SimpleNamespace(
        bagcp=bagcp_preview.install(w),
        inspector=inspector_panel.install(w, predictor_factory=factory),
        stats=stats_panel.install(w),
        pre=w.findChild(preannotate_panel.PreannotatePanel),
        train=w.findChild(training_panel.TrainingPanel),
    )
    show_window(qtbot, w, (1280, 860))
    assert w.open_project(app_project_dir)
    yield SimpleNamespace(w=w, p=panels, made=factory.made, factory=factory, root=app_project_dir)
    panels.pre.controller.shutdown(10_000)
    for panel in (panels.bagcp, panels.inspector, panels.stats):
        panel.shutdown()
    w.close()


def _new_image(w) -> int:
    return next(i.id for i in w.project.list_images() if i.status == ReviewStatus.NEW)


# ---------------------------------------------------------------- 1. the list follows every change
def test_a_reread_from_anywhere_updates_the_list_row(main_window, app_project_dir):
    w = main_window
    image_id = w.current_image_id
    before = w.list_model.info(image_id).n_targets
    with Project.open(app_project_dir) as other:  # a writer that is not a window command
        add_target(other, image_id, Target(point=(5.5, 5.5), box=(4, 4, 7, 7)))
    w.rows.reread(image_id)  # the rows service: the one way in for such a change
    assert w.list_model.info(image_id).n_targets == before + 1
    row = w.list_model.index(w.list_model.row_of(image_id))
    assert row.data(ImageRole.N_TARGETS) == before + 1
    assert f"{before + 1} targets" in w.image_panel.facts_label.text()  # the Image dock too


def test_an_edit_announces_once_and_refreshes_without_reading_back(main_window, monkeypatch):
    w = main_window
    image_id = w.current_image_id
    before = w.list_model.info(image_id).n_targets
    seen: list[int] = []
    w.rows.subscribe(seen.append)
    edit = w.document.add_target_edit(Target(point=(5.5, 5.5), box=(4, 4, 7, 7)))
    reads: list[str] = []  # reads on the GUI thread (thumbnail / prefetch threads may read)

    def counting(name, real):
        def read(*args, **kwargs):
            if threading.current_thread() is threading.main_thread():
                reads.append(name)
            return real(*args, **kwargs)

        return read

    for name in ("get_image", "targets", "sky_mask", "labels", "annotation"):
        monkeypatch.setattr(w.project, name, counting(name, getattr(w.project, name)))
    w.apply_edit(edit)
    assert seen == [image_id]
    assert reads == []  # the window did not re-read what it had just written
    assert w.list_model.info(image_id).n_targets == before + 1
    assert len(w.canvas.visible_ids()) >= before + 1
    monkeypatch.undo()
    assert len(w.project.targets(image_id, TargetState.ACCEPTED)) == before + 1  # committed


def test_a_recorded_worker_edit_joins_the_image_history(main_window):
    w = main_window
    image_id = w.current_image_id
    edit = w.project.propose(image_id, [Target(point=(9, 9), box=(8, 8, 11, 11), score=0.9)], None)
    w.record_edit(edit)
    assert w.list_model.info(image_id).n_proposals == 1
    assert w.undo_stacks.stack(image_id).count() == 1
    w.undo_stacks.stack(image_id).undo()
    assert w.project.targets(image_id, TargetState.PROPOSAL) == []
    assert w.list_model.info(image_id).n_proposals == 0


# ---------------------------------------------------------------- 2. project_closed
def test_project_closed_comes_first_while_the_project_is_usable(main_window, tmp_path):
    w = main_window
    events: list[tuple] = []

    def on_closed(project) -> None:
        assert w.project is project
        events.append(("closed", len(project.list_images())))  # still open: readable

    w.project_closed.connect(on_closed)
    w.project_opened.connect(lambda p: events.append(("opened", p.root.name)))
    other = Project.create(tmp_path / "other")
    w.set_project(other)  # switching: the old project is announced closed before the new opens
    assert events == [("closed", 12), ("opened", "other")]
    w.close_project()
    w.close_project()  # nothing open: nothing announced
    assert events[2:] == [("closed", 0)]


def test_closing_stops_a_running_preannotation(full, qtbot):
    w, pre = full.w, full.p.pre
    gate = threading.Event()
    full.factory.kwargs = {"gate": gate, "one_shot": True}
    ids = [i.id for i in w.project.list_images() if i.status == ReviewStatus.NEW]
    assert len(ids) == 2 and pre.controller.start(ids)
    qtbot.waitUntil(lambda: bool(full.made) and full.made[0].entered.is_set(), timeout=WAIT_MS)
    threading.Timer(0.3, gate.set).start()  # image 1 finishes while the window closes the project
    w.close_project()
    assert not pre.controller.is_running()  # stopped before the project was closed
    qtbot.wait(300)  # the run's late results arrive and must not repaint the dock
    assert pre.status.text() == preannotate_panel.IDLE_TEXT
    assert not pre.cancel_button.isEnabled() and pre.failures.count() == 0
    assert db_state(full.root, ids[1]) == (ReviewStatus.NEW.value, [])  # never touched


def test_every_dock_resets_on_close(full, qtbot, monkeypatch):
    w, p = full.w, full.p
    w.project.add_model_version(ModelVersion(None, "v1", "models/v1.safetensors", ""))
    p.train.refresh_versions()
    assert p.train.versions.count() == 2 and p.train.train_button.isEnabled()
    with qtbot.waitSignal(p.stats.stats_ready, timeout=WAIT_MS):
        assert p.stats.compute()
    p.inspector.choose_source(inspector_panel.STORED)
    with qtbot.waitSignal(p.inspector.run_finished, timeout=WAIT_MS):
        assert p.inspector.start()
    assert p.inspector.gallery.cards() and p.inspector.summary_table.rowCount() == 1
    with_sky = next(i.id for i in w.project.list_images() if w.project.sky_mask(i.id) is not None)
    w.goto_image(with_sky)
    with qtbot.waitSignal(p.bagcp.preview_ready, timeout=WAIT_MS):
        assert p.bagcp.run_preview()
    outlines: list[list] = []
    real = w.canvas.set_highlight_boxes
    monkeypatch.setattr(w.canvas, "set_highlight_boxes",
                        lambda boxes, color=None: (outlines.append(list(boxes)), real(boxes, color)))  # fmt: skip

    w.close_project()
    qtbot.wait(100)
    assert p.train.versions.count() == 1 and not p.train.versions.isEnabled()
    assert not p.train.train_button.isEnabled() and not p.train.stop_button.isEnabled()
    assert p.stats.result is None and p.stats.view.size_counts()[1].size == 0
    assert p.inspector.gallery.cards() == [] and p.inspector.summary_table.rowCount() == 0
    assert p.inspector.source.count() == 2  # shipped default + stored proposals only
    assert p.bagcp.preview is None and not p.bagcp.controls.add_button.isEnabled()
    assert outlines and outlines[-1] == []  # the pasted targets' outlines are gone
    assert p.bagcp.controls.library_label.text() == "Target library: not loaded"


# ---------------------------------------------------------------- 3. undo after a re-run
def test_rerun_preannotation_is_an_undoable_step(full, qtbot):
    w, pre = full.w, full.p.pre
    image_id = _new_image(w)
    w.goto_image(image_id)
    start = db_state(full.root, image_id)
    with qtbot.waitSignal(pre.controller.run_ended, timeout=WAIT_MS):
        key(qtbot, w, Qt.Key.Key_P, CTRL_SHIFT)  # the panel's shortcut, through the window table
    high, low = sorted(w.project.targets(image_id, TargetState.PROPOSAL), key=lambda t: -t.score)
    w.controller.accept([high.id])
    w.controller.reject([low.id])
    before_rerun = db_state(full.root, image_id)
    assert w.undo_stacks.stack(image_id).count() == 3  # pre-annotation, accept, reject

    with qtbot.waitSignal(pre.controller.run_ended, timeout=WAIT_MS):
        assert pre.run_current()
    after_rerun = db_state(full.root, image_id)
    assert w.undo_stacks.stack(image_id).count() == 4
    status, targets = after_rerun
    states = sorted(s for _, s, *_ in targets)
    assert status == ReviewStatus.PRE_ANNOTATED.value
    # The kept accept + the new proposals, but not the one on the accepted target (the model
    # finds it again): re-pre-annotating proposes only what is new (core/duplicates.py).
    assert states == ["accepted", "proposal"]
    info = w.list_model.info(image_id)
    assert (info.n_targets, info.n_proposals) == (1, 1)  # the list agrees with the database
    key(qtbot, w, Qt.Key.Key_Z, CTRL)  # undo the re-run: the previous proposals come back
    assert db_state(full.root, image_id) == before_rerun
    info = w.list_model.info(image_id)
    assert (info.n_targets, info.n_proposals) == (1, 0)
    for _ in range(3):
        key(qtbot, w, Qt.Key.Key_Z, CTRL)
    assert db_state(full.root, image_id) == start  # no proposals, status new again
    assert not w.actions_by_id["undo"].isEnabled()
    for _ in range(4):
        w.undo_stacks.stack(image_id).redo()
    assert db_state(full.root, image_id) == after_rerun

"""Qt objects die on the GUI thread, at a safe point: the cause of the rare "pure virtual method
called" abort was Python's cyclic garbage collector destroying a dropped window (or pyqtgraph's
parentless menus) in whatever thread allocated, or from inside Qt's own C++ code."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QMainWindow, QWidget

from app.gui_gc import GuiThreadGarbageCollector, ensure_gui_thread_gc
from app.jobs import JobThread
from tests.gui.conftest import destroy_garbage, join_qt_threads

pytestmark = pytest.mark.timeout(60)


class _Cycle:
    """Garbage only the cyclic collector can free; records the thread that freed it."""

    def __init__(self, freed_on: list[bool]) -> None:
        self.me = self
        weakref.finalize(self, lambda: freed_on.append(threading.current_thread() is MAIN))


MAIN = threading.main_thread()


def _drop_cycle_then_allocate_in_a_thread(kept: list) -> list[bool]:
    """Make a reference cycle on this thread, drop it, then allocate a lot on another thread
    (kept in ``kept``; this thread waits, so it allocates nothing meanwhile)."""
    freed_on: list[bool] = []
    gc.collect()  # generation counts start from zero: only the worker can pass a threshold
    _Cycle(freed_on)
    worker = threading.Thread(target=lambda: kept.extend([] for _ in range(20_000)))
    worker.start()
    worker.join()
    return freed_on


def test_without_the_collector_a_worker_thread_frees_gui_garbage(qapp):
    """The hazard itself (plain Python objects here, so nothing breaks)."""
    collector = ensure_gui_thread_gc()
    collector.stop()
    try:
        assert gc.isenabled()
        assert _drop_cycle_then_allocate_in_a_thread([]) == [False]  # freed on the worker
    finally:
        collector.start()


def test_with_the_collector_only_the_gui_thread_frees_garbage(qapp):
    collector = ensure_gui_thread_gc()
    assert collector is ensure_gui_thread_gc()  # one per application
    assert collector.active and not gc.isenabled()
    kept: list = []
    freed_on = _drop_cycle_then_allocate_in_a_thread(kept)
    assert freed_on == []  # the worker passed every threshold but collected nothing
    assert collector.check() > 0  # the timer's check: over the threshold, so it collects
    assert freed_on == [True]


def test_the_timer_collects_while_the_event_loop_runs(qtbot):
    collector = GuiThreadGarbageCollector(interval_ms=10)
    try:
        freed_on: list[bool] = []
        for _ in range(800):  # past generation 0's threshold of 700
            _Cycle(freed_on)
        qtbot.waitUntil(lambda: len(freed_on) == 800, timeout=5000)
        assert all(freed_on)
    finally:
        collector.deleteLater()  # the shared collector (package fixture) stays in charge


def test_a_full_pass_waits_until_the_oldest_generation_grew_by_a_quarter(qapp):
    collector = GuiThreadGarbageCollector(interval_ms=60_000)
    try:
        assert not collector._full_pass_due()
        survivors = [[] for _ in range(len(gc.get_objects(2)) // 4 + 1000)]
        collector.collect(1)  # what survives generation 1 moves to the oldest generation
        assert collector._full_pass_due()
        collector.collect(2)
        assert not collector._full_pass_due()  # counted afresh from the new oldest generation
        del survivors
    finally:
        collector.deleteLater()


def test_a_check_never_lists_the_oldest_generation_unless_it_collects_it(qapp, monkeypatch):
    """Listing it holds the GIL for hundreds of ms with torch loaded (issue 13): the timer's
    check must not do it while the generation-2 count is past its threshold but no pass is due."""
    collector = GuiThreadGarbageCollector(interval_ms=60_000)
    try:
        listed: list[int] = []
        real = gc.get_objects
        monkeypatch.setattr(gc, "get_objects", lambda generation=None: (listed.append(generation), real(generation))[1])
        for _ in range(gc.get_threshold()[2] + 2):
            collector.collect(1)  # generation 2's count now exceeds its threshold
        assert gc.get_count()[2] > gc.get_threshold()[2] and not collector._full_pass_due()
        for _ in range(5):
            collector.check()
        assert 2 not in listed and None not in listed
    finally:
        collector.deleteLater()


def test_stop_gives_collection_back_and_ensure_restarts_it(qapp):
    collector = ensure_gui_thread_gc()
    collector.stop()
    assert gc.isenabled() and not collector.active
    assert ensure_gui_thread_gc() is collector
    assert collector.active and not gc.isenabled()


def test_ensure_off_the_gui_thread_changes_nothing(qapp):
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(ensure_gui_thread_gc()))
    worker.start()
    worker.join()
    assert seen == [None]


def test_workers_put_collection_on_the_gui_thread(qapp):
    """The rule is installed once, with the application (ADR 0023): a thread made after that
    runs with collection on the GUI thread, without its starter arranging it."""
    from app.application import create_application

    ensure_gui_thread_gc().stop()
    try:
        create_application(exception_hook=False)
        JobThread(lambda progress, cancelled: None)
        assert not gc.isenabled()
    finally:
        ensure_gui_thread_gc()


def test_process_events_alone_never_runs_delete_later(qapp):
    """Why the fixture flushes deferred deletions: pytest-qt closes each test's widgets with
    deleteLater(), which a plain processEvents() outside an event loop leaves pending, so the
    window used to die in the middle of a later test."""
    widget = QWidget()
    widget.deleteLater()
    qapp.processEvents()
    assert shiboken6.isValid(widget)
    destroy_garbage()
    assert not shiboken6.isValid(widget)


def test_a_dropped_window_in_a_cycle_is_destroyed_at_the_safe_point(qapp):
    window = QMainWindow()
    window.me = window  # only the cyclic collector can free it (Python owns the window)
    window.show()
    window.hide()
    ref = weakref.ref(window)
    del window
    qapp.processEvents()
    assert ref() is not None  # no collection inside Qt's event processing
    destroy_garbage()
    assert ref() is None


def test_join_qt_threads_stops_a_window_worker(qapp):
    window = QWidget()
    started = threading.Event()

    def job(progress, cancelled) -> str:
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        return "stopped"

    thread = JobThread(job, parent=window)
    thread.start()
    assert started.wait(5)
    assert join_qt_threads(qapp) == []
    assert thread.isFinished()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_signals_a_stopped_preannotation_run_had_queued_leave_the_dock_idle(qtbot, tmp_path):
    """Closing the project stops the run; what it had already queued (model loaded, progress,
    a finished image) arrives afterwards and must not repaint the idle dock."""
    from app import preannotate_panel
    from tests.gui.test_preannotate_support import FakePredictor, FakeWindow, make_project

    project, ids = make_project(tmp_path, 2)
    window = FakeWindow(project)
    qtbot.addWidget(window)
    gate = threading.Event()
    made: list[FakePredictor] = []
    preannotate_panel.install(window, lambda w: made.append(FakePredictor(w, gate=gate)) or made[-1])
    panel = window.dock_widget(preannotate_panel.DOCK_NAME)
    assert panel.run_unreviewed()
    # No event processing from here on: the worker's signals stay queued until qtbot.wait.
    deadline = time.monotonic() + 10
    while not (made and made[0].entered.is_set()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert made and made[0].entered.is_set()  # the model is loaded: model_loaded is queued
    gate.set()
    panel.on_project_closed(project)  # stops and joins the run while the project is open
    window.project = None
    project.close()
    qtbot.wait(200)  # the stale signals are delivered now
    assert panel.status.text() == preannotate_panel.IDLE_TEXT
    assert panel.progress.value() == -1 and panel.failures.count() == 0


def test_while_current_drops_a_replaced_workers_calls():
    from app.jobs import while_current

    calls: list[int] = []
    state = {"current": "a"}
    slot = while_current(lambda: state["current"], "a", calls.append)
    slot(1)
    state["current"] = None  # stopped, or a newer job
    slot(2)
    assert calls == [1]


def test_stats_of_a_closed_project_never_reach_the_reset_dock(qtbot, tmp_path, monkeypatch):
    from app import stats_panel
    from tests.gui.test_inspector_support import PanelWindow, scene_project

    project, ids = scene_project(tmp_path, with_proposals=False, extra_no_sky=True)
    win = PanelWindow(project)
    qtbot.addWidget(win)
    panel = stats_panel.install(win)
    entered, release = threading.Event(), threading.Event()
    original = project.load_pixels

    def slow_load(image_id: int):
        entered.set()
        release.wait(10)
        return original(image_id)

    monkeypatch.setattr(project, "load_pixels", slow_load)
    assert panel.compute()
    assert entered.wait(10)  # no event processing: the job's signals stay queued
    release.set()
    panel.on_project_closed(project)  # joins the job; its partial result is queued by now
    win.project = None
    project.close()
    qtbot.wait(200)
    assert panel.result is None and not panel.is_running()
    assert panel.view.histogram("width")[1].sum() == 0
    assert panel.compute() is False and "Open a project first" in panel.status.text()

"""The garbage-collection policy of the GUI process: Python's cyclic collector runs on the GUI
thread only, from the event loop (see ``GuiThreadGarbageCollector``).

Installed once, by ``app.application.create_application`` (the one place the QApplication is
made); no thread starter arranges it (ADR 0023). ``ensure_gui_thread_gc()`` stays idempotent: the
model warmer asks it for the collector to freeze import-time objects, tests restart it.
"""

from __future__ import annotations

import gc

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer

# ------------------------------------------------------------------ garbage collection
GC_INTERVAL_MS = 500  # how often the GUI thread checks the collection thresholds


class GuiThreadGarbageCollector(QObject):
    """Runs Python's cyclic garbage collector on the GUI thread only, from the event loop.

    Automatic collection runs in whichever thread allocates when a threshold is passed: a worker
    thread, or Python code that Qt calls from inside its own C++ (a pyqtgraph ``boundingRect``
    while a scene is updated). Qt objects that only a reference cycle keeps alive (a closed
    window, pyqtgraph's parentless plot menus) are then destroyed in the middle of that code or
    off the GUI thread, which aborts the process ("pure virtual method called"). While this
    collector runs, automatic collection is off and the same thresholds are checked on a timer.
    """

    def __init__(self, interval_ms: int = GC_INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._long_lived = len(gc.get_objects(2))  # oldest generation after the last full pass
        self._promoted = 0  # objects moved into it by this collector since then
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self.start()

    @property
    def active(self) -> bool:
        return self._timer.isActive()

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Give collection back to Python (automatic, in any thread)."""
        self._timer.stop()
        gc.enable()

    def check(self) -> int:
        """Collect the oldest generation past its threshold, as automatic collection would;
        returns the number of unreachable objects found."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if not 0 < self._thresholds[generation] < counts[generation]:
                continue
            if generation == 2 and not self._full_pass_due():
                continue
            return self.collect(generation)
        return 0

    def collect(self, generation: int) -> int:
        """One collection of ``generation`` (and the younger ones), keeping the count of objects
        moved into the oldest generation that decides when a full pass is due."""
        if generation >= 2:
            found = gc.collect(2)
            self._long_lived, self._promoted = len(gc.get_objects(2)), 0
            return found
        young = sum(len(gc.get_objects(g)) for g in range(generation + 1))  # small: cheap to list
        found = gc.collect(generation)
        if generation == 1:  # the survivors of a generation-1 pass join the oldest generation
            self._promoted += max(0, young - found)
        return found

    def freeze(self) -> int:
        """Move every object alive now into Python's permanent generation (``gc.freeze``): none
        of them is traversed by a collection again. Done once the model is loaded: torch and
        ONNX Runtime bring about 400,000 long-lived objects (modules, classes, functions) whose
        first passes through generations 0 and 1 held the GIL for 1-3 s on a loaded machine,
        in the middle of the first pre-annotation (issue 19). Cyclic garbage among the objects
        frozen is never freed: they are almost all import-time objects that live as long as
        the process. Returns the number of objects frozen."""
        gc.freeze()
        self._long_lived, self._promoted = len(gc.get_objects(2)), 0
        return gc.get_freeze_count()

    def _full_pass_due(self) -> bool:
        """CPython's rule: a full pass (hundreds of ms with torch loaded) only once the oldest
        generation grew by a quarter since the last one.

        Growth is counted as the survivors this collector moved into it, like CPython's own
        ``long_lived_pending``; the oldest generation itself is only listed after a full pass.
        Listing it on every check (386,000 objects with torch and Qt loaded: 0.5-0.65 s on this
        loaded machine, all of it holding the GIL) starved the pre-annotation pipeline's threads
        once the generation-2 count had passed its threshold (issue 13, ADR 0007)."""
        return self._promoted > self._long_lived // 4


_collector: GuiThreadGarbageCollector | None = None


def ensure_gui_thread_gc() -> GuiThreadGarbageCollector | None:
    """Make the GUI thread the only one that collects garbage (idempotent).

    Called once by ``create_application``, so every thread started later (jobs, the model
    loop, thumbnails, prefetch, list queries) runs with collection on the GUI thread. None
    without a QApplication or off the GUI thread (then nothing changes)."""
    global _collector
    app = QCoreApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return None
    if _collector is None or not shiboken6.isValid(_collector):
        _collector = GuiThreadGarbageCollector(parent=app)
    elif not _collector.active:
        _collector.start()
    return _collector

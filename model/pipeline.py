"""A thread pipeline around the Predictor: reader threads -> network -> writer thread.

While the network runs on image k, a reader thread decodes and prepares image k+1 (file read,
PNG decode, gray conversion, normalisation, padding) and the writer thread finishes image k-1
(scores, NMS, sky upsampling) and hands it to the caller's ``consume`` (write files, store in
a database). Decoders, OpenCV and ONNX Runtime release the GIL, so these overlap for real.

Order is kept: ``consume`` sees items in input order, one at a time, on the writer thread.
At most ``depth`` images are read ahead and at most ``depth`` wait for the writer, so memory stays
bounded on 4k frames. Qt-free: ``predict`` and the GUI's batch pre-annotation both use it.

With a Predictor of several ``lanes`` (ADR 0033) that many images are in the network at once, each
on its own thread with one-thread ONNX Runtime sessions: two cores then work on two frames without
waiting for each other at every operator, as two threads of one session do.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np

from core.errors import SirstError

if TYPE_CHECKING:  # torch stays unloaded until a Predictor is built (the GUI imports this module)
    from model.inference import Prediction, Predictor, Prepared

T = TypeVar("T")

# Per-image failures that skip the image but not the run: unreadable or undecodable files, and
# errors of the network on one odd image (ORT / torch raise RuntimeError / ValueError for shapes).
ITEM_ERRORS: tuple[type[BaseException], ...] = (SirstError, OSError, ValueError, RuntimeError, MemoryError)


@dataclass
class PipelineStats:
    """Seconds spent per stage (summed over images; the stages overlap, so they exceed the wall time)."""

    images: int = 0
    failed: int = 0
    read_s: float = 0.0
    network_s: float = 0.0
    finish_s: float = 0.0
    consume_s: float = 0.0
    wall_s: float = 0.0
    cancelled: bool = False  # stopped by ``cancelled()`` before every item was handled


@dataclass
class _Read(Generic[T]):
    item: T
    prepared: Prepared | BaseException
    seconds: float


def default_lanes(threads: int | None) -> int:
    """Frames in the network at once for ``predict`` over a folder with ``threads`` CPU threads:
    two from two threads on (each with half of them; ADR 0033), else one."""
    return 2 if threads is not None and threads >= 2 else 1


def run_pipeline(
    items: Iterable[T],
    load: Callable[[T], np.ndarray],
    predictor: Predictor,
    consume: Callable[[T, Prediction | BaseException], None],
    score_thr: float | None = None,
    readers: int = 1,
    depth: int = 2,
    cancelled: Callable[[], bool] | None = None,
    name: str = "pipeline",
) -> PipelineStats:
    """Run ``predictor`` over ``items``: ``load(item)`` gives pixels, ``consume(item, result)``
    gets the Prediction or the item's error (anything ``load`` raised, or one of ITEM_ERRORS). Any other
    error (in ``consume``, or a bug in ``finish``) stops the run and propagates: no item is consumed
    after it. ``cancelled()`` is checked before each image; images already
    through the network are still consumed. ``name`` prefixes the threads' names (``name-read``,
    ``name-write``: profilers and tests tell the callers' threads apart)."""
    import threading
    import time

    stats = PipelineStats()
    t_start = time.perf_counter()

    def read(item: T) -> _Read[T]:
        t = time.perf_counter()
        try:
            return _Read(item, predictor.prepare(load(item)), time.perf_counter() - t)
        except Exception as exc:  # noqa: BLE001 - any decoder failure (cv2.error too) skips this file only
            return _Read(item, exc, time.perf_counter() - t)

    def finish(item: T, prepared: Prepared, maps) -> None:
        if broken:
            return
        t = time.perf_counter()
        try:
            result: Prediction | BaseException = predictor.finish(prepared, maps, score_thr)
        except ITEM_ERRORS as exc:
            result = exc
        except BaseException as exc:  # a bug: the run stops, later images stay untouched
            broken.append(exc)
            raise
        t2 = time.perf_counter()
        stats.finish_s += t2 - t
        deliver(item, result)
        stats.consume_s += time.perf_counter() - t2

    broken: list[BaseException] = []  # the first unexpected writer error: nothing is consumed after it

    def deliver(item: T, result: Prediction | BaseException) -> None:
        if broken:
            return
        if isinstance(result, BaseException):
            stats.failed += 1
        else:
            stats.images += 1
        try:
            consume(item, result)
        except BaseException as exc:
            broken.append(exc)
            raise

    timing = threading.Lock()  # lanes add their network seconds from several threads

    def network(prepared: Prepared):
        t = time.perf_counter()
        try:
            return predictor.run_network(prepared)
        except ITEM_ERRORS as exc:
            return exc
        finally:
            with timing:
                stats.network_s += time.perf_counter() - t

    lanes = max(1, int(getattr(predictor, "lanes", 1)))
    source = iter(items)
    with ThreadPoolExecutor(max(1, readers), thread_name_prefix=f"{name}-read") as pool, \
            ThreadPoolExecutor(1, thread_name_prefix=f"{name}-write") as writer, \
            (ThreadPoolExecutor(lanes, thread_name_prefix=f"{name}-net") if lanes > 1 else nullcontext()) as net:
        pending: deque[Future[_Read[T]]] = deque()
        running: deque[tuple[_Read[T], Future | None]] = deque()  # in the network, in input order
        written: deque[Future[None]] = deque()

        def refill() -> None:
            while len(pending) < max(1, depth, lanes):
                nxt = next(source, _END)
                if nxt is _END:
                    return
                pending.append(pool.submit(read, nxt))

        def start() -> None:
            """Up to ``lanes`` images into the network (one lane: run it here, now)."""
            while pending and len(running) < lanes and not broken:
                if cancelled is not None and cancelled():
                    stats.cancelled = True
                    return
                r = pending.popleft().result()
                refill()  # keep the readers busy while the network runs
                stats.read_s += r.seconds
                if isinstance(r.prepared, BaseException):
                    running.append((r, None))
                elif net is None:
                    done: Future = Future()
                    done.set_result(network(r.prepared))
                    running.append((r, done))
                else:
                    running.append((r, net.submit(network, r.prepared)))

        try:
            refill()
            while True:
                if broken:
                    break  # surfaces below
                if not stats.cancelled:
                    start()
                if not running:
                    break
                r, fut = running.popleft()  # images already in the network are still consumed
                maps = r.prepared if fut is None else fut.result()
                if isinstance(maps, BaseException):
                    written.append(writer.submit(deliver, r.item, maps))
                else:
                    written.append(writer.submit(finish, r.item, r.prepared, maps))
                while len(written) > max(1, depth):  # bound the images waiting for the writer
                    written.popleft().result()
            for f in written:
                f.result()  # a consume error surfaces here
        finally:
            for f in pending:
                f.cancel()
            for _r, f in running:
                if f is not None:
                    f.cancel()
    stats.wall_s = time.perf_counter() - t_start
    return stats


_END = object()

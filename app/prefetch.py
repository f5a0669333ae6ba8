"""Loads the neighbours of the current image in a background thread so "next image" is instant:
pixels decoded and labels read (one database session), sky masks decoded too.

What is loaded here is the visit's only decode: the window hands the pixels to the annotation
document, which shares them with the canvas, the loupe and pre-annotation of the current image.
Labels can change after they were prefetched (an edit, a pre-annotation worker): the rows
service calls ``forget(image_id)`` on every change of another image's row, so a stale entry is
never shown. The open image is never here: the window ``take``s it (its labels belong to the
document from then on) and it is not prefetched again while open, so an edit of the open image,
the common case, has nothing to forget here (issue 24: the edit path skips this module).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from core.edits import ImageLabels
from widgets.canvas import PreparedImage, SkyShapes, prepare_image, sky_shapes
from widgets.canvas_render import DisplayPlan

MAX_CACHED = 4  # neighbours and recent visits; a 1280x1024 16-bit frame is 2.6 MB


@dataclass
class LoadedImage:
    pixels: np.ndarray
    labels: ImageLabels  # info, every target (accepted + proposals), both skies (decoded)
    prepared: PreparedImage | None = None  # the canvas's display pass over the pixels
    rings: tuple[SkyShapes, SkyShapes] | None = None  # outlines of (sky, proposed sky)


class ImagePrefetcher:
    """``get(id)`` returns a LoadedImage (waiting for an in-flight prefetch); ``prefetch(ids)``
    starts loading in the background."""

    def __init__(
        self,
        project,
        max_cached: int = MAX_CACHED,
        display: Callable[[], DisplayPlan | None] | None = None,
    ) -> None:
        self._project = project
        # The canvas's display snapshot (IRCanvas.display_plan): the displayed image, sky fills
        # blended in, is rendered here too, so showing it costs the GUI thread no image pass.
        self._display = display
        self._max = max_cached
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self._futures: OrderedDict[int, Future] = OrderedDict()
        self._lock = threading.Lock()
        self._open: int | None = None  # the image taken last: the open one, never cached

    def _future(self, image_id: int) -> Future:
        with self._lock:
            fut = self._futures.get(image_id)
            if fut is None:
                fut = self._pool.submit(self._load, image_id)
                self._futures[image_id] = fut
            self._futures.move_to_end(image_id)
            while len(self._futures) > self._max:
                _, old = self._futures.popitem(last=False)
                old.cancel()
            return fut

    def _load(self, image_id: int) -> LoadedImage:
        from core.imageio import read_image

        labels = self._project.labels(image_id)
        pixels = read_image(self._project.resolve_path(labels.info))
        skies = [r.view() if r is not None else None for r in (labels.sky, labels.sky_proposal)]
        # What the canvas would compute on the GUI thread (luminance, percentile window,
        # histogram, the rendered image with its sky fills, sky polygons) is computed here,
        # while the user still looks at another image.
        plan = self._display() if self._display is not None else None
        try:
            prepared = prepare_image(pixels, plan, tuple(skies))
        except ValueError:
            prepared = None  # an array the canvas refuses: set_image reports it
        return LoadedImage(pixels, labels, prepared, (sky_shapes(skies[0]), sky_shapes(skies[1])))

    def get(self, image_id: int) -> LoadedImage:
        """The image and its labels; raises ImageReadError (and forgets the failure, so a file
        put back is read next time)."""
        fut = self._future(int(image_id))
        try:
            return fut.result()
        except BaseException:
            self.forget(image_id)
            raise

    def take(self, image_id: int) -> LoadedImage:
        """``get`` for the image being opened: it leaves the cache and is not prefetched while
        it stays open (the document holds its labels, kept current by every edit)."""
        self._open = int(image_id)
        try:
            return self.get(image_id)
        finally:
            self.forget(image_id)

    def prefetch(self, ids: Iterable[int | None]) -> None:
        for image_id in ids:
            if image_id is not None and int(image_id) != self._open:
                self._future(int(image_id))

    def is_ready(self, image_id: int) -> bool:
        """Whether ``get(image_id)`` would return without waiting (its load has finished)."""
        with self._lock:
            fut = self._futures.get(int(image_id))
        return fut is not None and fut.done()

    def forget(self, image_id: int) -> None:
        with self._lock:
            self._futures.pop(int(image_id), None)

    def close(self) -> None:
        with self._lock:
            for fut in self._futures.values():
                fut.cancel()
            self._futures.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

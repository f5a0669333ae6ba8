"""Lazy image-list thumbnails: made in one background thread, cached under ``.cache/thumbs``.

The view asks only for the rows it paints, newest request first (the rows on screen now), so a
10,000-image project opens at once and scrolling never waits for decoding. Cache files are named
after the image's SHA-256 so that a changed file gets a new thumbnail.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from core.domain import ImageInfo
from core.errors import SirstError
from core.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

THUMB_SIZE = 96  # stored size (longest side); the list scales it down, HiDPI stays sharp
MEMORY_ITEMS = 3000


def thumbs_dir(project_root: Path) -> Path:
    return Path(project_root) / ".cache" / "thumbs"


def make_thumbnail(pixels: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """uint8 gray thumbnail (longest side ``size``) with percentile contrast, any input depth."""
    from core.imageio import normalize_for_display, to_gray

    gray = to_gray(pixels) if pixels.ndim == 3 else pixels
    disp = normalize_for_display(gray)
    h, w = disp.shape[:2]
    scale = size / max(h, w)
    if scale < 1.0:
        disp = cv2.resize(disp, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)  # fmt: skip
    return np.ascontiguousarray(disp, dtype=np.uint8)


def write_png_atomic(path: Path, array: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise OSError(f"cannot encode thumbnail {path}")
    atomic_write_bytes(path, buf.tobytes(), fsync=False)  # a cache: a lost file is rebuilt


def to_qimage(gray: np.ndarray) -> QImage:
    h, w = gray.shape
    return QImage(gray.data, w, h, gray.strides[0], QImage.Format.Format_Grayscale8).copy()


class ThumbnailCache(QObject):
    """``get(info)`` returns a QImage or None (then schedules it; ``thumbnail_ready`` follows)."""

    thumbnail_ready = Signal(int)  # image id

    def __init__(self, project, size: int = THUMB_SIZE, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self._size = size
        self._dir = thumbs_dir(project.root)
        self._memory: OrderedDict[int, QImage | None] = OrderedDict()
        self._pending: OrderedDict[int, ImageInfo] = OrderedDict()
        self._lock = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="thumbnails", daemon=True)
        self._thread.start()

    def get(self, info: ImageInfo) -> QImage | None:
        key = int(info.id)
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                return self._memory[key]
            self._pending[key] = info
            self._pending.move_to_end(key)  # most recent request first: it is on screen now
            self._lock.notify()
        return None

    def invalidate(self, image_id: int) -> None:
        with self._lock:
            self._memory.pop(int(image_id), None)

    def close(self) -> None:
        with self._lock:
            self._stopped = True
            self._pending.clear()
            self._lock.notify()
        self._thread.join(timeout=5)

    def path_for(self, info: ImageInfo) -> Path:
        key = info.sha256[:24] if info.sha256 else f"id{info.id}"
        return self._dir / f"{key}_{self._size}.png"

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopped:
                    self._lock.wait()
                if self._stopped:
                    return
                key, info = self._pending.popitem(last=True)
            image = self._load(info)
            with self._lock:
                if self._stopped:
                    return
                self._memory[key] = image  # None too: a missing file is not retried every paint
                while len(self._memory) > MEMORY_ITEMS:
                    self._memory.popitem(last=False)
            self.thumbnail_ready.emit(key)

    def _load(self, info: ImageInfo) -> QImage | None:
        path = self.path_for(info)
        try:
            if path.is_file():
                cached = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
                if cached is not None:
                    return to_qimage(cached)
            thumb = make_thumbnail(self._project.load_pixels(int(info.id)), self._size)
            write_png_atomic(path, thumb)
            return to_qimage(thumb)
        except (SirstError, OSError, ValueError, cv2.error) as exc:
            log.info("no thumbnail for %s: %s", info.name, exc)
            return None

"""BAG-CP preview dock: synthesize on the current image, compare before / after, keep the result.

``install(window)`` adds a "BAG-CP preview" dock. Preview runs ``core.bagcp.synthesize`` with the
dock's parameters and seed on a worker thread (the first run also loads or builds the target
library), shows the result on the canvas with the pasted targets outlined, and toggles back to
the original. "Add to project" writes ``<project>/synthetic/<name>_bagcp<N>.png`` atomically at
the original bit depth and adds it with the original targets, the pasted ones (source SYNTHETIC)
and a copy of the sky mask. Synthetic images go to the train split only when their source image
is in it (never val / test: they must not leak into evaluation).

The target library is built once from the project's accepted targets (images holding synthetic
targets are skipped, so BAG-CP output never feeds the library back) and cached at
``<project>/bagcp_library.npz``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.docks import Area, DockSpec, Place, Workspace, install_dock
from app.host import PanelHost
from app.jobs import IMAGE_ERRORS, Cancelled, JobThread, PanelJob, Progress
from app.stats_panel import MENU
from app.views import follow
from core.domain import ImageAnnotation, ImageInfo, ReviewStatus, Source, Split, TargetState
from core.errors import SirstError
from core.fileio import atomic_write_bytes
from core.imageio import encode_png
from widgets.bagcp_controls import BagcpControls
from widgets.text import plural

log = logging.getLogger(__name__)

DOCK = DockSpec(
    "BagcpPreviewDock", "BAG-CP preview", {Workspace.TRAIN: Place(Area.RightDockWidgetArea, 0, fill=True)},
    menu=MENU, menu_text="&BAG-CP Preview",
)
LIBRARY_FILE = "bagcp_library.npz"
SYNTHETIC_DIR = "synthetic"
PASTED_COLOR = "#ff40ff"
NO_SKY = ("{name} has no sky mask, so BAG-CP has nowhere to paste (it only pastes into sky). "
          "Draw the sky first (View > Draw Sky), accept a proposed sky, or pick another image.")  # fmt: skip


class PreviewRefused(SirstError):
    """The preview cannot run on this image / project (no sky, empty library...)."""


@dataclass
class Preview:
    """One synthesis result and everything needed to show or save it."""

    info: ImageInfo
    original: np.ndarray
    annotation: ImageAnnotation  # the original's accepted labels
    result: object  # core.bagcp.BagcpResult
    seed: int
    saved_as: str | None = None

    @property
    def pasted_boxes(self) -> list:
        return [t.box for t in self.result.targets]


class LibraryCache:
    """The project's target library: memory, then ``bagcp_library.npz``, then a fresh build."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._library = None

    @property
    def library(self):
        """The loaded library (None until the first preview or rebuild)."""
        return self._library

    def invalidate(self) -> None:
        self._root, self._library = None, None

    def get(self, project, progress: Progress, cancelled: Cancelled, rebuild: bool = False):
        """The library, or None when a build was cancelled (a partial one is never cached)."""
        from core.target_library import TargetLibrary

        path = Path(project.root) / LIBRARY_FILE
        if not rebuild and self._root == Path(project.root) and self._library is not None:
            return self._library
        library = None
        if not rebuild and path.is_file():
            try:
                library = TargetLibrary.load(path)
            except SirstError as exc:  # a damaged cache is rebuilt, not fatal
                log.warning("rebuilding the target library: %s", exc)
        if library is None:
            library = build_library(project, progress, cancelled)
            if library is None:
                return None
            library.save(path)
        self._root, self._library = Path(project.root), library
        return library


def build_library(project, progress: Progress, cancelled: Cancelled):
    """Patches of the accepted targets of every non-synthetic image; None when cancelled."""
    from core.target_library import TargetLibrary

    library = TargetLibrary()
    infos = [i for i in project.list_images() if i.n_targets > 0]
    for n, info in enumerate(infos, start=1):
        if cancelled():
            return None
        try:
            ann = project.annotation(info.id)
            # A BAG-CP output holds copies of another image's targets: skip it whole.
            if not any(t.source == Source.SYNTHETIC for t in ann.targets):
                library.add_image(project.load_pixels(info.id), ann, source=info.name)
        except IMAGE_ERRORS as exc:
            library.skipped.append(f"{info.name}: {exc}")
        progress(n, len(infos))
    return library


def check_sky(project, info: ImageInfo, background_aware: bool) -> np.ndarray | None:
    """The accepted sky mask; PreviewRefused when BAG-CP would have nowhere to paste."""
    sky = project.sky_mask(info.id)
    if sky is None or (background_aware and not sky.any()):
        raise PreviewRefused(NO_SKY.format(name=info.name))
    return sky


def synthesize_preview(project, image_id: int, params: dict, seed: int, cache: LibraryCache,
                       progress: Progress, cancelled: Cancelled) -> Preview | None:  # fmt: skip
    """Worker job: library (cached), pixels, labels, then ``core.bagcp.synthesize``."""
    from core.bagcp import BagcpConfig, synthesize

    cfg = BagcpConfig(**params)
    info = project.get_image(image_id)
    ann = project.annotation(image_id)
    if ann.sky is None or (cfg.background_aware and not ann.sky.any()):
        raise PreviewRefused(NO_SKY.format(name=info.name))
    library = cache.get(project, progress, cancelled)
    if library is None:
        return None
    if len(library) == 0:
        raise PreviewRefused(
            "The target library is empty: the project has no accepted targets to copy. "
            "Label or accept some targets, then press Rebuild target library."
        )
    pixels = project.load_pixels(image_id)
    result = synthesize(pixels, ann.sky, ann.targets, library, cfg, np.random.default_rng(seed))
    return Preview(info, pixels, ann, result, seed)


def write_atomic(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, then os.replace: never a half-written image."""
    atomic_write_bytes(path, data, fsync=True)


def free_name(project, base: str) -> tuple[str, Path]:
    """``<base>_bagcp<N>`` with the smallest N free both as image name and as file."""
    folder = Path(project.root) / SYNTHETIC_DIR
    n = 1
    while True:
        name = f"{base}_bagcp{n}"
        path = folder / f"{name}.png"
        if not path.exists() and project.find_image(name) is None:
            return name, path
        n += 1


def synthetic_annotation(preview: Preview) -> ImageAnnotation:
    """Original accepted targets (fresh ids) + pasted targets (accepted), sky and extra copied."""
    ann = preview.annotation
    originals = [replace(t, id=None) for t in ann.targets if t.state == TargetState.ACCEPTED]
    pasted = [replace(t, id=None, state=TargetState.ACCEPTED, source=Source.SYNTHETIC)
              for t in preview.result.targets]  # fmt: skip
    extra = None if ann.target_mask_extra is None else ann.target_mask_extra.copy()
    sky = None if ann.sky is None else ann.sky.copy()
    return ImageAnnotation(targets=originals + pasted, sky=sky, target_mask_extra=extra)


def save_preview(project, preview: Preview) -> ImageInfo:
    """Write the synthesized image into the project folder and add it with its labels."""
    from core.store.new_image import NewImage

    name, path = free_name(project, preview.info.name)
    try:
        png = encode_png(preview.result.image)
    except ValueError as exc:
        raise PreviewRefused(str(exc)) from None
    write_atomic(path, png)
    split = Split.TRAIN if preview.info.split == Split.TRAIN else Split.UNASSIGNED
    item = NewImage(path=path, name=name, split=split, annotation=synthetic_annotation(preview),
                    status=ReviewStatus.REVIEWED)  # fmt: skip
    try:
        added = project.add_images([item])
    except BaseException:
        path.unlink(missing_ok=True)  # nothing in the project points at it: do not leave litter
        raise
    if not added:
        path.unlink(missing_ok=True)
        raise PreviewRefused(f"an image named {name!r} appeared meanwhile; press Add again")
    return added[0]


class BagcpPreviewPanel(QWidget):
    """Controls + progress; owns the current preview and at most one worker."""

    preview_ready = Signal(object)  # Preview
    image_added = Signal(object)  # ImageInfo of the new synthetic image
    library_ready = Signal(object)  # TargetLibrary, or None when the rebuild was cancelled
    task_failed = Signal(str)

    def __init__(self, window) -> None:
        super().__init__()
        self.window = window
        self.cache = LibraryCache()
        self.preview: Preview | None = None
        self.job = PanelJob(window, self, on_idle=self._end)
        self.controls = BagcpControls()
        self.progress = QProgressBar()
        self.progress.setFormat("library: %v / %m images")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop building the target library")
        self.cancel_button.clicked.connect(self.cancel)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        self._show_progress(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addLayout(row)
        self.controls.preview_requested.connect(self.run_preview)
        self.controls.add_requested.connect(self.add_to_project)
        self.controls.rebuild_requested.connect(self.rebuild_library)
        self.controls.after_toggled.connect(self.show_after)

    # ------------------------------------------------------------------ actions
    def run_preview(self) -> bool:
        """Synthesize on the current image; False (message shown) when refused."""
        project, image_id = self.window.project, self.window.current_image_id
        if project is None or image_id is None:
            return self._refuse("Open a project and an image first.")
        params, seed = self.controls.params(), self.controls.seed()
        try:  # refuse at once, before any thread, when there is no sky
            check_sky(project, project.get_image(image_id), bool(params["background_aware"]))
        except SirstError as exc:
            return self._refuse(str(exc))
        cache = self.cache

        def job(progress: Progress, cancelled: Cancelled):
            return synthesize_preview(project, image_id, params, seed, cache, progress, cancelled)

        return self._launch(job, self._on_preview, f"Synthesizing with seed {seed}…")

    def rebuild_library(self) -> bool:
        project = self.window.project
        if project is None:
            return self._refuse("Open a project first.")
        cache = self.cache

        def job(progress: Progress, cancelled: Cancelled):
            return cache.get(project, progress, cancelled, rebuild=True)

        return self._launch(job, self._on_library, "Rebuilding the target library…")

    def add_to_project(self) -> bool:
        preview, project = self.preview, self.window.project
        if preview is None or project is None:
            return self._refuse("Preview first: there is no result to add.")
        if preview.saved_as is not None:
            return self._refuse(f"This result is already in the project as {preview.saved_as}.")
        return self._launch(lambda _p, _c: save_preview(project, preview), self._on_added,
                            "Saving the synthesized image…")  # fmt: skip

    def show_after(self, after: bool) -> None:
        """Canvas shows the result (pasted targets outlined) or the original, view kept."""
        preview, canvas = self.preview, self.window.canvas
        if preview is None or canvas is None or self.window.current_image_id != preview.info.id:
            return
        canvas.set_image(preview.result.image if after else preview.original, keep_view=True)
        canvas.set_highlight_boxes(preview.pasted_boxes if after else [], PASTED_COLOR)

    # ------------------------------------------------------------------ worker plumbing
    @property
    def thread(self) -> JobThread | None:
        return self.job.thread

    def is_running(self) -> bool:
        return self.job.is_running()  # until its result is delivered, not just until run() ends

    def _refuse(self, message: str) -> bool:
        self.controls.set_message(message, error=True)
        return False

    def _launch(self, job, on_done, text: str) -> bool:
        if self.is_running():
            return self._refuse("BAG-CP is busy; wait for the current job to finish.")
        self.job.start(job, on_done, self._on_failed, self._on_progress)
        self.controls.set_busy(True)
        self.controls.set_message(text)
        self.progress.setRange(0, 0)  # busy until the library build reports its size
        self._show_progress(True)
        return True

    def cancel(self) -> None:
        self.job.cancel()

    def _show_progress(self, visible: bool) -> None:
        self.progress.setVisible(visible)
        self.cancel_button.setVisible(visible)

    def _end(self) -> None:
        """Back to idle (the job ended, failed or was stopped)."""
        self._show_progress(False)
        self.controls.set_busy(False)
        self.controls.set_result_available(
            self.preview is not None and self.preview.saved_as is None
        )

    def _on_progress(self, done: int, total: int) -> None:
        self._show_progress(True)
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _on_failed(self, message: str) -> None:
        self.controls.set_message(message, error=True)
        self.task_failed.emit(message)

    def _on_preview(self, preview: Preview | None) -> None:
        if preview is None:
            self.controls.set_message("Cancelled.")
            return
        if self.window.current_image_id != preview.info.id:
            self.controls.set_message("The image changed meanwhile; preview again.")
            return
        self.preview = preview
        self.controls.set_result_available(True)
        self._show_library_size()
        n = len(preview.result.targets)
        text = (f"Pasted {plural(n, 'target')} in {plural(len(preview.result.regions), 'region')} "
                f"(seed {preview.seed}).")  # fmt: skip
        if preview.result.message:
            text += f" {preview.result.message[0].upper()}{preview.result.message[1:]}."
        self.controls.set_message(text, error=n == 0)
        if self.controls.showing_after():
            self.show_after(True)
        else:
            self.controls.set_showing_after(True)  # toggles -> show_after(True)
        self.preview_ready.emit(preview)

    def _on_library(self, library) -> None:
        if library is None:
            self.controls.set_message("Library rebuild cancelled; the previous file is kept.")
        else:
            self._show_library_size()
            self.controls.set_message(f"Target library rebuilt: {plural(len(library), 'target')}.")
        self.library_ready.emit(library)

    def _show_library_size(self) -> None:
        library = self.cache.library
        if library is not None:
            self.controls.library_label.setText(
                f"Target library: {len(library)} targets ({LIBRARY_FILE})"
            )

    def _on_added(self, info: ImageInfo) -> None:
        self.preview.saved_as = info.name
        self.controls.set_result_available(False)
        self.controls.set_message(f"Added {info.name} with {plural(info.n_targets, 'target')}.")
        self.window.reload_images()  # the window re-lists images so the new one appears
        self.image_added.emit(info)

    # ------------------------------------------------------------------ window events
    def on_image_changed(self, image_id: int) -> None:
        """The window just showed an image's own pixels: the preview is no longer on screen."""
        if self.preview is None:
            return
        shown = self.controls.showing_after()
        if self.preview.info.id != image_id:
            self.preview = None  # first, so the toggle reset below does not redraw
            self.controls.set_result_available(False)
            if shown and self.window.canvas is not None:
                self.window.canvas.set_highlight_boxes(
                    [], PASTED_COLOR
                )  # outlines of another image
        else:
            self.controls.set_showing_after(False)

    def catch_up(self) -> None:
        """Shown again after being hidden (visits meanwhile reached nothing here): the preview
        goes when another image is open; kept, showing the original, when its image was shown
        again (the canvas dropped the pasted outlines with the preview's pixels)."""
        preview = self.preview
        if preview is None:
            return
        if self.window.current_image_id != preview.info.id:
            self.preview = None  # first, so the toggle reset below does not redraw
            self.controls.set_result_available(False)
        elif self.controls.showing_after() and self.window.canvas.image() is not preview.result.image:
            self.controls.set_showing_after(False)

    def on_project_opened(self, _project: object) -> None:
        self.job.stop()
        self.preview = None
        self.cache.invalidate()
        self.controls.set_result_available(False)
        self.controls.library_label.setText("Target library: not loaded")

    def on_project_closed(self, _project: object = None) -> None:
        """Stop the job and forget the closing project's preview, outlines and library."""
        self.job.stop()  # what the stopped job had queued is dropped
        self._end()
        if self.preview is not None and self.window.canvas is not None:
            self.window.canvas.set_highlight_boxes([], PASTED_COLOR)
        self.preview = None  # first: the toggle reset below must not redraw
        self.cache.invalidate()
        self.controls.set_result_available(False)
        self.controls.set_message("")
        self.controls.library_label.setText("Target library: not loaded")

    def shutdown(self) -> None:
        self.job.stop()


def install(window: PanelHost) -> BagcpPreviewPanel:
    """Add the BAG-CP preview dock and its Tools-menu entry."""
    panel = BagcpPreviewPanel(window)
    install_dock(window, panel, DOCK)
    # While the dock is hidden a visit does nothing here; shown again, the preview is gone.
    follow(panel, window.image_changed, panel.on_image_changed, panel.catch_up)
    window.project_opened.connect(panel.on_project_opened)
    window.project_closed.connect(panel.on_project_closed)
    return panel

"""The review queue (issue 20): "Next image" in the order of how much an image needs a human.

Each image's attention (core.attention: proposals near the operating threshold, uncertain sky,
labels the model disputes) is stored when it is pre-annotated (app.proposals) or by "Rank Images
by Attention" (from what is stored, no model run). The Review menu sorts the image list by it
(most first; the reason is in each row's tooltip) and goes to the next unreviewed image in that
order (Shift+N), which the database finds with one indexed query on any project size.
"""

from __future__ import annotations

from app.host import PanelHost
from app.jobs import PanelJob
from app.rows import Unsubscribe
from app.shortcuts import Shortcut, panel_action
from core.image_query import ImageSort
from widgets.text import plural

MENU = "&Review"
NEXT = Shortcut("next_attention", "Next Image by &Attention", ("Shift+N",), "Navigate")
SORT = Shortcut("sort_attention", "Sort the List by &Needs Attention", (), "Navigate")
RANK = Shortcut("rank_attention", "&Rank Images by Attention", (), "Navigate")


class ReviewQueue:
    """The Review menu's queue actions for one main window."""

    def __init__(self, window) -> None:
        self.window = window
        self.model = window.list_model
        menu = window.tool_menu(MENU)
        self.next_action = panel_action(window, NEXT, self.next_image)
        self.sort_action = panel_action(window, SORT, None)
        self.sort_action.setCheckable(True)
        self.sort_action.toggled.connect(self.set_sorted)
        self.rank_action = panel_action(window, RANK, self.rank)
        for action in (self.next_action, self.sort_action, self.rank_action):
            menu.addAction(action)
        menu.addSeparator()
        self.job = PanelJob(window, window)
        window.project_opened.connect(self._on_project_opened)
        window.project_closed.connect(self._on_project_closed)
        # Row changes matter only while the list is sorted by attention: listen only then.
        self._stop_listening: Unsubscribe | None = None
        window.image_list.sort_combo.currentIndexChanged.connect(self._follow_sort)
        if window.project is not None:
            self._on_project_opened(window.project)

    # ------------------------------------------------------------------ list
    def set_sorted(self, on: bool) -> None:
        """Sort the list by attention, most first (the database orders it: core.store.listing), or
        back to name order."""
        self.window.image_list.set_sort(ImageSort.ATTENTION if on else ImageSort.NAME)
        if self.sort_action.isChecked() != bool(on):
            self.sort_action.setChecked(bool(on))
        self._listen()

    def _follow_sort(self, _index: int = 0) -> None:
        """The list's own sort box may leave (or pick) the attention order: the menu follows."""
        on = self.model.query().sort == ImageSort.ATTENTION
        if self.sort_action.isChecked() != on:
            self.sort_action.blockSignals(True)
            self.sort_action.setChecked(on)
            self.sort_action.blockSignals(False)
        self._listen()

    def _listen(self) -> None:
        """Follow row changes while the list is sorted by attention, and only then (a row's
        new attention moves it; in any other order an edit has nothing here to do)."""
        on = self.model.query().sort == ImageSort.ATTENTION
        if on and self._stop_listening is None:
            self._stop_listening = self.window.rows.subscribe(self._on_annotation_changed)
        elif not on and self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None

    def reload(self) -> None:
        """New scores: the rows move when the list is sorted by them."""
        if self.window.project is not None and self.model.query().sort == ImageSort.ATTENTION:
            self.model.refresh()

    # ------------------------------------------------------------------ navigation
    def next_image(self) -> int | None:
        """Go to the next unreviewed image in attention order; returns its id."""
        project = self.window.project
        if project is None:
            self.window.show_message("Open a project first.")
            return None
        target = project.next_by_attention(self.window.current_image_id)
        if target is None:
            self.window.show_message("No unreviewed image is ranked: pre-annotate images, or use "
                                     "Review > Rank Images by Attention.", 6000)  # fmt: skip
            return None
        self.window.goto_image(target)
        entry = project.attention_of(target)
        if entry is not None:
            self.window.show_message(f"Needs attention ({entry[0]:.1f}): {entry[1] or 'nothing left'}")
        return target

    # ------------------------------------------------------------------ ranking
    def rank(self) -> bool:
        """Re-score every image with a model result from what is stored now (a background job)."""
        project = self.window.project
        if project is None:
            self.window.show_message("Open a project first.")
            return False
        if self.window.refuse_if_read_only():
            return False
        operating = float(self.window.score_threshold)
        return self.job.start(lambda progress, cancelled: project.rank_images(operating, None, progress,
                                                                              cancelled),
                              self._on_ranked, self.window.show_message, self._on_progress)  # fmt: skip

    def wait(self, timeout_ms: int = 60_000) -> None:
        """Block until a ranking finished and its result is shown (tests, scripts)."""
        self.job.wait(timeout_ms)

    def _on_progress(self, done: int, total: int) -> None:
        self.window.show_message(f"Ranking images by attention: {done} / {total}", 2000)

    def _on_ranked(self, n: int) -> None:
        self.reload()
        if n:
            self.window.show_message(f"Ranked {plural(int(n), 'image')} by attention.")
        else:
            self.window.show_message("No image has a model result to rank: pre-annotate first.")

    # ------------------------------------------------------------------ project
    def _on_project_opened(self, project) -> None:
        self._listen()
        self.reload()

    def _on_project_closed(self, _project) -> None:
        pass  # the job stops itself (PanelJob); the list resets its query

    def _on_annotation_changed(self, _image_id: int) -> None:
        self.reload()  # a pre-annotation stores the image's new attention


def install(window: PanelHost) -> ReviewQueue:
    queue = ReviewQueue(window)
    window.keep_panel("review_queue", queue)
    return queue

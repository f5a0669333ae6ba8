"""Actions on many images at once, and proposal counts that follow the score threshold.

- Images menu (and the image list's context menu): set the split or the review status of every
  selected image; split images at random 80 / 20 into train / val (the selected ones, or every
  image whose split is still unassigned, e.g. just imported). Each image's change is an undoable
  field edit on that image's own stack (``window.apply_edit``), as a single-image edit from the
  Image dock is.
- The image list and the Image dock count the proposals at or above the current score threshold
  (pre-annotation keeps up to 100 per image, so "100 proposals" everywhere said nothing).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMessageBox

from app.host import PanelHost
from app.shortcuts import Shortcut, panel_action
from core.document import field_edit
from core.domain import ReviewStatus, Split
from core.edits import ImageField
from core.errors import SirstError
from widgets.text import plural

MENU = "&Images"
TRAIN_FRACTION = 0.8
RANDOM_SPLIT = Shortcut(
    "split_random", "Split at random 80/20 into train / val...", (), "Navigate"
)


def random_split(ids: list[int], seed: int = 0, train_fraction: float = TRAIN_FRACTION):
    """(train ids, val ids): a seeded shuffle, round(fraction * n) to train (reproducible)."""
    order = sorted(int(i) for i in ids)
    perm = np.random.default_rng(seed).permutation(len(order))
    n_train = int(round(train_fraction * len(order)))
    train = sorted(order[k] for k in perm[:n_train])
    val = sorted(order[k] for k in perm[n_train:])
    return train, val


class ImageActions:
    """The menu actions and the threshold-aware counts for one main window."""

    def __init__(self, window) -> None:
        self.window = window
        self.model = window.list_model
        self.panel = window.image_panel
        self.panel.proposal_counter = self._count_for
        self.model.set_threshold(window.score_threshold)
        self.actions: list[QAction] = []
        self._build_menu()
        window.project_opened.connect(self._on_project_opened)
        window.score_threshold_changed.connect(self._on_threshold)

    # ------------------------------------------------------------------ menu
    def _build_menu(self) -> None:
        menu = self.window.tool_menu(MENU)
        split_menu = menu.addMenu("Set &split of the selected images")
        for split in Split:
            act = split_menu.addAction(split.value)
            act.triggered.connect(lambda _c=False, s=split: self.set_split(s))
        status_menu = menu.addMenu("Set s&tatus of the selected images")
        for status in ReviewStatus:
            act = status_menu.addAction(status.value)
            act.triggered.connect(lambda _c=False, s=status: self.set_status(s))
        menu.addSeparator()
        split_random = panel_action(self.window, RANDOM_SPLIT, self.split_randomly)
        menu.addAction(split_random)
        self.actions = [split_menu.menuAction(), status_menu.menuAction(), split_random]
        view = self.window.image_list.view
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        view.addActions(self.actions)

    def _targets(self) -> list[int]:
        ids = list(self.window.selected_image_ids())
        if not ids and self.window.current_image_id is not None:
            ids = [self.window.current_image_id]
        return ids

    def set_split(self, split: Split, ids: list[int] | None = None) -> int:
        return self._apply(ids, ImageField.SPLIT, split, f"split set to {split.value}")

    def set_status(self, status: ReviewStatus, ids: list[int] | None = None) -> int:
        return self._apply(ids, ImageField.STATUS, status, f"status set to {status.value}")

    def _apply(self, ids: list[int] | None, field: ImageField, value, what: str) -> int:
        project = self.window.project
        ids = self._targets() if ids is None else list(ids)
        if project is None or not ids:
            self.window.show_message("Select images in the list first.")
            return 0
        if self.window.refuse_if_read_only():
            return 0
        done = 0
        try:
            for image_id in ids:
                # the stored values, not the list's copy: another annotator may have changed
                # them, and an edit's old values must be what it replaces (team projects)
                info = project.get_image(int(image_id))
                edit = field_edit(info, field, value)
                if edit is not None:
                    self.window.apply_edit(edit)
                done += 1
        except SirstError as exc:
            self.window.show_message(f"Stopped after {plural(done, 'image')}: {exc}")
            return done
        self.window.show_message(f"{plural(done, 'image')}: {what}.")
        return done

    def split_randomly(self, confirm: bool = True) -> int:
        """80 / 20 into train / val: the selected images (two or more), else the unassigned ones."""
        project = self.window.project
        if project is None:
            self.window.show_message("Open a project first.")
            return 0
        selected = list(self.window.selected_image_ids())
        if len(selected) >= 2:
            ids, scope = selected, "selected"
        else:
            ids = [i.id for i in project.list_images(split=Split.UNASSIGNED)]
            scope = "unassigned"
        if not ids:
            self.window.show_message("No unassigned images to split (select images to re-split).")
            return 0
        train, val = random_split(ids)
        question = (f"Assign the {plural(len(ids), scope + ' image')} at random: "
                    f"{len(train)} to train, {len(val)} to val?")  # fmt: skip
        if confirm and QMessageBox.question(self.window, "Split at random", question) != (
            QMessageBox.StandardButton.Yes
        ):
            return 0
        n = self.set_split(Split.TRAIN, train) + self.set_split(Split.VAL, val)
        self.window.show_message(f"Split at random: {len(train)} train, {len(val)} val.")
        return n

    # ------------------------------------------------------------------ counts
    def _count_for(self, info) -> tuple[int, float]:
        return self.model.proposals_shown(info), self.model.threshold()

    def _on_project_opened(self, _project) -> None:
        """Counts are read with each page of the list (SQL, at the current threshold)."""
        self.model.set_threshold(self.window.score_threshold)

    def wait_loaded(self, timeout_ms: int = 30_000) -> None:
        """Block until the list's rows (and their counts) are shown (tests, scripts)."""
        del timeout_ms  # the list's query has its own bound
        self.model.sync()

    def _on_threshold(self, value: float) -> None:
        self.model.set_threshold(value)
        self.panel.refresh()


def install(window: PanelHost) -> ImageActions:
    actions = ImageActions(window)
    window.keep_panel("image_actions", actions)
    return actions

"""What a training run of the Training dock is: its command, its data plan and how a finished run
becomes a model version (Qt-free helpers of app.training_panel)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from app.model_versions import register_run
from app.train_process import TrainOptions, train_command
from core.domain import ModelVersion, ReviewStatus, Split
from core.errors import SirstError


def _same_location(a: Path | str, b: Path | str | None) -> bool:
    """One project: the same server URL, or the same folder (a server project's root is a cache)."""
    if b is None or isinstance(a, str) or isinstance(b, str):
        return a == b
    return Path(a).resolve() == Path(b).resolve()


def default_command(project_root: Path, run_dir: Path, opts: TrainOptions) -> tuple[str, list[str]]:
    # the GPU when the machine has one (each data-parallel process its own), else the CPU
    return sys.executable, [*train_command(project_root, run_dir, opts), "--device", "auto"]


def plan_training(project) -> tuple[tuple[str, ...], str]:
    """Extra train flags for this project's reviewed images, and a note for the user.

    The train CLI reads the reviewed images of the ``train`` split and validates on ``val``.
    When training is impossible the note starts with "Cannot train" and says what to do.
    """
    counts = Counter(i.split for i in project.list_images(status=ReviewStatus.REVIEWED))
    n_train, n_val = counts.get(Split.TRAIN, 0), counts.get(Split.VAL, 0)
    if n_train == 0:
        others = sum(counts.values())
        where = f" ({others} reviewed images are in other splits)" if others else ""
        return (), (
            f"Cannot train: no reviewed images in the train split{where}. Set the split of "
            "reviewed images to train (and a few to val) in the Image dock, then train again."
        )
    if n_val == 0:
        return ("--val-split", "none"), (
            f"{n_train} reviewed train images; no reviewed val images, so no validation "
            "(the last epoch's weights are kept)."
        )
    return (), f"{n_train} reviewed train images, {n_val} reviewed val images."


def register_done_run(project, event: dict, run_dir: Path, opts: TrainOptions) -> ModelVersion:
    """Add the finished run's best weights to ``project`` as a new (inactive) model version
    (app.model_versions.register_run, as `main.py train --project` does)."""
    try:
        return register_run(project, event.get("best_weights") or "", event.get("val") or {},
                            name=run_dir.name, epochs=opts.epochs, preset=opts.preset,
                            elapsed_s=event.get("elapsed_s"), parent=opts.parent_name)
    except SirstError as exc:
        raise SirstError(f"{exc} (run folder {run_dir})") from None


def reviewed_train_count(project) -> int:
    return sum(1 for i in project.list_images(status=ReviewStatus.REVIEWED) if i.split == Split.TRAIN)

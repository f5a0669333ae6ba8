"""One Project shared by a GUI-like thread and a worker thread: no lost writes, no errors."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from core.domain import ImageAnnotation, ReviewStatus, Target, TargetState
from core.store.new_image import NewImage
from core.store.project import Project
from tests._support.labels import add_target, replace_proposals, set_target_states

N_IMPORT = 40  # images the worker imports, one small batch at a time
N_EDITS = 60  # targets the "GUI" thread adds while the worker runs


def _item(i: int) -> NewImage:
    ann = ImageAnnotation(targets=[Target(point=(i % 20, 3)), Target(point=(5, 5))])
    return NewImage(
        path=f"/data/f{i}.png",
        name=f"f{i:03d}",
        annotation=ann,
        status=ReviewStatus.REVIEWED,
        header=SimpleNamespace(width=32, height=24, bit_depth=8, channels=1),
        sha256=str(i),
    )


def test_two_threads_share_one_project(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with Project.create(tmp_path / "p") as project:
        gui_image = project.add_images([_item(999)])[0].id
        start = threading.Barrier(2)

        def worker() -> None:  # e.g. an importer or pre-annotation job
            try:
                start.wait()
                for i in range(0, N_IMPORT, 2):
                    project.add_images([_item(i), _item(i + 1)])
                    replace_proposals(project,
                        gui_image, [Target(point=(1, 1))], np.ones((24, 32), bool)
                    )
            except BaseException as exc:  # reported to the main thread below
                errors.append(exc)

        def gui() -> None:  # edits and listings interleaved with the worker's writes
            try:
                start.wait()
                for k in range(N_EDITS):
                    t = add_target(project, gui_image, Target(point=(k % 30, 7)))
                    set_target_states(project, gui_image, [t.id], TargetState.ACCEPTED)
                    if k % 10 == 0:
                        assert len(project.list_images()) >= 1
                        project.annotation(gui_image)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker), threading.Thread(target=gui)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        infos = {i.name: i for i in project.list_images()}
        assert len(infos) == N_IMPORT + 1
        assert infos["f999"].n_targets == 2 + N_EDITS
        assert infos["f999"].n_proposals == 1  # each replace_proposals swapped the previous one
        assert sum(i.n_targets for i in infos.values()) == 2 * (N_IMPORT + 1) + N_EDITS

"""The GUI's batch pre-annotation runs the ``predict`` command's pipeline (model.pipeline, issue 13):
the same proposals as ``main.py predict`` writes, cancel keeps what is done, a corrupt file is
reported and skipped, and each image's result is an undo step of that image only."""

from __future__ import annotations

import csv
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app import preannotate_panel
from core.domain import ReviewStatus, TargetState
from tests.gui.test_app_edit_undo import snapshot
from tests.gui.test_preannotate_support import FakePredictor, dock_setup

pytestmark = pytest.mark.timeout(180)
WAIT_MS = 60_000
PROPOSAL = TargetState.PROPOSAL


class CountingPredictor(FakePredictor):
    """Counts the images that entered the network (the one at the gate included)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.entries = 0

    def run_network(self, gray):
        self.entries += 1
        return super().run_network(gray)


@pytest.fixture
def fake_window(qtbot, tmp_path):
    """(window, panel, project, ids, predictors made, factory): five new images, a fake model."""
    yield from dock_setup(qtbot, tmp_path, 5, CountingPredictor)


def _untouched(project, image_id: int) -> bool:
    return (project.targets(image_id) == [] and project.sky_mask(image_id, state=PROPOSAL) is None
            and project.get_image(image_id).status == ReviewStatus.NEW)  # fmt: skip


def test_cancel_mid_batch_keeps_finished_images_and_leaves_the_rest(qtbot, fake_window):
    window, panel, project, ids, made, factory = fake_window
    gate = threading.Event()
    factory.kwargs = {"gate": gate, "one_shot": True}  # one image through the network per set()
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.controller.start(ids)
        for k in (1, 2):  # images 1 and 2 through; then image k + 1 waits at the gate
            qtbot.waitUntil(lambda k=k: bool(made) and made[0].entries == k, timeout=WAIT_MS)
            gate.set()
        qtbot.waitUntil(lambda: made[0].entries == 3, timeout=WAIT_MS)
        qtbot.mouseClick(panel.cancel_button, preannotate_panel.Qt.MouseButton.LeftButton)
        gate.set()  # image 3 was already in the network: it completes and is stored
    summary = ended.args[0]
    assert summary.cancelled and summary.done == ids[:3] and summary.untouched == 2
    for i, image_id in enumerate(ids[:3]):
        best = max(project.targets(image_id, state=PROPOSAL), key=lambda t: t.score)
        assert best.point == (20 + 2 * i + 0.5, 10 + i + 0.5)  # write_images' bright pixel
        assert project.get_image(image_id).status == ReviewStatus.PRE_ANNOTATED
    assert all(_untouched(project, i) for i in ids[3:])
    assert made[0].calls == 3  # images 4 and 5 never reached the network
    assert "cancelled, 2 left untouched" in panel.status.text()


def test_a_corrupt_file_is_reported_in_the_panel_and_the_rest_finish(qtbot, fake_window):
    window, panel, project, ids, made, _ = fake_window
    bad = project.resolve_path(project.get_image(ids[1]))
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20)  # a PNG signature, no image
    with qtbot.waitSignal(panel.controller.run_ended, timeout=WAIT_MS) as ended:
        assert panel.run_unreviewed()
    summary = ended.args[0]
    assert summary.done == [ids[0], *ids[2:]] and list(summary.failed) == [ids[1]]
    assert panel.failures.count() == 1 and panel.failures.isVisibleTo(panel)
    item = panel.failures.item(0)
    assert bad.name in item.text()
    assert item.data(preannotate_panel.Qt.ItemDataRole.UserRole) == ids[1]
    assert "Traceback" not in item.text()
    assert _untouched(project, ids[1])
    assert all(len(project.targets(i, state=PROPOSAL)) == 2 for i in summary.done)
    assert made[0].calls == 4  # the corrupt file never reached the network
    assert "Pre-annotated 4 of 5" in panel.status.text() and "1 failed" in panel.status.text()


def test_undo_of_one_images_preannotation_restores_only_that_image(main_window, qtbot, app_project_dir):
    w = main_window
    infos = w.project.list_images()
    a, b, c = infos[-2].id, infos[-1].id, infos[4].id  # two new images and a reviewed one
    w.goto_image(a)
    ctl = preannotate_panel.PreannotateController(w, lambda _weights: FakePredictor())
    before = {row[0]: row for row in snapshot(app_project_dir)}
    with qtbot.waitSignal(ctl.run_ended, timeout=WAIT_MS) as ended:
        assert ctl.start([a, b, c])
    assert ended.args[0].done == [a, b, c]
    after = {row[0]: row for row in snapshot(app_project_dir)}
    assert all(after[i] != before[i] for i in (a, b, c))
    assert [w.undo_stacks.stack(i).count() for i in (a, b, c)] == [1, 1, 1]
    w.undo_stacks.stack(b).undo()  # b is not the open image
    now = {row[0]: row for row in snapshot(app_project_dir)}
    assert now[b] == before[b]  # b's earlier labels (none proposed, status new) are back
    assert now[a] == after[a] and now[c] == after[c]  # the others keep their proposals
    assert all(now[i] == before[i] for i in before if i not in (a, b, c))
    assert w.list_model.info(b).n_proposals == 0 and w.list_model.info(b).status == ReviewStatus.NEW
    assert w.list_model.info(a).n_proposals == 2
    ctl.shutdown()


# ---------------------------------------------------------------- the real model against the CLI
def _detections(csv_path: Path) -> dict[str, list[tuple[list[float], float]]]:
    out: dict[str, list] = {}
    with csv_path.open() as f:
        for row in csv.DictReader(f):
            box = [float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
            out.setdefault(row["image_id"], []).append((box, float(row["score"])))
    return out


@pytest.mark.slow
def test_gui_batch_stores_what_the_predict_command_writes(qtbot, main_window, tmp_path):
    """Same images, same (shipped) weights, one thread each: the DB rows of the GUI run equal
    ``main.py predict``'s detections.csv (boxes to its 2 decimals, scores to its 5) and its sky
    mask PNGs pixel for pixel."""
    import cv2

    from app.cli import main as cli_main
    from model.inference import Predictor

    w = main_window
    infos = [i for i in w.project.list_images()][-3:]  # demo-10 (reviewed), demo-11, demo-12 (new)
    folder = tmp_path / "images"
    folder.mkdir()
    for info in infos:
        src = w.project.resolve_path(info)
        shutil.copy2(src, folder / f"{info.name}{src.suffix}")
    assert cli_main(["predict", str(folder), str(tmp_path / "out"), "--threads", "1"]) == 0
    expected = _detections(tmp_path / "out" / "detections.csv")
    assert sum(map(len, expected.values())) > 0  # the shipped model finds the demo's targets

    w.goto_image(infos[0].id)  # the open image's pixels are handed to the run (no second decode)
    ctl = preannotate_panel.PreannotateController(w, lambda weights: Predictor(weights, threads=1))
    with qtbot.waitSignal(ctl.run_ended, timeout=WAIT_MS * 3) as ended:
        assert ctl.start([i.id for i in infos])
    assert ended.args[0].done == [i.id for i in infos] and not ended.args[0].failed
    dropped = {}
    for info in infos:
        stored = sorted(w.project.targets(info.id, state=PROPOSAL), key=lambda t: -t.score)
        # Detections on a hand label are not proposed again (README, "accepting never duplicates")
        accepted = [t.box for t in w.project.targets(info.id, state=TargetState.ACCEPTED)]
        rows = [r for r in expected.get(info.name, []) if not _on_a_label(r[0], accepted)]
        dropped[info.name] = len(expected.get(info.name, [])) - len(rows)
        assert len(stored) == len(rows), info.name
        for t, (box, score) in zip(stored, rows, strict=True):
            np.testing.assert_allclose(t.box, box, atol=0.006)
            assert t.score == pytest.approx(score, abs=6e-6)
            assert t.point == pytest.approx(((box[0] + box[2]) / 2 - 0.5, (box[1] + box[3]) / 2 - 0.5), abs=0.01)
        png = tmp_path / "out" / "SkySeg" / "BinaryMask" / f"{info.name}_pixels0.png"
        cli_sky = cv2.imread(str(png), cv2.IMREAD_UNCHANGED) == 255
        np.testing.assert_array_equal(w.project.sky_mask(info.id, state=PROPOSAL), cli_sky)
    assert dropped["demo-10"] > 0 and dropped["demo-11"] == dropped["demo-12"] == 0  # new: none
    ctl.shutdown()


def _on_a_label(box, labels) -> bool:
    """Centres closer than 2 px or IoU >= 0.3 with one of the ``labels`` boxes (worked out here,
    independently of core/duplicates.py)."""
    for lab in labels:
        dx = (box[0] + box[2] - lab[0] - lab[2]) / 2
        dy = (box[1] + box[3] - lab[1] - lab[3]) / 2
        iw = max(0.0, min(box[2], lab[2]) - max(box[0], lab[0]))
        ih = max(0.0, min(box[3], lab[3]) - max(box[1], lab[1]))
        union = (box[2] - box[0]) * (box[3] - box[1]) + (lab[2] - lab[0]) * (lab[3] - lab[1]) - iw * ih
        if (dx * dx + dy * dy) ** 0.5 < 2 or iw * ih / union >= 0.3:
            return True
    return False

"""The review queue and the label-noise finder in the real MainWindow: the list's "needs attention"
sort and Shift+N against the image_attention rows, the one-key answers against project.sqlite
(read with sqlite3)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app import noise_panel, review_queue
from core.document import field_edit
from core.domain import ReviewStatus, Source, Target, TargetState
from core.edits import ImageField
from core.image_query import ImageSort
from tests._support.labels import add_target, delete_targets, set_sky_mask, set_status
from tests.gui.test_inspector_support import write_png

pytestmark = pytest.mark.timeout(120)
N = 6


def sql(path, query: str, *args) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def scene(project, image_id: int, k: int) -> list[Target]:
    """Image k: three labels; proposals confirming label 1, scoring label 2 at 0.08, one unlabelled
    0.7 detection and k proposals near the 0.5 threshold; skies differing on rows 40-49."""
    for x, y in ((10, 10), (30, 30), (50, 50)):
        add_target(project, image_id, Target(box=(x, y, x + 4, y + 4)))
    sky = np.zeros((100, 100), bool)
    sky[:40] = True
    set_sky_mask(project, image_id, sky)
    spec = [(11, 10, 0.9), (30, 32, 0.08), (78, 78, 0.7)] + [(60 + 5 * j, 90, 0.45) for j in range(k)]
    props = [Target(box=(x, y, x + 4, y + 4), source=Source.MODEL, score=s, state=TargetState.PROPOSAL)
             for x, y, s in spec]  # fmt: skip
    proposed = sky.copy()
    proposed[40:50] = True
    project.propose(image_id, props, proposed)  # the 0.9 one duplicates label 1: not stored
    return props


@pytest.fixture
def window(qtbot, tmp_path):
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from core.store.new_image import NewImage
    from core.store.project import Project

    project = Project.create(tmp_path / "proj")
    img = np.full((100, 100), 50, np.uint8)
    infos = project.add_images([NewImage(path=write_png(tmp_path / "img" / f"im{k}.png", img))
                                for k in range(N)])  # fmt: skip
    ids = [i.id for i in infos]
    for k, image_id in enumerate(ids[:-1]):  # the last image is never pre-annotated
        props = scene(project, image_id, (3 * k) % 5)  # near-threshold counts 0 3 1 4 2: shuffled
        project.record_attention(image_id, operating=0.5, sky_uncertain=None)
        assert len(props) == 3 + (3 * k) % 5
    create_application(exception_hook=False)
    win = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.set_score_threshold(0.5)
    win.set_project(project)
    queue, noise = review_queue.install(win), noise_panel.install(win)
    yield win, queue, noise, ids
    win.close()


def test_sort_by_needs_attention_follows_the_rows(window) -> None:
    win, queue, _, ids = window
    path = win.project.db_path
    stored = sql(path, "SELECT image_id, score, reason FROM image_attention ORDER BY score DESC, image_id")
    assert len(stored) == N - 1 and len({s for _, s, _ in stored}) == N - 1
    win.actions_by_id["sort_attention"].trigger()
    assert win.image_list.visible_ids() == [i for i, _, _ in stored] + [ids[-1]]  # unranked last
    model = win.list_model
    for row, (_id, score, reason) in enumerate(stored):
        tip = model.data(model.index(row), Qt.ItemDataRole.ToolTipRole)
        assert f"Needs attention {score:.1f}: {reason}" in tip
    assert "4 proposals near threshold" in stored[0][2]
    win.actions_by_id["sort_attention"].trigger()  # off: the project order again
    assert win.image_list.visible_ids() == ids


def test_next_by_attention_walks_the_unreviewed_rows(window) -> None:
    win, _, _, ids = window
    path = win.project.db_path
    set_status(win.project, ids[1], ReviewStatus.REVIEWED)
    expected = [r[0] for r in sql(path, "SELECT a.image_id FROM image_attention a JOIN images i ON "
                                  "i.id = a.image_id WHERE i.status != 'reviewed' "
                                  "ORDER BY a.score DESC, a.image_id")]  # fmt: skip
    assert ids[1] not in expected and len(expected) == N - 2
    seen = []
    for _ in expected:
        win.actions_by_id["next_attention"].trigger()
        seen.append(win.current_image_id)
    assert seen == expected


def test_rank_images_rescores_from_the_stored_labels(window) -> None:
    win, queue, _, ids = window
    delete_targets(win.project, ids[0], [t.id for t in win.project.targets(ids[0], TargetState.ACCEPTED)])
    win.actions_by_id["rank_attention"].trigger()
    queue.wait()
    # no target labels left on image 0: no target disputes, no near-threshold proposals (k = 0);
    # the sky band still disputed: 1 region + 10 % / 5 %
    assert sql(win.project.db_path, "SELECT score, reason FROM image_attention WHERE image_id = ?",
               ids[0]) == [(3.0, "sky disputed 10 %")]  # fmt: skip
    row = win.list_model.row_of(ids[0])
    tip = win.list_model.data(win.list_model.index(row), Qt.ItemDataRole.ToolTipRole)
    assert "Needs attention 3.0: sky disputed 10 %" in tip


def test_noise_queue_one_key_answers_change_the_rows(qtbot, window) -> None:
    win, _, noise, ids = window
    path = win.project.db_path
    for image_id in ids[:2]:  # as the Image dock does: an undoable edit through the window
        win.apply_edit(field_edit(win.project.get_image(image_id), ImageField.STATUS,
                                  ReviewStatus.REVIEWED))  # fmt: skip
    win.actions_by_id["noise_find"].trigger()
    noise.wait()
    # per reviewed image: label 3 (nothing near), the sky band, label 2 (0.08), the 0.7 detection
    assert noise.queue.count() == 8
    first = noise.current()
    assert first.image_id == ids[0] and first.dispute.key == "doubtful:52:52"
    assert win.current_image_id == ids[0]
    win.actions_by_id["noise_keep"].trigger()  # K
    assert sql(path, "SELECT image_id, key, verdict FROM label_verdicts") == [
        (ids[0], "doubtful:52:52", "kept")]
    assert noise.current().dispute.kind.value == "sky"
    win.actions_by_id["noise_take_model"].trigger()  # M: the model's sky
    (blob,) = sql(path, "SELECT mask_png FROM regions WHERE image_id = ? AND state = 'accepted'", ids[0])[0]
    from core.store.db import decode_mask

    assert decode_mask(blob)[:50].all() and not decode_mask(blob)[50:].any()
    doubtful = noise.current().dispute
    assert doubtful.key == "doubtful:32:32"
    win.actions_by_id["noise_take_model"].trigger()  # M: the label is deleted
    assert sql(path, "SELECT count(*) FROM targets WHERE id = ?", doubtful.target_id) == [(0,)]
    win.actions_by_id["noise_second_look"].trigger()  # Shift+M on the 0.7 detection
    assert sql(path, "SELECT note FROM images WHERE id = ?", ids[0]) == [
        ("second look: detection 0.70 with no label at 80:80",)]
    assert ("second-look",) in sql(path, "SELECT verdict FROM label_verdicts")
    win.undo_stacks.stack(ids[0]).undo()  # the note edit is undoable like any other
    assert sql(path, "SELECT note FROM images WHERE id = ?", ids[0]) == [("",)]
    assert noise.queue.count() == 4 and noise.current().image_id == ids[1]
    # a new scan does not show the kept label again, nor what was answered
    win.actions_by_id["noise_find"].trigger()
    noise.wait()
    assert [q.image_id for q in noise.items] == [ids[1]] * 4


def test_preannotation_scores_every_image_and_the_list_follows(qtbot, tmp_path) -> None:
    """A batch pre-annotation in the real window: each image gets its image_attention row (the
    Prediction's operating threshold, its uncertain sky) and the list's sort key follows."""
    from app import preannotate_panel
    from app.application import create_application
    from app.main_window import MainWindow
    from app.settings import AppSettings
    from tests.gui.test_preannotate_support import FakePredictor, make_project

    project, ids = make_project(tmp_path, 3)
    create_application(exception_hook=False)
    win = MainWindow(AppSettings(), install_panels=False)
    qtbot.addWidget(win)
    win.set_project(project)
    review_queue.install(win)
    preannotate_panel.install(win, predictor_factory=lambda weights: FakePredictor(weights))
    panel = win.findChild(preannotate_panel.PreannotatePanel)
    model = win.list_model
    tips = [model.data(model.index(r), Qt.ItemDataRole.ToolTipRole) for r in range(3)]
    assert not any("Needs attention" in t for t in tips)  # unranked
    with qtbot.waitSignal(panel.controller.run_ended, timeout=20_000):
        assert panel.run_unreviewed()
    stored = sql(project.db_path, "SELECT image_id, score, sky_uncertain, operating FROM image_attention "
                 "ORDER BY image_id")  # fmt: skip
    # FakePredictor: scores 0.9 and 0.1 (neither within 0.15 of 0.5), a sky logit of +-8 (certain)
    assert stored == [(i, 0.0, 0.0, 0.5) for i in ids]
    win.image_list.set_sort(ImageSort.ATTENTION)  # the list sorts by the stored scores (all 0)
    win.image_list.sync()
    assert win.image_list.visible_ids() == ids
    tips = [model.data(model.index(r), Qt.ItemDataRole.ToolTipRole) for r in range(3)]
    assert all("Needs attention 0.0: nothing left to check" in t for t in tips)
    panel.controller.shutdown(5000)
    win.close()

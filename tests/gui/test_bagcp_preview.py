"""BAG-CP preview dock on a small real project (core.bagcp + core.target_library, no fakes).

Project: "sky16" is 16-bit 80x96, sky = rows 0-47 (no targets there), three accepted 3x3 targets
low in the non-sky part (the library's source); "nosky" is 8-bit with a target but no sky mask.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from app import bagcp_preview
from core.domain import ImageAnnotation, ReviewStatus, Source, Split, Target
from tests.gui.test_inspector_support import PanelWindow, write_png

pytestmark = pytest.mark.timeout(60)


def _project(root):
    from core.store.new_image import NewImage
    from core.store.project import Project

    rng = np.random.default_rng(1)
    img = rng.integers(20000, 20400, size=(80, 96)).astype(np.uint16)
    targets = []
    for x in (10, 40, 70):
        img[60:63, x : x + 3] = 30000
        targets.append(Target(point=(x + 1.5, 61.5), box=(x, 60, x + 3, 63)))
    sky = np.zeros((80, 96), dtype=bool)
    sky[:48] = True
    flat = np.full((40, 40), 50, np.uint8)
    flat[10:13, 10:13] = 200
    project = Project.create(root / "proj")
    infos = project.add_images([
        NewImage(path=write_png(root / "img" / "sky16.png", img), split=Split.VAL,
                 annotation=ImageAnnotation(targets=targets, sky=sky), status=ReviewStatus.REVIEWED),
        NewImage(path=write_png(root / "img" / "nosky.png", flat),
                 annotation=ImageAnnotation(targets=[Target(point=(11.5, 11.5), box=(10, 10, 13, 13))])),
    ])  # fmt: skip
    return project, [i.id for i in infos], img, sky


@pytest.fixture
def setup(qtbot, tmp_path):
    project, ids, img, sky = _project(tmp_path)
    win = PanelWindow(project)
    qtbot.addWidget(win)
    panel = bagcp_preview.install(win)
    panel.controls.set_params({"n_regions": (1, 1), "per_region": (8, 8)})
    panel.controls.set_seed(7)
    win.goto_image(ids[0])
    yield win, panel, ids, img, sky
    panel.shutdown()
    project.close()


def _preview(qtbot, panel):
    with qtbot.waitSignal(panel.preview_ready, timeout=30_000) as blocker:
        assert panel.run_preview()
    return blocker.args[0]


def test_refuses_on_an_image_without_sky(qtbot, setup) -> None:
    win, panel, ids, _, _ = setup
    win.goto_image(ids[1])
    assert not panel.run_preview()
    text = panel.controls.message.text()
    assert "nosky has no sky mask" in text and "Draw the sky first" in text
    assert panel.thread is None and win.canvas.images == []


def test_preview_outlines_exactly_where_it_pasted(qtbot, setup) -> None:
    win, panel, ids, img, sky = setup
    preview = _preview(qtbot, panel)
    pasted = preview.result.targets
    assert len(pasted) == 8
    shown, keep_view = win.canvas.images[-1]
    assert keep_view and shown.dtype == np.uint16
    boxes, color = win.canvas.highlights[-1]
    assert boxes == [t.box for t in pasted] and color == bagcp_preview.PASTED_COLOR
    inside = np.zeros(img.shape, dtype=bool)
    for x0, y0, x1, y1 in boxes:
        assert sky[int(y0) : int(y1), int(x0) : int(x1)].all()  # only into sky
        assert (
            shown[int(y0) : int(y1), int(x0) : int(x1)] != img[int(y0) : int(y1), int(x0) : int(x1)]
        ).any()
        inside[int(y0) : int(y1), int(x0) : int(x1)] = True
    assert np.array_equal(shown[~inside], img[~inside])  # nothing changed outside the outlines
    # before / after toggle: the original comes back with no outlines, the view kept
    panel.controls.set_showing_after(False)
    before, keep_view = win.canvas.images[-1]
    assert keep_view and np.array_equal(before, img) and win.canvas.highlights[-1][0] == []
    assert "Pasted 8 targets in 1 region (seed 7)" in panel.controls.message.text()


def test_same_seed_same_result_and_library_cached(qtbot, setup, monkeypatch) -> None:
    win, panel, ids, _, _ = setup
    first = _preview(qtbot, panel)
    lib_file = win.project.root / bagcp_preview.LIBRARY_FILE
    assert lib_file.is_file() and len(panel.cache.library) == 4  # 3 + the nosky target
    builds: list[int] = []
    real_build = bagcp_preview.build_library
    monkeypatch.setattr(
        bagcp_preview, "build_library", lambda *a: builds.append(1) or real_build(*a)
    )
    again = _preview(qtbot, panel)
    assert np.array_equal(first.result.image, again.result.image) and builds == []
    panel.cache.invalidate()  # a new session reads the .npz instead of rebuilding
    _preview(qtbot, panel)
    assert builds == []


def test_add_to_project_adds_n_plus_k_targets_at_16_bit(qtbot, setup) -> None:
    win, panel, ids, _, sky = setup
    preview = _preview(qtbot, panel)
    with qtbot.waitSignal(panel.image_added, timeout=30_000) as blocker:
        assert panel.add_to_project()
    info = blocker.args[0]
    project = win.project
    assert info.name == "sky16_bagcp1" and info.n_targets == 3 + 8
    path = project.root / "synthetic" / "sky16_bagcp1.png"
    assert project.resolve_path(project.get_image(info.id)).resolve() == path.resolve()
    saved = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert saved.dtype == np.uint16 and np.array_equal(saved, preview.result.image)
    targets = project.targets(info.id)
    assert len(targets) == 11
    assert sum(t.source == Source.SYNTHETIC for t in targets) == 8
    assert np.array_equal(project.sky_mask(info.id), sky)
    assert project.get_image(info.id).split == Split.UNASSIGNED  # source is val: no leak
    assert project.get_image(info.id).status == ReviewStatus.REVIEWED
    assert not panel.add_to_project()  # the same result is not added twice
    assert "already in the project as sky16_bagcp1" in panel.controls.message.text()
    # a second result gets the next free number
    _preview(qtbot, panel)
    with qtbot.waitSignal(panel.image_added, timeout=30_000) as blocker:
        panel.add_to_project()
    assert blocker.args[0].name == "sky16_bagcp2"
    assert not list((project.root / "synthetic").glob("*.tmp"))
    # synthetic targets never feed the library back
    with qtbot.waitSignal(panel.library_ready, timeout=30_000) as blocker:
        assert panel.rebuild_library()
    assert len(blocker.args[0]) == 4


def test_empty_library_explains(qtbot, tmp_path) -> None:
    from core.store.new_image import NewImage
    from core.store.project import Project

    img = np.full((40, 40), 30, np.uint8)
    sky = np.ones((40, 40), dtype=bool)
    project = Project.create(tmp_path / "p")
    (info,) = project.add_images([NewImage(path=write_png(tmp_path / "a.png", img),
                                           annotation=ImageAnnotation(sky=sky))])  # fmt: skip
    win = PanelWindow(project)
    qtbot.addWidget(win)
    panel = bagcp_preview.install(win)
    win.goto_image(info.id)
    with qtbot.waitSignal(panel.task_failed, timeout=30_000) as blocker:
        assert panel.run_preview()
    assert "target library is empty" in blocker.args[0]
    assert "Rebuild target library" in panel.controls.message.text()
    project.close()


def test_library_rebuild_cancelled_mid_run_keeps_the_old_file(qtbot, setup, monkeypatch) -> None:
    win, panel, ids, _, _ = setup
    _preview(qtbot, panel)
    lib_file = win.project.root / bagcp_preview.LIBRARY_FILE
    before = lib_file.read_bytes()
    entered, release = threading.Event(), threading.Event()
    real = win.project.load_pixels

    def slow(image_id: int):
        entered.set()
        release.wait(10)
        return real(image_id)

    monkeypatch.setattr(win.project, "load_pixels", slow)
    with qtbot.waitSignal(panel.library_ready, timeout=30_000) as blocker:
        assert panel.rebuild_library()
        assert entered.wait(10)
        assert not panel.cancel_button.isHidden()
        panel.cancel_button.click()
        release.set()
    assert blocker.args[0] is None
    assert "cancelled" in panel.controls.message.text()
    assert lib_file.read_bytes() == before

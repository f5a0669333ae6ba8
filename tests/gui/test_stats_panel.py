"""Dataset statistics dock: counts shown match the hand-made scene; cancel keeps partial stats."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app import stats_panel
from tests.gui.test_inspector_support import PanelWindow, scene_project
from widgets.stats_view import StatsView, histogram

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def window(qtbot, tmp_path):
    project, ids = scene_project(tmp_path, with_proposals=False, extra_no_sky=True)
    win = PanelWindow(project)
    qtbot.addWidget(win)
    yield win, ids
    project.close()


def _histogram_dict(view: StatsView, key: str) -> dict[float, int]:
    edges, counts = view.histogram(key)
    centers = (edges[:-1] + edges[1:]) / 2
    return {float(c): int(n) for c, n in zip(centers, counts, strict=True) if n}


def test_install_adds_a_hidden_dock_and_a_menu_toggle(window) -> None:
    win, _ = window
    panel = stats_panel.install(win)
    assert win.dock_widget(stats_panel.DOCK_NAME) is panel
    assert "Dataset Statistics" in win.menu_actions(stats_panel.MENU)


def test_view_shows_the_right_counts(qtbot, window) -> None:
    win, _ = window
    panel = stats_panel.install(win)
    with qtbot.waitSignal(panel.stats_ready, timeout=20_000) as blocker:
        assert panel.compute()
    result = blocker.args[0]
    assert not result.cancelled and not result.failed
    view = panel.view
    # scene: two 2x2 targets; second image: one 2x2 target, no sky mask
    assert _histogram_dict(view, "width") == {2.0: 3}
    assert _histogram_dict(view, "targets_per_image") == {1.0: 1, 2.0: 1}
    assert sum(view.histogram("sky_fraction")[1]) == 1  # only the scene has a sky mask
    assert _histogram_dict(view, "sky_fraction") == {0.55: 1}  # 0.5 falls in the [0.5, 0.6) bin
    contrast = sorted(result.stats.contrast)
    assert contrast == pytest.approx([20.0, 25.0, 50.0])  # flat image: (90-40)/1 (std floor)
    ranks = np.array(result.stats.rank)
    assert ranks.tolist() == pytest.approx([1.0, 0.0, 0.0])
    pairs, counts = view.size_counts()
    assert pairs.tolist() == [[2.0, 2.0]] and counts.tolist() == [3]
    assert "2 images, 3 targets, 1 image without a sky mask" in view.summary.text()
    assert "67% of targets are their image's brightest pixel" in view.summary.text()


def test_cancel_mid_run_keeps_partial_statistics(qtbot, window, monkeypatch) -> None:
    win, ids = window
    panel = stats_panel.install(win)
    project = win.project
    original = project.load_pixels
    entered, release = threading.Event(), threading.Event()

    def slow_load(image_id: int):
        if image_id == ids[0]:
            entered.set()
            release.wait(10)
        return original(image_id)

    monkeypatch.setattr(project, "load_pixels", slow_load)
    with qtbot.waitSignal(panel.stats_ready, timeout=20_000) as blocker:
        assert panel.compute()
        assert not panel.compute()  # a second run is refused while one is going
        assert entered.wait(10)
        panel.cancel()
        release.set()
    result = blocker.args[0]
    # the image in progress finishes, nothing after it starts
    assert result.cancelled and result.stats.n_images == 1
    assert "(cancelled after 1 of 2)" in panel.view.summary.text()
    assert panel.cancel_button.isEnabled() is False
    assert panel.compute_button.isEnabled()


def test_unreadable_image_is_skipped_and_reported(qtbot, window) -> None:
    win, ids = window
    (win.project.resolve_path(win.project.get_image(ids[1]))).unlink()
    panel = stats_panel.install(win)
    with qtbot.waitSignal(panel.stats_ready, timeout=20_000) as blocker:
        panel.compute()
    result = blocker.args[0]
    assert list(result.failed) == [ids[1]]
    assert "1 unreadable image skipped" in panel.view.summary.text()


def test_compute_without_project_or_images_explains(qtbot) -> None:
    win = PanelWindow(None)
    qtbot.addWidget(win)
    panel = stats_panel.install(win)
    assert not panel.compute()
    assert "Open a project first" in panel.status.text()


def test_histogram_binning_rules() -> None:
    edges, counts = histogram(np.array([3, 3, 4, 7]), "int")
    assert edges[0] == 2.5 and edges[-1] == 7.5 and counts.tolist() == [2, 1, 0, 0, 1]
    edges, counts = histogram(np.array([0.0, 100.0, np.nan]), ("fixed", 0.0, 100.0, 20))
    assert counts.sum() == 2 and counts[0] == 1 and counts[-1] == 1
    edges, counts = histogram(np.array([]), "auto")
    assert counts.tolist() == [0]

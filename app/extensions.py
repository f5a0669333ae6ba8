"""Feature panels that plug into the main window (model in the loop, BAG-CP preview, inspection).

Each listed module exposes ``install(window) -> None``, which adds its menus, docks and shortcuts
through the MainWindow API (see docs/architecture.md, "MainWindow API"). Keeping them out of
main_window.py keeps that file a wiring table instead of a 3,000-line god object.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

PANELS = [
    "app.preannotate_panel",
    "app.training_panel",
    "app.bagcp_preview",
    "app.inspector_panel",
    "app.model_warmup",  # after the panels whose runs use the kept model
    "app.stats_panel",
    "app.image_actions",
    "app.project_gating",  # after every panel: greys what needs a project while none is open
    "app.screen_probe",  # no-op unless SIRST_SCREEN_PROBE is set (screen-level tests)
    "app.team_panel",
    "app.review_keys",  # review keys, zoom / hide keys, single keys wherever focus is
    "app.object_list_panel",
    "app.navigator_panel",
    "app.review_queue",  # issue 20: Next image by attention, the list's "needs attention" sort
    "app.noise_panel",  # issue 20: the label-noise finder
]


def install_all(window) -> list[str]:
    """Install every available panel; returns the names installed."""
    installed = []
    for name in PANELS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # panel not part of this build
            raise
        module.install(window)
        installed.append(name)
    return installed

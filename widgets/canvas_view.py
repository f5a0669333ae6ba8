"""Keyboard view control of the canvas: reveal one target, zoom steps, 1:1, hide targets/proposals.

A mixin of ``IRCanvas`` (widgets/canvas.py), like the input and display mixins. ``reveal`` is the
one "select this object and show it" call of the app: the keyboard review flow and any list of the
image's objects use it.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from widgets.canvas_hit import MAX_ZOOM, MIN_ZOOM

ZOOM_STEP = 1.5  # one + / - key press
REVEAL_ZOOM = 6.0  # a revealed target is shown at least this large (screen px per image px)


class CanvasViewMixin:
    """Needs ``viewbox``, ``targets_item``, ``zoom()``, ``center_on()``, ``select()``, ``view``."""

    def reveal(self, target_id: int, min_zoom: float = REVEAL_ZOOM) -> bool:
        """Select only ``target_id`` and centre the view on it, zooming in to at least
        ``min_zoom`` (a zoom already closer is kept). False when it is not shown (unknown id,
        below the score threshold or hidden)."""
        target = self.targets_item.target(int(target_id))
        if target is None or int(target_id) not in self.targets_item.visible_ids():
            return False
        self.select([int(target_id)])
        if target.box is not None:  # the box centre, else the labelled pixel's centre
            x, y = (target.box[0] + target.box[2]) / 2, (target.box[1] + target.box[3]) / 2
        else:
            x, y = target.point[0] + 0.5, target.point[1] + 0.5
        self.center_on(x, y, max(self.zoom(), float(min_zoom)))
        return True

    def zoom_by(self, factor: float) -> None:
        """Zoom about the centre of the view (the + and - keys)."""
        z = self.zoom()
        target = float(np.clip(z * float(factor), MIN_ZOOM, MAX_ZOOM))
        if self.image() is None or target == z:
            return
        c = self.viewbox.viewRect().center()
        s = z / target
        self.viewbox.scaleBy((s, s), center=pg.Point(c.x(), c.y()))

    def zoom_actual(self) -> None:
        """One image pixel per screen pixel, about the centre of the view."""
        if self.image() is not None:
            c = self.viewbox.viewRect().center()
            self.center_on(c.x(), c.y(), 1.0)

    def set_kinds_visible(self, accepted: bool, proposals: bool) -> None:
        """Show or hide all accepted targets / all proposals (hidden ones cannot be picked)."""
        before = self.targets_item.selected_ids()
        self.targets_item.set_kinds_visible(accepted, proposals)
        self._selection_maybe_changed(before)

    def kinds_visible(self) -> tuple[bool, bool]:
        """``(accepted shown, proposals shown)``."""
        return self.targets_item.show_accepted, self.targets_item.show_proposals

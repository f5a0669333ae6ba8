"""The canvas's display on the GUI thread: the image item and the window / gamma / LUT state.

``CanvasImageItem`` is the image item: it draws only the part in view (nearest-neighbour when
zoomed in) and uses a render made ahead by the prefetch thread (``canvas_render``) only while it
matches what it is about to render. ``CanvasDisplayMixin`` (a mixin of ``IRCanvas``) keeps the
display settings, the sky fills and the ``DisplayPlan`` snapshot the prefetch thread reads
(docs/adr/0009-render-ahead-on-the-prefetch-thread.md). It uses the canvas's ``image_item``,
sky items, ``display_controls`` and the state ``IRCanvas.__init__`` sets (``_settings``,
``_lut``, ``_gray``, ``_sky_mask``, ``_sky_proposal``, ``_sky_visible``, ``_tool``, ``_plan``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from widgets.canvas_render import DisplayPlan, RenderedImage, same_colors
from widgets.display_controls import DisplaySettings
from widgets.overlays import SKY_FILL, SKY_PROPOSAL_FILL, painted_rect, view_scale
from widgets.overlays_sky import tint_image, tint_regions, visible_pixels


class CanvasImageItem(pg.ImageItem):
    """ImageItem drawn nearest-neighbour when zoomed in, and only the part in view."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._tint_region: np.ndarray | None = None
        self._tint_colors: list[QtGui.QColor] = []
        self._offered: RenderedImage | None = None

    def setImage(self, image=None, **kwargs) -> None:  # noqa: N802 (pyqtgraph override)
        if image is not None:
            self._offered = None  # rendered for the previous data
        super().setImage(image, **kwargs)

    def offer(self, rendered: RenderedImage | None) -> None:
        """A render of the data just set, made ahead (``render_image``); used while it matches."""
        self._offered = rendered

    def set_tints(self, tints: list[tuple[np.ndarray | None, QtGui.QColor]]) -> None:
        """Translucent fills (sky, proposed sky) blended into the rendered image."""
        masks, colors = [m for m, _ in tints], [c for _, c in tints]
        offered = self._offered
        if offered is not None and offered.matches_masks(masks, colors):
            self._tint_region = offered.region  # same fills: no full-image pass here
        else:
            self._tint_region = tint_regions(masks)
        self._tint_colors = colors
        self._renderRequired = True
        self.update()

    def render(self) -> None:
        offered = self._offered
        if (
            offered is not None
            and offered.region is self._tint_region
            and same_colors(offered.colors, self._tint_colors)
            and offered.matches_display(self.levels, self.lut)
        ):
            # Made ahead by the same functions from the same inputs: the same pixels.
            self.qimage = offered.qimage
            self._renderRequired = self._unrenderable = False
            return
        super().render()
        # pyqtgraph renders a 256-entry LUT as an indexed image, which Qt draws ~8x slower than
        # RGB32 (every frame): convert once per display change, blending the sky fills in too.
        if self.qimage is not None:
            self.qimage = tint_image(self.qimage, self._tint_region, self._tint_colors)

    def paint(self, painter: QtGui.QPainter, *args) -> None:
        if self.image is None:
            return
        if self._renderRequired:
            self.render()
            if self._unrenderable:
                return
        # Bilinear blur hides 3-px targets when zoomed in; smoothing only helps when zoomed out.
        painter.setRenderHint(
            QtGui.QPainter.RenderHint.SmoothPixmapTransform, view_scale(painter) < 1
        )
        h, w = self.image.shape[:2]
        area = QtCore.QRectF(0, 0, w, h)
        view = painted_rect(painter)  # not self.viewRect(): stale after zoom / pan / new image
        if view is not None:
            area = visible_pixels(area, view)
        if area.isEmpty():
            return
        painter.drawImage(area, self.qimage, area)


class CanvasDisplayMixin:
    """Display settings, sky fills and the published ``DisplayPlan`` of ``IRCanvas``."""

    def display_settings(self) -> DisplaySettings:
        return DisplaySettings(self._settings.levels, self._settings.gamma, self._settings.cmap)

    def show_sky(self, visible: bool) -> None:
        self._sky_visible = bool(visible)
        self.sky_item.setVisible(self._sky_visible or self._tool.edits_sky)
        self.sky_proposal_item.setVisible(self._sky_visible)
        self._update_tints()
        self._update_plan()

    def _update_tints(self) -> None:
        shown = self._sky_visible
        self.image_item.set_tints(
            [(self._sky_mask, SKY_FILL), (self._sky_proposal, SKY_PROPOSAL_FILL)] if shown else []
        )

    def _apply_display(self, settings: DisplaySettings) -> None:
        self._settings = settings
        self._lut = settings.lut()
        self.image_item.setLookupTable(self._lut, update=False)
        if self.image_item.image is not None:
            # Without an image pyqtgraph keeps levels for the next setImage, where they would
            # override the window set_image picks (auto levels of the first image).
            self.image_item.setLevels(settings.levels)
        self._update_plan()

    def display_plan(self) -> DisplayPlan | None:
        """How the next image will be displayed (``prepare_image`` renders it ahead). Safe to
        call from any thread: it returns an immutable snapshot, no Qt call."""
        return self._plan

    def _update_plan(self, *_args) -> None:
        auto = self._gray is None or self.display_controls.auto_check.isChecked()
        fills = (SKY_FILL, SKY_PROPOSAL_FILL) if self._sky_visible else ()
        levels = (float(self._settings.levels[0]), float(self._settings.levels[1]))
        self._plan = DisplayPlan(levels, self._lut, auto, tuple(QtGui.QColor(c) for c in fills))

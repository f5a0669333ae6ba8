"""Display of raw IR pixels: window/level on a histogram, percentile auto-contrast, gamma, colormaps.

The pure functions (``make_lut``, ``auto_levels``, ``render_rgb``) define how raw values become
screen colours; the canvas, the loupe and the tests all use them, so what the loupe shows matches
the main view. Gamma follows the napari convention: ``out = in ** gamma`` on the windowed value in
[0, 1], so gamma < 1 brightens dark (typical IR) backgrounds and gamma > 1 darkens them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from core.display import apply_gamma

CMAPS = ("grey", "inferno", "jet")
LUT_SIZE = 256
# Histograms and percentiles on at most this many pixels (a strided subsample): fast on 4k frames.
_SAMPLE = 400_000


def _jet(x: np.ndarray) -> np.ndarray:
    """MATLAB-style jet, piecewise linear: dark blue -> blue -> cyan -> yellow -> red -> dark red."""
    r = np.clip(1.5 - np.abs(4.0 * x - 3.0), 0.0, 1.0)
    g = np.clip(1.5 - np.abs(4.0 * x - 2.0), 0.0, 1.0)
    b = np.clip(1.5 - np.abs(4.0 * x - 1.0), 0.0, 1.0)
    return np.stack([r, g, b], axis=1)


def colormap_table(name: str, n: int = LUT_SIZE) -> np.ndarray:
    """uint8 [n, 3] colours of a colormap from its low end to its high end."""
    x = np.linspace(0.0, 1.0, n)
    if name == "grey":
        rgb = np.stack([x, x, x], axis=1)
    elif name == "jet":
        rgb = _jet(x)
    elif name == "inferno":
        return pg.colormap.get("inferno").getLookupTable(nPts=n, alpha=False).astype(np.uint8)
    else:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(CMAPS)}")
    return np.round(rgb * 255.0).astype(np.uint8)


def make_lut(cmap: str = "grey", gamma: float = 1.0, n: int = LUT_SIZE) -> np.ndarray:
    """uint8 [n, 3] lookup table for windowed values 0..n-1 with gamma applied before the colormap."""
    table = colormap_table(cmap, n)
    x = apply_gamma(np.linspace(0.0, 1.0, n), gamma)  # the one display curve (core/display.py)
    return table[np.round(x * (n - 1)).astype(np.intp)]


def display_gray(img: np.ndarray) -> np.ndarray:
    """The 2-D array the canvas windows: gray as is, RGB(A) as luminance in the same dtype.

    Colour IR frames are pseudo-coloured gray, so one window / colormap over their luminance is
    what the annotator (and the model) sees. Integer types other than uint8 / uint16 become float32.
    """
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        lum = arr[:, :, :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        arr = np.round(lum).astype(arr.dtype) if arr.dtype.kind in "ui" else lum
    if arr.ndim != 2:
        raise ValueError(
            f"cannot display an array of shape {arr.shape}; expected [H, W] or [H, W, C]"
        )
    if arr.dtype not in (np.uint8, np.uint16) and arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    return arr


def sample_pixels(data: np.ndarray) -> np.ndarray:
    """A strided subsample (flattened) of the pixels, for histograms and percentiles."""
    flat = np.asarray(data).ravel()
    step = max(1, flat.size // _SAMPLE)
    sample = flat[::step]
    if sample.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
    return sample


def auto_levels(
    data: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5
) -> tuple[float, float]:
    """Percentile window (low, high) with high > low even for flat images."""
    sample = sample_pixels(data)
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(sample, [low_pct, high_pct]))
    if hi <= lo:
        # Flat or nearly flat: widen to the data range, then to one unit, so the image stays visible.
        lo, hi = float(sample.min()), float(sample.max())
        if hi <= lo:
            hi = lo + 1.0
    return lo, hi


def data_range(data: np.ndarray) -> tuple[float, float]:
    """(min, max) of the pixels, widened to one unit when flat."""
    sample = sample_pixels(data)
    if sample.size == 0:
        return 0.0, 1.0
    lo, hi = float(np.min(data)), float(np.max(data))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


@dataclass(frozen=True)
class Histogram:
    edges: np.ndarray
    log_counts: np.ndarray  # log10(count + 1) per bin
    data_range: tuple[float, float]


def histogram_of(data: np.ndarray) -> Histogram:
    """The display histogram of raw gray pixels (pure numpy: safe on any thread)."""
    lo, hi = data_range(data)
    sample = sample_pixels(data)
    bins = 256 if np.asarray(data).dtype.kind == "f" or hi - lo > 256 else int(hi - lo) + 1
    counts, edges = np.histogram(sample, bins=max(bins, 2), range=(lo, hi))
    return Histogram(edges, np.log10(counts + 1.0), (lo, hi))


def render_rgb(data: np.ndarray, levels: tuple[float, float], lut: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] screen colours of raw gray pixels, the way the canvas draws them."""
    lo, hi = float(levels[0]), float(levels[1])
    scale = (len(lut) - 1) / max(hi - lo, 1e-12)
    idx = np.clip((np.asarray(data, dtype=np.float64) - lo) * scale, 0, len(lut) - 1)
    return lut[np.round(idx).astype(np.intp)]


@dataclass
class DisplaySettings:
    """What maps raw values to colours: window (low, high) in raw units, gamma and colormap."""

    levels: tuple[float, float] = (0.0, 255.0)
    gamma: float = 1.0
    cmap: str = "grey"

    def lut(self) -> np.ndarray:
        return make_lut(self.cmap, self.gamma)


class DisplayControls(QtWidgets.QWidget):
    """Histogram with a draggable window, Auto / Full buttons, gamma and colormap selectors.

    Emits ``display_changed(DisplaySettings)`` on every user change; ``set_settings`` updates the
    controls without emitting (the canvas drives it), so the two never loop.
    """

    display_changed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = DisplaySettings()
        self._data: np.ndarray | None = None
        self._updating = False
        self._build()

    def _build(self) -> None:
        self.plot = pg.PlotWidget(background="#202124")
        self.plot.setFixedHeight(80)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideAxis("left")
        self.plot.getAxis("bottom").setStyle(tickLength=-4)
        self.curve = pg.PlotDataItem(
            fillLevel=0, brush=(160, 170, 190, 110), pen=pg.mkPen((190, 200, 220), width=1)
        )
        self.plot.addItem(self.curve)
        self.region = pg.LinearRegionItem(
            values=self._settings.levels, brush=(80, 160, 255, 45), pen=pg.mkPen("#5aa9ff", width=2)
        )
        self.region.setZValue(10)
        self.region.sigRegionChanged.connect(self._on_region)
        self.plot.addItem(self.region)
        self.transfer = pg.PlotDataItem(pen=pg.mkPen("#ffd166", width=1))
        self.plot.addItem(self.transfer)
        self.auto_button = QtWidgets.QPushButton("Auto")
        self.auto_button.setToolTip("Percentile auto-contrast (0.5% - 99.5%)")
        self.auto_button.clicked.connect(self.auto_contrast)
        self.full_button = QtWidgets.QPushButton("Full")
        self.full_button.setToolTip("Window = full data range")
        self.full_button.clicked.connect(self.full_range)
        self.gamma_spin = QtWidgets.QDoubleSpinBox()
        self.gamma_spin.setRange(0.1, 5.0)
        self.gamma_spin.setSingleStep(0.05)
        self.gamma_spin.setValue(1.0)
        self.gamma_spin.setPrefix("γ ")
        # Apply a typed value on Enter / focus out, not per keystroke: re-formatting the text
        # mid-typing ("2" -> "γ 2.00") swallowed the rest ("2.5" became 2.00).
        self.gamma_spin.setKeyboardTracking(False)
        self.gamma_spin.setToolTip("Gamma: out = in ** gamma (< 1 brightens the dark background)")
        self.gamma_spin.valueChanged.connect(self._on_gamma)
        self.cmap_combo = QtWidgets.QComboBox()
        self.cmap_combo.addItems(CMAPS)
        self.cmap_combo.setToolTip("Colormap")
        self.cmap_combo.currentTextChanged.connect(self._on_cmap)
        self.auto_check = QtWidgets.QCheckBox("auto")
        self.auto_check.setChecked(True)
        self.auto_check.setToolTip("Auto-contrast every newly opened image (off: keep the window)")
        self.levels_label = QtWidgets.QLabel()
        self.levels_label.setMinimumWidth(120)
        row = QtWidgets.QHBoxLayout()
        for w in (
            self.auto_button,
            self.full_button,
            self.auto_check,
            self.gamma_spin,
            self.cmap_combo,
        ):
            row.addWidget(w)
        row.addWidget(self.levels_label, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addWidget(self.plot)
        layout.addLayout(row)

    # -- data and settings in ------------------------------------------------------------
    def set_data(
        self,
        data: np.ndarray | None,
        histogram: Histogram | None = None,
        settings: DisplaySettings | None = None,
    ) -> None:
        """Show the histogram (log counts) of the raw gray pixels (``histogram``: computed
        already, e.g. off the GUI thread by ``histogram_of``); ``settings``: ``set_settings``
        in the same update (a new image's window: the overlay is redrawn once, not twice)."""
        self._data = data
        if data is None:
            self.curve.setData([], [])
            if settings is not None:
                self.set_settings(settings)
            return
        hist = histogram if histogram is not None else histogram_of(data)
        self.curve.setData(hist.edges, hist.log_counts, stepMode="center")
        self.plot.setXRange(*hist.data_range, padding=0.02)
        if settings is not None:
            self._move_controls(settings)
        self._refresh_overlay()

    def settings(self) -> DisplaySettings:
        return DisplaySettings(self._settings.levels, self._settings.gamma, self._settings.cmap)

    def set_settings(self, settings: DisplaySettings) -> None:
        """Move the controls to ``settings`` without emitting ``display_changed``."""
        self._move_controls(settings)
        self._refresh_overlay()

    def _move_controls(self, settings: DisplaySettings) -> None:
        self._settings = DisplaySettings(
            (float(settings.levels[0]), float(settings.levels[1])),
            float(settings.gamma),
            settings.cmap,
        )
        self._updating = True
        try:
            self.region.setRegion(self._settings.levels)
            if abs(self.gamma_spin.value() - self._settings.gamma) > 1e-9:
                self.gamma_spin.setValue(self._settings.gamma)
            self.cmap_combo.setCurrentText(self._settings.cmap)
        finally:
            self._updating = False

    # -- user actions --------------------------------------------------------------------
    def auto_contrast(self) -> None:
        """Percentile window on the current image."""
        if self._data is not None:
            self._apply(levels=auto_levels(self._data))

    def full_range(self) -> None:
        if self._data is not None:
            self._apply(levels=data_range(self._data))

    def _on_region(self) -> None:
        if not self._updating:
            lo, hi = self.region.getRegion()
            self._apply(levels=(float(lo), float(max(hi, lo + 1e-6))))

    def _on_gamma(self, value: float) -> None:
        if not self._updating:
            self._apply(gamma=float(value))

    def _on_cmap(self, name: str) -> None:
        if not self._updating:
            self._apply(cmap=name)

    def _apply(self, levels=None, gamma=None, cmap=None) -> None:
        s = self._settings
        new = DisplaySettings(
            levels if levels is not None else s.levels,
            gamma if gamma is not None else s.gamma,
            cmap if cmap is not None else s.cmap,
        )
        self.set_settings(new)
        self.display_changed.emit(self.settings())

    def _refresh_overlay(self) -> None:
        """Transfer curve across the window (shows gamma) and the numeric window."""
        lo, hi = self._settings.levels
        ymax = (
            self.curve.yData.max() if self.curve.yData is not None and len(self.curve.yData) else 1
        )
        x = np.linspace(0.0, 1.0, 64)
        self.transfer.setData(lo + x * (hi - lo), (x**self._settings.gamma) * float(ymax))
        fmt = "{:.0f}" if max(abs(lo), abs(hi)) >= 100 else "{:.3g}"
        self.levels_label.setText(f"window {fmt.format(lo)} – {fmt.format(hi)}")
        # Resolve the y auto-range now: left to the paint, the range change it makes there
        # schedules a second paint of the whole plot.
        self.plot.getViewBox().updateAutoRange()

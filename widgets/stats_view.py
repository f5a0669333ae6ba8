"""Dataset statistics plots (paper Fig. 3 and more): pyqtgraph histograms over plain arrays.

``set_series`` takes a dict of 1-D float arrays (``width``, ``height``, ``area``, ``contrast``,
``rank``, ``targets_per_image``, ``sky_fraction``); each becomes a histogram, and width x height
becomes a size scatter whose dot area grows with the number of targets of that size.
Integer-valued series get one bin per integer so that "3 px wide" is one bar.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QScrollArea, QVBoxLayout, QWidget

# key -> (title, x label, binning): "int" one bin per integer, ("fixed", lo, hi, n), or "auto"
PLOTS: dict[str, tuple[str, str, object]] = {
    "width": ("Box width", "px", "int"),
    "height": ("Box height", "px", "int"),
    "area": ("Box area", "px²", "auto"),
    "contrast": ("Local contrast", "(box - ring) / ring std", "auto"),
    "rank": (
        "Brightness rank",
        "% of image pixels brighter than the peak",
        ("fixed", 0.0, 100.0, 20),
    ),
    "targets_per_image": ("Targets per image", "targets", "int"),
    "sky_fraction": ("Sky fraction per image", "fraction of pixels", ("fixed", 0.0, 1.0, 10)),
}
AUTO_BINS = 30
MAX_INT_BINS = 60  # wider integer ranges fall back to AUTO_BINS bins
BAR_BRUSH = (70, 130, 200, 170)
MIN_PLOT_HEIGHT = 190  # px per row of plots
MIN_PLOT_WIDTH = 260


def histogram(values: np.ndarray, binning: object) -> tuple[np.ndarray, np.ndarray]:
    """(edges [B + 1], counts [B]) of finite ``values`` with the given binning rule."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if isinstance(binning, tuple):
        _, lo, hi, n = binning
        return _hist(v, np.linspace(lo, hi, n + 1))
    if v.size == 0:
        return np.array([0.0, 1.0]), np.array([0])
    lo, hi = float(v.min()), float(v.max())
    if binning == "int" and hi - lo <= MAX_INT_BINS:
        return _hist(v, np.arange(math.floor(lo) - 0.5, math.ceil(hi) + 1.0, 1.0))
    if hi <= lo:
        return _hist(v, np.array([lo - 0.5, lo + 0.5]))
    return _hist(v, np.linspace(lo, hi, AUTO_BINS + 1))


def _hist(v: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts, edges = np.histogram(v, bins=edges)
    return edges, counts


def size_counts(width: np.ndarray, height: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (w, h) pairs [K, 2] and how many targets have each [K] (Fig. 3a)."""
    wh = np.stack([np.asarray(width, float), np.asarray(height, float)], axis=1)
    if wh.size == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=int)
    pairs, counts = np.unique(np.round(wh, 1), axis=0, return_counts=True)
    return pairs, counts


class StatsView(QWidget):
    """A grid of histograms plus a one-paragraph summary; ``set_series`` redraws everything."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No statistics yet: press Compute.")
        self.summary.setWordWrap(True)
        self.graphics = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self._hists: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._size: tuple[np.ndarray, np.ndarray] = (np.zeros((0, 2)), np.zeros(0, dtype=int))
        self._build_plots()
        rows = (len(PLOTS) + 2) // 2
        # scroll rather than squash: a docked panel can be short, a histogram needs height
        self.graphics.setMinimumSize(MIN_PLOT_WIDTH * 2, MIN_PLOT_HEIGHT * rows)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.graphics)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(scroll, 1)

    def _build_plots(self) -> None:
        keys = ["size", *PLOTS]
        for i, key in enumerate(keys):
            plot = self.graphics.addPlot(row=i // 2, col=i % 2)
            plot.showGrid(x=True, y=True, alpha=0.2)
            if key == "size":
                plot.setTitle("Target size (dot area ~ count)")
                plot.setLabel("bottom", "width", units="px")
                plot.setLabel("left", "height", units="px")
                self._scatter = pg.ScatterPlotItem(pen=None, brush=pg.mkBrush(BAR_BRUSH))
                plot.addItem(self._scatter)
            else:
                title, xlabel, _ = PLOTS[key]
                plot.setTitle(title)
                plot.setLabel("bottom", xlabel)
                plot.setLabel("left", "count")
                curve = pg.PlotDataItem(
                    stepMode="center", fillLevel=0, brush=BAR_BRUSH, pen=pg.mkPen("#4682c8")
                )
                plot.addItem(curve)
                self._curves[key] = curve
            self.plots[key] = plot

    def set_series(self, series: dict[str, np.ndarray], summary: str = "") -> None:
        """Redraw every plot from ``series`` (missing keys show as empty plots)."""
        for key, (_, _, binning) in PLOTS.items():
            edges, counts = histogram(series.get(key, np.zeros(0)), binning)
            self._hists[key] = (edges, counts)
            self._curves[key].setData(edges, counts.astype(float))
        pairs, counts = size_counts(
            series.get("width", np.zeros(0)), series.get("height", np.zeros(0))
        )
        self._size = (pairs, counts)
        sizes = 6.0 + 30.0 * np.sqrt(counts / counts.max()) if counts.size else np.zeros(0)
        self._scatter.setData(x=pairs[:, 0], y=pairs[:, 1], size=sizes)
        self.summary.setText(summary)

    def histogram(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(edges, counts) currently drawn for ``key``."""
        return self._hists[key]

    def size_counts(self) -> tuple[np.ndarray, np.ndarray]:
        return self._size

    def clear(self, message: str = "No statistics yet: press Compute.") -> None:
        self.set_series({}, message)

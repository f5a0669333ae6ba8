"""BAG-CP parameter panel: ranges, the four ablation switches, the seed and the preview actions.

Plain widget: ``params()`` returns a dict whose keys are ``core.bagcp.BagcpConfig`` field names
(ranges as (low, high) tuples), so the app builds the config with ``BagcpConfig(**params)``.
Actions are announced as signals; the app does the work and reports back through
``set_message`` / ``set_busy`` / ``set_result_available``.
"""

from __future__ import annotations

import random

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from widgets.scrolling import set_scrolled_layout

SEED_MAX = 2**31 - 1
SWITCHES = (
    ("copy_paste", "Copy-paste", "Paste library targets at all (off: the image is unchanged)"),
    ("cluster", "Cluster", "Group pasted targets in dense 20x20 regions (off: scattered)"),
    ("gaussian", "Gaussian", "Blend each target with a rotated Gaussian weight (Eq. 1-3)"),
    ("background_aware", "Background-aware", "Paste only inside the sky mask"),
)
DEFAULTS: dict[str, object] = {
    "n_regions": (1, 3), "region_size": 20, "per_region": (8, 12), "max_size": 5,
    "spacing": (1, 2), "lam": (0.5, 1.0), "sigma": (0.3, 0.6),
    "copy_paste": True, "cluster": True, "gaussian": True, "background_aware": True,
}  # fmt: skip


class RangeEdit(QWidget):
    """Two spin boxes ``low - high`` kept ordered (editing one pushes the other)."""

    changed = Signal()

    def __init__(
        self, lo: float, hi: float, decimals: int = 0, step: float = 1.0, suffix: str = ""
    ) -> None:
        super().__init__()
        self.low, self.high = (self._spin(lo, hi, decimals, step, suffix) for _ in range(2))
        self.low.valueChanged.connect(self._low_changed)
        self.high.valueChanged.connect(self._high_changed)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.low)
        row.addWidget(QLabel("to"))
        row.addWidget(self.high)

    @staticmethod
    def _spin(lo: float, hi: float, decimals: int, step: float, suffix: str) -> QAbstractSpinBox:
        spin = QDoubleSpinBox() if decimals else QSpinBox()
        if decimals:
            spin.setDecimals(decimals)
        spin.setRange(lo, hi)
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        return spin

    def _low_changed(self, v: float) -> None:
        if self.high.value() < v:
            self.high.setValue(v)
        self.changed.emit()

    def _high_changed(self, v: float) -> None:
        if self.low.value() > v:
            self.low.setValue(v)
        self.changed.emit()

    def value(self) -> tuple:
        return (self.low.value(), self.high.value())

    def set_value(self, value: tuple) -> None:
        self.high.setValue(max(value))
        self.low.setValue(min(value))


class BagcpControls(QWidget):
    """Parameters, seed and actions of the BAG-CP preview dock."""

    preview_requested = Signal()
    add_requested = Signal()
    rebuild_requested = Signal()
    after_toggled = Signal(bool)  # True: show the synthesized image, False: the original

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.n_regions = RangeEdit(1, 10)
        self.region_size = self._int_spin(8, 200, " px")
        self.per_region = RangeEdit(1, 50)
        self.max_size = self._int_spin(1, 41, " px")
        self.spacing = RangeEdit(1, 10, suffix=" px")  # targets must never touch
        self.lam = RangeEdit(0.0, 3.0, decimals=2, step=0.05)
        self.sigma = RangeEdit(0.05, 3.0, decimals=2, step=0.05)
        self.switches = {key: QCheckBox(label) for key, label, _ in SWITCHES}
        for key, _, tip in SWITCHES:
            self.switches[key].setToolTip(tip)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, SEED_MAX)
        self.new_seed_button = QPushButton("New seed")
        self.new_seed_button.setToolTip("Draw a new random seed and preview again")
        self.preview_button = QPushButton("Preview")
        self.after_button = QPushButton("Showing: original")
        self.after_button.setCheckable(True)
        self.add_button = QPushButton("Add to project")
        self.rebuild_button = QPushButton("Rebuild target library")
        self.library_label = QLabel("Target library: not loaded")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self._connect()
        self._build_layout()
        self.set_params(DEFAULTS)
        self.set_result_available(False)

    @staticmethod
    def _int_spin(lo: int, hi: int, suffix: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setSuffix(suffix)
        return spin

    def _connect(self) -> None:
        self.new_seed_button.clicked.connect(self.new_seed)
        self.preview_button.clicked.connect(self.preview_requested)
        self.add_button.clicked.connect(self.add_requested)
        self.rebuild_button.clicked.connect(self.rebuild_requested)
        self.after_button.toggled.connect(self._on_after_toggled)

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("Dense regions", self.n_regions)
        form.addRow("Region size", self.region_size)
        form.addRow("Targets per region", self.per_region)
        form.addRow("Max target size", self.max_size)
        form.addRow("Spacing", self.spacing)
        form.addRow("λ (brightness)", self.lam)
        form.addRow("σ (Gaussian spread)", self.sigma)
        switches = QGridLayout()
        for i, key in enumerate(self.switches):
            switches.addWidget(self.switches[key], i // 2, i % 2)
        form.addRow("Switches", switches)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.new_seed_button)
        form.addRow("Seed", seed_row)
        actions = QHBoxLayout()
        for b in (self.preview_button, self.after_button, self.add_button):
            actions.addWidget(b)
        layout = QVBoxLayout()
        set_scrolled_layout(self, layout)  # a short dock scrolls, the window keeps its size
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addWidget(self.library_label)
        layout.addWidget(self.rebuild_button)
        layout.addWidget(self.message)
        layout.addStretch(1)

    # ------------------------------------------------------------------ values
    def params(self) -> dict[str, object]:
        """BagcpConfig keyword arguments (ranges as tuples, sizes as ints, switches as bools)."""
        out: dict[str, object] = {
            "n_regions": self.n_regions.value(), "region_size": self.region_size.value(),
            "per_region": self.per_region.value(), "max_size": self.max_size.value(),
            "spacing": self.spacing.value(), "lam": self.lam.value(), "sigma": self.sigma.value(),
        }  # fmt: skip
        out.update({key: box.isChecked() for key, box in self.switches.items()})
        return out

    def set_params(self, params: dict[str, object]) -> None:
        for key, value in params.items():
            widget = getattr(self, key, None) if key not in self.switches else self.switches[key]
            if isinstance(widget, RangeEdit):
                widget.set_value(tuple(value))  # type: ignore[arg-type]
            elif isinstance(widget, QSpinBox):
                widget.setValue(int(value))  # type: ignore[arg-type]
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))

    def seed(self) -> int:
        return int(self.seed_spin.value())

    def set_seed(self, seed: int) -> None:
        self.seed_spin.setValue(int(seed) % (SEED_MAX + 1))

    def new_seed(self) -> None:
        """A fresh random seed, then a new preview with it."""
        self.set_seed(random.randrange(SEED_MAX))
        self.preview_requested.emit()

    # ------------------------------------------------------------------ feedback
    def set_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #d03030;" if error else "")

    def set_busy(self, busy: bool) -> None:
        for b in (self.preview_button, self.new_seed_button, self.rebuild_button):
            b.setEnabled(not busy)
        if busy:
            self.add_button.setEnabled(False)

    def set_result_available(self, available: bool) -> None:
        """Enable the before/after toggle and "Add to project" only when a result exists."""
        self.add_button.setEnabled(available)
        self.after_button.setEnabled(available)
        if not available:
            self.after_button.setChecked(False)

    def set_showing_after(self, after: bool) -> None:
        self.after_button.setChecked(after)

    def showing_after(self) -> bool:
        return self.after_button.isChecked()

    def _on_after_toggled(self, after: bool) -> None:
        self.after_button.setText("Showing: BAG-CP result" if after else "Showing: original")
        self.after_toggled.emit(after)

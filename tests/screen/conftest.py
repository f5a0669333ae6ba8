"""Screen-level fixtures: an Xvfb of our own per session, the real app per test (tests/screen/harness.py).

These tests are part of the suite. When Xvfb, xdotool or ImageMagick are missing they FAIL with the
apt line that installs them (CI must not pass by skipping); set ``SIRST_SCREEN_TESTS=0`` to skip
the layer on purpose (e.g. a machine without X libraries).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.screen.harness import APT_LINE, AppUnderTest, XServer, missing_tools

SWITCH = "SIRST_SCREEN_TESTS"


@pytest.fixture(scope="session")
def xserver(tmp_path_factory: pytest.TempPathFactory):
    if os.environ.get(SWITCH, "1") == "0":
        pytest.skip(f"screen-level tests switched off ({SWITCH}=0)")
    missing = missing_tools()
    if missing:
        pytest.fail(f"screen-level tests need {', '.join(missing)}: {APT_LINE} "
                    f"(or set {SWITCH}=0 to skip them on purpose)", pytrace=False)  # fmt: skip
    server = XServer(tmp_path_factory.mktemp("xvfb"))
    yield server
    server.stop()


@pytest.fixture
def run_app(xserver, tmp_path: Path):
    """``run_app(project) -> AppUnderTest``: the real app on the test's X server, closed after."""
    started: list[AppUnderTest] = []

    def start(project: Path) -> AppUnderTest:
        work = tmp_path / f"app{len(started)}"
        work.mkdir()
        app = AppUnderTest(xserver.display, project, work)
        started.append(app)
        return app

    yield start
    for app in started:
        app.close()


def write_image(path: Path, pixels: np.ndarray) -> Path:
    """Write with OpenCV (RGB given, BGR stored) and check the file reads back identical."""
    data = pixels[..., ::-1] if pixels.ndim == 3 else pixels
    assert cv2.imwrite(str(path), np.ascontiguousarray(data))
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    back = back[..., ::-1] if back.ndim == 3 else back
    assert back.dtype == pixels.dtype and np.array_equal(back, pixels)
    return path


def test_pattern(h: int, w: int, dtype, rgb: bool = False, seed: int = 0) -> np.ndarray:
    """Gradients (so a shifted or scaled draw shows) plus 8x8 blocks of random level."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 0.15 + 0.5 * xx / w + 0.25 * yy / h
    blocks = rng.uniform(-0.1, 0.1, (h // 8 + 1, w // 8 + 1))
    base += np.kron(blocks, np.ones((8, 8)))[:h, :w]
    base = np.clip(base, 0.02, 0.98)
    top = 255 if dtype == np.uint8 else 16383  # 14-bit data in a 16-bit file
    img = np.round(base * top).astype(dtype)
    if rgb:
        img = np.stack([img, np.flipud(img), np.fliplr(img)], axis=2)
    return img


test_pattern.__test__ = False  # a helper, not a test

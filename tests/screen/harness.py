"""Driving the real app in a real X server: Xvfb, ``main.py gui`` on xcb, xdotool, screen grabs.

The app runs as users run it (its own process, the xcb platform); input goes through the X server
(xdotool), and what is checked is the X root window's pixels (ImageMagick ``import``). The only
thing taken from the app is *where* the image lies on screen (``app/screen_probe.py``); what the
pixels there must be is computed here from the file with numpy (``expected_gray``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SCREEN = (1600, 1000)
TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool", "import": "imagemagick"}
APT_LINE = (
    "apt-get install -y xvfb xdotool imagemagick libxcb-cursor0 libxkbcommon-x11-0 "
    "libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 "
    "libxcb-shape0 libegl1 libgl1 libfontconfig1 libdbus-1-3"
)


def missing_tools() -> list[str]:
    return [name for name in TOOLS if shutil.which(name) is None]


def _free_display() -> int:
    for n in range(90, 400):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number between :90 and :399")


class XServer:
    """An Xvfb of its own (a free display number), stopped by ``stop``."""

    def __init__(self, log_dir: Path, size: tuple[int, int] = SCREEN) -> None:
        for _ in range(5):  # another process may take the number between the check and the start
            self.number = _free_display()
            self.display = f":{self.number}"
            log = open(log_dir / f"xvfb{self.number}.log", "w")  # noqa: SIM115 (lives with it)
            self.proc = subprocess.Popen(
                ["Xvfb", self.display, "-screen", "0", f"{size[0]}x{size[1]}x24",
                 "-nolisten", "tcp"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if Path(f"/tmp/.X11-unix/X{self.number}").exists():
                    time.sleep(0.2)
                    return
                time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"Xvfb did not start; see {log_dir}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class AppUnderTest:
    """``main.py gui PROJECT`` on the given X display, with a private profile and a probe file."""

    def __init__(self, display: str, project: Path, work: Path) -> None:
        self.display = display
        self.work = work
        self.probe_path = work / "probe.json"
        self.probe_path.unlink(missing_ok=True)
        home = work / "home"
        home.mkdir(exist_ok=True)
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("QT_", "XDG_", "DISPLAY"))
        }
        env.update(
            DISPLAY=display,
            QT_QPA_PLATFORM="xcb",
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_RUNTIME_DIR=str(home),
            SIRST_STUDIO_DATA_DIR=str(home / "data"),
            SIRST_SCREEN_PROBE=str(self.probe_path),
            PYTHONPATH=str(REPO),
        )
        # No background model load (app/model_warmup.py) unless the caller's environment asks for
        # it: it competes with the paints these tests grab, and each app has a fresh model cache.
        env.setdefault("SIRST_STUDIO_WARM_MODEL", "0")
        self.env = env
        self.log = work / "app.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "main.py"), "gui", str(project)],
            cwd=REPO, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip

    # ------------------------------------------------------------------ state
    def probe(self) -> dict:
        try:
            return json.loads(self.probe_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "the app") -> dict:
        """Wait until ``predicate(probe)`` holds and the probe stays unchanged for 0.4 s."""
        deadline = time.monotonic() + timeout
        stable_since, last = None, None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the app exited ({self.proc.returncode}):\n{self.log_text()}")
            state = self.probe()
            ok = bool(state) and predicate(state)
            if ok and state == last:
                if stable_since is not None and time.monotonic() - stable_since >= 0.4:
                    time.sleep(0.15)  # the paint that follows the last state change
                    return state
            else:
                stable_since = time.monotonic() if ok else None
            last = state
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; last probe: {self.probe()}\n"
                             f"{self.log_text()}")  # fmt: skip

    def wait_image(self, name: str, timeout: float = 30.0) -> dict:
        return self.wait_for(lambda s: s.get("image") == name, timeout, f"image {name}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    # ------------------------------------------------------------------ input (through X)
    def xdotool(self, *args: object) -> None:
        subprocess.run(["xdotool", *map(str, args)], env=self.env, check=True, timeout=20)

    def move(self, x: float, y: float) -> None:
        self.xdotool("mousemove", int(round(x)), int(round(y)))

    def click(self, x: float, y: float, button: int = 1) -> None:
        self.move(x, y)
        time.sleep(0.05)
        self.xdotool("click", button)

    def drag(self, start, end, button: int = 1, steps: int = 8) -> None:
        time.sleep(0.5)  # a press soon after a click near it would be a double-click
        self.move(*start)
        time.sleep(0.05)
        self.xdotool("mousedown", button)
        for k in range(1, steps + 1):
            t = k / steps
            self.move(start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
            time.sleep(0.03)
        self.xdotool("mouseup", button)

    def focus(self) -> None:
        """Give the main window the keyboard (there is no window manager to do it)."""
        out = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--pid", str(self.proc.pid), "--name",
             "SIRST Studio"],
            env=self.env, capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        ids = out.stdout.split()
        if not ids:
            raise AssertionError(f"no visible SIRST Studio window: {out.stderr}")
        self.xdotool("windowfocus", "--sync", ids[0])
        time.sleep(0.1)

    def key(self, *keys: str) -> None:
        self.xdotool("key", "--delay", 60, *keys)

    def type(self, text: str) -> None:
        self.xdotool("type", "--delay", 60, text)

    # ------------------------------------------------------------------ output (the screen)
    def grab(self) -> np.ndarray:
        """The X root window as uint8 [H, W, 3]."""
        out = self.work / "screen.png"
        subprocess.run(["import", "-window", "root", str(out)], env=self.env, check=True,
                       timeout=30)  # fmt: skip
        return np.asarray(Image.open(out).convert("RGB"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------------- the independent truth
def image_to_screen(state: dict, width: int) -> Callable[[float, float], tuple[float, float]]:
    """Image point (x, y) -> its position on the root window, from a probe's ``state`` (where the
    image's corners are on screen); ``width`` is the image's width (one zoom for both axes)."""
    (ox, oy), (cx, _) = state["image_origin"], state["image_corner"]
    scale = (cx - ox) / width
    return lambda x, y: (ox + x * scale, oy + y * scale)


def luminance(img: np.ndarray) -> np.ndarray:
    """Gray of the file's pixels as float: RGB(A) by Rec. 601 weights, gray as is."""
    a = np.asarray(img)
    if a.ndim == 3:
        return np.round(a[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114]))
    return a.astype(np.float64)


def expected_gray(gray: np.ndarray, levels: tuple[float, float], gamma: float) -> np.ndarray:
    """Screen gray (0..255) of raw values through a window and gamma (grey colormap)."""
    lo, hi = levels
    t = np.clip((gray - lo) / (hi - lo), 0.0, 1.0)
    return 255.0 * t**gamma


def compare_canvas(
    screen: np.ndarray, state: dict, file_gray: np.ndarray, levels, gamma: float, tol: float = 3.0
) -> dict:
    """Check every visible canvas pixel against the file through (levels, gamma).

    Each screen pixel covers a footprint of image pixels (one when zoomed in, several when zoomed
    out and smoothed); its gray must lie within the range of the expected grays over that
    footprint, +- ``tol``. Pixels under the canvas's overlay widgets (read-out, loupe) and a 1-px
    rim at the image and viewport edges are left out. Returns figures for the assertion message.
    """
    vx, vy, vw, vh = state["viewport"]
    (ox, oy), (cx, cy) = state["image_origin"], state["image_corner"]
    h, w = file_gray.shape
    sx, sy = (cx - ox) / w, (cy - oy) / h  # screen px per image px
    x0 = max(vx + 1, int(np.ceil(ox)) + 1)
    x1 = min(vx + vw - 1, int(np.floor(cx)) - 1)
    y0 = max(vy + 1, int(np.ceil(oy)) + 1)
    y1 = min(vy + vh - 1, int(np.floor(cy)) - 1)
    if x1 <= x0 or y1 <= y0:
        raise AssertionError(f"the image is not in the viewport: {state}")
    exp = expected_gray(file_gray, levels, gamma)
    xs = np.arange(x0, x1) + 0.5
    ys = np.arange(y0, y1) + 0.5
    # Footprint of each screen pixel in image pixels, widened by a hair for rounding at edges.
    margin = 0.5 + 0.05
    ix_lo = np.clip(np.floor((xs - margin - ox) / sx), 0, w - 1).astype(int)
    ix_hi = np.clip(np.floor((xs + margin - ox) / sx), 0, w - 1).astype(int)
    iy_lo = np.clip(np.floor((ys - margin - oy) / sy), 0, h - 1).astype(int)
    iy_hi = np.clip(np.floor((ys + margin - oy) / sy), 0, h - 1).astype(int)
    lo_map, hi_map = _footprint_range(exp, iy_lo, iy_hi, ix_lo, ix_hi)
    shot = screen[y0:y1, x0:x1].astype(np.float64)
    gray = shot.mean(axis=2)
    chroma = np.abs(shot - gray[..., None]).max(axis=2)
    ok = (gray >= lo_map - tol) & (gray <= hi_map + tol) & (chroma <= tol)
    keep = np.ones_like(ok)
    for rx, ry, rw, rh in state.get("overlays", []):
        keep[max(ry - 1 - y0, 0) : max(ry + rh + 1 - y0, 0),
             max(rx - 1 - x0, 0) : max(rx + rw + 1 - x0, 0)] = False  # fmt: skip
    bad = ~ok & keep
    n = int(keep.sum())
    return {
        "checked": n,
        "bad": int(bad.sum()),
        "bad_fraction": float(bad.sum()) / max(n, 1),
        "black_fraction": float(((gray < 8) & keep).sum()) / max(n, 1),
        "first_bad": _first(bad, x0, y0),
    }


def _footprint_range(exp, iy_lo, iy_hi, ix_lo, ix_hi):
    """Per screen pixel, min and max of ``exp`` over its footprint rectangle (2-D sparse tables)."""
    span_y = int((iy_hi - iy_lo).max()) + 1
    span_x = int((ix_hi - ix_lo).max()) + 1
    rows_min = np.full((len(iy_lo), exp.shape[1]), np.inf)
    rows_max = np.full((len(iy_lo), exp.shape[1]), -np.inf)
    for d in range(span_y):
        r = np.minimum(iy_lo + d, iy_hi)
        rows_min = np.minimum(rows_min, exp[r])
        rows_max = np.maximum(rows_max, exp[r])
    lo = np.full((len(iy_lo), len(ix_lo)), np.inf)
    hi = np.full((len(iy_lo), len(ix_lo)), -np.inf)
    for d in range(span_x):
        c = np.minimum(ix_lo + d, ix_hi)
        lo = np.minimum(lo, rows_min[:, c])
        hi = np.maximum(hi, rows_max[:, c])
    return lo, hi


def _first(mask: np.ndarray, x0: int, y0: int) -> tuple[int, int] | None:
    hits = np.argwhere(mask)
    if not len(hits):
        return None
    y, x = hits[0]
    return int(x + x0), int(y + y0)

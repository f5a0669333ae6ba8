"""Small random-init BAFE-Nets and a minimal DenseSIRST folder, for the backend tests (ONNX, int8,
int8 sky): one recipe instead of a copy per test file.

``tiny_weights(seed, sky_threshold=..., **cfg)`` and ``tiny_densesirst(ids, small, reverse)`` are
session fixtures (factories; tests/conftest.py loads this module as a plugin): each distinct
request is built once per test process and its files are shared, so treat them as read-only
(copy a weights file before writing beside it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


def scene(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Bright ground below a darker, noisy sky, with six small bright targets in the sky."""
    rng = np.random.default_rng(seed)
    img = rng.normal(60, 8, (h, w)).clip(0, 255)
    img[h // 2 :] += 60
    for k in range(6):
        y, x = int(rng.integers(2, h // 2 - 5)), int(rng.integers(2, w - 5))
        img[y : y + 3, x : x + 3] = 250 - 10 * k
    return img.clip(0, 255).astype(np.uint8)


def write_tiny_weights(path: Path, seed: int, sky_threshold: float, **cfg) -> Path:
    """A default-preset net with a fixed exchange (no data-dependent choice), 16 FPN channels,
    random init nudged by N(0, 0.05) so every head map carries signal, saved with operating
    threshold 0.4; ``cfg`` overrides more of the preset."""
    import torch

    from model.checkpoint import save_weights
    from model.config import preset
    from model.net import BafeNet

    torch.manual_seed(seed)
    config = preset("default", exchange="fixed", fpn_channels=16, gn_groups=4, **cfg)
    net = BafeNet(config).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    save_weights(path, net, config, "default", operating_threshold=0.4, sky_threshold=sky_threshold)
    return path


def write_tiny_densesirst(root: Path, ids: list[str], small: tuple[int, int], reverse: bool) -> Path:
    """PNGImages + Splits/train_v2.txt: ``scene`` frames, odd ones 120x150 and even ones ``small``;
    the split lists ``ids`` in order, or reversed (so a calibration's own ordering shows)."""
    from core.imageio import encode_png

    (root / "PNGImages").mkdir(parents=True)
    (root / "Splits").mkdir()
    for i, image_id in enumerate(ids):
        h, w = (120, 150) if i % 2 else small
        (root / "PNGImages" / f"{image_id}.png").write_bytes(encode_png(scene(h, w, seed=i)))
    listed = list(reversed(ids)) if reverse else ids
    (root / "Splits" / "train_v2.txt").write_text("\n".join(listed) + "\n")
    return root


def _cached(factory: pytest.TempPathFactory, prefix: str, build: Callable[[Path], Path]):
    built: dict[tuple, Path] = {}

    def get(key: tuple) -> Path:
        if key not in built:
            built[key] = build(factory.mktemp(prefix), *key)
        return built[key]

    return get


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_weights(seed, sky_threshold=0.5, **cfg) -> Path`` (see ``write_tiny_weights``)."""
    get = _cached(tmp_path_factory, "tiny-w",
                  lambda d, seed, thr, cfg: write_tiny_weights(d / "tiny.safetensors", seed, thr, **dict(cfg)))  # fmt: skip

    def make(seed: int, sky_threshold: float = 0.5, **cfg) -> Path:
        return get((seed, sky_threshold, tuple(sorted(cfg.items()))))

    return make


@pytest.fixture(scope="session")
def tiny_densesirst(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``tiny_densesirst(n, small=(64, 64), reverse=False) -> root`` with frames f0..f{n-1}
    (see ``write_tiny_densesirst``)."""
    get = _cached(tmp_path_factory, "tiny-dense",
                  lambda d, n, small, rev: write_tiny_densesirst(d, [f"f{i}" for i in range(n)], small, rev))  # fmt: skip

    def make(n: int, small: tuple[int, int] = (64, 64), reverse: bool = False) -> Path:
        return get((n, tuple(small), reverse))

    return make

"""Whether this CPU computes ONNX Runtime's u8 x s8 int8 kernels exactly (ADR 0040).

On x86-64 without VNNI (AVX2 only: AMD Zen 2/3, Intel before Cascade Lake / Alder Lake), ORT's
u8s8 (and s8s8) matrix kernels add pairs of u8 x s8 products in saturating int16 (vpmaddubsw).
Full 8-bit weights overflow it: on val_v2 the shipped detector's misses doubled (1.19 -> 2.55 per
image) on such a CPU. 7-bit weights (``reduce_range``) cannot overflow (255 x 64 x 2 < 32767), so a
file quantised that way gives the same outputs on every CPU; a full-range file is exact only where
VNNI (AVX512-VNNI, AVX-VNNI or AMX) does the sums in int32, and on non-x86 CPUs (ARM's dot-product
kernels widen before adding).
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})  # /proc/cpuinfo names


def _linux_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def _numpy_vnni() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            return False
    return bool(features.get("AVX512VNNI"))


@functools.cache
def full_range_int8_exact() -> bool:
    """True when 8-bit-weight u8s8 / s8s8 kernels cannot saturate here (see the module docstring)."""
    if platform.machine().lower() not in {"x86_64", "amd64", "i386", "i686", "x86"}:
        return True
    return _numpy_vnni() or bool(_linux_flags() & VNNI_FLAGS)

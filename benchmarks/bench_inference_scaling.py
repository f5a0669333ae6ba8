"""How Predictor cost grows with the image: time and peak memory per frame, 320x256 .. 4096x3072.

Each size runs in its own process (so one size's peak cannot hide another's): the model is loaded,
one warm-up frame runs, then --reps timed frames (median). Peak memory is the process's peak RSS
(VmHWM in /proc/self/status) minus its RSS after loading the model, i.e. what one frame costs on
top of the loaded model. The frame is synthetic 8-bit noise (cost does not depend on content).

    nice -n 10 .venv/bin/python benchmarks/bench_inference_scaling.py --reps 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = [(320, 256), (640, 512), (1280, 1024), (1920, 1080), (4096, 3072)]


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def child(w: int, h: int, reps: int, threads: int, backend: str) -> None:
    sys.path.insert(0, str(REPO))
    import numpy as np

    from model.inference import Predictor

    pred = Predictor(threads=threads, backend=backend)
    img = (np.random.default_rng(0).random((h, w)) * 255).astype(np.uint8)
    base = _status_kb("VmRSS")
    pred.predict(img).sky_mask()  # warm-up: allocator, ORT shape specialisation
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        pred.predict(img).sky_mask()
        times.append(time.perf_counter() - t)
    print(json.dumps({"ms": 1000 * float(np.median(times)), "peak_mb": (_status_kb("VmHWM") - base) / 1024,
                      "model_rss_mb": base / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", choices=["onnx-int8", "onnx", "torch"], default="onnx-int8")
    ap.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.reps, args.threads, args.backend)
        return
    print(f"Predictor.predict + sky mask, backend {args.backend}, {args.threads} threads, median of {args.reps}")
    print(f"{'size':>11}{'Mpx':>7}{'ms':>9}{'ms/Mpx':>9}{'peak MB':>10}{'MB/Mpx':>9}")
    rows = []
    for w, h in SIZES:
        cmd = [sys.executable, __file__, "--child", str(w), str(h), "--reps", str(args.reps),
               "--threads", str(args.threads), "--backend", args.backend]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if proc.returncode != 0:
            print(f"{w}x{h}: failed ({proc.stderr.strip().splitlines()[-1:]})")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        mpx = w * h / 1e6
        rows.append((mpx, r["ms"], r["peak_mb"]))
        print(f"{w:>5}x{h:<5}{mpx:>7.2f}{r['ms']:>9.0f}{r['ms'] / mpx:>9.0f}{r['peak_mb']:>10.0f}"
              f"{r['peak_mb'] / mpx:>9.0f}")
    if len(rows) >= 2:
        (m0, t0, p0), (m1, t1, p1) = rows[0], rows[-1]
        print(f"largest / smallest: pixels x{m1 / m0:.0f}, time x{t1 / t0:.1f}, peak memory x{p1 / max(p0, 1):.1f}")


if __name__ == "__main__":
    main()

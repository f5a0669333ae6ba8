"""Two or more ONNX graphs of the same network timed side by side (ADR 0039).

Every session runs one thread; the graphs are alternated run by run in one process, so machine
load and cache state hit them alike, and each run is timed with ``time.thread_time`` (the run's
own CPU work only). Prints the median ms per run of each graph, and the ratio to the first.

    python benchmarks/onnx_ab.py OLD.onnx NEW.onnx [--size 512x640] [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def main() -> int:
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("graphs", nargs="+", type=Path)
    ap.add_argument("--size", default="512x640", help="input height x width")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.lower().split("x"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sessions = [ort.InferenceSession(str(g), so, providers=["CPUExecutionProvider"]) for g in args.graphs]
    x = np.random.default_rng(0).random((1, 1, h, w), dtype=np.float32)
    feeds = [{s.get_inputs()[0].name: x} for s in sessions]
    for s, f in zip(sessions, feeds, strict=True):
        s.run(None, f)  # warm-up
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(args.runs):
        for k, (s, f) in enumerate(zip(sessions, feeds, strict=True)):
            t = time.thread_time()
            s.run(None, f)
            times[k].append((time.thread_time() - t) * 1000)
    first = statistics.median(times[0])
    for g, t in zip(args.graphs, times, strict=True):
        m = statistics.median(t)
        print(f"{m:8.2f} ms  {m / first:5.3f}x  {g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

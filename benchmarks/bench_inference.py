"""Inference backends of the shipped BAFE-Net side by side, against a torchvision ResNet-18 forward.

One run, interleaved repetitions (each round times every variant once, so machine load hits all
of them alike), medians and ratios. Network-only variants at 640x512 (a real DenseSIRST frame):

- torch eager fp32 (the reference), torch.jit frozen (BN folded into convs, oneDNN fusions),
  torch channels-last, torch bf16 autocast (AVX512-BF16 / AMX where present);
- ONNX Runtime fp32 (the Predictor's default), ONNX Runtime int8 (static QDQ quantisation,
  per-channel weights, calibrated on train_v2 frames);

plus end to end: ``Predictor.predict`` on an image in memory (both backends) and the ``predict``
command's pipeline on --n-e2e frames read from disk with every output file written (ms per
image). ``speed vs R18`` = ResNet-18 time / variant time (> 1: faster than one ResNet-18 forward).

``--accuracy`` also evaluates every network variant once over val_v2 (mAP07 with legacy widths,
sky IoU at the shipped sky threshold) and checks the gate: at most 0.005 lower than torch fp32.

    nice -n 10 .venv/bin/python benchmarks/bench_inference.py --reps 7 --accuracy
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "DenseSIRST" / "SIRSTdevkit"
GATE = 0.005


class JitRunner:
    def __init__(self, net, cfg, x: np.ndarray) -> None:
        from model.onnx_export import _FlatOutputs, output_names

        self.names = output_names(cfg)
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(_FlatOutputs(net).eval(), torch.from_numpy(x), check_trace=False)
            self.mod = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))

    def __call__(self, x: np.ndarray):
        with torch.inference_mode():
            flat = self.mod(torch.from_numpy(x))
        return _to_maps(self.names, flat)


class ChannelsLastRunner:
    def __init__(self, net) -> None:
        import copy

        self.net = copy.deepcopy(net).to(memory_format=torch.channels_last)

    def __call__(self, x: np.ndarray):
        with torch.inference_mode():
            out = self.net(torch.from_numpy(x).to(memory_format=torch.channels_last))
        return {k: [t.contiguous() for t in v] for k, v in out.items()}


class Bf16Runner:
    def __init__(self, net) -> None:
        self.net = net

    def __call__(self, x: np.ndarray):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = self.net(torch.from_numpy(x))
        return {k: [t.float() for t in v] for k, v in out.items()}


class OrtRunner:
    def __init__(self, data: bytes, cfg, threads: int) -> None:
        from model.backends import make_session
        from model.onnx_export import output_names

        self.session = make_session(data, threads)
        self.names = output_names(cfg)

    def __call__(self, x: np.ndarray):
        return _to_maps(self.names, [torch.from_numpy(a) for a in self.session.run(self.names, {"image": x})])


def _to_maps(names, flat):
    out: dict[str, list] = {"cls": [], "ctr": [], "box": [], "sky": []}
    for n, t in zip(names, flat, strict=True):
        out[n.rsplit("_", 1)[0]].append(t)
    return out


def quantize_int8(data: bytes, frames: list[np.ndarray], tmp: Path) -> bytes:
    """Static int8 QDQ model (per-channel weights, MinMax calibration on ``frames``)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(frames)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"image": x}

    src, dst = tmp / "fp32.onnx", tmp / "int8.onnx"
    src.write_bytes(data)
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    return dst.read_bytes()


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def evaluate(predictor, runner, samples) -> tuple[float, float]:
    """(mAP07, sky IoU at the shipped threshold) of ``runner`` + the Predictor's own stages."""
    from core import metrics
    from model.data import SKY_IGNORE

    gts, dets, inter, union = [], [], 0, 0
    for s in samples:
        prepared = predictor.prepare(s.image)
        p = predictor.finish(prepared, runner(prepared.x))
        gts.append(s.boxes)
        dets.append((p.boxes, p.scores))
        if (s.sky != SKY_IGNORE).all():
            m, gt = p.sky_mask(), s.sky == 1
            inter += int(np.count_nonzero(m & gt))
            union += int(np.count_nonzero(m | gt))
    return metrics.evaluate_detections(gts, dets).mAP07, inter / max(union, 1)


def e2e_cli(frames_dir: Path, threads: int, backend: str) -> float:
    """The predict command in-process over a folder; seconds per image."""
    from app.cli import main as cli_main

    files = list(frames_dir.iterdir())
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        code = cli_main(["predict", str(frames_dir), out, "--threads", str(threads), "--backend", backend])
        dt = time.perf_counter() - t
    if code != 0:
        raise SystemExit(f"predict exited {code}")
    return dt / len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n-e2e", type=int, default=8, help="frames per end-to-end predict run")
    ap.add_argument("--accuracy", action="store_true", help="also evaluate every variant on val_v2")
    ap.add_argument("--skip", default="", help="comma-separated variant names to leave out")
    args = ap.parse_args()
    import contextlib
    import io
    import logging
    import shutil

    import torchvision

    from core.imageio import read_image
    from model.backends import TorchRunner
    from model.data import load_densesirst
    from model.inference import Predictor
    from model.onnx_export import export_bytes, file_sha256, onnx_metadata

    logging.disable(logging.WARNING)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("SIRST_STUDIO_CACHE", tempfile.mkdtemp(prefix="bench-cache-"))
    paths = sorted((ROOT / "PNGImages").glob("*.png"))
    frames = [(p, read_image(p)) for p in paths]
    frames = [(p, f) for p, f in frames if f.shape[:2] == (512, 640)]
    ref = Predictor(threads=args.threads, backend="torch")
    x = ref.prepare(frames[0][1]).x
    t = time.perf_counter()
    onnx_data = export_bytes(ref.net, ref.cfg, onnx_metadata(ref.cfg, ref.metadata, file_sha256(ref.weights)))
    export_s = time.perf_counter() - t
    t = time.perf_counter()
    fast = Predictor(threads=args.threads)  # exports into the (empty) cache
    load_cold = time.perf_counter() - t
    t = time.perf_counter()
    fast = Predictor(threads=args.threads)  # from the cache
    load_warm = time.perf_counter() - t
    t = time.perf_counter()
    Predictor(threads=args.threads, backend="torch")
    load_torch = time.perf_counter() - t

    tmp = Path(tempfile.mkdtemp(prefix="bench-inf-"))
    calib = [ref.prepare(read_image(ROOT / "PNGImages" / f"{i}.png")).x
             for i in (ROOT / "Splits" / "train_v2.txt").read_text().split()[:8]]
    resnet = torchvision.models.resnet18(weights=None).eval()
    rx = torch.rand(1, 3, 512, 640)

    def r18(_x):
        with torch.inference_mode():
            resnet(rx)

    skip = set(filter(None, args.skip.split(",")))
    net_variants = {
        "torch eager fp32": TorchRunner(ref.net, args.threads),
        "torch jit frozen (BN folded)": JitRunner(ref.net, ref.cfg, x),
        "torch channels-last": ChannelsLastRunner(ref.net),
        "torch bf16 autocast": Bf16Runner(ref.net),
        "ORT fp32": OrtRunner(onnx_data, ref.cfg, args.threads),
        "ORT int8 QDQ": OrtRunner(quantize_int8(onnx_data, calib, tmp), ref.cfg, args.threads),
    }
    net_variants = {k: v for k, v in net_variants.items() if k not in skip}
    e2e_dir = tmp / "frames"
    e2e_dir.mkdir()
    for p, _ in frames[: args.n_e2e]:
        shutil.copy(p, e2e_dir / p.name)
    img = frames[0][1]
    rows = {"ResNet-18 forward (yardstick)": r18, **net_variants,
            "Predictor.predict onnx (in memory)": lambda _x: fast.predict(img),
            "Predictor.predict torch (in memory)": lambda _x: ref.predict(img)}
    e2e = {"predict CLI onnx (disk, per image)": "onnx", "predict CLI torch (disk, per image)": "torch"}
    times: dict[str, list[float]] = {k: [] for k in [*rows, *e2e]}
    for fn in rows.values():
        fn(x)  # warm-up
    for _ in range(args.reps):
        for name, fn in rows.items():
            times[name].append(timed(fn, x))
        for name, backend in e2e.items():
            with contextlib.redirect_stderr(io.StringIO()):
                times[name].append(e2e_cli(e2e_dir, args.threads, backend))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["ResNet-18 forward (yardstick)"]
    ref_ms = med.get("torch eager fp32", float("nan"))
    acc = {}
    if args.accuracy:
        samples = load_densesirst(ROOT, "val_v2")
        for name, runner in net_variants.items():
            acc[name] = evaluate(ref, runner, samples)
    print(f"640x512, {args.threads} threads, median of {args.reps} interleaved rounds; "
          f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}")
    print(f"{'variant':<38}{'ms':>8}{'speed vs R18':>14}{'vs torch fp32':>15}"
          + (f"{'mAP07':>8}{'d mAP':>8}{'sky IoU':>9}{'d sky':>8}{'gate':>6}" if acc else ""))
    ref_acc = acc.get("torch eager fp32")
    for name, m in med.items():
        line = f"{name:<38}{m * 1000:>8.1f}{base / m:>13.2f}x{ref_ms / m:>14.2f}x"
        if name in acc and ref_acc is not None:
            a, s = acc[name]
            da, ds = a - ref_acc[0], s - ref_acc[1]
            ok = da >= -GATE and ds >= -GATE
            line += f"{a:>8.3f}{da:>+8.3f}{s:>9.3f}{ds:>+8.3f}{'ok' if ok else 'FAIL':>6}"
        print(line)
    print(f"ONNX export {export_s:.2f} s; Predictor load: onnx cold (export + cache) {load_cold:.2f} s, "
          f"onnx cached {load_warm:.2f} s, torch {load_torch:.2f} s")
    print("rounds (ms):")
    for name, v in times.items():
        print(f"  {name:<38}" + " ".join(f"{1000 * t:.0f}" for t in v))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

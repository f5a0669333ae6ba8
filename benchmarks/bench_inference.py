"""Inference backends of the shipped BAFE-Net side by side, against a torchvision ResNet-18 forward.

One run, interleaved repetitions (each round times every variant once, so machine load hits all
of them alike), medians and ratios. Network-only variants at 640x512 (a real DenseSIRST frame):

- torch eager fp32 (the reference), torch.jit frozen (BN folded into convs, oneDNN fusions),
  torch channels-last, torch bf16 autocast (AVX512-BF16 / AMX where present);
- ONNX Runtime fp32, ONNX Runtime int8: the shipped ``resources/models/bafenet_default.int8.onnx``
  (static QDQ, model/quantize.py, made by ``main.py export-model --int8``; row absent without it);

plus end to end: ``Predictor.predict`` on an image in memory (each backend) and the ``predict``
command's pipeline on --n-e2e frames read from disk with every output file written (ms per
image; ``onnx-int8`` loads the shipped int8 file). ``speed vs R18`` = ResNet-18 time / variant time (> 1: faster than one ResNet-18 forward).

``--accuracy`` also evaluates every network variant once over val_v2 through the Predictor's stages
(model/int8_gate.py: mAP07 with legacy widths, sky IoU of the final cleaned sky mask) and checks
the gate: at most 0.005 lower than torch fp32. The int8 candidates themselves are explored by
benchmarks/gate_int8.py.

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


def timed(fn, *args) -> float:
    t = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t


def evaluate(predictor, runner, samples) -> tuple[float, float]:
    """(mAP07, sky IoU of the final mask) of ``runner`` inside the Predictor's own stages
    (whole-frame sky pass included)."""
    import copy
    import threading

    from model.int8_gate import evaluate as gate_evaluate

    other = copy.copy(predictor)
    other._runner, other._lock = runner, threading.Lock()
    other.backend = getattr(runner, "backend", predictor.backend)
    fig = gate_evaluate(other, samples)
    return fig.map07, fig.sky_iou


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


def e2e_loaded(predictor, frames_dir: Path) -> float:
    """The predict command's pipeline (decode, prepare, network, finish, all output files) with
    the model already loaded, as in a long batch; seconds per image."""
    import contextlib
    import io

    from app.cli.predict import ensure_out, predict_folder

    todo = [(p.stem, p) for p in sorted(frames_dir.iterdir())]
    with tempfile.TemporaryDirectory() as out:
        ensure_out(Path(out))
        t = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            _rows, failed, _pixels = predict_folder(predictor, todo, Path(out), predictor.operating_threshold, 0.05)
        dt = time.perf_counter() - t
    if failed:
        raise SystemExit(f"predict failed on {failed}")
    return dt / len(todo)


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
    from model.inference import Predictor
    from model.int8_gate import load_split
    from model.onnx_export import export_bytes, file_sha256, onnx_metadata
    from model.quantize import Int8Unusable, int8_path, read_int8

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
    fast = Predictor(threads=args.threads, backend="onnx")  # exports into the (empty) cache
    load_cold = time.perf_counter() - t
    t = time.perf_counter()
    fast = Predictor(threads=args.threads, backend="onnx")  # from the cache
    load_warm = time.perf_counter() - t
    t = time.perf_counter()
    fast8 = Predictor(threads=args.threads, backend="onnx-int8")
    load_int8 = time.perf_counter() - t
    t = time.perf_counter()
    Predictor(threads=args.threads, backend="torch")
    load_torch = time.perf_counter() - t

    tmp = Path(tempfile.mkdtemp(prefix="bench-inf-"))
    try:
        int8_data, _ = read_int8(int8_path(ref.weights), file_sha256(ref.weights))
    except Int8Unusable as why:
        print(f"no int8 rows: {why}")
        int8_data = None
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
    }
    if int8_data is not None:
        net_variants["ORT int8 (shipped file)"] = OrtRunner(int8_data, ref.cfg, args.threads)
    net_variants = {k: v for k, v in net_variants.items() if k not in skip}
    e2e_dir = tmp / "frames"
    e2e_dir.mkdir()
    for p, _ in frames[: args.n_e2e]:
        shutil.copy(p, e2e_dir / p.name)
    img = frames[0][1]
    rows = {"ResNet-18 forward (yardstick)": r18, **net_variants,
            "Predictor.predict onnx (in memory)": lambda _x: fast.predict(img),
            **({"Predictor.predict onnx-int8 (in memory)": lambda _x: fast8.predict(img)} if int8_data else {}),
            "Predictor.predict torch (in memory)": lambda _x: ref.predict(img)}
    e2e = {"predict CLI onnx (disk, per image)": "onnx", "predict CLI torch (disk, per image)": "torch"}
    if int8_data is not None:
        e2e = {"predict CLI onnx-int8 (disk, per image)": "onnx-int8", **e2e}
    loaded = {"predict pipeline onnx (model loaded, per image)": fast}
    if int8_data is not None:
        loaded = {"predict pipeline onnx-int8 (model loaded, per image)": fast8, **loaded}
    times: dict[str, list[float]] = {k: [] for k in [*rows, *loaded, *e2e]}
    for fn in rows.values():
        fn(x)  # warm-up
    for _ in range(args.reps):
        for name, fn in rows.items():
            times[name].append(timed(fn, x))
        for name, predictor in loaded.items():
            times[name].append(e2e_loaded(predictor, e2e_dir))
        for name, backend in e2e.items():
            with contextlib.redirect_stderr(io.StringIO()):
                times[name].append(e2e_cli(e2e_dir, args.threads, backend))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["ResNet-18 forward (yardstick)"]
    ref_ms = med.get("torch eager fp32", float("nan"))
    acc = {}
    if args.accuracy:
        samples = load_split(ROOT, "val_v2")
        for name, runner in net_variants.items():
            acc[name] = evaluate(ref, runner, samples)
    print(f"640x512, {args.threads} threads, median of {args.reps} interleaved rounds; "
          f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}")
    print(f"{'variant':<42}{'ms':>8}{'speed vs R18':>14}{'vs torch fp32':>15}"
          + (f"{'mAP07':>8}{'d mAP':>8}{'sky IoU':>9}{'d sky':>8}{'gate':>6}" if acc else ""))
    ref_acc = acc.get("torch eager fp32")
    for name, m in med.items():
        line = f"{name:<42}{m * 1000:>8.1f}{base / m:>13.2f}x{ref_ms / m:>14.2f}x"
        if name in acc and ref_acc is not None:
            a, s = acc[name]
            da, ds = a - ref_acc[0], s - ref_acc[1]
            ok = da >= -GATE and ds >= -GATE
            line += f"{a:>8.3f}{da:>+8.3f}{s:>9.3f}{ds:>+8.3f}{'ok' if ok else 'FAIL':>6}"
        print(line)
    print(f"ONNX export {export_s:.2f} s; Predictor load: onnx cold (export + cache) {load_cold:.2f} s, "
          f"onnx cached {load_warm:.2f} s, onnx-int8 {load_int8:.2f} s, torch {load_torch:.2f} s")
    print("rounds (ms):")
    for name, v in times.items():
        print(f"  {name:<42}" + " ".join(f"{1000 * t:.0f}" for t in v))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

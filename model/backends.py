"""Network backends: the padded image [1, 1, H, W] -> raw head maps {kind: [per-level tensors]}.

``TORCH`` runs the eager module and is the reference; ``ONNX`` runs the same network exported to
ONNX in ONNX Runtime (about 1.7x faster on our CPUs, see benchmarks/bench_inference.py and
docs/adr/0007); ``ONNX_INT8`` runs the int8 graph shipped beside the weights
(``<stem>.int8.onnx``, made by ``main.py export-model --int8``; model/quantize.py) when it was
made from exactly these weights, and falls back to ``ONNX`` with one log line otherwise. All
return torch tensors so the post-processing is shared.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from core.errors import CheckpointError
from model.config import BafeConfig
from model.onnx_export import (
    MAP_KINDS,
    SKY_OUTPUT,
    GraphPart,
    cached_onnx,
    drop_cached,
    file_sha256,
    output_names,
)

log = logging.getLogger(__name__)
SKY_INPUT = "image"  # the sky graph's input name (model/onnx_export.py)

HeadMaps = dict[str, list[Tensor]]


class Backend(enum.Enum):
    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


# int8 passed its val_v2 gate for the shipped weights (MODEL.md "int8"): mAP07 -0.0026, sky IoU
# +0.0000. Weights without a matching int8 file beside them run ORT fp32 (one warning line).
DEFAULT_BACKEND = Backend.ONNX_INT8


class TorchRunner:
    """Eager torch (the reference). ``threads`` sets torch's intra-op threads before each run."""

    backend = Backend.TORCH

    def __init__(self, net: nn.Module, threads: int | None) -> None:
        self.net, self.threads = net, threads

    def __call__(self, x: np.ndarray) -> HeadMaps:
        if self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            return self.net(torch.from_numpy(x))


def make_session(data: bytes, threads: int | None, spin: bool = False):
    """An ORT CPU session. Spinning is off by default: idle ORT threads would otherwise burn the
    cores the pipeline's reader and writer threads need between two images."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = int(threads or 0)  # 0: one per physical core
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    so.log_severity_level = 3  # warnings about unused initialisers are noise here
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


class GraphMismatch(Exception):
    """A valid ONNX graph that is not the network the runner needs (other inputs or outputs)."""


def check_graph(session, outputs: list[str], input_name: str | None = None) -> None:
    """GraphMismatch unless the session takes one float image [N, 1, H, W] (named ``input_name``
    when given) and yields every name of ``outputs`` as a float tensor of rank 4: a valid ONNX
    file of another network must be refused before it runs, not fail in the middle of a run."""

    def rank4_float(arg) -> bool:
        return arg.type == "tensor(float)" and len(arg.shape or ()) == 4

    inputs = session.get_inputs()
    channels = inputs[0].shape[1] if len(inputs) == 1 and rank4_float(inputs[0]) else 0
    if not (channels == 1 or channels is None or isinstance(channels, str)):  # str: a symbolic dim
        got = ", ".join(f"{a.name} {a.type} {a.shape}" for a in inputs)
        raise GraphMismatch(f"it takes {got or 'no input'}, not one float image [N, 1, H, W]")
    if input_name is not None and inputs[0].name != input_name:
        raise GraphMismatch(f"its input is '{inputs[0].name}', not '{input_name}'")
    have = {a.name: a for a in session.get_outputs()}
    missing = [n for n in outputs if n not in have]
    if missing:
        raise GraphMismatch(f"it lacks the output{'s' * (len(missing) > 1)} {', '.join(missing[:4])}"
                            f"{' ...' if len(missing) > 4 else ''}: a model of another network")
    wrong = [n for n in outputs if not rank4_float(have[n])]
    if wrong:
        a = have[wrong[0]]
        raise GraphMismatch(f"its output {a.name} is {a.type} {a.shape}, not a float map [N, C, h, w]")


def runtime_outputs(cfg: BafeConfig) -> list[str]:
    """The detector outputs the Predictor uses: all of them, but not the detector's own sky maps
    when a whole-frame sky network gives the sky (those maps are never read then)."""
    return [n for n in output_names(cfg) if not (cfg.sky_net and n.startswith("sky_"))]


def detector_graph(data: bytes, cfg: BafeConfig) -> bytes:
    """The detector graph cut down to ``runtime_outputs`` (ONNX Runtime computes every node of a
    graph whatever outputs a run asks for): with a sky network, the sky tower's last conv and the
    half of the channel exchange that only feeds it go, about a tenth of the detector's time; the
    kept outputs are bit for bit those of the whole graph (tests/unit/test_sky_int8.py). A graph
    that lacks an output is returned as it is (``check_graph`` then says what is missing)."""
    import onnx
    from onnx.utils import Extractor

    keep = runtime_outputs(cfg)
    model = onnx.load_from_string(data)
    outputs = [o.name for o in model.graph.output]
    if keep == outputs or not set(keep) <= set(outputs):
        return data
    sub = Extractor(model).extract_model([i.name for i in model.graph.input], keep)
    sub.metadata_props.extend(model.metadata_props)
    sub.doc_string = model.doc_string
    return sub.SerializeToString()


class OnnxRunner:
    """ONNX Runtime on a session of the exported graph (fp32 or int8: same inputs and outputs)."""

    def __init__(self, session, cfg: BafeConfig, backend: Backend = Backend.ONNX) -> None:
        self.session, self.backend = session, backend
        self.names = runtime_outputs(cfg)
        check_graph(session, self.names)
        self.input = session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> HeadMaps:
        arrays = self.session.run(self.names, {self.input: x})
        out: HeadMaps = {kind: [] for kind in MAP_KINDS}
        for name, arr in zip(self.names, arrays, strict=True):
            out[name.rsplit("_", 1)[0]].append(torch.from_numpy(arr))
        return out


def _need_ort() -> None:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise CheckpointError("the ONNX backend needs onnxruntime (pip install onnxruntime); "
                              "or use --backend torch") from exc


def fp32_runner(net: nn.Module, cfg: BafeConfig, meta: dict[str, str], weights: Path,
                threads: int | None) -> OnnxRunner:
    """ORT on the fp32 export of these weights (cached per weights file)."""
    _need_ort()
    data = cached_onnx(net, cfg, meta, weights)
    try:
        return OnnxRunner(make_session(detector_graph(data, cfg), threads), cfg)
    except Exception as exc:  # ORT's Fail/InvalidProtobuf for a bad file; GraphMismatch for another network
        log.warning("cached ONNX model rejected (%s); exporting again", exc)
    drop_cached(weights)
    return OnnxRunner(make_session(detector_graph(cached_onnx(net, cfg, meta, weights), cfg), threads), cfg)


def int8_runner(net: nn.Module, cfg: BafeConfig, meta: dict[str, str], weights: Path,
                threads: int | None) -> OnnxRunner:
    """ORT on the int8 graph beside the weights; ORT fp32 (one warning line) when that file is
    missing, truncated or made from other weights. A file whose recorded gate failed (or did not
    run on the whole val split) still runs when asked for, with one warning line saying so: the
    default backend only becomes int8 once the shipped file passes (ADR 0007)."""
    from model.quantize import Int8Unusable, gate_problem, int8_path, read_int8, refuse_saturating

    _need_ort()
    path = int8_path(weights)
    try:
        data, int8_meta = read_int8(path, file_sha256(weights))
        try:
            runner = OnnxRunner(make_session(detector_graph(data, cfg), threads), cfg, Backend.ONNX_INT8)
        except GraphMismatch as exc:  # a valid file of another network, with the right metadata
            raise Int8Unusable(f"the int8 model {path} does not fit these weights ({exc})") from exc
        except Exception as exc:  # ORT refused a file that parsed (an op it cannot run)
            raise Int8Unusable(f"ONNX Runtime cannot load the int8 model {path} ({type(exc).__name__})") from exc
        refuse_saturating(path, int8_meta)
        problem = gate_problem(int8_meta)
        if problem:
            log.warning("using the int8 model %s although %s", path, problem)
        return runner
    except Int8Unusable as why:
        log.warning("%s; using ONNX Runtime fp32 instead", why)
    return fp32_runner(net, cfg, meta, weights, threads)


def make_runner(backend: Backend, net: nn.Module, cfg: BafeConfig, meta: dict[str, str],
                weights: Path, threads: int | None) -> TorchRunner | OnnxRunner:
    if backend is Backend.TORCH:
        return TorchRunner(net, threads)
    if backend is Backend.ONNX_INT8:
        return int8_runner(net, cfg, meta, weights, threads)
    return fp32_runner(net, cfg, meta, weights, threads)


class TorchSkyRunner:
    """Eager torch run of the whole-frame sky network: shrunk frame [1, 1, h, w] -> logit [1, 1, h/4, w/4]."""

    backend = Backend.TORCH

    def __init__(self, net: nn.Module, threads: int | None) -> None:
        self.sky_net, self.threads = net.sky_net, threads

    def __call__(self, x: np.ndarray) -> Tensor:
        if self.threads:
            torch.set_num_threads(self.threads)
        device = next(self.sky_net.parameters()).device  # a network being trained may sit on a GPU
        with torch.inference_mode():
            return self.sky_net(torch.from_numpy(x).to(device)).cpu()

    def sky(self, x: np.ndarray, valid: tuple[int, int], threshold: float, rule) -> tuple[Tensor, bool]:
        """The logit with the mirrored look only where ``rule`` wants it (model.sky_look), and
        whether it ran; the network's own forward when it has no mirrored look."""
        if not self.sky_net.flip:
            return self(x), False
        from model.sky_look import adaptive

        if self.threads:
            torch.set_num_threads(self.threads)
        device = next(self.sky_net.parameters()).device
        with torch.inference_mode():
            out, mirrored = adaptive(self.sky_net.single, lambda a, b: 0.5 * (a + b.flip(-1)),
                                     lambda t: t.flip(-1), torch.from_numpy(x).to(device), valid, threshold, rule)
        return out.cpu(), mirrored


class OnnxSkyRunner:
    """ONNX Runtime run of the sky network's own graph: the fp32 export (cached next to the
    detector's), or a given session (the int8 graph beside the weights)."""

    def __init__(self, net: nn.Module, cfg: BafeConfig, meta: dict[str, str], weights: Path,
                 threads: int | None, session=None, backend: Backend = Backend.ONNX,
                 data: bytes | None = None) -> None:
        self.backend = backend
        self.looks = None  # model.sky_look.MirrorLooks: the graph's two looks as separate runs
        if session is None:
            try:
                data = cached_onnx(net, cfg, meta, weights, GraphPart.SKY)
                session = make_session(data, threads)
                check_graph(session, [SKY_OUTPUT], SKY_INPUT)
            except Exception as exc:  # a damaged cache file, or one of another network: export again once
                log.warning("cached ONNX sky model rejected (%s); exporting again", exc)
                drop_cached(weights)
                data = cached_onnx(net, cfg, meta, weights, GraphPart.SKY)
                session = make_session(data, threads)
        self.session = session
        if cfg.sky_flip and data is not None:  # the mirrored look may then be skipped (ADR 0036)
            from model.sky_look import MirrorLooks, split_graph

            pieces = split_graph(data)
            if pieces is not None:
                self.looks = MirrorLooks(*(make_session(piece, threads) for piece in pieces))

    @staticmethod
    def run_session(session, x: np.ndarray) -> Tensor:
        return torch.from_numpy(session.run([SKY_OUTPUT], {SKY_INPUT: x})[0])

    def __call__(self, x: np.ndarray) -> Tensor:
        return self.run_session(self.session, x)

    def sky(self, x: np.ndarray, valid: tuple[int, int], threshold: float, rule) -> tuple[Tensor, bool]:
        """The logit with the mirrored look only where ``rule`` wants it (model.sky_look), and
        whether it ran; the whole graph when it cannot be split."""
        if self.looks is None:
            return self(x), False
        from model.sky_look import adaptive

        out, mirrored = adaptive(self.looks.look, self.looks.mean, lambda a: np.ascontiguousarray(a[..., ::-1]),
                                 x, valid, threshold, rule)
        return torch.from_numpy(out), mirrored


def int8_sky_session(weights: Path, threads: int | None):
    """(an ORT session of the sky network's int8 graph beside the weights (model/sky_int8.py),
    the graph's bytes); Int8Unusable when it is missing, damaged, made from other weights or not a
    sky graph. A file whose recorded gate failed still runs, with one warning line (as the detector's)."""
    from model.quantize import (
        Int8Unusable,
        gate_problem,
        int8_path,
        read_int8,
        refuse_saturating,
        sky_int8_path,
    )

    path = sky_int8_path(weights)
    if not path.is_file():
        raise Int8Unusable(f"no int8 model at {path} (make it with: main.py export-model --int8 "
                           f"{int8_path(weights)} --only sky --calib-data DENSESIRST_ROOT)")
    data, meta = read_int8(path, file_sha256(weights))
    try:
        session = make_session(data, threads)
        check_graph(session, [SKY_OUTPUT], SKY_INPUT)
    except GraphMismatch as exc:
        raise Int8Unusable(f"the int8 sky model {path} is not a sky network's graph ({exc})") from exc
    except Exception as exc:  # ORT refused a file that parsed
        raise Int8Unusable(f"ONNX Runtime cannot load the int8 sky model {path} ({type(exc).__name__})") from exc
    refuse_saturating(path, meta)
    problem = gate_problem(meta)
    if problem:
        log.warning("using the int8 sky model %s although %s", path, problem)
    return session, data


def make_sky_runner(backend: Backend, net: nn.Module, cfg: BafeConfig, meta: dict[str, str],
                    weights: Path, threads: int | None) -> TorchSkyRunner | OnnxSkyRunner | None:
    """The whole-frame sky network's runner (None when the weights have no sky network). With
    ``ONNX_INT8`` its int8 graph when one made from these weights lies beside them, else ORT fp32
    (a missing file is said at info level: the detector's fallback already warns; a damaged or
    stale one with a warning)."""
    if getattr(net, "sky_net", None) is None:
        return None
    if backend is Backend.TORCH:
        return TorchSkyRunner(net, threads)
    if backend is Backend.ONNX_INT8:
        from model.quantize import Int8Unusable

        try:
            session, data = int8_sky_session(weights, threads)
            return OnnxSkyRunner(net, cfg, meta, weights, threads, session, Backend.ONNX_INT8, data)
        except Int8Unusable as why:
            level = logging.INFO if str(why).startswith("no int8 model") else logging.WARNING
            log.log(level, "%s; the sky network runs in ONNX Runtime fp32", why)
    return OnnxSkyRunner(net, cfg, meta, weights, threads)

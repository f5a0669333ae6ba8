"""The sky network's mirrored second look, taken only on frames where it can change the sky (ADR 0036).

With ``cfg.sky_flip`` the sky network averages the logit of the frame with the mirrored logit of
the mirrored frame (model/skynet.py): a second pass of the network, about a sixth of ``predict``'s
CPU per frame. On most frames the plain look alone already decides every pixel far from the sky
threshold (all sky, all ground, or a sharp horizon), and the average of two looks cannot move
those pixels across it. So the plain look runs first, and the mirrored one only when more than
``MirrorRule.share`` of the frame's logit cells lie within ``MirrorRule.margin`` of
logit(sky threshold).

The exported sky graphs (fp32 and int8) hold both looks as a batch of two; ``split_graph`` cuts
such a graph into the one-look network (the batch of two replaced by the frame itself, output the
last conv's logit) and its tail (mirror and average), so both looks through the two pieces give the
whole graph's output. The int8 graph keeps that tail in float (``tail_nodes``, ADR 0044): averaging
two int8 logits and rounding the mean back to the logit's 0.075 step moved the sky outline enough
to cost 0.03 sky edits per val_v2 image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

LOGIT = "/sky_logits/Conv_output_0"  # the sky network's last conv (torch.onnx names it by module)
TAIL_INPUT = "logits"  # the tail graph's input: [2N, 1, h, w] = plain looks, then mirrored looks
BATCH_REF = "image"  # the tail reads N from the shape of the graph's own image input


@dataclass(frozen=True)
class MirrorRule:
    """Take the mirrored look when more than ``share`` of the frame's logit cells lie within
    ``margin`` (logit units) of logit(sky threshold); ``share`` < 0: always (the graph's own
    behaviour)."""

    margin: float
    share: float


ALWAYS = MirrorRule(0.0, -1.0)
# Chosen on val_v2 (MODEL.md "Speed", ADR 0036); re-measured with the looks averaged in float (ADR
# 0044): margin 1.0 skips 29 more frames for one frame fewer right as proposed, so it stays.
DEFAULT_RULE = MirrorRule(margin=1.5, share=0.01)


def uncertain_share(logit: np.ndarray, valid: tuple[int, int], threshold: float, margin: float) -> float:
    """Share of the logit cells of the frame (the top-left ``valid`` (h, w) cells: the rest is
    padding) whose logit lies within ``margin`` of logit(``threshold``)."""
    h, w = valid
    cells = np.asarray(logit, np.float32).reshape(logit.shape[-2:])[:h, :w]
    if cells.size == 0:
        return 0.0
    t = math.log(threshold / (1.0 - threshold)) if 0.0 < threshold < 1.0 else 0.0
    return float(np.count_nonzero(np.abs(cells - np.float32(t)) < margin)) / cells.size


def needs_mirror(logit: np.ndarray, valid: tuple[int, int], threshold: float, rule: MirrorRule) -> bool:
    """Whether the mirrored look may change this frame's sky (see the module doc)."""
    if rule.share < 0:
        return True
    return uncertain_share(logit, valid, threshold, rule.margin) > rule.share


def valid_cells(sky_size: tuple[int, int], stride: int) -> tuple[int, int]:
    """Logit cells (h, w) that cover the frame of ``sky_size`` pixels (the rest is padding)."""
    return -(-sky_size[0] // stride), -(-sky_size[1] // stride)


def split_graph(data: bytes) -> tuple[bytes, bytes] | None:
    """(one-look graph, tail graph) of a sky graph that holds both looks, or None when it does
    not (no batch-of-two Concat on its image input, or no ``LOGIT`` tensor).

    One look: input ``image`` [N, 1, H, W] -> output ``LOGIT`` (or its dequantised copy in an int8
    graph) [N, 1, h, w]. Tail: inputs ``TAIL_INPUT`` [2N, 1, h, w] and ``image`` (only its shape
    is read: any [N, 1, 1, 1] array) -> the whole graph's output."""
    import onnx
    from onnx.utils import Extractor

    model = onnx.load_from_string(data)
    graph = model.graph
    image = graph.input[0].name
    consumers: dict[str, list] = {}
    producers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
        for name in node.output:
            producers[name] = node
    # the image itself, or its DequantizeLinear copy in a QDQ int8 graph
    feeds = [image] + [n.output[0] for n in consumers.get(image, []) if n.op_type == "QuantizeLinear"]
    feeds += [n.output[0] for f in feeds[1:] for n in consumers.get(f, []) if n.op_type == "DequantizeLinear"]
    concat = next((n for f in feeds for n in consumers.get(f, []) if n.op_type == "Concat" and n.input[0] == f), None)
    logit = LOGIT + "_DequantizeLinear_Output" if LOGIT + "_DequantizeLinear_Output" in producers else LOGIT
    if concat is None or logit not in producers or len(graph.output) != 1:
        return None
    out = graph.output[0].name
    if logit not in {v.name for v in graph.value_info}:  # Extractor needs the cut tensor's type
        graph.value_info.append(onnx.helper.make_tensor_value_info(logit, onnx.TensorProto.FLOAT, None))

    one = onnx.ModelProto()
    one.CopyFrom(model)
    for node in one.graph.node:
        if node.output[0] == concat.output[0]:
            del node.input[1:]
            node.op_type = "Identity"
            del node.attribute[:]
    single = Extractor(one).extract_model([image], [logit])

    tail = Extractor(model).extract_model([logit, image], [out])
    for value in tail.graph.input:
        if value.name == logit:
            value.name = TAIL_INPUT
    for node in tail.graph.node:
        for i, name in enumerate(node.input):
            if name == logit:
                node.input[i] = TAIL_INPUT
    for m in (single, tail):
        m.metadata_props.extend(model.metadata_props)
    return single.SerializeToString(), tail.SerializeToString()


def tail_nodes(data: bytes) -> tuple[str, ...]:
    """Names of the nodes of a sky graph computed from the last conv's logit (``LOGIT``): the mirror
    and average that the int8 export keeps in float; () when the graph has no ``LOGIT``."""
    import onnx

    graph = onnx.load_from_string(data).graph
    reached, names = {LOGIT}, []
    for node in graph.node:  # ONNX nodes are topologically sorted
        if any(name in reached for name in node.input):
            names.append(node.name)
            reached.update(node.output)
    return tuple(names)


class MirrorLooks:
    """ONNX Runtime sessions of a split sky graph: ``look`` runs the network once, ``mean`` the
    graph's tail on a plain and a mirrored look; ``both`` equals the whole graph."""

    def __init__(self, single, tail) -> None:
        """``single`` / ``tail``: ONNX Runtime sessions of ``split_graph``'s two pieces."""
        self.single, self.tail = single, tail
        self.input = self.single.get_inputs()[0].name
        self.output = self.single.get_outputs()[0].name

    def look(self, x: np.ndarray) -> np.ndarray:
        return self.single.run([self.output], {self.input: x})[0]

    def mean(self, plain: np.ndarray, mirrored: np.ndarray) -> np.ndarray:
        n = plain.shape[0]
        return self.tail.run(None, {TAIL_INPUT: np.concatenate([plain, mirrored]),
                                    BATCH_REF: np.zeros((n, 1, 1, 1), np.float32)})[0]

    def both(self, x: np.ndarray) -> np.ndarray:
        return self.mean(self.look(x), self.look(np.ascontiguousarray(x[..., ::-1])))


def adaptive(look, mean, flip, x, valid: tuple[int, int], threshold: float, rule: MirrorRule):
    """(sky logit, whether the mirrored look ran): ``look(x)``, then, when ``needs_mirror`` says so,
    ``mean(plain, look(flip(x)))``. ``look`` / ``mean`` / ``flip`` are the backend's (numpy arrays
    for ONNX Runtime, tensors for torch)."""
    plain = look(x)
    if not needs_mirror(np.asarray(plain), valid, threshold, rule):
        return plain, False
    return mean(plain, look(flip(x))), True

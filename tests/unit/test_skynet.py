"""The whole-frame sky network: its shape contract, and that it starts as the detector's sky head."""

from __future__ import annotations

import torch

from model.config import preset
from model.net import BafeNet
from model.skynet import SKY_NET_STRIDE, SkyNet, init_from_detector

TINY = dict(fpn_channels=16, gn_groups=4, tower_convs=1, adapter_hidden=8)


def test_sky_net_logit_is_stride_4_of_its_input() -> None:
    net = SkyNet(preset("default", **TINY)).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, 96, 160))
    assert out.shape == (2, 1, 96 // SKY_NET_STRIDE, 160 // SKY_NET_STRIDE)


def test_initialised_sky_net_equals_the_detectors_level0_sky_head_without_exchange() -> None:
    """Zero-initialised lifts: the top-down path adds nothing, so the network is the detector's
    backbone -> FPN level 0 -> seg tower -> sky logits, computed here from the detector's modules."""
    torch.manual_seed(3)
    cfg = preset("default", **TINY)
    det = BafeNet(cfg).eval()
    for p in det.parameters():  # non-trivial weights everywhere
        p.data.normal_(0, 0.05)
    sky = SkyNet(cfg).eval()
    copied = init_from_detector(sky, det.state_dict())
    assert copied == len([k for k in sky.state_dict() if k.split(".")[0] in ("backbone", "fpn", "seg_tower", "sky_logits")])
    x = torch.rand(1, 1, 64, 96)
    with torch.no_grad():
        feats = det.backbone((x - cfg.mean) / cfg.std)
        level0 = list(det.fpn({str(i): f for i, f in enumerate(feats)}).values())[0]
        ref = det.head.sky_logits(det.head.seg_tower(level0))
        got = sky(x)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    with torch.no_grad():  # and the top-down path is live once its lifts are non-zero
        sky.lift8.weight.normal_(0, 0.5)
        assert (sky(x) - ref).abs().max() > 1e-3


def test_detector_forward_ignores_the_sky_net() -> None:
    torch.manual_seed(0)
    plain = BafeNet(preset("default", **TINY)).eval()
    with_sky = BafeNet(preset("default", sky_net=True, sky_pass_long_side=64, **TINY)).eval()
    with_sky.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        a, b = plain(x), with_sky(x)
    for kind in a:
        for ta, tb in zip(a[kind], b[kind], strict=True):
            assert torch.equal(ta, tb)


def test_sky_iou_counts_equal_brute_force_counts_at_every_threshold() -> None:
    import numpy as np

    from model.validate import SKY_THRESHOLDS, sky_iou_counts

    rng = np.random.default_rng(0)
    for _ in range(4):
        prob = rng.random((40, 60)).astype(np.float32)
        prob[0, :6] = SKY_THRESHOLDS[[0, 3, 3, 7, -1, -1]]  # values exactly on a threshold count as >=
        gt = rng.random((40, 60)) < 0.4
        brute = [[np.count_nonzero((prob >= t) & gt), np.count_nonzero((prob >= t) | gt)] for t in SKY_THRESHOLDS]
        assert sky_iou_counts(prob, gt).tolist() == brute


def test_sky_flip_averages_the_frame_and_its_mirror_at_inference_and_in_onnx() -> None:
    """sky_flip: mean of net(x) and mirror(net(mirror(x))), computed here from a plain network with
    the same weights; training mode is left plain; the exported ONNX graph gives the same."""
    import numpy as np
    import onnxruntime as ort

    from model.onnx_export import GraphPart, export_bytes

    torch.manual_seed(11)
    plain = SkyNet(preset("default", **TINY)).eval()
    for p in plain.parameters():
        p.data.normal_(0, 0.05)
    cfg = preset("default", sky_net=True, sky_flip=True, sky_pass_long_side=64, **TINY)
    host = BafeNet(cfg)
    host.sky_net.load_state_dict(plain.state_dict())
    flip = host.sky_net.eval()
    x = torch.rand(2, 1, 64, 96)
    with torch.no_grad():
        ref = 0.5 * (plain(x) + plain(x.flip(-1)).flip(-1))
        got = flip(x)
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
        assert (got - plain(x)).abs().max() > 1e-4  # the mirror really adds something
    sess = ort.InferenceSession(export_bytes(host, cfg, {}, GraphPart.SKY), providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {"image": x[:1].numpy()})[0]
    np.testing.assert_allclose(onnx_out, ref[:1].numpy(), rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # last: a training-mode pass moves the BatchNorm statistics
        torch.testing.assert_close(flip.train()(x), plain.train()(x))

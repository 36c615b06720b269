"""The CRAFT network, its weights and tile inference."""

import os
import pickle

import numpy as np
import pytest
import torch

from bigocr.detector import CRAFT, CraftDetector, InvertBoth, RefineNet, preprocess, read_weights, save_weights
from bigocr.detector.infer import MEAN, STD
from bigocr.errors import WeightsError


def _conv(prefix, cin, cout, k):
    return [(f"{prefix}.weight", (cout, cin, k, k)), (f"{prefix}.bias", (cout,))]


def _bn(prefix, c):
    return [(f"{prefix}.weight", (c,)), (f"{prefix}.bias", (c,)), (f"{prefix}.running_mean", (c,)),
            (f"{prefix}.running_var", (c,)), (f"{prefix}.num_batches_tracked", ())]


def _reference_craft_keys():
    """The reference's state_dict, written out from the architecture (clovaai/CRAFT-pytorch)."""
    keys = []
    # torchvision vgg16_bn.features: (conv index, in, out); BN follows each conv at index + 1.
    convs = [(0, 3, 64), (3, 64, 64), (7, 64, 128), (10, 128, 128), (14, 128, 256), (17, 256, 256), (20, 256, 256),
             (24, 256, 512), (27, 512, 512), (30, 512, 512), (34, 512, 512), (37, 512, 512)]
    slices = [(1, 0, 12), (2, 12, 19), (3, 19, 29), (4, 29, 39)]
    for i, cin, cout in convs:
        s = next(n for n, a, b in slices if a <= i < b)
        keys += _conv(f"basenet.slice{s}.{i}", cin, cout, 3) + _bn(f"basenet.slice{s}.{i + 1}", cout)
    keys += _conv("basenet.slice5.1", 512, 1024, 3) + _conv("basenet.slice5.2", 1024, 1024, 1)
    for n, (cin, mid, cout) in enumerate([(1024, 512, 256), (512, 256, 128), (256, 128, 64), (128, 64, 32)], 1):
        keys += _conv(f"upconv{n}.conv.0", cin + mid, mid, 1) + _bn(f"upconv{n}.conv.1", mid)
        keys += _conv(f"upconv{n}.conv.3", mid, cout, 3) + _bn(f"upconv{n}.conv.4", cout)
    keys += _conv("conv_cls.0", 32, 32, 3) + _conv("conv_cls.2", 32, 32, 3) + _conv("conv_cls.4", 32, 16, 3)
    keys += _conv("conv_cls.6", 16, 16, 1) + _conv("conv_cls.8", 16, 2, 1)
    return keys


def _reference_refiner_keys():
    keys = []
    for i, cin in ((0, 34), (3, 64), (6, 64)):
        keys += _conv(f"last_conv.{i}", cin, 64, 3) + _bn(f"last_conv.{i + 1}", 64)
    for n in range(1, 5):
        keys += _conv(f"aspp{n}.0", 64, 128, 3) + _bn(f"aspp{n}.1", 128)
        keys += _conv(f"aspp{n}.3", 128, 128, 1) + _bn(f"aspp{n}.4", 128) + _conv(f"aspp{n}.6", 128, 1, 1)
    return keys


def test_craft_state_dict_equals_the_reference_layout():
    sd = CRAFT().state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == _reference_craft_keys()
    assert next(iter(sd)) == "basenet.slice1.0.weight" and list(sd)[-1] == "conv_cls.8.bias"
    params = sum(p.numel() for p in CRAFT().parameters())
    assert round(params / 1e6, 1) == 20.8


def test_refiner_state_dict_equals_the_reference_layout():
    sd = RefineNet().state_dict()
    assert [(k, tuple(v.shape)) for k, v in sd.items()] == _reference_refiner_keys()


def test_forward_shapes():
    net, ref = CRAFT().eval(), RefineNet().eval()
    with torch.inference_mode():
        scores, feature = net(torch.randn(1, 3, 64, 96))
        assert scores.shape == (1, 32, 48, 2) and feature.shape == (1, 32, 32, 48)
        assert ref(scores, feature).shape == (1, 32, 48, 1)


@pytest.fixture(scope="module")
def craft_net():
    torch.manual_seed(0)
    return CRAFT()


def test_reference_pth_with_module_prefix_loads(tmp_path, craft_net):
    """A DataParallel checkpoint like craft_mlt_25k.pth, saved the way the reference saved it."""
    state = {f"module.{k}": v for k, v in craft_net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "craft_mlt_25k.pth"
    torch.save(state, path)
    weights, loaded = read_weights(path)
    assert weights.name == "craft_mlt_25k" and len(weights.sha256) == 64
    net = CRAFT()
    net.load_state_dict(loaded, strict=True)
    for k, v in craft_net.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(net.state_dict()[k], v)


def test_own_format_roundtrip_and_refiner(tmp_path, craft_net):
    path = save_weights(craft_net, tmp_path / "w.safetensors", name="test-craft").path
    weights, state = read_weights(path)
    assert weights.name == "test-craft"
    torch.save({f"module.{k}": v for k, v in RefineNet().state_dict().items()}, tmp_path / "refiner.pth")
    det = CraftDetector.from_files(path, tmp_path / "refiner.pth", device="cpu")
    region, affinity = det(np.full((70, 45, 3), 200, np.uint8))
    assert region.shape == affinity.shape == (35, 23)
    assert region.dtype == affinity.dtype == np.float32
    assert det.model_info["refiner"]["name"] == "refiner"
    with pytest.raises(WeightsError, match="holds bigocr craft weights, expected refiner"):
        CraftDetector.from_files(path, path)


def test_wrong_checkpoint_names_file_and_keys(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(WeightsError) as err:
        read_weights(path)
    msg = str(err.value)
    assert str(path) in msg and "not a CRAFT checkpoint" in msg
    assert "basenet.slice1.0.weight" in msg and "fc.weight" in msg


def test_wrong_shapes_are_named(tmp_path, craft_net):
    state = dict(craft_net.state_dict())
    state["conv_cls.8.weight"] = torch.zeros(3, 16, 1, 1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"shape of conv_cls.8.weight is \(3, 16, 1, 1\)"):
        read_weights(tmp_path / "bad.pth")


class _Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoint_that_runs_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"x": _Payload()}, fh)
    with pytest.raises(WeightsError, match="asks to run code to load"):
        read_weights(path)
    assert "code ran" not in capsys.readouterr().out


@pytest.mark.parametrize("content,match", [(None, "no such weights file"), (b"", "empty weights file"),
                                           (b"hello, not weights", "not a loadable PyTorch state_dict")])
def test_missing_or_garbage_weights(tmp_path, content, match):
    path = tmp_path / "w.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError, match=match):
        read_weights(path)


def test_preprocess_pads_and_normalises_like_the_reference():
    tile = np.random.default_rng(0).integers(0, 256, (33, 65, 3), dtype=np.uint8)
    x = preprocess(tile)
    assert x.shape == (1, 3, 64, 96) and x.dtype == torch.float32
    expected = (tile.astype(np.float32) - MEAN) / STD
    np.testing.assert_allclose(x[0].permute(1, 2, 0)[:33, :65].numpy(), expected, rtol=1e-6)
    # Padding is black pixels, normalised like any other.
    np.testing.assert_allclose(x[0, :, 40, 70].numpy(), -MEAN / STD, rtol=1e-6)


def test_detector_maps_are_half_size_for_odd_tiles(tmp_path, craft_net):
    path = save_weights(craft_net, tmp_path / "w.safetensors", name="t").path
    det = CraftDetector.from_files(path, device="cpu")
    for shape in ((31, 33, 3), (64, 64, 3), (65, 1, 3)):
        region, affinity = det(np.zeros(shape, np.uint8))
        assert region.shape == ((shape[0] + 1) // 2, (shape[1] + 1) // 2)
    # Pickles as file identities only; the network is loaded in the process that uses it.
    assert len(pickle.dumps(det)) < 2000


def test_invert_both_keeps_the_maximum():
    def dark_only(tile):
        v = (255 - tile[::2, ::2, 0]).astype(np.float32) / 255
        return v, v / 2

    tile = np.zeros((8, 8, 3), np.uint8)
    tile[:, 4:] = 255
    region, affinity = InvertBoth(dark_only)(tile)
    assert np.all(region == 1.0) and np.all(affinity == 0.5)


def test_bf16_autocast_gives_float32_maps_close_to_fp32(tmp_path):
    torch.manual_seed(1)
    path = save_weights(CRAFT(0.25), tmp_path / "w.safetensors", name="t").path
    tile = np.full((96, 130, 3), 255, np.uint8)
    tile[20:40, 10:120] = 30
    fp32 = CraftDetector.from_files(path, device="cpu", precision="fp32")(tile)
    bf16 = CraftDetector.from_files(path, device="cpu", precision="bf16")(tile)
    for a, b in zip(fp32, bf16):
        assert b.dtype == np.float32 and b.shape == a.shape == (48, 65)
        assert np.abs(a - b).max() <= 0.05 * np.abs(a).max()
        assert not np.array_equal(a, b)  # bf16 really ran


def test_precision_names_and_auto(tmp_path, craft_net):
    from bigocr.models.device import fast_bf16, resolve_precision
    from bigocr.errors import ParameterError

    assert resolve_precision("auto", "cpu") == ("bf16" if fast_bf16("cpu") else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32"
    path = save_weights(craft_net, tmp_path / "w.safetensors", name="t").path
    with pytest.raises(ParameterError, match="precision must be auto, fp32, bf16 or int8, got 'fp16'"):
        CraftDetector.from_files(path, device="cpu", precision="fp16")
    assert CraftDetector.from_files(path, device="cpu", precision="fp32").model_info["precision"] == "fp32"
    # auto is resolved with the device, here or (resolve=False) on the worker
    assert CraftDetector.from_files(path, device="cpu").precision == resolve_precision("auto", "cpu")
    assert CraftDetector.from_files(path, device="auto", resolve=False).precision == "auto"


def test_fuse_batch_norm_keeps_the_function():
    """Folded norms: no BatchNorm left, same maps in fp32 (CRAFT and the recognizer's CRNN)."""
    from bigocr.models.weights import fuse_batch_norm
    from bigocr.models.crnn import CRNN

    torch.manual_seed(1)
    for net, x in ((CRAFT(width=0.25), torch.randn(1, 3, 64, 96)), (CRNN(), torch.randn(2, 1, 64, 80))):
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # statistics as a trained net has them
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
        net.eval()
        with torch.no_grad():
            before = net(x)
            fused = fuse_batch_norm(net)
            after = fused(x)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
        before = before[0] if isinstance(before, tuple) else before
        after = after[0] if isinstance(after, tuple) else after
        assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)


def test_halve_averages_two_by_two_blocks_and_repeats_the_last_odd_row():
    from bigocr.detector.infer import halve, map_shape

    tile = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3) * 3
    half = halve(tile)
    assert half.shape == (*map_shape(tile.shape), 3) == (3, 4, 3) and half.dtype == np.uint8
    block = tile[2:4, 4:6].astype(float).mean(axis=(0, 1))
    np.testing.assert_array_equal(half[1, 2], np.floor(block + 0.5))
    np.testing.assert_array_equal(half[2, 3], tile[4, 6])  # corner: its own pixel repeated


def test_half_input_craft_outputs_maps_at_its_inputs_resolution_and_starts_as_its_source(tmp_path):
    """upconv5 starts as the identity: the half-input net's maps are the usual net's head on its upsampled feature."""
    import torch.nn.functional as F

    from bigocr.dev.train.distill import _half_input

    torch.manual_seed(0)
    usual = CRAFT(0.25).eval()
    half = _half_input(usual).eval()
    assert half.input_scale == 0.5 and not hasattr(usual, "upconv5")
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        scores, feature = usual(x)
        mine, _ = half(x)
        expected = usual.conv_cls(F.interpolate(feature, size=(64, 96), mode="bilinear", align_corners=False))
    assert scores.shape == (1, 32, 48, 2) and mine.shape == (1, 64, 96, 2)
    torch.testing.assert_close(mine, expected.permute(0, 2, 3, 1))
    # saved and read back with its layout; a detector of it keeps the tile -> half-size maps contract
    path = save_weights(half, tmp_path / "h.safetensors", name="h").path
    weights, state = read_weights(path)
    assert weights.input_scale == 0.5 and any(k.startswith("upconv5.") for k in state)
    det = CraftDetector.from_files(path, device="cpu", precision="fp32")
    assert det.model_info["input_scale"] == 0.5
    for shape in ((31, 33, 3), (64, 64, 3), (65, 1, 3)):
        region, affinity = det(np.full(shape, 200, np.uint8))
        assert region.shape == affinity.shape == ((shape[0] + 1) // 2, (shape[1] + 1) // 2)
    # what the detector computes is the network on the halved tile
    from bigocr.tiler.scale import halve
    from bigocr.models.weights import load_network

    tile = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    with torch.no_grad():
        direct = load_network(weights)(preprocess(halve(tile)))[0][0, :32, :48, 0].numpy()
    np.testing.assert_allclose(det(tile)[0], direct, atol=1e-5)
    # the usual layout's file does not load as a half-input net, nor the other way round
    usual_path = save_weights(usual, tmp_path / "u.safetensors", name="u").path
    assert read_weights(usual_path)[0].input_scale == 1.0
    from safetensors.torch import load_file, save_file

    save_file(load_file(path), str(tmp_path / "bad.safetensors"),
              metadata={"format": "bigocr", "network": "craft", "name": "b", "width": "0.25"})
    with pytest.raises(WeightsError, match="unexpected .*upconv5"):
        read_weights(tmp_path / "bad.safetensors")


def _trained_looking(net):
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # statistics as a trained net has them
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    for m in getattr(net, "upconv5", ()):  # trained, it weighs conv1_2 too (it starts as a pass-through)
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.xavier_uniform_(m.weight)
    return net.eval()


@pytest.mark.parametrize("input_scale", [0.5, 1.0])
def test_banded_inference_gives_the_networks_own_maps_and_feature(monkeypatch, input_scale):
    """CRAFT's full-resolution layers run band by band in inference: the numbers of the whole pass."""
    torch.manual_seed(2)
    net = _trained_looking(CRAFT(width=0.25, input_scale=input_scale))
    x = torch.randn(1, 3, 352, 96).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        monkeypatch.setattr(CRAFT, "STRIPE_ROWS", None)
        whole, whole_feature = net(x)
        monkeypatch.setattr(CRAFT, "STRIPE_ROWS", 64)  # 352 rows: six bands, the last one short
        banded, banded_feature = net(x)
        scores_only, no_feature = net(x, feature=False)
    torch.testing.assert_close(banded, whole, atol=1e-6, rtol=0)
    torch.testing.assert_close(banded_feature, whole_feature, atol=1e-6, rtol=0)
    torch.testing.assert_close(scores_only, whole, atol=1e-6, rtol=0)
    assert no_feature is None
    # training keeps the whole pass (gradients flow through it)
    net.train()
    net(x[:, :, :128])[0].sum().backward()
    assert net.basenet.slice1[0].weight.grad is not None


def test_bands_need_their_halo():
    """in_stripes is exact only with the layers' reach as halo: with too little, the band edges show."""
    from bigocr.models.craft import in_stripes

    torch.manual_seed(3)
    two = torch.nn.Sequential(torch.nn.Conv2d(2, 2, 3, padding=1), torch.nn.Conv2d(2, 2, 3, padding=1)).eval()
    x = torch.randn(1, 2, 100, 30)
    with torch.no_grad():
        whole = two(x)
        torch.testing.assert_close(in_stripes(two, x, 2, 16), whole)
        assert not torch.allclose(in_stripes(two, x, 1, 16), whole, atol=1e-4)
        pooled = torch.nn.Sequential(two, torch.nn.MaxPool2d(2, 2), torch.nn.Conv2d(2, 2, 3, padding=1))
        torch.testing.assert_close(in_stripes(pooled, x, 4, 16, stride=2), pooled(x))
        with pytest.raises(ValueError, match="multiples of the stride"):
            in_stripes(pooled, x, 4, 15, stride=2)
        # a decoder's coarse input (channels last, 8 channels as the slimmest network's), upsampled band by
        # band: the whole upsampling's numbers to the bit
        coarse = torch.randn(1, 8, 50, 15).contiguous(memory_format=torch.channels_last)
        joined = lambda u, k: torch.cat([u, k], dim=1)  # noqa: E731
        up = torch.nn.functional.interpolate(coarse, size=(100, 30), mode="bilinear", align_corners=False)
        assert torch.equal(in_stripes(joined, x, 0, 16, coarse=coarse), torch.cat([up, x], dim=1))
        with pytest.raises(ValueError, match="not half"):
            in_stripes(joined, x, 0, 16, coarse=coarse[:, :, :49])


def test_importing_bigocr_bounds_onednns_primitive_cache_and_keeps_the_users_value():
    import subprocess
    import sys

    from bigocr.memory import PRIMITIVE_CACHE

    code = "import os, bigocr; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == str(PRIMITIVE_CACHE)
    env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = "7"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.strip() == "7"

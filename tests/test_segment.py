"""lab.segment: the shipped samples and model, segment() on every kind of image, Dice/IoU, safe image loading."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from lab import segment as seg
from lab.errors import LabError
from lab.segment import dice, iou, pretrained, pretrained_info, samples, segment
from lab.unet import UNet


@pytest.fixture(scope="module")
def model():
    return pretrained("cpu")


@pytest.fixture(scope="module")
def by_name():
    return {s.name: s for s in samples()}


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------- assets
def test_samples_are_many_valid_and_read_only():
    found = samples()
    assert len(found) >= 24
    assert len({s.name for s in found}) == len(found)
    for s in found:
        assert s.image.dtype == np.uint8 and s.image.ndim == 3 and s.image.shape[2] == 3
        assert s.mask.dtype == np.bool_ and s.mask.shape == s.image.shape[:2]
        assert 0.02 < s.mask.mean() < 0.7  # cells present, background too
        with pytest.raises(ValueError):
            s.image[0, 0, 0] = 1


def test_assets_stay_small():
    total = sum(p.stat().st_size for p in (seg.ASSETS / "samples").glob("*.png"))
    assert total <= 5 * 2**20
    model_bytes = sum((seg.ASSETS / f).stat().st_size for f in ("unet_small.safetensors", "unet_small.json"))
    assert model_bytes <= 5 * 2**20


def test_shipped_model_reaches_dice_0_9_on_held_out_samples(model, by_name):
    info = pretrained_info()
    held = info["held_out"]
    assert held and set(held) <= set(by_name) and not set(held) & set(info["train"]["samples"])
    scores = [dice(segment(model, by_name[n].image).mask, by_name[n].mask) for n in held]
    assert np.mean(scores) >= 0.9
    assert np.mean(scores) == pytest.approx(info["held_out_dice"], abs=0.01)


def test_pretrained_gives_independent_copies():
    a, b = pretrained("cpu"), pretrained("cpu")
    assert not a.training
    with torch.no_grad():
        next(a.parameters()).add_(1.0)
    assert not torch.equal(next(a.parameters()), next(b.parameters()))


# ------------------------------------------------------------------------------------------- segment()
@pytest.mark.parametrize(
    "convert",
    [
        pytest.param(lambda im: im, id="rgb-uint8"),
        pytest.param(lambda im: im.mean(axis=2).astype(np.uint8), id="gray"),
        pytest.param(lambda im: im[..., :1], id="gray-hw1"),
        pytest.param(lambda im: np.dstack([im, np.full(im.shape[:2], 255, np.uint8)]), id="rgba"),
        pytest.param(lambda im: im.astype(np.uint16) * 257, id="rgb-uint16"),
        pytest.param(lambda im: im.astype(np.float32) / 255, id="rgb-float01"),
        pytest.param(lambda im: im.astype(np.float64), id="rgb-float255"),
    ],
)
def test_segment_returns_the_input_size_for_every_kind(model, by_name, convert):
    s = by_name["cells_00"]
    image = convert(np.array(s.image))
    result = segment(model, image)
    assert result.prob.shape == result.mask.shape == s.mask.shape
    assert result.prob.dtype == np.float32 and result.mask.dtype == np.bool_
    assert 0.0 <= result.prob.min() and result.prob.max() <= 1.0
    if image.ndim == 3 and image.shape[2] >= 3:  # same colours: same quality
        assert dice(result.mask, s.mask) >= 0.9


@pytest.mark.parametrize("h, w", [(1, 1), (5, 9), (37, 101), (255, 129)])
def test_segment_handles_odd_and_tiny_sizes(model, by_name, h, w):
    image = np.array(by_name["cells_01"].image[:h, :w])
    result = segment(model, image)
    assert result.prob.shape == (h, w)


def test_tiles_agree_with_one_pass(model, monkeypatch):
    found = samples()
    image = np.block([[[found[0].image], [found[1].image]], [[found[2].image], [found[3].image]]])  # 512 x 512 x 3
    whole = segment(model, image, precision="fp32")
    monkeypatch.setattr(seg, "TILE_ELEMENTS", 16 * 256 * 256)  # force 256-px tiles
    tiled = segment(model, image, precision="fp32")
    # not bit-identical: align_corners bilinear upsampling depends on each map's size, and context is cut
    assert dice(whole.mask, tiled.mask) >= 0.98
    assert np.abs(whole.prob - tiled.prob).mean() < 0.01


@pytest.mark.parametrize(
    "size, tile, margin, unit",
    [(100, 128, 32, 8), (256, 128, 32, 8), (1000, 256, 64, 16), (2047, 1024, 128, 64), (2048, 1000, 250, 16)],
)
def test_tiles_cover_each_pixel_once(size, tile, margin, unit):
    cover = np.zeros(size, int)
    for rs, re_, ks, ke in seg._tiles(size, tile, margin, unit):
        assert 0 <= rs <= ks < ke <= re_ <= size and re_ - rs < tile + unit and rs % unit == 0
        assert ks == 0 or ks - rs >= margin  # kept pixels have context on the cut side
        cover[ks:ke] += 1
    assert (cover == 1).all()


def test_large_image_is_segmented_whole_size(model, by_name):
    big = np.tile(np.array(by_name["cells_03"].image), (4, 8, 1))[:1000, :2048]  # tiled through TILE_ELEMENTS
    result = segment(model, big, threshold=0.5)
    assert result.mask.shape == (1000, 2048)
    top_left = segment(model, np.array(by_name["cells_03"].image)).mask
    assert dice(result.mask[:200, :200], top_left[:200, :200]) >= 0.95


def test_bf16_keeps_the_fp32_mask(model):
    # measured on the shipped model: mean 0.9985, worst sample 0.9947 (a few boundary pixels near 0.5)
    scores = []
    for s in samples():
        a = segment(model, s.image, precision="fp32").mask
        b = segment(model, s.image, precision="bf16").mask
        scores.append(dice(a, b))
    assert np.mean(scores) >= seg.MASK_AGREEMENT
    assert min(scores) >= 0.99


def test_auto_precision_checks_bf16_once(by_name, monkeypatch):
    model = pretrained("cpu")
    monkeypatch.setattr(seg, "supports_bf16", lambda device: True)
    first = segment(model, by_name["cells_04"].image)
    second = segment(model, by_name["cells_04"].image)
    assert first.precision == "fp32"  # the reference the check compared bf16 with
    assert second.precision == "bf16"
    monkeypatch.setattr(seg, "supports_bf16", lambda device: False)
    assert segment(pretrained("cpu"), by_name["cells_04"].image).precision == "fp32"


def test_bf16_guard_sends_uncertain_images_to_fp32():
    fast = seg._Fast(fingerprint=(), model=None, dtype=torch.bfloat16, bf16_error=0.02, flip_rate=0.5)
    confident = torch.zeros(100, 100)
    confident[:50] = 0.99  # 5000 mask pixels, none near 0.5
    assert seg._bf16_mask_safe(confident, 0.5, fast)
    unsure = confident.clone()
    unsure[50:60] = 0.51  # 1000 pixels within the error of 0.5: ~500 expected flips > 1% of the mask
    assert not seg._bf16_mask_safe(unsure, 0.5, fast)
    tiny = torch.zeros(100, 100)
    tiny[0, :3] = 0.505  # a 3-pixel mask, all of it uncertain
    assert not seg._bf16_mask_safe(tiny, 0.5, fast)


def test_changed_weights_are_seen(by_name):
    model = pretrained("cpu")
    image = by_name["cells_05"].image
    before = segment(model, image, precision="fp32").prob
    with torch.no_grad():
        model.outc.conv.bias.add_(-20.0)  # in place, as an optimizer step would: the cached copy must notice
    after = segment(model, image, precision="fp32").prob
    assert after.max() < 0.01 < before.max()


@pytest.mark.parametrize("n_classes", [1, 2, 3])
def test_any_class_count_gives_a_foreground_probability(n_classes):
    model = UNet(1, n_classes, base_channels=4, depth=2).eval()
    result = segment(model, np.random.default_rng(0).random((20, 24)).astype(np.float32))
    assert result.prob.shape == (20, 24) and 0 <= result.prob.min() <= result.prob.max() <= 1


def test_threshold_bounds(model, by_name):
    image = by_name["cells_00"].image
    assert segment(model, image, threshold=1.0).mask.sum() == 0
    assert segment(model, image, threshold=0.0).mask.mean() > 0.99
    with pytest.raises(LabError, match="Threshold"):
        segment(model, image, threshold=1.5)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((10, 10, 5), np.uint8), "shape"),
        (np.zeros((2049, 10), np.uint8), "2048"),
        (np.full((8, 8), np.nan, np.float32), "NaN"),
        (np.zeros((8, 8), np.complex64), "dtype"),
    ],
)
def test_bad_images_are_refused(model, image, message):
    with pytest.raises(LabError, match=message):
        segment(model, image)


# ------------------------------------------------------------------------------------------- scores
@pytest.mark.parametrize(
    "pred, true, d, j",
    [
        ([[0, 0]], [[0, 0]], 1.0, 1.0),  # both empty: perfect
        ([[1, 0]], [[0, 0]], 0.0, 0.0),
        ([[1, 1]], [[1, 1]], 1.0, 1.0),
        ([[1, 1, 0, 0]], [[1, 0, 0, 0]], 2 / 3, 1 / 2),
        ([[1, 1, 1, 0]], [[0, 1, 1, 1]], 2 / 3, 1 / 2),
    ],
)
def test_dice_and_iou_values(pred, true, d, j):
    p, t = np.array(pred, bool), np.array(true, bool)
    assert dice(p, t) == pytest.approx(d)
    assert iou(p, t) == pytest.approx(j)
    assert dice(p, t) == pytest.approx(2 * iou(p, t) / (1 + iou(p, t)))


def test_score_shapes_must_match():
    with pytest.raises(LabError, match="shapes differ"):
        dice(np.zeros((2, 2), bool), np.zeros((2, 3), bool))


# ------------------------------------------------------------------------------------------- load_image
def test_load_image_handles_gray_rgba_palette_and_16_bit(model):
    rgb = Image.fromarray(np.array(samples()[0].image))
    cases = {
        "L": rgb.convert("L"),
        "RGBA": rgb.convert("RGBA"),
        "P": rgb.convert("P", palette=Image.Palette.ADAPTIVE),
        "LA": rgb.convert("LA"),
        "I;16": Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 16),  # 12-bit data
        "1": rgb.convert("1"),
    }
    for mode, img in cases.items():
        array = seg.load_image(png_bytes(img))
        assert array.shape[:2] == (256, 256), mode
        assert segment(model, array).mask.shape == (256, 256), mode
    assert seg.load_image(png_bytes(cases["I;16"])).dtype == np.uint16


def test_load_image_refuses_non_images_large_and_huge_files(tmp_path):
    with pytest.raises(LabError, match="not an image"):
        seg.load_image(b"%PDF-1.4 not an image at all")
    with pytest.raises(LabError, match="2048"):
        seg.load_image(png_bytes(Image.new("L", (3000, 8))))
    with pytest.raises(LabError, match="10 MB"):
        seg.load_image(b"\x89PNG" + bytes(11 * 2**20))
    path = tmp_path / "broken.png"
    path.write_bytes(png_bytes(Image.new("RGB", (64, 64)))[:60])
    with pytest.raises(LabError, match="damaged|not an image"):
        seg.load_image(path)


def test_decompression_bomb_is_refused_before_decoding():
    # 20000 x 20000 one-bit PNG compresses to a few kB but would decode to 400 M pixels
    bomb = png_bytes(Image.new("1", (20000, 20000)))
    assert len(bomb) < 200_000
    with pytest.raises(LabError, match="2048 pixels a side"):
        seg.load_image(bomb)
    # a smaller bomb passes PIL's own guard and is stopped by the side limit, still before decoding
    with pytest.raises(LabError, match="2048 pixels a side"):
        seg.load_image(png_bytes(Image.new("1", (9000, 9000))))


def test_overlay_marks_the_mask():
    image = np.zeros((6, 6, 3), np.uint8)
    mask = np.zeros((6, 6), bool)
    mask[1:5, 1:5] = True
    out = seg.overlay(image, mask)
    assert out.shape == (6, 6, 3) and out.dtype == np.uint8
    assert (out[~mask] == 0).all() and (out[mask].sum(axis=1) > 0).all()


# ------------------------------------------------------------------------------------------- uploaded weights
def _small_unet(seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    model = UNet(3, 1, base_channels=4, depth=2)
    with torch.no_grad():  # non-default BN statistics, so a load that skipped buffers would show
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_load_with_config_reads_flat_and_nested_json(tmp_path, layout):
    import json

    from lab import checkpoints as ck

    model = _small_unet()
    weights, sidecar = ck.save_with_config(model, tmp_path / "unet.safetensors", model.config())
    if layout == "nested":  # the shipped assets/unet_small.json layout: arguments beside other facts
        sidecar.write_text(json.dumps({"config": model.config(), "train": {"steps": 1}}))
    back, config = ck.load_with_config(weights, UNet)
    assert config == model.config()
    assert back.config() == model.config()
    for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)


def test_load_with_config_refuses_unknown_arguments(tmp_path):
    import json

    from lab import checkpoints as ck

    model = _small_unet()
    weights, sidecar = ck.save_with_config(model, tmp_path / "unet.safetensors", model.config())
    sidecar.write_text(json.dumps({**model.config(), "dropout": 0.1}))
    with pytest.raises(LabError, match="does not fit UNet.*dropout"):
        ck.load_with_config(weights, UNet)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_load_weights_reads_the_shipped_pair_and_a_lone_checkpoint_that_fits(tmp_path):
    from lab import checkpoints as ck

    shipped = pretrained("cpu")
    model, config = seg.load_weights([seg.ASSETS / "unet_small.json", seg.ASSETS / "unet_small.safetensors"], "cpu")
    assert config == pretrained_info()["config"]
    assert _same_weights(model, shipped)
    # a 5.4.5 training checkpoint with no JSON: its weights fit the shipped config, so that config is used
    path = ck.save(shipped, tmp_path / "checkpoint.pth", what="checkpoint", epoch=3)
    model, config = seg.load_weights([path], "cpu")
    assert config == pretrained_info()["config"] and not model.training
    assert _same_weights(model, shipped)


def test_load_weights_without_json_asks_for_it(tmp_path):
    from lab import checkpoints as ck

    path = ck.save(_small_unet(), tmp_path / "small.pt")
    with pytest.raises(LabError, match=r"holds no config .* upload its \.json"):
        seg.load_weights([path], "cpu")

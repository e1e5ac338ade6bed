"""lab.losses (tutorial 6.1): analytic values, independent float64 references, gradients, edge cases, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lab import losses as L
from lab.errors import LabError
from tests.conftest import run_code

CUSTOM = ("dice", "iou", "dice_bce", "focal")


# ------------------------------------------------------------------ independent references (numpy, float64)


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _np_bce(x, t):
    # log(1 + e^x) - x t, written stably
    return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))


def ref_dice_monai(x, t, smooth):
    """MONAI DiceLoss(sigmoid=True, batch=True, smooth_nr=smooth_dr=smooth) on (N, C, H, W): per channel, mean."""
    p = _np_sigmoid(x)
    axes = (0, *range(2, x.ndim))
    inter = (p * t).sum(axes)
    denom = p.sum(axes) + t.sum(axes)
    return float(np.mean(1 - (2 * inter + smooth) / (denom + smooth)))


def ref_iou(x, t, smooth):
    p = _np_sigmoid(x)
    inter = (p * t).sum()
    return float(1 - (inter + smooth) / (p.sum() + t.sum() - inter + smooth))


def ref_focal_smp(x, t, alpha, gamma):
    """segmentation_models_pytorch focal_loss_with_logits (reduced_threshold=None, reduction='mean')."""
    logpt = _np_bce(x, t)
    pt = np.exp(-logpt)
    loss = (1 - pt) ** gamma * logpt
    if alpha is not None:
        loss = loss * (alpha * t + (1 - alpha) * (1 - t))
    return float(loss.mean())


def ref_multiclass(x, y, smooth, kind):
    e = np.exp(x - x.max(1, keepdims=True))
    p = e / e.sum(1, keepdims=True)
    t = np.moveaxis(np.eye(x.shape[1])[y], -1, 1)
    axes = (0, *range(2, x.ndim))
    inter, sp, st = (p * t).sum(axes), p.sum(axes), t.sum(axes)
    if kind == "dice":
        return float(1 - np.mean((2 * inter + smooth) / (sp + st + smooth)))
    return float(1 - np.mean((inter + smooth) / (sp + st - inter + smooth)))


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 1, 5, 6, generator=g, dtype=torch.float64) * 3
    targets = (torch.rand(2, 1, 5, 6, generator=g) > 0.6).double()
    return logits, targets


# --------------------------------------------------------------------------------------- analytic values


def test_analytic_values_at_logit_zero():
    # p = 0.5 on both pixels, targets [1, 0]: every term by hand
    x = torch.zeros(2, dtype=torch.float64)
    t = torch.tensor([1.0, 0.0], dtype=torch.float64)
    ln2 = math.log(2)
    assert L.DiceLoss()(x, t).item() == pytest.approx(1 - 2 / 3)  # 1 - (2*0.5 + 1) / (1 + 1 + 1)
    assert L.IoULoss()(x, t).item() == pytest.approx(1 - 1.5 / 2.5)  # 1 - (0.5 + 1) / (1 + 1 - 0.5 + 1)
    assert L.DiceBCELoss()(x, t).item() == pytest.approx(ln2 + 1 / 3)
    # (1 - p_t)^2 = 1/4; alpha_t = 0.25 and 0.75 -> mean 0.5
    assert L.FocalLoss()(x, t).item() == pytest.approx(0.5 * 0.25 * ln2)
    assert L.FocalLoss(alpha=None, gamma=0)(x, t).item() == pytest.approx(ln2)
    assert L.DiceLoss(smooth=0)(x, t).item() == pytest.approx(0.5)  # 1 - 1 / 2


def test_builtins_compare_probabilities_except_bce():
    x = torch.tensor([0.0, 2.0], dtype=torch.float64)
    t = torch.tensor([1.0, 0.0], dtype=torch.float64)
    p = torch.sigmoid(x)
    assert L.get("mse")(x, t).item() == pytest.approx(((p - t) ** 2).mean().item())
    assert L.get("l1")(x, t).item() == pytest.approx((p - t).abs().mean().item())
    assert L.get("bce")(x, t).item() == pytest.approx(F.binary_cross_entropy_with_logits(x, t).item())
    assert L.get("huber", delta=0.1)(x, t).item() == pytest.approx(F.huber_loss(p, t, delta=0.1).item())
    assert L.get("smooth_l1", beta=0.2)(x, t).item() == pytest.approx(F.smooth_l1_loss(p, t, beta=0.2).item())


# ---------------------------------------------------------------------------------- references, float64


@pytest.mark.parametrize("smooth", [0.0, 1.0, 5.0])
def test_dice_matches_monai_formula(batch, smooth):
    x, t = batch
    assert L.DiceLoss(smooth)(x, t).item() == pytest.approx(ref_dice_monai(x.numpy(), t.numpy(), smooth), rel=1e-12)


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_iou_and_dice_bce_match_reference(batch, smooth):
    x, t = batch
    xn, tn = x.numpy(), t.numpy()
    assert L.IoULoss(smooth)(x, t).item() == pytest.approx(ref_iou(xn, tn, smooth), rel=1e-12)
    expected = _np_bce(xn, tn).mean() + ref_dice_monai(xn, tn, smooth)
    assert L.DiceBCELoss(smooth)(x, t).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (None, 2.0), (0.8, 0.5), (0.5, 0.0), (1.0, 3.0)])
def test_focal_matches_smp_formula(batch, alpha, gamma):
    x, t = batch
    assert L.FocalLoss(alpha, gamma)(x, t).item() == pytest.approx(
        ref_focal_smp(x.numpy(), t.numpy(), alpha, gamma), rel=1e-12
    )


@pytest.mark.parametrize("kind", ["dice", "iou"])
def test_multiclass_matches_reference(kind):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 4, 5, generator=g, dtype=torch.float64) * 2
    y = torch.randint(0, 3, (2, 4, 5), generator=g)
    loss = L.get(kind, smooth=0.5, mode="multiclass")(x, y)
    assert loss.item() == pytest.approx(ref_multiclass(x.numpy(), y.numpy(), 0.5, kind), rel=1e-12)


def test_multiclass_focal_and_dice_bce():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 3, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (2, 3, 3), generator=g)
    ce = F.cross_entropy(x, y, reduction="none")
    expected = (0.5 * (1 - torch.exp(-ce)) ** 2 * ce).mean()
    assert L.FocalLoss(0.5, 2.0, mode="multiclass")(x, y).item() == pytest.approx(expected.item(), rel=1e-12)
    dice = ref_multiclass(x.numpy(), y.numpy(), 1.0, "dice")
    assert L.DiceBCELoss(mode="multiclass")(x, y).item() == pytest.approx(ce.mean().item() + dice, rel=1e-12)


def test_two_class_multiclass_dice_of_a_perfect_prediction_is_zero():
    y = torch.tensor([[[0, 1], [1, 0]]])
    x = F.one_hot(y, 2).movedim(-1, 1).double() * 60 - 30  # softmax ~ one-hot
    assert L.DiceLoss(smooth=0, mode="multiclass")(x, y).item() == pytest.approx(0, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    logits=arrays(np.float64, st.integers(1, 12), elements=st.floats(-50, 50)),
    seed=st.integers(0, 2**16),
    smooth=st.floats(0, 10),
    gamma=st.floats(0, 5),
)
def test_bounds_hold_for_any_input(logits, seed, smooth, gamma):
    x = torch.from_numpy(logits)
    t = (torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) > 0.5).double()
    for loss in (L.DiceLoss(smooth), L.IoULoss(smooth)):
        value = loss(x, t).item()
        assert -1e-12 <= value <= 1 + 1e-12
    bce = L.get("bce")(x, t).item()
    focal = L.FocalLoss(None, gamma)(x, t).item()
    assert 0 <= focal <= bce + 1e-12  # (1 - p_t) ** gamma <= 1
    assert L.FocalLoss(None, 0.0)(x, t).item() == pytest.approx(bce, rel=1e-12, abs=1e-15)


# ------------------------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("name", CUSTOM)
@pytest.mark.parametrize("mode", L.MODES)
def test_gradcheck_float64(name, mode):
    g = torch.Generator().manual_seed(4)
    if mode == "binary":
        x = torch.randn(1, 1, 3, 3, generator=g, dtype=torch.float64)
        t = (torch.rand(1, 1, 3, 3, generator=g) > 0.5).double()
    else:
        x = torch.randn(1, 3, 2, 3, generator=g, dtype=torch.float64)
        t = torch.randint(0, 3, (1, 2, 3), generator=g)
    loss = L.get(name, mode=mode)
    assert torch.autograd.gradcheck(lambda z: loss(z, t), (x.requires_grad_(),))


@pytest.mark.parametrize("name", L.NAMES)
@pytest.mark.parametrize("fill", ["random", "empty", "full"])
def test_finite_at_extreme_logits(name, fill):
    x = torch.tensor([[-100.0, 100.0], [100.0, -100.0], [-300.0, 300.0]]).requires_grad_()
    t = {"random": torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), "empty": torch.zeros(3, 2),
         "full": torch.ones(3, 2)}[fill]
    loss = L.get(name)(x, t)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 1.5, 2.0])
def test_focal_gradient_finite_for_confident_pixels(gamma):
    x = torch.tensor([200.0, -200.0, 50.0]).requires_grad_()
    L.FocalLoss(0.25, gamma)(x, torch.tensor([1.0, 0.0, 1.0])).backward()
    assert torch.isfinite(x.grad).all()


def test_with_logits_gradient_survives_saturation_where_tutorial_does_not():
    x = torch.tensor([-200.0]).requires_grad_()
    L.get("dice_bce")(x, torch.ones(1)).backward()
    ours = x.grad.clone()
    x.grad = None
    L.TUTORIAL["dice_bce"]()(x, torch.ones(1)).backward()
    assert ours.item() < -0.99  # d BCE / d logit = p - 1 -> -1
    assert x.grad.abs().item() < 1e-6  # sigmoid saturated: no learning signal


# ---------------------------------------------------------------------------------- shapes and devices


@pytest.mark.parametrize("name", L.NAMES)
def test_shapes_noncontiguous_and_squeezed_targets(name, batch):
    x, t = batch
    loss = L.get(name)
    expected = loss(x, t)
    assert loss(x, t[:, 0]).item() == pytest.approx(expected.item())  # (N, H, W) targets
    xt, tt = x.transpose(2, 3), t.transpose(2, 3)
    assert not xt.is_contiguous()
    assert loss(xt, tt).item() == pytest.approx(expected.item())
    assert loss(x, t.bool()).item() == pytest.approx(expected.item())
    assert loss(x.float(), t.float()).dtype == torch.float32
    assert expected.dtype == torch.float64


def test_shape_mismatch_is_a_lab_error():
    with pytest.raises(LabError, match="one shape"):
        L.DiceLoss()(torch.zeros(2, 1, 4, 4), torch.zeros(2, 4, 5))
    with pytest.raises(LabError, match=r"\[0, 2\]"):
        L.DiceLoss(mode="multiclass")(torch.zeros(1, 3, 2, 2), torch.full((1, 2, 2), 3))
    with pytest.raises(LabError, match="integer"):
        L.IoULoss(mode="multiclass")(torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2))


@pytest.mark.parametrize("name", CUSTOM)
def test_bf16_autocast_matches_float32(name, batch):
    x, t = batch[0].float(), batch[1].float()
    loss = L.get(name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = loss(x.bfloat16(), t)
    assert low.dtype == torch.float32  # computed in float32 from bf16 logits
    assert low.item() == pytest.approx(loss(x.bfloat16().float(), t).item(), rel=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", CUSTOM)
def test_cuda_autocast(name, batch):
    x, t = batch[0].float().cuda(), batch[1].float().cuda()
    loss = L.get(name)
    with torch.autocast("cuda", dtype=torch.float16):
        value = loss(x.half(), t)
    assert value.item() == pytest.approx(loss(x.half().float(), t).item(), rel=1e-4)
    if name != "iou" and name != "dice":  # the tutorial's sigmoid + binary_cross_entropy is refused by autocast
        with torch.autocast("cuda", dtype=torch.float16), pytest.raises(RuntimeError, match="unsafe to autocast"):
            L.TUTORIAL[name]()(x.half(), t)


# ---------------------------------------------------------------------------------------- the tutorial


@pytest.mark.parametrize("name", ["dice", "iou", "dice_bce"])
def test_tutorial_versions_agree_at_moderate_logits(name, batch):
    x, t = batch[0].float(), batch[1].float()
    assert L.TUTORIAL[name]()(x, t).item() == pytest.approx(L.get(name)(x, t).item(), rel=1e-5)


def test_tutorial_focal_is_a_rescaled_bce(batch):
    x, t = batch[0].float(), batch[1].float()
    bce = F.binary_cross_entropy_with_logits(x, t)
    tutorial = L.TUTORIAL["focal"]()(x, t)
    assert tutorial.item() == pytest.approx((0.8 * (1 - torch.exp(-bce)) ** 2 * bce).item(), rel=1e-5)
    assert tutorial.item() != pytest.approx(L.FocalLoss(0.8, 2.0)(x, t).item(), rel=1e-3)


@pytest.mark.parametrize("name", ["dice", "iou", "dice_bce", "focal"])
def test_tutorial_code_is_the_printed_class_and_runs(name, batch):
    code = L.tutorial_code(name)
    assert "F.sigmoid(inputs)" in code and "inputs.view(-1)" in code and "super(" in code and "noqa" not in code
    ns = run_code("import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n" + code)
    cls = {"dice": "DiceLoss", "iou": "IoULoss", "dice_bce": "DiceBCELoss", "focal": "FocalLoss"}[name]
    x, t = batch[0].float(), batch[1].float()
    assert ns[cls]()(x, t).item() == pytest.approx(L.TUTORIAL[name]()(x, t).item())
    assert cls in L.class_code(name)


def test_tutorial_view_fails_on_noncontiguous(batch):
    x, t = batch[0].transpose(2, 3), batch[1].transpose(2, 3)
    with pytest.raises(RuntimeError, match="view"):
        L.TUTORIAL["dice"]()(x, t)


# --------------------------------------------------------------------------------- registry and errors


@pytest.mark.parametrize("spelling, name", [
    ("Dice", "dice"), ("DiceLoss", "dice"), ("dice-bce", "dice_bce"), ("DiceBCELoss", "dice_bce"),
    ("Jaccard", "iou"), ("FOCAL", "focal"), ("BCEWithLogitsLoss", "bce"), ("SmoothL1", "smooth_l1"),
    ("HuberLoss", "huber"), ("MSE", "mse"), ("L1Loss", "l1"),
])
def test_canonical_spellings(spelling, name):
    assert L.canonical(spelling) == name


def test_registry_is_complete():
    assert set(L.PARAMS) == set(L.NAMES) == set(L.LABELS)
    for name in L.NAMES:
        defaults = {k: p.default for k, p in L.PARAMS[name].items()}
        assert isinstance(L.get(name, **defaults), torch.nn.Module)


@pytest.mark.parametrize("name, params, field", [
    ("dice", {"smooth": -1}, "smooth"),
    ("iou", {"smooth": float("nan")}, "smooth"),
    ("focal", {"gamma": -0.5}, "gamma"),
    ("focal", {"alpha": 1.5}, "alpha"),
    ("focal", {"alpha": -0.1}, "alpha"),
    ("focal", {"alpha": "high"}, "alpha"),
    ("focal", {"mode": "multilabel"}, "mode"),
    ("huber", {"delta": 0}, "delta"),
    ("dice", {"gamma": 2}, "gamma"),
])
def test_bad_params_raise_lab_error(name, params, field):
    with pytest.raises(LabError, match=field):
        L.get(name, **params)


def test_unknown_name():
    with pytest.raises(LabError, match=r"^Loss is 'hinge'; one of dice, iou, .* is accepted\.$"):
        L.get("hinge")


def test_params_for_picks_each_loss_its_own():
    assert L.params_for("focal", smooth=1, alpha=0.3, gamma=1) == {"alpha": 0.3, "gamma": 1}
    assert L.params_for("BCE", smooth=1, alpha=0.3) == {}


# ---------------------------------------------------------------------------------- curves, degradations


def test_curves_values_and_gradients_analytic():
    df = L.curves(["bce", "dice"], points=11, smooth=1.0)
    assert len(df) == 2 * 2 * 11
    bce = df[df["loss"] == "bce"]
    np.testing.assert_allclose(bce["grad"], bce["p"] - bce["target"], atol=1e-12)  # d BCE / dz = p - t
    d1 = df[(df["loss"] == "dice") & (df["target"] == 1)]
    p = d1["p"].to_numpy()
    np.testing.assert_allclose(d1["value"], 1 - (2 * p + 1) / (p + 2), atol=1e-12)
    # d/dz = d/dp * p(1-p), d/dp [1 - (2p+1)/(p+2)] = -3/(p+2)^2
    np.testing.assert_allclose(d1["grad"], -3 / (p + 2) ** 2 * p * (1 - p), atol=1e-12)


def test_curves_need_a_loss():
    with pytest.raises(LabError, match="none chosen"):
        L.curves([])


def test_pixel_losses_average_to_the_losses(batch):
    x, t = batch
    maps = L.pixel_losses(x, t, alpha=0.3, gamma=1.5)
    assert maps["bce"].shape == x.shape
    assert maps["bce"].mean().item() == pytest.approx(L.get("bce")(x, t).item())
    assert maps["focal"].mean().item() == pytest.approx(L.FocalLoss(0.3, 1.5)(x, t).item())


@pytest.fixture
def square():
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    return mask


@pytest.mark.parametrize("kind", L.DEGRADATIONS)
def test_degrade_amount_zero_is_the_truth(square, kind):
    assert torch.equal(L.degrade(square, kind, 0.0), square)


def test_degradations_move_the_mask_as_named(square):
    amount = 2 / L.MAX_PIXELS  # 2 px
    assert L.degrade(square, "dilate", amount).sum() == 20 * 20
    assert L.degrade(square, "erode", amount).sum() == 12 * 12
    shifted = L.degrade(square, "shift", amount)
    assert shifted.sum() == 16 * 16 and shifted[0, 0, 10, 10] == 1 and shifted[0, 0, 8, 8] == 0
    blurred = L.degrade(square, "blur", amount)
    assert blurred.sum().item() == pytest.approx(16 * 16, rel=0.01) and 0 < blurred[0, 0, 8, 8] < 1
    noisy = L.degrade(square, "noise", 0.5)
    assert ((noisy >= 0) & (noisy <= 1)).all() and torch.equal(noisy, L.degrade(square, "noise", 0.5))


@pytest.mark.parametrize("kind, amount", [("melt", 0.5), ("blur", 1.5), ("blur", -0.1)])
def test_degrade_rejects_bad_input(square, kind, amount):
    with pytest.raises(LabError):
        L.degrade(square, kind, amount)


# ------------------------------------------------------------------------------------------ code panel


@pytest.mark.parametrize("name", L.NAMES)
def test_code_reproduces_the_loss(name):
    params = {"focal": {"alpha": 0.6, "gamma": 1.5}, "dice": {"smooth": 0.5}, "huber": {"delta": 0.3}}.get(name, {})
    ns = run_code(L.to_code(name, params))
    assert ns["loss"].item() == pytest.approx(L.get(name, **params)(ns["logits"], ns["targets"]).item(), rel=1e-6)


def test_code_with_degradation_setup(square):
    from lab.losses import demo
    from lab.source import source

    setup = "mask = torch.zeros(1, 1, 32, 32)\nmask[..., 8:24, 8:24] = 1\nprobs = noise(mask, 0.3)\n" \
        "logits = as_logits(probs)\ntargets = mask"
    ns = run_code(source(demo.noise, demo.as_logits) + L.to_code("focal", {"alpha": None}, setup=setup))
    probs = L.degrade(square, "noise", 0.3)
    expected = L.FocalLoss(None)(L.as_logits(probs), square)
    assert ns["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("make", [lambda: L.get("x" * 100_000), lambda: L.get("dice", smooth="x" * 100_000),
                                  lambda: L.tutorial_code("x" * 100_000)], ids=["name", "param", "tutorial"])
def test_long_values_are_quoted_short(make):
    """Issue 9, F6: a 100 kB name or parameter comes back as 60 characters and its length, not whole."""
    with pytest.raises(LabError, match=r"\(100000 characters\)") as info:
        make()
    assert len(str(info.value)) < 600

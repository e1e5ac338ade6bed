"""Losses tab (tutorial 6.1): Dice, IoU, Dice+BCE, Focal and torch's built-ins, compared and corrected.

Curves of each loss and its gradient on one pixel; every loss on a sample mask (degraded truth or the shipped
U-Net's prediction) beside the tutorial's own classes; the tutorial's FocalLoss and sigmoid + BCE pitfalls live;
the chosen loss as code. The chosen loss and its parameters go to `shared.loss` for the Train tab.
"""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch

from lab import losses as L
from lab.device import pick_device
from lab.errors import LabError, shown
from ui.common import Shared, code_box, guarded

DEFAULT_COMPARE = ["dice", "iou", "dice_bce", "focal", "bce"]
DEFAULT_CHOSEN = "dice_bce"  # the Train tab's default (ui.common.Shared.loss)
SOURCES = [(kind, kind) for kind in L.DEGRADATIONS] + [("U-Net prediction", "unet")]
DEFAULT_SOURCE, DEFAULT_AMOUNT = "blur", 0.25
TABLE_COLUMNS = ["loss", "value", "tutorial's class"]

INTRO = """### Losses (tutorial 6.1)
Every loss here takes **logits** (raw model outputs) and the true mask, as `nn.BCEWithLogitsLoss` does.
The tutorial's classes apply `F.sigmoid` then `F.binary_cross_entropy` (saturates at large logits, refused by
autocast), put Focal's factor on the batch-mean BCE, and use `view(-1)` (fails on non-contiguous tensors);
the lab's versions fix all three. Pick losses to compare, set their parameters, and look at them on a mask."""

PITFALL = """**1. The tutorial's FocalLoss is a rescaled BCE.** It computes the *mean* BCE first and applies
`alpha * (1 - exp(-BCE))**gamma` to that one number, so every pixel's gradient is BCE's times the same factor:
its dashed line lies exactly on BCE's. The focal factor belongs on each pixel (`reduction="none"`), which moves
the gradient from easy pixels (p_t near 1) to hard ones.

**2. `sigmoid` then `binary_cross_entropy` saturates.** In float32 `sigmoid(17)` is exactly 1.0 and
`sigmoid(-104)` is 0: the loss is clamped at 100 and the gradient vanishes, so a confidently wrong pixel stops
learning. `binary_cross_entropy_with_logits` stays exact (gradient `sigmoid(z) - target`), and under CUDA
autocast `F.binary_cross_entropy` is refused outright."""


def _choices() -> list[tuple[str, str]]:
    return [(L.LABELS[name], name) for name in L.NAMES]


def _sample_names() -> list[str]:
    # file names only (no decoding): build() must stay cheap
    from lab.segment import ASSETS

    return sorted(p.name.removesuffix("_mask.png") for p in (ASSETS / "samples").glob("*_mask.png"))


def _params(smooth: Any, alpha: Any, gamma: Any) -> dict[str, Any]:
    return L.validate_params(smooth=smooth, alpha=alpha, gamma=gamma)


def _sample(name: str):
    from lab.segment import samples

    found = {s.name: s for s in samples()}
    if not isinstance(name, str) or name not in found:
        raise LabError(f"Sample {shown(name)} is not one of the shipped samples ({', '.join(sorted(found))}).")
    return found[name]


@functools.lru_cache(maxsize=64)
def _unet_prob(name: str) -> np.ndarray:
    """The shipped U-Net's probability map for a sample (read-only; computed once per process)."""
    from lab.segment import ASSETS, pretrained, segment

    if not (ASSETS / "unet_small.safetensors").exists():
        raise LabError("The shipped U-Net (assets/unet_small.safetensors) is missing; choose a degradation instead.")
    prob = segment(pretrained(), _sample(name).image).prob
    prob.flags.writeable = False
    return prob


def _prediction(sample: str, source: str, amount: float):
    """(sample, probs, targets): probs and targets (1, 1, H, W) float32 on the lab's device."""
    s = _sample(sample)
    device = pick_device()
    targets = torch.from_numpy(s.mask.copy()).float()[None, None].to(device)
    if source == "unet":
        probs = torch.from_numpy(_unet_prob(sample).copy())[None, None].to(device)
    elif source in L.DEGRADATIONS:
        probs = L.degrade(targets, source, amount)
    else:
        raise LabError(
            f"Prediction source {shown(source)} is not known; use one of {', '.join(v for _, v in SOURCES)}."
        )
    return s, probs, targets


def _significant(df: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Float columns rounded to `digits` significant digits for display (the tables stay numeric)."""
    out = df.copy()
    for col in out.select_dtypes("float").columns:
        out[col] = [float(f"{v:.{digits}g}") for v in out[col]]
    return out


# ------------------------------------------------------------------------------------------- callbacks


@guarded
def show_curves(names: list[str], smooth: float, alpha: float | None, gamma: float):
    """Loss and gradient curves of the chosen losses."""
    params = _params(smooth, alpha, gamma)
    if not names:
        raise LabError("Losses to compare: none chosen; pick at least one loss.")
    return L.curves_figure(L.curves(list(names), **params))


@guarded
def show_mask(sample: str, source: str, amount: float, smooth: float, alpha: float | None, gamma: float):
    """Every loss on the chosen prediction: table, bars, heat maps, and a one-line summary."""
    from lab.segment import dice, iou, overlay

    params = _params(smooth, alpha, gamma)
    s, probs, targets = _prediction(sample, source, amount)
    df = L.compare(L.as_logits(probs), targets, **params)
    table = df[["label", "value", "tutorial"]].set_axis(TABLE_COLUMNS, axis=1).round(6)
    pred = (probs[0, 0] > 0.5).cpu().numpy()
    summary = (f"Prediction thresholded at 0.5 against the true mask: Dice **{dice(pred, s.mask):.3f}**, "
               f"IoU **{iou(pred, s.mask):.3f}** ({s.mask.shape[1]} x {s.mask.shape[0]} px).")
    maps = L.maps_figure(overlay(s.image, s.mask), probs, targets,
                         alpha=params["alpha"], gamma=params["gamma"])
    return table, L.values_figure(df), maps, summary


@guarded
def show_pitfall(sample: str, source: str, amount: float, alpha: float | None, gamma: float):
    """The tutorial's FocalLoss against the corrected one on this prediction (and both classes' code);
    sigmoid + BCE at large logits."""
    params = L.validate_params(alpha=alpha, gamma=gamma)
    _, probs, targets = _prediction(sample, source, amount)
    fig, table = L.focal_pitfall(L.as_logits(probs), targets, **params)
    return (fig, _significant(table), _significant(L.saturation_table()), L.tutorial_code("focal"),
            L.class_code("focal"))


@guarded
def show_code(chosen: str, sample: str, source: str, amount: float, smooth: float, alpha: float | None,
              gamma: float) -> str:
    """The chosen loss's class and a call on the prediction shown."""
    params = L.params_for(chosen, **_params(smooth, alpha, gamma))
    return L.to_code(chosen, params, setup=L.mask_setup_code(sample, source, amount))


@guarded
def choose(chosen: str, smooth: float, alpha: float | None, gamma: float) -> dict:
    """The loss the Train tab will use: {"name", "params"} (canonical name, its own parameters only)."""
    if not chosen:
        raise LabError("Chosen loss: none picked; pick one loss for the code panel and the Train tab.")
    name = L.canonical(chosen)
    return {"name": name, "params": L.params_for(name, **_params(smooth, alpha, gamma))}


# ----------------------------------------------------------------------------------------------- layout


def build(shared: Shared) -> None:
    gr.Markdown(INTRO)
    with gr.Row():
        compare = gr.Dropdown(_choices(), value=DEFAULT_COMPARE, multiselect=True, label="Losses to compare",
                              elem_id="losses-compare", scale=3)
        chosen = gr.Dropdown(_choices(), value=DEFAULT_CHOSEN, label="Chosen loss (code panel and Train tab)",
                             elem_id="losses-chosen", scale=2)
    with gr.Row():
        smooth = gr.Number(1.0, label="smooth (Dice, IoU, Dice + BCE)", info=">= 0", step=0.1,
                           elem_id="losses-smooth")
        alpha = gr.Number(0.25, label="alpha (Focal)", info="0 to 1; empty: no class weighting", step=0.05,
                          elem_id="losses-alpha")
        gamma = gr.Number(2.0, label="gamma (Focal)", info=">= 0; 0 gives BCE", step=0.5, elem_id="losses-gamma")

    curves_plot = gr.Plot(label="Loss and gradient on one pixel", elem_id="losses-curves")

    gr.Markdown("#### On a mask")
    with gr.Row():
        names = _sample_names()
        sample = gr.Dropdown(names, value=names[0] if names else None, label="Sample image",
                             elem_id="losses-sample")
        source = gr.Radio(SOURCES, value=DEFAULT_SOURCE, label="Prediction", elem_id="losses-source")
        amount = gr.Slider(0, 1, value=DEFAULT_AMOUNT, step=0.05, label="Degradation amount",
                           info=f"1 = {L.MAX_PIXELS} px for blur/shift/erode/dilate; noise: share of uniform noise",
                           elem_id="losses-amount")
    summary = gr.Markdown(elem_id="losses-summary")
    with gr.Row():
        table = gr.Dataframe(headers=TABLE_COLUMNS, label="Every loss on this prediction", interactive=False,
                             elem_id="losses-table", scale=2)
        bars = gr.Plot(label="Loss values", elem_id="losses-bars", scale=3)
    maps = gr.Plot(label="Per-pixel loss", elem_id="losses-maps")

    with gr.Accordion("Pitfall: the tutorial's FocalLoss and sigmoid + BCE", open=False, elem_classes="pitfall",
                      elem_id="losses-pitfall"):
        gr.Markdown(PITFALL)
        with gr.Row():
            focal_plot = gr.Plot(label="Gradient share per pixel", elem_id="losses-focal-plot", scale=3)
            focal_table = gr.Dataframe(label="On this prediction", interactive=False, elem_id="losses-focal-table",
                                       scale=2)
        with gr.Row():
            # filled by the pitfall event: reading the tutorial's source (inspect) is no work for build()
            tutorial_focal = gr.Code(language="python", interactive=False, buttons=["copy"],
                                     label="The tutorial's FocalLoss (as printed, indentation fixed)",
                                     elem_id="losses-tutorial-focal")
            corrected_focal = gr.Code(language="python", interactive=False, label="Corrected FocalLoss",
                                      buttons=["copy"], elem_id="losses-corrected-focal")
        saturation = gr.Dataframe(label="sigmoid + binary_cross_entropy vs binary_cross_entropy_with_logits (float32)",
                                  interactive=False, elem_id="losses-saturation")

    code = code_box(elem_id="losses-code")

    # ------------------------------------------------------------------------------------------- events
    params = [smooth, alpha, gamma]
    mask_inputs = [sample, source, amount]
    gr.on([shared.demo.load, compare.change, *(p.change for p in params)], show_curves,
          inputs=[compare, *params], outputs=curves_plot, api_name="losses_curves", trigger_mode="always_last")
    gr.on([shared.demo.load, *(c.change for c in mask_inputs + params)], show_mask,
          inputs=[*mask_inputs, *params], outputs=[table, bars, maps, summary], api_name="losses_mask",
          trigger_mode="always_last")
    gr.on([shared.demo.load, *(c.change for c in mask_inputs), alpha.change, gamma.change], show_pitfall,
          inputs=[*mask_inputs, alpha, gamma],
          outputs=[focal_plot, focal_table, saturation, tutorial_focal, corrected_focal],
          api_name="losses_pitfall", trigger_mode="always_last")
    gr.on([shared.demo.load, chosen.change, *(c.change for c in mask_inputs + params)], show_code,
          inputs=[chosen, *mask_inputs, *params], outputs=code, api_name="losses_code", trigger_mode="always_last")
    gr.on([chosen.change, *(p.change for p in params)], choose, inputs=[chosen, *params], outputs=shared.loss,
          api_name="losses_choose", trigger_mode="always_last")

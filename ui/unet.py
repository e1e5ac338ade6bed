"""U-Net tab (tutorial 5.2): assemble a U-Net from DoubleConv/Down/Up/OutConv, inspect it, segment the samples.

Thin adapter over `lab.unet` and `lab.segment`: layout first, events last; every callback goes through
`ui.common.guarded`. Nothing is built or read at import or in build() beyond listing the sample file names.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from lab import segment as seg
from lab import unet
from lab.device import pick_device
from lab.errors import LabError, shown
from ui.common import code_box, guarded

__all__ = ["build", "build_unet", "load_weights", "segment_image", "rethreshold", "run_pitfall", "sample_names"]

LABEL = "U-Net"  # key of the built model in shared.models
SHIPPED = "shipped small U-Net"
TRAINED = "the Train tab's U-Net"
UPLOADED = "Uploaded weights"
UPSAMPLING = (("bilinear upsampling (nn.Upsample)", True), ("transposed conv (nn.ConvTranspose2d)", False))

INTRO = """### 5.2 · A U-Net from four blocks
`DoubleConv` (conv → BN → ReLU, twice), `Down` (max-pool, then DoubleConv), `Up` (upsample, concatenate the
encoder's feature map, DoubleConv) and `OutConv` (1×1 conv) assemble into the U. With the defaults the model is
exactly the tutorial's `UNet(3, 2, bilinear=True)`: same state_dict keys and shapes, so its checkpoints load.
Change the width (base channels), the depth, the upsampling, the input size, and see every block's output shape,
parameters and FLOPs. Below, the shipped small U-Net segments the sample images or your own."""

PITFALL_TEXT = """**Figure ≠ code.** The figure in 5.2.1 is the original paper's: 3×3 convs *without* padding, so each
DoubleConv loses 4 pixels, a 572×572 input gives a 388×388 map, and every skip connection must be *cropped* to
fit. The tutorial's code uses `padding=1` (and BatchNorm, which the paper did not have): each conv keeps the
size, `Up` *pads* the upsampled map to the skip's size, and the output has the input's height and width. The
table below runs both sets of layers, level by level, on the size you choose.

**Skip connections concatenate.** 5.2.1 says U-Net's *residual* connections solve the degradation problem: that
is ResNet (`x + f(x)`, same shape in and out). U-Net's skips are `torch.cat([x2, x1], dim=1)`: the encoder's
features are stacked beside the decoder's, doubling the channels the next DoubleConv reads."""

SEGMENT_NOTE = """The shipped model (base 16, depth 3, {params:,} parameters) was trained by `scripts/make_assets.py`
on {n_train} of the {n_all} sample images; on the {n_held} it never saw its Dice is **{dice:.3f}**. Images are
scaled to [0, 1]; gray, RGBA, palette and 16-bit images are converted, larger ones (up to 2048 px a side,
10 MB) are segmented in tiles."""


# ------------------------------------------------------------------------------------------- helpers
def sample_names() -> list[str]:
    """Sample names from the file names alone (no decoding: build() must stay cheap)."""
    return sorted(p.name.removesuffix("_mask.png") for p in (seg.ASSETS / "samples").glob("*_mask.png"))


def _sample_paths() -> list[tuple[str, str]]:
    return [(str(seg.ASSETS / "samples" / f"{name}.png"), name) for name in sample_names()]


def _int(value, field: str) -> int:
    if value is None or isinstance(value, bool):
        raise LabError(f"{field} is empty; give a whole number.")
    if isinstance(value, float) and not value.is_integer():
        raise LabError(f"{field} got {shown(value)}; give a whole number.")
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise LabError(f"{field} got {shown(value)}; give a whole number.") from exc


def _upsampling(value) -> bool:
    if isinstance(value, bool):
        return value
    for label, flag in UPSAMPLING:
        if value == label or value == str(flag):
            return flag
    raise LabError(f"Upsampling got {shown(value)}; use {UPSAMPLING[0][0]!r} or {UPSAMPLING[1][0]!r}.")


@functools.lru_cache(maxsize=1)
def _shipped_model():
    """The shipped U-Net, read-only, for inference only: its weights never change, so sessions may share it
    (each session that wants to train or edit it gets its own copy from `lab.segment.pretrained()`)."""
    model = seg.pretrained()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@functools.lru_cache(maxsize=1)
def _prob_colors() -> np.ndarray:
    """256-entry Viridis lookup table (uint8 RGB) for showing a probability map as an image."""
    from plotly.colors import hex_to_rgb, sample_colorscale

    colors = sample_colorscale("Viridis", [i / 255 for i in range(256)])
    rgb = [hex_to_rgb(c) if c.startswith("#") else tuple(int(float(v)) for v in c[4:-1].split(",")) for c in colors]
    return np.array(rgb, dtype=np.uint8)


def _prob_image(prob: np.ndarray) -> np.ndarray:
    return _prob_colors()[np.clip(np.round(prob * 255), 0, 255).astype(np.uint8)]


def _totals(table: pd.DataFrame, params: int, hw: tuple[int, int], n_classes: int) -> str:
    return (
        f"**{params:,}** parameters ({params * 4 / 2**20:.1f} MB in fp32) · "
        f"**{table['flops'].sum() / 1e9:.2f} GFLOPs** per {hw[0]}×{hw[1]} image (batch 1, multiply-add = 2) · "
        f"output **(1, {n_classes}, {hw[0]}, {hw[1]})** · {len(table)} blocks"
    )


# ------------------------------------------------------------------------------------------- callbacks
def build_unet(n_channels, n_classes, upsampling, base_channels, depth, height, width, models: dict | None = None):
    """Draw and tabulate the U, print the model, write the code; the model joins this session's models."""
    cfg = {
        "n_channels": _int(n_channels, "Input channels"),
        "n_classes": _int(n_classes, "Classes"),
        "bilinear": _upsampling(upsampling),
        "base_channels": _int(base_channels, "Base channels"),
        "depth": _int(depth, "Depth"),
    }
    h, w = _int(height, "Input height"), _int(width, "Input width")
    # validated and counted on the meta device first: a refused size never allocates a weight
    table = unet.block_table(**cfg, height=h, width=w)
    params = int(table["params"].sum())
    model = unet.UNet(**cfg).to(pick_device())
    fig = unet.u_figure(table, f"UNet({cfg['n_channels']}, {cfg['n_classes']}, bilinear={cfg['bilinear']}, "
                               f"base_channels={cfg['base_channels']}, depth={cfg['depth']}) on {h}×{w}")
    shown = table[["block", "kind", "input_shape", "output_shape", "params", "flops"]].copy()
    shown["GFLOPs"] = (shown.pop("flops") / 1e9).round(4)
    models = {**(models or {}), LABEL: model}  # a new dict: this session's state only
    code = unet.to_code(**cfg, height=h, width=w)
    return fig, _totals(table, params, (h, w), cfg["n_classes"]), shown, str(model), code, models


def _pick_image(sample: str | None, upload: str | None) -> tuple[str, np.ndarray, np.ndarray | None]:
    if upload:
        return Path(upload).name, seg.load_image(upload), None
    names = {s.name: s for s in seg.samples()}
    if not sample:
        raise LabError("No image chosen; click a sample in the gallery or upload an image.")
    if not isinstance(sample, str) or sample not in names:
        raise LabError(f"Sample {shown(sample)} is not one of the shipped samples ({', '.join(sorted(names))}).")
    return sample, names[sample].image, names[sample].mask


def _file_path(entry) -> str:
    # gr.File(type="filepath") gives str paths; a FileData-like object carries `.path` (or a dict "path")
    if isinstance(entry, dict):
        entry = entry.get("path")
    return str(getattr(entry, "path", entry))


def load_weights(files) -> tuple[dict, str, str]:
    """Rebuild a U-Net from uploaded weights (+ JSON config) for this session; selects it as the model.

    Returns (the session's uploaded-model state, a summary line, the Model radio's new value)."""
    paths = [_file_path(f) for f in (files if isinstance(files, (list, tuple)) else [files]) if f]
    model, config = seg.load_weights(paths, pick_device())
    weights = next(Path(p).name for p in paths if Path(p).suffix.lower() in seg.WEIGHT_SUFFIXES)
    json_names = [Path(p).name for p in paths if Path(p).suffix.lower() == ".json"]
    params = sum(p.numel() for p in model.parameters())
    args = ", ".join(f"{k}={v!r}" for k, v in config.items())
    source = f"config from `{json_names[0]}`" if json_names else "no JSON: the weights fit the shipped config"
    info = f"Loaded **{weights}**: `UNet({args})` · {params:,} parameters · {source}."
    return {"model": model, "config": config, "weights": weights}, info, UPLOADED


def _pick_model(which: str, models: dict | None, uploaded: dict | None = None):
    if which in (None, "", SHIPPED):
        return _shipped_model()
    if which == TRAINED:
        model = (models or {}).get("Train")
        if model is None:
            raise LabError("Model: the Train tab has not trained a U-Net in this session yet; train one there first.")
        return model
    if which == UPLOADED:
        if not uploaded or uploaded.get("model") is None:
            raise LabError("Model: no weights uploaded in this session yet; upload a .safetensors and its .json first.")
        return uploaded["model"]
    raise LabError(f"Model got {shown(which)}; use {SHIPPED!r}, {TRAINED!r} or {UPLOADED!r}.")


def _render(state: dict, threshold: float):
    """Overlay, probability image, true mask and the scores line from a stored probability map."""
    if not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise LabError(f"Threshold got {shown(threshold)}; use a number from 0 to 1.")
    prob, image, true = state["prob"], state["image"], state["true"]
    mask = prob > threshold
    scores = f"**{state['name']}** · {prob.shape[1]}×{prob.shape[0]} px · threshold {threshold:.2f} · "
    scores += f"{mask.mean() * 100:.1f}% foreground"
    if true is not None:
        scores += f" · Dice **{seg.dice(mask, true):.3f}** · IoU **{seg.iou(mask, true):.3f}**"
    else:
        scores += " · no true mask for an upload, so no Dice/IoU"
    scores += f"\n\nSegmented in **{state['ms']:.1f} ms** on **{state['device']}** ({state['precision']})."
    true_img = None if true is None else (np.asarray(true, dtype=np.uint8) * 255)
    return seg.overlay(image, mask), _prob_image(prob), true_img, scores


def segment_image(
    sample: str | None,
    upload: str | None,
    threshold: float,
    which: str,
    models: dict | None = None,
    uploaded: dict | None = None,
):
    """Segment a sample (or the upload, which wins) with the chosen model; returns the views and the state."""
    name, image, true = _pick_image(sample, upload)
    model = _pick_model(which, models, uploaded)
    device = next(model.parameters()).device
    start = time.perf_counter()
    result = seg.segment(model, image, threshold=threshold)  # checks the threshold before float() meets it
    ms = (time.perf_counter() - start) * 1000
    precision = "bf16 autocast" if result.precision == "bf16" else "fp32"
    state = {"name": name, "image": image, "true": true, "prob": result.prob, "ms": ms,
             "device": str(device), "precision": precision}
    weights = None
    if which == UPLOADED and uploaded["weights"].lower().endswith(".safetensors"):
        weights = uploaded["weights"]  # run the code in the folder holding it and its same-named .json
    if upload:
        code = seg.to_code(threshold=float(threshold), image_path=upload, weights=weights)
    else:
        code = seg.to_code(name, threshold=float(threshold), weights=weights)
    if which == UPLOADED:
        code = (f"# Your uploaded weights: run this in the folder holding {uploaded['weights']} and its config JSON\n"
                "# under the same name (.json); a .pt/.pth file needs torch.load(path, weights_only=True) instead.\n"
                + code)
    if which == TRAINED:
        code = ("# The Train tab's model: save it in the Checkpoints tab as .safetensors, put its config JSON beside\n"
                "# it, and pass that path below instead of the shipped unet_small.safetensors.\n" + code)
    return (*_render(state, float(threshold)), code, state)


def rethreshold(state: dict | None, threshold: float):
    """Re-draw the last segmentation at a new threshold without running the model again."""
    if not state:
        raise LabError("Nothing segmented yet; click a sample or upload an image first.")
    return _render(state, threshold)


def run_pitfall(size, depth):
    """The paper's unpadded U against the tutorial's padded code, level by level, computed live."""
    return unet.paper_vs_code(_int(size, "Pitfall input size"), _int(depth, "Pitfall depth"))


def skip_demo():
    """Concatenation vs residual addition, on real tensors shaped like the tutorial's up4 inputs."""
    import torch

    x2 = torch.randn(1, 64, 256, 256)  # encoder skip (inc's output)
    x1 = torch.randn(1, 64, 256, 256)  # upsampled decoder map
    cat = torch.cat([x2, x1], dim=1)
    add = x2 + x1
    return pd.DataFrame(
        [
            {"operation": "U-Net skip: torch.cat([x2, x1], dim=1)", "input shapes": "(1, 64, 256, 256) ×2",
             "output shape": str(tuple(cat.shape)), "next conv reads": f"{cat.size(1)} channels"},
            {"operation": "ResNet residual: x2 + x1", "input shapes": "(1, 64, 256, 256) ×2",
             "output shape": str(tuple(add.shape)), "next conv reads": f"{add.size(1)} channels"},
        ]
    )


def _pitfall_views(size, depth):
    return run_pitfall(size, depth), skip_demo()


def _select_sample(evt: gr.SelectData):
    names = sample_names()
    index = evt.index if isinstance(evt.index, int) else evt.index[0]
    return names[index], None


# ------------------------------------------------------------------------------------------- layout
def _segment_note() -> str:
    try:
        info = seg.pretrained_info()
    except OSError:
        return "The shipped model is missing: run `python scripts/make_assets.py`."
    cfg = info["config"]
    params = unet.unet_param_count(**cfg)
    n_all = len(sample_names())
    return SEGMENT_NOTE.format(params=params, n_train=n_all - len(info["held_out"]), n_all=n_all,
                               n_held=len(info["held_out"]), dice=info["held_out_dice"])


def build(shared) -> None:
    """Builder (controls left, the U right; table, printed model and code below), then Segment, then the pitfall."""
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            n_channels = gr.Number(3, label="Input channels (n_channels)", precision=0,
                                   elem_id="unet-channels")
            n_classes = gr.Number(2, label="Classes (n_classes)", precision=0,
                                  elem_id="unet-classes")
            upsampling = gr.Radio([label for label, _ in UPSAMPLING], value=UPSAMPLING[0][0], label="Upsampling",
                                  elem_id="unet-upsampling")
            base = gr.Slider(2, unet.MAX_BASE_CHANNELS, value=64, step=2, label="Base channels (64 in the tutorial)",
                             elem_id="unet-base")
            depth = gr.Slider(1, unet.MAX_DEPTH, value=4, step=1, label="Depth (Down blocks; 4 in the tutorial)",
                              elem_id="unet-depth")
            with gr.Row():
                height = gr.Number(256, label="Input height", precision=0,
                                   elem_id="unet-height")
                width = gr.Number(256, label="Input width", precision=0,
                                  elem_id="unet-width")
            build_btn = gr.Button("Build U-Net", variant="primary", elem_id="unet-build")
        with gr.Column(scale=3):
            u_plot = gr.Plot(label="The U", elem_id="unet-figure")
            totals = gr.Markdown(elem_id="unet-totals")
    table = gr.Dataframe(label="Per block, in forward order (FLOPs from torch.utils.flop_counter)", interactive=False,
                         elem_id="unet-table")
    with gr.Row():
        with gr.Column():
            printed = gr.Code(label="print(model)", language=None, lines=12, max_lines=30, elem_id="unet-printed")
        with gr.Column():
            code = code_box(elem_id="unet-code", lines=12, max_lines=30)

    gr.Markdown("### Segment the sample images")
    note = gr.Markdown(elem_id="unet-segment-note")  # filled on page load: build() reads no files
    with gr.Row():
        with gr.Column(scale=2):
            gallery = gr.Gallery(value=_sample_paths(), label="Samples (click one)", columns=7, height=230,
                                 allow_preview=False, elem_id="unet-gallery")
            with gr.Row():
                sample = gr.Dropdown(sample_names(), value=None, label="Sample", elem_id="unet-sample")
                upload = gr.File(label="…or upload an image (PNG/JPEG/TIFF, ≤ 10 MB, ≤ 2048 px)", type="filepath",
                                 file_types=["image"], elem_id="unet-upload")
        with gr.Column(scale=1, min_width=240):
            which = gr.Radio([SHIPPED, TRAINED, UPLOADED], value=SHIPPED, label="Model", elem_id="unet-model")
            weights = gr.File(label="Weights: .safetensors + its .json, or .pt/.pth",
                              file_count="multiple", file_types=[*seg.WEIGHT_SUFFIXES, ".json"], type="filepath",
                              elem_id="unet-weights")
            weights_info = gr.Markdown(elem_id="unet-weights-info")
            threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="Threshold", elem_id="unet-threshold")
            seg_btn = gr.Button("Segment", variant="primary", elem_id="unet-segment")
    scores = gr.Markdown(elem_id="unet-scores")
    with gr.Row():
        overlay = gr.Image(label="Mask over the image", type="numpy", interactive=False, elem_id="unet-overlay")
        prob = gr.Image(label="Probability map (Viridis: 0 dark, 1 yellow)", type="numpy", interactive=False,
                        elem_id="unet-prob")
        true = gr.Image(label="True mask", type="numpy", interactive=False, elem_id="unet-true")
    seg_code = code_box(label="PyTorch code: the same segmentation, plain fp32", elem_id="unet-segment-code")
    seg_state = gr.State(None)
    uploaded = gr.State(None)  # this session's uploaded U-Net: {"model", "config", "weights"}

    with gr.Accordion("Pitfall: the figure's 572 → 388 vs the code's padding=1; skips concatenate, not add",
                      open=False, elem_classes="pitfall", elem_id="unet-pitfall") as pitfall:
        gr.Markdown(PITFALL_TEXT)
        with gr.Row():
            p_size = gr.Number(572, label="Input size (the paper's figure: 572)", precision=0,
                               elem_id="unet-pitfall-size")
            p_depth = gr.Slider(1, unet.MAX_DEPTH, value=4, step=1, label="Depth", elem_id="unet-pitfall-depth")
            p_btn = gr.Button("Run both", size="sm", elem_id="unet-pitfall-run")
        p_table = gr.Dataframe(label="Feature-map side per stage: the paper's unpadded convs vs the tutorial's code",
                               interactive=False, elem_id="unet-pitfall-table")
        skip_table = gr.Dataframe(label="Concatenation (U-Net) vs addition (ResNet), run on real tensors",
                                  interactive=False, elem_id="unet-pitfall-skip")

    # events last
    shared.demo.load(guarded(_segment_note), None, note, api_name="unet_note")
    build_inputs = [n_channels, n_classes, upsampling, base, depth, height, width, shared.models]
    build_outputs = [u_plot, totals, table, printed, code, shared.models]
    build_btn.click(guarded(build_unet), build_inputs, build_outputs, api_name="unet_build")

    weights.upload(guarded(load_weights), weights, [uploaded, weights_info, which], api_name="unet_load_weights")
    seg_inputs = [sample, upload, threshold, which, shared.models, uploaded]
    seg_outputs = [overlay, prob, true, scores, seg_code, seg_state]
    segment_fn = guarded(segment_image)
    gallery.select(_select_sample, None, [sample, upload], api_visibility="private").then(
        segment_fn, seg_inputs, seg_outputs, api_name="unet_segment_sample"
    )
    seg_btn.click(segment_fn, seg_inputs, seg_outputs, api_name="unet_segment")
    upload.upload(segment_fn, seg_inputs, seg_outputs, api_name="unet_segment_upload")
    threshold.release(guarded(rethreshold), [seg_state, threshold], [overlay, prob, true, scores],
                      api_name="unet_threshold")

    pitfall_fn = guarded(_pitfall_views)
    pitfall.expand(pitfall_fn, [p_size, p_depth], [p_table, skip_table], api_name="unet_pitfall_open")
    p_btn.click(pitfall_fn, [p_size, p_depth], [p_table, skip_table], api_name="unet_pitfall")

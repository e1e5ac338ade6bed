"""U-Net tab (tutorial 5.2): assemble a U-Net from DoubleConv/Down/Up/OutConv, inspect it, segment the samples.

Thin adapter over `lab.unet` (the builder, the pitfalls) and `lab.segment` (the segmentation view): layout first,
events last. Each event asks its topic once and words the answer with `t(...)`; every sentence is in
`locales/<lang>/unet.py`. Nothing is built or read at import or in build() beyond listing the sample file names.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
import torch
import torch.nn as nn

from lab import segment as seg
from lab import unet
from lab.device import pick_device
from lab.errors import LabError, choice, number
from lab.pitfall import Pitfall
from ui.cache import Held, cached, heavy
from ui.common import Link, download_dir, error_box, first_view, light, run
from ui.i18n import i18n, t
from ui.widgets import code_panel, pitfall_slots, pitfall_view

__all__ = ["build", "open_view", "build_unet", "load_weights", "segment_image", "rethreshold", "run_pitfall"]

TAB = "unet"  # the tab's id: ?tab=unet, and this tab's key in shared.models
TRAIN = "train"  # the Train tab's key in shared.models
# The Model radio's values (API clients send these; the page shows them worded).
SHIPPED, TRAINED, UPLOADED = "shipped small U-Net", "the Train tab's U-Net", "Uploaded weights"
SOURCES = {SHIPPED: "shipped", TRAINED: "train", UPLOADED: "uploaded"}
TRAIN_FILES = ("unet_trained.safetensors", "unet_trained.json")  # what the Train tab hands out as its checkpoint
UPSAMPLING = (("bilinear", True), ("transposed", False))  # the Upsampling radio's values -> UNet(bilinear=...)
DEFAULTS = {"n_channels": 3, "n_classes": 2, "upsampling": "bilinear", "base_channels": 64, "depth": 4,
            "height": 256, "width": 256, "sample": seg.view.DEFAULT_SAMPLE, "threshold": 0.5}  # fmt: skip
BLOCK_COLUMNS = ("block", "kind", "input_shape", "output_shape", "params", "gflops")


# ---------------------------------------------------------------------------------------------------------------
# Wording the lab's answers


def _bilinear(upsampling: Any) -> bool:
    if isinstance(upsampling, bool):  # scripts may send the flag itself
        return upsampling
    return choice("unet.upsampling", upsampling, [value for value, _ in UPSAMPLING]) == "bilinear"


def _config_text(config: dict) -> str:
    return "UNet(" + ", ".join(f"{k}={v!r}" for k, v in config.items()) + ")"


def _builder(view: unet.BuilderView) -> tuple:
    """(figure, totals, table, printed, code) of a builder view, worded."""
    totals = t("unet.totals", params=view.params, mb=view.megabytes, gflops=view.gflops,
               height=view.height, width=view.width, shape=str(view.output_shape), blocks=len(view.table))  # fmt: skip
    table = view.table.loc[:, list(BLOCK_COLUMNS)].rename(columns={k: t(f"unet.col.{k}") for k in BLOCK_COLUMNS})
    return view.figure, totals, table, view.printed, view.code


def _builder_view(n_channels, n_classes, upsampling, base_channels, depth, height, width) -> unet.BuilderView:
    bilinear = _bilinear(upsampling)
    config = f"UNet({n_channels}, {n_classes}, bilinear={bilinear},<br>base_channels={base_channels}, depth={depth})"
    title = t("unet.figure.title", config=config, height=height, width=width)  # two lines: a phone is 390 px wide
    labels = (("skip", t("unet.figure.skip")), ("params", t("unet.figure.params")), ("output", t("unet.figure.output")))
    return _drawn(n_channels, n_classes, bilinear, base_channels, depth, height, width, title, labels)


@cached
def _drawn(n_channels, n_classes, bilinear, base_channels, depth, height, width, title, labels) -> unet.BuilderView:
    """The builder's view, once per server for given settings and words (issue 17)."""
    return unet.builder_view(n_channels, n_classes, bilinear, base_channels, depth, height, width, title=title,
                             labels=dict(labels))  # fmt: skip


@cached
def _built(config: tuple) -> nn.Module:
    """The U-Net of `config`, built once per server: shared read-only (tabs that train, wrap or load into a model
    work on their own copy), so a class building the default U does not hold thirty copies of it."""
    with torch.random.fork_rng(devices=[]):  # seeded: built again, it has the same weights (ui.cache.Held)
        torch.manual_seed(0)
        return unet.UNet(**dict(config)).to(pick_device())


_segment_sample = cached(seg.segment_view)  # a sample by the shipped U-Net: the same for every visitor
_pitfalls = cached(unet.run_pitfalls)


def _card_text(card: seg.ModelCard) -> str:
    config = _config_text(card.config)
    if card.source == "shipped":
        info = seg.pretrained_info()
        held = len(info["held_out"])
        return t("unet.model.note.shipped", config=config, params=card.params, dice=card.held_out_dice,
                 n_train=len(info["train"]["samples"]), n_held=held)  # fmt: skip
    if card.source == "train":
        return t("unet.model.note.train", config=config, params=card.params)
    source = t("unet.weights.from_json", json=card.config_file) if card.config_file else t("unet.weights.no_json")
    return t("unet.model.note.uploaded", config=config, params=card.params, weights=card.weights, source=source)


def _scores(view: seg.SegmentView) -> str:
    h, w = view.prob.shape
    line = t("unet.scores", name=view.name, width=w, height=h, threshold=view.threshold, foreground=view.foreground)
    if view.dice is not None:
        line += t("unet.scores.dice", dice=view.dice, iou=view.iou)
    else:
        line += t("unet.scores.no_truth")
    precision = t("unet.precision.bf16") if view.precision == "bf16" else t("unet.precision.fp32")
    return line + "\n\n" + t("unet.scores.time", ms=view.ms, device=view.device, precision=precision)


def _handout(paths: tuple[str, ...]) -> list[str] | None:
    """The files the code panel reads, copied where Gradio serves downloads from (hard links when possible)."""
    if not paths:
        return None
    folder = download_dir(TAB)
    out = []
    for path in paths:
        target = folder / Path(path).name
        try:
            os.link(path, target)
        except OSError:
            shutil.copyfile(path, target)
        out.append(str(target))
    return out


def _segmentation(view: seg.SegmentView) -> tuple:
    """(model note, overlay, probability map, true mask, scores, code, files, state) of a segmentation view."""
    return (_card_text(view.card), view.overlay, view.prob_image, view.true_image, _scores(view), view.code,
            _handout(view.files), view)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Callbacks


def open_view(n_channels, n_classes, upsampling, base_channels, depth, height, width, sample, threshold):
    """The tab's first view: the U drawn with its table, print and code, and a sample segmented by the shipped
    U-Net (a view only: nothing is allocated for the session until Build)."""
    builder = _builder(_builder_view(n_channels, n_classes, upsampling, base_channels, depth, height, width))
    return (*builder, *_segmentation(_segment_sample(sample or DEFAULTS["sample"], threshold)))


def build_unet(n_channels, n_classes, upsampling, base_channels, depth, height, width, models: dict | None = None):
    """Draw and tabulate the U, print it, write its code; the built model becomes this session's `models["unet"]`."""
    view = _builder_view(n_channels, n_classes, upsampling, base_channels, depth, height, width)
    model = Held(_built, tuple(sorted(view.config.items())))  # the model stays in the bounded cache
    figure, totals, table, printed, code = _builder(view)
    totals += "\n\n" + t("unet.built")
    return figure, totals, table, printed, code, {**(models or {}), TAB: model}  # a new dict: this session's


def _file_path(entry) -> str:
    # gr.File(type="filepath") gives str paths; a FileData-like object carries `.path` (or a dict "path")
    if isinstance(entry, dict):
        entry = entry.get("path")
    return str(getattr(entry, "path", entry))


def load_weights(files, again: int = 0):
    """Rebuild a U-Net from uploaded weights (+ JSON config) for this session and select it.

    Returns (the session's uploaded model, a summary line, the Model radio's new value, the segment-again tick)."""
    paths = [_file_path(f) for f in (files if isinstance(files, (list, tuple)) else [files]) if f]
    model, config = seg.load_weights(paths, pick_device())
    weights = next(Path(p).name for p in paths if Path(p).suffix.lower() in seg.WEIGHT_SUFFIXES)
    config_file = next((Path(p).name for p in paths if Path(p).suffix.lower() == ".json"), None)
    card = seg.model_card(model, "uploaded", weights, config_file, config)
    info = t("unet.weights.loaded", weights=weights, config=_config_text(config), params=card.params,
             source=t("unet.weights.from_json", json=config_file) if config_file else t("unet.weights.no_json"))
    return {"model": model, "card": card}, info, UPLOADED, (again or 0) + 1


def _model(which: str, models: dict | None, uploaded: dict | None):
    """(model, card) for the Model radio's choice; (None, None) is the shipped U-Net."""
    which = choice("unet.model", which or SHIPPED, list(SOURCES))
    if which == TRAINED:
        model = (models or {}).get(TRAIN)
        if model is None:
            raise LabError("error.unet.no_trained_model")
        return model, seg.model_card(model, "train", *TRAIN_FILES)
    if which == UPLOADED:
        if not uploaded or uploaded.get("model") is None:
            raise LabError("error.unet.no_uploaded_model")
        return uploaded["model"], uploaded["card"]
    return None, None


def segment_image(sample: str | None, upload: str | None, threshold: float, which: str, models: dict | None = None,
                  uploaded: dict | None = None):  # fmt: skip
    """Segment a sample (or the upload, which wins) with the chosen model: the note of which model segments, the
    overlay, probability map, true mask, scores, code, the files that code reads, and the view for re-thresholding."""
    model, card = _model(which, models, uploaded)
    if upload or model is not None:  # the visitor's own file or model: computed for this session only
        return _segmentation(heavy(seg.segment_view)(sample, threshold, upload=upload, model=model, card=card))
    return _segmentation(_segment_sample(sample, threshold))


def rethreshold(state: seg.SegmentView | None, threshold: float):
    """Redraw the last segmentation at a new threshold without running the model again."""
    view = seg.rethreshold(state, threshold)
    return view.overlay, view.prob_image, view.true_image, _scores(view), view.code


def _select_sample(again: int, evt: gr.SelectData):
    """A gallery click: that sample (the upload is cleared) and a tick that segments it."""
    names = seg.sample_names()
    index = evt.index if isinstance(evt.index, int) else evt.index[0]
    return names[index], None, (again or 0) + 1


def _pick_sample(again: int):
    """A sample picked in the list: the upload is cleared and a tick segments the sample."""
    return None, (again or 0) + 1


def _paper_table(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in frame.itertuples():
        skip = ""
        if r.side == "decoder":
            pad = (t("unet.pitfall.pad", up=r.code_up, to=r.code_in) if r.code_up != r.code_in
                   else t("unet.pitfall.no_pad", size=r.code_in))  # fmt: skip
            skip = t("unet.pitfall.crop", skip=r.paper_skip, to=r.paper_in) + "; " + pad
        rows.append({t("unet.pitfall.col.stage"): t(f"unet.stage.{r.side}", level=r.level),
                     t("unet.pitfall.col.paper"): f"{r.paper_in} → {r.paper_out}",
                     t("unet.pitfall.col.code"): f"{r.code_in} → {r.code_out}",
                     t("unet.pitfall.col.skip"): skip})  # fmt: skip
    return pd.DataFrame(rows)


def _skip_table(pitfall: Pitfall) -> pd.DataFrame:
    frame = pitfall.table.astype(object).where(pitfall.table.notna(), "—")
    y, x = pitfall.facts["y"], pitfall.facts["x"]
    headers = {"tensor": t("unet.skip.col.tensor"), "shape": t("unet.skip.col.shape"),
               "channels": t("unet.skip.col.channels"), "value_0": t("unet.skip.col.value", channel=0, y=y, x=x),
               "value_c": t("unet.skip.col.value", channel=pitfall.facts["channels"], y=y, x=x)}  # fmt: skip
    return frame.rename(columns=headers)


def run_pitfall(size, depth) -> list[tuple[Pitfall, pd.DataFrame]]:
    """Both 5.2 pitfalls run live, each with its table worded: the figure's U against the code's (at `size`,
    `depth`), and concatenation against addition on the shipped U-Net's feature maps."""
    figure_vs_code, skip_concat = _pitfalls(size, depth)
    return [(figure_vs_code, _paper_table(figure_vs_code.table)), (skip_concat, _skip_table(skip_concat))]


# ---------------------------------------------------------------------------------------------------------------
# Links: the builder's settings and the chosen sample and threshold live in the address


def _whole(field: str, low: int, high: int):
    return lambda text: number(field, text, low, high, integer=True)


def _even_base(text: str) -> int:
    value = number("unet.base_channels", text, 2, unet.MAX_BASE_CHANNELS, integer=True)
    if value % 2:
        raise ValueError(text)
    return value


def _links(c: dict) -> list[Link]:
    return [
        Link("channels", c["n_channels"], _whole("unet.n_channels", 1, unet.MAX_CHANNELS)),
        Link("classes", c["n_classes"], _whole("unet.n_classes", 1, unet.MAX_CLASSES)),
        Link("upsampling", c["upsampling"], lambda text: choice("unet.upsampling", text, [v for v, _ in UPSAMPLING])),
        Link("base", c["base_channels"], _even_base),
        Link("depth", c["depth"], _whole("unet.depth", 1, unet.MAX_DEPTH)),
        Link("height", c["height"], _whole("unet.height", 2, unet.MAX_INPUT_SIDE)),
        Link("width", c["width"], _whole("unet.width", 2, unet.MAX_INPUT_SIDE)),
        Link("sample", c["sample"], lambda text: choice("segment.sample", text, seg.sample_names())),
        Link("threshold", c["threshold"], lambda text: number("segment.threshold", text, 0.0, 1.0)),
    ]


# ---------------------------------------------------------------------------------------------------------------
# Layout, then events


def build(shared) -> None:
    """Builder (inputs left, the U right; table, print and code below), Segment (inputs left, masks right, the
    threshold under the mask it changes; code and its files below), then the pitfalls."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for this tab
    gr.Markdown(i18n("unet.intro"))
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            n_channels = gr.Number(DEFAULTS["n_channels"], label=i18n("unet.n_channels"), precision=0,
                                   elem_id="unet-channels")  # fmt: skip
            n_classes = gr.Number(DEFAULTS["n_classes"], label=i18n("unet.n_classes"), precision=0,
                                  elem_id="unet-classes")  # fmt: skip
            upsampling = gr.Radio([(i18n(f"unet.upsampling.{v}"), v) for v, _ in UPSAMPLING],
                                  value=DEFAULTS["upsampling"], label=i18n("unet.upsampling"),
                                  elem_id="unet-upsampling")  # fmt: skip
            base = gr.Slider(2, unet.MAX_BASE_CHANNELS, value=DEFAULTS["base_channels"], step=2,
                             label=i18n("unet.base_channels"), elem_id="unet-base")  # fmt: skip
            depth = gr.Slider(1, unet.MAX_DEPTH, value=DEFAULTS["depth"], step=1, label=i18n("unet.depth"),
                              elem_id="unet-depth")  # fmt: skip
            with gr.Row():
                height = gr.Number(DEFAULTS["height"], label=i18n("unet.height"), precision=0, min_width=100,
                                   elem_id="unet-height")  # fmt: skip
                width = gr.Number(DEFAULTS["width"], label=i18n("unet.width"), precision=0, min_width=100,
                                  elem_id="unet-width")  # fmt: skip
            build_btn = gr.Button(i18n("unet.build"), variant="primary", elem_id="unet-build")
            build_error = error_box("unet-build-error")
        with gr.Column(scale=3, min_width=300):
            u_plot = gr.Plot(label=i18n("unet.figure"), elem_id="unet-figure")
            totals = gr.Markdown(elem_id="unet-totals")
    table = gr.Dataframe(label=i18n("unet.table"), interactive=False, elem_id="unet-table")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):
            printed = gr.Code(label="print(model)", language=None, lines=12, max_lines=30, elem_id="unet-printed")
        with gr.Column(min_width=300):
            builder_code = code_panel(TAB, "5.2.4", "unet.code.title", elem_id="unet-code", lines=12, max_lines=30)

    gr.Markdown(i18n("unet.segment.heading"))
    model_note = gr.Markdown(elem_id="unet-model-note")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            gallery = gr.Gallery(value=[(str(seg.SAMPLES / f"{n}.png"), n) for n in seg.sample_names()],
                                 label=i18n("unet.gallery"), columns=7, height=230, allow_preview=False,
                                 elem_id="unet-gallery")  # fmt: skip
            with gr.Row():
                sample = gr.Dropdown(seg.sample_names(), value=DEFAULTS["sample"], label=i18n("unet.sample"),
                                     min_width=140, elem_id="unet-sample")  # fmt: skip
                upload = gr.File(label=i18n("unet.upload"), type="filepath", file_types=["image"], min_width=160,
                                 elem_id="unet-upload")  # fmt: skip
            which = gr.Radio([(i18n(f"unet.model.{SOURCES[v]}"), v) for v in SOURCES], value=SHIPPED,
                             label=i18n("unet.model"), elem_id="unet-model")  # fmt: skip
            weights = gr.File(label=i18n("unet.weights"), file_count="multiple", type="filepath",
                              file_types=[*seg.WEIGHT_SUFFIXES, ".json"], elem_id="unet-weights")  # fmt: skip
            weights_info = gr.Markdown(elem_id="unet-weights-info")
            seg_btn = gr.Button(i18n("unet.segment"), variant="primary", elem_id="unet-segment")
            seg_error = error_box("unet-segment-error")
        with gr.Column(scale=3, min_width=300):
            scores = gr.Markdown(elem_id="unet-scores")
            with gr.Row(equal_height=False):
                with gr.Column(min_width=200):
                    overlay = gr.Image(label=i18n("unet.overlay"), type="numpy", interactive=False, height=280,
                                       elem_id="unet-overlay")  # fmt: skip
                    threshold = gr.Slider(0.0, 1.0, value=DEFAULTS["threshold"], step=0.01,
                                          label=i18n("unet.threshold"), elem_id="unet-threshold")  # fmt: skip
                prob = gr.Image(label=i18n("unet.prob"), type="numpy", interactive=False, height=280, min_width=200,
                                elem_id="unet-prob")  # fmt: skip
                true = gr.Image(label=i18n("unet.true"), type="numpy", interactive=False, height=280, min_width=200,
                                elem_id="unet-true")  # fmt: skip
    seg_code = code_panel(TAB, "5.2", "unet.segment.code.title", label=i18n("unet.segment.code"),
                          elem_id="unet-segment-code", lines=12, max_lines=40)  # fmt: skip
    files = gr.File(label=i18n("unet.files"), file_count="multiple", interactive=False, elem_id="unet-files")
    seg_state = gr.State(None)  # the last SegmentView, for re-thresholding without the model
    uploaded = gr.State(None)  # this session's uploaded U-Net: {"model", "card"}
    again = gr.State(0)  # ticks when a gallery click or a weights upload wants the image segmented again

    with gr.Accordion(i18n("unet.pitfall.accordion"), open=False, elem_classes="pitfall",
                      elem_id="unet-pitfall") as pitfall:  # fmt: skip
        with gr.Row():
            p_size = gr.Number(572, label=i18n("unet.pitfall.size"), precision=0, elem_id="unet-pitfall-size")
            p_depth = gr.Slider(1, unet.MAX_DEPTH, value=4, step=1, label=i18n("unet.depth"),
                                elem_id="unet-pitfall-depth")  # fmt: skip
            p_btn = gr.Button(i18n("pitfall.run"), size="sm", elem_id="unet-pitfall-run")
        p_error = error_box("unet-pitfall-error")
        slots = [pitfall_slots("unet.figure_vs_code", table=True), pitfall_slots("unet.skip_concat", table=True)]

    def show_pitfalls(size, depth):
        return [u for s, (p, frame) in zip(slots, run_pitfall(size, depth), strict=True)
                for u in pitfall_view(s, p, table=frame)]  # fmt: skip

    # events
    builder_inputs = [n_channels, n_classes, upsampling, base, depth, height, width]
    builder_outputs = [u_plot, totals, table, printed, builder_code.code]
    seg_outputs = [model_note, overlay, prob, true, scores, seg_code.code, files, seg_state]
    controls = dict(zip(["n_channels", "n_classes", "upsampling", "base_channels", "depth", "height", "width",
                         "sample", "threshold"], [*builder_inputs, sample, threshold], strict=True))  # fmt: skip
    first_view(shared, tab, TAB, open_view, [*builder_inputs, sample, threshold], [*builder_outputs, *seg_outputs],
               links=_links(controls), error=build_error, api_name="unet_open", light=True)  # fmt: skip
    run(build_btn.click, build_unet, [*builder_inputs, shared.models], [*builder_outputs, shared.models],
        api_name="unet_build", error=build_error)  # fmt: skip
    builder_code.wire(TAB, "unet_notebook")

    seg_inputs = [sample, upload, threshold, which, shared.models, uploaded]
    run([seg_btn.click, which.input], segment_image, seg_inputs, seg_outputs, api_name="unet_segment",
        error=seg_error)  # fmt: skip
    gallery.select(light(_select_sample), again, [sample, upload, again], api_visibility="private")
    sample.input(light(_pick_sample), again, [upload, again], api_visibility="private")
    run(again.change, segment_image, seg_inputs, seg_outputs, api_name="unet_segment_sample", error=seg_error,
        light=True)  # fmt: skip
    upload.upload(None, None, sample, js="() => null", queue=False, api_visibility="private")  # the upload wins
    run(upload.upload, segment_image, seg_inputs, seg_outputs, api_name="unet_segment_upload", error=seg_error)
    run(weights.upload, load_weights, [weights, again], [uploaded, weights_info, which, again],
        api_name="unet_load_weights", error=seg_error, clear=[weights_info])  # fmt: skip
    run(threshold.release, rethreshold, [seg_state, threshold], seg_outputs[1:6], api_name="unet_threshold",
        error=seg_error)  # fmt: skip
    seg_code.wire(TAB, "unet_segment_notebook")

    pitfall_outputs = [c for s in slots for c in s.components]
    for trigger, api_name in ((pitfall.expand, "unet_pitfall_open"), (p_btn.click, "unet_pitfall")):
        run(trigger, show_pitfalls, [p_size, p_depth], pitfall_outputs, api_name=api_name, error=p_error, light=True)

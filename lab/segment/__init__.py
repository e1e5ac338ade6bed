"""Segmenting images with a U-Net (tutorial 5.2, "segment the sample images"): the shipped samples and small U-Net,
fast and safe inference, Dice/IoU, and the U-Net tab's segmentation view.

- `io`: the samples, the shipped model (`pretrained`), uploaded weights (`load_weights`) and images (`load_image`);
- `core`: `segment` (inference_mode, Conv+BN folded, channels_last, bf16 where it keeps fp32's mask), `dice`,
  `iou`, the pictures (`overlay`, `prob_image`);
- `view`: `segment_view` / `rethreshold`, the one call behind the tab's segmentation; `code`: its code panel
  (standalone: the U-Net's source, files by their base names, plain fp32).

The U-Net itself is `lab.unet`.
"""

from lab.segment.io import (  # noqa: I001 - io first: core reads its limits
    ASSETS, MAX_SIDE, MAX_UPLOAD_BYTES, SAMPLES, SHIPPED_CONFIG, SHIPPED_WEIGHTS, WEIGHT_SUFFIXES, Sample,
    load_image, load_samples, load_weights, pretrained, pretrained_info, sample_names, samples,
)  # fmt: skip
from lab.segment.core import (
    MASK_AGREEMENT, PRECISIONS, TILE_ELEMENTS, Segmentation, dice, foreground, iou, overlay, prob_image, segment,
    to_tensor,
)  # fmt: skip
from lab.segment.code import to_code
from lab.segment.view import ModelCard, SegmentView, model_card, rethreshold, segment_view, shipped_card

__all__ = [
    "ASSETS", "SAMPLES", "SHIPPED_WEIGHTS", "SHIPPED_CONFIG", "MAX_SIDE", "MAX_UPLOAD_BYTES", "WEIGHT_SUFFIXES",
    "PRECISIONS", "TILE_ELEMENTS", "MASK_AGREEMENT", "Sample", "Segmentation", "samples", "load_samples",
    "sample_names", "pretrained", "pretrained_info", "load_weights", "load_image", "to_tensor", "foreground",
    "segment", "dice", "iou", "overlay", "prob_image", "to_code", "ModelCard", "SegmentView", "shipped_card",
    "model_card", "segment_view", "rethreshold",
]

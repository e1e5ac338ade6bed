"""The segmentation code panel: the U-Net as the lab defines it (its source), the weights and the image by their
base names, the plain way (fp32, one pass). Standalone: it runs in an empty folder holding only the files the page
hands out (the sample image and its mask, the shipped weights and their JSON) or the visitor's own."""

from __future__ import annotations

from pathlib import PurePath

from lab.errors import number
from lab.segment.core import foreground
from lab.source import source
from lab.unet.code import model_source

__all__ = ["to_code"]


def _base(name: str) -> str:
    return PurePath(str(name)).name  # a base name only: the code never names a folder of the server


def to_code(image: str, *, threshold: float = 0.5, weights: str = "unet_small.safetensors",
            config_file: str | None = "unet_small.json", config: dict | None = None, mask: str | None = None,
            size: tuple[int, int] | None = None) -> str:  # fmt: skip
    """Code that segments `image` with the U-Net of `weights` (+ `config_file`, its JSON; or `config` written into
    the code when there is none) at `threshold`, printing the foreground share and, given the true `mask`, Dice and
    IoU, as the tab shows them. `size` (H, W): an image smaller than the U's bottom is padded as the lab pads it.

    Every file is named by its base name. A .pt/.pth file is read with `torch.load(weights_only=True)` (a training
    checkpoint's weights are found under its usual keys, a DataParallel `module.` prefix is stripped).
    """
    threshold = number("segment.threshold", threshold, 0.0, 1.0)
    image, weights = _base(image), _base(weights)
    if config_file is not None:
        read_config = (f'config = json.loads(open("{_base(config_file)}").read())\n'
                       'config = config.get("config", config)  # the shipped JSON nests the arguments\n')  # fmt: skip
    else:
        read_config = f"config = {dict(config or {})!r}  # no JSON was given: the architecture the weights fit\n"
    if weights.lower().endswith(".safetensors"):
        read_weights = f'state = load_file("{weights}")\n'
    else:
        read_weights = (
            f'state = torch.load("{weights}", map_location="cpu", weights_only=True)  # never unpickles code\n'
            'for key in ("model_state_dict", "state_dict", "model"):  # a training checkpoint keeps them under a key\n'
            "    if isinstance(state, dict) and isinstance(state.get(key), dict):\n"
            "        state = state[key]\n"
            "        break\n"
            'torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(state, "module.")  # DataParallel\n'
        )
    n_channels, depth = int((config or {}).get("n_channels", 3)), int((config or {}).get("depth", 4))
    mode = "RGB" if n_channels == 3 else "L"
    to_input = ('x = torch.from_numpy(image).permute(2, 0, 1).float().div(255).unsqueeze(0)  # (1, 3, H, W), [0, 1]\n'
                if mode == "RGB" else
                f"x = torch.from_numpy(image).float().div(255).expand({n_channels}, -1, -1).unsqueeze(0)"
                f"  # (1, {n_channels}, H, W)\n")  # fmt: skip
    h, w = size or (2**depth, 2**depth)
    pad_h, pad_w = max(0, 2**depth - h), max(0, 2**depth - w)
    pad = (f'x = F.pad(x, (0, {pad_w}, 0, {pad_h}), mode="replicate")  # smaller than 2**depth: padded, cropped back\n'
           if pad_h or pad_w else "")  # fmt: skip
    crop = "[:H, :W]" if pad else ""
    score = ""
    if mask is not None:
        score = (f'true = np.array(Image.open("{_base(mask)}").convert("L")) > 127\n'
                 "dice = 2 * (mask & true).sum() / max(mask.sum() + true.sum(), 1)\n"
                 "iou = (mask & true).sum() / max((mask | true).sum(), 1)\n"
                 'print(f"Dice {dice:.3f}, IoU {iou:.3f}")\n')  # fmt: skip
    imports = ("import numpy as np", "from PIL import Image")
    if weights.lower().endswith(".safetensors"):
        imports += ("from safetensors.torch import load_file",)
    return f"""{model_source(stdlib=("import json",) if config_file else (), third_party=imports)}

{source(foreground)}

{read_config}model = UNet(**config)
{read_weights}model.load_state_dict(state)
model.eval()  # BatchNorm uses its running statistics

image = np.array(Image.open("{image}").convert("{mode}"))
H, W = image.shape[:2]
{to_input}{pad}with torch.inference_mode():
    prob = foreground(model(x)[0]){crop}.numpy()  # (H, W) foreground probability
mask = prob > {threshold}
print("mask", mask.shape, f"{{mask.mean() * 100:.1f}}% foreground")
{score}"""

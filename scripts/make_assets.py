"""Regenerate everything in assets/: the sample images with their true masks, and the small shipped U-Net.

    python scripts/make_assets.py            # samples + training (a few minutes on 2 CPU cores)
    python scripts/make_assets.py --samples-only
    python scripts/make_assets.py --out /tmp/check   # write elsewhere, e.g. to compare with assets/

Serves tutorial 5.2 ("segment the sample images"): the lab needs a segmentation task that looks real
without downloading a data set, so the images are synthesised: cells on textured, unevenly lit, noisy
backgrounds in three microscopy looks (stained bright-field, fluorescence, phase contrast), with varied
count, size, shape and contrast, some touching, plus debris that is not a cell. Everything is seeded,
so the same command writes the same files.

Outputs:
  assets/samples/cells_XX.png       the image, RGB uint8
  assets/samples/cells_XX_mask.png  its true mask, 1-bit (white = cell)
  assets/unet_small.safetensors     weights of the shipped U-Net (fp32)
  assets/unet_small.json            its config, the held-out sample names and the held-out Dice
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.unet import UNet  # noqa: E402

ASSETS = ROOT / "assets"
SAMPLES = ASSETS / "samples"
SIZE = 256
N_SAMPLES = 28
N_HELD_OUT = 6
SEED = 5_2  # tutorial section 5.2

# The shipped model: narrow and three levels deep, so it trains in minutes on a CPU and segments a
# 256 x 256 image in a few milliseconds, yet sees ~70 px of context, enough for the largest cells.
CONFIG = {"n_channels": 3, "n_classes": 1, "bilinear": True, "base_channels": 16, "depth": 3}
TRAIN = {"steps": 600, "batch_size": 8, "crop": 128, "lr": 3e-3, "weight_decay": 1e-4, "seed": SEED}


# ----------------------------------------------------------------------------------------- images
def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Gaussian random field with correlation length ~`scale` px, normalised to zero mean, unit std."""
    h, w = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    spectrum = np.exp(-((fx**2 + fy**2) * (scale * math.pi) ** 2) / 2)
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal(shape)) * spectrum).real
    return (field - field.mean()) / (field.std() + 1e-8)


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an HxW or HxWxC float image (the microscope's point-spread function)."""
    radius = max(1, int(3 * sigma))
    x = np.arange(-radius, radius + 1)
    k = np.exp(-(x**2) / (2 * sigma**2))
    k /= k.sum()
    t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[:, None]  # (C, 1, H, W)
    kt = torch.from_numpy(k.astype(np.float32))
    t = F.conv2d(F.pad(t, (radius, radius, 0, 0), mode="reflect"), kt.view(1, 1, 1, -1))
    t = F.conv2d(F.pad(t, (0, 0, radius, radius), mode="reflect"), kt.view(1, 1, -1, 1))
    out = t[:, 0].numpy()
    return out[0] if img.ndim == 2 else out.transpose(1, 2, 0)


def cell_shape(rng: np.random.Generator, yy, xx, cy, cx, r, aspect, angle, harmonics):
    """Signed distance (px, positive inside) to a wobbly ellipse's outline, and the normalised radius."""
    dy, dx = yy - cy, xx - cx
    c, s = math.cos(angle), math.sin(angle)
    u = (dx * c + dy * s) / (r * aspect)
    v = (-dx * s + dy * c) / (r / aspect)
    rn = np.sqrt(u**2 + v**2)
    theta = np.arctan2(v, u)
    boundary = 1.0 + sum(a * np.cos(k * theta + p) for k, a, p in harmonics)
    return (boundary - rn) * r, rn / boundary


STYLES = ("stain", "fluorescence", "phase")


def make_sample(index: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (HxWx3 uint8) and its true mask (HxW bool)."""
    rng = np.random.default_rng([SEED, index])
    style = STYLES[index % len(STYLES)]
    h = w = SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)

    # --- cells: rejection-placed, a third of them pushed against a neighbour so some touch
    n_cells = int(rng.integers(4, 26))
    cells: list[tuple[float, float, float]] = []
    for _ in range(n_cells * 30):
        if len(cells) == n_cells:
            break
        r = float(np.exp(rng.uniform(math.log(7), math.log(24))))
        if cells and rng.random() < 0.35:
            py, px, pr = cells[rng.integers(len(cells))]
            a = rng.uniform(0, 2 * math.pi)
            d = (pr + r) * rng.uniform(0.92, 1.02)
            cy, cx = py + d * math.sin(a), px + d * math.cos(a)
        else:
            cy, cx = rng.uniform(-r / 2, h + r / 2), rng.uniform(-r / 2, w + r / 2)
        if all(math.hypot(cy - qy, cx - qx) > 0.9 * (r + qr) for qy, qx, qr in cells):
            cells.append((cy, cx, r))

    sdf = np.full((h, w), -1e3, np.float32)  # max over cells of the signed distance
    nucleus = np.zeros((h, w), np.float32)
    cell_tone = np.zeros((h, w), np.float32)  # per-cell contrast painted over its area
    for cy, cx, r in cells:
        aspect = float(rng.uniform(0.75, 1.3))
        harmonics = [(k, float(rng.uniform(0, 0.09 if k < 4 else 0.04)), float(rng.uniform(0, 6.3)))
                     for k in (2, 3, 4, 5)]
        d, _ = cell_shape(rng, yy, xx, cy, cx, r, aspect, float(rng.uniform(0, math.pi)), harmonics)
        inside = d > sdf
        cell_tone[inside & (d > -2)] = rng.uniform(0.45, 1.0)
        sdf = np.maximum(sdf, d)
        nr = r * rng.uniform(0.3, 0.5)
        ny, nx = cy + rng.uniform(-0.3, 0.3) * r, cx + rng.uniform(-0.3, 0.3) * r
        dn, _ = cell_shape(rng, yy, xx, ny, nx, nr, float(rng.uniform(0.8, 1.2)), 0.0, [(2, 0.05, 0.0)])
        nucleus = np.maximum(nucleus, np.clip(dn + 0.5, 0, 1) * (d > 1))
    mask = sdf > 0
    cover = np.clip(sdf + 0.5, 0, 1)  # anti-aliased coverage
    membrane = np.clip(1 - np.abs(sdf - 1.0) / 1.5, 0, 1)  # a thin ring just inside the outline
    halo = np.clip(1 - np.abs(sdf + 2.5) / 2.5, 0, 1) * (sdf < 0)  # phase-contrast halo outside

    # --- debris: specks smaller than any cell, not in the mask
    debris = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 12))):
        dy, dx = rng.uniform(0, h), rng.uniform(0, w)
        d, _ = cell_shape(rng, yy, xx, dy, dx, float(rng.uniform(1.0, 2.5)), 1.0, 0.0, [])
        debris = np.maximum(debris, np.clip(d + 0.5, 0, 1) * (sdf < -2))

    texture = 0.6 * smooth_noise(rng, (h, w), 12) + 0.4 * smooth_noise(rng, (h, w), 2.5)
    inner_tex = smooth_noise(rng, (h, w), 1.8)
    gy, gx = rng.uniform(-1, 1, 2)
    light = 1 + 0.22 * (gy * (yy / h - 0.5) + gx * (xx / w - 0.5)) * 2  # uneven illumination
    cy0, cx0 = rng.uniform(0.2, 0.8, 2) * (h, w)
    light *= 1 - 0.25 * ((yy - cy0) ** 2 + (xx - cx0) ** 2) / (h * h)  # vignetting
    tone = cell_tone * rng.uniform(0.8, 1.1)

    if style == "stain":  # H&E-like bright field: pink background, purple cells, dark nuclei
        bg = np.array([0.92, 0.80, 0.86]) + 0.03 * texture[..., None]
        cyto = np.array([0.80, 0.58, 0.78]) + 0.04 * inner_tex[..., None]
        img = bg * (1 - cover[..., None] * tone[..., None]) + cyto * cover[..., None] * tone[..., None]
        img = img * (1 - 0.25 * membrane[..., None] * tone[..., None])
        img = img * (1 - 0.45 * nucleus[..., None] * np.array([0.55, 0.7, 0.35]))
        img = img * (1 - 0.4 * debris[..., None] * np.array([0.5, 0.7, 0.4]))
    elif style == "fluorescence":  # dark background, green cytoplasm, bright blue nuclei
        bg = np.array([0.05, 0.07, 0.09]) + 0.02 * texture[..., None]
        cyto = np.array([0.25, 0.75, 0.30]) * (0.8 + 0.15 * inner_tex[..., None])
        img = bg + cover[..., None] * tone[..., None] * cyto * 0.85
        img = img + nucleus[..., None] * tone[..., None] * np.array([0.15, 0.25, 0.75])
        img = img + debris[..., None] * np.array([0.2, 0.55, 0.25]) * rng.uniform(0.4, 0.9)
    else:  # phase contrast: grey, darker cells with a bright halo
        g = 0.55 + 0.04 * texture
        g = g - cover * tone * (0.16 + 0.03 * inner_tex) + halo * 0.18 * (0.5 + tone / 2) - 0.1 * nucleus * tone
        g = g - 0.15 * debris
        img = np.repeat(g[..., None], 3, axis=2) * np.array([0.97, 1.0, 1.03])

    img = blur(img * light[..., None], float(rng.uniform(0.6, 1.1)))
    noise_sigma = float(rng.uniform(0.012, 0.03))
    img = img + noise_sigma * rng.standard_normal(img.shape[:2])[..., None] * np.array([1.0, 0.9, 1.1])
    img = np.clip(np.round(img * 255), 0, 255).astype(np.uint8)
    return img, mask


def write_samples() -> list[str]:
    SAMPLES.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(N_SAMPLES):
        img, mask = make_sample(i)
        name = f"cells_{i:02d}"
        Image.fromarray(img).save(SAMPLES / f"{name}.png", optimize=True)
        Image.fromarray(mask).save(SAMPLES / f"{name}_mask.png", optimize=True)  # mode "1"
        names.append(name)
    total = sum(p.stat().st_size for p in SAMPLES.glob("*.png"))
    print(f"wrote {len(names)} samples to {SAMPLES} ({total / 1e6:.2f} MB)")
    return names


# ----------------------------------------------------------------------------------------- training
def augment_batch(gen: torch.Generator, images: torch.Tensor, masks: torch.Tensor, n: int, crop: int):
    """Random crops with flips, 90-degree turns and a brightness/contrast jitter. images (K, 3, H, W)."""
    idx = torch.randint(len(images), (n,), generator=gen)
    ys = torch.randint(images.size(2) - crop + 1, (n,), generator=gen)
    xs = torch.randint(images.size(3) - crop + 1, (n,), generator=gen)
    xb, yb = [], []
    for i, y, x in zip(idx.tolist(), ys.tolist(), xs.tolist(), strict=True):
        xi = images[i, :, y : y + crop, x : x + crop]
        yi = masks[i, :, y : y + crop, x : x + crop]
        k = int(torch.randint(4, (1,), generator=gen))
        xi, yi = torch.rot90(xi, k, (1, 2)), torch.rot90(yi, k, (1, 2))
        if torch.rand(1, generator=gen) < 0.5:
            xi, yi = xi.flip(2), yi.flip(2)
        gain = 0.8 + 0.4 * float(torch.rand(1, generator=gen))
        bias = 0.1 * (float(torch.rand(1, generator=gen)) - 0.5)
        xb.append((xi * gain + bias).clamp(0, 1))
        yb.append(yi)
    return torch.stack(xb), torch.stack(yb)


def dice_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    return F.binary_cross_entropy_with_logits(logits, target) + dice


def train(names: list[str], device: torch.device) -> None:
    from safetensors.torch import save_file

    from lab.segment import dice, load_samples, segment

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    samples = load_samples(SAMPLES)
    rng = np.random.default_rng(SEED)
    held_out = sorted(rng.choice(names, N_HELD_OUT, replace=False).tolist())
    train_set = [s for s in samples if s.name not in held_out]
    images = torch.stack([torch.from_numpy(np.array(s.image)).permute(2, 0, 1).float() / 255 for s in train_set])
    masks = torch.stack([torch.from_numpy(np.array(s.mask))[None].float() for s in train_set])
    images, masks = images.to(device), masks.to(device)

    model = UNet(**CONFIG).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=TRAIN["lr"], weight_decay=TRAIN["weight_decay"])
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=TRAIN["lr"], total_steps=TRAIN["steps"], pct_start=0.15)
    gen = torch.Generator().manual_seed(TRAIN["seed"])
    t0 = time.perf_counter()
    model.train()
    for step in range(TRAIN["steps"]):
        x, y = augment_batch(gen, images, masks, TRAIN["batch_size"], TRAIN["crop"])  # crops on `device`
        loss = dice_bce(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 50 == 0 or step == TRAIN["steps"] - 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  {time.perf_counter() - t0:6.1f} s", flush=True)

    model.eval()
    scores = {s.name: dice(segment(model, s.image).mask, s.mask) for s in samples if s.name in held_out}
    held_dice = float(np.mean(list(scores.values())))
    print(f"held-out Dice {held_dice:.4f}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))

    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(ASSETS / "unet_small.safetensors"))
    meta = {
        "config": CONFIG,
        "input": "RGB scaled to [0, 1] (uint8 / 255); one logit per pixel, sigmoid > threshold = cell",
        "train": {**TRAIN, "samples": [s.name for s in train_set], "seconds": round(time.perf_counter() - t0, 1)},
        "held_out": held_out,
        "held_out_dice": round(held_dice, 4),
        "held_out_dice_per_sample": {k: round(v, 4) for k, v in scores.items()},
        "generator": "scripts/make_assets.py",
        "trained_on": str(device) if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
        "torch": torch.__version__,
    }
    (ASSETS / "unet_small.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {ASSETS / 'unet_small.safetensors'} and unet_small.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples-only", action="store_true", help="write the samples, skip training")
    parser.add_argument("--device", default=None, help="torch device for training (default: the lab's device)")
    parser.add_argument("--steps", type=int, default=TRAIN["steps"], help="optimizer steps")
    parser.add_argument("--out", default=None, help="folder to write instead of assets/")
    args = parser.parse_args()
    TRAIN["steps"] = args.steps
    if args.out:
        global ASSETS, SAMPLES
        ASSETS = Path(args.out)
        SAMPLES = ASSETS / "samples"
    names = write_samples()
    if not args.samples_only:
        from lab.device import pick_device

        train(names, torch.device(args.device) if args.device else pick_device())


if __name__ == "__main__":
    main()

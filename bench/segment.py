"""Segmenting a sample image (tutorial 5.2): the lab's `segment()` against the tutorial's plain fp32 code.

Both use the same weights in the same model: the default-size U-Net, `UNet(3, 2, bilinear=True)` (base 64,
depth 4, 17.3 M parameters), seeded random weights with BatchNorm statistics set from a few training-mode
passes over the samples (so activations have realistic scales), on the 256 x 256 sample images.

- tutorial: the tutorial's U-Net (`lab.unet.tutorial.UNet`: 5.2.4's assembly as printed, on 5.2.3's blocks),
  `model.eval()`, `torch.no_grad()`, fp32, contiguous NCHW; image -> tensor -> softmax(class 1) > 0.5 -> numpy
  mask.
- lab: `lab.segment.segment(model, image)`: inference_mode, Conv+BN folded, channels_last, bf16 autocast
  where `lab.device.supports_bf16` says so and the first image's mask agrees (that first call is the
  warm-up and is not timed).

Target (DESIGN.md): lab >= 1.5x faster, Dice between the two masks >= 0.995. Runs alternate, so a busy
machine slows both alike. Prints the command, the machine line, and per contender the median time with the
middle half of the runs (p25-p75).

    python bench/segment.py [--runs 15] [--device cpu|cuda] [--weights random|shipped|FILE.safetensors]
                            [--precision auto|fp32|bf16]
    python bench/segment.py --train 300 --save unet64.safetensors   # train the default U first (GPU: seconds)

Random weights segment nothing meaningful, so with `random` the output bias is centred to split the image
about half and half (many pixels near the threshold: the hardest case for bf16). Trained weights (`--train`,
or a file saved by it) give real cell masks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import ROOT, command, machine, once, spread  # noqa: E402
from lab import segment as seg  # noqa: E402
from lab.device import pick_device, supports_bf16  # noqa: E402
from lab.unet import UNet  # noqa: E402
from lab.unet import tutorial as tutorial_unet  # noqa: E402


def tutorial_segment(model: torch.nn.Module, image: np.ndarray, device: torch.device) -> np.ndarray:
    """What a reader of 5.2 would write: eval, no_grad, fp32, softmax, threshold."""
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255).unsqueeze(0).to(device)
    with torch.no_grad():
        logits = model(x)
        prob = torch.softmax(logits, dim=1)[0, 1]
    return (prob > 0.5).cpu().numpy()


def calibrate_bn(model: torch.nn.Module, images: list[np.ndarray], device: torch.device) -> None:
    """Running BN statistics from a few training-mode passes (no weight updates)."""
    model.train()
    batch = torch.stack([torch.from_numpy(np.array(i)).permute(2, 0, 1).float() / 255 for i in images]).to(device)
    with torch.no_grad():
        for _ in range(3):
            model(batch)
    model.eval()


def train_default_unet(steps: int, device: torch.device) -> torch.nn.Module:
    """The tutorial's UNet(3, 2, bilinear) trained on the samples with scripts/make_assets.py's recipe."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_assets import augment_batch

    torch.manual_seed(0)
    found = seg.samples()
    images = torch.stack([torch.from_numpy(np.array(s.image)).permute(2, 0, 1).float() / 255 for s in found]).to(device)
    masks = torch.stack([torch.from_numpy(np.array(s.mask))[None].float() for s in found]).to(device)
    model = tutorial_unet.UNet(3, 2, True).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        x, y = augment_batch(gen, images, masks, 8, 128)
        loss = torch.nn.functional.cross_entropy(model(x), y[:, 0].long())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    print(f"trained UNet(3, 2) for {steps} steps on {device}: last loss {loss.item():.4f}")
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--device", default=None)
    parser.add_argument("--weights", default="random", help="random, shipped, or a .safetensors state_dict file")
    parser.add_argument("--precision", choices=seg.PRECISIONS, default="auto", help="passed to segment()")
    parser.add_argument("--train", type=int, default=0, help="train the default U-Net this many steps first")
    parser.add_argument("--save", default=None, help="with --train: save its state_dict (safetensors) here")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else pick_device()
    torch.manual_seed(0)
    samples = seg.samples()
    image = samples[0].image  # 256 x 256 x 3

    if args.weights == "shipped":  # the small shipped U (base 16, depth 3): same comparison, its own size
        cfg = seg.pretrained_info()["config"]
        ours = seg.pretrained(device)
        reference = UNet(**cfg).to(device).eval()
        reference.load_state_dict(ours.state_dict())
        label = f"shipped UNet({cfg})"
    else:
        if args.train:
            theirs = train_default_unet(args.train, device)
            if args.save:
                from safetensors.torch import save_file

                save_file({k: v.detach().cpu().contiguous() for k, v in theirs.state_dict().items()}, args.save)
            label = f"tutorial UNet(3, 2, bilinear=True), trained {args.train} steps"
        elif args.weights == "random":
            theirs = tutorial_unet.UNet(3, 2, True).to(device)
            calibrate_bn(theirs, [s.image for s in samples[:4]], device)
            x = torch.from_numpy(np.array(image)).permute(2, 0, 1).float().div(255)[None].to(device)
            with torch.no_grad():  # centre the class-1 margin so the mask covers about half the image
                diff = theirs(x)[0, 1] - theirs(x)[0, 0]
                theirs.outc.conv.bias[1] -= diff.median()
            label = "tutorial UNet(3, 2, bilinear=True), seeded random weights, BN statistics from 4 samples, centred"
        else:
            from safetensors.torch import load_file

            theirs = tutorial_unet.UNet(3, 2, True)
            theirs.load_state_dict(load_file(args.weights))
            theirs = theirs.to(device).eval()
            label = f"tutorial UNet(3, 2, bilinear=True), weights from {Path(args.weights).name}"
        ours = UNet(3, 2, True).to(device).eval()
        ours.load_state_dict(theirs.state_dict())  # the same weights, loaded through the lab's class
        reference = theirs

    if args.weights == "shipped":
        def tut(img):
            x = torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div(255).unsqueeze(0).to(device)
            with torch.no_grad():
                return (torch.sigmoid(reference(x))[0, 0] > 0.5).cpu().numpy()
    else:
        def tut(img):
            return tutorial_segment(reference, img, device)

    # warm-up; under "auto" this first call checks bf16 against fp32
    first = seg.segment(ours, image, precision=args.precision)
    for _ in range(3):  # warm caches, allocators and kernel selection for both
        tut(image)
        precision = seg.segment(ours, image, precision=args.precision).precision
    lab_t, tut_t = [], []
    for _ in range(args.runs):  # both return numpy arrays: the device has finished when the clock stops
        lab_t.append(once(lambda: seg.segment(ours, image, precision=args.precision)))
        tut_t.append(once(lambda: tut(image)))
    agreements = [seg.dice(seg.segment(ours, s.image, precision=args.precision).mask, tut(s.image)) for s in samples]
    ratio = statistics.median(tut_t) / statistics.median(lab_t)

    cap = "" if device.type == "cuda" else f", CPU capability {torch.backends.cpu.get_cpu_capability()}"
    print(f"command: {command()}")
    print(f"machine: {machine(device)}{cap}, bf16 supported: {supports_bf16(device)}")
    print(f"model:   {label}; image {image.shape[1]}x{image.shape[0]} ({samples[0].name})")
    print(f"lab segment() [{precision}, first call {first.precision}]: {spread(lab_t, digits=2)}, n={len(lab_t)}")
    print(f"tutorial fp32 code:                 {spread(tut_t, digits=2)}, n={len(tut_t)}")
    print(f"speed ratio tutorial/lab: {ratio:.2f}x (target >= 1.5x)")
    print(f"foreground: {first.mask.mean() * 100:.1f}% of {samples[0].name}")
    print(f"Dice between masks: {agreements[0]:.4f} on {samples[0].name}; over all {len(samples)} samples "
          f"mean {np.mean(agreements):.4f}, min {np.min(agreements):.4f} (target >= 0.995)")


if __name__ == "__main__":
    main()

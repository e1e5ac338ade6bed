"""lab.train: the seeded training loop, its bounds, its scheduler stepping, and the code it exports."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from lab import schedules, train
from lab.errors import LabError
from lab.segment import segment
from lab.train import (
    HISTORY_COLUMNS,
    MAX_BATCH,
    MAX_STEPS,
    MAX_TIME_S,
    Training,
    eval_vs_train_mode,
    evaluate,
    history_figure,
    lr_preview,
    pairs_from_files,
    steps_per_epoch,
    to_code,
    train_unet,
)

TINY = {"base_channels": 4, "depth": 2, "crop_size": 32, "batch_size": 4}  # a few ms per step


def squares(n: int = 8, size: int = 48, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Bright squares on a noisy dark background: a task a tiny U-Net learns in a few dozen steps."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        mask = np.zeros((size, size), bool)
        for _ in range(2):
            y, x, r = rng.integers(4, size - 16), rng.integers(4, size - 16), rng.integers(5, 12)
            mask[y : y + r, x : x + r] = True
        img = 0.2 + 0.6 * mask + rng.normal(0, 0.05, mask.shape)
        images.append((np.clip(img, 0, 1)[..., None].repeat(3, 2) * 255).astype(np.uint8))
        masks.append(mask)
    return images, masks


@pytest.fixture(scope="module")
def data():
    return squares()


def test_same_seed_same_history(data):
    a = train_unet(*data, steps=6, seed=3, val_every=3, **TINY).history
    b = train_unet(*data, steps=6, seed=3, val_every=3, **TINY).history
    c = train_unet(*data, steps=6, seed=4, val_every=3, **TINY).history
    cols = ["step", "epoch", "loss", "lr", "val_dice"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert not np.allclose(a["loss"], c["loss"])


def test_history_columns_and_validation_rows(data):
    result = train_unet(*data, steps=7, val_every=3, **TINY)
    h = result.history
    assert tuple(h.columns) == HISTORY_COLUMNS
    assert h["step"].tolist() == list(range(1, 8))
    assert h["val_dice"].notna().tolist() == [False, False, True, False, False, True, True]  # every 3rd and the last
    assert h["val_dice"].dropna().between(0, 1).all()
    assert (h["elapsed_s"].diff().dropna() >= 0).all()
    assert result.stop_reason == "steps" and result.config["steps_done"] == 7
    assert len(result.val_index) == 2 and sorted(result.train_index + result.val_index) == list(range(8))


def test_loss_falls_and_model_segments(data):
    result = train_unet(*data, steps=40, lr=1e-2, val_every=20, **TINY)
    loss = result.history["loss"]
    assert loss.tail(5).mean() < 0.7 * loss.head(5).mean()
    assert result.history["val_dice"].iloc[-1] > 0.5
    image = data[0][result.val_index[0]]
    seg = segment(result.model, image)
    assert seg.mask.shape == image.shape[:2] and not result.model.training


def test_on_step_called_every_step(data):
    calls = []
    train_unet(*data, steps=5, on_step=lambda step, row: calls.append((step, row["step"], row["loss"])), **TINY)
    assert [c[0] for c in calls] == [1, 2, 3, 4, 5] and all(a == b for a, b, _ in calls)
    assert all(math.isfinite(c[2]) for c in calls)


def test_time_limit_holds(data):
    result = train_unet(*data, steps=MAX_STEPS, time_limit_s=0.5, **TINY)
    assert result.stop_reason == "time limit"
    assert 0 < len(result.history) < MAX_STEPS
    # the check runs before each step: at most one step and the final validation past the limit
    assert result.history["elapsed_s"].iloc[-1] < 0.5 + 5.0
    assert not math.isnan(result.history["val_dice"].iloc[-1])


def test_stopping_iteration_keeps_the_model_so_far(data):
    run = Training(*data, steps=50, **TINY)
    for row in run:
        if row["step"] == 3:
            break
    result = run.result()
    assert len(result.history) == 3 and result.model is run.model


def test_sizes_may_differ_between_pairs():
    a_img, a_mask = squares(3, 48)
    b_img, b_mask = squares(3, 40, seed=1)
    gray = [img[..., 0].astype(np.float32) / 255 for img in b_img]  # float HxW images are accepted too
    masks255 = [m.astype(np.uint8) * 255 for m in a_mask]  # 0/255 masks are binary too
    result = train_unet(a_img + gray, masks255 + b_mask, steps=3, **{**TINY, "crop_size": 64})
    assert result.config["crop_size"] == 40  # no larger than the smallest training image, a multiple of 2**depth


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": MAX_STEPS + 1}, "steps"),
        ({"steps": 0}, "steps"),
        ({"time_limit_s": MAX_TIME_S + 1}, "time_limit_s"),
        ({"time_limit_s": 0}, "time_limit_s"),
        ({"batch_size": MAX_BATCH + 1}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"optimizer": "adam"}, "optimizer"),
        ({"val_fraction": 0.0}, "val_fraction"),
        ({"loss": "hinge"}, "hinge"),
        ({"scheduler": ("WarpLR", {})}, "scheduler"),
    ],
)
def test_bad_settings_name_the_field(data, change, field):
    with pytest.raises(LabError, match=field):
        Training(*data, **{**TINY, **change})


def test_image_and_mask_of_different_sizes_refused(data):
    images, masks = data
    with pytest.raises(LabError, match="same size"):
        Training(images, [masks[0][:40]] + masks[1:], **TINY)


@pytest.mark.parametrize("bad", [np.full((48, 48), 0.5), np.arange(48 * 48).reshape(48, 48) % 3, np.zeros((48, 48, 3))])
def test_mask_not_binary_refused(data, bad):
    images, masks = data
    with pytest.raises(LabError, match="Mask 0"):
        Training(images, [bad] + masks[1:], **TINY)


def test_counts_must_match(data):
    with pytest.raises(LabError, match="one mask per image"):
        Training(data[0], data[1][:-1], **TINY)
    with pytest.raises(LabError, match="from 2"):
        Training(data[0][:1], data[1][:1], **TINY)


# Every scheduler of lab.schedules with its form defaults: the lr the loop used is exactly the previewed curve
# (ReduceLROnPlateau reacts to the run's own loss: checked separately).
PREVIEWABLE = [n for n in schedules.NAMES if n != "ReduceLROnPlateau"]


@pytest.mark.parametrize("name", PREVIEWABLE)
def test_scheduler_lr_matches_preview(data, name):
    params = schedules.default_params(name)
    steps = 10
    result = train_unet(*data, steps=steps, lr=1e-3, scheduler=(name, params), val_every=steps, **TINY)
    expected = lr_preview((name, params), steps=steps, lr=1e-3, n_images=len(data[0]), batch_size=TINY["batch_size"])
    np.testing.assert_allclose(result.history["lr"], expected["lr"], rtol=1e-12)


def test_per_epoch_scheduler_steps_once_per_epoch(data):
    spe = steps_per_epoch(len(data[0]), TINY["batch_size"])  # 6 training images, batches of 4 -> 2
    assert spe == 2
    result = train_unet(*data, steps=6, lr=1.0e-2, scheduler=("StepLR", {"step_size": 1, "gamma": 0.5}), **TINY)
    assert result.history["lr"].tolist() == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3])
    assert result.history["epoch"].tolist() == [1, 1, 2, 2, 3, 3]


def test_plateau_scheduler_reads_the_loss(data):
    params = {"mode": "min", "factor": 0.5, "patience": 0, "threshold": 10.0}  # every epoch counts as no better
    result = train_unet(*data, steps=6, lr=1e-2, scheduler=("ReduceLROnPlateau", params), **TINY)
    assert result.history["lr"].tolist() == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3])


def test_sgd_and_builtin_loss(data):
    result = train_unet(*data, steps=3, optimizer="sgd", loss=("focal", {"gamma": 1.0}), **TINY)
    assert result.config["optimizer"]["name"] == "sgd"
    assert result.config["loss"] == {"name": "focal", "params": {"gamma": 1.0}}


@pytest.mark.parametrize("scheduler", [("StepLR", {"step_size": 1, "gamma": 0.5}), ("OneCycleLR", {"max_lr": 0.01})])
def test_code_reproduces_history(scheduler):
    from lab.segment import samples
    from tests.conftest import run_code

    # the code panel trains on all the samples; train on the same ones here
    images, masks = [s.image for s in samples()], [s.mask for s in samples()]
    result = train_unet(images, masks, steps=3, val_every=3, base_channels=4, depth=2, crop_size=32, batch_size=2,
                        scheduler=scheduler)  # fmt: skip
    ns = run_code(to_code(result.config))
    history = pd.DataFrame(ns["history"], columns=["step", "loss", "lr", "val_dice"])
    np.testing.assert_allclose(history["loss"], result.history["loss"], rtol=1e-6)
    assert history["lr"].tolist() == result.history["lr"].tolist()
    np.testing.assert_allclose(history["val_dice"], result.history["val_dice"], rtol=1e-6)  # NaN where not scored


def test_pairs_from_files(tmp_path, data):
    images, masks = data
    for i in range(3):
        Image.fromarray(images[i]).save(tmp_path / f"img{i}.png")
        Image.fromarray(masks[i].astype(np.uint8) * 255).save(tmp_path / f"img{i}_mask.png")
    names, got_images, got_masks = pairs_from_files(sorted(str(p) for p in tmp_path.iterdir()))
    assert names == ["img0", "img1", "img2"]
    assert np.array_equal(got_images[1], images[1]) and np.array_equal(got_masks[2] > 0, masks[2])
    (tmp_path / "lonely.png").write_bytes((tmp_path / "img0.png").read_bytes())
    with pytest.raises(LabError, match="lonely"):
        pairs_from_files([str(p) for p in tmp_path.iterdir()])


def test_evaluate_figure_and_pitfall(data):
    result = train_unet(*data, steps=3, **TINY)
    idx = result.val_index
    table = evaluate(result.model, [data[0][i] for i in idx], [data[1][i] for i in idx], ["a", "b"])
    assert table.columns.tolist() == ["name", "dice", "iou", "true_pixels", "predicted_pixels"]
    assert len(table.attrs["masks"]) == 2 and table["dice"].between(0, 1).all()
    pit = eval_vs_train_mode(result.model, [data[0][i] for i in idx], [data[1][i] for i in idx], ["a", "b"])
    assert pit["name"].tolist() == ["a", "b", "mean"]
    fig = history_figure(result.history, steps=3, preview=lr_preview(None, steps=3, lr=1e-3, n_images=8, batch_size=4))
    assert [t.name for t in fig.data] == ["lr planned", "loss", "lr", "val Dice"]


def test_checkpoint_loads_back(tmp_path, data):
    from lab.checkpoints import load_with_config, save_with_config
    from lab.unet import UNet

    result = train_unet(*data, steps=2, **TINY)
    weights, config = save_with_config(result.model, tmp_path / "unet.safetensors", result.model.config())
    loaded, cfg = load_with_config(weights, UNet)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded.eval()(x), result.model.cpu()(x))
    assert cfg == result.model.config()


# ------------------------------------------------------------------------------------------- the time limit (issue 12)
# A fake clock that only moves when the model runs: `step_s` per training forward (one per step), `image_s` per
# validation image. Deterministic: no wall-time assertion anywhere.


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def timed(run: Training, step_s, image_s: float) -> FakeClock:
    """Make `run`'s forward passes advance a fake clock; `step_s` a number or a list, one per step."""
    clock = FakeClock()
    run.clock = clock
    costs = list(step_s) if isinstance(step_s, (list, tuple)) else None
    forward = run.forward

    def fake_forward(x):
        if run.model.training:
            clock.t += costs.pop(0) if costs is not None else step_s
        else:
            clock.t += image_s * x.shape[0]
        return forward(x)

    run.forward = fake_forward
    return clock


def test_no_step_starts_that_cannot_end_within_the_limit(data):
    run = Training(*data, steps=100, time_limit_s=10.0, **TINY)
    clock = timed(run, step_s=3.0, image_s=1.0)
    rows = list(run)
    # steps end at 3, 6, 9; a fourth would end at 12 > 10: not started
    assert [r["step"] for r in run.rows] == [1, 2, 3] and run.stop_reason == "time limit"
    # the final model is scored in the grace after the limit: 2 images of 1 s, from 9 to 11
    assert rows[-1]["step"] == 3 and rows[-1]["val_images"] == 2 and not math.isnan(rows[-1]["val_dice"])
    assert clock.t == 11.0 <= 10.0 + train.FINAL_GRACE_S


def test_a_step_slower_than_all_before_overshoots_by_at_most_itself(data):
    """The machine gets loaded at step 5: the step was expected to take 1 s, it takes 10. The run ends after it;
    the final validation would end past the grace, so it is skipped and the last score stands."""
    run = Training(*data, steps=100, time_limit_s=5.0, val_every=2, **TINY)
    clock = timed(run, step_s=[1, 1, 1, 1, 10] + [1] * 95, image_s=0.0)
    list(run)
    history = run.history()
    assert history["step"].tolist() == [1, 2, 3, 4, 5] and run.stop_reason == "time limit"
    assert clock.t - 5.0 <= 10.0 + train.FINAL_GRACE_S  # within one step (10 s) plus the grace
    assert run.rows[-1]["val_images"] == 0 and math.isnan(run.rows[-1]["val_dice"])
    assert not math.isnan(history["val_dice"].iloc[3])  # step 4's score is the last one
    assert clock.t == 14.0  # step 5 started at 4, expected to end at 5 (the limit); it ended at 14


def test_validation_scores_only_the_images_that_fit(data):
    """A large held-out set: each validation image takes 4 s. The validation at step 2 scores the images that end
    within the limit, says how many, and training stops when no further step fits."""
    run = Training(*data, steps=100, time_limit_s=20.0, val_every=2, val_fraction=0.5, **TINY)
    assert len(run.val_index) == 4
    clock = timed(run, step_s=1.0, image_s=4.0)
    list(run)
    # step 2 ends at 2; images end at 6, 10, 14, 18 (all 4 fit); steps 3 and 4 end at 20; nothing more fits
    assert run.rows[1]["val_images"] == 4
    assert [r["step"] for r in run.rows] == [1, 2, 3, 4]
    # step 4's validation starts at the limit: no image fits before it, nor within the grace (one takes 4 s,
    # the grace is 5 s: the first fits, the second would end at 28 > 25)
    assert run.rows[-1]["val_images"] == 1 and clock.t == 24.0


def test_the_first_validation_is_estimated_from_the_steps(data):
    """Before any image is measured, an image is expected to cost half a step per pixel (a forward pass): with
    1000 s steps on 32 x 32 crops of batch 4, a 48 x 48 image is expected to take 1000 / 2 / 4096 * 2304 s."""
    run = Training(*data, steps=1, time_limit_s=100.0, **TINY)
    timed(run, step_s=1000.0, image_s=0.0)
    list(run)
    assert run.val_pace.prior == pytest.approx(1000.0 / (2 * 4 * 32 * 32))
    # step 1 took 1000 s, past the limit (it started at 0, with nothing measured); then no image fit the grace
    assert run.rows[-1]["val_images"] == 0


def test_stop_gives_what_follows_the_grace_from_now(data):
    run = Training(*data, steps=100, time_limit_s=300.0, **TINY)
    clock = timed(run, step_s=1.0, image_s=1.0)
    for row in run:
        if row["step"] == 3:
            break
    run.stop()
    assert run.final_deadline == clock.t + train.FINAL_GRACE_S
    assert run.finish() and run.rows[-1]["val_images"] == 2 and run.stop_reason == "stopped"
    assert not run.finish()  # scored: nothing more to do


def test_evaluate_and_pitfall_respect_the_deadline(data):
    result = train_unet(*data, steps=2, **TINY)
    images, masks = data
    pace = train.Pace(prior=1.0, clock=FakeClock())  # 1 s per pixel: no 48 x 48 image fits in 100 s
    assert len(evaluate(result.model, images, masks, list("abcdefgh"), until=100.0, pace=pace)) == 0
    pace.prior = 0.0
    table = evaluate(result.model, images[:3], masks[:3], ["a", "b", "c"], until=100.0, pace=pace)
    assert len(table) == 3 and len(table.attrs["masks"]) == 3
    pit = eval_vs_train_mode(result.model, images[:2], masks[:2], ["a", "b"], until=0.0, pace=pace)
    assert pit["name"].tolist() == ["mean"]


def test_code_applies_the_same_time_limit(monkeypatch):
    """The exported loop checks the clock as the lab does: with the same fake clock (moved by the model's forward
    passes), the code and the lab stop at the same step and score the same images."""
    import time

    import lab.train
    import lab.unet
    from lab.segment import samples
    from tests.conftest import run_code

    clock = FakeClock()

    class TimedUNet(lab.unet.UNet):
        def forward(self, x):
            clock.t += 1.0 if self.training else 1.0 * x.shape[0]
            return super().forward(x)

    monkeypatch.setattr(time, "perf_counter", clock)
    monkeypatch.setattr(lab.unet, "UNet", TimedUNet)
    monkeypatch.setattr(lab.train, "UNet", TimedUNet)
    images, masks = [s.image for s in samples()], [s.mask for s in samples()]
    settings = {"base_channels": 4, "depth": 2, "crop_size": 32, "batch_size": 2}
    result = train_unet(images, masks, steps=50, val_every=3, time_limit_s=25.0, **settings)
    assert result.stop_reason == "time limit" and len(result.history) < 50
    clock.t = 0.0
    ns = run_code(to_code(result.config))
    history = pd.DataFrame(ns["history"], columns=["step", "loss", "lr", "val_dice"])
    assert history["step"].tolist() == result.history["step"].tolist()
    np.testing.assert_allclose(history["loss"], result.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(history["val_dice"], result.history["val_dice"], rtol=1e-6)  # NaN where not scored


def test_batch_of_one_on_the_smallest_crop_is_refused():
    """BatchNorm cannot train on one value per channel: batch 1 with crops of 2**depth px (a 1 x 1 bottom)."""
    masks = [np.pad(np.ones((4, 4), bool), 2)] * 4  # 8 x 8: the smallest images a depth-3 U takes
    images = [(m[..., None].repeat(3, 2) * 200).astype(np.uint8) for m in masks]
    with pytest.raises(LabError, match="batch_size 1 and 8 px crops"):
        Training(images, masks, base_channels=4, depth=3, batch_size=1, crop_size=8)
    Training(images, masks, base_channels=4, depth=3, batch_size=2, crop_size=8)  # two values per channel: fine


def test_pitfall_leaves_images_with_a_one_pixel_bottom_unscored(data):
    result = train_unet(*data, steps=1, **TINY)  # depth 2: a 6 x 6 image has a 1 x 1 bottom
    images = [data[0][0][:6, :6], data[0][1]]
    table = eval_vs_train_mode(result.model, images, [data[1][0][:6, :6], data[1][1]], ["small", "whole"])
    assert math.isnan(table["dice model.train()"].iloc[0]) and not math.isnan(table["dice model.train()"].iloc[1])

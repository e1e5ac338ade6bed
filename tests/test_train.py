"""lab.train: the seeded training loop, its bounds, its scheduler stepping, its time limit and its pitfall."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from lab import losses, schedules, train
from lab.errors import LabError
from lab.segment import segment
from lab.train import (
    HISTORY_COLUMNS,
    MAX_BATCH,
    MAX_STEPS,
    MAX_TIME_S,
    CurveWords,
    Training,
    eval_mode,
    evaluate,
    history_figure,
    lr_preview,
    pairs_from_files,
    read_pairs,
    steps_per_epoch,
    train_unet,
)

TINY = {"base_channels": 4, "depth": 2, "crop_size": 32, "batch_size": 4}  # a few ms per step
WORDS = CurveWords("training loss", "learning rate", "validation Dice", "step", "loss", "lr", "lr planned", "val Dice")


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
    assert 0.0 <= result.start_dice <= 1.0  # the untrained model, scored on the whole held-out set before step 1


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
        ({"steps": MAX_STEPS + 1}, "Steps is 5001; a whole number from 1 to 5,000"),
        ({"steps": 0}, "Steps is 0"),
        ({"time_limit_s": MAX_TIME_S + 1}, r"Time limit \(s\) is 301"),
        ({"time_limit_s": 0}, r"Time limit \(s\) is 0; a number above 0"),
        ({"batch_size": MAX_BATCH + 1}, "Batch size is 65"),
        ({"lr": -1.0}, "Learning rate is -1.0"),
        ({"optimizer": "adam"}, "Optimizer is 'adam'; one of 'adamw', 'sgd'"),
        ({"val_fraction": 0.0}, "Validation fraction is 0.0"),
        ({"loss": "hinge"}, "hinge"),
        ({"scheduler": ("WarpLR", {})}, "Scheduler is 'WarpLR'"),
        ({"loss": ("dice", [("smooth", 1.0)])}, "Loss parameters is .*; a JSON object of named parameters"),
        ({"channels_last": "yes"}, "channels_last is 'yes'"),
    ],
)
def test_bad_settings_name_the_field(data, change, field):
    with pytest.raises(LabError, match=field):
        Training(*data, **{**TINY, **change})


def test_a_refusal_is_worded_in_chinese(data):
    from lab.errors import render

    with pytest.raises(LabError) as info:
        Training(*data, **{**TINY, "steps": 0})
    assert "训练步数" in render(info.value, "zh")


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


# ------------------------------------------------------------------------------------------- the typed hand-offs


def test_loss_and_schedule_specs_from_their_tabs(data):
    """A LossSpec and a ScheduleSpec (what the Losses and LR tabs hand over) train exactly as their plain forms."""
    spec = losses.LossSpec.of("focal", gamma=1.0)
    sched = schedules.ScheduleSpec.of("StepLR", {"step_size": 2, "gamma": 0.5})
    a = train_unet(*data, steps=4, loss=spec, scheduler=sched, **TINY)
    b = train_unet(*data, steps=4, loss=("focal", {"gamma": 1.0}), scheduler=("StepLR", {"step_size": 2, "gamma": 0.5}),
                   **TINY)  # fmt: skip
    c = train_unet(*data, steps=4, loss="focal", loss_params={"gamma": 1.0},
                   scheduler={"name": "StepLR", "params": {"step_size": 2, "gamma": 0.5}}, **TINY)  # fmt: skip
    pd.testing.assert_frame_equal(a.history.drop(columns="elapsed_s"), b.history.drop(columns="elapsed_s"))
    pd.testing.assert_frame_equal(a.history.drop(columns="elapsed_s"), c.history.drop(columns="elapsed_s"))
    assert a.config["loss"] == {"name": "focal", "params": {"gamma": 1.0}}
    assert a.config["scheduler"]["name"] == "StepLR" and a.config["scheduler"]["params"]["step_size"] == 2


@pytest.mark.parametrize("scheduler", [None, "", "none", {"name": "", "params": {}}])
def test_no_schedule_means_a_constant_lr(data, scheduler):
    result = train_unet(*data, steps=3, lr=2e-3, scheduler=scheduler, **TINY)
    assert result.history["lr"].tolist() == [2e-3] * 3 and result.config["scheduler"] is None


def test_unknown_loss_parameters_are_refused_not_dropped(data):
    with pytest.raises(LabError, match="smoth"):
        Training(*data, loss=("dice", {"smoth": 1.0}), **TINY)


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
    assert result.config["per_batch"] is False


def test_plateau_scheduler_reads_the_loss(data):
    params = {"mode": "min", "factor": 0.5, "patience": 0, "threshold": 10.0}  # every epoch counts as no better
    result = train_unet(*data, steps=6, lr=1e-2, scheduler=("ReduceLROnPlateau", params), **TINY)
    assert result.history["lr"].tolist() == pytest.approx([1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3])


def test_sgd_and_builtin_loss(data):
    result = train_unet(*data, steps=3, optimizer="sgd", loss=("focal", {"gamma": 1.0}), **TINY)
    assert result.config["optimizer"]["name"] == "sgd"
    assert result.config["loss"] == {"name": "focal", "params": {"gamma": 1.0}}


# ------------------------------------------------------------------------------------------- data, results, figures


def test_pairs_from_files(tmp_path, data):
    images, masks = data
    for i in range(3):
        Image.fromarray(images[i]).save(tmp_path / f"img{i}.png")
        Image.fromarray(masks[i].astype(np.uint8) * 255).save(tmp_path / f"img{i}_mask.png")
    names, got_images, got_masks = pairs_from_files(sorted(str(p) for p in tmp_path.iterdir()))
    assert names == ["img0", "img1", "img2"]
    assert np.array_equal(got_images[1], images[1]) and np.array_equal(got_masks[2] > 0, masks[2])
    folder_names, folder_images, folder_masks = read_pairs(tmp_path)  # what the code panel reads: the same arrays
    assert folder_names == names and all(np.array_equal(a, b) for a, b in zip(folder_images, got_images, strict=True))
    assert all(np.array_equal(a, b > 0) for a, b in zip(folder_masks, got_masks, strict=True))
    (tmp_path / "lonely.png").write_bytes((tmp_path / "img0.png").read_bytes())
    with pytest.raises(LabError, match="lonely"):
        pairs_from_files([str(p) for p in tmp_path.iterdir()])


def test_the_sample_zip_holds_what_the_tab_trains_on(tmp_path):
    import zipfile

    from lab.segment import samples

    zipfile.ZipFile(train.samples_zip(tmp_path)).extractall(tmp_path)
    names, images, masks = read_pairs(tmp_path / train.SAMPLES_FOLDER)
    found = samples()
    assert names == [s.name for s in found]
    assert all(np.array_equal(a, s.image) and np.array_equal(b, s.mask) for a, b, s in zip(images, masks, found,
                                                                                            strict=True))


def test_evaluate_figure_and_pitfall(data):
    result = train_unet(*data, steps=3, **TINY)
    idx = result.val_index
    table = evaluate(result.model, [data[0][i] for i in idx], [data[1][i] for i in idx], ["a", "b"])
    assert table.columns.tolist() == ["name", "dice", "iou", "true_pixels", "predicted_pixels"]
    assert len(table.attrs["masks"]) == 2 and table["dice"].between(0, 1).all()
    preview = lr_preview(None, steps=3, lr=1e-3, n_images=8, batch_size=4)
    fig = history_figure(result.history, WORDS, steps=3, preview=preview, start_dice=result.start_dice)
    assert [t.meta for t in fig.data] == ["planned", "loss", "lr", "dice"]
    assert [t.name for t in fig.data] == ["lr planned", "loss", "lr", "val Dice"]
    assert fig.data[3].x[0] == 0  # the Dice curve starts at step 0, before training
    assert [a.text for a in fig.layout.annotations] == ["training loss", "learning rate", "validation Dice"]


def test_the_pitfall_runs_both_validations(data):
    result = train_unet(*data, steps=20, lr=1e-2, **TINY)
    idx = result.val_index
    before = {k: v.clone() for k, v in result.model.state_dict().items()}
    pit = eval_mode(result.model, [data[0][i] for i in idx], [data[1][i] for i in idx], ["a", "b"])
    assert pit.id == "train.eval_mode" and pit.wrong.ok and pit.right.ok
    assert pit.table["name"].tolist() == ["a", "b", "mean"]
    assert float(pit.right.value) == pytest.approx(pit.facts["eval"], abs=1e-4)
    assert "\n    model.eval()" in pit.right_code and "\n    model.eval()" not in pit.wrong_code
    # the careless validation ran on a copy: the model's BatchNorm statistics are untouched
    assert all(torch.equal(before[k], v) for k, v in result.model.state_dict().items())
    assert not result.model.training


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
# validation image. Deterministic: no wall-time assertion anywhere. Before step 1 the untrained model is validated on
# the whole held-out set (2 images here unless said), within the limit too.


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def timed(run: Training, step_s, image_s: float) -> FakeClock:
    """Make `run`'s model advance a fake clock; `step_s` a number or a list, one per step."""
    clock = FakeClock()
    run.clock = clock
    costs = list(step_s) if isinstance(step_s, (list, tuple)) else None
    forward = run.model.forward

    def fake_forward(x):
        if run.model.training:
            clock.t += costs.pop(0) if costs is not None else step_s
        else:
            clock.t += image_s * x.shape[0]
        return forward(x)

    run.model.forward = fake_forward
    return clock


def test_no_step_starts_that_cannot_end_within_the_limit(data):
    run = Training(*data, steps=100, time_limit_s=10.0, **TINY)
    clock = timed(run, step_s=3.0, image_s=1.0)
    rows = list(run)
    # the start's validation takes 0 -> 2; steps end at 5 and 8; a third would end at 11 > 10: not started
    assert run.start_dice == run.start_dice and [r["step"] for r in run.rows] == [1, 2]
    assert run.stop_reason == "time limit"
    # the final model is scored in the grace after the limit: 2 images of 1 s, from 8 to 10
    assert rows[-1]["step"] == 2 and rows[-1]["val_images"] == 2 and not math.isnan(rows[-1]["val_dice"])
    assert clock.t == 10.0 <= 10.0 + train.FINAL_GRACE_S


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
    """A large held-out set: each validation image takes 4 s. The start's validation scores all 4 (0 -> 16); the
    one at step 2 scores the images that end within the limit and says how many."""
    run = Training(*data, steps=100, time_limit_s=30.0, val_every=2, val_fraction=0.5, **TINY)
    assert len(run.val_index) == 4
    clock = timed(run, step_s=1.0, image_s=4.0)
    list(run)
    assert not math.isnan(run.start_dice)  # the whole held-out set, before step 1
    # steps end at 17 and 18; images then end at 22, 26, 30 (three fit); no step fits after 30
    assert [r["step"] for r in run.rows] == [1, 2] and run.rows[1]["val_images"] == 3
    assert clock.t == 30.0


def test_the_start_validation_measures_the_pace_of_a_validated_pixel(data):
    run = Training(*data, steps=1, time_limit_s=100.0, **TINY)
    timed(run, step_s=1.0, image_s=2.0)
    list(run)
    assert run.val_pace.recent[0] == pytest.approx(2.0 / (48 * 48))  # measured before step 1, used after it


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
    pit = eval_mode(result.model, images[:2], masks[:2], ["a", "b"], until=0.0, pace=pace)
    assert pit.table["name"].tolist() == ["mean"]


def test_batch_of_one_on_the_smallest_crop_is_refused():
    """BatchNorm cannot train on one value per channel: batch 1 with crops of 2**depth px (a 1 x 1 bottom)."""
    masks = [np.pad(np.ones((4, 4), bool), 2)] * 4  # 8 x 8: the smallest images a depth-3 U takes
    images = [(m[..., None].repeat(3, 2) * 200).astype(np.uint8) for m in masks]
    with pytest.raises(LabError, match="batch size 1 and 8 px crops"):
        Training(images, masks, base_channels=4, depth=3, batch_size=1, crop_size=8)
    Training(images, masks, base_channels=4, depth=3, batch_size=2, crop_size=8)  # two values per channel: fine


def test_pitfall_leaves_images_with_a_one_pixel_bottom_unscored(data):
    result = train_unet(*data, steps=1, **TINY)  # depth 2: a 6 x 6 image has a 1 x 1 bottom
    images = [data[0][0][:6, :6], data[0][1]]
    pit = eval_mode(result.model, images, [data[1][0][:6, :6], data[1][1]], ["small", "whole"])
    assert math.isnan(pit.table["train"].iloc[0]) and not math.isnan(pit.table["train"].iloc[1])

"""The Train tab (5.2 + 6.1 + 6.2): settings, the live run, its results, the code and torchrun script, its errors."""

TEXT = {
    # ---- the page
    "train.intro": (
        "### Train a U-Net (5.2 + 6.1 + 6.2)\n"
        "The U-Net of 5.2 trained on the sample images (or your own image/mask pairs) with the loss of the **Losses** "
        "tab and the schedule of the **LR schedules** tab: the optimizer steps after every batch, the scheduler after "
        "every batch (OneCycleLR, CyclicLR) or once per epoch (all others). Batches are random crops; a fifth of the "
        "images is held out and scored before training and every few steps. The defaults reach a validation Dice of "
        "0.9 on the samples in well under a minute on 2 CPU cores."
    ),
    "train.data": "Data",
    "train.data.samples": "Sample images",
    "train.data.upload": "Upload image/mask pairs",
    "train.files": "Image/mask pairs: <name>.png with <name>_mask.png (black background, white object), 2 to 2,000",
    "train.samples_zip": "Download the sample pairs (.zip)",
    "train.base_channels": "Base channels",
    "train.depth": "Depth",
    "train.loss": "Loss",
    "train.loss_params": "Loss parameters (JSON)",
    "train.optimizer": "Optimizer",
    "train.lr": "Learning rate",
    "train.scheduler": "Scheduler",
    "train.scheduler.none": "none (constant lr)",
    "train.scheduler_params": "Scheduler parameters (JSON)",
    "train.params.info": "Named parameters as a JSON object; empty: the defaults.",
    "train.steps": "Steps",
    "train.steps.info": "Optimizer steps, 1 to 5,000",
    "train.batch": "Batch size",
    "train.batch.info": "Crops per step, 1 to 64",
    "train.limit": "Time limit (s)",
    "train.limit.info": "Up to 300 s; checked before every step",
    "train.lr_preview": "The learning rate of each step (before training)",
    "train.start": "Start",
    "train.stop": "Stop",
    "train.ddp": "Multi-GPU script (torchrun)",
    "train.status.ready": "Press **Start** to train. Below: the code of this run; on the left: the lr of each step.",
    "train.curves": "Training curves",
    "train.gallery": "Validation images segmented by the trained model (Dice per image)",
    "train.table": "Per validation image",
    "train.checkpoint": "Checkpoint: weights (.safetensors) + config (.json)",
    "train.pitfall.accordion": "Pitfall: validating without model.eval()",
    "train.pitfall.note": (
        "Runs after every training on its model; before any, **Run again** uses the shipped small U-Net on the "
        "held-out samples."
    ),
    "train.code": "PyTorch code: this run as one standalone script (torch, numpy, PIL; the data folder below)",
    "train.code.title": "Training a U-Net: the loss of 6.1 and the schedule of 6.2 in one loop",
    "train.ddp.explain": (
        "**On many GPUs or machines.** *Multi-GPU script (torchrun)* downloads this run as `train_unet_ddp.py` for "
        "the distributed engine of PyTorch: `torchrun --standalone --nproc_per_node=N train_unet_ddp.py --data DIR "
        "--steps S --out OUT` starts one process per GPU; each trains on its own shard of the images and "
        "DistributedDataParallel (DDP) averages their gradients in `backward()`. NCCL carries the gradients "
        "between GPUs, gloo between CPUs; bf16 autocast where the GPU has it. Rank 0 writes `unet.safetensors` + "
        "`unet.json`, which the U-Net and Checkpoints tabs load. Its first lines say how to scale the batch size "
        "and the learning rate and how to run on several machines."
    ),
    # ---- what the server writes: the run
    "train.chosen.loss": "**Loss** {label}{params}",
    "train.chosen.schedule": "**Schedule** `{schedule}`, stepped {when}",
    "train.chosen.constant": "**Schedule** none: the lr stays {lr}",
    "train.when.batch": "after every batch",
    "train.when.epoch": "once per epoch ({spe} batches)",
    "train.status.start": "Training on {train} images, validating on {val}...",
    "train.status.step": (
        "**Step {step}/{total}** · loss {loss:.4f} · lr {lr:.2e}{dice} · {elapsed:.1f} s on {device}, {precision}"
    ),
    "train.status.dice": " · validation Dice {dice:.3f}",
    "train.status.dice_start": " · validation Dice before training {dice:.3f}",
    "train.status.dice_part": " · validation Dice {dice:.3f} ({scored} of {total} images: the time limit)",
    "train.status.done": "**Done ({why})** after {steps} steps in {elapsed:.1f} s · {dice}",
    "train.why.steps": "all steps done",
    "train.why.time": "time limit reached",
    "train.why.stopped": "stopped",
    "train.final.all": "validation Dice {dice:.3f} (mean of all {count} held-out images)",
    "train.final.part": "validation Dice {dice:.3f} (mean of the {count} of {total} images segmented within the time limit)",
    "train.final.last": "validation Dice {dice:.3f} (the last score during training; no time left to segment the images)",
    "train.final.none": "no validation score (the time limit left no time to validate)",
    "train.best.this": " · **The U-Net and Checkpoints tabs now use this model** (run {run}).",
    "train.best.kept": (
        " · The U-Net and Checkpoints tabs **keep run {best}** (validation Dice {best_dice:.3f}), better than this run "
        "{run}; its checkpoint is below all the same."
    ),
    "train.progress.step": "step {step}/{total}",
    "train.progress.segmenting": "segmenting the validation images",
    "train.stop.asked": "Stopping after the current step...",
    "train.stop.none": "No training is running.",
    "train.caption": "{name} · Dice {dice:.3f}",
    "train.col.name": "image",
    "train.col.dice": "Dice",
    "train.col.iou": "IoU",
    "train.col.true_pixels": "true pixels",
    "train.col.predicted_pixels": "predicted pixels",
    "train.col.mean": "mean",
    # the curves
    "train.fig.loss_title": "training loss",
    "train.fig.lr_title": "learning rate",
    "train.fig.dice_title": "validation Dice",
    "train.fig.step": "step",
    "train.fig.loss": "loss",
    "train.fig.lr": "lr",
    "train.fig.planned": "lr planned",
    "train.fig.dice": "val Dice",
    # ---- the pitfall
    "pitfall.train.eval_mode.title": "Validating without model.eval()",
    "pitfall.train.eval_mode.why": (
        "The same model scores the same {images} held-out images twice: with `model.eval()` (BatchNorm uses the "
        "running statistics it learned) mean Dice **{eval:.3f}**, left in `model.train()` mode **{train:.3f}**. In "
        "train mode BatchNorm normalises each image with its own statistics, so a score depends on what else is in "
        "the batch, and validating overwrites the running statistics. The tutorial's chapter 4 switches modes "
        "(`model.train()` before training, `model.eval()` before validating); the loops sketched in 6.2 call "
        "`train(...)` and `validate(...)` and leave the switch to them: put it in your `validate()`, and switch back "
        "with `model.train()` before the next step."
    ),
    # ---- field names in error sentences, and what is accepted
    "field.train.data": "Data",
    "field.train.steps": "Steps",
    "field.train.batch_size": "Batch size",
    "field.train.time_limit_s": "Time limit (s)",
    "field.train.lr": "Learning rate",
    "field.train.weight_decay": "Weight decay",
    "field.train.seed": "Seed",
    "field.train.val_fraction": "Validation fraction",
    "field.train.val_every": "Validate every",
    "field.train.base_channels": "Base channels",
    "field.train.depth": "Depth",
    "field.train.crop_size": "Crop size",
    "field.train.optimizer": "Optimizer",
    "field.train.precision": "Precision",
    "field.train.channels_last": "channels_last",
    "field.train.loss": "Loss",
    "field.train.loss_params": "Loss parameters",
    "field.train.scheduler": "Scheduler",
    "field.train.scheduler_params": "Scheduler parameters",
    "accept.train.named_params": "a JSON object of named parameters",
    # ---- errors that are not about one field's value
    "error.train.lr_plan": (
        "Scheduler {scheduler} would set the lr to {lr} at step {step}; the lr must stay from 0 to {cap} at every "
        "step (lower the schedule's factors or the lr)."
    ),
    "error.train.lr_step": "The lr at step {step} is {lr}; it must stay from 0 to {cap} (lower the schedule's factors or the lr).",
    "error.train.diverged": "Training diverged at step {step} (loss {loss}); lower the learning rate (now {lr}).",
    "error.train.classes": "The model has {classes} output classes; training here needs 1 (one foreground logit).",
    "error.train.too_small": "The smallest image is {smallest} pixels a side; this U-Net needs at least {unit}.",
    "error.train.batch_one": (
        "With batch size 1 and {crop} px crops the bottom of this U-Net is 1 x 1 pixel, and BatchNorm needs more than "
        "one value per channel to train; use batch size 2 or more, or crops (and training images) of at least "
        "{twice} px."
    ),
    "error.train.mask_shape": "Mask {index} has shape {shape}; use an HxW array of 0/1 (or 0/255, or booleans).",
    "error.train.mask_dtype": "Mask {index} has dtype {dtype}; use booleans or the numbers 0 and 1 (or 0 and 255).",
    "error.train.mask_values": "Mask {index} is not binary (values {values}); use 0 and 1, 0 and 255, or booleans.",
    "error.train.counts": "Got {images} images and {masks} masks; give one mask per image.",
    "error.train.name_counts": "Got {images} images, {masks} masks and {names} names; give one of each per image.",
    "error.train.pairs": "Got {count} image/mask pairs; training takes from 2 to {most} pairs.",
    "error.train.pair_size": (
        "Image {index} is {width} x {height} pixels but its mask is {mask_width} x {mask_height}; an image and its "
        "mask must have the same size."
    ),
    "error.train.pixels": "The images hold more than {most} pixels together; use fewer or smaller images.",
    "error.train.unpaired": "Files without a partner: {names}; upload each image as <name>.png with <name>_mask.png.",
    "error.train.mask_colour": "Mask {name} is a colour image; use a black-and-white (0/255) mask.",
    "error.train.no_files": "No files uploaded; upload image/mask pairs (<name>.png with <name>_mask.png).",
    "error.train.no_code": "A run with the loss {loss} (a module given in Python) has no standalone code.",
}

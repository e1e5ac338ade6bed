"""The Losses tab (tutorial 6.1): labels, explanations, figure words, pitfalls, and the topic's input errors."""

TEXT = {
    # ---- the tab
    "losses.intro": (
        "### Losses (tutorial 6.1)\n"
        "Every loss here takes **logits** (raw model outputs) and the true mask, as `nn.BCEWithLogitsLoss` does. "
        "The tutorial's classes apply `F.sigmoid` then `F.binary_cross_entropy` (saturates at large logits; CUDA "
        "autocast refuses it, CPU autocast runs it on rounded probabilities), put Focal's factor on the batch-mean "
        "BCE, and use `view(-1)` (fails on non-contiguous tensors); the lab's versions fix all three. Pick losses to "
        "compare, set their parameters, and look at them on a mask. The chosen loss goes to the code panel and, once "
        "you pick or edit it, to the Train tab."
    ),
    "losses.guide.title": "What each loss measures",
    "losses.guide": (
        "| loss | what it measures |\n|---|---|\n"
        "| `DiceLoss` | 1 − Dice: the overlap of prediction and mask, 2·\\|X∩Y\\| / (\\|X\\| + \\|Y\\|); "
        "the background's size does not matter, so small objects count |\n"
        "| `IoULoss` | 1 − IoU (Jaccard): intersection over union, \\|X∩Y\\| / \\|X∪Y\\|; stricter than Dice "
        "on the same prediction |\n"
        "| `DiceBCELoss` | BCE (every pixel right) + Dice (the overlap): smooth gradients early, overlap at the end |\n"
        "| `FocalLoss` | BCE with easy pixels turned down by (1 − p_t)^gamma, and alpha weighing foreground against "
        "background: for masks that are mostly background |\n"
        "| `BCEWithLogitsLoss` | binary cross-entropy per pixel, computed from the logits |\n"
        "| `MSELoss`, `L1Loss`, `SmoothL1Loss`, `HuberLoss` | the distance between the probability sigmoid(logit) "
        "and the 0/1 mask: regression losses, here for comparison |"
    ),
    "losses.compare": "Losses to compare",
    "losses.chosen": "Chosen loss (code panel and Train tab)",
    "losses.smooth": "smooth (Dice, IoU, Dice + BCE)",
    "losses.smooth.info": ">= 0",
    "losses.alpha": "alpha (Focal)",
    "losses.alpha.info": "0 to 1; empty: no class weighting",
    "losses.gamma": "gamma (Focal)",
    "losses.gamma.info": ">= 0; 0 gives alpha-weighted BCE (plain BCE with alpha empty)",
    "losses.sample": "Sample image",
    "losses.source": "Prediction",
    "losses.source.blur": "blur",
    "losses.source.shift": "shift",
    "losses.source.erode": "erode",
    "losses.source.dilate": "dilate",
    "losses.source.noise": "noise",
    "losses.source.unet": "U-Net prediction",
    "losses.amount": "Degradation amount",
    "losses.amount.info": "1 = 24 px for blur/shift/erode/dilate; noise: share of uniform noise",
    "losses.curves.label": "Loss and gradient on one pixel",
    "losses.mask.heading": "#### On a mask",
    "losses.mask.summary": (
        "Prediction thresholded at 0.5 against the true mask: Dice **{dice:.3f}**, IoU **{iou:.3f}** "
        "({width} x {height} px)."
    ),
    "losses.table.label": "Every loss on this prediction",
    "losses.table.loss": "loss",
    "losses.table.value": "value",
    "losses.table.tutorial": "tutorial's class",
    "losses.bars.label": "Loss values",
    "losses.maps.label": "Per-pixel loss",
    "losses.basics": "6.1.1 and 6.1.2: a loss is a function, and it must use torch operations",
    "losses.code.title": "The chosen loss on the sample's prediction",
    "losses.code.label": "PyTorch code: the chosen loss on this prediction (runs on its own)",
    "losses.code.files": "Files the code reads: save them next to it",
    # ---- loss names (they stay code; the regression losses compare sigmoid(logit) with the mask)
    "losses.name.dice": "Dice",
    "losses.name.iou": "IoU (Jaccard)",
    "losses.name.dice_bce": "Dice + BCE",
    "losses.name.focal": "Focal",
    "losses.name.bce": "BCEWithLogits",
    "losses.name.mse": "MSE (on sigmoid)",
    "losses.name.l1": "L1 (on sigmoid)",
    "losses.name.smooth_l1": "SmoothL1 (on sigmoid)",
    "losses.name.huber": "Huber (on sigmoid)",
    # ---- figure words (lab.losses.figures.TEXT)
    "losses.curves.title": "Loss on one pixel and its gradient as the prediction sweeps 0 → 1",
    "losses.curves.target1": "target = 1: loss",
    "losses.curves.target0": "target = 0: loss",
    "losses.curves.grad": "d loss / d logit",
    "losses.curves.x": "predicted probability p = sigmoid(logit)",
    "losses.curves.y_loss": "loss",
    "losses.curves.y_grad": "gradient",
    "losses.values.title": "Every loss on this prediction",
    "losses.values.y": "loss value",
    "losses.values.lab": "lab (corrected)",
    "losses.values.tutorial": "tutorial's class",
    "losses.maps.title": "True mask, prediction and per-pixel loss",
    "losses.maps.pooled": "(mean of {k}x{k} px)",
    "losses.maps.image": "image + true mask",
    "losses.maps.prob": "prediction p",
    "losses.maps.bce": "BCE per pixel",
    "losses.maps.focal": "Focal per pixel",
    "losses.share.title": "Where the gradient comes from: pixels sorted from wrong to right",
    "losses.share.x": "p_t (probability given to the true class): pixels with p_t at most this",
    "losses.share.y": "share of total |gradient|",
    "losses.share.bce": "BCE (mean)",
    "losses.share.tutorial": "tutorial's FocalLoss",
    "losses.share.focal": "FocalLoss (per pixel)",
    # ---- pitfall tables: column headers and row names
    "losses.col.logit": "logit",
    "losses.col.target": "target",
    "losses.col.sigmoid_bce_loss": "sigmoid + BCE: loss",
    "losses.col.with_logits_loss": "with logits: loss",
    "losses.col.exact_loss": "exact loss",
    "losses.col.sigmoid_bce_grad": "sigmoid + BCE: grad",
    "losses.col.with_logits_grad": "with logits: grad",
    "losses.col.sigmoid_bce_cpu_autocast": "sigmoid + BCE, CPU autocast (bf16)",
    "losses.col.with_logits_cpu_autocast": "with logits, CPU autocast (bf16)",
    "losses.col.quantity": "quantity",
    "losses.col.value": "value",
    "losses.col.step": "SGD step",
    "losses.col.numpy_loss": "loss with a numpy step",
    "losses.col.torch_loss": "loss in torch (my_loss)",
    "losses.focal.q.bce": "BCE (mean)",
    "losses.focal.q.tutorial": "tutorial's FocalLoss",
    "losses.focal.q.ratio": "tutorial's / BCE",
    "losses.focal.q.focal": "FocalLoss (per pixel)",
    "losses.focal.q.gamma0": "FocalLoss, gamma 0 (alpha-weighted BCE)",
    "losses.focal.q.gamma0_none": "FocalLoss, gamma 0, alpha empty (= BCE)",
    "losses.autocast.cuda_ran": "On this machine's GPU, CUDA autocast refused it: `{error}`",
    "losses.autocast.no_cuda": (
        "This machine has no CUDA GPU, so that refusal cannot run here; on one the call raises `RuntimeError: "
        "torch.nn.functional.binary_cross_entropy and torch.nn.BCELoss are unsafe to autocast`."
    ),
    # ---- pitfalls
    "pitfall.losses.dice_indentation.title": "DiceLoss as printed does not compile: a tab among spaces",
    "pitfall.losses.dice_indentation.why": (
        "The tutorial prints `DiceLoss` with its `{text}` line (line {line}) indented with a tab, while every other "
        "line uses spaces. Python refuses the whole class before anything runs: `compile()` of the printed text "
        "raises **{error}** at line {line}. With the tab made spaces the class runs (right) and gives the lab's "
        "DiceLoss value here ({lab:.6f}): its formula is right, its other problems (`F.sigmoid`, `.view(-1)`, unused "
        "`weight`) are the pitfalls below. The FocalLoss the tutorial prints has no indentation error."
    ),
    "pitfall.losses.sigmoid_bce.title": "sigmoid, then binary_cross_entropy: no gradient where the model is most wrong",
    "pitfall.losses.sigmoid_bce.why": (
        "`F.sigmoid` then `F.binary_cross_entropy` takes the log of a probability that float32 has already rounded: "
        "`sigmoid(17)` is exactly {p:g} in float32, so for a background pixel (target 0) at logit 17 the loss is "
        "clamped at {wrong_loss:g} and its gradient is {wrong_grad:g}: the most confidently wrong pixels stop "
        "learning. `binary_cross_entropy_with_logits` computes the same loss from the logit in one step "
        "(log-sum-exp): {right_loss:g}, gradient {right_grad:g} (= sigmoid(z) − target). The table runs both at "
        "larger and smaller logits, for targets 1 and 0."
    ),
    "pitfall.losses.autocast.title": "sigmoid + binary_cross_entropy under autocast: CUDA refuses it, the CPU runs it",
    "pitfall.losses.autocast.why": (
        "Mixed precision (`torch.autocast`) runs a model in float16 or bfloat16 (bf16: 16 bits with float32's range "
        "and about 3 significant digits). Only **CUDA** autocast refuses `F.binary_cross_entropy`: it raises a "
        "RuntimeError that points to `binary_cross_entropy_with_logits`. **CPU** autocast runs it, in float32 but on "
        "the bf16 probabilities the sigmoid produced: at logit {logit:g} (target 0) the sigmoid rounds to 1.0 in "
        "bf16 and the loss becomes {cpu_loss:g} instead of {exact:.4f}. From logits the loss is right under both. "
        "The lab runs on **{device}** here: both sides ran there; the table is the CPU's. {cuda_note}"
    ),
    "pitfall.losses.focal.title": "The tutorial's FocalLoss is a rescaled BCE",
    "pitfall.losses.focal.why": (
        "The tutorial's FocalLoss first takes the **mean** BCE over the batch ({bce:.5f} on this prediction) and "
        "then applies `alpha * (1 - exp(-BCE))**gamma` to that one number: its result ({tutorial:.6f}) is BCE times "
        "{ratio:.5f}, the same factor for every pixel, so every pixel's gradient is BCE's rescaled and its dashed "
        "line lies exactly on BCE's. A focal loss puts the factor on each pixel (`reduction=\"none\"`) before the "
        "mean ({focal:.6f}), which moves the gradient from easy pixels (p_t near 1) to hard ones: its line rises "
        "earlier. And gamma 0 gives BCE only with alpha empty ({gamma0_none:.5f}); with alpha {alpha} it gives "
        "alpha-weighted BCE ({gamma0:.5f})."
    ),
    "pitfall.losses.view.title": "`.view(-1)` fails on a channels_last prediction",
    "pitfall.losses.view.why": (
        "`.view(-1)` only relabels memory, so it needs the elements stored in order. A model run in "
        "**channels_last** (NHWC: the channels of one pixel side by side in memory, which makes convolutions "
        "faster) returns logits with strides {stride} (`is_contiguous()` is {contiguous}); `F.sigmoid` keeps that "
        "layout, and the tutorial's `inputs.view(-1)` raises the RuntimeError on the left. `.reshape(-1)` copies "
        "when it must, and plain `.sum()`s need no flattening at all (the lab's classes). The formula is fine: on a "
        "contiguous copy the tutorial's class gives {copy:.6f}, the value on the right."
    ),
    "pitfall.losses.unused_args.title": "`weight` and `size_average` are taken and never used",
    "pitfall.losses.unused_args.why": (
        "The tutorial's classes take `{signature}` and never use `weight` or `size_average`: a weight that drops "
        "the second image changes nothing (left: the value without it, then with it). torch's own losses multiply "
        "each element's loss by `weight` (right: `BCEWithLogitsLoss` without it, then with it). `size_average` is "
        "torch's old, deprecated spelling of `reduction`. Take only the arguments your loss uses."
    ),
    "pitfall.losses.loss_base.title": "The base class is `_Loss`, not `_loss`",
    "pitfall.losses.loss_base.why": (
        "The tutorial says the built-in losses inherit from `_loss`; the class is `_Loss` (capital L) in "
        "`torch.nn.modules.loss`, and `_WeightedLoss` adds `weight` to it. Both are private helpers: a custom loss "
        "inherits from `nn.Module`, as the tutorial's classes do."
    ),
    "pitfall.losses.function.title": "A loss written as a function",
    "pitfall.losses.function.why": (
        "6.1.1: a loss is just a function of tensors. The tutorial's `my_loss` (mean squared error) on the predicted "
        "probabilities gives the value of `nn.MSELoss` and, since autograd follows every torch operation in it, the "
        "same gradient (largest difference {grad_diff:g}). A class (6.1.2) is the more common form because it can "
        "hold settings such as `smooth` or `alpha`."
    ),
    "pitfall.losses.numpy.title": "A numpy step inside the loss cuts the gradient",
    "pitfall.losses.numpy.why": (
        "6.1.2's note: use torch's tensor operations inside a loss. numpy has no autograd, so a numpy step needs "
        "`.detach()` and the graph ends there: the loss is a new tensor with no history. Made `requires_grad=True`, "
        "`backward()` even runs without an error, but no gradient reaches the model: `model.weight.grad` stays None "
        "and 8 SGD steps leave the loss at {wrong_last:.4f}. The same MSE in torch (`my_loss`) trains: "
        "{right_first:.4f} → {right_last:.4f}."
    ),
    # ---- input errors (lab.losses): field names, what is accepted, sentences
    "field.losses.loss": "Loss",
    "field.losses.compare": "Losses to compare",
    "field.losses.smooth": "smooth",
    "field.losses.alpha": "alpha",
    "field.losses.gamma": "gamma",
    "field.losses.beta": "beta",
    "field.losses.delta": "delta",
    "field.losses.mode": "mode",
    "field.losses.reduction": "reduction",
    "field.losses.points": "points",
    "field.losses.sample": "Sample image",
    "field.losses.source": "Prediction",
    "field.losses.amount": "Degradation amount",
    "losses.accept.at_least": "a number of at least {low}",
    "losses.accept.above": "a number above {low}",
    "losses.accept.or_none": "{accepted}, or empty (None: no weighting),",
    "losses.accept.loss": "one of {names} (any spelling such as DiceBCELoss or dice-bce)",
    "losses.accept.names": "a list of at most {count} loss names",
    "losses.accept.no_params": "no parameters",
    "error.losses.unknown_param": "Loss {loss} does not take {names}; it takes {takes}.",
    "error.losses.no_such_param": "No loss takes a parameter {name}.",
    "error.losses.none_chosen": "Losses to compare: none chosen; pick at least one loss.",
    "error.losses.binary_shape": (
        "Binary losses need logits and targets of one shape (or logits (N, 1, H, W) with targets (N, H, W)); got "
        "{logits} and {targets}."
    ),
    "error.losses.multiclass_shape": (
        "Multiclass losses need logits (N, C, H, W) with C >= 2 and integer targets (N, H, W); got {logits} and "
        "{targets}."
    ),
    "error.losses.multiclass_dtype": "Multiclass targets must be integer class indices; got dtype {dtype}.",
    "error.losses.multiclass_range": (
        "Multiclass targets must lie in [0, {high}]; got values from {low_seen} to {high_seen}."
    ),
    "error.losses.mask_shape": "The mask must have shape (N, 1, H, W); got {shape}.",
    "error.losses.no_unet": (
        "The shipped U-Net (assets/unet_small.safetensors) is missing; choose a degradation instead."
    ),
    "error.losses.code_binary": "The code panel writes binary losses only; use mode='binary'.",
}

"""The ResNet surgery tab (5.3): controls, before | after, the forward check, the code, the pitfalls, its errors."""

TEXT = {
    # -- the page
    "surgery.intro": (
        "### 5.3 · Change a ResNet: its head, an extra input, an extra output, what trains\n"
        "Pick a torchvision ResNet (random weights, or your own state_dict file; nothing is downloaded) and the "
        "operations, then **Apply**. Left: the network as torchvision builds it; right: after the surgery, changed "
        "rows marked; beside the controls: a forward pass on a dummy batch with every output's shape; below: the "
        "PyTorch code that does the same.\n"
        "The head returns **logits** (no Softmax: CrossEntropyLoss applies it), and an extra input joins the **true "
        "penultimate features** (512-d for resnet18/34, 2048-d otherwise), not the 1000 ImageNet logits. Bounds: "
        "classes 2 to 10,000; up to 4 hidden sizes of 1 to 4,096; extra input 1 to 1,024 values; batch 1 to 8; "
        "image 32 to 384 px."
    ),
    "surgery.arch": "Architecture",
    "surgery.weights": "Weights (optional state_dict: .pt .pth .pkl .safetensors)",
    "surgery.new_head": "New head: fc1 => relu1 => dropout1 ... => logits",
    "surgery.hidden": "Hidden sizes (e.g. 512, 128; empty: none)",
    "surgery.dropout": "Dropout",
    "surgery.classes": "Classes",
    "surgery.extra_input": "Extra input (joined to the features)",
    "surgery.extra_size": "Extra-input size",
    "surgery.extra_output": "Extra output: (logits, features)",
    "surgery.freeze": "Freeze the backbone (only the head trains)",
    "surgery.freeze.info": (
        "requires_grad=False outside fc. BatchNorm running statistics are buffers, not parameters: in train mode "
        "they still update. Call eval_frozen_batchnorm(model) after model.train() (see the pitfall below)."
    ),
    "surgery.batch": "Dummy batch N (1-8)",
    "surgery.size": "Image size (32-384)",
    "surgery.run": "Apply surgery",
    "surgery.forward": "Forward check (eval, inference mode): every input and output",
    "surgery.before.table": "Top-level children of the untouched model",
    "surgery.before.print": "print() of the parts the surgery replaces",
    "surgery.after.table": "Top-level children after (changed rows tinted)",
    "surgery.after.print": "print() of the new parts",
    "surgery.before.empty": "**Before**",
    "surgery.after.empty": "**After**",
    "surgery.code.title": "Modify a ResNet",
    # -- what the server writes into the view
    "surgery.before.totals": "**Before** · torchvision `{arch}` · {total:,} parameters · {trainable:,} trainable",
    "surgery.after.totals": (
        "**After** · `{model}` · {total:,} parameters · {trainable:,} trainable (parameters {d_total:+,}, "
        "trainable {d_trainable:+,})"
    ),
    "surgery.load.random": "Random weights (seed 0); nothing downloaded.",
    "surgery.load.loaded": "Loaded {count:,} tensors from `{name}` into {target}.",
    "surgery.load.fixes": "Loaded {count:,} tensors from `{name}` into {target} ({fixes}).",
    "surgery.load.target.resnet": "the resnet",
    "surgery.load.target.model": "the model after the surgery",
    "surgery.print.nothing": "# nothing changed",
    "surgery.print.retrained": "# requires_grad changed: {names}",
    "surgery.col.name": "name",
    "surgery.col.type": "type",
    "surgery.col.params": "params",
    "surgery.col.trainable": "trainable",
    "surgery.col.change": "change",
    "surgery.col.model": "model",
    "surgery.col.kind": "kind",
    "surgery.col.shape": "shape",
    "surgery.col.dtype": "dtype",
    "surgery.change.replaced": "replaced",
    "surgery.change.new": "new",
    "surgery.change.frozen": "frozen",
    "surgery.change.unfrozen": "unfrozen",
    "surgery.cell.before": "before",
    "surgery.cell.after": "after",
    "surgery.cell.input": "input",
    "surgery.cell.output": "output",
    # -- the pitfalls: accordion labels, figure words, table headers and cells
    "surgery.pitfall.softmax": "Pitfall: a Softmax head trained with CrossEntropyLoss (5.3.1)",
    "surgery.pitfall.extra_input": "Pitfall: the extra input joined to the ImageNet logits, not the features (5.3.2)",
    "surgery.pitfall.unused_input": "Pitfall: 5.3.3's forward takes an add_variable it never uses",
    "surgery.pitfall.device": "Pitfall: .cuda() instead of .to(device), and an extra input of another dtype (5.3.2)",
    "surgery.pitfall.pretrained": "Pitfall: pretrained=True (5.4.2) instead of weights=",
    "surgery.pitfall.frozen_bn": "Pitfall: a frozen backbone whose BatchNorm statistics still move",
    "surgery.fig.title": "CrossEntropyLoss: the logits head against the tutorial's Softmax head",
    "surgery.fig.step": "step",
    "surgery.fig.loss": "loss",
    "surgery.fig.grad": "gradient norm (log)",
    "surgery.fig.logits": "logits head (the lab)",
    "surgery.fig.softmax": "Softmax head (tutorial 5.3.1)",
    "surgery.fig.floor": "Softmax head's floor",
    "surgery.col.head": "head",
    "surgery.col.final_loss": "final loss",
    "surgery.col.floor": "loss floor",
    "surgery.col.accuracy": "train accuracy",
    "surgery.col.grad_first": "gradient norm, step 1",
    "surgery.col.grad_last": "gradient norm, last steps",
    "surgery.col.version": "version",
    "surgery.col.joined": "joined (N, width)",
    "surgery.col.zeroed": "joined values that are 0",
    "surgery.col.head_params": "params after the backbone",
    "surgery.col.output": "output",
    "surgery.col.sums_to_one": "rows sum to 1",
    "surgery.col.extra_matters": "extra input changes the output",
    "surgery.col.call": "call",
    "surgery.col.result": "result",
    "surgery.col.add_var": "add_var",
    "surgery.col.tutorial": "the tutorial's forward",
    "surgery.col.lab": "WithExtraInput's forward",
    "surgery.col.warnings": "warnings",
    "surgery.col.said": "what torchvision says",
    "surgery.col.download": "download it starts",
    "surgery.col.side": "code",
    "surgery.col.layers": "BatchNorm layers updated",
    "surgery.col.drift": "largest change of a running statistic",
    "surgery.col.params_changed": "parameters changed",
    "surgery.cell.softmax": "Softmax (tutorial 5.3.1)",
    "surgery.cell.logits": "logits (the lab)",
    "surgery.cell.tutorial": "tutorial 5.3.2: joined to the ImageNet logits",
    "surgery.cell.lab": "the lab: joined to the penultimate features",
    "surgery.cell.wrong": "freeze, then train()",
    "surgery.cell.right": "freeze, train(), eval_frozen_batchnorm()",
    "surgery.cell.yes": "yes",
    "surgery.cell.no": "no",
    # -- pitfall words (ui.widgets.pitfall_view): title and why, filled with the pitfall's facts
    "pitfall.surgery.softmax.title": "A Softmax head trained with CrossEntropyLoss",
    "pitfall.surgery.softmax.why": (
        "5.3.1 ends the new head in `nn.Softmax(dim=1)` and then trains with `nn.CrossEntropyLoss`, which applies "
        "log-softmax itself: the loss gets probabilities in [0, 1] as if they were logits. Here the same head (the "
        "same initial weights, the same dropout masks) is trained for {steps} Adam steps on {samples} synthetic "
        "{features}-d features of {classes} classes (non-negative, like resnet50's pooled features), once ending in "
        "Softmax, once returning logits. It does not stall: both reach train accuracy {softmax_accuracy:.0%} and "
        "{logits_accuracy:.0%}. What differs:\n\n"
        "- **The loss floor.** On probabilities p the loss is logsumexp(p) − p_y, smallest when p is exactly "
        "one-hot: log(e + C − 1) − 1 = log(1 + (C − 1)/e) = **{floor:.4f}** for C = {classes} (computed at one-hot "
        "p: {floor_check:.4f}). The Softmax head ends at {softmax_loss:.4f}, {softmax_above_floor:.1e} above it; the "
        "logits head at {logits_loss:.4f}. The loss can no longer tell a good model from a perfect one, and "
        "softmax(p) never gives the true class more than e/(e + C − 1) = {max_prob:.1%}.\n"
        "- **The gradient.** At step 1 the Softmax head's gradient norm is {softmax_grad0:.3f} against "
        "{logits_grad0:.3f}, {grad_ratio0:.1f}× smaller: the extra Softmax multiplies it by its Jacobian. Over the "
        "last {tail} steps it averages {softmax_grad_end:.2e} against {logits_grad_end:.2e}.\n\n"
        "Fix: return logits; apply `softmax` only to show probabilities (`model(x).softmax(dim=1)`)."
    ),
    "pitfall.surgery.extra_input.title": "The extra input joined to the ImageNet logits, not the features",
    "pitfall.surgery.extra_input.why": (
        "5.3.2 calls `self.net(x)` the penultimate layer, but with the ImageNet `fc` still in place it returns the "
        "1000 class scores. They pass a ReLU ({tutorial_zeroed:.0%} of the joined values are 0 here), the extra value "
        "is appended (width {tutorial_joined}), `fc_add` maps to 10 and a Softmax ends it again: the head after "
        "the backbone has {tutorial_head_params:,} parameters. The true penultimate features are what `fc` "
        "receives ({features}-d for {arch}); `net.fc = nn.Identity()` exposes them: joined width {lab_joined}, "
        "{lab_head_params:,} parameters, logits out. Measured on a ({batch}, 3, {size}, {size}) dummy batch in eval "
        "mode, the extra value once 0, once 10."
    ),
    "pitfall.surgery.unused_input.title": "5.3.3's forward takes an add_variable it never uses",
    "pitfall.surgery.unused_input.why": (
        "5.3.3's `forward(self, x, add_variable)` copies 5.3.2's signature but never uses `add_variable`: the model "
        "cannot be called with its one real input, and any value passed changes nothing (outputs identical for 0 "
        "and 1e6: {identical}). Its \"x1000\" output is again the {x1000} ImageNet logits, not the "
        "{features}-d features of {arch}. `WithExtraOutput.forward(x)` takes one input and returns "
        "`(logits, features)`."
    ),
    "pitfall.surgery.device.title": ".cuda() instead of .to(device); an extra input of another dtype or device",
    "pitfall.surgery.device.why": (
        "The tutorial moves its model with `.cuda()`, which fails on any machine without CUDA (this one runs on "
        "**{device}**). `.to(device)` with `device = torch.device(\"cuda\" if torch.cuda.is_available() else "
        "\"cpu\")` runs everywhere. The extra input must follow: the tutorial's `forward` joins `add_variable` as it "
        "comes, so a float64 array from numpy breaks the float32 `fc_add`, and on a GPU any tensor left on the CPU "
        "fails `torch.cat`. The table sends three kinds of `add_var` through the tutorial's forward (its model moved "
        "to {device} with `.to`) and through `WithExtraInput`, which makes the extra input float and moves it to "
        "the features' device: the tutorial's fails {failures} of 3 times here."
    ),
    "pitfall.surgery.pretrained.title": "pretrained=True: deprecated, and a download",
    "pitfall.surgery.pretrained.why": (
        "5.4.2 builds its model with `models.resnet152(pretrained=True)`. torchvision {torchvision} still accepts it "
        "but warns {warnings} times, word for word: *{warning_1}* and *{warning_2}* Then it downloads {url} "
        "({megabytes:.0f} MB). This lab runs offline, so the pitfall refuses that download where torchvision "
        "starts it (nothing reaches the network or the disk) and shows what it asked for. Today's form is "
        "`weights=`: `weights=None` for random weights (what this tab uses), `{v1}` for the weights `pretrained=True` "
        "meant (top-1 {v1_acc}% on ImageNet), `{default}` for the newest ({default_acc}%). The table tries each form "
        "(on the meta device: no memory, no initialisation); `pretrained=False` warns too."
    ),
    "pitfall.surgery.frozen_bn.title": "Freezing the backbone does not freeze BatchNorm",
    "pitfall.surgery.frozen_bn.why": (
        "`requires_grad=False` stops gradients, so the optimizer leaves the frozen weights alone, but a BatchNorm's "
        "running_mean and running_var are buffers updated by the forward pass itself in train mode. Here {arch} "
        "with the new head is frozen (trainable parameters: {wrong_trainable:,}), put in `train()` and given one "
        "batch of new data: {wrong_layers} of its {norms} BatchNorm layers changed their statistics (by up to "
        "{wrong_drift:.3g}) though no parameter changed ({wrong_params_changed}). After `model.train()`, "
        "`eval_frozen_batchnorm(model)` puts the frozen BatchNorm layers in eval mode: {right_layers} of {norms} "
        "changed. `model.eval()` stops it too, for the whole model."
    ),
    # -- the names of the fields in error sentences, and the errors that are not about one value
    "field.surgery.arch": "Architecture",
    "field.surgery.new_head": "New head",
    "field.surgery.hidden": "Hidden sizes",
    "field.surgery.dropout": "Dropout",
    "field.surgery.classes": "Classes",
    "field.surgery.extra_input": "Extra input",
    "field.surgery.extra_size": "Extra-input size",
    "field.surgery.extra_output": "Extra output",
    "field.surgery.freeze": "Freeze",
    "field.surgery.batch": "Batch size",
    "field.surgery.size": "Image size",
    "accept.surgery.hidden": (
        "up to {layers} whole numbers from 1 to {high}, like 128 or 512, 128 (an empty text for no hidden layer)"
    ),
    "error.surgery.not_resnet": "Expected a torchvision ResNet (with layer4 and fc); got {type}.",
    "error.surgery.extra_shape": "The extra input has shape {shape}; this model accepts {accepted}.",
    "error.surgery.keep_trainable": (
        "keep_trainable {value} names no parameter of this model; top-level names: {names}."
    ),
    "error.surgery.weights_misfit": "Weights file {name} does not fit {arch}: {problems}.",
    "error.surgery.forward_failed": "The forward check failed for input shapes {shapes}: {message}",
}

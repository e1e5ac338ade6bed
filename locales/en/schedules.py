"""The LR schedules tab (tutorial 6.2), its pitfalls and errors, and lab.safe_expr's errors (formulas, JSON fields)."""

_LAMBDA = "an expression in epoch (0, 1, 2, ...) giving the factor"

TEXT = {
    # ---------------------------------------------------------------------------------------------- the tab
    "schedules.intro": (
        "### Learning-rate schedules (tutorial 6.2)\n"
        "Pick a scheduler and set its parameters: the curve is **torch’s own** (the real scheduler on an SGD "
        "optimizer, momentum 0.9), one point per batch. With several batches per epoch, OneCycleLR and CyclicLR step "
        "after every batch and the others once per epoch, as a training loop must. Add curves to the comparison, try "
        "the presets, copy the exact values or the code."
    ),
    "schedules.params_help": (
        "Empty optional fields keep torch’s default. `lr_lambda` is a Python expression in `epoch` (numbers, "
        "`+ - * / // % **`, comparisons, `x if c else y`, `min max abs cos sin tan exp log sqrt floor ceil pi e`); "
        "it is parsed, never executed. Members of SequentialLR/ChainedScheduler are JSON: "
        '<code>[&#123;"name": "LinearLR", "params": &#123;"total_iters": 5&#125;&#125;, ...]</code>.'
    ),
    "schedules.preset": "Presets",
    "schedules.preset.info": "the tutorial’s examples and common recipes",
    "schedules.preset.tutorial_6_2_2": "Tutorial 6.2.2: adjust_learning_rate beside StepLR(30, 0.1) and LambdaLR",
    "schedules.preset.warmup_cosine": "Linear warm-up, then cosine (SequentialLR)",
    "schedules.preset.one_cycle": "OneCycleLR over 10 epochs of 100 batches, two phases and three",
    "schedules.preset.warm_restarts": "Cosine with warm restarts (T_0=10, T_mult=2)",
    "schedules.preset.plateau": "ReduceLROnPlateau on a noisy plateauing loss",
    "schedules.name": "Scheduler",
    "schedules.metrics": "metrics for ReduceLROnPlateau",
    "schedules.metrics.info": (
        "validation losses, one per epoch or per step; empty: a built-in noisy loss that plateaus (drawn on the "
        "right axis)"
    ),
    "schedules.steps": "steps (batches)",
    "schedules.steps.info": "1 to 100,000",
    "schedules.spe": "steps per epoch",
    "schedules.spe.info": "batches per epoch",
    "schedules.base_lr": "optimizer lr",
    "schedules.base_lr.info": "the lr the optimizer starts with (above 0, at most 10)",
    "schedules.log": "log-scale lr",
    "schedules.epochs": "x axis in epochs",
    "schedules.plot": "learning rate per step",
    "schedules.pick": "Comparison (kept for this session)",
    "schedules.add": "Add current",
    "schedules.remove": "Remove picked",
    "schedules.clear": "Clear all",
    "schedules.table": "Exact values of every curve (the CSV has every step)",
    "schedules.csv": "CSV (every curve, every step)",
    "schedules.code.title": "Dynamic learning rate: the schedule of the LR tab",
    "schedules.field.info": "{help} (torch default: {default})",
    "schedules.field.info_required": "required: {help}",
    "schedules.help": "**{name}** ({how}): {about}",
    "schedules.how.per_batch": "steps after every batch",
    "schedules.how.per_epoch": "steps once per epoch",
    "schedules.how.composite": "steps per batch if a member does, else per epoch",
    "schedules.stepped.per_batch": "per batch",
    "schedules.stepped.per_epoch": "once per epoch",
    "schedules.summary": (
        "`{label}` · stepped {how} · {steps} steps = {epochs} epochs of {spe} · lr starts at {first}, ends at "
        "{last}, min {low}, max {high}"
    ),
    "schedules.summary.same": "It is curve #{number} of the comparison too, drawn once.",
    "schedules.skipped.params": (
        "⚠️ The link's parameters for {name} were "
        "refused, so torch's defaults are shown: {reason}"
    ),
    "schedules.skipped.comparison": "⚠️ The link's comparison could not be read, so it was left out: {reason}",
    "schedules.skipped.overlay": (
        "⚠️ The link's comparison curve {number} could "
        "not be drawn, so it was left out: {reason}"
    ),
    # words of tables and figures
    "schedules.col.step": "step",
    "schedules.col.epoch": "epoch",
    "schedules.col.lr": "lr",
    "schedules.col.metric": "metric",
    "schedules.col.param_group": "param group",
    "schedules.col.initial_lr": "initial lr",
    "schedules.col.scheduler": "scheduler",
    "schedules.col.loop": "loop",
    "schedules.col.peak_lr": "highest lr",
    "schedules.col.final_lr": "last lr",
    "schedules.axis.step": "step (batch)",
    "schedules.axis.epoch": "epoch",
    "schedules.axis.lr": "learning rate",
    "schedules.axis.metric": "metric (right axis)",
    "schedules.axis.loss": "validation loss",
    "schedules.mark.decay": "decay",
    "schedules.mark.milestone": "milestone",
    "schedules.mark.restart": "restart",
    "schedules.mark.T_max": "T_max: eta_min reached",
    "schedules.mark.plateau": "plateau: lr reduced",
    # ---------------------------------------------------------------------------------------------- schedulers
    "schedules.about.LambdaLR": "lr = initial lr × lr_lambda(epoch): any formula in epoch.",
    "schedules.about.MultiplicativeLR": "lr = previous lr × lr_lambda(epoch), from epoch 1 on.",
    "schedules.about.StepLR": "multiplies the lr by gamma every step_size epochs.",
    "schedules.about.MultiStepLR": "multiplies the lr by gamma at each epoch listed in milestones.",
    "schedules.about.ConstantLR": "holds the lr at initial lr × factor until total_iters, then at the initial lr.",
    "schedules.about.LinearLR": "moves the factor linearly from start_factor to end_factor over total_iters epochs (a "
    "warm-up).",
    "schedules.about.ExponentialLR": "multiplies the lr by gamma every epoch.",
    "schedules.about.PolynomialLR": "takes the lr down to 0 over total_iters epochs along a polynomial of degree "
    "power.",
    "schedules.about.CosineAnnealingLR": "follows half a cosine from the initial lr down to eta_min over T_max epochs.",
    "schedules.about.ChainedScheduler": "steps several schedulers together: their factors multiply.",
    "schedules.about.SequentialLR": "hands over from one scheduler to the next at the milestones (a warm-up, then a "
    "decay).",
    "schedules.about.ReduceLROnPlateau": "multiplies the lr by factor when a metric (the validation loss) has not "
    "improved for patience epochs.",
    "schedules.about.CyclicLR": "cycles the lr between base_lr and max_lr, batch by batch.",
    "schedules.about.OneCycleLR": "one cycle over the whole run, batch by batch: up to max_lr, then far below the "
    "start.",
    "schedules.about.CosineAnnealingWarmRestarts": "cosine decays that restart at the initial lr, each period T_mult "
    "times longer.",
    "schedules.about.AdjustLearningRate": "the tutorial's adjust_learning_rate (6.2.2): the lr × factor every `every` "
    "epochs, like StepLR.",
    "schedules.about.unknown": "a scheduler of the installed torch; see its documentation.",
    # ---------------------------------------------------------------------------------------------- parameters
    "schedules.param.unknown": "see torch's documentation",
    "schedules.param.LambdaLR.lr_lambda": f"lr = initial lr × factor; {_LAMBDA}",
    "schedules.param.MultiplicativeLR.lr_lambda": f"lr = previous lr × factor, from epoch 1 on; {_LAMBDA}",
    "schedules.param.StepLR.step_size": "epochs between two decays",
    "schedules.param.StepLR.gamma": "factor applied to the lr at every decay",
    "schedules.param.MultiStepLR.milestones": "epochs at which the lr is multiplied by gamma",
    "schedules.param.MultiStepLR.gamma": "factor applied at each milestone",
    "schedules.param.ConstantLR.factor": "the lr is initial lr × factor until total_iters",
    "schedules.param.ConstantLR.total_iters": "epochs at the reduced lr",
    "schedules.param.LinearLR.start_factor": "factor at epoch 0",
    "schedules.param.LinearLR.end_factor": "factor reached at total_iters and kept",
    "schedules.param.LinearLR.total_iters": "epochs of the linear ramp",
    "schedules.param.ExponentialLR.gamma": "factor applied to the lr every epoch",
    "schedules.param.PolynomialLR.total_iters": "epochs until the lr reaches 0",
    "schedules.param.PolynomialLR.power": "exponent of the polynomial decay",
    "schedules.param.CosineAnnealingLR.T_max": "epochs of half a cosine period: the lr reaches eta_min at T_max",
    "schedules.param.CosineAnnealingLR.eta_min": "lowest lr",
    "schedules.param.ChainedScheduler.schedulers": "members stepped together every epoch; their factors multiply",
    "schedules.param.SequentialLR.schedulers": "members that take over one after another at the milestones",
    "schedules.param.SequentialLR.milestones": "epochs at which the next member takes over (one fewer than members)",
    "schedules.param.ReduceLROnPlateau.mode": "min: the metric should fall (a loss); max: it should rise (an accuracy)",
    "schedules.param.ReduceLROnPlateau.factor": "factor applied to the lr on a plateau",
    "schedules.param.ReduceLROnPlateau.patience": "epochs without improvement tolerated before reducing",
    "schedules.param.ReduceLROnPlateau.threshold": "smallest change that counts as an improvement",
    "schedules.param.ReduceLROnPlateau.threshold_mode": "rel: relative to the best value; abs: absolute",
    "schedules.param.ReduceLROnPlateau.cooldown": "epochs to wait after a reduction before counting again",
    "schedules.param.ReduceLROnPlateau.min_lr": "lower bound on the lr",
    "schedules.param.ReduceLROnPlateau.eps": "reductions smaller than this are skipped",
    "schedules.param.CyclicLR.base_lr": "lower bound of the cycle (replaces the optimizer's lr)",
    "schedules.param.CyclicLR.max_lr": "upper bound of the cycle",
    "schedules.param.CyclicLR.step_size_up": "batches from base_lr up to max_lr",
    "schedules.param.CyclicLR.step_size_down": "batches back down (empty: same as step_size_up)",
    "schedules.param.CyclicLR.mode": "triangular; triangular2 halves the height each cycle; exp_range decays by gamma",
    "schedules.param.CyclicLR.gamma": "exp_range: factor per batch",
    "schedules.param.CyclicLR.scale_mode": "scale per cycle or per iteration (mode sets it unless a scale_fn is given)",
    "schedules.param.CyclicLR.cycle_momentum": "also cycle the momentum, inversely to the lr",
    "schedules.param.CyclicLR.base_momentum": "momentum at the top of the cycle",
    "schedules.param.CyclicLR.max_momentum": "momentum at the bottom of the cycle",
    "schedules.param.OneCycleLR.max_lr": "peak lr",
    "schedules.param.OneCycleLR.total_steps": "batches in the cycle (empty: epochs × steps_per_epoch, else the curve)",
    "schedules.param.OneCycleLR.epochs": "with steps_per_epoch, an alternative to total_steps",
    "schedules.param.OneCycleLR.steps_per_epoch": "with epochs, an alternative to total_steps",
    "schedules.param.OneCycleLR.pct_start": "fraction of the cycle spent increasing the lr",
    "schedules.param.OneCycleLR.anneal_strategy": "shape of the ramps: cosine or linear",
    "schedules.param.OneCycleLR.cycle_momentum": "also cycle the momentum, inversely to the lr",
    "schedules.param.OneCycleLR.base_momentum": "momentum at the peak lr",
    "schedules.param.OneCycleLR.max_momentum": "momentum at the start and end",
    "schedules.param.OneCycleLR.div_factor": "initial lr = max_lr / div_factor",
    "schedules.param.OneCycleLR.final_div_factor": "final lr = initial lr / final_div_factor",
    "schedules.param.OneCycleLR.three_phase": (
        "a third phase takes the lr far below the start, as in Smith's original paper; the default two phases "
        "follow fastai"
    ),
    "schedules.param.CosineAnnealingWarmRestarts.T_0": "epochs until the first restart",
    "schedules.param.CosineAnnealingWarmRestarts.T_mult": "each period is T_mult times longer than the last",
    "schedules.param.CosineAnnealingWarmRestarts.eta_min": "lowest lr",
    "schedules.param.AdjustLearningRate.every": "epochs between two decays (the tutorial's 30)",
    "schedules.param.AdjustLearningRate.factor": "factor applied at every decay (the tutorial's 0.1)",
    # ---------------------------------------------------------------------------------------------- pitfalls
    "pitfall.schedules.usage_tab_error.title": "The usage example does not compile",
    "pitfall.schedules.usage_tab_error.why": (
        "Compiled as printed, Python stops first at line {placeholder_line}: `{placeholder}` is a placeholder for a "
        "scheduler of your choice. With every placeholder filled in (the lab writes `{filled}`), Python still "
        "refuses the block: line {line}, `scheduler1.step()`, is indented with a tab inside a loop indented with "
        "four spaces, so it raises `TabError: inconsistent use of tabs and spaces in indentation`. On a web page "
        "the tab may render so that the call seems to sit outside the loop; it is neither inside nor outside, it "
        "does not run at all. Indent with spaces only: on the right, the same loop with a real model, Adam and two "
        "schedulers stepped once per epoch, inside the loop."
    ),
    "pitfall.schedules.step_outside_loop.title": "scheduler.step() outside the epoch loop (a common mistake)",
    "pitfall.schedules.step_outside_loop.why": (
        "Not what the tutorial prints, but easy to do: `scheduler.step()` placed after the `for epoch` loop runs "
        "once, when training is over, so all {epochs} epochs train at the starting lr ({wrong} distinct value). "
        "Inside the loop, after the epoch's `optimizer.step()` calls, StepLR(step_size=20) takes the lr down twice "
        "({right} distinct values)."
    ),
    "pitfall.schedules.optimizer_per_epoch.title": "optimizer.step() once per epoch",
    "pitfall.schedules.optimizer_per_epoch.why": (
        "The tutorial's loop calls `optimizer.step()` once per epoch, after `train(...)`. The weights then move once "
        "per epoch, from the last batch's gradient only: {updates_wrong} updates in {epochs} epochs instead of "
        "{updates_right}. Stepped after every batch, the same model and data reach a validation loss of "
        "{loss_right}; once per epoch, {loss_wrong}. `optimizer.step()` belongs after each batch's "
        "`loss.backward()`; the scheduler steps once per epoch (per batch for OneCycleLR and CyclicLR)."
    ),
    "pitfall.schedules.per_batch.title": "OneCycleLR and CyclicLR step after every batch",
    "pitfall.schedules.per_batch.why": (
        "OneCycleLR and CyclicLR count batches: here total_steps = {epochs} epochs × {batches} batches. Stepped once "
        "per epoch, OneCycleLR walks only {epochs} of its steps: it climbs to {peak_wrong} instead of max_lr "
        "{max_lr} and never comes down; CyclicLR never finishes its first rise. Step them after every batch, right "
        "after `optimizer.step()`."
    ),
    "pitfall.schedules.plateau_metric.title": "ReduceLROnPlateau needs step(metric)",
    "pitfall.schedules.plateau_metric.why": (
        "ReduceLROnPlateau lowers the lr when a metric stops improving, so its `step` takes that metric, usually the "
        "epoch's validation loss: `scheduler.step()` without it raises the TypeError on the left. Given the loss "
        "each epoch (dotted, right axis), it cut the lr {drops} times, down to {final}."
    ),
    "pitfall.schedules.adjust_global_args.title": "adjust_learning_rate reads a global args",
    "pitfall.schedules.adjust_global_args.why": (
        "The tutorial's `adjust_learning_rate(optimizer, epoch)` reads `args.lr`, the argparse Namespace of its own "
        "script: anywhere else it raises `NameError`, and where it runs it depends on whatever `args` holds. Pass "
        "the starting lr in (on the right, {base_lr}), or let a scheduler remember it: `StepLR(optimizer, 30, 0.1)` "
        "keeps each param group's initial lr itself."
    ),
    "pitfall.schedules.adjust_all_groups.title": "adjust_learning_rate overwrites every param group",
    "pitfall.schedules.adjust_all_groups.why": (
        "Fine-tuning often gives the backbone a smaller lr ({backbone}) than the new head ({head}). The tutorial's "
        "function sets every param group to the same `args.lr * 0.1 ** (epoch // 30)`: called at epoch 0 it raises "
        "the backbone to {raised}. StepLR scales each group from its own initial lr, so the ratio between them stays "
        "(table)."
    ),
    "pitfall.schedules.adjust_late.title": (
        "adjust_learning_rate is called one epoch late; StepLR and LambdaLR do the same job"
    ),
    "pitfall.schedules.adjust_late.why": (
        "The tutorial calls `adjust_learning_rate(optimizer, epoch)` after training epoch `epoch`, so each new lr "
        "arrives one epoch late: epoch 30 still trains at {wrong_30} instead of {right_30}. "
        "`StepLR(optimizer, step_size=30, gamma=0.1)` and `LambdaLR(optimizer, lambda epoch: 0.1 ** (epoch // 30))`, "
        "stepped at the end of each epoch, give the intended schedule and the same numbers (largest difference "
        "{difference}). Call the function at the start of each epoch, or use one of them."
    ),
    # ---------------------------------------------------------------------------------------------- errors
    "field.schedules.name": "Scheduler",
    "field.schedules.steps": "steps",
    "field.schedules.steps_per_epoch": "steps_per_epoch",
    "field.schedules.base_lr": "base_lr",
    "field.schedules.metrics": "metrics",
    "field.schedules.overlays": "The comparison",
    "field.schedules.preset": "Preset",
    "field.schedules.params_json": "params_json",
    "field.schedules.param": "{scheduler} {param}",
    "field.schedules.params": "{scheduler} params",
    "schedules.accept.optional_int": "a whole number from {low} to {high}, or empty",
    "schedules.accept.int_list": "a list of up to {count} whole numbers from {low} to {high}",
    "schedules.accept.expr": "an expression in epoch such as '0.95 ** epoch'",
    "schedules.accept.schedulers": 'a list of 1 to {members} {{"name": ..., "params": {{...}}}} entries',
    "schedules.accept.number_below": "a number from {low} up to, but not including, {high}",
    "schedules.accept.overlay": "[name, params, steps, steps_per_epoch, base_lr] with steps from 1 to {steps}",
    "schedules.accept.overlays": "a JSON list of at most {count} curves",
    "schedules.such_as": " such as {example}",
    "schedules.none": "none",
    "error.schedules.params_dict": (
        '{scheduler} params={value} is not accepted; use a dict of keyword arguments such as {{"step_size": 30}} '
        "(empty for torch's defaults)."
    ),
    "error.schedules.unknown_param": "{scheduler} has no parameter {param}; it takes {known}.",
    "error.schedules.required": "{scheduler} needs {param} ({help}); give {accepted}{example}.",
    "error.schedules.milestones": (
        "SequentialLR milestones={value} is not accepted; give {count} increasing epochs, one fewer than its "
        "{members} schedulers."
    ),
    "error.schedules.whole_epochs": (
        "steps={steps} is not a whole number of epochs of steps_per_epoch={steps_per_epoch}; use a multiple such as "
        "{example}."
    ),
    "error.schedules.metrics_numbers": (
        "metrics must be numbers separated by commas or spaces, one per epoch or per step."
    ),
    "error.schedules.metrics_count": (
        "metrics has {count} values; give {steps} (one per step) or {epochs} (one per epoch) finite numbers."
    ),
    "error.schedules.needs_metric": "ReduceLROnPlateau needs a metric (e.g. the validation loss) at every step.",
    "error.schedules.zero_division": (
        "{call} divides by zero while computing the lr; choose values that keep the lr a finite number."
    ),
    "error.schedules.overflow": (
        "{call} overflows while computing the lr; "
        "choose values that keep the lr a finite number."
    ),
    "error.schedules.torch": "torch refuses {call}: {reason}.",
    "error.schedules.not_finite": "{call} makes the lr {value} at step {step}; choose values that keep it finite.",
    "error.schedules.overlays_full": "The comparison holds at most {count} curves; remove one or clear it first.",
    "error.schedules.overlays_empty": "The comparison is empty; add a curve first.",
    "error.schedules.overlay_missing": "Curve {value} is not in the comparison; pick one of the listed curves.",
    "error.schedules.no_curve": "There is no curve to add yet; pick a scheduler first.",
    # lab.safe_expr: lr_lambda formulas
    "error.expr.not_allowed": "lr_lambda {text} uses {what}, which is not allowed; use only {allowed}.",
    "expr.allowed": "numbers, epoch, + - * / // % **, comparisons, x if c else y, min, max, abs, {functions}, pi, e",
    "expr.what.constant": "the constant {value}",
    "expr.what.name": "the name {name}",
    "expr.what.call": "a call to {name}",
    "expr.what.a_call": "a call",
    "expr.what.starred": "keyword or starred arguments",
    "expr.what.attribute": "an attribute",
    "expr.what.indexing": "indexing",
    "expr.what.lambda": "a lambda",
    "expr.what.comprehension": "a comprehension",
    "expr.what.assignment": "an assignment",
    "expr.what.string": "a string",
    "expr.what.syntax": "{kind} syntax",
    "error.expr.type": "lr_lambda must be an expression string in epoch such as '0.95 ** epoch', not {text}.",
    "error.expr.too_long": "lr_lambda is {length} characters long; at most {max} are accepted.",
    "error.expr.empty": "lr_lambda is empty; type an expression in epoch such as '0.95 ** epoch'.",
    "error.expr.invalid": "lr_lambda {text} is not a valid expression ({reason}).",
    "error.expr.nodes": "lr_lambda {text} has {count} syntax nodes; at most {max} are accepted.",
    "error.expr.too_large": "lr_lambda {text} has a number too large for a float.",
    "error.expr.arity": "lr_lambda {text} calls {name}() with {count} arguments; it takes {takes}.",
    "expr.takes_range": "{low} to {high}",
    "error.expr.eval": "lr_lambda {text} {what} at epoch {epoch}.",
    "expr.eval.zero_division": "divides by zero in '{symbol}'",
    "expr.eval.overflow": "overflows in '{symbol}'",
    "expr.eval.complex": "gives a complex number in '{symbol}'",
    "expr.eval.domain": "gets a value outside the domain of {name}() ({reason})",
    "error.expr.not_finite": "lr_lambda {text} gives {value} at epoch {epoch}; it must be a finite number.",
    # lab.safe_expr: JSON fields (every tab's)
    "error.json.type": "Field '{field}' got {kind}; write JSON text like {example}.",
    "error.json.too_long": "Field '{field}' is {length} characters long; at most {max} are accepted.",
    "error.json.depth": "Field '{field}' nests brackets {depth} deep; at most {max} levels are accepted.",
    "error.json.digits": (
        "Field '{field}' holds a number of {digits} digits; "
        "numbers of up to {max} digits are accepted."
    ),
    "error.json.invalid": (
        "Field '{field}' is not valid JSON ({reason}: "
        "character {position}); write it like {example}."
    ),
    "error.json.invalid_plain": "Field '{field}' is not valid JSON; write it like {example}.",
    "error.json.too_many": "Field '{field}' holds more than {max} values; at most {max} are accepted.",
    "error.json.nested": (
        "Field '{field}' nests lists or objects more than "
        "{max} deep; at most {max} levels are accepted."
    ),
}

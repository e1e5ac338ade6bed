"""ResNet surgery (tutorial 5.3): replace the head, add an input, add an output, freeze the backbone.

Built on torchvision's ResNets with random weights (or a local state_dict file, loaded through `lab.checkpoints`);
nothing is ever downloaded. What the lab does differently from the tutorial's code, and why (docs/tutorial-notes.md,
5.3), each
shown live in `pitfalls`:

- The new head returns logits: the tutorial ends it in `nn.Softmax` and then trains with CrossEntropyLoss, which
  applies log-softmax again, so the loss cannot fall below log(1 + (C-1)/e) and its gradient shrinks.
- The extra input is joined to the true penultimate features (what `net.fc` receives: 512-d for resnet18/34,
  2048-d for resnet50/101/152, `net.fc = nn.Identity()`), not to the 1000 ImageNet logits.
- 5.3.3's `forward(x, add_variable)` never uses `add_variable`; `WithExtraOutput.forward(x)` takes one input.
- `.to(device)`, never `.cuda()`; the extra input is made float and moved to the features' device.
- `weights=None` (or a local file), never `pretrained=True` (deprecated, and a download).
- Freezing sets `requires_grad=False`; BatchNorm statistics still move in train mode (`eval_frozen_batchnorm`).

Modules: `core` (the blocks: resnet, make_head, replace_head, WithExtraInput, WithExtraOutput, freeze),
`build` (Surgery, build, forward_check and `view`, the tab's whole view from one call), `compare` (before | after),
`code` (the standalone code panel), `figures`, `pitfalls` (the tutorial's code, run live) and `offline` (torchvision
builders run with every download refused, for the `pretrained=True` pitfall).
"""

from lab.surgery.build import (
    Built,
    LoadNote,
    Surgery,
    SurgeryView,
    apply,
    build,
    check_batch,
    check_size,
    dummy_batch,
    forward_check,
    view,
)
from lab.surgery.code import printed, to_code
from lab.surgery.compare import Changes, changed_parts, children_table, mark_changes, output_names
from lab.surgery.core import (
    ARCHS,
    FEATURES,
    MAX_BATCH,
    MAX_CLASSES,
    MAX_DROPOUT,
    MAX_EXTRA,
    MAX_HIDDEN,
    MAX_HIDDEN_LAYERS,
    MAX_SIZE,
    MIN_SIZE,
    WithExtraInput,
    WithExtraOutput,
    check_arch,
    check_classes,
    check_dropout,
    check_extra_size,
    eval_frozen_batchnorm,
    feature_dim,
    freeze,
    make_head,
    parse_hidden,
    replace_head,
    resnet,
)
from lab.surgery.figures import CurveWords, softmax_figure
from lab.surgery.pitfalls import (
    PITFALLS,
    TutorialExtraInput,
    TutorialExtraOutput,
    softmax_loss_floor,
    tutorial_head,
)

__all__ = [
    "ARCHS", "FEATURES", "MAX_CLASSES", "MAX_HIDDEN", "MAX_HIDDEN_LAYERS", "MAX_EXTRA", "MAX_DROPOUT", "MAX_BATCH",
    "MIN_SIZE", "MAX_SIZE", "resnet", "feature_dim", "parse_hidden", "make_head", "replace_head", "WithExtraInput",
    "WithExtraOutput", "freeze", "eval_frozen_batchnorm", "check_arch", "check_classes", "check_dropout",
    "check_extra_size",
    "Surgery", "Built", "apply", "build", "dummy_batch", "forward_check", "check_batch", "check_size", "LoadNote",
    "SurgeryView", "view",
    "Changes", "children_table", "mark_changes", "changed_parts", "output_names",
    "printed", "to_code", "CurveWords", "softmax_figure",
    "tutorial_head", "TutorialExtraInput", "TutorialExtraOutput", "softmax_loss_floor", "PITFALLS",
]

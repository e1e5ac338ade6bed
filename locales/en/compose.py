"""The Compose tab (5.1): layers text, styles, the printed model and its table, the code, the pitfalls, 5.1.5's
residual stack, and the sentences of its errors."""

TEXT = {
    # -- the page
    "compose.intro": (
        "### 5.1 · One network, four ways to write it\n"
        "Type one layer per line (`fc1 = nn.Linear(784, 256)` or just `nn.ReLU()`), or paste the tutorial's listings "
        "as they are (`net = nn.Sequential(...)`, `collections.OrderedDict([...])`, a ModuleList with `.append`, a "
        "ModuleDict with `net['output'] = ...`; `import` and `print` lines are skipped), pick a style and run. The lab "
        "prints the model, traces one forward pass layer by layer, writes the PyTorch code, and proves that all four "
        "styles compute the same function once they hold the same weights. Names are keys in the "
        "OrderedDict/ModuleDict styles; an unnamed layer is named after its type there (`relu1`, `linear2`). The text "
        "is parsed, never run: only the layers below, only literal arguments (arithmetic like `16 * 5 * 5` is fine)."
    ),
    "compose.layers": "Layers, one per line (or the tutorial's listing)",
    "compose.style": "Style",
    "compose.shape": "Input shape, batch first (1x784, or 2, 3, 32, 32)",
    "compose.run": "Build and run",
    "compose.examples": "Examples (click, then Build and run)",
    "compose.allowed": (
        "Allowed layers (at most 64 layers and 50,000,000 parameters; `nn.`, `torch.nn.` or no prefix; whole numbers "
        "up to 2,147,483,647; `+ - * / // %` on numbers, no `**`):"
    ),
    "compose.printed": "print(model)",
    "compose.table": "Per layer, in forward order (lab.inspect.summary)",
    "compose.equivalence": (
        "Same function in all four styles: max |difference| to nn.Sequential's output, with each style's own random "
        "weights, then with nn.Sequential's weights copied in (lab.compose.copy_weights)"
    ),
    "compose.code.title": "Define a model: Sequential, ModuleList, ModuleDict",
    "compose.example.mlp": "Tutorial 5.1.2 MLP",
    "compose.example.cnn": "Small CNN",
    "compose.example.decoder": "Decoder (Unflatten, ConvTranspose2d)",
    "compose.example.embedding": "Embedding + LayerNorm",
    "compose.example.mismatch": "Shape mismatch (read the error)",
    "compose.example.sequential_listing": "5.1.2 nn.Sequential listing",
    "compose.example.ordereddict_listing": "5.1.2 OrderedDict listing",
    "compose.example.modulelist_listing": "5.1.3 ModuleList listing",
    "compose.example.moduledict_listing": "5.1.4 ModuleDict listing",
    "compose.example.lenet": "LeNet-style arithmetic (16 * 5 * 5)",
    # -- what the server writes into the view
    "compose.totals": "**{total}** parameters, **{trainable}** trainable · {flops} per forward · output **{shape}**",
    "compose.totals.values": ": `{values}`",
    "compose.totals.nonfinite": " · ⚠ {count} NaN/inf values in the output",
    "compose.flops": "**{value}** {unit}",
    "compose.col.name": "name",
    "compose.col.type": "type",
    "compose.col.depth": "depth",
    "compose.col.input_shape": "input_shape",
    "compose.col.output_shape": "output_shape",
    "compose.col.params": "params",
    "compose.col.trainable": "trainable",
    "compose.col.style": "style",
    "compose.col.class": "class",
    "compose.col.first_key": "first key",
    "compose.col.diff_own": "max |diff| own weights",
    "compose.col.diff_copied": "max |diff| copied weights",
    # -- the tutorial walk-throughs
    "compose.walks": "Tutorial walk-through: MySequential, indexing, append/extend, ModuleDict keys (5.1.2-5.1.4)",
    "compose.walk.sequential": "5.1.2 · MySequential (add_module, _modules) built and run; indexing net2[0], net2[-1]",
    "compose.walk.containers": (
        "5.1.3-5.1.4 · ModuleList append / extend / indexing; ModuleDict by key and by attribute, key assignment"
    ),
    "compose.walk.printed": "prints",
    # -- 5.1.5
    "compose.residual": "5.1.5 · Repeated blocks and a residual connection (what a chain cannot express)",
    "compose.residual.intro": (
        "5.1.5: ModuleList and ModuleDict make a block that repeats easy to write (one line builds them all), and a "
        "model that needs an earlier layer's result (ResNet's residual sum) needs its own `forward`. Here "
        "`ResidualMLP` keeps `depth` identical blocks in an `nn.ModuleList`; each block adds its input back "
        "(`x + fc2(act(fc1(norm(x))))`), which no Sequential chain can do. Width 1 to 512, depth 1 to 8, input "
        "features 1 to 4,096, classes 1 to 1,000; a batch of 2."
    ),
    "compose.residual.totals": "**{total}** parameters, **{trainable}** trainable · output **{shape}**",
    "compose.residual.in_features": "Input features",
    "compose.residual.width": "Width",
    "compose.residual.depth": "Blocks (depth)",
    "compose.residual.classes": "Classes",
    "compose.residual.run": "Build the residual stack",
    "compose.residual.code.title": "Repeated blocks in a ModuleList, with a residual connection",
    # -- pitfalls
    "compose.pitfall.mysequential": "Pitfall: MySequential's OrderedDict import sits inside the class (5.1.2)",
    "compose.pitfall.pseudo_code": "Pitfall: the ModuleList model class is pseudo-code (5.1.3)",
    "compose.pitfall.modulelist_forward": "Pitfall: a ModuleList is not a network (5.1.3)",
    "compose.pitfall.moduledict_order": "Pitfall: ModuleDict keeps insertion order (5.1.4)",
    "pitfall.compose.mysequential.title": "MySequential imports OrderedDict inside its class body",
    "pitfall.compose.mysequential.why": (
        "The tutorial writes `from collections import OrderedDict` inside `class MySequential`. That binds a class "
        "attribute, and a method cannot see class attributes by their bare name, so `isinstance(args[0], "
        "OrderedDict)` raises NameError the moment one argument is passed, which is exactly the OrderedDict case. "
        "Passing several layers hides the bug: `len(args) == 1` is False and the isinstance never runs (the layers "
        "get the keys {plain_keys}). Import OrderedDict at the top of the module and both forms work."
    ),
    "pitfall.compose.pseudo_code.title": "The ModuleList model class is pseudo-code",
    "pitfall.compose.pseudo_code.why": (
        "5.1.3's class (`def __init__(self, ...)`, `self.modulelist = ...`) is a sketch, and the tutorial's own "
        "output is the SyntaxError. Compiled here (never run), it fails the same way. Written out, it is "
        "`ListNet`: the list is built in `__init__`, and `forward` runs its layers with a for loop."
    ),
    "pitfall.compose.modulelist_forward.title": "A ModuleList stores layers; it is not a network",
    "pitfall.compose.modulelist_forward.why": (
        "\"nn.ModuleList does not define a network\" (5.1.3): calling the list itself fails, because `nn.ModuleList` "
        "has no `forward`. A module that owns the list and loops over it in `forward` is the working version (the "
        "lab's `ListNet`); the order of the loop, not the order in the list, defines the network."
    ),
    "pitfall.compose.moduledict_order.title": "ModuleDict keeps insertion order",
    "pitfall.compose.moduledict_order.why": (
        "Current PyTorch iterates and prints a ModuleDict in the order the layers were added: {inserted}. PyTorch "
        "1.6 and older sorted the keys of a plain dict (pytorch/pytorch#40905 removed that), which is the order "
        "some printouts of 5.1.4 show: {sorted}. A for loop over `.values()` runs the layers in the order you wrote "
        "them."
    ),
    # -- the names of the fields in error sentences, and the errors that are not about one value
    "field.compose.style": "Style",
    "field.compose.in_features": "Input features",
    "field.compose.width": "Width",
    "field.compose.depth": "Blocks (depth)",
    "field.compose.classes": "Classes",
    "error.compose.refused": "Line {line}: {code} was refused by PyTorch ({reason}).",
    "error.compose.digits": "a whole number of about {digits} digits",
    "error.compose.zero_division": "Line {line}: `{code}` in {where} divides by zero.",
    "error.compose.not_literal": (
        "Line {line}: argument `{code}` of {where} is not a literal; use numbers (and + - * / // % on them), "
        "strings, True/False/None or tuples of them."
    ),
    "error.compose.not_accepted": (
        "Line {line}: argument `{code}` of {where} is not accepted; use finite numbers, short strings, "
        "True/False/None or short tuples of them."
    ),
    "error.compose.out_of_range": (
        "Line {line}: an argument of {where}, {number}, is out of range; whole numbers from {low} to {high} are "
        "accepted."
    ),
    "error.compose.hint": "Line {line}: {name}={value} in nn.{cls} is not accepted; use {accepted}.",
    "error.compose.hint.or": "{first} or {rest}",
    "error.compose.hint.literal": "one of {options}",
    "error.compose.hint.tuple.one": "a tuple of {of}",
    "error.compose.hint.tuple.many": "tuples of {of}",
    "error.compose.hint.none.one": "None",
    "error.compose.hint.none.many": "None",
    "error.compose.hint.bool.one": "True/False",
    "error.compose.hint.bool.many": "True/False",
    "error.compose.hint.int.one": "a whole number",
    "error.compose.hint.int.many": "whole numbers",
    "error.compose.hint.float.one": "a number",
    "error.compose.hint.float.many": "numbers",
    "error.compose.hint.str.one": "a string",
    "error.compose.hint.str.many": "strings",
    "error.compose.hint.value.one": "{name}",
    "error.compose.hint.value.many": "values",
    "error.compose.not_layer": (
        "Line {line}: `{code}` is not a layer; write one layer per line like fc1 = nn.Linear(784, 256) or "
        "nn.ReLU(), or paste a listing of nn.Sequential, nn.ModuleList or nn.ModuleDict."
    ),
    "error.compose.not_call": (
        "Line {line}: `{code}` is not a layer call; write it like nn.ReLU() or fc1 = nn.Linear(784, 256)."
    ),
    "error.compose.not_allowed": (
        "Line {line}: `{code}` is not an allowed layer; use one of {some}, ... ({count} in all, see the list under "
        "the text box)."
    ),
    "error.compose.starred": "Line {line}: *args and **kwargs are not accepted in {where}; write the values out.",
    "error.compose.forbidden_kwarg": (
        "Line {line}: {name}= is not accepted in {where}; the lab places every layer itself."
    ),
    "error.compose.bad_name": (
        "Line {line}: the name {name} {why}; use a short identifier like fc1 or conv2 (letters, digits, _)."
    ),
    "error.compose.name.reserved": "is a method or attribute of nn.Module/ModuleDict",
    "error.compose.name.unusable": "is not a usable name",
    "error.compose.duplicate_name": (
        "Line {line}: the name {name} is already used on line {first}; each layer needs its own name."
    ),
    "error.compose.empty": "The layers text is empty; write one layer per line, e.g. fc1 = nn.Linear(784, 256).",
    "error.compose.no_layers": (
        "The layers text holds no layer, only import and print lines; write at least one, e.g. nn.ReLU()."
    ),
    "error.compose.too_long": "The layers text has {count} characters; at most {limit} are accepted.",
    "error.compose.bad_char": "Line {line} of the layers text, {text}, holds {what}; write the layers as plain text.",
    "error.compose.null_byte": "a null byte (\\x00)",
    "error.compose.surrogate": "a lone surrogate ({code})",
    "error.compose.where.line": "Line {line} of the layers text",
    "error.compose.where.text": "The layers text",
    "error.compose.big_digits": (
        "{where} has a whole number with more than 4,300 digits: `{bad}...`; whole numbers from {low} to {high} are "
        "accepted."
    ),
    "error.compose.syntax": "{where} is not valid Python ({reason}): `{bad}`.",
    "error.compose.nested": "The layers text is nested too deeply; write one layer per line.",
    "error.compose.too_many": "The layers text has {count} layers; at most {limit} are accepted.",
    "error.compose.shape.not_shape": "The input shape {value} is not a shape; write it like 1x784 or 1, 3, 32, 32.",
    "error.compose.shape.not_numbers": (
        "The input shape {value} is not a list of whole numbers; write it like 1x784 or 1, 3, 32, 32."
    ),
    "error.compose.shape.digits": (
        "The input shape {value} has a size with more than 12 digits; use sizes up to a few thousand."
    ),
    "error.compose.too_many_params": (
        "These layers hold {total} parameters (line {line}, {code}, alone {alone}); at most {limit} are accepted."
    ),
    "error.compose.no_pairs": "The layer list is empty; give at least one (name, module) pair.",
    "error.compose.too_many_pairs": "The layer list has {count} layers; at most {limit} are accepted.",
    "error.compose.not_module": "Layer {index} is a {type}, not an nn.Module; give (name, module) pairs.",
    "error.compose.names_repeat": "The layer names {names} repeat; each layer needs its own name.",
    "error.compose.copy_count": "The models hold {src} and {dst} tensors; copying needs the same layers.",
    "error.compose.copy_shape": (
        "Tensor {src} {src_shape} does not fit {dst} {dst_shape}; copying needs the same layers."
    ),
    "error.compose.not_parsed": "Comparing styles needs layers parsed by the lab (text or parse_layers output).",
    "error.compose.bilinear": (
        "Layer '{name}' (Bilinear, line {line}) needs two inputs, but a chain passes one tensor from layer to layer; "
        "nn.Bilinear belongs in a model with its own forward (5.1.5)."
    ),
    "error.compose.size": "{shape}, {numel} elements",
    "error.compose.size_huge": "{shape}, more than 10^15 elements",
    "error.compose.output_too_big": (
        "Layer '{name}' (line {line}) would output {size}; at most {limit} are accepted: use a smaller input shape "
        "or layer sizes."
    ),
    "error.compose.not_one_tensor": (
        "Layer '{name}' (line {line}) returns {out}, not one tensor; a chain passes one tensor from layer to layer "
        "(drop return_indices=True)."
    ),
    "error.compose.empty_output": (
        "Layer '{name}' (line {line}) outputs an empty tensor {out}; every layer must keep at least one element in "
        "each dimension."
    ),
    "error.compose.flops": (
        "These layers need {gflops} GFLOPs for one forward pass on input {shape}; at most {limit} are accepted: use "
        "a smaller input shape or narrower layers."
    ),
    "error.compose.count.trillion": "{n} trillion",
    "error.compose.count.billion": "{n} billion",
    "error.compose.count.million": "{n} million",
    "error.compose.count.plain": "{n}",
    "error.compose.cheaper.adaptive": "use a larger output_size or a smaller input shape",
    "error.compose.cheaper.pool": "use a smaller kernel_size, a larger stride or a smaller input shape",
    "error.compose.cheaper.upsample": "use a smaller scale_factor or size, mode='nearest' or a smaller input shape",
    "error.compose.cheaper.conv": (
        "use a smaller kernel_size, more channels per group, fewer outputs or a smaller input shape"
    ),
    "error.compose.cheaper.embedding": (
        "drop max_norm (it renormalises rows in place on every forward) or use a smaller input shape"
    ),
    "error.compose.cheaper.other": "use a smaller input shape or smaller layers",
    "error.compose.layer_work": (
        "Layer '{name}' ({kind}, line {line}) needs about {work} operations on input {shape} ({rule}); at most "
        "{limit} per forward pass are accepted: {advice}."
    ),
    "error.compose.total_work": (
        "These layers need about {work} operations for one forward pass on input {shape}, the most in layer "
        "'{name}' ({kind}, line {line}) ({worst} on input {worst_shape}), {overhead} to make the input and weights "
        "and compare the styles' outputs; at most {limit} are accepted: {advice}, or use fewer layers."
    ),
    "error.compose.layer_line": "Layer '{name}' ({kind}, line {line})",
    "error.inspect.layer": "Layer '{name}' ({kind})",
    "error.inspect.not_shapes": (
        "The input shape {value} is not a list of shapes; give one shape per input, e.g. [(1, 784)]."
    ),
    "error.inspect.not_shape": "The input shape {value} is not a shape; give sizes like (1, 784).",
    "error.inspect.dims": "The input shape {value} has {count} sizes; 1 to {limit} are accepted.",
    "error.inspect.not_positive": (
        "The input shape {value} has a size that is not a positive whole number; use sizes >= 1."
    ),
    "error.inspect.too_big": "The input shape {value} holds {count} elements; at most {limit} are accepted.",
    "error.inspect.more_than": "more than 10^{power}",
    "error.inspect.no_rows": "The first layer {layer} has no rows to look up; use num_embeddings >= 1.",
    "error.inspect.model_failed": "The model could not run on input {actual} ({reason}).",
    "error.inspect.oom": "{layer} ran out of memory on input {actual}; use a smaller input shape or fewer channels.",
    "error.inspect.expects": "{layer} expects input {desc} but got {actual}.",
    "error.inspect.expects_reason": "{layer} expects input {desc} but got {actual} ({reason}).",
    "error.inspect.could_not_run": "{layer} could not run on input {actual} ({reason}).",
    "error.inspect.desc.both": "{a} and {b}",
    "error.inspect.desc.either": "{a} or {b}",
    "error.inspect.desc.indices": "integer indices in [0, {n})",
    "error.inspect.desc.dimension": "dimension {dim} of size {size}",
}

"""Checkpoints tab (5.4): the page, what the server writes, the pitfalls, and every refusal of lab.checkpoints."""

TEXT = {
    # ------------------------------------------------------------------------------------------------ fields
    "field.checkpoints.what": "What to save",
    "field.checkpoints.format": "Format",
    "field.checkpoints.wrapper": "Multi-GPU wrapper",
    "field.checkpoints.save_wrapper": "Wrapper",
    "field.checkpoints.unwrap": "Save model.module",
    "field.checkpoints.saved": "Saved on",
    "field.checkpoints.loaded": "Loaded on",
    "field.checkpoints.case": "Case",
    "field.checkpoints.case_format": "Case file format",
    "field.checkpoints.model": "Model",
    # ------------------------------------------------------------------------------------------------ refusals
    "error.checkpoints.walk_visits": (
        "{what} holds more than {limit} entries to look through (an entry shared by several places counts once per "
        "place); files with at most {limit} are accepted."
    ),
    "error.checkpoints.walk_depth": (
        "{what} nests containers more than {limit} levels deep; files nested at most {limit} levels deep are accepted."
    ),
    "checkpoints.walk.checkpoint": "The checkpoint",
    "checkpoints.walk.versions": "The checkpoint's module versions",
    "checkpoints.walk.optimizer": "The optimizer state",
    "error.checkpoints.st_header_claim": (
        "File {name} has a safetensors header claiming {claim} bytes in a {size}-byte file; it is truncated or "
        "corrupt: upload an intact .safetensors file."
    ),
    "error.checkpoints.st_header_big": (
        "File {name} has a safetensors header of {mib} MiB; headers of at most {limit} MiB (about 150,000 tensors) "
        "are accepted."
    ),
    "error.checkpoints.not_checkpoint": (
        "File {name} is not a checkpoint ({described}); a torch.save file (.pt/.pth/.pkl) or a .safetensors file is "
        "accepted."
    ),
    "checkpoints.looks_like": "it looks like {kind}",
    "checkpoints.starts_with": "it starts with bytes {hex}",
    "checkpoints.kind.png": "a PNG image",
    "checkpoints.kind.jpeg": "a JPEG image",
    "checkpoints.kind.gif": "a GIF image",
    "checkpoints.kind.pdf": "a PDF document",
    "checkpoints.kind.gzip": "a gzip archive",
    "checkpoints.kind.bzip2": "a bzip2 archive",
    "checkpoints.kind.xz": "an xz archive",
    "checkpoints.kind.7z": "a 7-Zip archive",
    "checkpoints.kind.empty_zip": "an empty zip archive",
    "checkpoints.kind.text": "a text file",
    "error.checkpoints.corrupt": (
        "File {name} is truncated or corrupt: {reason}; upload an intact checkpoint (a torch.save .pt/.pth/.pkl file "
        "or a .safetensors file)."
    ),
    "checkpoints.corrupt.objects_unreadable": "its list of objects cannot be read",
    "checkpoints.corrupt.no_directory": "its zip directory is missing",
    "checkpoints.corrupt.zip_unreadable": "its zip entries cannot be read",
    "checkpoints.corrupt.missing_record": "it refers to a tensor record that is not in the file",
    "checkpoints.corrupt.more_data": "a tensor claims more data than its record in the file holds",
    "checkpoints.corrupt.byte_size": "a tensor's data is not the size its header declares",
    "checkpoints.corrupt.memory": "a tensor claims more memory than this server has",
    "checkpoints.corrupt.ends_early": "it ends before its last tensor",
    "checkpoints.corrupt.impossible_size": "a tensor claims an impossible size",
    "checkpoints.corrupt.negative_size": "a tensor claims a negative size",
    "checkpoints.corrupt.ends_before_object": "it ends before its last object",
    "checkpoints.corrupt.not_plain": (
        "its objects are not the tensors, numbers, strings, lists and"
        " dicts a checkpoint holds"
    ),
    "checkpoints.corrupt.unreadable": "it cannot be read as a checkpoint",
    "error.checkpoints.blocked": (
        "File {name} was refused: it holds {what}, so only tensors, numbers, strings, lists and dicts are accepted; "
        "re-save it with torch.save(model.state_dict(), path)."
    ),
    "checkpoints.blocked.bytearray": "a bytearray, which may ask for any amount of memory",
    "error.checkpoints.unsafe": (
        "File {name} was refused: it holds {what}, and unpickling it would import and run code ({listed}) that could "
        "do anything on this machine, so only files of tensors are accepted; re-save it with "
        "torch.save(model.state_dict(), path) or as .safetensors."
    ),
    "checkpoints.unsafe.namespace": "an argparse Namespace (store args as a plain dict instead)",
    "checkpoints.unsafe.bound_method": "a bound method (`torch.save(model.state_dict, path)` without parentheses)",
    "checkpoints.unsafe.whole_model": "a pickled whole model (its class is code)",
    "checkpoints.unsafe.objects": "Python objects beyond tensors",
    "checkpoints.unsafe.unknown": "unknown globals",
    "error.checkpoints.pickle_ops": (
        "File {name} describes more than {limit} pickled objects; checkpoints of at most {limit} (about 13,000 tensors "
        "with their names) are accepted."
    ),
    "error.checkpoints.plain_pickle": (
        "File {name} is a plain Python pickle, not a torch.save checkpoint; save weights with "
        "torch.save(model.state_dict(), path) or as .safetensors."
    ),
    "error.checkpoints.legacy_big": (
        "File {name} is a legacy (pre-1.6, non-zip) torch file of {mib} MiB; those are read into memory, so up to "
        "{limit} MiB are accepted: re-save it with a current torch.save."
    ),
    "error.checkpoints.pickle_list_over": (
        "File {name} lists its objects in more than {limit} MiB of pickle; checkpoints whose list is at most {limit} "
        "MiB are accepted."
    ),
    "error.checkpoints.pickle_list_big": (
        "File {name} lists its objects in {mib} MiB of pickle; checkpoints whose list is at most {limit} MiB are "
        "accepted."
    ),
    "error.checkpoints.zip_entries": (
        "File {name} is a zip of {entries} entries in a {directory}-byte directory; checkpoints of at most {limit} "
        "entries (one per tensor) are accepted."
    ),
    "error.checkpoints.zip_compressed": (
        "File {name} has compressed entries ({entry}); torch.save writes them uncompressed, so it was repacked or is "
        "corrupt: upload the file torch.save wrote."
    ),
    "error.checkpoints.zip_not_torch": (
        "File {name} is a zip archive but not a torch.save checkpoint (it has no data.pkl); a torch.save file "
        "(.pt/.pth/.pkl) or a .safetensors file is accepted."
    ),
    "error.checkpoints.unwritable": (
        "File {name} cannot be written ({reason}); use a short name of letters, digits, '_' and '.' in a folder you "
        "can write to."
    ),
    "error.checkpoints.args_type": "Field 'args' is a {kind}; a dict (or an argparse Namespace) is accepted.",
    "error.checkpoints.args_data": (
        "Field 'args' holds a value that is not plain data ({reason}); use numbers, strings, lists."
    ),
    "error.checkpoints.too_big": (
        "Saving this {model} ({params} parameters) as {what} in {suffix} would write a {mib} MiB file; the lab loads "
        "files of at most {limit} MiB back, so it saves at most that much: use a smaller model."
    ),
    "error.checkpoints.suffix": "File name {name} has format {suffix}; use one of {formats}.",
    "error.checkpoints.safetensors_what": (
        "Format .safetensors cannot hold what={what}: it stores tensors only; save what='state_dict' there, or use "
        ".pt/.pth/.pkl for a whole model or training checkpoint."
    ),
    "error.checkpoints.safetensors_extra": (
        "Entry {key} is a {kind}; .safetensors stores tensors only, use .pt for extras."
    ),
    "error.checkpoints.epoch": "Field 'epoch' is {value}; a whole number >= 0 is accepted.",
    "error.checkpoints.unpicklable": (
        "The whole {model} cannot be pickled: {holds} is code or a live resource, not data; save what='state_dict' "
        "instead."
    ),
    "checkpoints.pickle.holds": "it holds {name}, which",
    "checkpoints.pickle.part": "part of it",
    "error.checkpoints.cuda_file": (
        "File {name} was saved on a CUDA GPU and this machine has none; load it with map_location='cpu' (then move "
        "the model with .to(device))."
    ),
    "error.checkpoints.st_tensors": "File {name} holds {count} tensors; files of at most {limit} tensors are accepted.",
    "error.checkpoints.st_invalid": (
        "File {name} is not a valid safetensors file: {reason}; upload an intact one (safetensors.torch.save_file "
        "writes them)."
    ),
    "checkpoints.st_invalid.dtype": "a tensor has a data type safetensors does not know",
    "checkpoints.st_invalid.layout": "a tensor's shape, data type or offsets do not fit its data",
    "checkpoints.st_invalid.offsets": "a tensor's offsets do not fit the file",
    "checkpoints.st_invalid.numbers": "a tensor's shape or offsets are not whole numbers",
    "checkpoints.st_invalid.json": "its header is not the JSON safetensors writes",
    "checkpoints.st_invalid.header": "its header does not fit its data",
    "error.checkpoints.no_file": "File {name} does not exist; upload or choose a checkpoint file.",
    "error.checkpoints.empty_file": "File {name} is empty (0 bytes); a checkpoint file is accepted.",
    "error.checkpoints.file_big": "File {name} is {mib} MiB; files up to {limit} MiB are accepted.",
    "error.checkpoints.text_string": (
        "File {name} holds a text string, not a checkpoint; a state_dict (a dict of tensors) or a training "
        "checkpoint dict is accepted."
    ),
    "error.checkpoints.state_dict_type": "Field 'state_dict' is a {kind}; a mapping of key -> tensor is accepted.",
    "error.checkpoints.prefix": "Field 'prefix' is {value}; a string such as 'module.' is accepted.",
    "error.checkpoints.not_weights": (
        "The checkpoint holds a {kind}, not weights; a state_dict (a dict of tensors) or a training checkpoint dict "
        "is accepted."
    ),
    "error.checkpoints.no_weights": (
        "No weights found in the checkpoint (top-level keys: {keys}); a state_dict or a dict with the weights under "
        "one of {names} is accepted."
    ),
    "error.checkpoints.does_not_fit": "The checkpoint does not fit this {model}: {problems}.",
    "error.checkpoints.nothing_fits": "No key of the checkpoint fits this {model}: {problems}.",
    "error.checkpoints.ddp_frozen": (
        "DDP needs at least one trainable parameter and this model has none; unfreeze a layer or use DataParallel."
    ),
    "error.checkpoints.config_data": (
        "Field 'config' is not JSON data ({reason}); use numbers, strings, lists and dicts."
    ),
    "error.checkpoints.config_missing": "No config file {name} beside {weights}; save with save_with_config.",
    "error.checkpoints.config_big": (
        "Config file {name} is {mib} MiB; a config JSON of at most {limit} KiB is accepted."
    ),
    "error.checkpoints.config_json": "Config file {name} is not valid JSON{where}; re-save it with save_with_config.",
    "checkpoints.config.at": " (at line {line}, column {column})",
    "error.checkpoints.config_type": "Config file {name} holds a {kind}; a JSON object is accepted.",
    "error.checkpoints.config_mismatch": (
        "Config file {name} does not fit {model}: {problem}; {model} takes {takes}: use the JSON saved with these "
        "weights."
    ),
    "checkpoints.config.unknown": "it has keys {model} does not take ({keys})",
    "checkpoints.config.lacks": "it lacks {keys}",
    "checkpoints.config.kind": "one of its values is not of the kind the constructor takes",
    "checkpoints.config.own": "its own arguments",
    "error.checkpoints.no_input": "Cannot guess an input for {model}: it has no Linear, Conv or Embedding layer.",
    "error.checkpoints.forward": "The model did not run on a guessed input of shape {shapes} ({reason}).",
    "error.checkpoints.model_type": "Field 'model' is a {kind}; a model id such as 'default' is accepted.",
    "error.checkpoints.model_not_built": (
        "Field 'model' is {value}, which this session has not built; choose one of {have}."
    ),
    "error.checkpoints.no_upload": "Field 'checkpoint' is empty; upload a .pt, .pth, .pkl or .safetensors file.",
    # ------------------------------------------------------------------------------------------------ report words
    "checkpoints.none": "none",
    "checkpoints.join": "{first}; {rest}",
    "checkpoints.note.whole_model": "the file holds a whole {model} model; its state_dict() was used",
    "checkpoints.note.checkpoint": "training checkpoint: weights found under {name}{also}",
    "checkpoints.note.also": "; also holds {keys}",
    "checkpoints.note.found_under": "weights found under {key}",
    "checkpoints.note.skipped": "skipped {count} {what} ({keys}): {why}",
    "checkpoints.note.extra_one": "non-tensor entry",
    "checkpoints.note.extra_many": "non-tensor entries",
    "checkpoints.note.unnamed_one": "tensor",
    "checkpoints.note.unnamed_many": "tensors",
    "checkpoints.note.odd_one": "tensor",
    "checkpoints.note.odd_many": "tensors",
    "checkpoints.note.why_extra": "metadata, not weights",
    "checkpoints.note.why_unnamed": "a state_dict's keys are names, and these are not strings",
    "checkpoints.note.why_odd": "sparse, quantized, nested, meta or packed tensors cannot be weights",
    "checkpoints.fix.stripped": "stripped leading {prefix} from {count} keys",
    "checkpoints.fix.added": "added leading {prefix} for the wrapped model",
    "checkpoints.problems.missing": "{count} missing ({keys}{more})",
    "checkpoints.problems.unexpected": "{count} unexpected ({keys}{more})",
    "checkpoints.problems.mismatched": "{count} mismatched ({key}: saved {saved} vs model {model}{more})",
    "checkpoints.problems.more": " and {count} more",
    "checkpoints.kind.tensor": "tensor",
    "checkpoints.kind.nested": "tensor (nested)",
    "checkpoints.kind.ragged": "(ragged)",
    "checkpoints.kind.layout": "tensor ({layout})",
    "checkpoints.kind.quantized": "tensor (quantized)",
    "checkpoints.kind.meta": "tensor (meta: no data)",
    "checkpoints.kind.dicts": "list of {count} dicts",
    "checkpoints.kind.whole_model": "(whole model) {model}",
    "checkpoints.kind.cut_rows": "listing cut after {rows} rows: the file holds more entries",
    "checkpoints.kind.cut": "listing cut: {reason}",
    "checkpoints.case.fix.single_single": "none needed: the keys match",
    "checkpoints.case.fix.single_multi": (
        "load into the plain model first, then wrap it: the wrapper"
        " adds 'module.' itself"
    ),
    "checkpoints.case.fix.multi_single": (
        "strip the leading 'module.' (consume_prefix_in_state_dict_if_present); better, save model.module.state_dict()"
    ),
    "checkpoints.case.fix.multi_multi": "none needed: both sides have 'module.'",
    # ------------------------------------------------------------------------------------------------ the page
    "checkpoints.intro": (
        "### 5.4 · Saving and loading, without the traps\n"
        "Save the model you built in another tab (or the small default CNN) as weights, a whole pickled model or a "
        "training checkpoint in `.pt`, `.pth`, `.pkl` or `.safetensors`; the three torch suffixes are the same "
        "`torch.save` format (5.4.1). Play the four single/multi-GPU cases of 5.4.4 live, and load any checkpoint "
        "file safely: it is read with `weights_only=True` or safetensors, so a file that would run code is refused "
        "and nothing of it runs."
    ),
    "checkpoints.model": "Model to work on",
    "checkpoints.default_model": "Default: small CNN",
    "checkpoints.loaded_model": "Checkpoints: loaded",
    "checkpoints.model.info": (
        "**{label}**: `{model}`, {params} parameters ({trainable} trainable), state_dict keys: {keys}"
    ),
    "checkpoints.model.missing": (
        "⚠️ This link shows the model of the {label} tab, which this session has not built yet: build it there, "
        "then choose it here. Meanwhile the default CNN is shown."
    ),
    "checkpoints.keys.more": "{keys} … ({count} keys)",
    "checkpoints.keys.all": "{keys} ({count} keys)",
    "checkpoints.save.heading": "### Save",
    "checkpoints.what": "What to save",
    "checkpoints.what.state_dict": "weights (state_dict)",
    "checkpoints.what.model": "whole model (pickled)",
    "checkpoints.what.checkpoint": "training checkpoint (5.4.5)",
    "checkpoints.format": "Format",
    "checkpoints.wrapper": "Wrap first, as multi-GPU training does",
    "checkpoints.wrapper.info": (
        "DistributedDataParallel (DDP) runs here in a one-process gloo group: gloo is PyTorch’s CPU backend for "
        "communication between processes."
    ),
    "checkpoints.wrapper.none": "no wrapper (single GPU)",
    "checkpoints.unwrap": "Save model.module (unwrapped): the tutorial’s advice for multi-GPU models",
    "checkpoints.save": "Save",
    "checkpoints.file": "Checkpoint to download",
    "checkpoints.facts": "What was written",
    "checkpoints.fact.file": "file",
    "checkpoints.fact.size": "size",
    "checkpoints.fact.what": "what",
    "checkpoints.fact.keys": "keys",
    "checkpoints.fact.first_keys": "first keys",
    "checkpoints.fact.sha": "SHA-256",
    "checkpoints.fact.code": "code",
    "checkpoints.size": "{size} ({bytes} bytes)",
    "checkpoints.size.small": "{bytes} bytes",
    "checkpoints.code.rebuilt": "builds this {model} with the code of the {tab} tab, then saves it the same way",
    "checkpoints.code.default": (
        "builds the default CNN with `default_model()`, the function the lab"
        " runs, then saves it the same way"
    ),
    "checkpoints.code.weights_from.train": (
        "; its weights come from training, so the code's are fresh:"
        " same keys and sizes"
    ),
    "checkpoints.code.weights_from.checkpoints": (
        "; its weights come from your upload, so the code's are fresh: same keys and sizes"
    ),
    "checkpoints.code.none": (
        "no tab's code rebuilds this {model}: the code says so and works from the file you saved"
    ),
    "checkpoints.save_code": "PyTorch code that saves this model the same way",
    "checkpoints.code.save.title": "Saving a model",
    "checkpoints.cases.text": (
        "**5.4.4 · The four cases.** `nn.DataParallel` and `DistributedDataParallel` keep your model as `.module`, so "
        "every key gains a leading `module.`. Each cell saves the model (wrapped or not), builds a fresh model with "
        "other random weights, loads the file into it (wrapped or not), and checks that both give bit-identical "
        "outputs on the same input. Here DDP runs on the CPU in a one-process gloo group (gloo: PyTorch’s CPU "
        "backend for communication between processes); on GPUs the keys are the same."
    ),
    "checkpoints.case_wrapper": "Multi-GPU wrapper",
    "checkpoints.cases.run": "Run the four cases",
    "checkpoints.side.single": "single",
    "checkpoints.side.multi": "multi",
    "checkpoints.case.title": "#### Saved {saved}, loaded {loaded}",
    "checkpoints.case.file_keys": "- keys in the file: {keys}",
    "checkpoints.case.model_keys": "- keys of the model loaded into: {keys}",
    "checkpoints.case.fix": "- fix: {fix}",
    "checkpoints.case.fix_load": "{fix} (load_into: {fixes})",
    "checkpoints.case.equal": "- **outputs bit-identical** ✓ (before loading they differed by up to {before})",
    "checkpoints.case.differ": "- **outputs differ** (max |diff| {diff}; before loading up to {before})",
    "checkpoints.case_shown": "Code for case",
    "checkpoints.case.choice.single_single": "saved single, loaded single",
    "checkpoints.case.choice.single_multi": "saved single, loaded multi",
    "checkpoints.case.choice.multi_single": "saved multi, loaded single",
    "checkpoints.case.choice.multi_multi": "saved multi, loaded multi",
    "checkpoints.case_code": "PyTorch code for this case",
    "checkpoints.code.case.title": "Single and multi-GPU: saving and loading",
    "checkpoints.load.heading": "### Load a checkpoint safely",
    "checkpoints.upload": "Checkpoint (.pt .pth .pkl .safetensors, at most 640 MiB)",
    "checkpoints.load": "Load safely",
    "checkpoints.counts": "Keys against the chosen model",
    "checkpoints.inside": "What the file holds",
    "checkpoints.keys": "Key by key",
    "checkpoints.load_code": "PyTorch code that loads it the same way",
    "checkpoints.code.load.title": "Loading a checkpoint safely",
    "checkpoints.status.loaded": (
        "**Loaded** into a copy of **{model}**: all {count} keys matched. It is now the model **{loaded}** in the "
        "dropdown above."
    ),
    "checkpoints.status.not_loaded": "**Not loaded** into **{model}**: {problems}.",
    "checkpoints.status.fix": "- fix applied: {fix}",
    "checkpoints.status.note": "- {note}",
    "checkpoints.status_word.loaded": "loaded",
    "checkpoints.status_word.missing": "missing",
    "checkpoints.status_word.unexpected": "unexpected",
    "checkpoints.status_word.mismatched": "mismatched",
    "checkpoints.col.field": "field",
    "checkpoints.col.value": "value",
    "checkpoints.col.status": "status",
    "checkpoints.col.keys": "keys",
    "checkpoints.col.key": "key",
    "checkpoints.col.kind": "kind",
    "checkpoints.col.shape": "shape",
    "checkpoints.col.dtype": "dtype",
    "checkpoints.col.numel": "numel",
    "checkpoints.col.model_key": "model key",
    "checkpoints.col.file_key": "key in file",
    "checkpoints.col.saved_shape": "saved shape",
    "checkpoints.col.model_shape": "model shape",
    "checkpoints.col.missing": "missing in the file",
    "checkpoints.col.unexpected": "unexpected in the file",
    "checkpoints.col.order": "order",
    "checkpoints.col.init_before": "is_initialized() first",
    "checkpoints.col.init_after": "is_initialized() at the end",
    "checkpoints.order.after": "set after CUDA started",
    "checkpoints.order.before": "set before",
    "checkpoints.pitfalls": "Pitfall: nine ways 5.4’s code saves or loads the wrong thing, run live",
    "checkpoints.pitfalls.intro": (
        "Each mistake runs now, on the chosen model (the multi-GPU ones with the wrapper chosen for the four cases), "
        "beside the fix. The tutorial’s own listings that cannot run as printed are only compiled, never run. In "
        "multi-GPU work save and load weights, never whole models, and load a file you did not make only with "
        "`weights_only=True` or as safetensors."
    ),
    "checkpoints.cuda": (
        "Pitfall: CUDA_VISIBLE_DEVICES set after CUDA started (5.4.3), run"
        " in two fresh Python processes"
    ),
    "checkpoints.cuda.intro": (
        "5.4.3 sets `os.environ[\"CUDA_VISIBLE_DEVICES\"]` in the script. Whether that works depends on when: each "
        "order below runs in its own new Python process (a few seconds: each imports torch)."
    ),
    # ------------------------------------------------------------------------------------------------ pitfalls
    "pitfall.checkpoints.no_parens.title": "`torch.save(model.state_dict, path)`: the method, not the weights",
    "pitfall.checkpoints.no_parens.why": (
        "Without parentheses `model.state_dict` is a bound method, and pickling it drags in the whole model: the "
        "file has {wrong_bytes} bytes instead of {right_bytes}, and unpickling it needs {globals}. Since torch 2.6 "
        "`torch.load` reads with `weights_only=True` and refuses it; with `weights_only=False` it would run whatever "
        "the file asks. With parentheses the file holds only tensors and loads safely."
    ),
    "pitfall.checkpoints.weights_only.title": "A checkpoint holding an argparse `Namespace`, loaded with the default",
    "pitfall.checkpoints.weights_only.why": (
        "5.4.5 keeps the parsed command line (`args`) in the training checkpoint. Since torch 2.6 (this is torch "
        "{torch}) `torch.load` defaults to `weights_only=True`, which rebuilds only tensors, numbers, strings, lists "
        "and dicts; a `Namespace` needs {globals}, so the load is refused. Store `vars(args)`, a plain dict: it loads "
        "with `weights_only=True`, and a file from someone else can never run code on your machine."
    ),
    "pitfall.checkpoints.assign_state_dict.title": "`loaded_model.state_dict = loaded_dict` loads nothing",
    "pitfall.checkpoints.assign_state_dict.why": (
        "5.4.4 assigns the dict to `state_dict`. That replaces the model's method with an attribute and copies no "
        "tensor: the weights stay the fresh random ones, as far from the saved ones as before. Only "
        "`load_state_dict(...)` copies the tensors in (and checks every key and shape)."
    ),
    "pitfall.checkpoints.prefixed_into_plain.title": (
        "A `module.` file loaded into a plain model; a recipe with an undefined name, one with an extra `)`"
    ),
    "pitfall.checkpoints.prefixed_into_plain.why": (
        "A file saved from a wrapped model has every key prefixed with `module.`; the plain model expects them "
        "without, so `load_state_dict` refuses, with {missing} keys missing and {unexpected} unexpected (the table). "
        "5.4.4's recipe \"去除字典里的module麻烦，往model里添加module简单\" loads before wrapping, so it stops here; "
        "its last line also reads {undefined}, which no listing before it defines (the next recipe does: "
        "{later}): `compile()` accepts it, running it would end in a NameError. The case-4 recipe does not even "
        "compile: `{syntax}` on its line {line}, `{code}`. Wrap first and then load, as on the right, or strip the "
        "prefix."
    ),
    "pitfall.checkpoints.slice_seven.title": "`k[7:]` cuts 7 characters from every key",
    "pitfall.checkpoints.slice_seven.why": (
        "5.4.4's loop \"遍历字典去除module\" assumes every key starts with `module.` (7 characters). On a file saved "
        "from one GPU it does not, and `k[7:]` cuts real names (the table); {collapsed} of the {keys} keys even "
        "collapse into others. `consume_prefix_in_state_dict_if_present(sd, 'module.')` (or "
        "`k.removeprefix('module.')`) removes a leading `module.` only where there is one."
    ),
    "pitfall.checkpoints.replace_everywhere.title": (
        "`k.replace('module.', '')` removes every `module.`,"
        " inside names too"
    ),
    "pitfall.checkpoints.replace_everywhere.why": (
        "This model has a layer of its own called `module` (`backbone.module`); saved from {wrapper}, its keys read "
        "`module.backbone.module.weight`. `replace` removes both, so the key becomes `backbone.weight`, which the "
        "model does not have. Strip the leading prefix only."
    ),
    "pitfall.checkpoints.double_wrap.title": "Wrapping a model that is already wrapped",
    "pitfall.checkpoints.double_wrap.why": (
        "Wrapped in {wrapper} twice (say, a helper that wraps, called on a wrapped model), the keys read `{twice}`: a "
        "model wrapped once, whose keys read `{once}`, refuses them. Unwrap first (`model.module`) and wrap once; "
        "or save `model.module.state_dict()` and load it into the plain model."
    ),
    "pitfall.checkpoints.map_location.title": "`torch.load(path)` without `map_location`",
    "pitfall.checkpoints.map_location.why": (
        "A file remembers the device of every tensor (this one says {locations}), and `torch.load` without "
        "`map_location` puts each one back there: a file saved on a GPU fails on a machine without one, and on "
        "another GPU machine lands on cuda:0 whatever your device. The lab writes this file from its GPU when it has "
        "one, otherwise with the same storage labels a GPU save writes. `map_location='cpu'`, then "
        "`model.to(device)`, works everywhere."
    ),
    "pitfall.checkpoints.whole_dataparallel.title": "A whole pickled `DataParallel` model, then `.module`",
    "pitfall.checkpoints.whole_dataparallel.why": (
        "5.4.4 loads a pickled whole DataParallel model with `torch.load(save_dir).module`. Since torch 2.6 that is "
        "refused: a whole model is code, not data. Loaded with `weights_only=False` (only for a file you made "
        "yourself), `.module` is the plain model, and the wrapper comes back with the GPU ids it was saved with: here "
        "`device_ids={device_ids}`, `output_device={output_device}`, storages on {locations} (this machine has "
        "{gpus} GPUs; without one DataParallel wraps and does nothing else). On a machine with other or fewer GPUs "
        "those ids point at devices that are not there, and the model fails or runs where you did not ask: in "
        "multi-GPU work save and load weights, never whole models."
    ),
    "pitfall.checkpoints.cuda_visible_devices.title": "`CUDA_VISIBLE_DEVICES` set after CUDA started",
    "pitfall.checkpoints.cuda_visible_devices.why": (
        "CUDA reads `CUDA_VISIBLE_DEVICES` once, when it starts (the first `.cuda()` or tensor on a GPU). Both orders "
        "ran in a fresh Python with `CUDA_VISIBLE_DEVICES = {value}`: set after CUDA started, `device_count()` says "
        "{after}; set first, {before}. This machine has {gpus} GPUs; without one both say 0 and CUDA never starts "
        "(`is_initialized()` stays False), so all that shows is when the variable would be read. Set it before "
        "anything touches CUDA: in the shell (`CUDA_VISIBLE_DEVICES=0 python train.py`) or at the very top of the "
        "script."
    ),
}

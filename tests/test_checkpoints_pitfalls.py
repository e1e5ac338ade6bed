"""lab.checkpoints pitfalls (docs/tutorial-notes.md, 5.4): each runs the tutorial's code live beside the fix, as a
`Pitfall`.

The wrong side really fails (torch's own exception) or really gives the wrong result; the right side works; the facts
the explanation quotes are what happened. The tutorial's listings that cannot run are only compiled.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import locales
from lab import checkpoints as ck
from lab.checkpoints import tutorial
from lab.pitfall import Pitfall


@pytest.fixture(scope="module", autouse=True)
def _gloo_group_cleanup():
    yield
    ck.shutdown_process_group()


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3)).eval()  # fmt: skip


def _well_formed(p: Pitfall) -> None:
    assert p.id.startswith("checkpoints.") and p.section.startswith("5.4")
    assert p.wrong_code.strip() and p.right_code.strip() and "lab." not in p.wrong_code + p.right_code
    compile(p.wrong_code, "<wrong>", "exec")  # the shown code is Python
    compile(p.right_code, "<right>", "exec")
    for lang in locales.LANGS:  # every fact its words quote is there
        for part in ("title", "why"):
            template = locales.catalogue(lang)[f"pitfall.{p.id}.{part}"]
            assert locales.fields_of(template) <= set(p.facts), (p.id, part, lang)


def test_no_parentheses_pickles_the_model_and_is_refused(tmp_path):
    p = ck.pitfall_state_dict_no_parens(small_net(), tmp_path)
    _well_formed(p)
    assert "Weights only load failed" in p.wrong.error  # torch's own refusal, since 2.6
    assert p.right.ok and "(9 keys)" in p.right.value
    assert "builtins.getattr" in p.facts["globals"]
    assert int(p.facts["wrong_bytes"].replace(",", "")) > int(p.facts["right_bytes"].replace(",", ""))
    assert "torch.save(model.state_dict, save_dir)" in p.wrong_code and "state_dict()" in p.right_code


def test_namespace_in_a_checkpoint_is_refused_by_default(tmp_path):
    p = ck.pitfall_weights_only(small_net(), tmp_path)
    _well_formed(p)
    assert "Weights only load failed" in p.wrong.error
    assert "argparse.Namespace" in p.facts["globals"]
    assert p.right.ok and "'lr': 0.01" in p.right.value and "vars(args)" in p.right_code


def test_assigning_state_dict_loads_nothing():
    p = ck.pitfall_assign_state_dict(small_net())
    _well_formed(p)
    wrong_gap = float(p.wrong.value.rsplit("=", 1)[1])
    assert wrong_gap > 0 and p.right.value.endswith("= 0")
    assert "loaded_model.state_dict = loaded_dict" in p.wrong_code


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
def test_prefixed_file_into_plain_model_and_the_recipes_text(tmp_path, wrapper):
    p = ck.pitfall_prefixed_into_plain(small_net(), tmp_path, wrapper)
    _well_formed(p)
    assert "Error(s) in loading state_dict" in p.wrong.error
    assert p.right.ok and "All keys matched" in p.right.value
    # torch's own count: BatchNorm fills a missing num_batches_tracked itself, so 8 of the 9 keys are "missing"
    assert (p.facts["missing"], p.facts["unexpected"]) == (8, 9)
    assert list(p.table.columns) == ["missing", "unexpected"] and p.table["unexpected"][0].startswith("module.")
    assert p.facts["undefined"] == "`loaded_dict`" and p.facts["later"] == "loaded_dict"
    assert p.facts["syntax"] == "SyntaxError: unmatched ')'" and p.facts["code"].endswith("torch.load(save_dir)))")
    assert p.wrong_code.startswith("wrap = " + ("nn.DataParallel" if wrapper == "dataparallel" else "DDP"))


def test_tutorial_listings_are_only_compiled():
    assert tutorial.unbound(tutorial.RECIPE_ADD_MODULE) == ["nn", "save_dir", "loaded_dict"]
    assert tutorial.unbound(tutorial.RECIPE_ADD_MODULE, before=tutorial.EARLIER) == ["loaded_dict"]
    assert "loaded_dict" in tutorial.bound(tutorial.RECIPE_STRIP_LOOP)
    message, line, text = tutorial.syntax_error(tutorial.RECIPE_CASE_4)
    assert message == "SyntaxError: unmatched ')'" and text == "loaded_model.load_state_dict(torch.load(save_dir)))"
    assert tutorial.RECIPE_CASE_4.splitlines()[line - 1].strip() == text
    assert tutorial.syntax_error(tutorial.RECIPE_ADD_MODULE) is None


def test_slicing_seven_characters_cuts_real_names():
    p = ck.pitfall_slice_seven(small_net())
    _well_formed(p)
    assert "Error(s) in loading state_dict" in p.wrong.error and "All keys matched" in p.right.value
    assert p.table["k[7:]"].tolist()[:2] == ["t", ""] and p.table["consume_prefix"][0] == "0.weight"
    assert p.facts == {"keys": 9, "collapsed": 4}  # t, "", ng_mean, ng_var, atches_tracked: 5 names for 9 keys


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
def test_replace_removes_module_inside_names(wrapper):
    p = ck.pitfall_replace_everywhere(wrapper)
    _well_formed(p)
    assert "Error(s) in loading state_dict" in p.wrong.error and p.right.ok
    assert "backbone.weight" in p.table["replace"].tolist()
    assert "backbone.module.weight" in p.table["consume_prefix"].tolist()
    assert p.facts["wrapper"] == ck.WRAPPER_NAMES[wrapper]


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
def test_double_wrap_names_the_chosen_wrapper(wrapper):
    p = ck.pitfall_double_wrap(small_net(), wrapper)
    _well_formed(p)
    assert "Error(s) in loading state_dict" in p.wrong.error and "All keys matched" in p.right.value
    assert p.facts["twice"].startswith("module.module.") and p.facts["once"] == "module.0.weight"
    assert p.facts["wrapper"] == ("nn.DataParallel" if wrapper == "dataparallel" else "DistributedDataParallel")
    for lang in locales.LANGS:  # the fix text names the wrapper chosen, never always nn.DataParallel
        words = locales.text(lang, "pitfall.checkpoints.double_wrap.why", **p.facts)
        assert p.facts["wrapper"] in words


def test_map_location(tmp_path):
    p = ck.pitfall_map_location(small_net(), tmp_path)
    _well_formed(p)
    assert "cuda:0" in p.facts["locations"]
    assert p.right.ok and p.right.value == "9 tensors on cpu"
    if torch.cuda.is_available():
        assert p.wrong.ok and p.wrong.value.endswith("cuda:0")
    else:
        assert "Attempting to deserialize object on a CUDA device" in p.wrong.error


def test_whole_dataparallel_model_remembers_its_devices(tmp_path):
    p = ck.pitfall_whole_dataparallel(small_net(), tmp_path)
    _well_formed(p)
    assert "Weights only load failed" in p.wrong.error  # the tutorial's torch.load(save_dir).module
    assert p.right.ok and p.right.value.startswith("Sequential; device_ids=")
    gpus = torch.cuda.device_count()
    assert p.facts["gpus"] == gpus and p.facts["device_ids"] == str(list(range(gpus)))
    assert p.facts["locations"] == ("cuda:0" if gpus else "cpu")


def test_cuda_visible_devices_in_fresh_processes():
    p = ck.pitfall_cuda_visible_devices()
    _well_formed(p)
    assert p.wrong.ok and p.right.ok, (p.wrong, p.right)
    assert list(p.table["order"]) == ["after", "before"]
    if torch.cuda.device_count() == 0:  # what can be shown without a GPU: 0 devices either way, CUDA never started
        assert p.wrong.value == p.right.value == "device_count() = 0, is_initialized() = False"
        assert p.facts["after"] == p.facts["before"] == 0
    else:  # set too late, the variable changes nothing; set first, it does
        assert p.facts["after"] == torch.cuda.device_count() and p.facts["before"] < p.facts["after"]


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
def test_all_pitfalls_on_a_model_leave_it_alone(wrapper):
    model = small_net().train()
    before = copy.deepcopy(model.state_dict())
    found = ck.pitfalls(model, wrapper)
    assert len({p.id for p in found}) == 9
    assert model.training and type(model) is nn.Sequential and not hasattr(model, "module")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert "state_dict" not in vars(model)  # the assignment pitfall ran on a copy

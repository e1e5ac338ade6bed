"""Hardening (issue 9): hypothesis drives every function of docs/api.md with random and hostile values.

The contract (docs/api.md): a function that takes user input returns a result or raises `LabError` with a
message for a person; anything else escaping is a bug. How this file decides, per argument:

- values the UI or an API client can send (str, int, float, bool, None, lists, dicts), including strings where a
  number belongs, NaN, infinities, 100 kB strings and hostile expressions: only a result or a LabError passes;
- where an argument has a Python type no form can produce (a model, a tensor, an array, a state_dict) and the
  test passes something else (None, a bare `object()`, bytes, a list where a model belongs), TypeError or
  AttributeError may also come out (`type_ok=True`): a Python caller passing the wrong type gets Python's own
  error, which is fair; the tests say where they allow it;
- a LabError message must be non-empty; one longer than a toast should be (> 2000 characters: it echoes a
  100 kB input back) is recorded per target in the counts file, and `test_messages_stay_short` pins it (F6);
- no call may run longer than `HANG_S` seconds (SIGALRM turns a hang into a failure), and the whole module
  runs under an address-space limit of the current size + `MEMORY_HEADROOM`, so an unbounded allocation fails
  (as a torch RuntimeError, which is then reported) instead of taking the machine down;
- nothing a hostile text asks for may happen: the `touch /tmp/pwned` payloads must leave no file.

Known bugs stay here as `xfail(strict=True)` tests named after their finding, so they flip
to a failure the day the bug is fixed. Cases run per target go to bench/results/fuzz_counts.md.
"""

from __future__ import annotations

import copy
import io
import math
import os
import resource
import signal
import struct
import time
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_uploads import giant_pt, hostile_pickle, legacy_pickle  # the hostile-file builders, shared
from torch import nn

from lab import checkpoints, compose, inspect, losses, safe_expr, schedules, segment, surgery, train, unet
from lab.errors import LabError

HANG_S = 30  # one call; generous because six other engineers share the two cores
MEMORY_HEADROOM = 4 << 30  # bytes of address space above what the process holds when the module starts
MAX_MESSAGE = 2000
PWNED = Path("/tmp/pwned")
COUNTS: Counter[str] = Counter()
LONG_MESSAGES: Counter[str] = Counter()  # target -> cases whose LabError message exceeded MAX_MESSAGE
RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results" / "fuzz_counts.md"

# LAB_FUZZ_EXAMPLES scales every target for a deeper local run (CI: 15, so the file stays well under a minute)
EXAMPLES = int(os.environ.get("LAB_FUZZ_EXAMPLES", "15"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
FEW = settings(FUZZ, max_examples=max(1, EXAMPLES * 2 // 5))

NAN, INF = float("nan"), float("inf")

# ----------------------------------------------------------------------------------------------------------
# Hostile values
# ----------------------------------------------------------------------------------------------------------

PAYLOADS = (
    "__import__('os').system('touch /tmp/pwned')",
    "().__class__.__mro__",
    "().__class__.__base__.__subclasses__()",
    "9**9**9",
    "10**10**10",
    "epoch ** epoch ** epoch",
    "open('/tmp/pwned', 'w')",
    "exec(\"open('/tmp/pwned','w')\")",
    "eval('1')",
    "lambda: __import__('os')",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "globals()",
    "import os",
    "nn.Module.__subclasses__()",
    "nn.Linear.__init__.__globals__['os'].system('touch /tmp/pwned')",
    "fc = nn.Linear(9**9**9, 1)",
    "fc = nn.Linear(100000, 100000)",
    "nn.Linear(*[1] * 10**6)",
    "nn.Conv2d(3, 3, 3, padding=__import__('os'))",
    "nn.Sequential(*[nn.ReLU()] * 100)",
    "x = nn.Linear(1e308, 5)",
    "'a' * 10**10",
    "[1] * 10**9",
    "(lambda: 1)()",
    "epoch.__class__",
    "math.factorial(10**6)",
)
ODD_TEXT = (
    "",
    " ",
    "\n\n\n",
    "\x00",
    "\ufeff",
    "é∑ð🙂漢字\u202e",
    "x" * 100_000,
    "fc1 = nn.Linear(784, 256)\n" * 2000,
    "nn.ReLU()\n" * 100,
    "nan",
    "inf",
    "-1",
    "None",
    "{}",
    "[]",
)
HOSTILE_TEXT = st.one_of(st.sampled_from(PAYLOADS + ODD_TEXT), st.text(max_size=300))
NUMBER_STRINGS = st.sampled_from(("", "abc", "1", "1.5", "1e999", "nan", "inf", "-1", "0x10", "1_000", "١", "9**9**9"))
ODD_NUMBERS = (0, -1, 1, 2, -(2**63), 2**31, 2**63, 10**18, 10**100, NAN, INF, -INF, 1e308, -1e308, -0.0, 5e-324,
               0.5, 1e-9, True, False)
NUMBERS = st.one_of(
    st.sampled_from(ODD_NUMBERS),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
)
PLAIN = st.one_of(NUMBERS, NUMBER_STRINGS, HOSTILE_TEXT, st.none(), st.just([]), st.just({}),
                  st.lists(st.integers(-5, 5), max_size=3))
OBJECTS = st.sampled_from((object(), b"bytes", bytearray(3), {1, 2}, complex(1, 1), Ellipsis, print))


class Hang(Exception):
    """A call ran past HANG_S."""


class Outcome:
    """What a fuzzed call did: `value` on success, `error` (the LabError) when it refused."""

    def __init__(self, value=None, error: LabError | None = None):
        self.value, self.error = value, error


def call(target: str, fn, *args, type_ok: bool = False, **kwargs) -> Outcome:
    """Run one fuzz case; anything but a result or a well-worded LabError fails the test (TypeError too if type_ok)."""
    COUNTS[target] += 1
    signal.alarm(HANG_S)
    try:
        return Outcome(value=fn(*args, **kwargs))
    except LabError as exc:
        message = str(exc)
        assert message.strip(), f"{target}: LabError without a message"
        if len(message) > MAX_MESSAGE:
            LONG_MESSAGES[target] += 1
        return Outcome(error=exc)
    except (TypeError, AttributeError):
        if not type_ok:
            raise
        return Outcome()
    finally:
        signal.alarm(0)


def _on_alarm(signum, frame):
    raise Hang(f"a call ran longer than {HANG_S} s")


@pytest.fixture(scope="module", autouse=True)
def guard_rails():
    """Hang alarm, a memory ceiling for the module, the pwned-file check and the counts file."""
    PWNED.unlink(missing_ok=True)
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    old_limit = resource.getrlimit(resource.RLIMIT_AS)
    vm = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + MEMORY_HEADROOM, old_limit[1]))
    start = time.perf_counter()
    yield
    resource.setrlimit(resource.RLIMIT_AS, old_limit)
    signal.signal(signal.SIGALRM, old_handler)
    write_counts("lab functions (tests/test_fuzz_lab.py)", COUNTS, time.perf_counter() - start, LONG_MESSAGES)
    assert not PWNED.exists(), "a hostile text ran code: /tmp/pwned was created"


def write_counts(section: str, counts: Counter, seconds: float, long_messages: Counter | None = None) -> None:
    """Replace this module's section of bench/results/fuzz_counts.md with a table of cases per target.

    Only with LAB_RECORD=1: an ordinary test run leaves the repository's files alone."""
    if not os.environ.get("LAB_RECORD"):
        return
    long_messages = long_messages or Counter()
    lines = [f"## {section}", "", f"{sum(counts.values())} cases in {seconds:.0f} s "
             f"(`LAB_RECORD=1 python -m pytest {section.split('(')[-1].rstrip(')')}`).", "",
             f"| target | cases | refusals longer than {MAX_MESSAGE} characters |", "|---|---:|---:|"]
    lines += [f"| `{name}` | {n} | {long_messages.get(name, 0)} |" for name, n in sorted(counts.items())]
    block = "\n".join(lines) + "\n"
    old = RESULTS.read_text() if RESULTS.exists() else "# Fuzzing: cases run per target (issue 9)\n"
    parts = old.split("\n## ")
    kept = [parts[0].rstrip("\n") + "\n"] + ["## " + p.rstrip("\n") + "\n" for p in parts[1:]
                                             if not p.startswith(section)]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(kept + [block]))


# ----------------------------------------------------------------------------------------------------------
# Messages: one sentence, never the whole 100 kB input echoed back (F6)
# ----------------------------------------------------------------------------------------------------------

BIG = "x" * 100_000
ECHOING = {  # target -> a call with a 100 kB string in one field; these quoted the whole value until F6 was fixed
    "surgery.parse_hidden": lambda: surgery.parse_hidden(BIG),
    "surgery.resnet(arch)": lambda: surgery.resnet(BIG),
    "surgery.Surgery(num_classes)": lambda: surgery.Surgery(num_classes=BIG),
    "schedules.lr_curve(name)": lambda: schedules.lr_curve(BIG),
    "losses.get(name)": lambda: losses.get(BIG),
    "losses.get(param)": lambda: losses.get("dice", smooth=BIG),
}
SHORT = {  # the same mistake, already shortened (F6 fixed for compose, inspect, checkpoints at 02:40): stay green
    "compose.parse_layers": lambda: compose.parse_layers(BIG),
    "compose.build(style)": lambda: compose.build("nn.ReLU()", BIG),
    "compose.parse_shape": lambda: compose.parse_shape(BIG),
    "inspect.summary(input_shapes)": lambda: inspect.summary(nn.Linear(2, 2), BIG),
    "checkpoints.save(what)": lambda: checkpoints.save(nn.Linear(2, 2), "/nonexistent/x.pt", what=BIG),
    "checkpoints.parallel_wrap(kind)": lambda: checkpoints.parallel_wrap(nn.Linear(2, 2), BIG),
    "schedules.lr_curve(steps)": lambda: schedules.lr_curve("StepLR", {}, steps=BIG),
    "schedules.lr_curve(lr_lambda)": lambda: schedules.lr_curve("LambdaLR", {"lr_lambda": BIG}),
    "schedules.lr_curve(param)": lambda: schedules.lr_curve("StepLR", {"step_size": BIG}),
}


def _message(make) -> str:
    with pytest.raises(LabError) as info:
        make()
    return str(info.value)


@pytest.mark.parametrize("target", sorted(SHORT))
def test_messages_stay_short(target):
    COUNTS[target] += 1
    assert len(_message(SHORT[target])) <= MAX_MESSAGE


@pytest.mark.parametrize("target", sorted(ECHOING))
def test_messages_do_not_echo_huge_values(target):
    COUNTS[target] += 1
    assert len(_message(ECHOING[target])) <= MAX_MESSAGE


# ----------------------------------------------------------------------------------------------------------
# lab.compose, lab.inspect
# ----------------------------------------------------------------------------------------------------------

LAYER_CLASSES = st.sampled_from(sorted(compose.LAYERS) + ["Module", "Identity", "LSTM", "Embedding", "__init__"])
LITERALS = st.one_of(st.sampled_from(("784", "-1", "0", "10**12", "1e308", "nan", "float('inf')", "'a'", "None",
                                      "True", "(3, 3)", "[1, 2]", "{'a': 1}", "x", "9**9**9", "2**62",
                                      "device='cuda'", "dtype=torch.float64", "bias=__import__('os')",
                                      "padding='same'", "'" + "s" * 5000 + "'")),
                     st.integers(-(2**40), 2**40).map(str))


@st.composite
def layer_texts(draw) -> str:
    """Layer lines that look right: names, allow-listed (and other) classes, hostile literal arguments."""
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(("", "fc1 = ", "x = ", "__class__ = ", "0bad = ", "a.b = ", "é = ", "fc1 = ")))
        cls = draw(LAYER_CLASSES)
        args = ", ".join(draw(st.lists(LITERALS, max_size=3)))
        lines.append(f"{name}nn.{cls}({args})")
    return "\n".join(lines)


LAYERS_TEXT = st.one_of(layer_texts(), HOSTILE_TEXT)
STYLES = st.one_of(st.sampled_from(compose.STYLES), HOSTILE_TEXT)


@FUZZ
@given(text=LAYERS_TEXT)
@example(text="__import__('os').system('touch /tmp/pwned')")
@example(text="fc = nn.Linear(100000, 100000)")
def test_parse_layers(text):
    out = call("compose.parse_layers", compose.parse_layers, text)
    if out.value is not None:
        assert all(isinstance(m, nn.Module) for _, m in out.value)


@FEW
@given(text=st.one_of(st.none(), st.integers(), OBJECTS, st.lists(st.text(max_size=5), max_size=2)))
def test_parse_layers_wrong_types(text):
    call("compose.parse_layers", compose.parse_layers, text, type_ok=True)


@FUZZ
@given(text=LAYERS_TEXT, style=STYLES)
def test_build_and_to_code(text, style):
    built = call("compose.build", compose.build, text, style)
    code = call("compose.to_code", compose.to_code, text, style)
    if built.value is not None:
        assert isinstance(built.value, nn.Module)
        assert code.value is not None, "build accepted what to_code refused"


@FEW
@given(text=layer_texts(), style=st.sampled_from(compose.STYLES), shape=st.one_of(NUMBER_STRINGS, HOSTILE_TEXT,
       st.lists(NUMBERS, max_size=7)))
def test_explore(text, style, shape):
    call("compose.explore", compose.explore, text, style, shape)


SHAPE = st.one_of(
    st.lists(st.one_of(st.integers(-3, 2**40), st.sampled_from((NAN, INF, 1.5, "3", None, True))), max_size=8)
    .map(tuple),
    st.sampled_from(((1, 784), (1, 4), (10**9, 4), (1, 3, 8, 8), (), (0, 4), (1,) * 30)),
)
SHAPES = st.one_of(st.lists(SHAPE, max_size=3), NUMBER_STRINGS, HOSTILE_TEXT, st.none(), st.just([[]]))
SUMMARY_MODELS = {
    "linear": lambda: nn.Linear(4, 4),
    "conv": lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2)),
    "composed": lambda: compose.build(compose.DEFAULT_LAYERS, "moduledict"),
    "empty": lambda: nn.Sequential(),
}


@FUZZ
@given(which=st.sampled_from(sorted(SUMMARY_MODELS)), shapes=SHAPES)
@example(which="linear", shapes=[(10**9, 4)])
def test_summary(which, shapes):
    out = call("inspect.summary", inspect.summary, SUMMARY_MODELS[which](), shapes)
    if out.value is not None:
        assert {"name", "type", "output_shape", "params", "trainable"} <= set(out.value.columns)


@FEW
@given(model=st.one_of(OBJECTS, st.none(), st.integers()))
def test_count_params_wrong_types(model):
    out = call("inspect.count_params", inspect.count_params, model, type_ok=True)
    assert out.value is None or isinstance(out.value, tuple)


# ----------------------------------------------------------------------------------------------------------
# lab.unet: built on the meta device, so a request that slips through never allocates real memory
# ----------------------------------------------------------------------------------------------------------

UNET_ARG = st.one_of(st.integers(-2, 300), st.sampled_from((NAN, INF, "3", None, True, 2.0, 10**9)))


@FUZZ
@given(n_channels=UNET_ARG, n_classes=UNET_ARG, bilinear=st.one_of(st.booleans(), PLAIN),
       base_channels=UNET_ARG, depth=st.one_of(st.integers(-1, 8), UNET_ARG))
def test_unet_builder(n_channels, n_classes, bilinear, base_channels, depth):
    with torch.device("meta"):
        out = call("unet.UNet", unet.UNet, n_channels, n_classes, bilinear, base_channels, depth)
    if out.value is not None:
        params = sum(p.numel() for p in out.value.parameters())
        assert params <= unet.MAX_PARAMS, f"UNet accepted {params:,} parameters (F1)"


def test_unet_refuses_billions_of_parameters():
    with torch.device("meta"):  # meta: the test must not allocate the 17 GB it is about
        with pytest.raises(LabError):
            unet.UNet(3, 2, True, 256, 6)


@FEW
@given(h=st.integers(0, 40), w=st.integers(0, 40), c=st.integers(0, 5), n=st.integers(0, 2),
       dims=st.sampled_from((2, 3, 4, 5)))
def test_unet_forward_sizes(h, w, c, n, dims):
    model = unet.UNet(3, 2, True, 4, 2)
    shape = (n, c, h, w)[4 - dims:] if dims <= 4 else (1, n, c, h, w)
    out = call("unet.UNet.forward", model, torch.zeros(shape), type_ok=False) if 0 not in shape else None
    if out is not None and out.value is not None:
        assert out.value.shape[-2:] == shape[-2:]


# ----------------------------------------------------------------------------------------------------------
# lab.surgery
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18():
    return surgery.resnet("resnet18")


ARCH = st.one_of(st.sampled_from(("resnet18 ", "RESNET18", "resnet", "vgg16", "resnet18; import os", "../resnet18")),
                 HOSTILE_TEXT)


@FEW
@given(arch=ARCH)
def test_resnet_arch(arch):
    call("surgery.resnet", surgery.resnet, arch)


HIDDEN = st.one_of(st.lists(st.one_of(st.integers(-2, 10**7), st.sampled_from((NAN, INF, "8", 1.5, None))),
                            max_size=6).map(tuple), NUMBER_STRINGS, HOSTILE_TEXT)


@FUZZ
@given(hidden=HIDDEN, num_classes=st.one_of(st.integers(2, 12), NUMBERS, NUMBER_STRINGS),
       dropout=st.one_of(st.floats(0, 0.99), NUMBERS, NUMBER_STRINGS))
@example(hidden=(10**6,) * 3, num_classes=10**6, dropout=0.5)
def test_replace_head(resnet18, hidden, num_classes, dropout):
    net = copy.deepcopy(resnet18)
    out = call("surgery.replace_head", surgery.replace_head, net, hidden, num_classes, dropout)
    if out.value is not None:
        assert sum(p.numel() for p in out.value.fc.parameters()) < 50_000_000


@FUZZ
@given(num_extra=st.one_of(st.integers(1, 4), NUMBERS, NUMBER_STRINGS),
       num_classes=st.one_of(st.integers(2, 12), NUMBERS, NUMBER_STRINGS),
       extra_shape=st.sampled_from(((2,), (2, 1), (2, 3), (3,), (2, 1, 1), ())),
       extra_dtype=st.sampled_from((torch.float32, torch.int64, torch.bool, torch.float64)))
def test_with_extra_input(resnet18, num_extra, num_classes, extra_shape, extra_dtype):
    net = copy.deepcopy(resnet18)
    out = call("surgery.WithExtraInput", surgery.WithExtraInput, net, num_extra, num_classes)
    if out.value is not None:
        model = out.value.eval()
        with torch.no_grad():
            call("surgery.WithExtraInput.forward", model, torch.zeros(2, 3, 32, 32), torch.zeros(extra_shape,
                 dtype=extra_dtype))


@FEW
@given(num_classes=st.one_of(NUMBERS, NUMBER_STRINGS), keep=st.one_of(
    st.lists(st.sampled_from(("fc", "layer4", "", ".", "conv1.weight", "fc.", "x", "é")), max_size=3), HOSTILE_TEXT))
def test_extra_output_and_freeze(resnet18, num_classes, keep):
    call("surgery.WithExtraOutput", surgery.WithExtraOutput, copy.deepcopy(resnet18), num_classes)
    out = call("surgery.freeze", surgery.freeze, copy.deepcopy(resnet18), keep)
    if out.value is not None and keep:
        assert any(p.requires_grad for p in out.value.parameters())


# ----------------------------------------------------------------------------------------------------------
# lab.checkpoints: hostile files and hostile in-memory sources
# ----------------------------------------------------------------------------------------------------------


def _valid_pt(tmp: Path) -> bytes:
    path = tmp / "valid.pt"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    return path.read_bytes()


def _safetensors_lying_header(claim: int) -> bytes:
    header = b'{"w":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,40000000000]}}'
    return struct.pack("<Q", claim) + header


@st.composite
def checkpoint_bytes(draw, tmp: Path) -> bytes:
    kind = draw(st.sampled_from(("random", "flip", "truncate", "pickle", "legacy", "safetensors", "zipbomb", "empty")))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=2000))
    if kind == "empty":
        return b""
    if kind == "pickle":
        return hostile_pickle(tmp / "pwn.pt").read_bytes()
    if kind == "legacy":
        return legacy_pickle(tmp / "pwn.pkl").read_bytes()
    if kind == "safetensors":
        return _safetensors_lying_header(draw(st.sampled_from((0, 10, 77, 2**40, 2**64 - 1))))
    if kind == "zipbomb":  # a 1 kB torch zip whose tensor claims up to 8 GB over a 16-byte record
        return giant_pt(tmp / "giant.pt", numel=draw(st.sampled_from((5, 2**20, 2**30, 2**31)))).read_bytes()
    data = bytearray(_valid_pt(tmp))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(1, len(data) - 1))])
    for _ in range(draw(st.integers(1, 8))):  # bit flips anywhere in a valid file
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@FUZZ
@given(data=st.data(), suffix=st.sampled_from((".pt", ".pth", ".pkl", ".safetensors", ".bin", "")))
def test_load_hostile_files(tmp_path_factory, data, suffix):
    tmp = tmp_path_factory.mktemp("ck")
    path = tmp / f"upload{suffix}"
    path.write_bytes(data.draw(checkpoint_bytes(tmp)))
    out = call("checkpoints.load", checkpoints.load, path)
    assert not PWNED.exists(), "loading a file ran its code"
    if out.value is not None:
        call("checkpoints.load_into", checkpoints.load_into, nn.Linear(3, 2), out.value, strict=False)


def test_load_hostile_pickle_refused(tmp_path):
    for path in (hostile_pickle(tmp_path / "pwn.pt"), legacy_pickle(tmp_path / "legacy.pkl")):
        out = call("checkpoints.load", checkpoints.load, path)
        assert out.error is not None, f"{path.name} was loaded"
        assert not PWNED.exists()


TENSORS = st.sampled_from((torch.zeros(2, 3), torch.zeros(3, 2), torch.zeros(2), torch.full((2, 3), NAN),
                           torch.zeros(2, 3, dtype=torch.int64), torch.zeros(2, 3, dtype=torch.complex64),
                           torch.zeros(0), torch.zeros(2, 3).t()))
KEYS = st.sampled_from(("weight", "bias", "module.weight", "module.module.weight", "_orig_mod.bias", "", "é",
                        "x" * 10_000, "weight.", "mask_values"))
SOURCES = st.recursive(
    st.one_of(st.dictionaries(KEYS, st.one_of(TENSORS, PLAIN), max_size=4), TENSORS, PLAIN),
    lambda inner: st.dictionaries(st.sampled_from(("model", "state_dict", "model_state_dict", "epoch", "net")),
                                  inner, max_size=3),
    max_leaves=6,
)


@FUZZ
@given(source=SOURCES, strict=st.booleans())
@example(source={"module.weight": torch.zeros(2, 3), "module.bias": torch.zeros(2)}, strict=True)
def test_load_into(source, strict):
    out = call("checkpoints.load_into", checkpoints.load_into, nn.Linear(3, 2), source, strict=strict)
    if out.value is not None:
        assert isinstance(out.value.loaded, list)


@FEW
@given(state_dict=st.one_of(st.dictionaries(KEYS, TENSORS, max_size=4), OBJECTS, st.none(), st.integers()),
       prefix=st.one_of(st.sampled_from(("module.", "", ".", "_orig_mod.")), HOSTILE_TEXT))
def test_prefixes(state_dict, prefix):
    # a non-mapping state_dict is a Python type mistake (no form produces one): TypeError is fair
    call("checkpoints.strip_prefix", checkpoints.strip_prefix, state_dict, prefix, type_ok=True)
    call("checkpoints.add_prefix", checkpoints.add_prefix, state_dict, prefix, type_ok=True)


def test_strip_prefix_of_a_string():
    """F3 (fixed): a str where a state_dict belongs is refused, never a plain ValueError."""
    for fn in (checkpoints.strip_prefix, checkpoints.add_prefix):
        with pytest.raises((LabError, TypeError)) as info:
            fn("abc")
        assert type(info.value) is not ValueError


NAMES = st.sampled_from(("ok.pt", "ok.safetensors", "ok.pth", "ok.pkl", "x.exe", "noext", ".pt", "é🙂.pt",
                         "a" * 200 + ".pt", "sub/dir/x.pt", "x.PT", "x.pt."))


@FUZZ
@given(name=NAMES, what=st.one_of(st.sampled_from(checkpoints.WHATS), HOSTILE_TEXT),
       epoch=st.one_of(st.none(), NUMBERS, NUMBER_STRINGS), args=st.one_of(st.none(), PLAIN,
       st.just({"lr": 0.1, "f": print})))
def test_save(tmp_path_factory, name, what, epoch, args):
    folder = tmp_path_factory.mktemp("save")
    out = call("checkpoints.save", checkpoints.save, nn.Linear(3, 2), folder / name, what=what, epoch=epoch,
               args=args)
    leftovers = [p.name for p in folder.rglob("*") if p.is_file() and (out.value is None or p != out.value)]
    assert not leftovers, f"save left files behind: {leftovers}"


@pytest.mark.parametrize("name", ["a" * 300 + ".pt", "nul\x00.pt"], ids=["300-character name", "NUL in name"])
def test_save_refuses_names_the_os_refuses(tmp_path, name):
    """F5 (fixed): names the OS refuses become a LabError naming the file."""
    with pytest.raises(LabError):
        checkpoints.save(nn.Linear(3, 2), tmp_path / name)


@FEW
@given(kind=st.one_of(st.sampled_from(checkpoints.WRAPPERS), HOSTILE_TEXT))
def test_parallel_wrap(kind):
    call("checkpoints.parallel_wrap", checkpoints.parallel_wrap, nn.Linear(3, 2), kind)


# ----------------------------------------------------------------------------------------------------------
# lab.losses
# ----------------------------------------------------------------------------------------------------------

LOSS_NAMES = st.one_of(st.sampled_from(losses.NAMES + ("Dice", "DiceBCE", "BCEWithLogits", "Huber", "focal ")),
                       HOSTILE_TEXT)
LOSS_PARAMS = st.dictionaries(st.sampled_from(("smooth", "alpha", "gamma", "mode", "beta", "delta", "reduction",
                                               "weight", "__class__", "")), st.one_of(NUMBERS, NUMBER_STRINGS, PLAIN),
                              max_size=3)


@FUZZ
@given(name=LOSS_NAMES, params=LOSS_PARAMS)
def test_loss_get(name, params):
    out = call("losses.get", losses.get, name, **params)
    if out.value is not None:
        loss = out.value
        logits, targets = torch.randn(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
        value = call("losses.<loss>.forward", loss, logits, targets)
        if value.value is not None:
            assert value.value.dim() == 0


@FEW
@given(smooth=st.one_of(NUMBERS, NUMBER_STRINGS), alpha=st.one_of(st.none(), NUMBERS, NUMBER_STRINGS),
       gamma=st.one_of(NUMBERS, NUMBER_STRINGS))
def test_loss_classes(smooth, alpha, gamma):
    for cls in (losses.DiceLoss, losses.IoULoss, losses.DiceBCELoss):
        call(f"losses.{cls.__name__}", cls, smooth)
    call("losses.FocalLoss", losses.FocalLoss, alpha, gamma)


LOSS_TENSORS = st.sampled_from((
    (torch.randn(2, 1, 8, 8), torch.ones(2, 8, 8)),
    (torch.randn(2, 1, 8, 8), torch.ones(2, 1, 4, 4)),
    (torch.randn(0, 1, 8, 8), torch.ones(0, 1, 8, 8)),
    (torch.full((1, 1, 2, 2), NAN), torch.ones(1, 1, 2, 2)),
    (torch.full((1, 1, 2, 2), INF), torch.zeros(1, 1, 2, 2)),
    (torch.randn(1, 1, 4, 4), torch.full((1, 1, 4, 4), 3.0)),
    (torch.randn(1, 1, 4, 4), torch.ones(1, 1, 4, 4, dtype=torch.bool)),
    (torch.randn(1, 3, 4, 4).transpose(2, 3), torch.ones(1, 3, 4, 4).transpose(2, 3)),
    (torch.randn(4), torch.ones(4)),
    (torch.randn(1, 1, 4, 4, dtype=torch.float64), torch.ones(1, 1, 4, 4)),
))


@FUZZ
@given(name=st.sampled_from(losses.NAMES), pair=LOSS_TENSORS)
def test_loss_forward_shapes(name, pair):
    """A loss gets tensors from lab code, but a shape mismatch still has to be explained, not a torch error."""
    logits, targets = pair
    call("losses.<loss>.forward", losses.get(name), logits, targets)


@FEW
@given(name=st.sampled_from(tuple(losses.TUTORIAL)))
def test_tutorial_losses_construct(name):
    call("losses.TUTORIAL", losses.TUTORIAL[name])


# ----------------------------------------------------------------------------------------------------------
# lab.safe_expr, lab.schedules
# ----------------------------------------------------------------------------------------------------------


@FUZZ
@given(text=st.one_of(HOSTILE_TEXT, st.sampled_from(("0.95 ** epoch", "1 / (epoch - 3)", "epoch % 0", "log(0)",
                                                       "sqrt(-1)", "exp(1000)", "max()", "min(epoch)", "pi ** 1e6",
                                                       "not epoch", "epoch < 3 < 2", "1 if epoch else 2",
                                                       "-" * 400 + "1", "(" * 200 + "1" + ")" * 200))),
       epoch=st.one_of(st.integers(0, 10**6), st.sampled_from((-1, 2**63))))
def test_safe_expression(text, epoch):
    out = call("safe_expr.compile_expression", safe_expr.compile_expression, text)
    if out.value is not None:
        value = call("safe_expr.<expression>(epoch)", out.value, epoch)
        if value.value is not None:
            assert isinstance(value.value, float) and math.isfinite(value.value)


SCHED_NAMES = st.one_of(st.sampled_from(schedules.NAMES), HOSTILE_TEXT, st.none())
STEPS = st.one_of(st.integers(-5, 300), st.sampled_from((0, 100_001, 10**12, NAN, INF, 1.5, "100", "abc", None,
                                                          True)))


@st.composite
def schedule_params(draw, name) -> dict | object:
    """The scheduler's own keyword names with hostile values, unknown keys, or not a dict at all."""
    try:
        keys = [spec.name for spec in schedules.param_specs(name)]
    except (LabError, TypeError):
        keys = []
    values = st.one_of(NUMBERS, NUMBER_STRINGS, PLAIN, st.sampled_from(PAYLOADS),
                       st.lists(st.fixed_dictionaries({"name": SCHED_NAMES, "params": st.just({})}), max_size=8),
                       st.lists(st.integers(-10, 10**6), max_size=120))
    params = draw(st.dictionaries(st.sampled_from(keys + ["optimizer", "last_epoch", "bogus", "__class__"]),
                                  values, max_size=4))
    return draw(st.one_of(st.just(params), st.just(None), st.just({}), st.sampled_from(([1, 2], "x", 3))))


@FUZZ
@given(data=st.data(), name=SCHED_NAMES, steps=STEPS, base_lr=st.one_of(NUMBERS, NUMBER_STRINGS),
       metrics=st.one_of(st.none(), st.lists(NUMBERS, max_size=5), NUMBER_STRINGS, st.just([NAN] * 10)))
@example(data=None, name="LambdaLR", steps=10, base_lr=0.1, metrics=None)
def test_lr_curve(data, name, steps, base_lr, metrics):
    params = data.draw(schedule_params(name)) if data is not None else {"lr_lambda": PAYLOADS[0]}
    # a params that is not a dict (a list, a number, a string) is a LabError too (F2 fixed)
    out = call("schedules.lr_curve", schedules.lr_curve, name, params, steps=steps, base_lr=base_lr, metrics=metrics)
    if out.value is not None:
        # to_code of what lr_curve accepted must work (and it refuses what lr_curve refuses: F4)
        code = call("schedules.to_code", schedules.to_code, name, params, steps=steps, base_lr=base_lr,
                    metrics=metrics)
        assert code.value is not None, "to_code refused what lr_curve accepted"
        lr = out.value["lr"].to_numpy()
        assert len(lr) == int(steps) and np.isfinite(lr).all()


@pytest.mark.parametrize("fn", [
    pytest.param(compose.parse_shape, id="parse_shape"),  # F10 fixed there
    pytest.param(surgery.parse_hidden, id="parse_hidden"),  # F10 fixed: None is refused, "" means no hidden layer
])
def test_text_parsers_take_none(fn):
    """A Textbox sent JSON null through the API hands None to these parsers (see tests/test_fuzz_api.py)."""
    COUNTS[f"{fn.__module__}.{fn.__name__}(None)"] += 1
    with pytest.raises(LabError):
        fn(None)


@pytest.mark.parametrize("base_lr", [-1, "abc", float("nan"), True])  # F4 fixed
def test_to_code_validates_base_lr(base_lr):
    with pytest.raises(LabError):
        schedules.to_code("StepLR", {"step_size": 30}, base_lr=base_lr)


def test_lr_curve_params_not_a_dict():  # F2 fixed
    with pytest.raises(LabError):
        schedules.lr_curve("StepLR", [1, 2])


# ----------------------------------------------------------------------------------------------------------
# lab.segment
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seg_model():
    return segment.pretrained()


IMAGES = st.sampled_from((
    np.zeros((32, 32, 3), np.uint8), np.zeros((1, 1), np.uint8), np.zeros((0, 5, 3), np.uint8),
    np.zeros((1, 3000), np.uint8), np.zeros((8, 8, 5), np.uint8), np.zeros((8, 8, 2), np.uint8),
    np.full((8, 8, 3), NAN, np.float32), np.full((8, 8), INF), np.full((8, 8, 3), -1e30, np.float64),
    np.zeros((8, 8, 3), np.int64) - 5, np.zeros((8, 8), bool), np.zeros((8, 8, 3), object),
    np.zeros((8, 8, 3), complex), np.zeros((2, 8, 8, 3), np.uint8), np.zeros(8, np.uint8),
    np.array(5, np.uint8), np.zeros((8, 8, 4), np.uint16) + 65535, np.zeros((8, 8, 3), np.float16),
    np.zeros((33, 17, 3), np.uint8)[::2, ::-1], [[1, 2], [3, 4]], "image.png", None,
))


@FUZZ
@given(image=IMAGES, threshold=st.one_of(NUMBERS, NUMBER_STRINGS), precision=st.one_of(
    st.sampled_from(segment.PRECISIONS), HOSTILE_TEXT))
def test_segment(seg_model, image, threshold, precision):
    # a str/None image is a Python type mistake (the UI decodes uploads with load_image first)
    out = call("segment.segment", segment.segment, seg_model, image, threshold=threshold, precision=precision,
               type_ok=not isinstance(image, (np.ndarray, list)))
    if out.value is not None:
        shape = np.asarray(image).shape[:2]
        assert out.value.prob.shape == shape and out.value.mask.shape == shape
        assert np.isfinite(out.value.prob).all() and out.value.prob.min() >= 0 and out.value.prob.max() <= 1


MASKS = st.sampled_from((np.zeros((4, 4), bool), np.ones((4, 4), bool), np.zeros((5, 4), bool),
                         np.zeros((4, 4), np.uint8) + 7, np.full((4, 4), NAN), np.zeros((0, 0), bool),
                         np.zeros((4, 4, 3), bool), [[True]], "mask", None))


@FUZZ
@given(pred=MASKS, true=MASKS)
def test_dice_iou(pred, true):
    for fn in (segment.dice, segment.iou):
        out = call(f"segment.{fn.__name__}", fn, pred, true, type_ok=isinstance(pred, str) or isinstance(true, str))
        if out.value is not None:
            assert 0.0 <= out.value <= 1.0


def _png(w: int, h: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10, 200, 30)).save(buf, "PNG")
    return buf.getvalue()


@st.composite
def image_files(draw) -> bytes:
    kind = draw(st.sampled_from(("random", "flip", "truncate", "text", "zip", "empty")))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=3000))
    if kind == "empty":
        return b""
    if kind == "text":
        return b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>"
    if kind == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("a.txt", "hello")
        return buf.getvalue()
    data = bytearray(_png(40, 30))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(1, len(data) - 1))])
    for _ in range(draw(st.integers(1, 6))):
        data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(data)


@FUZZ
@given(data=image_files())
def test_load_image(data):
    out = call("segment.load_image", segment.load_image, data)
    if out.value is not None:
        assert out.value.ndim in (2, 3) and max(out.value.shape[:2]) <= segment.MAX_SIDE


# ----------------------------------------------------------------------------------------------------------
# lab.train: hostile arguments, every other argument small and valid (a real run is capped at 2 steps)
# ----------------------------------------------------------------------------------------------------------

_rng = np.random.default_rng(0)
TRAIN_IMAGES = [(_rng.random((32, 32, 3)) * 255).astype(np.uint8) for _ in range(4)]
TRAIN_MASKS = [_rng.random((32, 32)) > 0.5 for _ in range(4)]
TRAIN_DEFAULTS = {"steps": 2, "batch_size": 2, "time_limit_s": 20, "base_channels": 4, "depth": 2,
                  "crop_size": 32, "val_every": 1}
TRAIN_FIELDS = {
    "lr": st.one_of(NUMBERS, NUMBER_STRINGS),
    "steps": st.one_of(st.sampled_from((0, -1, 10**9, NAN, INF, 1.5, "2", "abc", None, True)), st.integers(-3, 2)),
    "batch_size": st.one_of(st.sampled_from((0, -1, 10**9, NAN, "2", None)), st.integers(-3, 3)),
    "val_fraction": st.one_of(NUMBERS, NUMBER_STRINGS),
    "seed": st.one_of(NUMBERS, NUMBER_STRINGS),
    "time_limit_s": st.one_of(st.sampled_from((0, -1, NAN, INF, 1e9, "5", None)), st.floats(0.1, 5)),
    "loss": st.one_of(LOSS_NAMES, st.tuples(LOSS_NAMES, LOSS_PARAMS), st.none()),
    "scheduler": st.one_of(st.none(), st.tuples(SCHED_NAMES, st.just({})), st.just(("LambdaLR",
                           {"lr_lambda": PAYLOADS[0]})), PLAIN),
    "optimizer": st.one_of(st.sampled_from(train.OPTIMIZERS), HOSTILE_TEXT),
    "precision": st.one_of(st.sampled_from(train.PRECISIONS), HOSTILE_TEXT),
    "base_channels": st.one_of(st.sampled_from((0, 1, 3, 2**20, NAN, "8")), st.integers(-2, 8)),
    "depth": st.one_of(st.sampled_from((0, 7, 100, NAN, "2")), st.integers(-1, 3)),
    "crop_size": st.one_of(st.sampled_from((0, 1, 10**6, NAN, "32")), st.integers(-1, 40)),
    "bogus_option": PLAIN,
}


@FUZZ
@given(field=st.sampled_from(sorted(TRAIN_FIELDS)), data=st.data())
def test_train_arguments(field, data):
    kwargs = dict(TRAIN_DEFAULTS)
    kwargs[field] = data.draw(TRAIN_FIELDS[field])
    if field in ("steps", "batch_size") and isinstance(kwargs[field], int) and kwargs[field] > 4:
        kwargs[field] = 10**9  # big counts must be refused, not run
    # an unknown keyword is a Python API mistake (no form sends one): TypeError is fair there
    call("train.train_unet", train.train_unet, TRAIN_IMAGES, TRAIN_MASKS, type_ok=field == "bogus_option", **kwargs)


TRAIN_DATA = st.sampled_from((
    ([], []),
    (TRAIN_IMAGES[:1], TRAIN_MASKS[:1]),
    (TRAIN_IMAGES, TRAIN_MASKS[:2]),
    ([np.zeros((2, 2, 3), np.uint8)] * 2, [np.zeros((2, 2), bool)] * 2),
    ([np.full((32, 32), NAN)] * 2, TRAIN_MASKS[:2]),
    ([np.zeros((32, 32, 5), np.uint8)] * 2, TRAIN_MASKS[:2]),
    (TRAIN_IMAGES[:2], [np.zeros((31, 32), bool)] * 2),
    (TRAIN_IMAGES[:2], [np.full((32, 32), 7, np.uint8)] * 2),
    ([np.zeros((3000, 3000), np.uint8)] * 2, [np.zeros((3000, 3000), bool)] * 2),
    ("images", "masks"),
    (None, None),
))


@FEW
@given(pair=TRAIN_DATA)
def test_train_data(pair):
    images, masks = pair
    call("train.train_unet", train.train_unet, images, masks, type_ok=images is None, **TRAIN_DEFAULTS)

"""Issue 12, items 1, 6 (checkpoint messages) and 7: bounded work on hostile checkpoints, sentences in the visitor's
terms, and every file the lab hands out loading back through its own upload paths.

The classes, each with variants of our own:
- shared references: a container referenced twice at every level (2^40 paths in ~2 kB), as dicts, lists, tuples
  and a mix of the three; cycles (a dict or a list holding itself);
- deep nesting: 5,000 and 30,000 levels of dicts, lists, tuples (and frozensets in memory);
- huge flat containers: 2 M ints in 4 MB of pickle, 10 M ints in 19 MB; many tensors; long and non-string keys;
- odd tensors: complex, bool, zero-size, quantized, sparse, nested, meta, shared storage, a 2^40-element view, and a
  tensor or OrderedDict whose attributes shadow their methods (`numel`, `items`), a bytearray that would zero 256 MB;
- broken files: truncated zips, a storage shorter than its tensor, a 2^40-element storage, a missing record,
  compressed entries, a zip that is not torch's, bad safetensors headers (offsets, dtype, shape, a huge header, a key
  order nested 100,000 deep), legacy files (intact, cut short, claiming 8 GB or 2^40 elements), a plain pickle, a
  `__reduce__` payload that would create a marker file (zip, legacy pickle, protocol-4 pickle), a PNG named .pt, and
  names with unicode, a newline, 200 characters.

Each goes through the lab functions (`walk`, `contents`, `find_state_dict`, `compare`, `load_into`, `file_info`, the
U-Net and Surgery weight loaders) and through the launched app (`/checkpoints_load`). Nothing here is timed: one
subprocess runs every hostile file with a generous timeout and memory bound, to catch runaway work.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import pytest
import torch
from test_uploads import INTERNAL, PWNED, giant_pt, hostile_pickle, legacy_pickle
from torch import nn

from lab import checkpoints as ck
from lab.checkpoints import io as ck_io
from lab.checkpoints import scan
from lab.checkpoints.bounds import brief
from lab.errors import LabError, Term, render
from ui import checkpoints as tab
from ui.common import guarded

DEFAULT = tab.DEFAULT
# Text a visitor must never read: C++ sources and format strings, torch's reader, Python's internals, server paths.
LEAKS = (
    ".cpp",
    ".cc",
    "%ld",
    "PytorchStreamReader",
    "miniz",
    "enforce fail",
    "Traceback",
    "Error code",
    "weights_only",
    "Unpickler",
    "site-packages",
    "/tmp/",
    "gradio",
    "set_int_max_str_digits",
    "Line None",
)


def assert_sentence(message: str, *forbidden: str) -> None:
    """One line, no internals, no server path."""
    assert message.strip() and "\n" not in message, message
    assert INTERNAL not in message.lower(), message
    for leak in (*LEAKS, *forbidden):
        assert leak not in message, f"{leak!r} leaked: {message}"


# ----------------------------------------------------------------------------------------------------------
# Building hostile objects and files
# ----------------------------------------------------------------------------------------------------------


def shared(levels: int, kind: str):
    """A container referenced twice at every level: 2^levels paths to the leaf through `levels + 1` objects."""
    node = {"x": 1} if kind == "dict" else [1]
    for i in range(levels):
        step = kind if kind != "mixed" else ("dict", "list", "tuple")[i % 3]
        node = {"a": node, "b": node} if step == "dict" else [node, node] if step == "list" else (node, node)
    return node


def deep(levels: int, kind: str):
    """`levels` containers, each the only entry of the next (built in a loop: no recursion)."""
    node = torch.zeros(1)
    for _ in range(levels):
        node = {"a": node} if kind == "dict" else [node] if kind == "list" else (node,) if kind == "tuple" \
            else frozenset([(node,)]) if kind == "frozenset" else None  # fmt: skip
    return node


def _u(text: str) -> bytes:  # BINUNICODE
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _long(n: int) -> bytes:  # LONG1
    data = n.to_bytes((n.bit_length() + 8) // 8 or 1, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _tuple(*parts: bytes) -> bytes:
    return b"(" + b"".join(parts) + b"t"


def _tensor_args(numel: int, size=None, stride=None, key: str = "0") -> bytes:
    """The argument tuple of torch._utils._rebuild_tensor_v2 for a float32 tensor over storage record `key`."""
    size = (numel,) if size is None else size
    stride = (1,) * len(size) if stride is None else stride
    pid = _tuple(_u("storage"), _global("torch", "FloatStorage"), _u(key), _u("cpu"), _long(numel)) + b"Q"
    return b"(" + pid + _long(0) + _tuple(*map(_long, size)) + _tuple(*map(_long, stride)) + b"\x89" \
        + _global("collections", "OrderedDict") + b")Rt"  # fmt: skip


def _tensor(numel: int, **kwargs) -> bytes:
    return _global("torch._utils", "_rebuild_tensor_v2") + _tensor_args(numel, **kwargs) + b"R"


def _state(*items: tuple[str, bytes]) -> bytes:
    return b"\x80\x02}(" + b"".join(_u(k) + v for k, v in items) + b"u."


def torch_zip(path: Path, pkl: bytes, records: dict[str, bytes] | None = None, **zip_kwargs) -> Path:
    """A file laid out as torch.save lays it out, around a hand-written pickle (deep ones: pickle.dump recurses)."""
    with zipfile.ZipFile(path, "w", **zip_kwargs) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        for key, data in (records or {}).items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")
    return path


def deep_pickle(levels: int, kind: str) -> bytes:
    body = {"dict": (b"}" + _u("a")) * levels + b"N" + b"s" * levels,
            "list": b"]" * levels + b"N" + b"a" * levels,
            "tuple": b"N" + b"\x85" * levels}[kind]  # fmt: skip
    return b"\x80\x02" + body + b"."


def safetensors_file(path: Path, header: dict, data: bytes = b"") -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


class Pwn4:
    """A `__reduce__` payload pickled with protocol 4 (STACK_GLOBAL: the names come from strings pushed before)."""

    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def _legacy_with_claim(path: Path, numel: int) -> Path:
    """A legacy torch file whose one storage claims `numel` floats (it holds 4)."""
    torch.save({"w": torch.arange(4.0)}, path, _use_new_zipfile_serialization=False)
    raw = path.read_bytes()
    at = raw.index(b"cpuq\x06K\x04") + 5  # 'cpu', its memo slot, then BININT1 4: the storage's numel
    path.write_bytes(raw[:at] + _long(numel) + raw[at + 2 :])
    return path


def _attribute_shadowing(path: Path) -> Path:
    """An OrderedDict whose instance attributes shadow `items`/`get`, holding a tensor whose attributes shadow
    `numel`/`detach`/`size`: the weights-only unpickler allows BUILD on both."""
    tensor = (_global("torch._tensor", "_rebuild_from_type_v2") + b"(" + _global("torch._utils", "_rebuild_tensor_v2")
              + _global("torch", "Tensor") + _tensor_args(4, size=(2, 2), stride=(2, 1))
              + b"}(" + _u("numel") + _global("torch", "Size") + _u("detach") + _global("torch", "Size")
              + _u("size") + b"K\x03" + b"u" + b"tR")  # fmt: skip
    od = (b"\x80\x02" + _global("collections", "OrderedDict") + b")R" + _u("0.weight") + tensor + b"s"
          + b"}(" + _u("items") + _global("torch", "Size") + _u("get") + _global("torch", "Size")
          + _u("_metadata") + b"K\x05" + b"u" + b"b.")  # fmt: skip
    return torch_zip(path, od, {"0": b"\0" * 16})


def hostile_files(folder: Path) -> dict[str, Path]:
    """Every hostile file, by label. Builders that allocate are kept small; claims are what is large."""
    f: dict[str, Path] = {}

    def save(name: str, obj, **kwargs) -> None:
        torch.save(obj, folder / name, **kwargs)
        f[name] = folder / name

    for kind in ("dict", "list", "tuple", "mixed"):
        save(f"shared40_{kind}.pt", shared(40, kind))
    cyclic: dict = {"w": torch.zeros(2)}
    cyclic["self"] = cyclic
    save("cycle_dict.pt", cyclic)
    loop: list = [torch.zeros(2)]
    loop.append(loop)
    save("cycle_list.pt", {"model": loop})
    for kind, levels in (("dict", 5_000), ("list", 5_000), ("tuple", 5_000), ("dict", 30_000), ("list", 30_000)):
        f[f"deep{levels}_{kind}.pt"] = torch_zip(folder / f"deep{levels}_{kind}.pt", deep_pickle(levels, kind))
    for name, n in (("flat_2M_ints.pt", 2_000_000), ("flat_10M_ints.pt", 10_000_000)):  # ~4 MB and ~19 MB of pickle
        f[name] = torch_zip(folder / name, pickle.dumps([1] * n, protocol=2))  # what torch.save writes, faster
    save("keys_not_strings.pt", {1: torch.zeros(2), (1, 2): torch.zeros(2), None: torch.zeros(2),
                                  torch.zeros(3): torch.zeros(2), "0.bias": torch.zeros(2)})  # fmt: skip
    save("keys_long.pt", {"x" * 100_000: torch.zeros(2), "module." * 50_000 + "w": torch.zeros(2)})
    base = torch.arange(6.0)
    save("odd_tensors.pt", {"complex": torch.zeros(2, dtype=torch.complex64), "bool": torch.zeros(2, dtype=torch.bool),
                            "empty": torch.zeros(0, 5), "sparse": torch.eye(3).to_sparse(),
                            "meta": torch.empty(2**40, device="meta"), "view_a": base[:3], "view_b": base[3:],
                            "nested": torch.nested.nested_tensor([torch.zeros(2), torch.zeros(3)])})  # fmt: skip
    with pytest.warns(UserWarning):  # quantized tensors are deprecated, and still loadable
        save("quantized.pt", {"q": torch.quantize_per_tensor(torch.rand(4), 0.1, 0, torch.quint8)})
    f["view_2e40.pt"] = torch_zip(folder / "view_2e40.pt", _state(("w", _tensor(4, size=(2**40,), stride=(0,)))),
                                  {"0": b"\0" * 16})  # fmt: skip
    f["shadowing.pt"] = _attribute_shadowing(folder / "shadowing.pt")
    f["bytearray.pt"] = torch_zip(
        folder / "bytearray.pt", b"\x80\x02" + _global("__builtin__", "bytearray") + _tuple(_long(2**28)) + b"R."
    )
    f["tensor_2e40.pt"] = torch_zip(
        folder / "tensor_2e40.pt", b"\x80\x02" + _global("torch", "FloatTensor") + _tuple(_long(2**40)) + b"R."
    )
    # broken files
    good = folder / "good.bin"
    torch.save({"w": torch.zeros(1000)}, good)
    save("names_a_server_file.pt", str(good))  # compare/load_into take a str as a path: it must not get that far
    raw = good.read_bytes()
    (folder / "cut_half.pt").write_bytes(raw[: len(raw) // 2])
    (folder / "cut_tail.pt").write_bytes(raw[:-10])
    f.update({"cut_half.pt": folder / "cut_half.pt", "cut_tail.pt": folder / "cut_tail.pt"})
    f["short_record.pt"] = torch_zip(folder / "short_record.pt", _state(("w", _tensor(1000))), {"0": b"\0" * 16})
    f["storage_2e40.pt"] = torch_zip(folder / "storage_2e40.pt", _state(("w", _tensor(2**40))), {"0": b"\0" * 16})
    f["missing_record.pt"] = torch_zip(folder / "missing_record.pt", _state(("w", _tensor(4, key="5"))),
                                       {"0": b"\0" * 16})  # fmt: skip
    f["negative_size.pt"] = torch_zip(folder / "negative_size.pt", _state(("w", _tensor(4, size=(-5,)))),
                                      {"0": b"\0" * 16})  # fmt: skip
    f["deflated.pt"] = torch_zip(folder / "deflated.pt", _state(("w", _tensor(4))), {"0": b"\0" * 16},
                                 compression=zipfile.ZIP_DEFLATED)  # fmt: skip
    with zipfile.ZipFile(folder / "not_torch.pt", "w") as z:
        z.writestr("notes.txt", "hello")
    f["not_torch.pt"] = folder / "not_torch.pt"
    f["garbage_pickle.pt"] = torch_zip(folder / "garbage_pickle.pt", b"\x80\x02garbage")
    f["entries_claim.pt"] = folder / "entries_claim.pt"  # 80 bytes whose end record claims 60,000 entries
    f["entries_claim.pt"].write_bytes(b"PK\x03\x04" + bytes(60) + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 60_000,
                                                                              60_000, 0, 0, 0))  # fmt: skip
    # a classic end record claiming 5 entries, overridden (as zipfile does) by a zip64 one claiming 10^7
    zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 10**7, 10**7, 10**9, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 64, 1)
    classic = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 5, 5, 400, 0, 0)
    f["zip64_claim.pt"] = folder / "zip64_claim.pt"
    f["zip64_claim.pt"].write_bytes(b"PK\x03\x04" + bytes(60) + zip64 + locator + classic)
    f["directory_claim.pt"] = folder / "directory_claim.pt"  # 10 entries in a 50 MB directory
    f["directory_claim.pt"].write_bytes(b"PK\x03\x04" + bytes(60) + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 10,
                                                                                10, 50 * 2**20, 0, 0))  # fmt: skip
    torch.save({"w": torch.arange(4.0)}, folder / "legacy.pt", _use_new_zipfile_serialization=False)
    f["legacy.pt"] = folder / "legacy.pt"
    (folder / "legacy_cut.pt").write_bytes((folder / "legacy.pt").read_bytes()[:-8])
    f["legacy_cut.pt"] = folder / "legacy_cut.pt"
    f["legacy_8GB.pt"] = _legacy_with_claim(folder / "legacy_8GB.pt", 2**31)
    f["legacy_2e40.pt"] = _legacy_with_claim(folder / "legacy_2e40.pt", 2**40)
    f["giant.pt"] = giant_pt(folder / "giant.pt")
    f["pwn.pt"] = hostile_pickle(folder / "pwn.pt")
    f["pwn_legacy.pkl"] = legacy_pickle(folder / "pwn_legacy.pkl")
    (folder / "pwn_proto4.pkl").write_bytes(pickle.dumps({"p": Pwn4()}, protocol=4))
    f["pwn_proto4.pkl"] = folder / "pwn_proto4.pkl"
    (folder / "plain.pkl").write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=2))
    f["plain.pkl"] = folder / "plain.pkl"
    (folder / "image.pt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    f["image.pt"] = folder / "image.pt"
    ok = {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    for name, header in (
        ("st_offsets", {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 160]}}),
        ("st_dtype", {"w": {"dtype": "Q99", "shape": [4], "data_offsets": [0, 16]}}),
        ("st_shape", {"w": {"dtype": "F32", "shape": [5], "data_offsets": [0, 16]}}),
        ("st_negative", {"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}),
        ("st_entry", {"w": 5}),
        ("st_deep_order", {"__metadata__": {"lab.key_order": "[" * 100_000}, **ok}),
        ("st_mixed_order", {"__metadata__": {"lab.key_order": '[1, "w"]'}, **ok}),
    ):
        f[f"{name}.safetensors"] = safetensors_file(folder / f"{name}.safetensors", header, b"\0" * 16)
    f["st_huge_header.safetensors"] = folder / "st_huge_header.safetensors"
    with open(f["st_huge_header.safetensors"], "wb") as out:  # a 40 MB header of spaces (sparse on disk)
        out.write(struct.pack("<Q", 40 * 2**20) + b"{")
        out.truncate(8 + 40 * 2**20 + 16)
    return f


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return hostile_files(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(autouse=True)
def _no_marker():
    PWNED.unlink(missing_ok=True)
    yield
    assert not PWNED.exists(), "a file's code ran"


# What each file must give: a refusal containing these words, or (None) a load whose report is a sentence.
EXPECTED = {
    "shared40_dict.pt": "No weights found", "shared40_list.pt": "not weights", "shared40_tuple.pt": "not weights",
    "shared40_mixed.pt": "No weights found", "cycle_dict.pt": None, "cycle_list.pt": "No weights found",
    "deep5000_dict.pt": "No weights found", "deep5000_list.pt": "not weights", "deep5000_tuple.pt": "not weights",
    "deep30000_dict.pt": "No weights found", "deep30000_list.pt": "not weights",
    "flat_2M_ints.pt": "500,000 pickled objects", "flat_10M_ints.pt": "MiB of pickle",
    "keys_not_strings.pt": None, "keys_long.pt": None, "odd_tensors.pt": None, "quantized.pt": None,
    "view_2e40.pt": None, "shadowing.pt": None, "bytearray.pt": "bytearray", "tensor_2e40.pt": "memory",
    "cut_half.pt": "zip directory", "cut_tail.pt": "zip directory", "short_record.pt": "more data",
    "storage_2e40.pt": "more data", "missing_record.pt": "not in the file", "negative_size.pt": "corrupt",
    "deflated.pt": "compressed", "not_torch.pt": "no data.pkl", "garbage_pickle.pt": "corrupt",
    "entries_claim.pt": "entries", "zip64_claim.pt": "10,000,000 entries", "directory_claim.pt": "52,428,800-byte",
    "legacy.pt": None, "legacy_cut.pt": "corrupt", "legacy_8GB.pt": "corrupt",
    "legacy_2e40.pt": "memory", "giant.pt": "corrupt", "pwn.pt": "refused", "pwn_legacy.pkl": "refused",
    "pwn_proto4.pkl": "refused", "plain.pkl": "plain Python pickle", "image.pt": "PNG image",
    "st_offsets.safetensors": "offsets", "st_dtype.safetensors": "data type", "st_shape.safetensors": "shape",
    "st_negative.safetensors": "not a valid safetensors", "st_entry.safetensors": "not a valid safetensors",
    "st_deep_order.safetensors": None, "st_mixed_order.safetensors": None,
    "st_huge_header.safetensors": "16 MiB", "names_a_server_file.pt": "text string",
}  # fmt: skip


def test_every_hostile_file_has_an_expectation(files):
    assert set(files) == set(EXPECTED)


# ----------------------------------------------------------------------------------------------------------
# walk: visits, depth, laziness
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "budget"), [("dict", ck.MAX_VISITS), ("list", 5_000), ("tuple", 5_000),
                                              ("mixed", 5_000)])  # fmt: skip
def test_walk_counts_visits_not_objects(kind, budget):
    """10 levels of sharing: 11 objects, 2^11 - 1 paths, each visited; 40 levels: stopped at the budget."""
    assert sum(1 for _ in ck.walk(shared(10, kind))) == 2**11 - 1 + 2**10  # and each leaf container's one entry
    with pytest.raises(ck.WalkLimit, match=f"more than {budget:,} entries"):
        for _ in ck.walk(shared(40, kind), max_visits=budget):
            pass


@pytest.mark.parametrize("kind", ["dict", "list", "tuple", "frozenset"])
def test_walk_stops_at_depth_without_recursion(kind):
    with pytest.raises(ck.WalkLimit, match=f"more than {ck.MAX_DEPTH} levels"):
        for _ in ck.walk(deep(5_000, kind)):
            pass
    assert sum(1 for _ in ck.walk(deep(5_000, kind), levels=3)) == 4  # levels: not opened, no error


def test_walk_follows_cycles_only_as_far_as_the_budget():
    loop: list = []
    loop.append(loop)
    with pytest.raises(ck.WalkLimit, match="levels"):
        for _ in ck.walk(loop):
            pass
    with pytest.raises(ck.WalkLimit, match="entries"):
        for _ in ck.walk(loop, max_depth=10**9, max_visits=1_000):
            pass


def test_walk_is_lazy_on_huge_flat_containers():
    """A list of 10^7 ints and a set of 10^6: stopped after the budget, not after copying them."""
    for big in ([1] * 10_000_000, set(range(1_000_000))):
        walked = ck.walk(big, max_visits=1_000)
        assert [next(walked) for _ in range(1_000)][-1][0] == (998,)
        with pytest.raises(ck.WalkLimit):
            next(walked)


def test_walk_reads_mappings_through_their_type():
    class Shadowed(OrderedDict):
        pass

    od = Shadowed(w=torch.zeros(1))
    od.items = lambda: iter([("fake", 1)])  # what a loaded OrderedDict can carry
    assert [path for path, _ in ck.walk(od)] == [(), ("w",)]


def test_brief_reprs_are_bounded():
    assert brief([0, 1]) == "[0, 1]" and brief((0.5, None, "a", torch.float32)) == "(0.5, None, 'a', torch.float32)"
    for value in ([1] * 10_000_000, 10**600, "x" * 10**6, [torch.zeros(3)], deep(5_000, "list"), shared(40, "list")):
        assert brief(value) is None


# ----------------------------------------------------------------------------------------------------------
# Every reader of a loaded object: contents, find_state_dict, compare, load_into, file_info
# ----------------------------------------------------------------------------------------------------------

HOSTILE_OBJECTS = {
    **{f"shared40_{k}": (lambda k=k: {"model": shared(40, k)}) for k in ("dict", "list", "tuple", "mixed")},
    **{f"deep5000_{k}": (lambda k=k: {"model": deep(5_000, k)}) for k in ("dict", "list", "tuple", "frozenset")},
    "flat_10M": lambda: {"model": [1] * 10_000_000},
    "wide_300k": lambda: {f"k{i}": 0 for i in range(300_000)},
    "holders_2k_x_2k": lambda: dict.fromkeys((f"k{i}" for i in range(2_000)), {f"j{j}": 0 for j in range(2_000)}),
}


@pytest.mark.parametrize("name", list(HOSTILE_OBJECTS))
def test_readers_of_loaded_objects_are_bounded(name):
    obj = HOSTILE_OBJECTS[name]()
    table = ck.contents(obj, max_rows=300)
    assert len(table) <= 301
    readers = (ck.find_state_dict, lambda o: ck.compare(nn.Linear(2, 2), o), lambda o: ck.load_into(nn.Linear(2, 2), o))
    for read in readers:
        with pytest.raises(LabError) as info:
            read(obj)
        assert_sentence(str(info.value))


@pytest.mark.parametrize("kind", ["dict", "list", "tuple", "mixed"])
def test_weights_beside_a_hostile_extra_still_load(kind):
    """A file whose weights are fine and whose extra is a 2^40-path structure: loaded, listing cut with a last row."""
    model = nn.Linear(3, 2)
    source = {"model": nn.Linear(3, 2).state_dict(), "extra": shared(40, kind), "deep": deep(5_000, "list")}
    report = ck.load_into(model, source)
    assert report.ok and any("'extra'" in note for note in report.notes)
    table = ck.contents(source)
    if kind == "dict":  # lists and tuples are one row each in the table: only the dicts are walked into
        assert table.iloc[-1]["key"] == "…" and "listing cut" in render(table.iloc[-1]["kind"])
    assert len(ck.contents(source, max_rows=300)) <= 301
    table = ck.contents(source, max_rows=2)
    assert len(table) == 3 and "after 2 rows" in render(table.iloc[-1]["kind"])


def test_many_tensors_load_within_the_budget():
    """100,000 tiny tensors (one shared zero, as a hostile file would share it) are 100,000 visits: within bounds."""
    zero = torch.zeros(1)
    report = ck.compare(nn.Linear(1, 1), {f"k{i}": zero for i in range(100_000)})
    assert len(report.unexpected) == 100_000 and report.problems().startswith("2 missing")


def test_non_string_keys_odd_tensors_and_metadata_are_skipped_with_notes():
    t = torch.zeros(2, 3)
    source = OrderedDict([(1, t), ((1, 2), t), (None, t), (torch.zeros(3), t), ("weight", t), ("bias", torch.zeros(2)),
                          ("s", torch.eye(3).to_sparse()), ("m", torch.empty(2**40, device="meta")),
                          ("q", torch.zeros(2, dtype=torch.uint8).view(torch.bits8))])  # fmt: skip
    source._metadata = {"": {"version": "a string"}, 5: {}, "weight": [1, 2]}  # hostile module versions
    report = ck.load_into(nn.Linear(3, 2), source, strict=False)
    assert report.loaded == ["weight", "bias"]
    notes = " ".join(report.notes)
    assert "4 tensors (1, (1, 2), None, a Tensor)" in notes and "3 tensors ('s', 'm', 'q')" in notes
    sd, _ = ck.find_state_dict(source)
    assert sd._metadata == OrderedDict([("", {})])


def test_odd_dtypes_and_shared_storage_load():
    base = torch.arange(12.0)
    source = {"weight": base[:6].view(2, 3), "bias": base[6:8]}  # one storage for both
    model = nn.Linear(3, 2)
    assert ck.load_into(model, source).ok and torch.equal(model.bias.detach(), base[6:8])
    for dtype in (torch.complex64, torch.bool, torch.float16, torch.int64, torch.uint8):
        assert ck.load_into(nn.Linear(3, 2), {"weight": torch.ones(2, 3, dtype=dtype), "bias": torch.ones(2)}).ok
    empty = nn.Linear(0, 2)
    assert ck.load_into(empty, {"weight": torch.zeros(2, 0), "bias": torch.zeros(2)}).ok


def test_long_keys_and_repeated_wrappers():
    """A 100,000-character key, and 'module.' repeated 50,000 times (one pass per prefix would be 50,000 passes)."""
    key = "module." * 50_000 + "weight"
    report = ck.compare(nn.Linear(3, 2), {key: torch.zeros(2, 3), "x" * 100_000: torch.zeros(2)})
    assert report.unexpected and len(report.problems()) < 400
    assert max(len(k) for k in report.to_frame()["key in file"]) <= 200
    assert ck.compare(nn.Linear(3, 2), {key: torch.zeros(2, 3)}).unexpected  # the only key: 8 prefixes at most
    table = ck.contents({"x" * 100_000: torch.zeros(2)})
    assert len(table.iloc[0]["key"]) <= 200


# ----------------------------------------------------------------------------------------------------------
# Files through the lab: load, then every reader; each file its expected sentence
# ----------------------------------------------------------------------------------------------------------


def _upload(path: Path):
    """What /checkpoints_load does with a file, without Gradio: load, list, report against the default model."""
    return tab.run_upload(str(path), {}, DEFAULT)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_hostile_file_through_the_lab(files, name):
    path, words = files[name], EXPECTED[name]
    if words is None:
        status, _, inside, keys, _, _ = _upload(path)
        assert status.startswith("**Not loaded**") or status.startswith("**Loaded**"), status
        assert len(inside) <= tab.CONTENT_ROWS + 1
        info = ck.file_info(path)
        assert info["file"] == path.name and all(isinstance(k, str) for k in info["first keys"])
        return
    with pytest.raises(gr.Error) as info:
        guarded(_upload)(path)
    message = info.value.message
    assert words in message, message
    assert_sentence(message, str(path.parent))
    try:
        ck.load(path)
    except LabError as exc:  # refused by the loader: named by its base name; file_info refuses it too
        assert repr(path.name) in str(exc)
        with pytest.raises(LabError):
            ck.file_info(path)
    else:  # read, but holds no weights: file_info still describes it
        assert ck.file_info(path)["file"] == path.name


def test_shadowing_attributes_do_not_reach_the_model(files):
    model = nn.Sequential(nn.Linear(2, 2, bias=False))
    report = ck.load_into(model, ck.load(files["shadowing.pt"]))
    assert report.ok and model[0].weight.abs().sum() == 0
    cells = ck.contents(ck.load(files["shadowing.pt"])).iloc[0].tolist()
    row = [render(c) if isinstance(c, Term) else c for c in cells]
    assert row == ["0.weight", "tensor", "(2, 2)", "float32", 4]


def test_scan_refuses_before_unpickling(files, monkeypatch):
    """The bytearray and the payloads are refused by the scan: torch.load is never called for them."""
    calls = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))
    for name in ("bytearray.pt", "pwn.pt", "pwn_legacy.pkl", "pwn_proto4.pkl", "plain.pkl", "flat_2M_ints.pt",
                 "flat_10M_ints.pt", "deflated.pt", "not_torch.pt", "entries_claim.pt"):  # fmt: skip
        with pytest.raises(LabError):
            ck.load(files[name])
    assert calls == []


def test_scan_bounds_are_the_constants(tmp_path, monkeypatch):
    """A real file just over each bound is refused with a sentence naming the bound."""
    path = tmp_path / "w.pt"
    torch.save({f"k{i}": torch.zeros(1) for i in range(20)}, path)
    monkeypatch.setattr(scan, "MAX_ZIP_ENTRIES", 10)
    with pytest.raises(LabError, match="at most 10 "):
        ck.load(path)
    monkeypatch.setattr(scan, "MAX_ZIP_ENTRIES", 100)
    monkeypatch.setattr(scan, "MAX_PICKLE_OPS", 100)
    with pytest.raises(LabError, match="more than 100 pickled objects"):
        ck.load(path)
    monkeypatch.setattr(scan, "MAX_PICKLE_OPS", 10_000)
    monkeypatch.setattr(scan, "MAX_PICKLE_BYTES", 100)
    with pytest.raises(LabError, match="MiB of pickle"):
        ck.load(path)
    monkeypatch.setattr(scan, "MAX_PICKLE_BYTES", 2**20)
    assert len(ck.load(path)) == 20
    monkeypatch.setattr(scan, "LEGACY_MAX_BYTES", 100)
    torch.save({"w": torch.zeros(100)}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(LabError, match="legacy"):
        ck.load(path)


@pytest.mark.parametrize("name", ["été 🙂.pt", "line\nbreak.pt", "n" * 200 + ".pt"], ids=["unicode", "newline", "long"])
def test_odd_names_are_shown_short_and_on_one_line(files, tmp_path, name):
    for source in ("pwn.pt", "image.pt", "cut_half.pt", "st_dtype.safetensors"):
        path = tmp_path / (name if source.endswith(".pt") else name.replace(".pt", ".safetensors"))
        path.write_bytes(files[source].read_bytes())
        with pytest.raises(LabError) as info:
            ck.load(path)
        assert_sentence(str(info.value), str(tmp_path))
        assert len(str(info.value)) < 500


def test_unet_and_surgery_weight_loaders_refuse_hostile_files(files, tmp_path):
    from lab import segment, surgery

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"n_channels": 3, "n_classes": 1, "base_channels": 4, "depth": 2}))
    for name in ("shared40_dict.pt", "deep5000_list.pt", "bytearray.pt", "pwn.pt", "storage_2e40.pt",
                 "keys_not_strings.pt", "shadowing.pt"):  # fmt: skip
        for paths in ([files[name]], [files[name], config]):
            with pytest.raises(LabError) as info:
                segment.load_weights(paths, "cpu")
            assert_sentence(str(info.value), str(files[name].parent))
        with pytest.raises(LabError) as info:
            surgery.resnet("resnet18", str(files[name]))
        assert_sentence(str(info.value), str(files[name].parent))
    for text in ("[" * 30_000 + "]" * 30_000, "1" * 5_000, '{"x": 1}'):
        config.write_text(text)
        with pytest.raises(LabError) as info:
            segment.load_weights([files["legacy.pt"], config], "cpu")
        assert_sentence(str(info.value), "unexpected keyword", "__init__")


# ----------------------------------------------------------------------------------------------------------
# Runaway guard: every hostile file in one subprocess, with a generous time limit and memory bound
# ----------------------------------------------------------------------------------------------------------

GUARD = r"""
import json, sys, time
from pathlib import Path
from lab import checkpoints as ck
from ui import checkpoints as tab

def status_mb(field):
    return int(Path("/proc/self/status").read_text().split(field + ":")[1].split()[0]) / 1024

ck.contents(ck.find_state_dict(ck.default_model().state_dict())[0])  # warm every import first
out = {}
for path in json.loads(sys.argv[1]):
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS (Linux), so each file's peak is its own
    before, start = status_mb("VmRSS"), time.perf_counter()
    try:
        tab.run_upload(path, {}, tab.DEFAULT)
        result = "loaded"
    except ck.LabError:
        result = "refused"
    except Exception as exc:
        result = f"BUG {type(exc).__name__}"
    out[Path(path).name] = [result, round(time.perf_counter() - start, 2), round(status_mb("VmHWM") - before)]
print(json.dumps(out))
"""


def test_no_hostile_file_runs_away(files):
    """All of them, one after another, in a fresh process: a runaway walk would blow the timeout or the memory
    bound (each file's own peak RSS growth, measured as tests/test_uploads.py measures the server's)."""
    paths = [str(p) for p in files.values()]
    done = subprocess.run([sys.executable, "-c", GUARD, json.dumps(paths)], capture_output=True, text=True,
                          timeout=180, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not {name: row for name, row in out.items() if "BUG" in row[0]}
    assert max(growth for _, _, growth in out.values()) < 300, out


# ----------------------------------------------------------------------------------------------------------
# Item 7: what the lab saves, it loads back through its own upload paths
# ----------------------------------------------------------------------------------------------------------


def test_the_upload_cap_is_one_number():
    import app

    assert app.LAUNCH_KW["max_file_size"] == tab.UPLOAD_MAX_BYTES == ck.UPLOAD_MAX_BYTES == ck.MAX_LOAD_BYTES


def _largest_models() -> dict[str, nn.Module]:
    """The largest model each tab accepts, on the meta device (no weight allocated)."""
    from lab import surgery, unet

    hidden = ",".join([str(surgery.MAX_HIDDEN)] * surgery.MAX_HIDDEN_LAYERS)
    largest = surgery.Surgery(arch="resnet152", hidden=hidden, num_classes=surgery.MAX_CLASSES,
                              num_extra=surgery.MAX_EXTRA, extra_output=True)  # fmt: skip
    with torch.device("meta"):
        models = {
            "surgery": surgery.apply(surgery.resnet("resnet152"), largest),
            # U-Net and Train tabs: UNet() refuses more than MAX_PARAMS; base 152, depth 4 is the largest on the grid
            "unet": unet.UNet(3, 2, base_channels=152, depth=4),
        }
        # Compose: MAX_PARAMS parameters in as many layers as it accepts (each layer adds a header)
        layers = 64
        width = int((50_000_000 / layers) ** 0.5)
        models["compose"] = nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)])
    return models


@pytest.mark.parametrize("tab_name", ["surgery", "unet", "compose"])
def test_largest_download_of_each_tab_fits_the_cap(tab_name):
    model = _largest_models()[tab_name]
    params = sum(p.numel() for p in model.parameters())
    assert params > {"surgery": 160e6, "unet": 95e6, "compose": 49e6}[tab_name]  # truly the largest
    for fmt in ck.FORMATS:
        for what in ck.WHATS if fmt != ".safetensors" else ("state_dict",):
            assert ck.file_bytes(model, fmt, what) <= ck.UPLOAD_MAX_BYTES, (fmt, what)


@pytest.mark.parametrize("wrapper", ["none", "dataparallel", "ddp"])
def test_file_bytes_bounds_every_real_save(tmp_path, wrapper):
    """The estimate `save` checks up front is an upper bound of the written size, in every format, what and wrapper."""
    from lab.unet import UNet

    for model in (ck.default_model(), UNet(3, 2, base_channels=8, depth=3)):
        wrapped = ck.parallel_wrap(model, wrapper) if wrapper != "none" else model
        optimizer = ck.training_objects(wrapped)[0]
        for fmt in ck.FORMATS:
            for what in ck.WHATS if fmt != ".safetensors" else ("state_dict",):
                path = ck.save(wrapped, tmp_path / f"m{fmt}", what=what, optimizer=optimizer)
                data = sum(t.numel() * t.element_size() for t in model.state_dict().values())
                assert data <= path.stat().st_size <= ck.file_bytes(wrapped, fmt, what, optimizer), (fmt, what)


def test_save_past_the_cap_is_refused_up_front(tmp_path, monkeypatch):
    monkeypatch.setattr(ck_io, "UPLOAD_MAX_BYTES", 2**20)
    model = nn.Linear(1024, 512)  # 2 MiB of weights
    with pytest.raises(LabError, match=r"would write a 3 MiB file; the lab loads files of at most 1 MiB back"):
        ck.save(model, tmp_path / "big.pt", what="checkpoint")
    monkeypatch.setattr(ck_io, "file_bytes", lambda *args, **kwargs: 0)  # an estimate that is short: the written size
    with pytest.raises(LabError, match=r"would write a 2 MiB file"):
        ck.save(model, tmp_path / "big.safetensors")
    assert list(tmp_path.iterdir()) == []  # nothing half-written, nothing handed out
    with pytest.raises(gr.Error, match="at most 1 MiB"):
        guarded(tab.run_save)({"Compose": model}, "Compose", "state_dict", ".pt", "none", False)


def test_tutorial_unet_ddp_checkpoint_round_trips():
    """The issue's case, real: the tutorial's U-Net saved DDP-wrapped as a .pth training checkpoint (66 MB) loads
    back through the function behind /checkpoints_load."""
    from lab.unet import UNet

    models = {"U-Net": UNet(3, 2, bilinear=True)}
    path, *_ = tab.run_save(models, "U-Net", "checkpoint", ".pth", "ddp", False)
    assert 50 * 2**20 < os.path.getsize(path) <= ck.UPLOAD_MAX_BYTES
    status, *_, loaded = tab.run_upload(path, models, "U-Net")
    assert status.startswith("**Loaded**") and "stripped leading 'module.'" in status
    assert ck.outputs_equal(models["U-Net"], loaded[tab.LOADED])[0]


def test_whole_model_download_is_refused_as_code_by_design():
    """A pickled whole model is offered for download (5.4.2) and refused on upload: unpickling it runs its class."""
    path, *_ = tab.run_save({}, DEFAULT, "model", ".pt", "none", False)
    with pytest.raises(gr.Error, match="pickled whole model"):
        guarded(tab.run_upload)(path, {}, DEFAULT)


# ----------------------------------------------------------------------------------------------------------
# Through the launched app
# ----------------------------------------------------------------------------------------------------------

API_FILES = ["shared40_dict.pt", "shared40_mixed.pt", "cycle_list.pt", "deep30000_dict.pt", "deep5000_tuple.pt",
             "flat_2M_ints.pt", "bytearray.pt", "pwn.pt", "pwn_proto4.pkl", "storage_2e40.pt", "legacy_2e40.pt",
             "missing_record.pt", "st_offsets.safetensors", "image.pt", "keys_not_strings.pt", "odd_tensors.pt",
             "shadowing.pt", "cycle_dict.pt", "names_a_server_file.pt"]  # fmt: skip


@pytest.mark.api
@pytest.mark.parametrize("name", API_FILES)
def test_checkpoints_load_endpoint(client, files, name):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    words = EXPECTED[name]
    if words is None:
        status, *_ = client.predict(handle_file(str(files[name])), DEFAULT, api_name="/checkpoints_load")
        assert status.startswith("**Not loaded**") or status.startswith("**Loaded**")
        return
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(files[name])), DEFAULT, api_name="/checkpoints_load")
    assert words in str(info.value), str(info.value)
    assert_sentence(str(info.value), str(files[name].parent))


@pytest.mark.api
def test_a_lab_download_over_the_old_cap_uploads(client, tmp_path):
    """A 66 MB file (the old cap was 50 MB) goes through gradio_client and the server's upload route."""
    from gradio_client import handle_file

    from lab.unet import UNet

    path = ck.save(UNet(3, 2, bilinear=True), tmp_path / "unet.pth", what="checkpoint")
    assert path.stat().st_size > 50 * 2**20
    status, *_ = client.predict(handle_file(str(path)), DEFAULT, api_name="/checkpoints_load")
    assert status.startswith("**Not loaded**") and "'model'" in status  # read, found, compared: not the default CNN

"""Reading an untrusted file before anything of it is unpickled: its format from its first bytes, its pickle's
instructions counted and its globals listed without running them (pickletools), its zip records checked.

Untrusted files are bounded by counts, not only by size: a 2 kB pickle can describe 2^40 paths through one shared
dict, and a 20 MB one ten million objects (13 s and 114 MB to unpickle). Every refusal is a LabError naming the
file by its base name, in the visitor's terms (never torch's or the operating system's text).
"""

from __future__ import annotations

import io
import pickletools
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lab.checkpoints.bounds import cut
from lab.errors import LabError, Term, shown

__all__ = [
    "LEGACY_MAX_BYTES", "MAX_PICKLE_BYTES", "MAX_PICKLE_OPS", "MAX_ZIP_ENTRIES", "SAFETENSORS_MAX_HEADER", "sniff",
    "corrupt", "check_zip", "check_pickle", "unsafe_error",
]  # fmt: skip

LEGACY_MAX_BYTES = 256 * 2**20  # pre-1.6 (non-zip) torch files are read into memory, not mapped
MAX_PICKLE_BYTES = 16 * 2**20  # a file's object list (data.pkl): ResNet-152 DDP checkpoint, 125 kB
MAX_PICKLE_OPS = 500_000  # pickle instructions, counted before unpickling: ~37 per tensor, ~13,000 tensors
MAX_ZIP_ENTRIES = MAX_PICKLE_OPS // 10  # one record per tensor storage, and each costs over 10 instructions
SAFETENSORS_MAX_HEADER = 16 * 2**20  # tensor names, dtypes, shapes, offsets: ~100 bytes a tensor

# What other files start with: named in the refusal, so a visitor sees what they sent instead of hex.
_OTHER_FORMATS = (
    (b"\x89PNG", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"%PDF", "pdf"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ", "xz"),
    (b"7z\xbc\xaf", "7z"),
    (b"PK\x05\x06", "empty_zip"),
)


def _mib(n: float, digits: int = 1) -> str:
    return f"{n / 2**20:,.{digits}f}"


def sniff(path: Path, size: int) -> str:
    """'zip' (torch >= 1.6), 'pickle' (legacy torch.save or plain pickle) or 'safetensors', from the bytes."""
    name = shown(path.name)
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) == 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if 8 + header_len > size:
            raise LabError("error.checkpoints.st_header_claim", name=name, claim=header_len, size=size)
        if header_len > SAFETENSORS_MAX_HEADER:
            raise LabError("error.checkpoints.st_header_big", name=name, mib=_mib(header_len),
                           limit=_mib(SAFETENSORS_MAX_HEADER, 0))  # fmt: skip
        return "safetensors"
    kind = next((kind for magic, kind in _OTHER_FORMATS if head.startswith(magic)), None)
    if kind is None and head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        kind = "text"
    described = Term("checkpoints.looks_like", kind=Term(f"checkpoints.kind.{kind}")) if kind else \
        Term("checkpoints.starts_with", hex=head[:8].hex())  # fmt: skip
    raise LabError("error.checkpoints.not_checkpoint", name=name, described=described)


def corrupt(path: Path, reason: str) -> LabError:
    """"File 'x.pt' is truncated or corrupt: <reason>; ...": `reason` is a key under `checkpoints.corrupt.`."""
    return LabError("error.checkpoints.corrupt", name=shown(path.name), reason=Term(f"checkpoints.corrupt.{reason}"))


# ---------------------------------------------------------------------------------------------------------------
# Globals: what weights_only would import, what the lab refuses besides

# Globals torch's weights-only unpickler allows that the lab still refuses: `bytearray(2**34)` asks for 16 GiB of
# zeroed (so really touched) memory from a 60-byte pickle. Checkpoints never need one.
_BLOCKED_GLOBALS = {"builtins.bytearray": "bytearray"}
# The first global that names what a refused file holds -> its words (`checkpoints.unsafe.<hint>`)
_UNSAFE_HINTS = (
    ("argparse.Namespace", "namespace"),
    ("builtins.getattr", "bound_method"),
    ("torch.nn.", "whole_model"),
    ("torchvision.", "whole_model"),
    ("lab.", "whole_model"),
)


def _allowed_globals() -> set[str] | None:
    """The globals `torch.load(weights_only=True)` would import, or None if this torch does not say."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals  # the allowlist weights_only applies
    except ImportError:
        return None
    allowed = set(_get_allowed_globals())
    for item in torch.serialization.get_safe_globals():  # add_safe_globals: none in the lab, but honoured
        allowed.add(item[1] if isinstance(item, tuple) else f"{item.__module__}.{item.__qualname__}")
    return allowed - set(_BLOCKED_GLOBALS)


def _global_name(module: str, name: str) -> str:
    """`module.name` as Python 3 imports it (protocol 2 pickles say `__builtin__`, as torch.load maps too)."""
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"


def unsafe_error(path: Path, names: Any) -> LabError:
    """The refusal of a pickle that imports globals beyond tensors: what it holds, in words, and the first three."""
    names = sorted(set(names))
    hint = next((hint for needle, hint in _UNSAFE_HINTS if any(needle in name for name in names)), "objects")
    listed = ", ".join(cut(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
    return LabError("error.checkpoints.unsafe", name=shown(path.name), what=Term(f"checkpoints.unsafe.{hint}"),
                    listed=listed or Term("checkpoints.unsafe.unknown"))  # fmt: skip


def _refuse_globals(path: Path, names: set[str]) -> None:
    """LabError when the pickle imports anything weights_only (or the lab) would not: nothing of it has run."""
    blocked = sorted(names & set(_BLOCKED_GLOBALS))
    if blocked:
        raise LabError("error.checkpoints.blocked", name=shown(path.name),
                       what=Term(f"checkpoints.blocked.{_BLOCKED_GLOBALS[blocked[0]]}"))  # fmt: skip
    allowed = _allowed_globals()
    unsafe = sorted(names - allowed) if allowed is not None else []
    if unsafe:
        raise unsafe_error(path, unsafe)


# ---------------------------------------------------------------------------------------------------------------
# Pickles: instructions counted, globals listed, nothing made


@dataclass
class _Scan:
    """What one pickle's instructions say, read without running them."""

    ops: int = 0
    globals: set[str] = field(default_factory=set)
    magic: bool = False  # the whole pickle is torch's legacy magic number


def _scan_pickle(stream: Any, path: Path, ops_left: int) -> _Scan:
    """Count one pickle's instructions and list the globals it imports, without unpickling (pickletools.genops).

    Costs ~2 us an instruction and stops at `ops_left`: the count bounds what unpickling would create, since
    each instruction makes at most one object (a shared one is a reference, not a copy).
    """
    scan, args, strings = _Scan(), [], ["", ""]
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            scan.ops += 1
            if scan.ops > ops_left:
                raise LabError("error.checkpoints.pickle_ops", name=shown(path.name), limit=MAX_PICKLE_OPS)
            if opcode.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                scan.globals.add(_global_name(module, name))
            elif opcode.name == "STACK_GLOBAL":  # protocol 4: module and name are the last two strings pushed
                scan.globals.add(_global_name(*strings))
            elif isinstance(arg, str):
                strings = [strings[1], arg]
            if scan.ops <= 3:
                args.append(arg)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - genops on hostile bytes: truncated, unknown opcode, bad UTF-8
        raise corrupt(path, "objects_unreadable") from exc
    scan.magic = scan.ops == 3 and args[1] == torch.serialization.MAGIC_NUMBER
    return scan


def check_pickle(path: Path, size: int) -> None:
    """A non-zip pickle: a plain pickle is refused (code or not), a legacy torch file scanned like a zip's list.

    A legacy file is five pickles (magic number, protocol, system info, the objects, storage keys) and then raw
    storage bytes; at most `MAX_PICKLE_BYTES` of it are read for the scan.
    """
    name = shown(path.name)
    with open(path, "rb") as f:
        head = io.BytesIO(f.read(MAX_PICKLE_BYTES + 1))
    first = _scan_pickle(head, path, MAX_PICKLE_OPS)
    _refuse_globals(path, first.globals)
    if not first.magic:
        raise LabError("error.checkpoints.plain_pickle", name=name)
    if size > LEGACY_MAX_BYTES:
        raise LabError("error.checkpoints.legacy_big", name=name, mib=_mib(size, 0), limit=_mib(LEGACY_MAX_BYTES, 0))
    ops_left = MAX_PICKLE_OPS - first.ops
    for _ in range(4):
        if head.tell() > MAX_PICKLE_BYTES:
            raise LabError("error.checkpoints.pickle_list_over", name=name, limit=_mib(MAX_PICKLE_BYTES, 0))
        scan = _scan_pickle(head, path, ops_left)
        _refuse_globals(path, scan.globals)
        ops_left -= scan.ops


# ---------------------------------------------------------------------------------------------------------------
# Zips: the end record, the entries, the object list


def _zip_directory(path: Path, size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) as a zip's end record declares them, or None when it has none.

    Read from the last 64 kB before anything parses the central directory, which builds one Python object per
    entry (a 600 MB zip can hold millions). Like `zipfile`, a zip64 end record, when its locator sits right
    before the classic one, overrides it: torch.save always writes one.
    """
    tail_len = min(size, 22 + 65535)
    with open(path, "rb") as f:
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        entries, directory = struct.unpack("<HL", tail[at + 10 : at + 16])
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] != b"PK\x06\x07":
            return None if entries == 0xFFFF or directory == 0xFFFFFFFF else (entries, directory)
        (offset,) = struct.unpack("<Q", locator[8:16])
        if offset > size - 56:
            return None
        f.seek(offset)
        record = f.read(56)
        if record[:4] != b"PK\x06\x06":
            return None
        return struct.unpack("<QQ", record[32:48])


def check_zip(path: Path, size: int, *, scan: bool) -> None:
    """The zip's end record, entry count, storage method and object list, checked before torch opens it."""
    name = shown(path.name)
    found = _zip_directory(path, size)
    if found is None:
        raise corrupt(path, "no_directory")
    if not scan:
        return
    entries, directory = found
    if entries > MAX_ZIP_ENTRIES or directory > 128 * MAX_ZIP_ENTRIES:  # torch.save's entries take ~75 bytes each
        raise LabError("error.checkpoints.zip_entries", name=name, entries=entries, directory=directory,
                       limit=MAX_ZIP_ENTRIES)  # fmt: skip
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            packed = [info.filename for info in infos if info.compress_type != zipfile.ZIP_STORED]
            if packed:
                raise LabError("error.checkpoints.zip_compressed", name=name, entry=shown(packed[0]))
            top = infos[0].filename.split("/")[0] if infos else ""
            try:
                info = archive.getinfo(f"{top}/data.pkl")
            except KeyError:
                raise LabError("error.checkpoints.zip_not_torch", name=name) from None
            if info.file_size > MAX_PICKLE_BYTES:
                raise LabError("error.checkpoints.pickle_list_big", name=name, mib=_mib(info.file_size),
                               limit=_mib(MAX_PICKLE_BYTES, 0))  # fmt: skip
            data = archive.read(info)  # checks the CRC too
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile on hostile bytes: bad offsets, CRC, encryption, ...
        raise corrupt(path, "zip_unreadable") from exc
    _refuse_globals(path, _scan_pickle(io.BytesIO(data), path, MAX_PICKLE_OPS).globals)

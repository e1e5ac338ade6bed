"""Hardening (issue 9): hostile uploads through the real upload paths (gradio_client `handle_file`).

Each file is refused with a sentence (an AppError whose message is neither empty, nor the lab's internal-error
text, nor Gradio's generic one), the server's memory stays bounded, and nothing of the file runs:

- a non-image as an image, a decompression bomb (a few-kB PNG declaring 30000 x 30000, and a complete one of
  ~110 kB whose pixels would fill 112 MB packed / 2.7 GB as RGB), a corrupt PNG: the U-Net tab's image upload and
  the Train tab's image/mask pairs;
- the hostile pickle (`__reduce__` -> `os.system("touch /tmp/pwned")`, as a torch zip and as a legacy pickle)
  and a .pt whose tensor claims 4 GB: the Checkpoints tab's loader and the Surgery tab's weights;
- a file 1 MiB over the upload cap (sparse: no real data is written): refused by gradio_client before sending, and
  by the server's upload route when sent anyway (`launch(max_file_size=lab.checkpoints.UPLOAD_MAX_BYTES)`);
- a path outside the upload folder passed as a file: refused by Gradio.

Memory: the app runs inside the pytest process (tests/conftest.py), so its peak RSS is this process's. Linux
lets a process reset its own high-water mark (`/proc/self/clear_refs` <- "5"), so each upload's peak is
measured alone; `PEAK_GROWTH_MB` is the bound (the bomb decoded would need 2.7 GB, the .pt 4 GB).
The builders below also serve tests/test_fuzz_lab.py and bench/load.py.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from lab import checkpoints as ck

PWNED = Path("/tmp/pwned")
PEAK_GROWTH_MB = 300
UPLOAD_LIMIT = ck.UPLOAD_MAX_BYTES  # app.LAUNCH_KW["max_file_size"]: the lab's largest download (issue 12, item 7)
INTERNAL = "internal error"
GRADIO_GENERIC = "has not enabled verbose error reporting"

pytestmark = pytest.mark.api

# ----------------------------------------------------------------------------------------------------------
# Hostile files
# ----------------------------------------------------------------------------------------------------------


class Pwn:
    """Unpickling this runs `touch /tmp/pwned`."""

    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(path: Path, side: int = 30000, complete: bool = False) -> Path:
    """A 1-bit grey PNG declaring side x side. `complete=False`: only the first rows' data (a few kB);
    `complete=True`: every row, zeros compressed at level 9 (~110 kB for 30000: 112 MB of packed pixels)."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)  # filter byte + packed pixels
    comp = zlib.compressobj(9)
    rows = side if complete else 64
    body = b"".join(comp.compress(row * min(1024, rows - i)) for i in range(0, rows, 1024)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body)
                     + _png_chunk(b"IEND", b""))
    return path


def valid_png(path: Path, w: int = 64, h: int = 48, mode: str = "RGB") -> Path:
    from PIL import Image

    Image.new(mode, (w, h), 128 if mode == "L" else (10, 200, 30)).save(path, "PNG")
    return path


def corrupt_png(path: Path) -> Path:
    """A real PNG whose pixel data (IDAT) is overwritten with garbage; its header still reads fine."""
    from PIL import Image

    buf = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(buf, "PNG")
    data = bytearray(buf.getvalue())
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 200] = os.urandom(190)
    path.write_bytes(bytes(data))
    return path


def not_an_image(path: Path) -> Path:
    path.write_text("#!/bin/sh\ntouch /tmp/pwned\n")
    return path


def hostile_pickle(path: Path) -> Path:
    """A torch zip holding a real tensor and an object whose unpickling would create /tmp/pwned."""
    torch.save({"weight": torch.zeros(2, 2), "payload": Pwn()}, path)
    return path


def legacy_pickle(path: Path) -> Path:
    """The same payload as a plain (pre-zip) pickle stream."""
    path.write_bytes(pickle.dumps({"payload": Pwn()}, protocol=2))
    return path


class _Storage:
    def __init__(self, numel: int):
        self.numel = numel


class _Rebuild:
    def __init__(self, storage: _Storage, numel: int):
        self.storage, self.numel = storage, numel

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, (self.numel,), (1,), False, OrderedDict()))


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _Storage):
            return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
        return None


def giant_pt(path: Path, numel: int = 2**30) -> Path:
    """A 1 kB torch zip whose one tensor claims `numel` float32 (4 GB by default) over a 16-byte record."""
    data = io.BytesIO()
    _Pickler(data, protocol=2).dump({"weight": _Rebuild(_Storage(numel), numel)})
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data.getvalue())
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", b"\0" * 16)
        z.writestr("archive/version", "3\n")
    return path


def sparse_file(path: Path, size: int = UPLOAD_LIMIT + 2**20) -> Path:
    """`size` bytes (by default 1 MiB over the upload cap) that take no disk space (a hole): the size check must not
    need real data."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


# ----------------------------------------------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    text = Path("/proc/self/status").read_text()
    return int(text.split(f"{field}:")[1].split()[0]) / 1024


def reset_peak() -> float:
    """Reset this process's peak RSS to its current RSS (Linux >= 4.0); returns the current RSS in MB."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not permitted here: the peak then covers the whole run, a looser bound
    return _status_mb("VmRSS")


def peak_mb() -> float:
    return _status_mb("VmHWM")


PEAKS: dict[str, float] = {}


def refused(client, label: str, *args, api_name: str, **kwargs) -> str:
    """Call an endpoint that must refuse; return its message after checking it is a sentence and memory held."""
    from gradio_client.exceptions import AppError

    PWNED.unlink(missing_ok=True)
    before = reset_peak()
    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name, **kwargs)
    growth = peak_mb() - before
    PEAKS[label] = growth
    message = str(info.value)
    assert message.strip(), f"{label}: empty message"
    assert INTERNAL not in message.lower(), f"{label}: internal error instead of a refusal: {message}"
    assert GRADIO_GENERIC not in message, f"{label}: Gradio's generic error instead of a sentence"
    assert growth < PEAK_GROWTH_MB, f"{label}: peak RSS grew by {growth:.0f} MB"
    assert not PWNED.exists(), f"{label}: the file's code ran"
    return message


@pytest.fixture(scope="module", autouse=True)
def report_peaks():
    yield
    if not os.environ.get("LAB_RECORD"):  # an ordinary test run leaves the repository's files alone
        return
    out = Path(__file__).resolve().parents[1] / "bench" / "results" / "uploads_memory.md"
    lines = ["# Peak RSS growth of the server process per hostile upload (tests/test_uploads.py)", "",
             "Measured by resetting /proc/self/clear_refs before each call and reading VmHWM after; the app runs in",
             "the test process. Recorded with `LAB_RECORD=1 python -m pytest tests/test_uploads.py`.",
             "", "| upload | peak growth (MB) |",
             "|---|---:|"] + [f"| {k} | {v:.1f} |" for k, v in PEAKS.items()]
    out.write_text("\n".join(lines) + "\n")


@pytest.fixture
def files(tmp_path):
    return tmp_path


# ----------------------------------------------------------------------------------------------------------
# Images: U-Net tab upload
# ----------------------------------------------------------------------------------------------------------

SEGMENT = "/unet_segment_upload"


def _segment_args(path: Path) -> tuple:
    from gradio_client import handle_file

    return ("cells_00", handle_file(str(path)), 0.5, "shipped small U-Net")


@pytest.mark.parametrize("make, words", [
    (lambda d: not_an_image(d / "script.png"), "not an image"),
    (lambda d: png_bomb(d / "bomb.png"), "image"),
    (lambda d: png_bomb(d / "bomb_full.png", complete=True), "image"),
    (lambda d: corrupt_png(d / "corrupt.png"), "damaged"),
    (lambda d: png_bomb(d / "wide.png", side=2049), "2048"),
    (lambda d: png_bomb(d / "big.png", side=12000), "2048"),
], ids=["non-image", "bomb-few-kB", "bomb-complete", "corrupt", "just-over-2048", "12000-a-side"])
def test_image_upload_refused(client, files, make, words):
    path = make(files)
    message = refused(client, f"U-Net image: {path.name} ({path.stat().st_size:,} bytes)", *_segment_args(path),
                      api_name=SEGMENT)
    assert words.lower() in message.lower(), message


def test_bomb_message_names_its_size(client, files):
    """Above PIL's own bomb limit (179 M pixels) Image.open raises before the lab's 2048 check can name the size."""
    message = refused(client, "U-Net image: bomb (message)", *_segment_args(png_bomb(files / "bomb.png")),
                      api_name=SEGMENT)
    assert "30000" in message and "2048" in message, message


def test_image_upload_accepts_a_real_image(client, files):
    """The refusals above are not a broken upload path: a valid PNG segments."""
    outputs = client.predict(*_segment_args(valid_png(files / "ok.png")), api_name=SEGMENT)
    texts = [o.replace("×", "x") for o in outputs if isinstance(o, str)]
    assert any("64x48" in t for t in texts), texts  # the scores line names the upload's size


# ----------------------------------------------------------------------------------------------------------
# Checkpoints: the Checkpoints tab's loader and the Surgery tab's weights
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, words", [
    (lambda d: hostile_pickle(d / "pwn.pt"), "refused"),
    (lambda d: legacy_pickle(d / "pwn_legacy.pkl"), "refused"),
    (lambda d: giant_pt(d / "giant.pt"), "corrupt"),
    (lambda d: not_an_image(d / "script.pth"), "not a checkpoint"),
], ids=["hostile-pickle", "hostile-legacy-pickle", "tensor-claims-4GB", "shell-script"])
def test_checkpoint_upload_refused(client, files, make, words):
    from gradio_client import handle_file

    path = make(files)
    message = refused(client, f"Checkpoints load: {path.name}", handle_file(str(path)), "Default: small CNN",
                      api_name="/checkpoints_load")
    assert words in message, message


SURGERY_DEFAULTS = dict(arch="resnet18", new_head=True, hidden="128", dropout=0.5, classes=10, extra_input=False,
                        extra_size=1, extra_output=False, freeze=False, batch=2, size=64)


@pytest.mark.parametrize("make", [lambda d: hostile_pickle(d / "pwn.pt"), lambda d: giant_pt(d / "giant.pth")],
                         ids=["hostile-pickle", "tensor-claims-4GB"])
def test_surgery_weights_refused(client, files, make):
    from gradio_client import handle_file

    path = make(files)
    refused(client, f"Surgery weights: {path.name}", weights=handle_file(str(path)), api_name="/surgery_apply",
            **SURGERY_DEFAULTS)


# ----------------------------------------------------------------------------------------------------------
# Train tab: image/mask pairs
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda d: png_bomb(d / "cells.png"), lambda d: not_an_image(d / "cells.png"),
                                  lambda d: corrupt_png(d / "cells.png")], ids=["bomb", "non-image", "corrupt"])
def test_train_pairs_refused(client, files, make):
    from gradio_client import handle_file

    image = make(files)
    mask = valid_png(files / "cells_mask.png", mode="L")
    refused(client, f"Train pairs: {image.name} ({image.stat().st_size:,} bytes)", source="Upload image/mask pairs",
            files=[handle_file(str(image)), handle_file(str(mask))], steps=2, api_name="/train_start")


# ----------------------------------------------------------------------------------------------------------
# Size limit and paths
# ----------------------------------------------------------------------------------------------------------


def test_oversized_file_refused_by_the_client(client, files):
    """gradio_client reads the app's max_file_size and refuses before sending a byte."""
    from gradio_client import handle_file

    big = sparse_file(files / "big.pt")
    before = reset_peak()
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(str(big)), "Default: small CNN", api_name="/checkpoints_load")
    PEAKS["file over the cap via gradio_client (refused before upload)"] = peak_mb() - before


def test_oversized_file_refused_by_the_server(app_url, files):
    """Sent anyway (a client that ignores the limit), the server's upload route stops it with a message."""
    import httpx

    big = sparse_file(files / "big.pt")
    before = reset_peak()
    with open(big, "rb") as f:
        response = httpx.post(f"{app_url.rstrip('/')}/gradio_api/upload", files={"files": ("big.pt", f)},
                              timeout=120)
    growth = peak_mb() - before
    PEAKS["file over the cap posted to /gradio_api/upload"] = growth
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert "size" in response.text.lower(), response.text[:200]
    assert growth < PEAK_GROWTH_MB


def test_path_outside_the_upload_folder_refused(app_url):
    """A request naming a server path (not an upload) must not get the lab to open it.

    Raw HTTP on purpose: gradio_client would read a local path itself and upload its bytes (that is the client's
    doing, on the client's machine); a hostile client just sends the path.
    """
    import httpx

    base = f"{app_url.rstrip('/')}/gradio_api/call/checkpoints_load"
    secret = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}, "orig_name": "passwd.pt"}
    event = httpx.post(base, json={"data": [secret, "Default: small CNN"]}, timeout=30).json()["event_id"]
    stream = httpx.get(f"{base}/{event}", timeout=60).text
    assert "event: error" in stream, stream[:300]
    assert "root:" not in stream and "726f6f74" not in stream, "the server read /etc/passwd"

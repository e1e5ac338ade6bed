"""Running a U-Net code panel the way a visitor would: `python -I` in an empty folder holding only the files the
page hands out. Shared by tests/test_unet.py, tests/test_segment.py and tests/test_ui_unet.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["run_standalone", "printed_number"]


def run_standalone(code: str, files: Iterable[str | os.PathLike] = (), timeout: float = 300) -> str:
    """Run `code` with `python -I` (no PYTHONPATH, no user site, the script's folder only) in a fresh empty folder
    that holds only `files` (copied under their base names); returns what it printed, failing on any error."""
    assert "from lab" not in code and "import lab" not in code, "a code panel must not import the lab"
    with tempfile.TemporaryDirectory(prefix="lab-panel-") as folder:
        for f in files:
            shutil.copyfile(f, Path(folder) / Path(f).name)
        script = Path(folder) / "panel.py"
        script.write_text(code, encoding="utf-8")
        for server_path in (str(Path(__file__).resolve().parents[1]), tempfile.gettempdir()):
            assert server_path not in code, f"a code panel must not name a server path ({server_path})"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["OMP_NUM_THREADS"] = "1"  # 2 shared cores: one thread is plenty for a test-sized U-Net
        done = subprocess.run([sys.executable, "-I", str(script)], cwd=folder, capture_output=True, text=True,
                              timeout=timeout, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout


def printed_number(output: str, pattern: str) -> float:
    """The number `pattern`'s first group matched in `output` (commas allowed)."""
    match = re.search(pattern, output)
    assert match, f"{pattern!r} not in {output[-500:]!r}"
    return float(match.group(1).replace(",", ""))

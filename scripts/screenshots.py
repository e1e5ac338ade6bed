"""Screenshots of every tab for README.md, taken from the real page in Chromium.

    python scripts/screenshots.py [--out docs/screenshots] [--tabs unet train] [--langs en zh]

Launches the lab on a free port and opens each tab by its link (`?tab=<id>&lang=<lang>`): the tab's first view is
the tutorial's own example, computed without a click. The Train tab also runs its default training (Start) before
the shot. Saves <tab>.png (English) and <tab>_zh.png (Chinese). Needs Debian's chromium (LAB_CHROMIUM overrides
its path) and, for Chinese text, fonts-noto-cjk.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
# What a tab's view is ready on: (selector, text it holds); Train's Start runs the default training first.
READY = {"compose": "#compose-totals", "unet": "#unet-scores", "surgery": "#surgery-after-totals",
         "checkpoints": "#checkpoints-model-info", "losses": "#losses-summary", "schedules": "#schedules-summary",
         "train": "#train-chosen"}  # fmt: skip
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_idle(page, timeout_s: float = 180.0) -> None:
    """Wait until Gradio shows no pending output (its progress/eta overlays are gone)."""
    deadline = time.time() + timeout_s
    time.sleep(0.5)
    while time.time() < deadline:
        if page.locator(".progress-text, .eta-bar, .meta-text-center:visible").count() == 0:
            time.sleep(1.0)  # let plotly finish drawing
            return
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--tabs", nargs="*", help="tab ids to shoot (default: all)")
    parser.add_argument("--langs", nargs="*", default=["en", "zh"])
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    import app

    _, url, _ = app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.LAUNCH_KW)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for lang in args.langs:
                for tab_id in app.TAB_IDS:
                    if args.tabs and tab_id not in args.tabs:
                        continue
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.set_default_timeout(120_000)
                    page.goto(f"{url}?tab={tab_id}&lang={lang}")
                    page.locator(READY[tab_id]).filter(has_text=re.compile(r"\d")).wait_for()
                    if tab_id == "train":  # the default run, to its end: curves, gallery, table
                        page.locator("#train-start").click()
                        page.locator("#train-gallery img").first.wait_for(timeout=300_000)  # the run's end
                    wait_idle(page)
                    path = out / (f"{tab_id}.png" if lang == "en" else f"{tab_id}_{lang}.png")
                    page.screenshot(path=str(path), full_page=True)
                    print(f"saved {path}")
                    page.close()
            browser.close()
    finally:
        app.demo.close()


if __name__ == "__main__":
    main()

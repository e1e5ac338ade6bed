"""Screenshots of every tab for README.md, taken from the real page in Chromium.

    python scripts/screenshots.py [--out docs/screenshots]

Launches the lab on a free port, opens each tab, presses its first primary button (the tab's main action with
its default inputs, i.e. the tutorial's own example), waits until the results are drawn, and saves <tab>.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
# Tabs whose main action streams: wait for this text in this element before the shot.
DONE = {"train": ("#train-status", "Done")}
# Tabs with a second action worth showing: a selector to click after the main one.
THEN = {"unet": "#unet-gallery button:has-text('cells_00') >> nth=0", "checkpoints": "#checkpoints-cases-run"}
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, free_port  # noqa: E402


def wait_idle(page, timeout_s: float = 120.0) -> None:
    """Wait until Gradio shows no pending output (its progress/eta overlays are gone)."""
    deadline = time.time() + timeout_s
    time.sleep(0.5)
    while time.time() < deadline:
        busy = page.locator(".progress-text, .eta-bar, .meta-text-center:visible").count()
        if busy == 0:
            time.sleep(0.8)  # let plotly finish drawing
            return
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--tabs", nargs="*", help="tab ids to shoot (default: all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    import app

    _, url, _ = app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.LAUNCH_KW)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(url)
            page.wait_for_selector("#lab-header")
            for tab_id, label in app.TABS:
                if args.tabs and tab_id not in args.tabs:
                    continue
                tab = page.get_by_role("tab", name=label, exact=True)
                if tab.count() == 0:
                    continue
                tab.click()
                panel = page.locator(f"#tab-{tab_id}")
                panel.wait_for(state="visible")
                button = panel.locator("button.primary:visible").first
                if button.count():
                    button.click()
                    if tab_id in DONE:
                        selector, text = DONE[tab_id]
                        page.locator(selector).filter(has_text=text).wait_for(timeout=180_000)
                    wait_idle(page)
                if tab_id in THEN:
                    page.locator(THEN[tab_id]).click()
                    wait_idle(page)
                path = out / f"{tab_id}.png"
                page.screenshot(path=str(path), full_page=True)
                print(f"saved {path.relative_to(ROOT)}")
            browser.close()
    finally:
        app.demo.close()


if __name__ == "__main__":
    main()

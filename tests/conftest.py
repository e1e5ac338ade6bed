"""Shared fixtures: the launched app with a gradio_client on it, and a real Chromium page on that app.

Layers (docs/architecture.md): unit tests import `lab` directly; API tests use `client`; browser tests use `page`.
Browser tests skip only where no Chromium is installed (CI installs Debian's chromium, so there they run).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings as hypothesis_settings  # noqa: E402

# CI (CI=true) runs the property and fuzz tests on hypothesis' fixed examples, so a green commit stays green;
# a local run explores new random cases each time (LAB_FUZZ_EXAMPLES widens the fuzz run).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

CHROMIUM = Path(os.environ.get("LAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def app_url():
    """The whole lab, launched once per test session on a free port."""
    import app

    _, url, _ = app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.LAUNCH_KW)
    yield url
    app.demo.close()


@pytest.fixture(scope="session")
def client(app_url):
    """A gradio_client on the launched lab: `client.predict(..., api_name="/name")`."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture
def new_client(app_url):
    """A gradio_client of its own session: a tab's first view (`<tab>_open`) is computed once per session, so a test
    that asks for it must not share the session of other tests."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    """A fresh browser page on the lab; `page.shot(name)` saves tests/screenshots/<name>.png."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(app_url)
    pg.wait_for_selector("#lab-header")

    def shot(name: str, **kwargs) -> Path:
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        pg.screenshot(path=str(path), **kwargs)
        return path

    pg.shot = shot
    yield pg
    context.close()


def open_tab(page, label: str) -> None:
    """Click a top-level tab by its visible label."""
    page.get_by_role("tab", name=label, exact=True).click()


def run_code(code: str) -> dict:
    """Execute a code panel's text (our own generated code, never user text) and return its namespace."""
    namespace: dict = {"__name__": "__lab_code__"}
    exec(compile(code, "<code panel>", "exec"), namespace)  # noqa: S102 - lab-generated code under test
    return namespace

"""Fixtures for the dashboard's tests: Debian's Chromium driven by Playwright, and a server.

Playwright never downloads a browser here: it launches the system's Chromium (Debian's
``chromium`` package) through ``executable_path``. With ``CI=true`` a missing Chromium
fails the run; elsewhere these tests are skipped with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, ConsoleMessage

from _services import VexilServer, chromium_bin, missing

# Headless, and nothing that reaches out on its own: without the background-networking
# flags Chromium opens connections of its own, which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch options, on Debian's Chromium."""
    executable = chromium_bin()
    if not executable:
        missing("Chromium is not installed (Debian package chromium: /usr/bin/chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": executable,
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def base_url() -> str | None:
    """No base URL: the tests go to ``web_server.base_url`` explicitly.

    This also replaces pytest-playwright's own ``base_url`` fixture (used when
    pytest-base-url is not installed), a method of a plugin class that pytest 9
    deprecates, which ``filterwarnings = error`` turns into an error.
    """
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": VIEWPORT}


#: Reports every Content-Security-Policy violation of a page to its console, where
#: ``csp_violations`` collects it, beside Chromium's own message.
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """The CSP violations the pages of the test's ``context`` reported so far."""
    return []


@pytest.fixture
def context(context: BrowserContext, csp_violations: list[str]) -> Iterator[BrowserContext]:
    """pytest-playwright's context, whose pages must not break the security policy.

    The dashboard runs no inline script or style (``web._headers``): a page that
    did would lose that feature in the browser. Every browser test fails on it.
    """

    def collect(message: ConsoleMessage) -> None:
        text = message.text
        if text.startswith("CSP violation:") or "Content Security Policy" in text:
            csp_violations.append(f"{message.page.url if message.page else '?'}: {text}")

    context.add_init_script(REPORT_CSP)
    context.on("console", collect)
    yield context
    assert csp_violations == [], "pages broke the Content-Security-Policy"


@pytest.fixture(scope="session")
def web_server(workdir: Path) -> Iterator[VexilServer]:
    """One server on SQLite with the demo project, for all the dashboard's tests."""
    database = f"sqlite:///{workdir / f'web_{uuid.uuid4().hex[:10]}'}.db"
    instance = VexilServer(database, workdir, demo=True).start()
    yield instance
    instance.stop()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last.

    Between its calls Playwright's sync API leaves its event loop marked as running in
    the main thread, until its session fixture stops at the end of the run; a test
    after it that calls ``asyncio.run()`` would fail. This keeps the order pytest
    chose otherwise: it only matters when tests/web is not already last.
    """
    uses_playwright = {"playwright", "browser", "context", "page", "new_context"}
    browser_tests = [item for item in items if uses_playwright & set(_fixtures(item))]
    if browser_tests and items[-len(browser_tests) :] != browser_tests:
        last = set(browser_tests)
        others = [item for item in items if item not in last]
        items[:] = others + browser_tests


def _fixtures(item: pytest.Item) -> list[str]:
    return list(getattr(item, "fixturenames", ()))

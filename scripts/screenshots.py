"""Screenshots of the dashboard's main pages, light and dark, into docs/screenshots/.

Starts its own ``vexil serve`` (SQLite, demo project, a free loopback port), feeds it a
day of evaluation summaries so that the charts have something to show, and drives
Debian's Chromium with Playwright, as the tests do. Run with ``make screenshots``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "screenshots-password"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: (file name, path on the server, what to wait for) of each page.
PAGES = [
    ("sign-in", "/login", "Sign in to Vexil"),
    ("flags", "/projects/default/flags", "Flags"),
    ("flag", "/projects/default/flags/checkout-button-color?env=production", None),
    ("history", "/projects/default/flags/new-checkout/history", None),
    ("segments", "/projects/default/segments?env=production", None),
    ("environments", "/projects/default/environments", None),
    ("audit", "/audit?project=default", None),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "VEXIL_ADMIN_PASSWORD": PASSWORD}
    argv = [sys.executable, "-m", "vexil", "serve", "--demo", "--port", str(port)]
    argv += ["--database", f"sqlite:///{workdir / 'vexil.db'}"]
    process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise SystemExit("vexil serve did not start")


def feed(url: str) -> None:
    """A day of summaries, and a few changes, so that charts and history have content."""
    admin = httpx.Client(base_url=url, auth=("admin", PASSWORD), timeout=30)
    keys = admin.get("/api/v1/projects/default/environments/production/keys").json()
    server_key = next(k["key"] for k in keys if k["kind"] == "server")
    now = time.time()
    events: list[dict[str, Any]] = []
    for hour in range(24):
        start = now - (hour + 1) * 3600
        events.append(
            {
                "kind": "summary",
                "start": start,
                "end": start + 3600,
                "counters": [
                    {"flag": "checkout-button-color", "variant": v, "count": c + hour * 7}
                    for v, c in (("control", 400), ("green", 380), ("orange", 350))
                ],
            }
        )
    body = gzip.compress(json.dumps(events).encode())
    headers = {"Authorization": server_key, "Content-Encoding": "gzip"}
    httpx.post(f"{url}/sdk/v1/events", content=body, headers=headers, timeout=30)
    toggle = "/api/v1/projects/default/environments/production/flags/new-checkout/toggle"
    admin.post(toggle, json={"on": True, "comment": "launch to everyone"})
    admin.post(toggle, json={"on": False, "comment": "rolled back: payment errors"})


def shoot(page: Page, url: str, out: Path, suffix: str) -> list[Path]:
    written = []
    for name, path, heading in PAGES:
        page.goto(url + path)
        if heading:
            page.get_by_role("heading", name=heading).wait_for()
        target = out / f"{name}-{suffix}.png"
        page.screenshot(path=str(target), full_page=True)
        written.append(target)
        if name == "sign-in":
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(lambda u: "/login" not in u)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    options = parser.parse_args()
    options.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vexil-shots-") as tmp:
        process, url = start_server(Path(tmp))
        try:
            feed(url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=options.chromium, args=ARGS)
                for scheme in ("light", "dark"):
                    context = browser.new_context(
                        viewport={"width": 1280, "height": 800}, color_scheme=scheme
                    )
                    for path in shoot(context.new_page(), url, options.out, scheme):
                        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
                    context.close()
                browser.close()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(15)


if __name__ == "__main__":
    main()

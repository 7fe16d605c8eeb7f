"""The chain the dashboard's tests stand on: Debian's Chromium, launched by Playwright,
against a real ``vexil serve`` on loopback."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from _services import VexilServer


def test_chromium_reaches_a_real_server(page: Page, web_server: VexilServer) -> None:
    response = page.goto(f"{web_server.base_url}/healthz")
    assert response is not None
    assert response.status == 200
    expect(page.locator("body")).to_contain_text('{"status":"ok"}')
    assert page.viewport_size == {"width": 1280, "height": 800}

"""Keyboard use and labels for screen readers, on the main pages, in a real Chromium."""

from __future__ import annotations

import pytest
from _web import create_flag, create_project, sign_in
from playwright.sync_api import Page, expect

from _services import ADMIN_PASSWORD, VexilServer

#: Controls without a name a screen reader can announce, as the page's script finds them.
UNLABELLED = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a[href]')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim()
    && !el.getAttribute('title'))
  .map(el => el.outerHTML.slice(0, 120))"""

#: Ids used twice: a label or an aria reference to one of them may name the wrong control.
DUPLICATE_IDS = """() => {
  const ids = [...document.querySelectorAll('[id]')].map(el => el.id);
  return ids.filter((id, n) => ids.indexOf(id) !== n);
}"""


def test_a_flag_is_turned_on_with_the_keyboard_alone(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "kbd")
    page.goto(f"{web_server.base_url}/login")
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus: type at once
    page.keyboard.type("admin")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)

    page.goto(f"{web_server.base_url}/projects/{project}/flags/kbd?env=development")
    button = page.get_by_role("button", name="Turn on in Development")
    for _ in range(60):  # Tab through the page until the switch has the focus
        if button.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status").filter(has_text="The flag is now on")).to_be_visible()
    expect(page.get_by_role("button", name="Turn off in Development")).to_be_visible()


@pytest.mark.parametrize(
    "path",
    [
        "/projects/{project}/flags",
        "/projects/{project}/flags/new",
        "/projects/{project}/flags/labelled?env=development",
        "/projects/{project}/flags/labelled/history",
        "/projects/{project}/segments?env=development",
        "/projects/{project}/environments",
        "/audit",
        "/tokens",
        "/users",
    ],
)
def test_every_control_has_a_name_for_screen_readers(
    page: Page, web_server: VexilServer, path: str
) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "other")
    # A rule, a rollout and a prerequisite: the editor's every kind of control.
    rule = {"id": "pro", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    rollout = [{"variation": "on", "weight": 30}, {"variation": "off", "weight": 70}]
    targeting = {
        "on": True,
        "targets": {"on": ["u-1"]},
        "rules": [{**rule, "serve": "on"}],
        "default": {"rollout": rollout},
        "prerequisites": [{"flag": "other", "variation": "on"}],
    }
    create_flag(web_server, project, "labelled", targeting=targeting)
    sign_in(page, web_server)
    page.goto(web_server.base_url + path.format(project=project))
    expect(page.locator("main")).to_be_visible()
    assert page.evaluate(UNLABELLED) == []
    assert page.evaluate(DUPLICATE_IDS) == []
    # One main landmark and one top-level heading per page.
    assert page.locator("main").count() == 1
    assert page.locator("h1").count() == 1

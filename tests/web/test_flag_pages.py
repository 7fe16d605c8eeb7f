"""A flag's pages in a real Chromium: creating, targeting, toggling, conflicts, testing, live.

Wherever a flag changes through a page, a real SDK client must see the change within a
second of the page confirming it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from _web import API, create_flag, create_project, create_user, sign_in
from playwright.sync_api import Browser, Locator, Page, expect

from _services import ADMIN_PASSWORD, VexilServer, sdk_key, wait_for
from vexil import Client
from vexil.server.web._targeting_form import format_values, parse_values
from vexil.server.web._targeting_words import describe_targeting

BOOL = {"on": True, "off": False}
ON = {"on": True, "off_variation": "off", "default": "off"}


def _key() -> str:
    return f"f-{uuid.uuid4().hex[:8]}"


@contextmanager
def sdk(server: VexilServer, project: str, env: str = "development") -> Iterator[Client]:
    """A real SDK client on the environment's server key, closed afterwards."""
    with server.admin() as admin:
        key = sdk_key(admin, project, env)
    client = Client(key, url=server.base_url, send_events=False)
    try:
        assert client.wait_until_ready(10)
        yield client
    finally:
        client.close()


def flag_page(page: Page, server: VexilServer, project: str, key: str, env: str) -> None:
    page.goto(f"{server.base_url}/projects/{project}/flags/{key}?env={env}")
    expect(page.get_by_role("heading", name=f"Targeting in {env.capitalize()}")).to_be_visible()


def targeting(server: VexilServer, project: str, key: str, env: str) -> dict[str, Any]:
    with server.admin() as admin:
        response = admin.get(f"{API}/projects/{project}/environments/{env}/flags/{key}")
        assert response.status_code == 200, response.text
        return dict(response.json())


def expect_rule_ids(page: Page, ids: list[str]) -> None:
    fields = page.locator("[data-rule] input[name$='.id']")
    expect(fields).to_have_count(len(ids))
    for n, rule_id in enumerate(ids):
        expect(fields.nth(n)).to_have_value(rule_id)


def error_of(page: Page, field: Locator) -> Locator:
    """The error a field names in aria-describedby, checking that it is marked invalid."""
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby") or ""
    return page.locator(f"#{described.split()[0]}")


def test_creating_a_flag_with_a_validation_error_first(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/flags")
    page.get_by_role("link", name="New flag").click()
    expect(page.get_by_role("heading", name="New flag")).to_be_visible()
    # Boolean flags start with their two variations.
    expect(page.get_by_label("Name of variation 1")).to_have_value("on")
    expect(page.get_by_label("Value of variation 2")).to_have_value("false")

    page.get_by_label("Key", exact=True).fill("not a key")
    page.get_by_label("Type").select_option("string")
    expect(page.get_by_label("Name of variation 1")).to_have_value("")  # cleared for strings
    for n, (name, value) in enumerate([("red", "#f00"), ("green", "#0f0")], start=1):
        page.get_by_label(f"Name of variation {n}").fill(name)
        page.get_by_label(f"Value of variation {n}").fill(value)
    page.get_by_role("button", name="Add variation").click()
    expect(page.get_by_label("Name of variation 3")).to_be_focused()
    page.get_by_label("Name of variation 3").fill("blue")
    page.get_by_label("Value of variation 3").fill("#00f")
    page.get_by_label("Tags").fill("checkout, web")
    page.get_by_label("Permanent").check()
    page.get_by_role("button", name="Create flag").click()

    key_field = page.get_by_label("Key", exact=True)
    expect(error_of(page, key_field)).to_contain_text("letters, digits")
    expect(key_field).to_be_focused()
    expect(page.get_by_label("Value of variation 3")).to_have_value("#00f")  # input kept

    key = _key()
    with sdk(web_server, project) as client:
        assert client.variation(key, {"key": "u-1"}, "none") == "none"
        key_field.fill(key)
        page.get_by_role("button", name="Create flag").click()
        expect(page.get_by_role("status").filter(has_text="Flag created")).to_be_visible()
        expect(page).to_have_url(
            f"{web_server.base_url}/projects/{project}/flags/{key}?env=development&done=created"
        )
        expect(page.get_by_role("heading", name=key, exact=True)).to_be_visible()
        # Off, serving the last variation.
        wait_for(lambda: client.variation(key, {"key": "u-1"}, "none") == "#00f", timeout=1)
    with web_server.admin() as admin:
        flag = admin.get(f"{API}/projects/{project}/flags/{key}").json()
    assert flag["variations"] == {"red": "#f00", "green": "#0f0", "blue": "#00f"}
    assert (flag["tags"], flag["temporary"], flag["type"]) == (["checkout", "web"], False, "string")


def test_adding_a_rule_with_two_clauses(page: Page, web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key, targeting=ON)
    sign_in(page, web_server)
    flag_page(page, web_server, project, key, "development")

    page.get_by_role("button", name="Add rule").click()
    rule = page.locator("[data-rule]").last
    expect(rule.get_by_role("group", name="Rule 1")).to_be_visible()
    expect(rule.get_by_label("Attribute", exact=True)).to_be_focused()
    rule.get_by_label("Attribute", exact=True).fill("plan")
    rule.get_by_label("Operator").select_option("in")
    rule.get_by_label("Values").fill("pro, enterprise")
    rule.get_by_role("button", name="Add condition").click()
    second = rule.locator("[data-clause]").nth(1)
    second.get_by_label("Attribute", exact=True).fill("address.country")
    second.get_by_label("Operator").select_option("in")
    second.get_by_label("Values").fill("CA")
    rule.get_by_label("Rule id").fill("canada-pro")
    rule.get_by_label("Variation", exact=True).select_option("on")

    pro_in_canada = {"key": "u-1", "plan": "pro", "address": {"country": "CA"}}
    with sdk(web_server, project) as client:
        assert client.variation(key, pro_in_canada, None) is False
        page.get_by_role("button", name="Save targeting", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Targeting saved")).to_be_visible()
        wait_for(lambda: client.variation(key, pro_in_canada, None) is True, timeout=1)
        assert client.variation(key, {**pro_in_canada, "plan": "free"}, None) is False
    saved = page.locator("[data-rule]").first
    expect(saved.get_by_label("Rule id")).to_have_value("canada-pro")
    expect(saved.locator("[data-clause]")).to_have_count(2)
    rules = targeting(web_server, project, key, "development")["rules"]
    assert rules == [
        {
            "id": "canada-pro",
            "clauses": [
                {"op": "in", "attribute": "plan", "values": ["pro", "enterprise"]},
                {"op": "in", "attribute": "address.country", "values": ["CA"]},
            ],
            "serve": "on",
        }
    ]


def test_a_rule_on_a_segment(page: Page, web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    with web_server.admin() as admin:
        response = admin.post(
            f"{API}/projects/{project}/environments/development/segments",
            json={"key": "staff", "name": "Staff", "included": ["u-staff"]},
        )
        assert response.status_code == 201, response.text
    create_flag(web_server, project, key, targeting=ON)
    sign_in(page, web_server)
    flag_page(page, web_server, project, key, "development")

    page.get_by_role("button", name="Add rule").click()
    rule = page.locator("[data-rule]").last
    rule.get_by_label("Operator").select_option("segment")
    rule.get_by_label("Segments").select_option(["staff"])
    rule.get_by_label("Variation", exact=True).select_option("on")
    with sdk(web_server, project) as client:
        assert client.variation(key, {"key": "u-staff"}, None) is False
        page.get_by_role("button", name="Save targeting", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Targeting saved")).to_be_visible()
        wait_for(lambda: client.variation(key, {"key": "u-staff"}, None) is True, timeout=1)
        assert client.variation(key, {"key": "u-other"}, None) is False
    rules = targeting(web_server, project, key, "development")["rules"]
    assert [r["clauses"] for r in rules] == [[{"op": "segment", "values": ["staff"]}]]


def test_moving_and_removing_rules_and_a_prerequisite(page: Page, web_server: VexilServer) -> None:
    project, key, other = create_project(web_server), _key(), _key()
    create_flag(web_server, project, other)  # off: as a prerequisite, it fails
    create_flag(web_server, project, key, targeting={**ON, "default": "on"})
    sign_in(page, web_server)
    flag_page(page, web_server, project, key, "development")

    for rule_id in ("first", "second", "third"):
        page.get_by_role("button", name="Add rule").click()
        rule = page.locator("[data-rule]").last
        rule.get_by_label("Rule id").fill(rule_id)
        rule.get_by_label("Attribute", exact=True).fill("plan")
        rule.get_by_label("Values").fill(rule_id)
    third = page.get_by_role("group", name="Rule 3")
    third.get_by_role("button", name="Move up").click()
    expect(page.get_by_role("group", name="Rule 2").get_by_label("Rule id")).to_have_value("third")
    expect(
        page.get_by_role("group", name="Rule 2").get_by_role("button", name="Move up")
    ).to_be_focused()
    page.get_by_role("group", name="Rule 1").get_by_role("button", name="Remove rule").click()
    expect(page.locator("[data-rule]")).to_have_count(2)
    expect(page.get_by_role("group", name="Rule 1").get_by_label("Rule id")).to_have_value("third")
    page.get_by_role("button", name="Add prerequisite").click()
    page.get_by_label("Prerequisite").select_option(label=f"{other} serves on")

    with sdk(web_server, project) as client:
        assert client.variation(key, {"key": "u-1"}, None) is True
        page.get_by_role("button", name="Save targeting", exact=True).click()
        expect(page.get_by_role("status").filter(has_text="Targeting saved")).to_be_visible()
        wait_for(lambda: client.variation(key, {"key": "u-1"}, None) is False, timeout=1)
    body = targeting(web_server, project, key, "development")
    assert [r["id"] for r in body["rules"]] == ["third", "second"]
    assert body["prerequisites"] == [{"flag": other, "variation": "on"}]
    expect(page.get_by_label("Prerequisite")).to_have_value(json.dumps([other, "on"]))


def default_rollout(page: Page, web_server: VexilServer) -> tuple[str, str, Locator]:
    """A new flag's page, signed in, with its default serve switched to a rollout."""
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key, targeting=ON)
    sign_in(page, web_server)
    flag_page(page, web_server, project, key, "development")
    default = page.get_by_role("group", name="Default: serve")
    default.get_by_label("A percentage rollout").check()
    return project, key, default


def test_a_rollout_must_add_up_to_100_before_saving(page: Page, web_server: VexilServer) -> None:
    project, key, default = default_rollout(page, web_server)
    save = page.get_by_role("button", name="Save targeting", exact=True)
    total = default.locator("output")
    default.get_by_label("on", exact=True).fill("30")
    default.get_by_label("off", exact=True).fill("60")
    expect(total).to_have_text("Total: 90%")
    expect(total).to_have_attribute("aria-live", "polite")
    expect(save).to_be_disabled()
    default.get_by_label("off", exact=True).fill("70")
    expect(total).to_have_text("Total: 100%")
    expect(save).to_be_enabled()

    users = [{"key": f"user-{n}"} for n in range(1000)]
    with sdk(web_server, project) as client:
        save.click()
        expect(page.get_by_role("status").filter(has_text="Targeting saved")).to_be_visible()

        def split() -> bool:
            values = [client.variation(key, user, None) for user in users]
            return (
                250 < values.count(True) < 350 and values.count(False) + values.count(True) == 1000
            )

        wait_for(split, timeout=1)
    assert targeting(web_server, project, key, "development")["default"] == {
        "rollout": [{"variation": "on", "weight": 30}, {"variation": "off", "weight": 70}]
    }
    expect(page.get_by_role("group", name="Default: serve").locator("output")).to_have_text(
        "Total: 100%"
    )


def test_the_server_checks_the_rollout_total_too(page: Page, web_server: VexilServer) -> None:
    project, key, default = default_rollout(page, web_server)
    default.get_by_label("on", exact=True).fill("30")
    expect(default.locator("output")).to_have_text("Total: 130%")  # off had 100%
    # Submitted as a script could, bypassing the disabled button.
    page.locator("[data-targeting-form]").evaluate("form => form.submit()")
    expect(page.locator("#default-total-error")).to_have_text(
        "The percentages add up to 130%; they must add up to 100%."
    )
    expect(page.locator("#default-w-0")).to_have_attribute("aria-invalid", "true")
    assert targeting(web_server, project, key, "development")["default"] == "off"


def test_turning_on_in_production_needs_a_comment(page: Page, web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key)
    sign_in(page, web_server)
    flag_page(page, web_server, project, key, "production")
    state = page.locator(".fp-now [data-live-on]")
    expect(state).to_have_text("off")

    confirm = page.get_by_role("button", name="Confirm: turn on in Production")
    expect(confirm).to_be_hidden()  # behind a confirmation step
    page.get_by_text("Turn on in Production…").click()
    comment = page.get_by_label("Why?")
    expect(comment).to_have_attribute("required", "")
    comment.fill("   ")  # passes the browser's check, not the server's
    confirm.click()
    expect(error_of(page, page.get_by_label("Why?"))).to_contain_text("A comment is required")
    expect(state).to_have_text("off")
    assert targeting(web_server, project, key, "production")["on"] is False

    with sdk(web_server, project, "production") as client:
        assert client.variation(key, {"key": "u-1"}, None) is False
        page.get_by_label("Why?").fill("Launch day")
        page.get_by_role("button", name="Confirm: turn on in Production").click()
        expect(page.get_by_role("status").filter(has_text="The flag is now on")).to_be_visible()
        expect(state).to_have_text("on")
        wait_for(lambda: client.variation(key, {"key": "u-1"}, None) is True, timeout=1)
    with web_server.admin() as admin:
        audit = admin.get(f"{API}/audit", params={"flag": key}).json()["items"]
    assert audit[0]["comment"] == "Launch day"
    assert targeting(web_server, project, key, "development")["on"] is False


def test_two_editors_at_once_the_second_sees_what_changed(
    browser: Browser, web_server: VexilServer
) -> None:
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key, targeting=ON)
    editor, password = create_user(web_server, "editor")
    first_context, second_context = browser.new_context(), browser.new_context()
    try:
        first, second = first_context.new_page(), second_context.new_page()
        sign_in(first, web_server)
        sign_in(second, web_server, editor, password)
        flag_page(first, web_server, project, key, "development")
        flag_page(second, web_server, project, key, "development")

        # The first adds a rule and saves.
        first.get_by_role("button", name="Add rule").click()
        rule = first.locator("[data-rule]").last
        rule.get_by_label("Rule id").fill("staff")
        rule.get_by_label("Attribute", exact=True).fill("email")
        rule.get_by_label("Operator").select_option("ends_with")
        rule.get_by_label("Values").fill("@example.com")
        first.locator("#targeting-comment").fill("staff first")
        first.get_by_role("button", name="Save targeting", exact=True).click()
        expect(first.get_by_role("status").filter(has_text="Targeting saved")).to_be_visible()

        # The second, from the page as it was, changes the default and saves.
        default = second.get_by_role("group", name="Default: serve")
        default.get_by_label("Variation", exact=True).select_option("on")
        second.get_by_label("Serve on to").fill("u-7")
        second.get_by_role("button", name="Save targeting", exact=True).click()
        conflict = second.get_by_role("alert").filter(has_text="someone else changed")
        expect(conflict).to_contain_text("admin changed its targeting")
        expect(conflict).to_contain_text("staff first")
        expect(conflict.locator("pre .fp-diff-add")).to_contain_text(
            "+ Rule 1 (staff): if email ends with @example.com, serve on"
        )
        # Nothing was overwritten, and the second editor's input is still there.
        assert [r["id"] for r in targeting(web_server, project, key, "development")["rules"]] == [
            "staff"
        ]
        expect(default.get_by_label("Variation", exact=True)).to_have_value("on")
        expect(second.get_by_label("Serve on to")).to_have_value("u-7")

        # Saving again, knowingly, replaces the first editor's version.
        with sdk(web_server, project) as client:
            second.get_by_role("button", name="Save targeting", exact=True).click()
            expect(second.get_by_role("status").filter(has_text="Targeting saved")).to_be_visible()
            wait_for(lambda: client.variation(key, {"key": "u-1"}, None) is True, timeout=1)
        body = targeting(web_server, project, key, "development")
        assert (body["default"], body["targets"], body.get("rules")) == (
            "on",
            {"on": ["u-7"]},
            None,
        )
    finally:
        first_context.close()
        second_context.close()


def test_testing_a_context_shows_value_reason_and_trace(
    page: Page, web_server: VexilServer
) -> None:
    project, key = create_project(web_server), _key()
    rule = {"id": "pro", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    create_flag(web_server, project, key, targeting={**ON, "rules": [{**rule, "serve": "on"}]})
    viewer, password = create_user(web_server, "viewer")
    sign_in(page, web_server, viewer, password)  # a read: viewers may test
    flag_page(page, web_server, project, key, "development")

    context = page.get_by_label("Context as JSON")
    context.fill('{"key": "u-1", "plan": ')
    page.get_by_role("button", name="Evaluate in Development").click()
    expect(error_of(page, page.get_by_label("Context as JSON"))).to_contain_text(
        "This is not valid JSON"
    )

    page.get_by_label("Context as JSON").fill(json.dumps({"key": "u-1", "plan": "pro"}))
    page.get_by_role("button", name="Evaluate in Development").click()
    expect(page.locator("[data-test-value]")).to_have_text("true")
    expect(page.locator("[data-test-variant]")).to_have_text("on")
    expect(page.locator("[data-test-reason]")).to_have_text("TARGETING_MATCH")
    expect(page.locator("[data-test-rule]")).to_have_text("pro")
    trace = page.locator("[data-test-trace]")
    expect(trace).to_contain_text(f"{key} -> True (variant on, reason TARGETING_MATCH, rule pro)")
    expect(trace).to_contain_text("[x] rule 'pro' matches")

    page.get_by_label("Context as JSON").fill(json.dumps({"key": "u-2", "plan": "free"}))
    page.get_by_role("button", name="Evaluate in Development").click()
    expect(page.locator("[data-test-reason]")).to_have_text("DEFAULT")
    expect(page.locator("[data-test-value]")).to_have_text("false")
    expect(trace).to_contain_text("[ ] rule 'pro' does not match")


def test_a_change_made_elsewhere_shows_on_an_open_page(page: Page, web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key)
    sign_in(page, web_server)
    flag_page(page, web_server, project, key, "development")
    state = page.locator(".fp-now [data-live-on]")
    expect(state).to_have_text("off")
    page.get_by_label("Serve on to").fill("u-1, u-2")  # unsaved work in the form

    with sdk(web_server, project) as client, web_server.admin() as admin:
        response = admin.post(
            f"{API}/projects/{project}/environments/development/flags/{key}/toggle",
            json={"on": True, "comment": "from the API"},
        )
        assert response.status_code == 200, response.text
        banner = page.get_by_role("status").filter(has_text="This flag was changed")
        expect(banner).to_contain_text("This flag was changed by admin")
        expect(banner.get_by_role("link", name="reload to see it")).to_be_visible()
        expect(state).to_have_text("on")
        wait_for(lambda: client.variation(key, {"key": "u-9"}, None) is True, timeout=1)
    expect(page.get_by_label("Serve on to")).to_have_value("u-1, u-2")  # not clobbered


def test_viewers_see_targeting_but_cannot_change_it(page: Page, web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key, targeting=ON)
    viewer, password = create_user(web_server, "viewer")
    sign_in(page, web_server, viewer, password)
    flag_page(page, web_server, project, key, "development")
    default = page.get_by_role("group", name="Default: serve")
    expect(default.get_by_label("Variation", exact=True)).to_be_disabled()
    for name in ("Save targeting", "Add rule", "Turn off in Development"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)

    csrf = page.locator("input[name=csrf]").first.input_value()
    base = f"{web_server.base_url}/projects/{project}/flags/{key}"
    posted = page.request.post(
        f"{base}/toggle?env=development", form={"csrf": csrf, "on": "off", "comment": ""}
    )
    assert posted.status == 403
    assert "editor role" in posted.text()
    posted = page.request.post(
        f"{base}/targeting?env=development", form={"csrf": csrf, "action": "save"}
    )
    assert posted.status == 403
    assert targeting(web_server, project, key, "development")["on"] is True


def test_every_form_checks_its_csrf_token(page: Page, web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key)
    sign_in(page, web_server)
    base = f"{web_server.base_url}/projects/{project}/flags"
    for url, form in [
        (f"{base}/new", {"key": _key(), "variation_name": "a", "variation_value": "true"}),
        (f"{base}/{key}/toggle?env=development", {"on": "on"}),
        (f"{base}/{key}/targeting?env=development", {"action": "save"}),
        (f"{base}/{key}/test?env=development", {"context": "{}"}),
    ]:
        response = page.request.post(url, form={**form, "csrf": "forged"})
        assert response.status == 403, url
        assert "security token" in response.text()
    assert targeting(web_server, project, key, "development")["on"] is False


def test_the_editor_works_without_javascript(browser: Browser, web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    rules = [
        {"id": "a", "clauses": [], "serve": "on"},
        {"id": "b", "clauses": [{"attribute": "x", "op": "in", "values": ["1"]}], "serve": "off"},
    ]
    create_flag(web_server, project, key, targeting={**ON, "rules": rules})
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, web_server)
        flag_page(page, web_server, project, key, "development")
        expect_rule_ids(page, ["a", "b"])
        # Each button re-renders the form with the change applied, nothing saved yet.
        page.locator("[data-rule]").nth(1).get_by_role("button", name="Move up").click()
        expect_rule_ids(page, ["b", "a"])
        expect(
            page.locator("[data-rule]").first.get_by_role("button", name="Move up")
        ).to_be_focused()
        page.get_by_role("button", name="Add rule").click()
        expect_rule_ids(page, ["b", "a", ""])
        new = page.locator("[data-rule]").nth(2)
        expect(new.get_by_label("Attribute", exact=True)).to_be_focused()
        new.get_by_label("Attribute", exact=True).fill("plan")
        new.get_by_label("Values").fill("pro")
        new.get_by_role("button", name="Add condition").click()
        new = page.locator("[data-rule]").nth(2)
        expect(new.locator("[data-clause]")).to_have_count(2)
        new.locator("[data-clause]").nth(1).get_by_role("button", name="Remove condition").click()
        page.locator("[data-rule]").nth(1).get_by_role("button", name="Remove rule").click()
        expect_rule_ids(page, ["b", ""])
        expect(page.locator("[data-rule]").nth(1).get_by_label("Values")).to_have_value("pro")
        assert [r["id"] for r in targeting(web_server, project, key, "development")["rules"]] == [
            "a",
            "b",
        ]
        # A rollout the server refuses, then a good one.
        default = page.get_by_role("group", name="Default: serve")
        default.get_by_label("A percentage rollout").check()
        default.get_by_label("on", exact=True).fill("25")
        default.get_by_label("off", exact=True).fill("50")
        page.get_by_role("button", name="Save targeting", exact=True).click()
        expect(page.locator("#default-total-error")).to_have_text(
            "The percentages add up to 75%; they must add up to 100%."
        )
        page.get_by_role("group", name="Default: serve").get_by_label("off", exact=True).fill("75")
        with sdk(web_server, project) as client:
            page.get_by_role("button", name="Save targeting", exact=True).click()
            expect(page.get_by_role("status").filter(has_text="Targeting saved")).to_be_visible()
            wait_for(lambda: client.variation(key, {"key": "u", "plan": "pro"}, None) is True, 1)
        body = targeting(web_server, project, key, "development")
        assert [r["id"] for r in body["rules"]] == ["b", "rule-2"]
        assert body["rules"][1]["clauses"] == [{"op": "in", "attribute": "plan", "values": ["pro"]}]
    finally:
        context.close()


@pytest.mark.parametrize("path", ["flags/new", "flags/{key}?env=production"])
def test_flag_pages_fit_a_phone(browser: Browser, web_server: VexilServer, path: str) -> None:
    project, key = create_project(web_server), _key()
    rule = {"id": "r", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    create_flag(web_server, project, key, targeting={**ON, "rules": [{**rule, "serve": "on"}]})
    context = browser.new_context(viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        sign_in(page, web_server)
        page.goto(f"{web_server.base_url}/projects/{project}/{path.format(key=key)}")
        expect(page.locator("h1")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # Every visible field has a label.
        unlabeled = page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => !e.closest('template') && e.labels.length === 0
                             && !e.getAttribute('aria-label'))
                .map(e => e.name)"""
        )
        assert unlabeled == []
    finally:
        context.close()


def test_the_state_endpoint_reports_the_version_and_who(web_server: VexilServer) -> None:
    project, key = create_project(web_server), _key()
    create_flag(web_server, project, key)
    url = f"/projects/{project}/flags/{key}/state?env=development"
    with httpx.Client(base_url=web_server.base_url, timeout=10) as browser:
        assert browser.get(url).status_code == 303  # to the sign-in page first
        login = browser.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert token is not None
        signed_in = browser.post(
            "/login",
            data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": token[1], "next": "/"},
        )
        assert signed_in.status_code == 303
        before = browser.get(url).json()
        assert (before["version"], before["on"]) == (1, False)
        with web_server.admin() as admin:
            admin.post(
                f"{API}/projects/{project}/environments/development/flags/{key}/toggle",
                json={"on": True},
            ).raise_for_status()
        after = browser.get(url)
        assert after.headers["cache-control"] == "no-store"
        assert after.json() == {**after.json(), "version": 2, "on": True, "by": "admin"}


@pytest.mark.parametrize(
    ("op", "values"),
    [
        ("in", ["pro", "enterprise"]),
        ("in", [42, "42", True, "true", 1.5, "", " padded "]),
        ("ends_with", ["@example.com", "a, b", '"quoted"']),
        ("matches", [r"^a{1,3}$", "x,y"]),
        ("gte", [18, 2.5]),
        ("before", ["2026-01-01T00:00:00Z", 1700000000]),
    ],
)
def test_clause_values_read_back_as_written(op: str, values: list[Any]) -> None:
    """What the editor shows for a clause's values reads back as the very same values."""
    text = format_values(op, values)
    assert parse_values(op, text) == values


def test_values_may_be_typed_one_per_line_or_with_commas() -> None:
    assert parse_values("in", 'pro, enterprise\n  team  \n\n42\n"42"') == [
        "pro",
        "enterprise",
        "team",
        42,
        "42",
    ]
    assert parse_values("contains", "1, true") == ["1", "true"]  # text operators: text


def test_a_targeting_is_described_for_people() -> None:
    body = {
        "on": True,
        "off_variation": "off",
        "targets": {"on": ["u-1", "u-2"]},
        "rules": [
            {
                "id": "ca",
                "clauses": [
                    {"attribute": "country", "op": "in", "values": ["CA"]},
                    {"op": "segment", "values": ["staff"], "negate": True},
                ],
                "serve": {
                    "rollout": [
                        {"variation": "on", "weight": 30},
                        {"variation": "off", "weight": 70},
                    ]
                },
            }
        ],
        "default": "off",
    }
    assert describe_targeting(body) == [
        "State: on",
        "Off variation: off",
        "Target on: u-1, u-2",
        "Rule 1 (ca): if country is one of CA and not in segment staff,"
        " serve a rollout of on 30%, off 70%",
        "Default: serve off",
    ]

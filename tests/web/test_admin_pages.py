"""The administration pages: projects, a flag's history and revert, the audit log,
segments, environments and SDK keys, API tokens and users, and who may change what.

Browser tests drive Debian's Chromium against a real ``vexil serve``; a few checks of
the plain HTTP answers (the pages work without JavaScript) use httpx against the same
server. No mocks, no sleeps: Playwright's ``expect`` and ``wait_for`` poll.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from _web import API, create_flag, create_project, create_user, dashboard, sign_in
from playwright.sync_api import Browser, Page, expect

from _services import VexilServer, sdk_key, wait_for
from vexil import Client
from vexil.server.web._audit_pages import diff_lines

# ------------------------------------------------------------------ helpers


def toggle(server: VexilServer, project: str, flag: str, on: bool, comment: str = "") -> None:
    with server.admin() as api:
        response = api.post(
            f"{API}/projects/{project}/environments/development/flags/{flag}/toggle",
            json={"on": on, "comment": comment},
        )
        assert response.status_code == 200, response.text


def targeting(server: VexilServer, project: str, flag: str) -> dict[str, object]:
    with server.admin() as api:
        response = api.get(f"{API}/projects/{project}/environments/development/flags/{flag}")
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body


def csrf_of(page: Page) -> str:
    """The session's CSRF token, as any form on the page carries it."""
    value = page.locator('input[name="csrf"]').first.get_attribute("value")
    assert value
    return value


def no_horizontal_scroll(page: Page) -> bool:
    return bool(
        page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
    )


# ------------------------------------------------------------------- history


def test_a_diff_marks_lines_and_leaves_out_what_every_change_moves() -> None:
    before = {"on": False, "default": "on", "version": 3, "updated_at": "then"}
    after = {"on": True, "default": "on", "version": 4, "updated_at": "now"}
    assert diff_lines(before, after) == [
        {"kind": "same", "text": "{"},
        {"kind": "same", "text": '  "default": "on",'},
        {"kind": "del", "text": '  "on": false'},
        {"kind": "add", "text": '  "on": true'},
        {"kind": "same", "text": "}"},
    ]
    assert {line["kind"] for line in diff_lines(None, after)} == {"add"}
    assert {line["kind"] for line in diff_lines(before, None)} == {"del"}
    assert diff_lines(before, {**before, "version": 9}) == []
    long = {f"k{i:02}": i for i in range(20)}
    lines = diff_lines(long, {**long, "k10": -1})
    assert [line["kind"] for line in lines] == [
        "gap",
        *["same"] * 3,
        "del",
        "add",
        *["same"] * 3,
        "gap",
    ]


def test_history_shows_a_diff_and_revert_restores_it_for_the_sdk(
    page: Page, web_server: VexilServer
) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "checkout")
    toggle(web_server, project, "checkout", True, comment="launch day")
    with web_server.admin() as api:
        key = sdk_key(api, project)
    client = Client(key, url=web_server.base_url, send_events=False)
    try:
        wait_for(lambda: client.variation("checkout", {"key": "u-1"}) is True, what="flag on")
        sign_in(page, web_server)
        page.goto(f"{web_server.base_url}/projects/{project}/flags/checkout/history")
        expect(page.get_by_role("heading", name="History of checkout")).to_be_visible()
        change = page.locator("li.entry").filter(has_text="turned checkout on")
        expect(change).to_contain_text("user:admin")
        expect(change).to_contain_text("launch day")
        expect(change).to_contain_text("development")
        # The diff says which lines went and came, in words as well as in colour.
        expect(change.locator("del")).to_contain_text('"on": false')
        expect(change.locator("del")).to_contain_text("removed:")
        expect(change.locator("ins")).to_contain_text('"on": true')
        expect(change.locator("ins")).to_contain_text("added:")

        change.get_by_label("Comment on the revert (optional)").fill("too early")
        change.get_by_role("button", name=re.compile(r"^Revert change #\d+$")).click()
        expect(page.get_by_role("status")).to_contain_text("Reverted change #")
        expect(page.get_by_role("status")).to_contain_text("targeting of checkout in development")
        wait_for(
            lambda: client.variation("checkout", {"key": "u-1"}) is False,
            timeout=1,
            what="the SDK to see the revert",
        )
    finally:
        client.close()
    assert targeting(web_server, project, "checkout")["on"] is False
    revert = page.locator("li.entry").filter(has_text="too early")
    expect(revert).to_contain_text("changed the targeting of checkout")
    expect(revert.locator("ins")).to_contain_text('"on": false')


def test_reverting_over_later_changes_asks_first(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "banner")
    toggle(web_server, project, "banner", True, comment="first")
    toggle(web_server, project, "banner", False, comment="second")
    toggle(web_server, project, "banner", True, comment="third")
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/flags/banner/history")
    first = page.locator("li.entry").filter(has_text="“first”")
    first.get_by_role("button", name=re.compile("^Revert change")).click()
    # Not overwritten silently: the page says so and shows what the revert would change.
    expect(page.get_by_role("alert")).to_contain_text("has changed since change #")
    expect(page.get_by_role("heading", name=re.compile("^Revert change #"))).to_be_visible()
    expect(page.locator("pre.diff del")).to_contain_text('"on": true')
    assert targeting(web_server, project, "banner")["on"] is True
    # Meanwhile someone else changes it again: confirming is refused once more.
    toggle(web_server, project, "banner", True, comment="fourth")
    page.get_by_role("button", name=re.compile("^Revert to the state before")).click()
    expect(page.get_by_role("alert")).to_contain_text("changed again")
    page.get_by_role("button", name=re.compile("^Revert to the state before")).click()
    expect(page.get_by_role("status")).to_contain_text("is back to how it was before it")
    assert targeting(web_server, project, "banner")["on"] is False


def test_shared_field_changes_revert_through_update_flag(web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "named", name="Old name")
    with web_server.admin() as api:
        response = api.patch(f"{API}/projects/{project}/flags/named", json={"name": "New name"})
        assert response.status_code == 200, response.text
    with dashboard(web_server) as (client, csrf):
        page = client.get(f"/projects/{project}/flags/named/history")
        found = re.search(r"history/(\d+)/revert", page.text)
        assert found is not None
        assert "changed the shared fields of flag named" in page.text
        response = client.post(
            f"/projects/{project}/flags/named/history/{found.group(1)}/revert",
            data={"csrf": csrf, "comment": ""},
        )
        assert response.status_code == 303
        assert "Reverted" in client.get(response.headers["location"]).text
    with web_server.admin() as api:
        assert api.get(f"{API}/projects/{project}/flags/named").json()["name"] == "Old name"


def test_a_deleted_flag_keeps_its_history(web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "gone")
    toggle(web_server, project, "gone", True, comment="briefly")
    with web_server.admin() as api:
        assert api.delete(f"{API}/projects/{project}/flags/gone").status_code == 204
    with dashboard(web_server) as (client, _):
        page = client.get(f"/projects/{project}/flags/gone/history")
        assert page.status_code == 200
        assert "Flag gone no longer exists" in page.text
        assert "deleted flag gone" in page.text
        assert "briefly" in page.text
        assert "Revert change" not in page.text
        assert client.get(f"/projects/{project}/flags/never/history").status_code == 404
        assert client.get("/projects/nope/flags/gone/history").status_code == 404


# ----------------------------------------------------------------- audit log


def test_audit_filters_narrow_the_list(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "alpha")
    create_flag(web_server, project, "beta")
    editor, password = create_user(web_server, "editor")
    with httpx.Client(base_url=web_server.base_url, auth=(editor, password), timeout=10) as api:
        response = api.post(
            f"{API}/projects/{project}/environments/production/flags/beta/toggle",
            json={"on": True, "comment": "by the editor"},
        )
        assert response.status_code == 200, response.text
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/audit?project={project}")
    entries = page.locator("ol.entries > li")
    expect(entries).to_have_count(4)  # the project, two flags, one toggle

    page.get_by_label("Actor").fill(f"user:{editor}")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("turned beta on")
    expect(page).to_have_url(re.compile(f"actor=user%3A{editor}"))

    page.get_by_label("Actor").fill("")
    page.get_by_label("Flag key").fill("alpha")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("created flag alpha")
    # Each entry opens onto its diff.
    diff = entries.first.locator("pre.diff")
    expect(diff).to_be_hidden()
    entries.first.locator("summary").click()
    expect(diff).to_be_visible()
    expect(diff.locator("ins").filter(has_text='"key": "alpha"')).to_have_count(1)

    page.get_by_label("Flag key").fill("")
    page.get_by_label("Environment key").fill("production")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(1)

    page.get_by_label("Environment key").fill("")
    page.get_by_label("From").fill("2999-01-01")
    page.get_by_role("button", name="Filter").click()
    expect(entries).to_have_count(0)
    expect(page.locator("#audit-count")).to_have_text("No entries match.")

    page.get_by_label("From").fill("2020-01-02")
    page.get_by_label("To (inclusive)").fill("2020-01-01")
    page.get_by_role("button", name="Filter").click()
    until = page.get_by_label("To (inclusive)")
    expect(until).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#a-until-error")).to_have_text("The end date is before the start date.")


@pytest.mark.slow
def test_the_audit_log_pages_newest_first(web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "busy")
    with web_server.admin() as api:
        token = api.post(f"{API}/tokens", json={"name": f"t-{project}", "role": "editor"})
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    with httpx.Client(base_url=web_server.base_url, headers=bearer, timeout=10) as api:
        url = f"{API}/projects/{project}/environments/development/flags/busy/toggle"
        for i in range(55):  # with a token: no password hashing per request
            response = api.post(url, json={"on": i % 2 == 0, "comment": f"change {i}"})
            assert response.status_code == 200, response.text
    with dashboard(web_server) as (client, _):
        first = client.get("/audit", params={"project": project, "flag": "busy"})
        assert first.status_code == 200
        assert first.text.count('<li class="entry"') == 50
        assert first.text.index("change 54") < first.text.index("change 53")
        assert 'rel="next"' in first.text
        second = client.get("/audit", params={"project": project, "flag": "busy", "page": "2"})
        assert second.text.count('<li class="entry"') == 6  # 5 toggles and the creation
        assert "created flag busy" in second.text
        assert 'rel="next"' not in second.text


# ------------------------------------------------------------------ segments


def test_create_and_edit_a_segment(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/segments?env=development")
    expect(page.get_by_text("No segments in development yet.")).to_be_visible()
    page.get_by_label("Key", exact=True).fill("beta-users")
    page.get_by_label("Name (optional)").fill("Beta users")
    page.get_by_role("button", name="Create segment").click()

    expect(page.get_by_role("status")).to_contain_text("Segment beta-users created")
    page.get_by_label("Included context keys").fill("u-1\nu-2")
    page.get_by_label("Excluded context keys").fill("u-3")
    page.get_by_role("button", name="Add a rule").click()
    expect(page.get_by_role("status")).to_contain_text("Not saved yet")
    expect(page.get_by_label("Included context keys")).to_have_value("u-1\nu-2")
    page.get_by_label("Rule id (optional)").fill("pro-plan")
    page.get_by_label("Attribute", exact=True).fill("plan")
    page.get_by_label("Operator").select_option("in")
    page.get_by_label("Values").fill("pro\nenterprise")
    page.get_by_role("button", name="Add a condition to rule 1").click()
    page.locator("#f-rules-0-clauses-1-attribute").fill("seats")
    page.locator("#f-rules-0-clauses-1-op").select_option("gte")
    page.locator("#f-rules-0-clauses-1-values").fill("ten")
    page.get_by_role("button", name="Save segment").click()

    # The engine's refusal, next to the field it concerns.
    values = page.locator("#f-rules-0-clauses-1-values")
    expect(values).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-rules-0-clauses-1-values-error")).to_contain_text("needs numbers")
    expect(page.get_by_role("alert")).to_contain_text("not saved")
    values.fill("10")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("status")).to_contain_text("Segment beta-users saved")

    with web_server.admin() as api:
        saved = api.get(
            f"{API}/projects/{project}/environments/development/segments/beta-users"
        ).json()
    assert saved["name"] == "Beta users"
    assert saved["included"] == ["u-1", "u-2"]
    assert saved["excluded"] == ["u-3"]
    assert saved["rules"] == [
        {
            "id": "pro-plan",
            "clauses": [
                {"attribute": "plan", "op": "in", "values": ["pro", "enterprise"]},
                {"attribute": "seats", "op": "gte", "values": [10]},
            ],
        }
    ]
    # Removing the condition again, then the segment itself.
    page.get_by_role("button", name="Remove condition 2 of rule 1").click()
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    page.get_by_text("Delete this segment").click()
    page.get_by_role("button", name="Delete segment beta-users").click()
    expect(page.get_by_role("status")).to_contain_text("Segment beta-users deleted")
    expect(page.get_by_text("No segments in development yet.")).to_be_visible()


def test_a_segment_in_use_is_not_deleted(web_server: VexilServer) -> None:
    project = create_project(web_server)
    with web_server.admin() as api:
        for env in ("development", "production"):  # the flag uses it in both
            response = api.post(
                f"{API}/projects/{project}/environments/{env}/segments",
                json={"key": "staff", "included": ["u-1"]},
            )
            assert response.status_code == 201, response.text
    create_flag(
        web_server,
        project,
        "gated",
        targeting={"rules": [{"clauses": [{"op": "segment", "values": ["staff"]}], "serve": "on"}]},
    )
    with dashboard(web_server) as (client, csrf):
        response = client.post(
            f"/projects/{project}/segments/staff/delete", data={"csrf": csrf, "env": "development"}
        )
        assert response.status_code == 422
        assert "The segment was not deleted" in response.text
        assert 'role="alert"' in response.text
        assert "Traceback" not in response.text


# ---------------------------------------------------------- environments, keys


def test_reveal_copy_and_rotate_a_key(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "rotated", targeting={"on": True})
    with web_server.admin() as api:
        old_key = sdk_key(api, project)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/environments")
    secret = page.locator("#key-development-server")
    expect(secret).not_to_contain_text(old_key)
    expect(secret).to_contain_text(old_key[-4:])
    reveal = page.get_by_role("button", name="Reveal the server key of development")
    reveal.click()
    expect(secret).to_have_text(old_key)
    expect(page).to_have_url(f"{web_server.base_url}/projects/{project}/environments")  # in place
    page.get_by_role("button", name="Hide the server key of development").click()
    expect(secret).not_to_contain_text(old_key)

    page.get_by_role("button", name="Copy the server key of development").click()
    expect(page.locator('[data-copy-status="development:server"]')).to_have_text(
        "Copied to the clipboard."
    )
    assert page.evaluate("navigator.clipboard.readText()") == old_key

    page.get_by_role("link", name="Rotate the server key of development").click()
    expect(page.get_by_role("heading", name=re.compile("Rotate the server key"))).to_be_visible()
    page.get_by_label("Immediately: the old key stops working now").check()
    page.get_by_label("I understand").check()
    page.get_by_role("button", name="Rotate the server key").click()

    expect(page.get_by_role("status").first).to_contain_text("New server key for development")
    expect(secret).to_have_text(re.compile(r"^vx-srv-"))
    new_key = secret.inner_text()
    assert new_key != old_key
    with web_server.admin() as api:
        assert sdk_key(api, project) == new_key
    with httpx.Client(base_url=web_server.base_url, timeout=10) as sdk:
        assert sdk.get("/sdk/v1/ruleset", headers={"X-API-Key": old_key}).status_code == 401
    client = Client(new_key, url=web_server.base_url, send_events=False)
    try:
        assert client.wait_until_ready(5)
        assert client.variation("rotated", {"key": "u-1"}) is True
    finally:
        client.close()


def test_a_rotation_needs_confirming(web_server: VexilServer) -> None:
    project = create_project(web_server)
    with web_server.admin() as api:
        key = sdk_key(api, project)
    with dashboard(web_server) as (client, csrf):
        url = f"/projects/{project}/environments/development/rotate"
        response = client.post(url, data={"csrf": csrf, "kind": "server", "overlap": "0"})
        assert response.status_code == 400
        assert 'aria-invalid="true" aria-describedby="confirm-error"' in response.text
        assert "Tick the box to confirm the rotation." in response.text
        response = client.post(
            url, data={"csrf": csrf, "kind": "server", "overlap": "99999999", "confirm": "yes"}
        )
        assert response.status_code == 400
        assert "Choose when the old key stops working" in response.text
    with web_server.admin() as api:
        assert sdk_key(api, project) == key


def test_keys_reveal_without_javascript(browser: Browser, web_server: VexilServer) -> None:
    project = create_project(web_server)
    with web_server.admin() as api:
        key = sdk_key(api, project, "production", "client")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, web_server)
        page.goto(f"{web_server.base_url}/projects/{project}/environments")
        expect(page.get_by_role("button", name="Copy the client key of production")).to_be_hidden()
        page.get_by_role("button", name="Reveal the client key of production").click()
        expect(page).to_have_url(re.compile(r"reveal=production%3Aclient"))
        expect(page.locator("#key-production-client")).to_have_text(key)
        page.get_by_role("button", name="Hide the client key of production").click()
        expect(page.locator("#key-production-client")).not_to_contain_text(key)
        # The segment editor's buttons work as plain form posts too.
        page.goto(f"{web_server.base_url}/projects/{project}/segments")
        page.get_by_label("Key", exact=True).fill("nojs")
        page.get_by_role("button", name="Create segment").click()
        page.get_by_role("button", name="Add a rule").click()
        expect(page.get_by_role("group", name="Rule 1")).to_be_visible()
    finally:
        context.close()


def test_create_an_environment(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/environments")
    page.get_by_label("Key", exact=True).fill("bad key")
    page.get_by_role("button", name="Create environment").click()
    expect(page.get_by_label("Key", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#new-env-key-error")).to_contain_text("Invalid key")
    page.get_by_label("Key", exact=True).fill("staging")
    page.get_by_label("Name (optional)").fill("Staging")
    page.get_by_role("button", name="Create environment").click()
    expect(page.get_by_role("status").first).to_contain_text("Environment staging created")
    expect(page.get_by_role("heading", name="Staging")).to_be_visible()
    expect(page.locator("#key-staging-server")).to_contain_text("vx-srv-")


# ------------------------------------------------------------ tokens, users


def test_create_a_token_see_its_secret_once_and_revoke_it(
    page: Page, web_server: VexilServer
) -> None:
    project = create_project(web_server)
    name = f"ci-{uuid.uuid4().hex[:6]}"
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/tokens")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Role").select_option("editor")
    page.get_by_label("Project").select_option(project)
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    secret = page.get_by_label("Secret").input_value()
    assert secret.startswith("vx-api-")
    expect(page.get_by_role("button", name="Copy")).to_be_visible()

    with httpx.Client(base_url=web_server.base_url, timeout=10) as api:
        bearer = {"Authorization": f"Bearer {secret}"}
        assert api.get(f"{API}/projects/{project}", headers=bearer).status_code == 200
        page.get_by_role("link", name="Back to the tokens").click()
        row = page.get_by_role("row").filter(has_text=name)
        expect(row).to_contain_text("editor")
        expect(row).to_contain_text(project)
        assert secret not in page.content()
        row.get_by_role("button", name=f"Revoke token {name}").click()
        expect(page.get_by_role("status")).to_contain_text(f"Token {name} revoked")
        expect(page.get_by_role("row").filter(has_text=name)).to_have_count(0)
        assert api.get(f"{API}/projects/{project}", headers=bearer).status_code == 401


def test_create_a_user_change_their_role_and_disable_them(
    page: Page, web_server: VexilServer
) -> None:
    username = f"ana-{uuid.uuid4().hex[:6]}"
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/users")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-password-error")).to_have_text(
        "A password needs at least 8 characters."
    )
    expect(page.get_by_label("Username")).to_have_value(username)
    page.get_by_label("Password").fill("a long password")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_contain_text(f"User {username} created as viewer")

    page.get_by_role("link", name=f"Manage {username}").click()
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_role("button", name="Change role").click()
    expect(page.get_by_role("status")).to_have_text(f"{username} is now an editor.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("editor")

    page.get_by_label("New password").fill("another long one")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status")).to_contain_text(f"New password set for {username}")
    with httpx.Client(base_url=web_server.base_url, timeout=10) as api:
        assert api.get(f"{API}/projects", auth=(username, "another long one")).status_code == 200

        page.get_by_role("button", name=f"Disable {username}").click()
        expect(page.get_by_role("status")).to_contain_text("is disabled")
        expect(page.get_by_role("heading", level=1)).to_contain_text("disabled")
        assert api.get(f"{API}/projects", auth=(username, "another long one")).status_code == 401

    page.get_by_role("button", name=f"Enable {username}").click()
    expect(page.get_by_role("status")).to_contain_text("is enabled again")
    page.get_by_text(f"Delete {username}", exact=True).click()
    page.get_by_label(f"Yes, delete {username} for good").check()
    page.get_by_role("button", name="Delete user").click()
    expect(page.get_by_role("status")).to_contain_text(f"User {username} deleted")
    expect(page.get_by_role("link", name=f"Manage {username}")).to_have_count(0)


def test_admins_cannot_demote_disable_or_delete_themselves(web_server: VexilServer) -> None:
    with dashboard(web_server) as (client, csrf):
        users = client.get("/users").text
        found = re.search(r'href="/users/(\d+)" aria-label="Manage admin"', users)
        assert found is not None
        me = found.group(1)
        page = client.get(f"/users/{me}").text
        assert "Change role" not in page
        assert "Delete user" not in page
        for action, data in (("role", {"role": "viewer"}), ("delete", {"confirm": "yes"})):
            response = client.post(f"/users/{me}/{action}", data={"csrf": csrf, **data})
            assert response.status_code == 403
            assert "ask another admin" in response.text
    with web_server.admin() as api:
        assert api.get(f"{API}/projects").status_code == 200  # still an admin


def test_create_a_project(page: Page, web_server: VexilServer) -> None:
    key = f"shop-{uuid.uuid4().hex[:6]}"
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects")
    page.get_by_label("Key").fill("default")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_label("Key")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-key-error")).to_have_text("Project 'default' already exists.")
    page.get_by_label("Key").fill(key)
    page.get_by_label("Name (optional)").fill("The shop")
    page.get_by_label("Description (optional)").fill("Flags of the <b>shop</b>")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("status")).to_contain_text(f"Project {key} created")
    row = page.get_by_role("row").filter(has_text=key)
    expect(row).to_contain_text("Flags of the <b>shop</b>")  # escaped, shown as typed
    row.get_by_role("link", name="Environments & keys").click()
    expect(page.get_by_role("heading", name="Production")).to_be_visible()


# ------------------------------------------------------------- who may do what


VIEWER_PAGES = (
    "/projects",
    "/projects/{project}/flags/flag/history",
    "/projects/{project}/segments",
    "/projects/{project}/segments/seg?env=development",
    "/projects/{project}/environments",
    "/audit?project={project}",
)


def test_a_viewer_sees_everything_and_changes_nothing(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "flag")
    toggle(web_server, project, "flag", True)
    with web_server.admin() as api:
        response = api.post(
            f"{API}/projects/{project}/environments/development/segments",
            json={"key": "seg", "included": ["u-1"]},
        )
        assert response.status_code == 201
        server_key = sdk_key(api, project)
    viewer, password = create_user(web_server, "viewer")
    sign_in(page, web_server, viewer, password)
    for path in VIEWER_PAGES:
        page.goto(web_server.base_url + path.format(project=project))
        expect(page.locator("h1")).to_be_visible()
        # The only form that posts is signing out.
        expect(page.locator('main form[method="post"]')).to_have_count(0)
        expect(
            page.get_by_role("button", name=re.compile("Revert|Save|Create|Rotate"))
        ).to_have_count(0)
        expect(page.get_by_role("link", name=re.compile("Rotate"))).to_have_count(0)
    assert server_key not in page.content()  # keys are for admins
    for path in ("/tokens", "/users"):
        page.goto(web_server.base_url + path)
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    csrf = csrf_of(page)
    entry = _first_revert_id(web_server, project)
    posts = {
        "/projects": {"key": f"v-{uuid.uuid4().hex[:6]}"},
        f"/projects/{project}/flags/flag/history/{entry}/revert": {"comment": "no"},
        f"/projects/{project}/segments": {"env": "development", "key": "other"},
        f"/projects/{project}/segments/seg?env=development": {
            "action": "save",
            "version": "1",
            "included": "u-9",
            "rules": "0",
        },
        f"/projects/{project}/segments/seg/delete": {"env": "development"},
        f"/projects/{project}/environments": {"key": "qa"},
        f"/projects/{project}/environments/development/rotate": {
            "kind": "server",
            "overlap": "0",
            "confirm": "yes",
        },
        "/tokens": {"name": "sneaky", "role": "admin"},
        "/users": {"username": "sneaky", "password": "long enough", "role": "admin"},
    }
    for path, form in posts.items():
        refused = page.request.post(web_server.base_url + path, form={"csrf": csrf, **form})
        assert refused.status == 403, path
        assert "Traceback" not in refused.text()
    # Nothing changed.
    assert targeting(web_server, project, "flag")["on"] is True
    with web_server.admin() as api:
        assert sdk_key(api, project) == server_key
        segment = api.get(f"{API}/projects/{project}/environments/development/segments/seg")
        assert segment.json()["included"] == ["u-1"]
        assert [e["key"] for e in api.get(f"{API}/projects/{project}/environments").json()] == [
            "development",
            "production",
        ]


def _first_revert_id(server: VexilServer, project: str) -> int:
    with server.admin() as api:
        items = api.get(f"{API}/audit", params={"project": project, "flag": "flag"}).json()
    return int(next(i["id"] for i in items["items"] if i["resource"] == "targeting"))


def test_an_editor_edits_segments_but_not_keys(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    editor, password = create_user(web_server, "editor")
    sign_in(page, web_server, editor, password)
    page.goto(f"{web_server.base_url}/projects/{project}/segments")
    expect(page.get_by_role("button", name="Create segment")).to_be_visible()
    page.goto(f"{web_server.base_url}/projects/{project}/environments")
    expect(page.get_by_text("SDK keys are shown to admins only.")).to_be_visible()
    expect(page.get_by_role("button", name="Create environment")).to_have_count(0)
    response = page.request.post(
        f"{web_server.base_url}/projects/{project}/environments/development/rotate",
        form={"csrf": csrf_of(page), "kind": "server", "overlap": "0", "confirm": "yes"},
    )
    assert response.status == 403
    assert "needs the admin role" in response.text()


@pytest.mark.parametrize(
    "path",
    [
        "/projects",
        "/projects/default/segments",
        "/projects/default/environments/development/rotate",
        "/tokens",
        "/users",
    ],
)
def test_a_form_without_its_csrf_token_is_refused(
    page: Page, web_server: VexilServer, path: str
) -> None:
    sign_in(page, web_server)
    response = page.request.post(
        web_server.base_url + path,
        form={"key": f"x-{uuid.uuid4().hex[:6]}", "name": "x", "kind": "server", "role": "viewer"},
    )
    assert response.status == 403
    assert "security token" in response.text()


def test_pages_fit_a_phone(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "flag")
    toggle(web_server, project, "flag", True)
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, web_server)
    for path in (
        "/projects",
        f"/projects/{project}/flags/flag/history",
        f"/audit?project={project}",
        "/projects/default/segments/staff?env=development",
        f"/projects/{project}/environments",
        "/tokens",
        "/users",
    ):
        page.goto(web_server.base_url + path)
        expect(page.locator("h1")).to_be_visible()
        assert no_horizontal_scroll(page), path

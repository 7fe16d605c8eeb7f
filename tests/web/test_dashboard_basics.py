"""Signing in and out, sessions, CSRF, escaping and error pages, in a real Chromium."""

from __future__ import annotations

import uuid

import httpx
from _web import create_flag, create_project, create_user, sign_in
from playwright.sync_api import Browser, Page, expect

from _services import ADMIN_PASSWORD, VexilServer
from vexil import __version__


def test_pages_need_a_sign_in_and_come_back_after_it(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/flags?q=x")
    expect(page).to_have_url(f"{web_server.base_url}/login?next=/projects/{project}/flags%3Fq%3Dx")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{web_server.base_url}/projects/{project}/flags?q=x")
    expect(page.get_by_role("heading", name="Flags")).to_be_visible()


def test_a_wrong_password_is_refused_in_words(page: Page, web_server: VexilServer) -> None:
    page.goto(f"{web_server.base_url}/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    assert page.context.cookies() == [
        c for c in page.context.cookies() if c["name"] != "vexil_session"
    ]


def test_the_session_cookie_is_http_only_and_same_site(page: Page, web_server: VexilServer) -> None:
    sign_in(page, web_server)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "vexil_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert page.evaluate("document.cookie").find("vexil_session") == -1


def test_signing_out_ends_the_session_for_good(page: Page, web_server: VexilServer) -> None:
    sign_in(page, web_server)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "vexil_session"]
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{web_server.base_url}/login")
    # The old cookie, replayed, opens nothing: the session is gone from the database.
    replay = httpx.get(
        f"{web_server.base_url}/", cookies={"vexil_session": cookie["value"]}, timeout=10
    )
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/login")


def test_a_form_posted_without_its_csrf_token_is_refused(
    page: Page, web_server: VexilServer
) -> None:
    sign_in(page, web_server)
    response = page.request.post(f"{web_server.base_url}/logout", form={"csrf": "forged"})
    assert response.status == 403
    assert "security token" in response.text()
    page.goto(f"{web_server.base_url}/")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # still signed in


def test_the_sign_in_form_is_protected_too(web_server: VexilServer) -> None:
    """A sign-in posted from elsewhere (no matching cookie) does not sign anyone in."""
    response = httpx.post(
        f"{web_server.base_url}/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": "x", "next": "/"},
        timeout=10,
    )
    assert response.status_code == 401
    assert "vexil_session" not in response.cookies


def test_next_never_leads_to_another_site(page: Page, web_server: VexilServer) -> None:
    page.goto(f"{web_server.base_url}/login?next=//evil.example/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)
    assert page.url.startswith(web_server.base_url)


def test_html_in_flag_fields_is_shown_as_text(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    marker = f"x{uuid.uuid4().hex[:6]}"
    name = f'<img src=x onerror="window.{marker}=1"><b>bold</b>'
    create_flag(
        web_server, project, "html-flag", name=name, description=f"<script>{marker}</script>"
    )
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/flags")
    expect(page.get_by_role("link", name=name)).to_be_visible()  # the tags as text
    assert page.evaluate(f"window.{marker}") is None
    assert page.locator("b", has_text="bold").count() == 0
    # The flag's own page shows the description too, as text.
    page.goto(f"{web_server.base_url}/projects/{project}/flags/html-flag")
    expect(page.get_by_text(f"<script>{marker}</script>")).to_be_visible()
    expect(page.get_by_text(name).first).to_be_visible()
    assert page.evaluate(f"window.{marker}") is None
    assert page.locator("b", has_text="bold").count() == 0
    # The page's own values never shadow the layout's (the footer names Vexil's version).
    expect(page.locator("footer")).to_have_text(f"Vexil {__version__}")


def test_unknown_pages_and_errors_are_pages_without_stack_traces(
    page: Page, web_server: VexilServer
) -> None:
    sign_in(page, web_server)
    response = page.goto(f"{web_server.base_url}/projects/no-such-project/flags")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Traceback" not in page.content()
    response = page.goto(f"{web_server.base_url}/no/such/page")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_text("There is no such page.")).to_be_visible()


def test_a_viewer_sees_no_edit_controls(browser: Browser, web_server: VexilServer) -> None:
    username, password = create_user(web_server, "viewer")
    project = create_project(web_server)
    create_flag(web_server, project, "seen")
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, web_server, username, password)
        page.goto(f"{web_server.base_url}/projects/{project}/flags")
        expect(page.get_by_role("link", name="seen")).to_be_visible()
        expect(page.get_by_role("link", name="New flag")).to_have_count(0)
        expect(page.get_by_text("viewer", exact=True)).to_be_visible()
    finally:
        context.close()


def test_the_layout_fits_a_phone(browser: Browser, web_server: VexilServer) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    page = context.new_page()
    try:
        sign_in(page, web_server)
        page.goto(f"{web_server.base_url}/")
        expect(page.get_by_role("heading", name="Flags")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a 375px screen"
    finally:
        context.close()

"""Security headers: a strict policy on the dashboard, nosniff and no framing everywhere,
HSTS over HTTPS behind a trusted proxy; and, in a real Chromium, what they prevent
(another origin framing the signed-in dashboard) and what they must not break."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from _web import API, create_flag, create_project, sign_in
from playwright.sync_api import Browser, Page, Route, expect

from _services import ADMIN_PASSWORD, VexilServer, wait_for

#: What every dashboard page's policy must say.
DASHBOARD_POLICY = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]
COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
HSTS = "strict-transport-security"
#: The rate limits of signing in do not concern these tests.
UNLIMITED = {
    "VEXIL_AUTH_RATE_PER_CLIENT": "100000/minute",
    "VEXIL_AUTH_RATE_PER_USER": "100000/minute",
}


def directives(response: httpx.Response) -> list[str]:
    return [d.strip() for d in response.headers["content-security-policy"].split(";")]


def assert_common(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (response.url, name)
    assert HSTS not in response.headers  # plain HTTP


def sign_in_with(client: httpx.Client) -> None:
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    response = client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": token[1], "next": "/"},
    )
    assert response.status_code == 303


def test_dashboard_pages_and_error_pages_have_the_strict_policy(web_server: VexilServer) -> None:
    project = create_project(web_server)
    with httpx.Client(base_url=web_server.base_url, timeout=10) as client:
        sign_in_with(client)
        for path, status in [
            ("/login", 303),  # signed in already: on to the dashboard
            (f"/projects/{project}/flags", 200),
            (f"/projects/{project}/segments", 200),
            ("/audit", 200),
            ("/projects/no-such-project/flags", 404),  # an error page
            ("/no/such/page", 404),
        ]:
            response = client.get(path)
            assert response.status_code == status, path
            assert_common(response)
            policy = directives(response)
            assert all(d in policy for d in DASHBOARD_POLICY), (path, policy)
            assert not any("unsafe" in d for d in policy), policy
    signed_out = httpx.get(f"{web_server.base_url}/login", timeout=10)
    assert_common(signed_out)
    assert "frame-ancestors 'none'" in directives(signed_out)


def test_static_files_and_api_answers_have_the_headers(web_server: VexilServer) -> None:
    base = web_server.base_url
    with web_server.admin() as admin:
        answers = [
            httpx.get(f"{base}/static/app.js", timeout=10),
            httpx.get(f"{base}/static/app.css", timeout=10),
            httpx.get(f"{base}/healthz", timeout=10),
            httpx.get(f"{base}/api/v1/projects", timeout=10),  # 401, JSON
            httpx.get(f"{base}/api/openapi.json", timeout=10),
            admin.get(f"{API}/projects"),
            admin.get(f"{API}/projects/no-such-project"),  # 404, JSON
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 401, 200, 200, 404]
    for answer in answers:
        assert_common(answer)
        assert "frame-ancestors 'none'" in directives(answer)


def test_the_api_docs_page_has_a_policy_of_its_own(web_server: VexilServer) -> None:
    """Swagger UI comes from a CDN and starts with an inline script: allowed there only."""
    response = httpx.get(f"{web_server.base_url}/api/docs", timeout=10)
    assert response.status_code == 200
    assert_common(response)
    policy = directives(response)
    assert "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net" in policy
    assert "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net" in policy
    assert "frame-ancestors 'none'" in policy
    assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist" in response.text


def sign_in_over(client: httpx.Client, proto: str) -> httpx.Response:
    """Sign in with ``X-Forwarded-Proto: proto``, as a TLS-terminating proxy would send.

    The cookies go by hand: httpx would keep a ``Secure`` one to itself over HTTP.
    """
    forwarded = {"X-Forwarded-Proto": proto}
    form = client.get("/login", headers=forwarded)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": token[1], "next": "/"},
        headers={**forwarded, "Cookie": f"vexil_login_csrf={form.cookies['vexil_login_csrf']}"},
    )


def session_cookie(response: httpx.Response) -> str:
    (cookie,) = [c for c in response.headers.get_list("set-cookie") if "vexil_session=" in c]
    return cookie


@pytest.mark.slow
def test_behind_a_trusted_proxy_https_makes_secure_sessions_and_hsts(
    new_server: Callable[..., VexilServer],
) -> None:
    server = new_server("sqlite", VEXIL_TRUSTED_PROXIES="127.0.0.1", **UNLIMITED)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        response = sign_in_over(client, "https")
        assert response.status_code == 303, response.text
        assert "; secure" in session_cookie(response).lower()
        assert response.headers[HSTS] == "max-age=31536000"
        # The same server over plain HTTP: no HSTS, and a cookie that is not Secure.
        response = sign_in_over(client, "http")
        assert response.status_code == 303
        assert "secure" not in session_cookie(response).lower()
        assert HSTS not in response.headers


@pytest.mark.slow
def test_without_trusted_proxies_x_forwarded_proto_is_ignored(
    new_server: Callable[..., VexilServer],
) -> None:
    server = new_server("sqlite", **UNLIMITED)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        response = sign_in_over(client, "https")
        assert response.status_code == 303, response.text
        assert "secure" not in session_cookie(response).lower()
        assert HSTS not in response.headers


@pytest.mark.slow
def test_hsts_seconds_0_never_sends_hsts(new_server: Callable[..., VexilServer]) -> None:
    server = new_server("sqlite", VEXIL_TRUSTED_PROXIES="127.0.0.1", VEXIL_HSTS_SECONDS="0")
    response = httpx.get(
        f"{server.base_url}/login", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert response.status_code == 200
    assert "; secure" in response.headers["set-cookie"].lower()  # https it is
    assert HSTS not in response.headers


# ------------------------------------------------------------------ in Chromium


@contextmanager
def another_origin(pages: dict[str, str]) -> Iterator[str]:
    """A tiny HTTP server on another loopback port, serving ``pages`` (path: HTML)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path, "not here").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, name="framing-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_another_origin_cannot_frame_the_signed_in_dashboard(
    browser: Browser, web_server: VexilServer
) -> None:
    """The same site on another port (cookies go along) frames a page of its own, but
    the dashboard's frame is refused: no dashboard in it to click on."""
    project = create_project(web_server)
    dashboard = f"{web_server.base_url}/projects/{project}/flags"
    framing = (
        f'<iframe name="dashboard" src="{dashboard}"></iframe>'
        '<iframe name="own" src="/own"></iframe>'
    )
    context = browser.new_context()  # its console shows the refusal, on purpose
    refusals: list[str] = []
    context.on("console", lambda m: refusals.append(m.text))
    try:
        page = context.new_page()
        sign_in(page, web_server)
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
        with another_origin({"/": framing, "/own": "<p>the framing site's own page</p>"}) as site:
            page.goto(f"{site}/")
            own = wait_for(lambda: _loaded(page, "own"), timeout=10, what="the own frame")
            expect(own.locator("p")).to_have_text("the framing site's own page")
            framed = wait_for(lambda: _settled(page, "dashboard"), timeout=10, what="the frame")
            assert not framed.url.startswith(web_server.base_url), framed.url
            assert framed.locator("text=Sign out").count() == 0
        assert any("frame-ancestors" in text for text in refusals), refusals
    finally:
        context.close()


def _loaded(page: Page, name: str) -> object:
    frame = page.frame(name=name)
    return frame if frame is not None and frame.url.endswith("/own") else None


def _settled(page: Page, name: str) -> object:
    """The frame once Chromium has decided about it (its error page, when refused)."""
    frame = page.frame(name=name)
    return frame if frame is not None and frame.url not in ("", "about:blank") else None


def test_the_main_pages_break_no_policy_and_their_scripts_work(
    page: Page, web_server: VexilServer, csp_violations: list[str]
) -> None:
    """Flag list, flag page (editor, rollout total, live news, insights), segments,
    environments (reveal), history, audit and an error page, under the strict policy.

    The ``context`` fixture fails the test on any violation; the first step shows
    that it notices one.
    """
    project, key = create_project(web_server), f"f-{uuid.uuid4().hex[:6]}"
    create_flag(web_server, project, key)
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/flags")
    expect(page.get_by_role("link", name=key)).to_be_visible()
    with page.expect_console_message(lambda m: m.text.startswith("CSP violation:")):
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.ran = 1'; document.body.append(s); }"
        )
    assert page.evaluate("window.ran") is None  # inline script: refused
    assert csp_violations
    csp_violations.clear()

    page.goto(f"{web_server.base_url}/projects/{project}/flags/{key}?env=development")
    page.get_by_role("button", name="Add rule").click()  # app.js, in the page
    rule = page.locator("[data-rule]").last
    expect(rule.get_by_label("Attribute", exact=True)).to_be_focused()
    rule.get_by_label("A percentage rollout").check()
    weights = rule.locator("[data-weight]")
    weights.nth(0).fill("30")
    weights.nth(1).fill("30")
    expect(rule.locator("[data-total]")).to_have_text("Total: 60%")
    expect(page.get_by_role("heading", name="Evaluations")).to_be_visible()  # insights
    with web_server.admin() as admin:
        response = admin.post(
            f"{API}/projects/{project}/environments/development/flags/{key}/toggle",
            json={"on": True},
        )
        assert response.status_code == 200, response.text
    banner = page.get_by_role("status").filter(has_text="This flag was changed")
    expect(banner).to_contain_text("by admin")  # live news, fetched by app.js

    page.goto(f"{web_server.base_url}/projects/{project}/flags/{key}/history")
    expect(page.get_by_role("heading", name=f"History of {key}")).to_be_visible()
    page.goto(f"{web_server.base_url}/projects/{project}/segments")
    expect(page.get_by_role("heading", name="Segments", exact=True)).to_be_visible()
    page.goto(f"{web_server.base_url}/projects/{project}/environments")
    reveal = page.get_by_role("button", name="Reveal the server key of development")
    reveal.click()  # fetched and shown in place by app.js
    expect(page.get_by_role("button", name="Hide the server key of development")).to_be_visible()
    assert "reveal=" not in page.url
    page.goto(f"{web_server.base_url}/audit?project={project}")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    page.goto(f"{web_server.base_url}/projects/{project}/no-such-page")
    back = page.get_by_role("link", name="Go back")
    back.click()  # history.back() from app.js: no javascript: link
    expect(page).to_have_url(f"{web_server.base_url}/audit?project={project}")
    assert csp_violations == []


def test_the_api_docs_start_under_their_policy(
    page: Page, web_server: VexilServer, csp_violations: list[str]
) -> None:
    """Swagger UI's inline start-up script runs under the docs page's policy.

    The CDN cannot be reached from here: Playwright answers its two files, the
    script with a stand-in that records that the page's inline script called it.
    """
    stand_in = (
        "window.SwaggerUIBundle = (options) => { document.body.dataset.started = options.url; };"
        "SwaggerUIBundle.presets = {apis: {}}; SwaggerUIBundle.SwaggerUIStandalonePreset = {};"
    )

    def answer(route: Route) -> None:
        if route.request.url.endswith(".css"):
            route.fulfill(body="", content_type="text/css")
        else:
            route.fulfill(body=stand_in, content_type="text/javascript")

    page.route("https://cdn.jsdelivr.net/**", answer)
    page.route("https://fastapi.tiangolo.com/**", lambda route: route.abort())
    page.goto(f"{web_server.base_url}/api/docs")
    expect(page.locator("body")).to_have_attribute("data-started", "/api/openapi.json")
    assert csp_violations == []

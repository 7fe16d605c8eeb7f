# mypy: allow-subclassing-any, disable-error-code="import-untyped"
"""The Flask extension, through Flask's own test client and a real Vexil client."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _frameworks import boolean_flag, example, targeting, vexil_threads, write_flags
from flask import Flask, render_template_string
from flask_login import LoginManager, UserMixin, login_user, logout_user

from _services import VexilServer, new_flag, sdk_key, toggle_on, wait_for
from vexil import ConfigurationError
from vexil.integrations.flask import Vexil, flag, flag_on, flag_required, request_context
from vexil.testing import TestClient

pytestmark = pytest.mark.usefixtures("no_thread_left_behind")


def make_app(**config: Any) -> Flask:
    """An application with a page behind ``new-ui`` and a template reading flags."""
    app = Flask(__name__)
    app.config.update(config)

    @app.get("/")
    def index() -> str:
        return "home"

    @app.get("/new")
    @flag_required("new-ui")
    def new() -> str:
        return "the new ui"

    @app.get("/beta")
    @flag_required("new-ui", redirect_to="index")
    def beta() -> str:
        return "beta"

    @app.get("/elsewhere")
    @flag_required("new-ui", redirect_to="https://example.com/old")
    def elsewhere() -> str:
        return "elsewhere"

    @app.get("/async")
    @flag_required("new-ui")
    async def async_view() -> str:
        return "async and new"

    @app.get("/page")
    def page() -> str:
        return render_template_string(
            '{% if flag("new-ui") %}new{% else %}old{% endif %}'
            '|{{ flag("button-color", "blue") }}'
            '|{% if "new-ui" is flag_on %}on{% else %}off{% endif %}'
        )

    return app


@pytest.fixture
def app(flags: TestClient) -> Iterator[Flask]:
    app = make_app(VEXIL_CLIENT=flags)
    vexil = Vexil(app)
    yield app
    vexil.close()


# --------------------------------------------------------------- the decorator


def test_flag_required_answers_404_while_off_and_runs_the_view_when_on(
    app: Flask, flags: TestClient
) -> None:
    http = app.test_client()
    assert http.get("/new").status_code == 404

    flags.set("new-ui", True)
    response = http.get("/new")
    assert response.status_code == 200
    assert response.text == "the new ui"


def test_flag_required_redirects_to_an_endpoint_or_a_url(app: Flask, flags: TestClient) -> None:
    http = app.test_client()
    to_endpoint = http.get("/beta")
    assert to_endpoint.status_code == 302
    assert to_endpoint.headers["Location"] == "/"
    to_url = http.get("/elsewhere")
    assert to_url.status_code == 302
    assert to_url.headers["Location"] == "https://example.com/old"

    flags.set("new-ui", True)
    assert http.get("/beta").text == "beta"
    assert http.get("/elsewhere").text == "elsewhere"


def test_flag_required_guards_async_views(app: Flask, flags: TestClient) -> None:
    http = app.test_client()
    assert http.get("/async").status_code == 404
    flags.set("new-ui", True)
    assert http.get("/async").text == "async and new"


def test_a_flag_that_is_not_a_boolean_true_keeps_the_view_closed(
    app: Flask, flags: TestClient
) -> None:
    flags.set("new-ui", "yes")  # a string flag: truthy, but not a boolean flag that is on
    assert app.test_client().get("/new").status_code == 404
    flags.remove("new-ui")  # an unknown flag: closed too
    assert app.test_client().get("/new").status_code == 404


# ---------------------------------------------------------------- templates


def test_templates_read_flags_with_the_global_and_the_test(app: Flask, flags: TestClient) -> None:
    http = app.test_client()
    assert http.get("/page").text == "old|blue|off"

    flags.set("new-ui", True)
    flags.set("button-color", "green")
    assert http.get("/page").text == "new|green|on"


def test_flag_and_flag_on_work_in_views_too(app: Flask, flags: TestClient) -> None:
    flags.set("button-color", "green")
    with app.test_request_context("/"):
        assert flag("button-color", "blue") == "green"
        assert flag("button-color") == "green"  # no default: any type comes through
        assert flag("button-color", False) is False  # a default of another type: TYPE_MISMATCH
        assert flag("missing", 3) == 3
        assert flag("missing") is None
        assert flag_on("new-ui") is False


# ------------------------------------------------------------------ contexts


class User(UserMixin):
    def __init__(self, user_id: str, email: str) -> None:
        self.id = user_id
        self.email = email


USERS = {"u-42": User("u-42", "ana@vexil.dev"), "u-7": User("u-7", "bo@vexil.dev")}


@pytest.fixture
def login_app(app: Flask) -> Flask:
    app.secret_key = "not a secret: tests only"
    manager = LoginManager(app)
    manager.user_loader(USERS.get)

    @app.post("/login/<user_id>")
    def login(user_id: str) -> str:
        login_user(USERS[user_id])
        return "signed in"

    @app.post("/logout")
    def logout() -> str:
        logout_user()
        return "signed out"

    return app


def test_the_signed_in_flask_login_user_is_the_context(login_app: Flask, flags: TestClient) -> None:
    flags.set_flag("new-ui", targeting("u-42"))
    http = login_app.test_client()
    assert http.get("/new").status_code == 404  # anonymous

    http.post("/login/u-42")
    assert http.get("/new").status_code == 200
    assert flags.evaluated("new-ui")[-1].context == {
        "key": "u-42",
        "email": "ana@vexil.dev",
        "ip": "127.0.0.1",
    }

    http.post("/logout")
    http.post("/login/u-7")
    assert http.get("/new").status_code == 404
    assert flags.evaluated("new-ui")[-1].context["key"] == "u-7"


def test_anonymous_visitors_are_keyed_by_address_or_by_the_configured_cookie(
    login_app: Flask, flags: TestClient
) -> None:
    http = login_app.test_client()
    http.get("/page")
    assert flags.evaluated("new-ui")[-1].context == {
        "key": "127.0.0.1",
        "anonymous": True,
        "ip": "127.0.0.1",
    }

    login_app.config["VEXIL_KEY_COOKIE"] = "visitor"
    flags.set_flag("new-ui", targeting("v-123"))
    http.set_cookie("visitor", "v-123")
    assert http.get("/new").status_code == 200
    assert flags.evaluated("new-ui")[-1].context["key"] == "v-123"


def test_the_context_is_built_once_per_request(flags: TestClient) -> None:
    calls: list[str] = []
    app = make_app(VEXIL_CLIENT=flags)
    vexil = Vexil(app)

    @vexil.context_loader
    def context() -> dict[str, Any]:
        calls.append("called")
        return {"key": "team-a", "plan": "pro"}

    flags.set_flag(
        "new-ui",
        boolean_flag(
            False,
            rules=[
                {"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
            ],
        ),
    )
    http = app.test_client()
    assert http.get("/page").text == "new|blue|on"  # three evaluations
    assert len(calls) == 1
    assert http.get("/new").status_code == 200
    assert len(calls) == 2
    assert {e.context["key"] for e in flags.evaluations} == {"team-a"}
    vexil.close()


def test_a_failing_context_loader_is_logged_and_the_visitor_is_anonymous(
    flags: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> dict[str, Any]:
        raise LookupError("no session store")

    app = make_app(VEXIL_CLIENT=flags)
    vexil = Vexil(app, context=broken)
    flags.set_flag("new-ui", targeting("anonymous"))
    with caplog.at_level(logging.ERROR, logger="vexil.flask"):
        assert app.test_client().get("/new").status_code == 200
    assert "context loader failed" in caplog.text
    assert "no session store" in caplog.text
    vexil.close()


def test_outside_a_request_the_context_is_given_or_anonymous(app: Flask, flags: TestClient) -> None:
    flags.set_flag("new-ui", targeting("u-1"))
    vexil: Vexil = app.extensions["vexil"].extension
    with app.app_context():
        assert vexil.variation("new-ui", False, context={"key": "u-1"}) is True
        assert vexil.is_on("new-ui", context={"key": "u-2"}) is False
        assert vexil.is_on("new-ui") is False
        assert vexil.context() == {"key": "anonymous", "anonymous": True}
        detail = vexil.detail("new-ui", False, context={"key": "u-1"})
        assert (detail.value, detail.variant) == (True, "on")
        assert vexil.all_flags(context={"key": "u-1"}) == {"new-ui": True}
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        assert request_context() == {"key": "10.1.2.3", "anonymous": True, "ip": "10.1.2.3"}


# ------------------------------------------------------- the pytest fixture


def test_the_vexil_flags_fixture_takes_over_the_apps_client(
    app: Flask, flags: TestClient, vexil_flags: TestClient
) -> None:
    flags.set("new-ui", False)
    vexil_flags.set("new-ui", True)
    vexil_flags.set("button-color", "orange")
    http = app.test_client()
    assert http.get("/new").status_code == 200
    assert http.get("/page").text == "new|orange|on"
    assert [e.value for e in vexil_flags.evaluated("new-ui")] == [True, True, True]
    assert flags.evaluations == []  # the application's own client was not asked


# ------------------------------------------------------------ configuration


@pytest.mark.slow
def test_flags_from_a_file_relative_to_the_app_and_watched(tmp_path: Path) -> None:
    write_flags(tmp_path / "flags.json", {"new-ui": boolean_flag(False)})
    app = make_app(VEXIL_FILE="flags.json", VEXIL_WATCH=True)
    app.root_path = str(tmp_path)
    vexil = Vexil(app)
    try:
        http = app.test_client()
        assert http.get("/new").status_code == 404
        write_flags(tmp_path / "flags.json", {"new-ui": boolean_flag(True, name="New UI")})
        wait_for(lambda: http.get("/new").status_code == 200, what="the edited file")
    finally:
        vexil.close()


def test_testing_settings_make_a_test_client() -> None:
    app = make_app(VEXIL_TESTING={"new-ui": True})
    vexil = Vexil(app)
    assert app.test_client().get("/new").status_code == 200
    with app.app_context():
        client = vexil.client
    assert isinstance(client, TestClient)
    assert [e.context["key"] for e in client.evaluated("new-ui")] == ["127.0.0.1"]
    vexil.close()


def test_one_extension_serves_several_applications(flags: TestClient) -> None:
    vexil = Vexil()
    first, second = make_app(VEXIL_CLIENT=flags), make_app(VEXIL_TESTING={"new-ui": True})
    vexil.init_app(first)
    vexil.init_app(second)
    assert first.test_client().get("/new").status_code == 404
    assert second.test_client().get("/new").status_code == 200
    with pytest.raises(RuntimeError, match="already initialized"):
        vexil.init_app(first)
    vexil.close()


def test_helpers_on_an_app_without_the_extension_say_what_to_do() -> None:
    app = make_app(TESTING=True)  # so that the error reaches the test, not a 500 page
    with pytest.raises(RuntimeError, match=r"call Vexil\(app\)"):
        app.test_client().get("/new")


def test_close_closes_the_clients_it_made_and_not_a_given_one(
    tmp_path: Path, flags: TestClient
) -> None:
    made = make_app(VEXIL_FILE=write_flags(tmp_path / "f.json", {}), VEXIL_WATCH=True)
    given = make_app(VEXIL_CLIENT=flags)
    vexil = Vexil()
    vexil.init_app(made)
    vexil.init_app(given)
    with made.app_context():
        own = vexil.client
    assert own.status == "polling"
    assert any(t.name == "vexil-file" for t in vexil_threads())

    vexil.close()
    vexil.close()  # twice is fine
    assert own.status == "stopped"
    assert not any(t.name == "vexil-file" for t in vexil_threads())
    assert given.test_client().get("/new").status_code == 404  # still serves


def test_the_client_is_closed_when_the_process_exits(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(
        """
import atexit, sys
from flask import Flask
from vexil.integrations.flask import Vexil

# Registered first, so it runs after the extension's own exit handler.
atexit.register(lambda: print("status at exit:", client.status))
app = Flask("exiting")
app.config.update(VEXIL_FILE=sys.argv[1], VEXIL_WATCH=True)
vexil = Vexil(app)
with app.app_context():
    client = vexil.client
print("status:", client.status)
""",
        encoding="utf-8",
    )
    flags = write_flags(tmp_path / "flags.json", {})
    result = subprocess.run(
        [sys.executable, str(script), str(flags)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["status: polling", "status at exit: stopped"]


@pytest.mark.parametrize(
    ("config", "setting", "message"),
    [
        ({"VEXIL_FILE": "x.yaml", "VEXIL_TESTING": True}, "VEXIL_FILE", "only one of"),
        ({"VEXIL_CLIENT": "vx-srv-0123456789"}, "VEXIL_CLIENT", "must be a vexil.Client"),
        ({"VEXIL_TESTING": "yes"}, "VEXIL_TESTING", "True or a dict"),
        ({"VEXIL_TESTING": {"new-ui": object()}}, "VEXIL_TESTING", "must be a bool"),
        ({"VEXIL_FILE": "missing.yaml"}, "VEXIL_FILE", "no flag file"),
        ({"VEXIL_FILE": 42}, "VEXIL_FILE", "must be a path"),
        ({"VEXIL_WATCH": True, "VEXIL_TESTING": True}, "VEXIL_WATCH", "VEXIL_FILE only"),
        ({"VEXIL_TESTING": True, "VEXIL_URL": "http://x"}, "VEXIL_URL", "server connection"),
        ({"VEXIL_SDK_KEY": "vx-cli-0123456789"}, "VEXIL_SDK_KEY", "client key"),
        ({"VEXIL_SDK_KEY": "vx-srv-0123456789", "VEXIL_URL": "ftp://x"}, "VEXIL_URL", "url"),
        ({"VEXIL_SDK_KEY": "vx-srv-0123456789", "VEXIL_OPTIONS": ["a"]}, "VEXIL_OPTIONS", "dict"),
        (
            {"VEXIL_SDK_KEY": "vx-srv-0123456789", "VEXIL_OPTIONS": {"timeout": 1}},
            "VEXIL_OPTIONS",
            "unknown Client option 'timeout'",
        ),
        (
            {"VEXIL_SDK_KEY": "vx-srv-0123456789", "VEXIL_OPTIONS": {"url": "http://x"}},
            "VEXIL_OPTIONS",
            "VEXIL_URL",
        ),
        (
            {"VEXIL_SDK_KEY": "vx-srv-0123456789", "VEXIL_OPTIONS": {"mode": "sometimes"}},
            "VEXIL_OPTIONS",
            "mode must be one of",
        ),
        ({}, "VEXIL_SDK_KEY", "server SDK key"),
    ],
)
def test_a_wrong_setting_is_named(
    config: dict[str, Any], setting: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEXIL_SDK_KEY", raising=False)
    app = make_app(**config)
    with pytest.raises(ConfigurationError, match=rf"app\.config\['{setting}'\]") as raised:
        Vexil(app)
    assert message in str(raised.value)
    assert "vexil" not in app.extensions


def test_an_invalid_flag_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("flags: {x: {variations: {}}}\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"app\.config\['VEXIL_FILE'\].*not a valid"):
        Vexil(make_app(VEXIL_FILE=str(tmp_path / "bad.yaml")))


def test_client_options_reach_the_client() -> None:
    app = make_app(VEXIL_SDK_KEY="vx-srv-0123456789", VEXIL_OPTIONS={"mode": "offline"})
    vexil = Vexil(app)
    with app.app_context():
        assert vexil.client.status == "idle"  # offline: nothing to connect to
    assert app.test_client().get("/new").status_code == 404
    vexil.close()


def test_the_example_application_follows_its_flag_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEXIL_SDK_KEY", raising=False)
    with example("flask") as module:
        try:
            http = module.app.test_client()
            assert "<h1>Home</h1>" in http.get("/").text
            assert http.get("/dashboard").headers["Location"] == "/"

            http.get("/login/staff")
            page = http.get("/").text
            assert "The new home page" in page
            assert "Welcome back!" in page
            assert http.get("/dashboard").text == "The new dashboard."
            assert http.get("/api/theme").json == {
                "new_ui": True,
                "flags": {"new-ui": True, "welcome-banner": "Welcome back!"},
            }
        finally:
            module.vexil.close()


# -------------------------------------------------------- a real vexil serve


def test_a_toggle_on_the_server_reaches_the_next_requests(
    server: VexilServer, admin: httpx.Client, project: str
) -> None:
    new_flag(admin, project)
    app = make_app(
        VEXIL_SDK_KEY=sdk_key(admin, project),
        VEXIL_URL=server.base_url,
        VEXIL_OPTIONS={"send_events": False, "init_timeout": 10},
    )
    vexil = Vexil(app)
    try:
        http = app.test_client()
        with app.app_context():
            assert vexil.client.is_initialized
        assert http.get("/new").status_code == 404  # a new flag is off

        toggle_on(admin, project)
        wait_for(lambda: http.get("/new").status_code == 200, what="the toggle to arrive")
        assert http.get("/page").text.startswith("new|")
    finally:
        vexil.close()

# mypy: allow-subclassing-any, disable-error-code="import-untyped"
"""The Django integration, through Django's own test clients and a real site.

The site (``django_site/``) runs the real request stack: sessions, authentication
against a SQLite database, the ``FlagsMiddleware``, function, class-based and
asynchronous views, and templates with ``{% load vexil %}``. Its ``VEXIL`` setting
makes a test client, which each test gets fresh as ``own``; other tests switch the
setting to a flag file, or to a real ``vexil serve``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import httpx
import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections
from django.template import engines
from django.test import AsyncClient, Client, RequestFactory, override_settings

from _services import VexilServer, new_flag, sdk_key, toggle_on, wait_for
from vexil.integrations.django import (
    RequestFlags,
    close_client,
    get_client,
    read_settings,
    request_context,
)
from vexil.testing import TestClient

# The site's package, however pytest imported this module.
SITE = f"{__name__.rpartition('.')[0]}.django_site".lstrip(".")
BOOL = {"on": True, "off": False}


def flag_for_keys(*keys: str) -> dict[str, Any]:
    """A boolean flag that is on only for these context keys."""
    return {"variations": BOOL, "targets": {"on": list(keys)}, "default": "off"}


@pytest.fixture(scope="module", autouse=True)
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Django set up with the test site's settings, and its database migrated."""
    module = importlib.import_module(f"{SITE}.settings")
    values = {name: getattr(module, name) for name in dir(module) if name.isupper()}
    database = tmp_path_factory.mktemp("django") / "site.sqlite3"
    values["DATABASES"] = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)}
    }
    overrides = []
    if not settings.configured:
        settings.configure(**values)
        django.setup()
    else:  # another module configured Django first: lay this site over it
        # Its database stays (Django warns against overriding DATABASES); INSTALLED_APPS
        # go last, because the app's ready() runs as they change, and reads VEXIL.
        del values["DATABASES"]
        apps_only = {"INSTALLED_APPS": values.pop("INSTALLED_APPS")}
        overrides = [override_settings(**values), override_settings(**apps_only)]
        for override in overrides:
            override.enable()
    call_command("migrate", verbosity=0, interactive=False)
    yield
    connections.close_all()
    close_client()
    for override in reversed(overrides):
        override.disable()


@pytest.fixture(autouse=True)
def own() -> Iterator[TestClient]:
    """The site's own client, fresh for each test; and no client thread left running."""
    before = set(threading.enumerate())
    close_client()
    client = get_client()
    assert isinstance(client, TestClient)
    yield client
    close_client()
    left = [t.name for t in threading.enumerate() if t not in before and t.name.startswith("vexil")]
    assert not left, f"threads left behind: {left}"


@pytest.fixture
def http() -> Client:
    return Client()


def user(name: str) -> Any:
    from django.contrib.auth.models import User

    return User.objects.create(username=name, email=f"{name}@example.com")


def get_async(path: str, signed_in: Client | None = None) -> Any:
    """A request through Django's ASGI handler; with the session of ``signed_in``."""

    async def get() -> Any:
        client = AsyncClient()
        if signed_in is not None:
            client.cookies = signed_in.cookies
        return await client.get(path)

    return asyncio.run(get())


# ------------------------------------------------------------------ views


def test_a_function_view_is_404_while_its_flag_is_off(own: TestClient, http: Client) -> None:
    assert http.get("/new-ui/").status_code == 404
    own.set("new-ui", True)
    response = http.get("/new-ui/")
    assert response.status_code == 200
    assert response.content == b"new ui"
    own.set("new-ui", False)
    assert http.get("/new-ui/").status_code == 404
    assert [e.value for e in own.evaluated("new-ui")] == [False, True, False]


def test_a_function_view_redirects_while_its_flag_is_off(own: TestClient, http: Client) -> None:
    response = http.get("/new-ui-or-old/")
    assert response.status_code == 302
    assert response["Location"] == "/old-ui/"  # the URL name, resolved
    assert http.get("/new-ui-or-old/", follow=True).content == b"old ui"
    own.set("new-ui", True)
    assert http.get("/new-ui-or-old/").content == b"new ui"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/class/", b"new ui, class"),
        ("/method-decorated/", b"new ui, method_decorator"),
        ("/mixin/", b"new ui, mixin"),
    ],
)
def test_class_based_views_are_404_while_the_flag_is_off(
    own: TestClient, http: Client, path: str, body: bytes
) -> None:
    assert http.get(path).status_code == 404
    own.set("new-ui", True)
    response = http.get(path)
    assert (response.status_code, response.content) == (200, body)


@pytest.mark.parametrize("path", ["/class-or-old/", "/mixin-or-old/"])
def test_class_based_views_redirect_while_the_flag_is_off(
    own: TestClient, http: Client, path: str
) -> None:
    response = http.get(path)
    assert (response.status_code, response["Location"]) == (302, "/old-ui/")
    own.set("new-ui", True)
    assert http.get(path).status_code == 200


def test_a_flag_that_is_not_boolean_or_unknown_keeps_the_view_closed(
    own: TestClient, http: Client
) -> None:
    own.set("new-ui", "yes")  # a string flag is not "on"
    assert http.get("/new-ui/").status_code == 404
    own.remove("new-ui")
    assert http.get("/new-ui/").status_code == 404
    assert [e.detail.error for e in own.evaluated("new-ui")] == ["TYPE_MISMATCH", "FLAG_NOT_FOUND"]


@pytest.mark.parametrize(
    ("path", "closed", "body"),
    [
        ("/async/", 404, b"new ui, async"),
        ("/async-class/", 404, b"new ui, async class"),
        ("/async-mixin/", 302, b"new ui, async mixin"),
    ],
)
def test_asynchronous_views_are_guarded_too(
    own: TestClient, path: str, closed: int, body: bytes
) -> None:
    assert get_async(path).status_code == closed
    own.set("new-ui", True)
    response = get_async(path)
    assert (response.status_code, response.content) == (200, body)


def test_asynchronous_views_evaluate_for_the_signed_in_user(own: TestClient, http: Client) -> None:
    ada = user("ada-async")
    own.set_flag("beta", flag_for_keys(str(ada.pk)))
    own.set_flag("new-ui", flag_for_keys(str(ada.pk)))
    assert get_async("/async-flags/").json() == {
        "context": {"key": "anonymous", "anonymous": True},
        "is_on": False,
    }
    assert get_async("/async/").status_code == 404

    http.force_login(ada)
    body = get_async("/async-flags/", signed_in=http).json()
    assert body["context"]["key"] == str(ada.pk)
    assert body["is_on"] is True
    for path in ("/async/", "/async-class/", "/async-mixin/"):
        assert get_async(path, signed_in=http).status_code == 200, path


def test_a_mixin_without_a_flag_says_so() -> None:
    from django.views import View

    from vexil.integrations.django import FlagRequiredMixin

    class Forgotten(FlagRequiredMixin, View):
        pass

    request = RequestFactory().get("/")
    with pytest.raises(ImproperlyConfigured, match="Forgotten uses FlagRequiredMixin"):
        Forgotten.as_view()(request)


# ------------------------------------------------------------ request.flags


def test_request_flags_evaluates_nothing_until_read(own: TestClient, http: Client) -> None:
    own.set("new-ui", True)
    body = http.get("/lazy/").json()
    assert body == {
        "before": "<RequestFlags context not yet made>",
        "value": "unread",
        "after": "<RequestFlags context not yet made>",
    }
    assert own.evaluations == []

    body = http.get("/lazy/?read=1").json()
    assert body["before"] == "<RequestFlags context not yet made>"
    assert body["value"] is True
    assert body["after"] == "<RequestFlags context {'key': 'anonymous', 'anonymous': True}>"
    assert [(e.key, e.value) for e in own.evaluations] == [("new-ui", True)]


def test_the_context_comes_from_the_signed_in_user(own: TestClient, http: Client) -> None:
    ada, bob = user("ada"), user("bob")
    own.set_flag("beta", flag_for_keys(str(ada.pk)))

    anonymous = http.get("/flags/").json()
    assert anonymous["context"] == {"key": "anonymous", "anonymous": True}
    assert (anonymous["item"], anonymous["is_on"]) == (False, False)

    http.force_login(ada)
    body = http.get("/flags/").json()
    assert body["context"] == {"key": str(ada.pk), "email": "ada@example.com", "username": "ada"}
    assert (body["item"], body["value"], body["is_on"]) == (True, True, True)
    assert body["detail"] == [True, "TARGETING_MATCH"]
    assert body["all"] == {"beta": True, "new-ui": False}

    http.force_login(bob)
    assert http.get("/flags/").json()["is_on"] is False
    assert {e.context["key"] for e in own.evaluated("beta")} == {
        "anonymous",
        str(ada.pk),
        str(bob.pk),
    }


def test_a_context_function_named_in_the_settings(http: Client) -> None:
    rule = {"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
    vexil = {"testing": {}, "context": f"{SITE}.views.context_with_plan"}
    with override_settings(VEXIL=vexil):
        client = get_client()
        assert isinstance(client, TestClient)
        client.set_flag("beta", {"variations": BOOL, "rules": [rule], "default": "off"})
        pro = http.get("/flags/", headers={"X-Plan": "pro"}).json()
        assert pro["context"] == {"key": "anonymous", "anonymous": True, "plan": "pro"}
        assert pro["is_on"] is True
        assert http.get("/flags/").json()["is_on"] is False


def test_a_context_function_that_fails_gives_the_anonymous_context(
    own: TestClient, http: Client, caplog: pytest.LogCaptureFixture
) -> None:
    ada = user("ada-broken")
    http.force_login(ada)
    with override_settings(
        VEXIL={"testing": {"beta": True}, "context": f"{SITE}.views.broken_context"}
    ):
        with caplog.at_level(logging.ERROR, logger="vexil.integrations.django"):
            response = http.get("/flags/")
        assert response.status_code == 200
        assert response.json()["context"] == {"key": "anonymous", "anonymous": True}
        assert response.json()["is_on"] is True
    assert "could not make the flag context" in caplog.text
    assert "the context function is broken" in caplog.text


def test_a_context_function_may_be_given_as_a_function(http: Client) -> None:
    def by_header(request: Any) -> dict[str, Any]:
        return {"key": request.headers.get("X-Team", "none"), "team": True}

    with override_settings(VEXIL={"testing": {}, "context": by_header}):
        body = http.get("/flags/", headers={"X-Team": "payments"}).json()
    assert body["context"] == {"key": "payments", "team": True}


# ------------------------------------------------------------------ templates


def test_the_template_tag_uses_the_request(own: TestClient, http: Client) -> None:
    page = http.get("/page/")
    assert page.content.decode().strip() == (
        "new-ui=False beta=False theme=light inline=light unknown=fallback"
    )
    grace = user("grace")
    own.set("new-ui", True)
    own.set("theme", "dark")
    own.set_flag("beta", flag_for_keys(str(grace.pk)))
    http.force_login(grace)
    page = http.get("/page/")
    assert page.content.decode().strip() == (
        "new-ui=True beta=True theme=dark inline=dark unknown=fallback"
    )
    assert {e.context["key"] for e in own.evaluated("beta")} == {"anonymous", str(grace.pk)}


def test_the_template_tag_without_a_request_uses_the_user(own: TestClient) -> None:
    linus = user("linus")
    own.set_flag("beta", flag_for_keys(str(linus.pk)))
    own.set("theme", "<b>")
    template = engines["django"].from_string(
        '{% load vexil %}{% flag "beta" False as on %}{{ on }} {% flag "theme" "light" %}'
    )
    assert template.render({"user": linus}) == "True &lt;b&gt;"  # escaped like any value
    assert template.render({}) == "False &lt;b&gt;"
    assert [e.context["key"] for e in own.evaluated("beta")] == [str(linus.pk), "anonymous"]


# ------------------------------------------------------- the vexil_flags fixture


def test_the_vexil_flags_fixture_takes_over(
    own: TestClient, vexil_flags: TestClient, http: Client
) -> None:
    own.set("new-ui", False)
    vexil_flags.set("new-ui", True)
    assert http.get("/new-ui/").content == b"new ui"
    assert http.get("/mixin/").status_code == 200
    assert "new-ui=True" in http.get("/page/").content.decode()
    assert http.get("/lazy/?read=1").json()["value"] is True
    assert len(vexil_flags.evaluated("new-ui")) == 4
    assert own.evaluations == []


@pytest.mark.vexil_flags({"new-ui": True})
def test_the_vexil_flags_marker_works_through_django(
    own: TestClient, vexil_flags: TestClient, http: Client
) -> None:
    assert get_async("/async/").status_code == 200
    assert http.get("/class/").status_code == 200
    assert [e.value for e in vexil_flags.evaluated("new-ui")] == [True, True]
    assert own.evaluations == []


# ------------------------------------------------------------ the client


def test_get_client_is_one_client_until_the_setting_changes(own: TestClient) -> None:
    assert get_client() is own
    apps.get_app_config("vexil").ready()  # ready() again makes no new client
    assert get_client() is own
    with override_settings(VEXIL={"testing": {"new-ui": True}}):
        inner = get_client()
        assert inner is not own
        assert inner.variation("new-ui", {"key": "k"}, False) is True
    after = get_client()
    assert after is not inner
    assert after.variation("new-ui", {"key": "k"}, None) is False  # the site's setting again


def test_flags_from_a_watched_file(tmp_path: Path, http: Client) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text("flags:\n  new-ui:\n    variations: {on: true, off: false}\n    default: on\n")
    with override_settings(VEXIL={"file": str(path), "watch": True, "watch_interval": 0.05}):
        config = apps.get_app_config("vexil")
        config.ready()
        first = get_client()
        config.ready()
        assert get_client() is first
        watchers = [t for t in threading.enumerate() if t.name == "vexil-file"]
        assert len(watchers) == 1
        assert http.get("/new-ui/").status_code == 200

        path.write_text(path.read_text().replace("default: on", "default: off"))
        wait_for(lambda: http.get("/new-ui/").status_code == 404, what="the file's change")


# ------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["vx-srv-x"], "VEXIL: must be a dict, not list"),
        ({"sdk_kye": "x"}, "VEXIL: unknown key 'sdk_kye' (did you mean 'sdk_key'?)"),
        ({"file": "f.yaml", "sdk_key": "x"}, "VEXIL: 'sdk_key' and 'file' cannot be used together"),
        ({"file": "f.yaml", "testing": {}}, "VEXIL: 'file' and 'testing' cannot be used together"),
        ({"watch": True}, "VEXIL['watch']: applies to a flag file"),
        ({"file": 3}, "VEXIL['file']: must be a path, not int"),
        ({"file": "f.yaml", "watch": "yes"}, "VEXIL['watch']: must be True or False"),
        ({"testing": ["new-ui"]}, "VEXIL['testing']: must be a dict of flag values, not list"),
        ({"sdk_key": 12}, "VEXIL['sdk_key']: must be a string, not int"),
        ({"options": "polling"}, "VEXIL['options']: must be a dict of Client options"),
        (
            {"options": {"modee": "x"}},
            "VEXIL['options']: unknown option 'modee' (did you mean 'mode'?)",
        ),
        ({"options": {"url": "x"}}, "VEXIL['options']: give 'url' at the top of VEXIL"),
        ({"context": "no_such_module.context"}, "VEXIL['context']: cannot import 'no_such_module"),
        ({"context": 42}, "VEXIL['context']: must be a function of the request"),
    ],
)
def test_a_wrong_setting_names_the_key(value: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as raised:
        read_settings(value)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"sdk_key": "nope"}, "VEXIL['sdk_key']: not a server SDK key"),
        ({"sdk_key": "vx-srv-0123456789", "url": "ftp://x"}, "VEXIL['url']: 'ftp://x' must be"),
        (
            {"options": {"mode": "offline", "init_timeout": -1}},
            "VEXIL['options']['init_timeout']: init_timeout must be positive",
        ),
        ({"options": {"mode": "sometimes"}}, "VEXIL['options']['mode']: mode must be one of"),
        ({"file": "/no/such/flags.yaml"}, "VEXIL['file']: no flag file at '/no/such/flags.yaml'"),
        ({"testing": {"new-ui": object()}}, "VEXIL['testing']: new-ui: a test flag's value"),
    ],
)
def test_the_app_does_not_start_with_a_wrong_client_option(value: Any, message: str) -> None:
    with override_settings(VEXIL=value):
        with pytest.raises(ImproperlyConfigured) as raised:
            apps.get_app_config("vexil").ready()
        assert str(raised.value).startswith(message)


def test_without_a_key_anywhere_the_app_says_where_to_put_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VEXIL_SDK_KEY", raising=False)
    message = r"VEXIL\['sdk_key'\]: .*VEXIL_SDK_KEY"
    with (
        override_settings(VEXIL={"url": "http://127.0.0.1:9"}),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        get_client()


def test_request_context_and_request_flags_are_usable_alone(own: TestClient) -> None:
    ada = user("ada-alone")
    request = RequestFactory().get("/")
    request.user = ada
    assert request_context(request)["key"] == str(ada.pk)
    own.set_flag("beta", flag_for_keys(str(ada.pk)))
    assert RequestFlags(request).is_on("beta") is True
    assert RequestFlags(user=None).is_on("beta") is False


# ------------------------------------------------------------ a real server


@pytest.mark.slow
def test_a_change_on_the_server_reaches_the_next_request(
    server: VexilServer, admin: httpx.Client, project: str, http: Client
) -> None:
    new_flag(admin, project)
    vexil = {
        "sdk_key": sdk_key(admin, project),
        "url": server.base_url,
        "options": {"send_events": False, "init_timeout": 10},
    }
    with override_settings(VEXIL=vexil):
        config = apps.get_app_config("vexil")
        config.ready()
        config.ready()  # a second ready() opens no second stream
        assert [t.name for t in threading.enumerate()].count("vexil-streaming") == 1
        assert get_client().is_initialized
        assert http.get("/new-ui/").status_code == 404

        toggle_on(admin, project)
        wait_for(lambda: http.get("/new-ui/").status_code == 200, what="the toggle")
        assert http.get("/lazy/?read=1").json()["value"] is True


def test_the_example_site_follows_its_flag_file() -> None:
    # In a process of its own: the example has its own settings, and Django takes one.
    script = """
import json
import django
from django.test import Client
django.setup()
site = Client()
assert site.get("/dashboard").status_code == 302      # new-ui is off for visitors
site.get("/login/ana")                                 # a targeted key: new-ui is on
assert site.get("/dashboard").status_code == 200
print(json.dumps(json.loads(site.get("/api/flags").content)))
"""
    example = Path(__file__).resolve().parents[2] / "examples" / "django"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "PYTHONPATH": str(example),
    }
    env.pop("VEXIL_SDK_KEY", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["context"]["key"] == "ana"

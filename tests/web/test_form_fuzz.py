"""Odd input in any dashboard form field or query parameter never makes a 5xx.

A real ``vexil serve`` (SQLite, and PostgreSQL, whose integers overflow at other
sizes) with a project that has a flag with targeting (a rule, a rollout, a
prerequisite), a segment, a user and a token. One session signs in once; its CSRF
token goes with every form.

The routes are the dashboard's as the app's router lists them (not a hand-made
list): each one's path parameters name what exists, its query parameters are those
the route declares, its form fields those of the forms the dashboard's pages render
for it (read from their HTML, so the targeting editor's many fields are there), or
the fields the route declares. Each field then gets, in turn, values known to have
broken number parsing (``²``, ``٣``, numbers past 64 bits, NUL, surrogates...), and
hypothesis generates more, a few fields at a time, the others as the page sent them.
The one check: no answer is a 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import httpx
import pytest
from _html_forms import Form, forms_of
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute

from _services import ADMIN_PASSWORD, VexilServer
from vexil.server._app import create_app

# Hundreds of generated requests per route.
pytestmark = pytest.mark.slow

API = "/api/v1"
PROJECT, FLAG, OTHER, SEGMENT, ENV = "fuzz", "target", "other", "seg", "development"
#: The rule's rollout.
SPLIT = (("on", 25), ("off", 75))
#: Generated requests per route (PostgreSQL's run is slower: fewer).
EXAMPLES = {"sqlite": 60, "postgresql": 20}
#: Signing in is rate-limited; this server allows the few sign-ins the test makes.
UNLIMITED = {
    "VEXIL_AUTH_RATE_PER_CLIENT": "100000/minute",
    "VEXIL_AUTH_RATE_PER_USER": "100000/minute",
}
#: Sign-in attempts the fuzzing may make (the form is rate-limited for everyone else).
LOGIN_EXAMPLES = 4

#: Values that broke, or could break, reading numbers and text: each field gets each.
SWEEP = [
    "²",
    "٣",
    "100000000000000000000",
    "-1",
    "",
    "\x00",
    "\ud800",
    "1e999999999",
]
#: More of the same kind, for hypothesis to draw from.
ODD = [
    *SWEEP,
    "³",
    "١٢",
    "\U0001d7d7",  # MATHEMATICAL BOLD DIGIT NINE
    "Ⅻ",
    "½",
    "①",
    "1_000",
    " 1 ",
    "+1",
    "-0",
    "00",
    "0x10",
    "1e999",
    "-1e999",
    "NaN",
    "Infinity",
    "9" * 19,
    "9" * 5000,
    str(2**31),
    str(2**31 - 1),
    str(2**63),
    str(-(2**63) - 1),
    "0.0000000000000000000001",
    "a\x00b",
    "a\udfffb",
    "\ufffd",
    "\u202e",
    "\U0001f600",
    "%",
    "%00",
    "_",
    "\\",
    "'",
    '"',
    "<script>",
    "9999-12-31",
    "0001-01-01",
    "x" * 100_000,
    '"\\ud800"',
    '["\\ud800", "x"]',
    '{"key": "\\ud800"}',
    '{"key": "\\u0000"}',
    '{"key": 1e999}',
    "[" * 50_000,
    '{"a":' * 20_000,
]
#: The verbs of the editors' buttons (``verb:position``).
VERBS = [
    "add-rule",
    "remove-rule",
    "add-clause",
    "remove-clause",
    "up",
    "down",
    "add-prereq",
    "remove-prereq",
    "add-variation",
    "remove-variation",
    "type",
    "save",
]
#: Stands for the version a form rendered now would carry (each save moves it on).
CURRENT = "<current version>"
#: Query strings travel in the request line, which servers limit; long text goes in bodies.
MAX_QUERY_VALUE = 3000


def odd_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ODD),
        st.text(max_size=40),
        st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6),
        st.text(st.characters(categories=["Cs", "Cc"]), min_size=1, max_size=4),
        st.integers().map(str),
        st.from_regex(r"-?[0-9]{10,40}", fullmatch=True),
        st.tuples(st.sampled_from(VERBS), st.sampled_from(ODD)).map(":".join),
    )


# ------------------------------------------------------------------ the routes


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    form_params: tuple[str, ...]

    def matches(self, path: str) -> bool:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(self.path))
        return re.fullmatch(pattern, path) is not None


def _leaves(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, also those of included routers (FastAPI keeps them apart)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from _leaves(included.routes) if included is not None else (route,)


def _names(dependant: Dependant, kind: str) -> tuple[str, ...]:
    """The handler's parameters of one kind, with those its dependencies read."""
    found: list[str] = [p.name for p in getattr(dependant, kind)]
    for sub in dependant.dependencies:
        found += _names(sub, kind)
    return tuple(dict.fromkeys(found))


def dashboard_routes() -> list[Route]:
    out = []
    for route in _leaves(create_app().routes):
        if not isinstance(route, APIRoute):
            continue
        if not route.endpoint.__module__.startswith("vexil.server.web."):
            continue
        # Flattened: a parameter may be read by a dependency (the page's flag and
        # environment) rather than by the handler itself.
        found = route.dependant
        for method in sorted(route.methods or ()):
            out.append(
                Route(
                    method,
                    route.path,
                    _names(found, "path_params"),
                    _names(found, "query_params"),
                    _names(found, "body_params"),
                )
            )
    return out


ROUTES = dashboard_routes()


# ------------------------------------------------------------------ the world


@dataclass
class World:
    """The server, what the routes' paths name, and the signed-in session."""

    server: VexilServer
    api: httpx.Client
    session: httpx.Client
    csrf: str = ""
    ids: dict[str, str] = field(default_factory=dict)
    forms: dict[Route, list[Form]] = field(default_factory=dict)
    statuses: dict[Route, set[int]] = field(default_factory=dict)

    def path_values(self, route: Route) -> dict[str, str]:
        key = SEGMENT if "/segments/" in route.path else FLAG
        known = {"project": PROJECT, "key": key, "env": ENV, **self.ids}
        return {name: known[name] for name in route.path_params}

    def url(self, route: Route, values: dict[str, str]) -> str:
        path = route.path
        for name, value in values.items():
            path = path.replace("{" + name + "}", _quote(value[:MAX_QUERY_VALUE]))
        return path

    def version(self, route: Route, query: list[tuple[str, str]]) -> str:
        """The version the form would carry if rendered now (changes move it on)."""
        env = _quote((dict(query).get("env") or ENV)[:MAX_QUERY_VALUE])
        if "/segments/" in route.path:
            url = f"{API}/projects/{PROJECT}/environments/{env}/segments/{SEGMENT}"
        else:
            url = f"{API}/projects/{PROJECT}/environments/{env}/flags/{FLAG}"
        response = self.api.get(url)
        return str(response.json()["version"]) if response.is_success else ""

    def send(
        self,
        route: Route,
        path: dict[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]] | None,
    ) -> httpx.Response:
        # The session must survive the run: its own user, token and sign-out are spared.
        if path.get("user_id") == self.ids["admin_id"]:
            path = {**path, "user_id": self.ids["user_id"]}
        if path.get("token_id") == self.ids["api_token_id"]:
            path = {**path, "token_id": self.ids["token_id"]}
        if route.path == "/logout":
            form = [(k, v) for k, v in form or [] if k != "csrf"] + [("csrf", "forged")]
        if form and ("version", CURRENT) in form:
            now = self.version(route, query)
            form = [(k, now if (k, v) == ("version", CURRENT) else v) for k, v in form]
        url = self.url(route, path) + _encode(query, limit=MAX_QUERY_VALUE)
        body = _encode(form or [], limit=None).removeprefix("?").encode("ascii")
        # Sign-in attempts go without the session (which a success would replace).
        client = httpx.Client(base_url=self.server.base_url) if route.path == "/login" else None
        sender = client or self.session
        headers = {"content-type": "application/x-www-form-urlencoded"}
        try:
            try:
                response = sender.request(route.method, url, content=body, headers=headers)
            except (httpx.RemoteProtocolError, httpx.ReadError):
                # The server closes a connection after a crash (a 5xx, already seen):
                # the next request on it fails, and deserves a connection of its own.
                response = sender.request(route.method, url, content=body, headers=headers)
        finally:
            if client is not None:
                client.close()
        self.statuses.setdefault(route, set()).add(response.status_code)
        self.restore(route, response)
        return response

    def restore(self, route: Route, response: httpx.Response) -> None:
        """Put back what a successful delete or revoke removed, for the next requests."""
        if response.status_code != 303:
            return
        if route.path.endswith("/segments/{key}/delete"):
            put_segment(self.api)
        elif route.path == "/users/{user_id}/delete":
            self.ids["user_id"] = create_user(self.api)
        elif route.path == "/tokens/{token_id}/revoke":
            self.ids["token_id"] = create_token(self.api, "fuzz-spare")


def _encode(pairs: list[tuple[str, str]], limit: int | None) -> str:
    """``?a=b&...``, surrogates and all (as the bytes a client could send)."""
    if not pairs:
        return ""
    parts = []
    for name, value in pairs:
        text = value if limit is None else value[:limit]
        parts.append(f"{_quote(name)}={_quote(text)}")
    return "?" + "&".join(parts)


def _quote(text: str) -> str:
    return quote(text, safe="", errors="surrogatepass")


def create_token(api: httpx.Client, name: str) -> str:
    response = api.post(f"{API}/tokens", json={"name": name, "role": "admin"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create_user(api: httpx.Client) -> str:
    number = len(api.get(f"{API}/users").json())
    body = {"username": f"fuzz-{number}", "password": "fuzz-password", "role": "viewer"}
    response = api.post(f"{API}/users", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def put_segment(api: httpx.Client) -> None:
    body = {
        "included": ["u-1"],
        "rules": [{"id": "s1", "clauses": [{"attribute": "plan", "op": "in", "values": [1]}]}],
    }
    url = f"{API}/projects/{PROJECT}/environments/{ENV}/segments/{SEGMENT}"
    assert api.put(url, json=body).is_success


def admin_token(server: VexilServer) -> tuple[str, str]:
    """An admin API token (Basic would cost a password check a request), and its id."""
    with server.admin() as basic:
        response = basic.post(f"{API}/tokens", json={"name": "fuzz-world", "role": "admin"})
        assert response.status_code == 201, response.text
        return response.json()["token"], str(response.json()["id"])


def build_world(world: World, token_id: str) -> None:
    api = world.api
    assert api.post(f"{API}/projects", json={"key": PROJECT}).status_code == 201
    flags = f"{API}/projects/{PROJECT}/flags"
    for key in (OTHER, FLAG):
        body = {"key": key, "variations": {"on": True, "off": False}}
        assert api.post(flags, json=body).status_code == 201
    put_segment(api)
    targeting = {
        "on": True,
        "off_variation": "off",
        "default": "off",
        "targets": {"on": ["u-1"]},
        "prerequisites": [{"flag": OTHER, "variation": "on"}],
        "rules": [
            {
                "id": "r1",
                "clauses": [
                    {"attribute": "plan", "op": "in", "values": ["pro", 3]},
                    {"op": "segment", "values": [SEGMENT]},
                ],
                "serve": {"rollout": [{"variation": v, "weight": w} for v, w in SPLIT]},
            }
        ],
    }
    url = f"{API}/projects/{PROJECT}/environments/{ENV}/flags/{FLAG}"
    assert api.put(url, json=targeting).is_success
    audit = api.get(f"{API}/audit", params={"project": PROJECT, "flag": FLAG}).json()["items"]
    entry = next(e["id"] for e in audit if e["action"] == "targeting.update")
    users = api.get(f"{API}/users").json()
    admin_id = next(str(u["id"]) for u in users if u["username"] == "admin")
    world.ids = {
        "entry_id": str(entry),
        "admin_id": admin_id,
        "api_token_id": token_id,
        "user_id": create_user(api),
        "token_id": create_token(api, "fuzz-spare"),
    }
    sign_in(world.session)
    world.csrf = _csrf(world.session.get("/projects").text)
    read_forms(world)


def sign_in(session: httpx.Client) -> None:
    """One session for the whole run, signed in through the sign-in form."""
    token = _csrf(session.get("/login").text)
    response = session.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": token, "next": "/"},
    )
    assert response.status_code == 303, response.text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found[1]


def read_forms(world: World) -> None:
    """The forms of every page the dashboard's GET routes render, by the route they post to."""
    pages = []
    for route in ROUTES:
        if route.method != "GET" or route.path.endswith((".json", "/state")):
            continue
        query = "?env=development" if "env" in route.query_params else ""
        pages.append(world.url(route, world.path_values(route)) + query)
    pages.append(f"/projects/{PROJECT}/flags/{FLAG}?env=production")
    login = httpx.get(f"{world.server.base_url}/login", timeout=30)
    found = [(login.text, "/login")]
    for page in pages:
        response = world.session.get(page)
        assert response.status_code in (200, 303), (page, response.status_code)
        found.append((response.text, page))
    for html, page in found:
        for form in forms_of(html, page):
            for route in ROUTES:
                if route.method == form.method and route.matches(form.path):
                    world.forms.setdefault(route, []).append(form)


# ------------------------------------------------------------------ requests


@dataclass
class Fields:
    """One route's request as the dashboard's page would send it, and what may vary."""

    query: list[tuple[str, str]]
    form: list[tuple[str, str]] | None
    names: list[str]
    choices: dict[str, set[str]]


def baselines(world: World, route: Route) -> list[Fields]:
    """One per form the pages render for ``route`` (or one from its declared fields)."""
    out = []
    forms: list[Form | None] = [*world.forms.get(route, [])]
    for form in forms or [None]:
        if form is not None:
            query = parse_qsl(form.query, keep_blank_values=True)
            # A form rendered now would carry the version of now (each save moves it on).
            pairs = [(k, CURRENT if k == "version" else v) for k, v in form.fields]
            if route.method == "GET":
                query = [*query, *form.fields]
            choices = form.choices
        else:
            query, pairs, choices = [], [(name, "") for name in route.form_params], {}
            if "csrf" in route.form_params:
                pairs = [(k, world.csrf if k == "csrf" else v) for k, v in pairs]
        names = [*dict.fromkeys([*route.query_params, *(k for k, _ in pairs), *choices])]
        out.append(Fields(query, pairs if route.method == "POST" else None, names, choices))
    return out


def with_value(
    world: World, route: Route, fields: Fields, name: str, value: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str]] | None]:
    """``fields`` with ``name`` set to ``value`` (in the form for a POST, else the query)."""
    in_form = fields.form is not None and name not in route.query_params
    target = list(fields.form or []) if in_form else list(fields.query)
    names = [k for k, _ in target]
    if name in names:
        target[names.index(name)] = (name, value)
    else:
        target.append((name, value))
    if in_form:
        return fields.query, target
    return target, fields.form


class Sent:
    """A generated request: path parameters, query and form (``None`` for a GET)."""

    def __init__(
        self,
        path: dict[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]] | None,
    ) -> None:
        self.path, self.query, self.form = path, query, form

    def __repr__(self) -> str:
        """Long values cut short: hypothesis prints the failing example."""

        def cut(pairs: Any) -> list[tuple[str, str]]:
            return [(k, v if len(v) < 200 else f"{v[:50]}... ({len(v)} chars)") for k, v in pairs]

        form = None if self.form is None else cut(self.form)
        return f"Sent(path={cut(self.path.items())}, query={cut(self.query)}, form={form})"


def check(response: httpx.Response) -> None:
    sent = response.request
    assert response.status_code < 500, (
        f"{sent.method} {sent.url} {sent.content[:1000]!r}: "
        f"{response.status_code}\n{response.text[:1000]}"
    )


@pytest.fixture
def world(backend: str, new_server: Callable[..., VexilServer]) -> Iterator[World]:
    server = new_server(backend, **UNLIMITED)
    token, token_id = admin_token(server)
    auth = {"Authorization": f"Bearer {token}"}
    with (
        httpx.Client(base_url=server.base_url, headers=auth, timeout=30) as api,
        httpx.Client(base_url=server.base_url, timeout=30) as session,
    ):
        instance = World(server, api, session)
        build_world(instance, token_id)
        yield instance


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_routes_come_from_the_app_and_their_fields_from_the_pages(world: World) -> None:
    """The fuzzing reaches every dashboard route, and the targeting editor's fields."""
    paths = {route.path for route in ROUTES}
    assert {"/projects/{project}/flags", "/users/{user_id}/role", "/audit"} <= paths
    assert len(ROUTES) >= 35
    posts = [r for r in ROUTES if r.method == "POST" and r.path != "/logout"]
    assert all(r in world.forms for r in posts), [r.path for r in posts if r not in world.forms]
    targeting = next(r for r in ROUTES if r.path.endswith("/targeting"))
    names = {k for form in world.forms[targeting] for k, _ in form.fields}
    assert {"version", "base", "prereq", "default.slice_weight", "csrf"} <= names


def test_every_field_and_parameter_takes_odd_values_without_a_5xx(
    world: World, backend: str
) -> None:
    """Each field of each route in turn gets each SWEEP value, the rest as rendered."""
    failures: list[str] = []
    for route in ROUTES:
        if route.path == "/login" and route.method == "POST":
            continue  # rate-limited for everyone; fuzzed a few times below
        for fields in baselines(world, route):
            path = world.path_values(route)
            for name in [*route.path_params, *fields.names]:
                for value in sweep(fields, name):
                    if name in route.path_params:
                        sent = ({**path, name: value}, *_as_is(fields))
                    else:
                        sent = (path, *with_value(world, route, fields, name, value))
                    status = world.send(route, *sent).status_code
                    if status >= 500:
                        failures.append(f"{route.method} {route.path} {name}={value!r}: {status}")
    assert not failures, "\n".join(failures)


def sweep(fields: Fields, name: str) -> list[str]:
    """SWEEP, and for buttons such as ``remove-rule:0`` each verb with SWEEP's first few."""
    verbs = {
        offered.partition(":")[0] for offered in fields.choices.get(name, ()) if ":" in offered
    }
    return [*SWEEP, *(f"{verb}:{value}" for verb in sorted(verbs) for value in SWEEP[:4])]


def _as_is(fields: Fields) -> tuple[list[tuple[str, str]], list[tuple[str, str]] | None]:
    return fields.query, fields.form


def test_generated_values_never_make_a_5xx(world: World, backend: str) -> None:
    """A few fields at a time get generated values; the others stay as the page sent them."""
    failures: list[str] = []
    for route in ROUTES:
        try:
            fuzz(world, route, EXAMPLES[backend])
        except AssertionError as exc:  # every route's, not only the first one's
            failures.append(f"{route.method} {route.path}: {exc}")
    assert not failures, "\n\n".join(failures)


def fuzz(world: World, route: Route, examples: int) -> None:
    options = baselines(world, route)
    if route.path == "/login" and route.method == "POST":
        examples = LOGIN_EXAMPLES

    @st.composite
    def requests(draw: st.DrawFn) -> Sent:
        fields = draw(st.sampled_from(options))
        path = world.path_values(route)
        for name in route.path_params:
            if draw(st.integers(0, 9)) == 0:
                path[name] = draw(odd_text())
        query, form = fields.query, fields.form
        # The CSRF token stays valid here, so that requests get past it (the sweep
        # above sends it odd values).
        mutable = [name for name in fields.names if name != "csrf"]
        names = st.lists(st.sampled_from(mutable), max_size=3) if mutable else st.just([])
        for name in draw(names):
            offered = sorted(fields.choices.get(name, ()))
            value = draw(
                st.one_of(
                    odd_text(),
                    *([st.sampled_from(offered)] if offered else []),
                    *([st.just(CURRENT)] if name == "version" else []),
                )
            )
            changed = Fields(query, form, fields.names, fields.choices)
            query, form = with_value(world, route, changed, name, value)
        return Sent(path, query, form)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(requests())
    def run(sent: Sent) -> None:
        check(world.send(route, sent.path, sent.query, sent.form))

    run()


def post_form(world: World, url: str, pairs: list[tuple[str, str]]) -> httpx.Response:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    return world.session.post(url, content=urlencode(pairs), headers=headers)


def editor_form(world: World, **changes: str) -> list[tuple[str, str]]:
    """The targeting editor's form as the flag page renders it now, with ``changes``."""
    page = world.session.get(f"/projects/{PROJECT}/flags/{FLAG}?env={ENV}")
    (form,) = [f for f in forms_of(page.text, page.url.path) if f.path.endswith("/targeting")]
    pairs = [(k, v) for k, v in form.fields if k not in changes]
    return [*pairs, *changes.items()]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_inputs_that_failed_get_answers_in_words(world: World) -> None:
    """Each input once answered with a 500 now gets a 4xx naming the field, or a default."""
    flag = f"/projects/{PROJECT}/flags/{FLAG}"
    for action in ("toggle", "targeting"):
        pairs = [("csrf", world.csrf), ("on", "on"), ("comment", "x"), ("version", "²")]
        response = post_form(world, f"{flag}/{action}?env={ENV}", pairs)
        assert response.status_code == 400
        assert "version is missing or not a version number" in response.text
    # An editor button naming no position of the form redraws it unchanged.
    url = f"{flag}/targeting?env={ENV}"
    response = post_form(world, url, editor_form(world, action="remove-prereq:²"))
    assert response.status_code == 200
    (form,) = [f for f in forms_of(response.text, flag) if f.path.endswith("/targeting")]
    assert ("prereq", '["other", "on"]') in form.fields
    new = [
        ("csrf", world.csrf),
        ("type", "boolean"),
        ("variation_name", "on"),
        ("variation_value", "true"),
        ("variation_name", "off"),
        ("variation_value", "false"),
        ("action", "remove-variation:²"),
    ]
    response = post_form(world, f"/projects/{PROJECT}/flags/new", new)
    assert response.status_code == 200
    (form,) = [f for f in forms_of(response.text, "/") if f.path.endswith("/flags/new")]
    assert [v for k, v in form.fields if k == "variation_name"] == ["on", "off"]
    # Pages past what the database can count are the last page.
    huge = "100000000000000000000"
    for url in (f"/projects/{PROJECT}/flags", f"{flag}/history", "/audit"):
        response = world.session.get(url, params={"page": huge})
        assert response.status_code == 200, url
    # A weight written with an exponent is not taken for a number (nor expanded).
    pairs = editor_form(world, action="save")
    pairs = [(k, "1e999999999" if k == "rule.r1.serve.slice_weight" else v) for k, v in pairs]
    response = post_form(world, f"{flag}/targeting?env={ENV}", pairs)
    assert response.status_code == 422
    assert "&#39;1e999999999&#39; is not a number." in response.text
    # A security token that is not ASCII is not the session's: refused, not compared.
    response = post_form(world, f"{flag}/toggle?env={ENV}", [("csrf", "²"), ("on", "on")])
    assert response.status_code == 403
    # NUL characters, which PostgreSQL cannot compare, are refused naming the field.
    response = world.session.get(f"/projects/{PROJECT}/flags", params={"q": "a\x00"})
    assert response.status_code == 422
    assert "q: NUL characters are not allowed" in response.text


def test_the_sign_in_form_refuses_a_token_that_is_not_ascii(web_server: VexilServer) -> None:
    with httpx.Client(base_url=web_server.base_url, timeout=10) as client:
        client.get("/login")  # the form's cookie, as a browser would have it
        form = {"username": "admin", "password": "x", "csrf": "²", "next": "/"}
        assert client.post("/login", data=form).status_code == 401

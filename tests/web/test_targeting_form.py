"""The flag editor and the segment editor read a condition's values the same way.

Each case is typed once into a rule of the flag's targeting form and once into a
rule of a segment's form, posted through the real pages as a browser posts them,
and read back through the admin API: the two must store the same values.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _web import API, create_flag, create_project, dashboard

from _services import VexilServer
from vexil.server.web._targeting_form import OPERATOR_HELP, format_values, parse_values

ENV = "development"

#: (operator, what is typed, the values stored)
CASES = [
    ("contains", "42", ["42"]),
    ("in", "42", [42]),
    ("in", '"42"', ["42"]),
    ("in", "true", [True]),
    ("in", "US, CA", ["US", "CA"]),
    ("in", "US\nCA", ["US", "CA"]),
    ("in", '"US, CA"', ["US, CA"]),
    ("starts_with", "a,b", ["a", "b"]),
    ("matches", "^a,b$", ["^a,b$"]),
    ("gte", "10", [10]),
    ("semver_gt", "1.2.0", ["1.2.0"]),
]


def _api(server: VexilServer, path: str) -> dict[str, Any]:
    with server.admin() as api:
        response = api.get(f"{API}/projects/{path}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
    return body


def _saved_values(
    server: VexilServer, web: httpx.Client, page: str, api_path: str, form: dict[str, str]
) -> Any:
    """Post an editor's form (with the version it would carry), then read the clause back."""
    form["version"] = str(_api(server, api_path)["version"])
    response = web.post(page, data={**form, "action": "save"})
    assert response.status_code == 303, response.text
    return _api(server, api_path)["rules"][0]["clauses"][0]["values"]


def _through_the_flag_editor(
    server: VexilServer, web: httpx.Client, csrf: str, project: str, op: str, typed: str
) -> Any:
    key = f"f-{uuid.uuid4().hex[:6]}"
    create_flag(server, project, key)
    clause = {"attribute": "country", "op": op, "values": typed}
    form = {
        "csrf": csrf,
        "rule": "r1",
        "rule.r1.clause": "c1",
        **{f"clause.c1.{name}": value for name, value in clause.items()},
        "rule.r1.serve.kind": "variation",
        "rule.r1.serve.variation": "on",
    }
    page = f"/projects/{project}/flags/{key}/targeting?env={ENV}"
    return _saved_values(server, web, page, f"{project}/environments/{ENV}/flags/{key}", form)


def _through_the_segment_editor(
    server: VexilServer, web: httpx.Client, csrf: str, project: str, op: str, typed: str
) -> Any:
    key = f"s-{uuid.uuid4().hex[:6]}"
    api_path = f"{project}/environments/{ENV}/segments/{key}"
    with server.admin() as api:
        assert api.put(f"{API}/projects/{api_path}", json={}).status_code in (200, 201)
    clause = {"attribute": "country", "op": op, "values": typed}
    form = {
        "csrf": csrf,
        "rules": "1",
        "rules-0-clauses": "1",
        **{f"rules-0-clauses-0-{name}": value for name, value in clause.items()},
    }
    page = f"/projects/{project}/segments/{key}?env={ENV}"
    return _saved_values(server, web, page, api_path, form)


@pytest.fixture(scope="module")
def signed_in(web_server: VexilServer) -> Iterator[tuple[httpx.Client, str, str]]:
    with dashboard(web_server) as (web, csrf):
        yield web, csrf, create_project(web_server)


@pytest.mark.slow
@pytest.mark.parametrize(("op", "typed", "stored"), CASES)
def test_both_editors_store_what_was_typed_alike(
    web_server: VexilServer,
    signed_in: tuple[httpx.Client, str, str],
    op: str,
    typed: str,
    stored: list[Any],
) -> None:
    web, csrf, project = signed_in
    assert _through_the_flag_editor(web_server, web, csrf, project, op, typed) == stored
    assert _through_the_segment_editor(web_server, web, csrf, project, op, typed) == stored


@pytest.mark.parametrize(("op", "typed", "stored"), CASES)
def test_values_written_back_read_the_same(op: str, typed: str, stored: list[Any]) -> None:
    """What an editor shows of stored values reads back as those values."""
    assert parse_values(op, typed) == stored
    assert parse_values(op, format_values(op, stored)) == stored


def test_both_editors_show_the_operators_hint(
    web_server: VexilServer, signed_in: tuple[httpx.Client, str, str]
) -> None:
    web, _, project = signed_in
    key = f"h-{uuid.uuid4().hex[:6]}"
    rule = {"clauses": [{"attribute": "v", "op": "semver_gt", "values": ["1.0.0"]}]}
    create_flag(web_server, project, key, targeting={"rules": [{**rule, "serve": "on"}]})
    with web_server.admin() as api:
        url = f"{API}/projects/{project}/environments/{ENV}/segments/{key}"
        assert api.put(url, json={"rules": [rule]}).status_code in (200, 201)
    hint = html.escape(OPERATOR_HELP["semver_gt"])
    for page in (f"/projects/{project}/flags/{key}", f"/projects/{project}/segments/{key}"):
        response = web.get(page, params={"env": ENV})
        assert response.status_code == 200, response.text
        assert f">{hint}</span>" in response.text, page

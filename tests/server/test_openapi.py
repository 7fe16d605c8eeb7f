"""The OpenAPI document says everything an operation may answer, and how to authenticate.

The document is read from a real server. Its claims are checked here one by one
(every operation's error statuses, security and key patterns), and against
what the server does with strict input and unsupported methods; test_fuzz.py then
holds every fuzzed answer to the document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _admin_api import API, BOOL, error_of
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from _services import VexilServer
from vexil.flags._parse import KEY_PATTERN

DOC = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
KEY = f"^{KEY_PATTERN}$"
ADMIN: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"basicAuth": []}]
SDK: list[dict[str, list[str]]] = [{"sdkKey": []}, {"sdkKeyHeader": []}]
ERROR = {"$ref": "#/components/schemas/Error"}
METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture
def document(server: VexilServer) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/api/openapi.json", timeout=10)
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def statuses(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"]}


# ------------------------------------------------------------------ the document


def test_the_security_schemes_are_declared(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["basicAuth"] == {**schemes["basicAuth"], "type": "http", "scheme": "basic"}
    for name, header in [("sdkKey", "Authorization"), ("sdkKeyHeader", "X-API-Key")]:
        assert (schemes[name]["type"], schemes[name]["in"], schemes[name]["name"]) == (
            "apiKey",
            "header",
            header,
        )
    for name in schemes:
        assert f"`{name}`" in DOC


def test_every_operation_says_how_it_authenticates(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if path.startswith("/api/v1/"):
            expected: list[Any] = ADMIN
        elif path.startswith(("/sdk/", "/ofrep/")):
            expected = SDK
        elif path == "/metrics":  # open unless VEXIL_PUBLIC_METRICS=false
            expected = [{}, *ADMIN]
        else:
            expected = []
        assert operation["security"] == expected, f"{method} {path}"


def test_every_admin_operation_declares_its_errors(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if not path.startswith("/api/v1/"):
            continue
        expected = {401, 403, 429}
        if "{" in path:
            expected.add(404)
        if method != "GET":
            expected.add(409)
        if "requestBody" in operation:
            expected |= {400, 413, 422}
        if any(p["name"].lower() == "if-match" for p in operation.get("parameters", [])):
            expected |= {400, 409}
        assert expected <= statuses(operation), f"{method} {path}"
        retry = operation["responses"]["429"]["headers"]["Retry-After"]
        assert retry["required"] is True


def test_if_match_is_declared_as_the_spellings_it_takes(
    document: dict[str, Any], api: httpx.Client, project: str
) -> None:
    parameters = document["paths"]["/api/v1/projects/{project}"]["patch"]["parameters"]
    pattern = next(p for p in parameters if p["name"] == "if-match")["schema"]["pattern"]
    for value in ('"1"', "1", 'W/"1"', "*", ""):
        assert bool(re.match(pattern, value)) == (value != ""), value
        response = api.patch(f"{API}/projects/{project}", json={}, headers={"If-Match": value})
        # Read as a version (current or stale: 200 or 409), or refused as unreadable.
        assert response.status_code in ((200, 409) if value else (400,)), response.text


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("GET /api/v1/projects", {200, 401, 403, 429}),
        ("POST /api/v1/projects", {201, 400, 401, 403, 409, 413, 422, 429}),
        ("DELETE /api/v1/tokens/{token_id}", {204, 401, 403, 404, 409, 422, 429}),
        ("GET /sdk/v1/ruleset", {200, 304, 401, 403}),
        ("POST /sdk/v1/events", {202, 400, 401, 403, 413, 415, 422}),
        ("POST /ofrep/v1/evaluate/flags/{key}", {200, 400, 401, 403, 404, 413, 422}),
        ("GET /healthz", {200}),
    ],
)
def test_an_operation_declares_exactly_what_it_may_answer(
    document: dict[str, Any], operation: str, expected: set[int]
) -> None:
    method, path = operation.split(" ")
    assert statuses(document["paths"][path][method.lower()]) == expected


def test_errors_are_vexil_errors_except_ofrep_answers(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            ofrep_answer = path.startswith("/ofrep/") and status in ("400", "404")
            if ofrep_answer:
                assert schema["$ref"].startswith("#/components/schemas/Ofrep"), (method, path)
            else:
                assert schema == ERROR, (method, path, status)
    components = document["components"]["schemas"]
    assert "HTTPValidationError" not in components
    for name, schema in components.items():
        Draft202012Validator.check_schema(schema)
        for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', str(schema)):
            assert ref in components, name


def test_the_error_schema_fits_the_errors_the_server_sends(
    document: dict[str, Any], api: httpx.Client, project: str
) -> None:
    schemas = document["components"]["schemas"]
    # Under "components", so that the document's own references resolve.
    validator = Draft202012Validator({**schemas["Error"], "components": {"schemas": schemas}})
    stale = api.patch(f"{API}/projects/{project}", json={}, headers={"If-Match": "7"})
    engine = api.post(f"{API}/projects/{project}/flags", json={"key": "f", "variations": {}})
    answers = [
        stale,
        engine,
        api.post(f"{API}/projects", json=[]),
        api.get(f"{API}/projects/{project}/flags/nope"),
        httpx.get(f"{api.base_url}{API}/projects"),
    ]
    for response in answers:
        assert list(validator.iter_errors(response.json())) == [], response.text
    assert stale.json()["error"]["current_version"] == 1
    assert engine.json()["error"]["problems"]


def test_keys_are_declared_with_the_engine_pattern(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        if path.startswith("/ofrep/"):
            continue  # an OFREP key that cannot exist is flagNotFound, as the protocol says
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] in ("project", "env", "key"):
                assert parameter["schema"]["pattern"] == KEY, f"{method} {path}"
    schemas = document["components"]["schemas"]
    for model in ("ProjectIn", "EnvironmentIn", "FlagIn", "SegmentCreate"):
        assert schemas[model]["properties"]["key"]["pattern"] == KEY


# ------------------------------------------------------------------ strict input


@pytest.mark.parametrize(
    ("url", "method", "body", "field"),
    [
        ("/projects/{p}/environments", "POST", {"key": "staging", "production": 0}, "production"),
        ("/projects/{p}/environments/development", "PATCH", {"production": 1}, "production"),
        (
            "/projects/{p}/flags",
            "POST",
            {"key": "f", "variations": BOOL, "temporary": 1},
            "temporary",
        ),
        ("/projects/{p}/environments/development/keys/rotate", "POST", {"kind": 1}, "kind"),
        (
            "/projects/{p}/environments/development/keys/rotate",
            "POST",
            {"kind": "server", "overlap_seconds": "60"},
            "overlap_seconds",
        ),
    ],
)
def test_numbers_are_not_booleans_nor_text(
    api: httpx.Client, project: str, url: str, method: str, body: dict[str, Any], field: str
) -> None:
    response = api.request(method, API + url.format(p=project), json=body)
    error = error_of(response, 422)
    assert (error["code"], error["field"]) == ("invalid", field)


def test_booleans_are_still_booleans(api: httpx.Client, project: str) -> None:
    created = api.post(
        f"{API}/projects/{project}/environments", json={"key": "staging", "production": False}
    )
    assert created.status_code == 201, created.text


@pytest.mark.parametrize("param", ["until", "since"])
@pytest.mark.parametrize("value", ["0", "1700000000", "-1", "tomorrow"])
def test_a_time_in_the_audit_query_is_iso_text(api: httpx.Client, param: str, value: str) -> None:
    error = error_of(api.get(f"{API}/audit", params={param: value}), 422)
    assert error["field"] == f"query.{param}"


def test_the_time_pattern_is_declared_and_honoured(
    document: dict[str, Any], api: httpx.Client, project: str
) -> None:
    parameters = document["paths"]["/api/v1/audit"]["get"]["parameters"]
    until = next(p for p in parameters if p["name"] == "until")
    assert not re.match(until["schema"]["pattern"], "0")
    for value in ("2026-01-01", "2026-01-01T10:00:00", "0001-01-01T00:00:00+05:00"):
        assert re.match(until["schema"]["pattern"], value)
        response = api.get(f"{API}/audit", params={"project": project, "until": value})
        assert response.status_code == 200, response.text


# ------------------------------------------------------------------ 405 and Allow


def path_of(template: str, project: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: project if m[1] == "project" else "1", template)


def test_allow_lists_every_method_of_the_path(
    document: dict[str, Any], api: httpx.Client, project: str
) -> None:
    for template, item in document["paths"].items():
        declared = {method.upper() for method in item if method in METHODS}
        other = next(m for m in ("PUT", "PATCH", "POST", "DELETE", "GET") if m not in declared)
        response = api.request(other, path_of(template, project))
        assert response.status_code == 405, (template, other)
        assert error_of(response, 405)["code"] == "method_not_allowed"
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        assert allowed == declared, template


def test_allow_lists_the_methods_in_order(api: httpx.Client, project: str) -> None:
    response = api.put(f"{API}/projects/{project}/flags/f")
    assert response.headers["Allow"] == "GET, PATCH, DELETE"
    options = api.options(f"{API}/projects/{project}")
    assert (options.status_code, options.headers["Allow"]) == (405, "GET, PATCH, DELETE")


def test_a_dashboard_page_lists_its_methods_too(server: VexilServer) -> None:
    response = httpx.put(f"{server.base_url}/login", timeout=10)
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["Allow"] == "GET, POST"

"""Errors are JSON naming the field, with the right status; bad input never makes a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _admin_api import (
    API,
    BOOL,
    create_flag,
    error_of,
    flags_url,
    segments_url,
    targeting_url,
)


def test_each_status_has_its_code(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    malformed = api.post(
        flags_url(project), content=b'{"key": ', headers={"Content-Type": "application/json"}
    )
    cases = [
        (malformed, 400, "bad_request"),
        (httpx.get(f"{api.base_url}{API}/projects"), 401, "unauthorized"),
        (api.get(flags_url(project, "nope")), 404, "not_found"),
        (api.get(f"{API}/no-such-thing"), 404, "not_found"),
        (api.put(flags_url(project, "f"), json={}), 405, "method_not_allowed"),
        (api.post(flags_url(project), json={"key": "f", "variations": BOOL}), 409, "conflict"),
        (api.post(flags_url(project), json={"key": "g", "variations": []}), 422, "invalid"),
    ]
    for response, status, code in cases:
        assert error_of(response, status)["code"] == code, response.request.url


def test_an_engine_refusal_lists_every_problem(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    body = {"on": True, "default": "nope", "off_variation": "neither"}
    error = error_of(api.put(targeting_url(project, "f"), json=body), 422)
    assert {p["field"] for p in error["problems"]} == {
        "flags.f.default",
        "flags.f.off_variation",
    }
    assert error["field"] in {p["field"] for p in error["problems"]}


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(
    api: httpx.Client, project: str
) -> None:
    big = json.dumps({"key": "big", "variations": {"a": "x" * (3 * 1024 * 1024)}}).encode()
    declared = api.post(
        flags_url(project), content=big, headers={"Content-Type": "application/json"}
    )
    assert error_of(declared, 413)["code"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = api.post(
        flags_url(project), content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert error_of(streamed, 413)["code"] == "too_large"
    assert api.get(flags_url(project)).json()["total"] == 0
    fits = {"key": "fits", "variations": {"a": "x" * (1024 * 1024)}}
    assert api.post(flags_url(project), json=fits).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "f", "variations": BOOL, "description": "a\x00b"}, "description"),
        ({"key": "f", "variations": {"a\x00": 1}}, "variations.a\x00"),
        ({"key": "f", "variations": BOOL, "tags": ["ok", "\x00"]}, "tags[1]"),
        ({"key": "f", "variations": BOOL, "metadata": {"owner": "\ud800"}}, "metadata.owner"),
        ({"key": "f", "variations": {"a": float("nan")}}, "variations.a"),
        ({"key": "f", "variations": {"a": float("inf")}}, "variations.a"),
    ],
)
def test_text_and_numbers_a_database_cannot_hold_are_refused(
    api: httpx.Client, project: str, body: dict[str, Any], field: str
) -> None:
    raw = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
    response = api.post(
        flags_url(project), content=raw, headers={"Content-Type": "application/json"}
    )
    assert error_of(response, 422)["field"] == field
    assert api.get(flags_url(project)).json()["total"] == 0


def test_deep_nesting_is_refused(api: httpx.Client, project: str) -> None:
    deep: Any = "bottom"
    for _ in range(40):
        deep = {"d": deep}
    body = {"key": "f", "type": "json", "variations": {"a": deep, "b": {}}}
    error = error_of(api.post(flags_url(project), json=body), 422)
    assert "nested" in error["message"]
    very_deep = b'{"key": "f", "variations": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}"
    response = api.post(
        flags_url(project), content=very_deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/projects/a%00b"),
        ("GET", "/projects/{p}/flags/a%00b"),
        ("GET", "/projects/{p}/environments/a%00b/segments"),
        ("GET", "/projects/{p}/environments/development/segments/" + "s" * 500),
        ("DELETE", "/tokens/99999999999999999999999"),
        ("DELETE", "/tokens/2147483648"),
        ("PATCH", "/users/9223372036854775808"),
        ("GET", "/projects/{p}/flags?q=a%00"),
        ("GET", "/projects/{p}/flags?offset=99999999999999999999"),
        ("GET", "/audit?actor=a%00"),
        ("GET", "/audit?flag=%00&environment=%00"),
        ("GET", "/audit?offset=10000000000000000000"),
    ],
)
def test_odd_paths_and_queries_get_4xx(
    api: httpx.Client, project: str, method: str, path: str
) -> None:
    response = api.request(method, API + path.format(p=project), json={"role": "viewer"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "p", "name": "n" * 201}, "name"),
        ({"key": "p" * 201}, "key"),
        ({"key": "p", "description": 5}, "description"),
        ({"key": "p", "extra": True}, "extra"),
        ([], None),
        ("just a string", None),
    ],
)
def test_bad_project_bodies_are_422(api: httpx.Client, body: Any, field: str | None) -> None:
    before = len(api.get(f"{API}/projects").json())
    error = error_of(api.post(f"{API}/projects", json=body), 422)
    if field is not None:
        assert error["field"] == field
    assert len(api.get(f"{API}/projects").json()) == before


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/projects/{p}", {"name": "x" * 201}),
        ("/projects/{p}/environments/development", {"name": "x" * 201}),
        ("/projects/{p}/flags/f", {"name": "x" * 201}),
        ("/projects/{p}/flags/f", {"variations": "not an object"}),
    ],
)
def test_bad_patches_are_422_and_change_nothing(
    api: httpx.Client, project: str, url: str, body: dict[str, Any]
) -> None:
    create_flag(api, project, "f")
    url = API + url.format(p=project)
    before = api.get(url).json()
    error_of(api.patch(url, json=body), 422)
    assert api.get(url).json() == before


def test_a_segment_body_is_checked_like_a_flag(api: httpx.Client, project: str) -> None:
    body = {"key": "s", "included": ["ok", "a\x00"]}
    error = error_of(api.post(segments_url(project), json=body), 422)
    assert error["field"] == "included[1]"
    assert api.get(segments_url(project)).json() == []

"""The admin API for segments (per environment), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _admin_api import (
    create_flag,
    error_of,
    etag,
    segments_url,
    targeting_url,
)

from _services import sdk_key

STAFF = {
    "key": "staff",
    "name": "Staff",
    "description": "Everyone at the company",
    "included": ["contractor-7"],
    "excluded": ["intern-3"],
    "rules": [
        {
            "id": "company-email",
            "clauses": [{"attribute": "email", "op": "ends_with", "values": ["@example.com"]}],
        }
    ],
}


def segments_in_ruleset(
    api: httpx.Client, anon: httpx.Client, project: str, env: str
) -> dict[str, Any]:
    headers = {"Authorization": sdk_key(api, project, env)}
    return dict(anon.get("/sdk/v1/ruleset", headers=headers).json()["segments"])


def test_a_segment_is_created_read_and_listed(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    created = api.post(segments_url(project), json={**STAFF, "comment": "for dogfooding"})
    assert created.status_code == 201, created.text
    assert etag(created) == 1
    segment = created.json()
    assert {k: segment[k] for k in STAFF} == STAFF
    assert api.get(segments_url(project, key="staff")).json() == segment
    assert [s["key"] for s in api.get(segments_url(project)).json()] == ["staff"]
    assert api.get(segments_url(project, "production")).json() == []
    served = segments_in_ruleset(api, anon, project, "development")
    assert served["staff"]["included"] == ["contractor-7"]
    assert segments_in_ruleset(api, anon, project, "production") == {}


def test_a_segment_key_is_unique_in_its_environment(api: httpx.Client, project: str) -> None:
    api.post(segments_url(project), json={"key": "beta"})
    error = error_of(api.post(segments_url(project), json={"key": "beta"}), 409)
    assert error["field"] == "key"
    assert api.post(segments_url(project, "production"), json={"key": "beta"}).status_code == 201


def test_put_creates_then_replaces_with_versions(api: httpx.Client, project: str) -> None:
    url = segments_url(project, key="beta")
    created = api.put(url, json={"included": ["u-1"]})
    assert created.status_code == 201, created.text
    assert etag(created) == 1
    replaced = api.put(url, json={"excluded": ["u-2"]}, headers={"If-Match": '"1"'})
    assert replaced.status_code == 200, replaced.text
    assert etag(replaced) == 2
    body = replaced.json()
    assert (body["excluded"], "included" in body) == (["u-2"], False)
    stale = api.put(url, json={"included": ["u-3"]}, headers={"If-Match": '"1"'})
    assert error_of(stale, 409)["current_version"] == 2
    assert api.get(url).json() == body


def test_a_segment_is_deleted(api: httpx.Client, anon: httpx.Client, project: str) -> None:
    api.post(segments_url(project), json={"key": "beta"})
    assert api.delete(segments_url(project, key="beta")).status_code == 204
    error_of(api.get(segments_url(project, key="beta")), 404)
    assert segments_in_ruleset(api, anon, project, "development") == {}
    assert error_of(api.delete(segments_url(project, key="beta")), 404)["field"] == "segment"


def test_a_segment_in_use_cannot_be_deleted(api: httpx.Client, project: str) -> None:
    api.post(segments_url(project), json=STAFF)
    create_flag(api, project, "f")
    rule = {"clauses": [{"op": "segment", "values": ["staff"]}], "serve": "on"}
    assert api.put(targeting_url(project, "f"), json={"on": True, "rules": [rule]}).is_success
    before = api.get(segments_url(project, key="staff")).json()
    error = error_of(api.delete(segments_url(project, key="staff")), 422)
    assert error["field"] == "flags.f.rules[0].clauses[0].values[0]"
    assert "unknown segment 'staff'" in error["message"]
    assert api.get(segments_url(project, key="staff")).json() == before


def test_a_segment_used_by_another_segment_cannot_be_deleted(
    api: httpx.Client, project: str
) -> None:
    api.post(segments_url(project), json={"key": "base", "included": ["u-1"]})
    nested = {"key": "wider", "rules": [{"clauses": [{"op": "segment", "values": ["base"]}]}]}
    assert api.post(segments_url(project), json=nested).status_code == 201
    error_of(api.delete(segments_url(project, key="base")), 422)
    assert api.get(segments_url(project, key="base")).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"key": "s", "rules": [{"clauses": [{"op": "segment", "values": ["s"]}]}]}, 422, None),
        ({"key": "s", "included": "u-1"}, 422, "included"),
        ({"key": "s", "rules": [{"clauses": [{"attribute": "a", "op": "nope"}]}]}, 422, None),
        ({"key": "s", "colour": "red"}, 422, "colour"),
        ({"key": "bad key"}, 400, "key"),
        ({"included": []}, 422, "key"),
    ],
)
def test_a_bad_segment_is_refused(
    api: httpx.Client, project: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    error = error_of(api.post(segments_url(project), json=body), status)
    if field is None:
        assert error["field"].startswith("segments.s.")
    else:
        assert error["field"] == field
    assert api.get(segments_url(project)).json() == []

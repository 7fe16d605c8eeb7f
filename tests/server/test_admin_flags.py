"""The admin API for flags and their per-environment targeting, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _admin_api import (
    API,
    BOOL,
    create_flag,
    error_of,
    etag,
    flags_url,
    new_project,
    targeting_url,
)

from _services import sdk_key

COLORS = {"red": "#f00", "green": "#0f0", "blue": "#00f"}


def ruleset(api: httpx.Client, anon: httpx.Client, project: str, env: str) -> dict[str, Any]:
    key = sdk_key(api, project, env)
    response = anon.get("/sdk/v1/ruleset", headers={"Authorization": key})
    assert response.status_code == 200, response.text
    return dict(response.json())


def state(api: httpx.Client, project: str, key: str) -> dict[str, Any]:
    """A flag with its targeting everywhere, for comparing before and after."""
    return dict(api.get(flags_url(project, key)).json())


# --------------------------------------------------------------------- flags


def test_a_flag_is_created_off_everywhere_with_its_fields(api: httpx.Client, project: str) -> None:
    body = {
        "key": "new-checkout",
        "name": "New checkout",
        "description": "The redesigned checkout",
        "tags": ["checkout", "web"],
        "temporary": False,
        "client_side": True,
        "metadata": {"owner": "payments", "ticket": 123},
        "variations": BOOL,
    }
    created = api.post(flags_url(project), json=body)
    assert created.status_code == 201, created.text
    flag = created.json()
    assert etag(created) == 1
    assert {k: flag[k] for k in body} == body
    assert flag["type"] == "boolean"
    for env in ("development", "production"):
        assert flag["environments"][env] | {"updated_at": None} == {
            "on": False,
            "off_variation": "off",
            "default": "on",
            "version": 1,
            "updated_at": None,
        }
    assert api.get(flags_url(project, "new-checkout")).json() == flag


def test_a_flag_can_be_created_with_targeting_for_every_environment(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    targeting = {"on": True, "default": "green", "targets": {"blue": ["u-1"]}}
    create_flag(api, project, "color", variations=COLORS, targeting=targeting)
    for env in ("development", "production"):
        flag = ruleset(api, anon, project, env)["flags"]["color"]
        assert (flag["on"], flag["default"], flag["targets"]) == (True, "green", {"blue": ["u-1"]})


def test_flag_keys_are_unique_within_a_project_only(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    error = error_of(api.post(flags_url(project), json={"key": "f", "variations": BOOL}), 409)
    assert error["field"] == "key"
    other = new_project(api)
    create_flag(api, other, "f")


def test_flags_are_listed_with_search_tags_and_pages(api: httpx.Client, project: str) -> None:
    for i in range(5):
        create_flag(api, project, f"flag-{i}", name=f"Flag {i}", tags=["odd" if i % 2 else "even"])
    create_flag(api, project, "checkout", name="Checkout v2")
    api.post(f"{targeting_url(project, 'flag-1')}/toggle", json={"on": True})
    everything = api.get(flags_url(project)).json()
    assert everything["total"] == 6
    assert [f["key"] for f in everything["items"]] == [
        "checkout",
        *(f"flag-{i}" for i in range(5)),
    ]
    flag_1 = next(f for f in everything["items"] if f["key"] == "flag-1")
    assert flag_1["on"] == {"development": True, "production": False}
    page = api.get(flags_url(project), params={"limit": 2, "offset": 2}).json()
    assert (page["total"], page["limit"], page["offset"]) == (6, 2, 2)
    assert [f["key"] for f in page["items"]] == ["flag-1", "flag-2"]
    odd = api.get(flags_url(project), params={"tag": "odd"}).json()
    assert [f["key"] for f in odd["items"]] == ["flag-1", "flag-3"]
    found = api.get(flags_url(project), params={"q": "CHECKOUT V"}).json()
    assert [f["key"] for f in found["items"]] == ["checkout"]
    error_of(api.get(flags_url(project), params={"limit": 0}), 422)


def test_a_flag_is_changed_with_its_version(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    changed = api.patch(
        flags_url(project, "f"),
        json={"description": "now described", "tags": ["a"]},
        headers={"If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert etag(changed) == 2
    assert (changed.json()["description"], changed.json()["tags"]) == ("now described", ["a"])
    assert changed.json()["name"] == "f"  # untouched fields are kept


def test_changing_variations_infers_the_type_again(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flag(api, project, "limit", variations={"low": 10, "high": 100})
    api.put(targeting_url(project, "limit"), json={"on": True, "default": "high"})
    api.put(
        targeting_url(project, "limit", "production"),
        json={"off_variation": "low", "default": "high"},
    )
    changed = api.patch(flags_url(project, "limit"), json={"variations": {"low": 5, "high": 1.5}})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["type"], changed.json()["variations"]) == (
        "number",
        {"low": 5, "high": 1.5},
    )
    flag = ruleset(api, anon, project, "development")["flags"]["limit"]
    assert flag["variations"] == {"low": 5, "high": 1.5}


def test_new_variations_that_break_one_environment_change_nothing(
    api: httpx.Client, project: str
) -> None:
    """Development serves only "on", but production still names "off": refused as a whole."""
    create_flag(api, project, "f")
    api.put(targeting_url(project, "f"), json={"on": True, "default": "on", "off_variation": "on"})
    before = state(api, project, "f")
    response = api.patch(flags_url(project, "f"), json={"variations": {"on": True, "no": False}})
    error = error_of(response, 422)
    assert error["code"] == "invalid"
    assert error["field"] == "flags.f.off_variation"
    assert "unknown variation 'off'" in error["message"]
    assert state(api, project, "f") == before


def test_a_flag_is_deleted_everywhere(api: httpx.Client, anon: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    assert api.delete(flags_url(project, "f")).status_code == 204
    error_of(api.get(flags_url(project, "f")), 404)
    error_of(api.get(targeting_url(project, "f")), 404)
    assert "f" not in ruleset(api, anon, project, "production")["flags"]
    error_of(api.delete(flags_url(project, "f")), 404)


def test_a_prerequisite_cannot_be_deleted(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "cart")
    create_flag(api, project, "checkout")
    prerequisite = {"prerequisites": [{"flag": "cart", "variation": "on"}]}
    assert api.put(targeting_url(project, "checkout", "production"), json=prerequisite).is_success
    before = (state(api, project, "cart"), state(api, project, "checkout"))
    error = error_of(api.delete(flags_url(project, "cart")), 422)
    assert error["field"] == "flags.cart"
    assert "prerequisite of checkout" in error["message"]
    assert (state(api, project, "cart"), state(api, project, "checkout")) == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"key": "f"}, 422, "variations"),
        ({"key": "f", "variations": {}}, 422, "flags.f.variations"),
        ({"key": "f", "variations": {"a": 1, "b": "two"}}, 422, "flags.f.variations.b"),
        ({"key": "f", "variations": BOOL, "type": "string"}, 422, "flags.f.variations.on"),
        ({"key": "f", "variations": BOOL, "colour": "red"}, 422, "colour"),
        ({"key": "f", "variations": BOOL, "targeting": {"default": "of"}}, 422, "flags.f.default"),
        ({"key": "f", "variations": BOOL, "targeting": {"bogus": 1}}, 400, "bogus"),
        ({"key": "bad key", "variations": BOOL}, 400, "key"),
        ({"key": "f", "variations": BOOL, "name": "x" * 201}, 422, "name"),
    ],
)
def test_a_bad_flag_is_refused_naming_the_field(
    api: httpx.Client, project: str, body: dict[str, Any], status: int, field: str
) -> None:
    error = error_of(api.post(flags_url(project), json=body), status)
    assert error["field"] == field
    assert api.get(flags_url(project)).json()["total"] == 0


# ----------------------------------------------------------------- targeting


def test_targeting_is_replaced_in_one_environment_only(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flag(api, project, "color", variations=COLORS)
    rule = {
        "id": "staff",
        "clauses": [{"attribute": "email", "op": "ends_with", "values": ["@example.com"]}],
        "serve": "blue",
    }
    body = {
        "on": True,
        "off_variation": "red",
        "default": {
            "rollout": [{"variation": "red", "weight": 50}, {"variation": "green", "weight": 50}]
        },
        "targets": {"green": ["u-1", "u-2"]},
        "rules": [rule],
        "comment": "launch",
    }
    url = targeting_url(project, "color")
    replaced = api.put(url, json=body, headers={"If-Match": '"1"'})
    assert replaced.status_code == 200, replaced.text
    assert etag(replaced) == 2
    expected = {k: v for k, v in body.items() if k != "comment"}
    assert {k: replaced.json()[k] for k in expected} == expected
    assert api.get(url).json() == replaced.json()
    dev = ruleset(api, anon, project, "development")["flags"]["color"]
    assert (dev["on"], dev["rules"][0]["id"], dev["targets"]) == (True, "staff", body["targets"])
    prod = api.get(targeting_url(project, "color", "production")).json()
    assert (prod["on"], prod["version"], "rules" in prod) == (False, 1, False)
    # Replacing means replacing: what is not sent is gone.
    again = api.put(url, json={"on": True, "default": "green"}).json()
    assert ("rules" in again, "targets" in again, again["version"]) == (False, False, 3)


def test_a_toggle_changes_only_on(api: httpx.Client, anon: httpx.Client, project: str) -> None:
    create_flag(api, project, "f", targeting={"targets": {"off": ["u-9"]}})
    url = targeting_url(project, "f", "production")
    on = api.post(f"{url}/toggle", json={"on": True}, headers={"If-Match": "1"})
    assert on.status_code == 200, on.text
    assert (on.json()["on"], on.json()["targets"], etag(on)) == (True, {"off": ["u-9"]}, 2)
    assert ruleset(api, anon, project, "production")["flags"]["f"]["on"] is True
    assert ruleset(api, anon, project, "development")["flags"]["f"]["on"] is False
    off = api.post(f"{url}/toggle", json={"on": False})
    assert (off.json()["on"], etag(off)) == (False, 3)


def test_promote_copies_targeting_from_development_to_production(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flag(api, project, "f")
    dev = {
        "on": True,
        "default": "off",
        "targets": {"on": ["tester"]},
        "rules": [
            {"clauses": [{"attribute": "beta", "op": "in", "values": [True]}], "serve": "on"}
        ],
    }
    api.put(targeting_url(project, "f"), json=dev)
    promoted = api.post(
        f"{flags_url(project, 'f')}/promote",
        json={"source": "development", "target": "production", "comment": "ship it"},
    )
    assert promoted.status_code == 200, promoted.text
    assert etag(promoted) == 2
    prod = api.get(targeting_url(project, "f", "production")).json()
    development = api.get(targeting_url(project, "f")).json()
    assert {k: prod[k] for k in dev} == dev
    assert {k: development[k] for k in dev} == dev
    served = ruleset(api, anon, project, "production")["flags"]["f"]
    assert (served["on"], served["targets"]) == (True, {"on": ["tester"]})


def test_promote_refuses_what_the_target_cannot_hold(api: httpx.Client, project: str) -> None:
    """A segment of development does not exist in production: nothing is promoted."""
    create_flag(api, project, "f")
    segment = {"key": "beta", "included": ["u-1"]}
    api.post(f"{API}/projects/{project}/environments/development/segments", json=segment)
    rule = {"clauses": [{"op": "segment", "values": ["beta"]}], "serve": "on"}
    assert api.put(targeting_url(project, "f"), json={"on": True, "rules": [rule]}).is_success
    before = state(api, project, "f")
    body = {"source": "development", "target": "production"}
    error = error_of(api.post(f"{flags_url(project, 'f')}/promote", json=body), 422)
    assert "unknown segment 'beta'" in error["message"]
    assert state(api, project, "f") == before
    same = {"source": "production", "target": "production"}
    error_of(api.post(f"{flags_url(project, 'f')}/promote", json=same), 400)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"on": True, "default": "maybe"}, 422, "flags.f.default"),
        ({"off_variation": "nope"}, 422, "flags.f.off_variation"),
        ({"targets": {"on": ["u-1"], "off": ["u-1"]}}, 422, "flags.f.targets.off"),
        ({"prerequisites": [{"flag": "ghost", "variation": "on"}]}, 422, None),
        (
            {"rules": [{"clauses": [{"op": "segment", "values": ["none"]}], "serve": "on"}]},
            422,
            None,
        ),
        ({"default": {"rollout": [{"variation": "on", "weight": 99}]}}, 422, None),
        ({"rules": "not a list"}, 422, "rules"),
        ({"on": True, "color": "red"}, 422, "color"),
    ],
)
def test_bad_targeting_is_refused_and_nothing_changes(
    api: httpx.Client, project: str, body: dict[str, Any], status: int, field: str | None
) -> None:
    create_flag(api, project, "f")
    before = state(api, project, "f")
    error = error_of(api.put(targeting_url(project, "f"), json=body), status)
    if field is not None:
        assert error["field"] == field
    else:
        assert error["field"].startswith("flags.f.")
    assert state(api, project, "f") == before


def test_targeting_of_unknown_things_is_404(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    assert error_of(api.get(targeting_url(project, "nope")), 404)["field"] == "flag"
    assert error_of(api.get(targeting_url(project, "f", "nope")), 404)["field"] == "environment"
    assert error_of(api.get(targeting_url("nope", "f")), 404)["field"] == "project"
    toggle = api.post(f"{targeting_url(project, 'nope')}/toggle", json={"on": True})
    assert error_of(toggle, 404)["field"] == "flag"

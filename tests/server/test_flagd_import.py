"""flagd documents in and out of a real server: import (one transaction, audited,
streamed to SDKs), export, and a round trip between environments."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from _admin_api import (
    API,
    BOOL,
    bearer,
    create_flag,
    create_token,
    error_of,
    flags_url,
    new_project,
    segments_url,
    targeting_url,
)

from _services import VexilServer, sdk_key, wait_for
from vexil import Client
from vexil.flags import Ruleset

SCHEMA = "https://flagd.dev/schema/v0/flags.json"
COLORS = {"red": "#f00", "green": "#0f0", "blue": "#00f"}

#: A flagd document exercising what the import converts: an if chain with evaluators,
#: targeting-key tests (targets), negations, versions, a fractional split, a disabled
#: flag and metadata.
DOCUMENT: dict[str, Any] = {
    "$schema": SCHEMA,
    "flags": {
        "new-checkout": {
            "state": "ENABLED",
            "variants": {"on": True, "off": False},
            "defaultVariant": "off",
            "targeting": {
                "if": [
                    {"in": [{"var": "targetingKey"}, ["u-vip"]]},
                    "on",
                    {"$ref": "staff"},
                    "on",
                    {"and": [{"!=": [{"var": "country"}, "US"]}, {">=": [{"var": "age"}, 18]}]},
                    "on",
                ]
            },
            "metadata": {"team": "checkout"},
        },
        "banner": {
            "state": "ENABLED",
            "variants": dict(COLORS),
            "defaultVariant": "red",
            "targeting": {
                "if": [
                    {"sem_ver": [{"var": "app_version"}, "^", "2.0.0"]},
                    "green",
                    {"starts_with": [{"var": "email"}, "beta-"]},
                    "blue",
                ]
            },
        },
        "split": {
            "state": "ENABLED",
            "variants": dict(COLORS),
            "defaultVariant": "red",
            "targeting": {"fractional": [["green", 50], ["blue", 50]]},
        },
        "retired": {"state": "DISABLED", "variants": {"on": True, "off": False}},
    },
    "$evaluators": {"staff": {"ends_with": [{"var": "email"}, "@vexil.dev"]}},
    "metadata": {"flagSetId": "shop"},
}

CONTEXTS: list[dict[str, Any]] = [
    {"key": "u-vip"},
    {"key": "u-1", "email": "ana@vexil.dev"},
    {"key": "u-2", "country": "CA", "age": 30},
    {"key": "u-3", "country": "US", "age": 30},
    {"key": "u-4", "age": 40},
    {"key": "u-5", "country": "FR", "age": 12},
    {"key": "u-6", "app_version": "2.4.1"},
    {"key": "u-7", "app_version": "3.0.0", "email": "beta-bo@x.io"},
    {"key": "u-8", "app_version": "bad"},
]


def env_url(project: str, env: str = "development") -> str:
    return f"{API}/projects/{project}/environments/{env}"


def import_url(project: str, env: str = "development") -> str:
    return f"{env_url(project, env)}/import/flagd"


def export_url(project: str, env: str = "development") -> str:
    return f"{env_url(project, env)}/export/flagd"


def revision(api: httpx.Client, project: str, env: str = "development") -> int:
    return int(api.get(env_url(project, env)).json()["revision"])


def flag_keys(api: httpx.Client, project: str) -> set[str]:
    return {f["key"] for f in api.get(flags_url(project)).json()["items"]}


def audit(api: httpx.Client, project: str) -> list[dict[str, Any]]:
    response = api.get(f"{API}/audit", params={"project": project, "limit": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def client_for(server: VexilServer, api: httpx.Client, project: str, env: str) -> Client:
    return Client(sdk_key(api, project, env), url=server.base_url, send_events=False)


def test_an_import_creates_flags_that_an_sdk_serves_as_flagd_would(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    before = revision(api, project)
    with client_for(server, api, project, "development") as watching:
        assert watching.all_flags({"key": "u-1"}) == {}
        response = api.post(import_url(project), json=DOCUMENT, params={"comment": "from flagd"})
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["created"] == ["new-checkout", "banner", "split", "retired"]
        assert result["updated"] == result["unchanged"] == result["skipped"] == []
        assert result["dry_run"] is False
        assert result["revision"] > before
        assert response.headers["etag"] == f'"{result["revision"]}"'
        assert [w["field"] for w in result["warnings"]] == [
            "flags.new-checkout.targeting.if[4].and[1].>=",
            "flags.banner.targeting.if[0].sem_ver",
            "flags.split.targeting.fractional",
        ]
        # A client that was already streaming receives the flags.
        wait_for(lambda: "banner" in watching.all_flags({"key": "u-1"}), what="the import")

    flagd = Ruleset.from_flagd(DOCUMENT)
    with client_for(server, api, project, "development") as client:
        for context in CONTEXTS:
            for key in ("new-checkout", "banner", "retired"):
                expected = flagd.evaluate(key, context).value
                assert client.variation(key, context) == expected, (key, context)
        assert client.variation("retired", {"key": "u-1"}, "fallback") == "fallback"
        split = [client.variation("split", {"key": f"u-{i}"}) for i in range(400)]
        assert 120 < split.count("#0f0") < 280
        assert split.count("#0f0") + split.count("#00f") == 400
        detail = client.variation_detail("new-checkout", {"key": "u-vip"})
        assert (detail.value, detail.reason) == (True, "TARGETING_MATCH")

    flag = api.get(flags_url(project, "new-checkout")).json()
    assert flag["metadata"] == {"flagSetId": "shop", "team": "checkout"}
    assert flag["environments"]["development"]["targets"] == {"on": ["u-vip"]}
    # The other environments get the new flags off, as a new flag always is.
    assert flag["environments"]["production"]["on"] is False
    with client_for(server, api, project, "production") as client:
        assert client.variation("new-checkout", {"key": "u-vip"}) is False  # its off variation

    entries = [e for e in audit(api, project) if e["action"].startswith("flag.")]
    assert sorted(e["key"] for e in entries) == ["banner", "new-checkout", "retired", "split"]
    assert {e["action"] for e in entries} == {"flag.create"}
    assert {e["comment"] for e in entries} == {"from flagd"}
    assert {e["actor"] for e in entries} == {entries[0]["actor"]}
    assert entries[0]["actor"].startswith("token:")


def test_existing_flags_are_updated_and_the_others_left_alone(
    api: httpx.Client, project: str
) -> None:
    create_flag(api, project, "keep")
    create_flag(
        api,
        project,
        "new-checkout",
        name="New checkout",
        tags=["web"],
        description="The redesign",
        variations={"on": True, "off": False},
    )
    put = api.put(
        targeting_url(project, "new-checkout", "production"),
        json={"on": True, "off_variation": "off", "default": "on"},
    )
    assert put.status_code == 200, put.text
    keep = api.get(flags_url(project, "keep")).json()
    production_before = api.get(targeting_url(project, "new-checkout", "production")).json()
    entries_before = len(audit(api, project))

    doc = copy.deepcopy(DOCUMENT)
    doc["flags"] = {k: doc["flags"][k] for k in ("new-checkout", "banner")}
    response = api.post(import_url(project), json=doc)
    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (
        ["banner"],
        ["new-checkout"],
    )

    assert api.get(flags_url(project, "keep")).json() == keep
    flag = api.get(flags_url(project, "new-checkout")).json()
    assert (flag["name"], flag["tags"], flag["description"]) == (
        "New checkout",
        ["web"],
        "The redesign",
    )
    assert flag["metadata"] == {"flagSetId": "shop", "team": "checkout"}
    development = flag["environments"]["development"]
    assert development["on"] is True
    assert development["targets"] == {"on": ["u-vip"]}
    assert api.get(targeting_url(project, "new-checkout", "production")).json() == production_before

    actions = sorted(
        (e["action"], e["key"])
        for e in audit(api, project)[: len(audit(api, project)) - entries_before]
    )
    assert actions == [
        ("flag.create", "banner"),
        ("flag.update", "new-checkout"),  # its metadata
        ("targeting.update", "new-checkout"),
    ]
    targeting_entry = next(e for e in audit(api, project) if e["action"] == "targeting.update")
    assert targeting_entry["environment"] == "development"
    assert targeting_entry["before"]["on"] is False
    assert targeting_entry["after"]["on"] is True

    # The same document again changes nothing, and says so.
    at = revision(api, project)
    again = api.post(import_url(project), json=doc).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (
        [],
        [],
        ["new-checkout", "banner"],
    )
    assert revision(api, project) == at
    # Existing flags may be skipped instead.
    doc["flags"]["banner"]["defaultVariant"] = "blue"
    doc["flags"]["fresh"] = {"variants": {"on": True, "off": False}, "defaultVariant": "on"}
    skipped = api.post(import_url(project), json=doc, params={"existing": "skip"}).json()
    assert (skipped["created"], skipped["skipped"]) == (["fresh"], ["new-checkout", "banner"])
    assert api.get(targeting_url(project, "banner")).json()["default"] == "red"


def test_a_refused_import_lists_every_problem_and_changes_nothing(
    api: httpx.Client, project: str
) -> None:
    at, entries = revision(api, project), len(audit(api, project))
    doc = copy.deepcopy(DOCUMENT)
    doc["flags"]["clock"] = {
        "variants": {"on": True, "off": False},
        "targeting": {"if": [{">": [{"var": "$flagd.timestamp"}, 1700000000]}, "on"]},
    }
    doc["flags"]["named"] = {
        "variants": dict(COLORS),
        "targeting": {"cat": [{"var": "tone"}, "ed"]},
        "defaultVariant": "red",
    }
    doc["flags"]["computed"] = {
        "variants": dict(COLORS),
        "targeting": {"if": [{"===": [{"var": "a"}, 1]}, {"var": "color"}]},
    }
    error = error_of(api.post(import_url(project), json=doc), 422)
    assert [(p["field"], p["message"]) for p in error["problems"]] == [
        (
            "flags.clock.targeting.if[0].>[0].var",
            "$flagd.timestamp is the evaluation's own data (such as its time), which Vexil's "
            "clauses do not read",
        ),
        (
            "flags.named.targeting.cat",
            "'cat' computes the variant from the context, which Vexil cannot",
        ),
        (
            "flags.computed.targeting.if[1].var",
            "the variant's name is read from the context, which Vexil's flags do not do",
        ),
    ]
    assert error["field"] == "flags.clock.targeting.if[0].>[0].var"
    assert flag_keys(api, project) == set()
    assert revision(api, project) == at
    assert len(audit(api, project)) == entries


def test_a_change_that_would_break_another_environment_is_refused(
    api: httpx.Client, project: str
) -> None:
    create_flag(api, project, "f", variations={"on": True, "off": False})
    doc = {"flags": {"f": {"variants": {"yes": True, "no": False}, "defaultVariant": "no"}}}
    error = error_of(api.post(import_url(project), json=doc), 422)
    fields = {(p["field"], p["environment"]) for p in error["problems"]}
    # Production's targeting still serves "off" and "on", which the document drops.
    assert ("flags.f.off_variation", "production") in fields
    assert ("flags.f.default", "production") in fields
    assert all(p["environment"] == "production" for p in error["problems"])
    assert api.get(flags_url(project, "f")).json()["variations"] == BOOL


def test_a_dry_run_reports_what_would_change_and_changes_nothing(
    api: httpx.Client, project: str
) -> None:
    create_flag(api, project, "banner", variations=dict(COLORS))
    at, entries = revision(api, project), len(audit(api, project))
    response = api.post(import_url(project), json=DOCUMENT, params={"dry_run": "true"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["dry_run"] is True
    assert result["created"] == ["new-checkout", "split", "retired"]
    assert result["updated"] == ["banner"]
    assert result["revision"] == at
    assert flag_keys(api, project) == {"banner"}
    assert revision(api, project) == at
    assert len(audit(api, project)) == entries
    # A dry run finds the same problems as an import.
    bad = {"flags": {"x": {"variants": {"a": 1}, "targeting": {"cat": [{"var": "a"}]}}}}
    error_of(api.post(import_url(project), json=bad, params={"dry_run": "true"}), 422)


def test_if_match_names_the_revision_an_import_expects(api: httpx.Client, project: str) -> None:
    exported = api.get(export_url(project))
    etag = exported.headers["etag"]
    create_flag(api, project, "meanwhile")
    stale = api.post(import_url(project), json=DOCUMENT, headers={"If-Match": etag})
    error = error_of(stale, 409)
    assert error["current_version"] == revision(api, project)
    assert flag_keys(api, project) == {"meanwhile"}
    fresh = api.get(export_url(project)).headers["etag"]
    done = api.post(import_url(project), json=DOCUMENT, headers={"If-Match": fresh})
    assert done.status_code == 200, done.text


def test_bad_requests_name_what_is_wrong(api: httpx.Client, project: str) -> None:
    not_an_object = error_of(api.post(import_url(project), json=[1]), 422)
    assert not_an_object["message"] == "the body must be a flagd document: a JSON object"
    assert error_of(api.post(import_url("no-such"), json=DOCUMENT), 404)["field"] == "project"
    assert error_of(api.post(import_url(project, "nope"), json=DOCUMENT), 404)["field"] == (
        "environment"
    )
    bad = api.post(import_url(project), json=DOCUMENT, params={"existing": "replace"})
    assert error_of(bad, 422)["field"] == "query.existing"
    nul = {"flags": {"f": {"variants": {"a\x00": 1}}}}
    assert (
        error_of(api.post(import_url(project), json=nul), 422)["field"] == "flags.f.variants.a\x00"
    )
    malformed = {"flags": {"f": {"state": "ON", "variants": {"a": 1}}}}
    error = error_of(api.post(import_url(project), json=malformed), 422)
    assert error["field"] == "flags.f.state"
    assert error_of(api.get(export_url("no-such")), 404)["field"] == "project"


def test_import_needs_an_editor_and_export_a_viewer(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    with bearer(server, create_token(api, "viewer")) as viewer:
        refused = viewer.post(import_url(project), json=DOCUMENT)
        assert "editor role" in error_of(refused, 403)["message"]
        assert viewer.get(export_url(project)).status_code == 200
    other = new_project(api)
    with bearer(server, create_token(api, "editor", other)) as elsewhere:
        error_of(elsewhere.post(import_url(project), json=DOCUMENT), 403)
        error_of(elsewhere.get(export_url(project)), 403)
    with bearer(server, create_token(api, "editor", project)) as editor:
        assert editor.post(import_url(project), json=DOCUMENT).status_code == 200
    assert flag_keys(api, project) == set(DOCUMENT["flags"])
    with httpx.Client(base_url=server.base_url) as anonymous:
        assert anonymous.get(export_url(project)).status_code == 401


def make_environment(api: httpx.Client, project: str) -> None:
    """Flags and segments in development, with everything flagd can express."""
    segment = {
        "key": "staff",
        "included": ["u-contractor"],
        "excluded": ["u-intern"],
        "rules": [
            {"clauses": [{"attribute": "email", "op": "ends_with", "values": ["@vexil.dev"]}]}
        ],
    }
    assert api.post(segments_url(project), json=segment).status_code == 201
    create_flag(api, project, "checkout", variations=BOOL, metadata={"owner": "web"})
    create_flag(api, project, "color", variations=dict(COLORS))
    create_flag(api, project, "pages", variations={"few": 10, "many": 50})
    create_flag(api, project, "dormant", variations=BOOL)
    create_flag(api, project, "gated", variations=BOOL)
    bodies = {
        "checkout": {
            "on": True,
            "off_variation": "off",
            "targets": {"on": ["u-1"], "off": ["u-2"]},
            "rules": [
                {"id": "staff", "clauses": [{"op": "segment", "values": ["staff"]}], "serve": "on"},
                {
                    "id": "adults-outside-us",
                    "clauses": [
                        {"attribute": "age", "op": "gte", "values": [18]},
                        {"attribute": "country", "op": "in", "values": ["US"], "negate": True},
                    ],
                    "serve": "on",
                },
            ],
            "default": "off",
        },
        "color": {
            "on": True,
            "rules": [
                {
                    "clauses": [
                        {"attribute": "app_version", "op": "semver_gte", "values": ["2.0.0"]}
                    ],
                    "serve": {
                        "rollout": [
                            {"variation": "green", "weight": 50},
                            {"variation": "blue", "weight": 50},
                        ],
                        "bucket_by": "email",
                    },
                }
            ],
            "default": "red",
        },
        "pages": {
            "on": True,
            "default": {
                "rollout": [{"variation": "few", "weight": 30}, {"variation": "many", "weight": 70}]
            },
        },
        "dormant": {"on": False, "off_variation": "off", "default": "on"},
        "gated": {
            "on": True,
            "prerequisites": [{"flag": "checkout", "variation": "on"}],
            "default": "on",
        },
    }
    for key, body in bodies.items():
        response = api.put(targeting_url(project, key), json=body)
        assert response.status_code == 200, response.text


def test_an_environment_exports_as_a_flagd_document(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    make_environment(api, project)
    refused = error_of(api.get(export_url(project)), 422)
    assert [(p["field"], p["message"]) for p in refused["problems"]] == [
        ("flags.gated.prerequisites", "flagd has no prerequisites (checkout=on)")
    ]
    response = api.get(export_url(project), params={"skip_unsupported": "true"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="{project}-development.flagd.json"'
    )
    assert response.headers["etag"] == f'"{revision(api, project)}"'
    assert response.headers["vexil-skipped-flags"] == "gated"
    document = response.json()
    assert document["$schema"] == SCHEMA
    assert set(document["flags"]) == {"checkout", "color", "pages", "dormant"}
    assert set(document["$evaluators"]) == {"segment:staff"}
    assert document["flags"]["checkout"]["metadata"] == {"owner": "web"}
    assert document["flags"]["pages"]["targeting"] == {"fractional": [["few", 3], ["many", 7]]}

    flagd = Ruleset.from_flagd(document, strict=True)
    contexts: list[dict[str, Any]] = [
        {"key": "u-1"},
        {"key": "u-2", "email": "bo@vexil.dev"},
        {"key": "u-contractor"},
        {"key": "u-intern", "email": "i@vexil.dev"},
        {"key": "u-3", "email": "c@vexil.dev"},
        {"key": "u-4", "age": 30, "country": "CA"},
        {"key": "u-5", "age": 30, "country": "US"},
        {"key": "u-6", "age": 30},
        {"key": "u-7", "age": 12},
        {"key": "u-8", "app_version": "1.0.0"},
    ]
    with client_for(server, api, project, "development") as vexil:
        for context in contexts:
            for key in ("checkout", "dormant", "color"):
                expected = vexil.variation(key, context)
                assert flagd.evaluate(key, context).value == expected, (key, context)
    assert flagd.evaluate("color", contexts[-1]).value == "#f00"


def test_an_export_imported_elsewhere_serves_the_same(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    make_environment(api, project)
    exported = api.get(export_url(project), params={"skip_unsupported": "true"}).json()
    target = new_project(api)
    assert (
        api.post(segments_url(target, "production"), json={"key": "unrelated"}).status_code == 201
    )
    response = api.post(import_url(target, "production"), json=exported)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["created"]) == ["checkout", "color", "dormant", "pages"]
    contexts = [
        {
            "key": f"u-{i}",
            "email": f"p{i}@{'vexil.dev' if i % 3 == 0 else 'x.io'}",
            "age": 10 * (i % 5),
        }
        | ({"country": "US"} if i % 2 else {})
        | ({"app_version": f"{i % 4}.1.0"})
        for i in range(60)
    ] + [{"key": "u-contractor"}, {"key": "u-intern", "email": "a@vexil.dev"}]
    with (
        client_for(server, api, project, "development") as original,
        client_for(server, api, target, "production") as imported,
    ):
        for context in contexts:
            for key in ("checkout", "color", "pages", "dormant"):
                assert imported.variation(key, context) == original.variation(key, context), (
                    key,
                    context,
                )


LONE = "\ud800"  # an unpaired surrogate: JSON can escape one, UTF-8 cannot hold it


@pytest.mark.parametrize(
    "flag",
    [
        {LONE: {"variants": {"a": 1}, "defaultVariant": "a"}},
        {"f": {"variants": {LONE: "x"}, "defaultVariant": LONE}},
        {"f": {"variants": {"a": LONE}, "defaultVariant": "a"}},
        {"f": {"variants": {"a": 1}, "defaultVariant": "a", "metadata": {"t": LONE}}},
    ],
    ids=["flag key", "variant name", "variant value", "metadata"],
)
def test_text_that_is_not_unicode_is_refused_never_a_crash(
    api: httpx.Client, project: str, flag: dict[str, Any]
) -> None:
    body = json.dumps({"flags": flag})  # ensure_ascii: the surrogate travels escaped
    response = api.post(
        import_url(project), content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"].startswith("flags.")  # the path, even escaped
    assert api.get("/healthz").status_code == 200

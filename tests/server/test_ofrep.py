"""OFREP end to end, on SQLite and on PostgreSQL: every answer checked against the spec.

Flags are made through the admin API and evaluated over ``/ofrep/v1`` with real SDK
keys; each body is validated against the response schemas of the protocol (``SCHEMAS``
below).
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from _admin_api import create_on

from _services import VexilServer, sdk_key
from vexil.flags import Ruleset

BOOL = {"on": True, "off": False}
SINGLE = "/ofrep/v1/evaluate/flags/{}"
BULK = "/ofrep/v1/evaluate/flags"

# --------------------------------------------------------------- the spec's schemas
#
# The response schemas of OFREP's OpenAPI document (open-feature/protocol,
# service/openapi.yaml), restated as the JSON Schema constraints only: names of the
# components, types, required members and enums, without the document's prose.
# No package ships the document, and the tests must not reach the network, so the
# constraints live here.
#
# Version: OFREP 0.3.0. It adds to 0.1.0 the shared ``metadata`` component (also
# allowed on failures and on a bulk answer), ``codeDefaultFlag`` (0.2.0: a success
# without ``value`` tells the provider to use the application's default), and
# ``eventStreams`` on a bulk answer (0.3.0, optional; Vexil sends none).
#
# Two places depart from the document's literal text, because read literally they
# could accept no valued answer at all:
# - The value branch of ``evaluationSuccess`` is ``anyOf``, not ``oneOf``: an integer
#   is valid for both ``integerFlag`` and ``floatFlag`` (JSON Schema's ``number``
#   includes the integers), so under ``oneOf`` no integer value could ever validate.
# - ``codeDefaultFlag`` is "has no ``value`` member", which is what the spec says it
#   means; as a bare object it would match every success, valued or not.
#
# ``reason`` is any string: the spec lists the usual reasons as examples, and
# OpenFeature's reasons are open-ended (Vexil sends PREREQUISITE_FAILED).

_METADATA = {
    "type": "object",
    "additionalProperties": {
        "oneOf": [{"type": "boolean"}, {"type": "string"}, {"type": "number"}]
    },
}


def _valued(json_type: str) -> dict[str, Any]:
    return {"required": ["value"], "properties": {"value": {"type": json_type}}}


def _failure(codes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["key", "errorCode"],
        "properties": {
            "key": {"$ref": "#/$defs/key"},
            "errorCode": {"type": "string", "enum": codes},
            "errorDetails": {"$ref": "#/$defs/errorDetails"},
            "metadata": {"$ref": "#/$defs/metadata"},
        },
    }


SCHEMAS: dict[str, Any] = {
    "key": {"type": "string"},
    "errorDetails": {"type": "string"},
    "metadata": _METADATA,
    "booleanFlag": _valued("boolean"),
    "stringFlag": _valued("string"),
    "integerFlag": _valued("integer"),
    "floatFlag": _valued("number"),
    "objectFlag": _valued("object"),
    "codeDefaultFlag": {"not": {"required": ["value"]}},
    "evaluationSuccess": {
        "type": "object",
        "required": ["key", "reason"],
        "properties": {
            "key": {"$ref": "#/$defs/key"},
            "reason": {"type": "string"},
            "variant": {"type": "string"},
            "metadata": {"$ref": "#/$defs/metadata"},
        },
        "anyOf": [
            {"$ref": f"#/$defs/{name}"}
            for name in (
                "booleanFlag",
                "stringFlag",
                "integerFlag",
                "floatFlag",
                "objectFlag",
                "codeDefaultFlag",
            )
        ],
    },
    "serverEvaluationSuccess": {"allOf": [{"$ref": "#/$defs/evaluationSuccess"}]},
    "evaluationFailure": _failure(
        ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"]
    ),
    "flagNotFound": _failure(["FLAG_NOT_FOUND"]),
    "bulkEvaluationSuccess": {
        "type": "object",
        "required": ["flags"],
        "properties": {
            "flags": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"$ref": "#/$defs/evaluationSuccess"},
                        {"$ref": "#/$defs/evaluationFailure"},
                    ]
                },
            },
            "metadata": {"$ref": "#/$defs/metadata"},
            "eventStreams": {"type": "array", "items": {"type": "object"}},
        },
    },
    "bulkEvaluationFailure": {
        "type": "object",
        "required": ["errorCode"],
        "properties": {
            "errorCode": {"type": "string"},
            "errorDetails": {"$ref": "#/$defs/errorDetails"},
        },
    },
}


def validator(schema: str) -> jsonschema.Draft202012Validator:
    """A validator for the OFREP component ``schema``."""
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": SCHEMAS,
        "$ref": f"#/$defs/{schema}",
    }
    jsonschema.Draft202012Validator.check_schema(root)
    return jsonschema.Draft202012Validator(root)


def conforms(response: httpx.Response, schema: str) -> Any:
    """The body, after checking it against the OFREP component ``schema``."""
    body = response.json()
    validator(schema).validate(body)
    return body


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("serverEvaluationSuccess", {"key": "f", "value": True}),  # no reason
        ("serverEvaluationSuccess", {"reason": "STATIC", "value": True}),  # no key
        ("serverEvaluationSuccess", {"key": "f", "reason": "STATIC", "value": None}),
        ("serverEvaluationSuccess", {"key": "f", "reason": "STATIC", "value": [1, 2]}),
        ("serverEvaluationSuccess", {"key": "f", "reason": "STATIC", "variant": 1}),
        (
            "serverEvaluationSuccess",
            {"key": "f", "reason": "STATIC", "value": 1, "metadata": {"a": {"b": 1}}},
        ),
        ("evaluationFailure", {"key": "f", "errorCode": "FLAG_NOT_FOUND"}),
        ("evaluationFailure", {"errorCode": "GENERAL"}),
        ("flagNotFound", {"key": "f", "errorCode": "GENERAL"}),
        ("bulkEvaluationSuccess", {}),
        ("bulkEvaluationSuccess", {"flags": [{"key": "f", "value": True}]}),
        ("bulkEvaluationFailure", {"errorDetails": "no code"}),
    ],
    ids=[
        "no-reason",
        "no-key",
        "null-value",
        "array-value",
        "variant-not-string",
        "nested-metadata",
        "not-found-as-failure",
        "failure-without-key",
        "not-found-other-code",
        "bulk-without-flags",
        "bulk-item-neither",
        "bulk-failure-without-code",
    ],
)
def test_the_schemas_reject_what_the_spec_forbids(schema: str, body: Any) -> None:
    # The checks below are worth something only if these schemas can fail.
    assert not validator(schema).is_valid(body)


@pytest.mark.parametrize("value", [True, "x", 0, 20, -3, 0.25, 1e100, {}, {"a": [1]}], ids=repr)
def test_the_schemas_accept_every_value_type_and_the_code_default(value: Any) -> None:
    success = validator("serverEvaluationSuccess")
    assert success.is_valid({"key": "f", "reason": "TARGETING_MATCH", "value": value})
    assert success.is_valid({"key": "f", "reason": "DISABLED", "metadata": {"n": 1}})
    item = {"key": "f", "reason": "SPLIT", "variant": "a", "value": value}
    assert validator("bulkEvaluationSuccess").is_valid({"flags": [item], "metadata": {}})


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def evaluate(
    anon: httpx.Client, key: str, flag: str, context: dict[str, Any] | None = None
) -> httpx.Response:
    body = {} if context is None else {"context": context}
    return anon.post(SINGLE.format(flag), json=body, headers=bearer(key))


def bulk(anon: httpx.Client, key: str, context: dict[str, Any], **headers: str) -> httpx.Response:
    return anon.post(BULK, json={"context": context}, headers={**bearer(key), **headers})


# ------------------------------------------------------------------ one flag


@pytest.mark.parametrize(
    ("variations", "value", "variant"),
    [
        (BOOL, True, "on"),
        ({"green": "#0a0", "red": "#a00"}, "#0a0", "green"),
        ({"page": 20, "big": 50}, 20, "page"),
        ({"ratio": 0.25, "half": 0.5}, 0.25, "ratio"),
        (
            {"compact": {"rows": 2, "dense": True}, "roomy": {"rows": 1}},
            {"rows": 2, "dense": True},
            "compact",
        ),
    ],
    ids=["boolean", "string", "integer", "float", "object"],
)
def test_every_flag_type_evaluates_to_its_typed_value(
    admin: httpx.Client,
    anon: httpx.Client,
    project: str,
    keys: dict[str, str],
    variations: dict[str, Any],
    value: Any,
    variant: str,
) -> None:
    create_on(admin, project, "f", variations)
    response = evaluate(anon, keys["server"], "f", {"targetingKey": "u-1"})
    assert response.status_code == 200, response.text
    body = conforms(response, "serverEvaluationSuccess")
    expected = {"key": "f", "value": value, "reason": "STATIC", "variant": variant, "metadata": {}}
    assert body == expected
    assert type(body["value"]) is type(value)


def test_a_rule_on_a_context_attribute_is_a_targeting_match(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    rule = {"id": "pro-plan", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    create_on(admin, project, "f", BOOL, rules=[{**rule, "serve": "on"}], default="off")
    pro = evaluate(anon, keys["server"], "f", {"targetingKey": "u-1", "plan": "pro"})
    free = evaluate(anon, keys["server"], "f", {"targetingKey": "u-2", "plan": "free"})
    matched = conforms(pro, "serverEvaluationSuccess")
    assert (matched["value"], matched["reason"]) == (True, "TARGETING_MATCH")
    assert matched["metadata"] == {"vexil.rule_id": "pro-plan"}
    fallback = conforms(free, "serverEvaluationSuccess")
    assert (fallback["value"], fallback["reason"], fallback["metadata"]) == (False, "DEFAULT", {})


def test_the_targeting_key_is_the_context_key(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    staff = {"attribute": "key", "op": "starts_with", "values": ["staff-"]}
    rules = [{"id": "staff", "clauses": [staff], "serve": "on"}]
    create_on(admin, project, "f", BOOL, targets={"on": ["u-7"]}, rules=rules, default="off")

    def decided(targeting_key: str) -> tuple[Any, ...]:
        body = conforms(
            evaluate(anon, keys["server"], "f", {"targetingKey": targeting_key}),
            "serverEvaluationSuccess",
        )
        return body["value"], body["reason"], body["metadata"].get("vexil.rule_id")

    assert decided("u-7") == (True, "TARGETING_MATCH", None)
    assert decided("staff-1") == (True, "TARGETING_MATCH", "staff")
    assert decided("u-8") == (False, "DEFAULT", None)


ROLLOUT = {
    "rollout": [{"variation": "a", "weight": 50}, {"variation": "b", "weight": 50}],
    "experiment": True,
}


def test_a_rollout_splits_as_the_sdk_does(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    variations = {"a": "A", "b": "B"}
    create_on(admin, project, "f", variations, default=ROLLOUT)
    local = Ruleset.from_data({"flags": {"f": {"variations": variations, "default": ROLLOUT}}})
    seen = set()
    for n in range(40):
        user = f"u-{n}"
        body = conforms(
            evaluate(anon, keys["server"], "f", {"targetingKey": user}), "serverEvaluationSuccess"
        )
        assert (body["reason"], body["metadata"]) == ("SPLIT", {"vexil.in_experiment": True})
        assert body["variant"] == local.evaluate("f", {"key": user}).variant
        seen.add(body["variant"])
    assert seen == {"a", "b"}


def test_a_targeting_key_that_is_not_unicode_text_is_bucketed_safely(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    # JSON may escape an unpaired surrogate; hashed raw, it used to crash the process.
    create_on(admin, project, "f", {"a": "A", "b": "B"}, default=ROLLOUT)
    raw = b'{"context": {"targetingKey": "u-\\ud800"}}'
    headers = {**bearer(keys["server"]), "Content-Type": "application/json"}
    response = anon.post(SINGLE.format("f"), content=raw, headers=headers)
    body = conforms(response, "serverEvaluationSuccess")
    assert (
        body["variant"]
        == Ruleset.from_data(
            {"flags": {"f": {"variations": {"a": "A", "b": "B"}, "default": ROLLOUT}}}
        )
        .evaluate("f", {"key": "u-\ufffd"})
        .variant
    )
    assert anon.get("/healthz").status_code == 200


def test_a_rollout_without_a_targeting_key_is_400(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "f", {"a": "A", "b": "B"}, default=ROLLOUT)
    response = evaluate(anon, keys["server"], "f", {"plan": "pro"})
    assert response.status_code == 400
    body = conforms(response, "evaluationFailure")
    assert (body["key"], body["errorCode"]) == ("f", "TARGETING_KEY_MISSING")
    assert "targetingKey" in body["errorDetails"]


def test_a_disabled_flag_serves_its_off_variation(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "f", BOOL, on=False, off_variation="off")
    body = conforms(evaluate(anon, keys["server"], "f", {}), "serverEvaluationSuccess")
    assert body == {
        "key": "f",
        "value": False,
        "reason": "DISABLED",
        "variant": "off",
        "metadata": {},
    }


def test_a_disabled_flag_without_off_variation_defers_to_the_code_default(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "f", BOOL)
    url = f"/api/v1/projects/{project}/environments/development/flags/f"
    replaced = admin.put(url, json={"on": False, "default": "on"})
    assert replaced.status_code == 200, replaced.text
    assert "off_variation" not in replaced.json()
    response = evaluate(anon, keys["server"], "f", {"targetingKey": "u-1"})
    assert response.status_code == 200
    body = conforms(response, "serverEvaluationSuccess")
    assert body == {"key": "f", "reason": "DISABLED", "metadata": {}}  # no value: codeDefaultFlag


def test_a_failed_prerequisite_is_a_custom_reason(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "parent", BOOL, on=False)
    create_on(admin, project, "child", BOOL, prerequisites=[{"flag": "parent", "variation": "on"}])
    body = conforms(evaluate(anon, keys["server"], "child", {}), "serverEvaluationSuccess")
    assert (body["value"], body["variant"], body["reason"]) == (False, "off", "PREREQUISITE_FAILED")
    assert body["metadata"] == {"vexil.prerequisite": "parent"}


def test_the_flags_metadata_comes_with_the_evaluation(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    meta = {"owner": "payments", "tier": 2, "ratio": 0.5, "beta": True}
    rule = {"id": "everyone", "clauses": [], "serve": "on"}
    create_on(admin, project, "f", BOOL, metadata=meta, rules=[rule])
    body = conforms(evaluate(anon, keys["server"], "f", {}), "serverEvaluationSuccess")
    assert body["metadata"] == {**meta, "vexil.rule_id": "everyone"}


def test_an_unknown_flag_is_404(anon: httpx.Client, keys: dict[str, str]) -> None:
    response = evaluate(anon, keys["server"], "nothing", {"targetingKey": "u-1"})
    assert response.status_code == 404
    body = conforms(response, "flagNotFound")
    assert body == {
        "key": "nothing",
        "errorCode": "FLAG_NOT_FOUND",
        "errorDetails": "no flag 'nothing'",
    }


def test_a_body_without_context_is_an_empty_context(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "f", BOOL)
    for content in (b"", b"{}", b'{"other": 1}'):
        response = anon.post(SINGLE.format("f"), content=content, headers=bearer(keys["server"]))
        assert response.status_code == 200, (content, response.text)
        assert conforms(response, "serverEvaluationSuccess")["value"] is True


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "PARSE_ERROR"),
        (b"\xff\xfe\x00", "PARSE_ERROR"),
        (b"[]", "PARSE_ERROR"),
        (b'"context"', "PARSE_ERROR"),
        (b'{"context": {"ratio": NaN}}', "PARSE_ERROR"),
        (b'{"context": 3}', "INVALID_CONTEXT"),
        (b'{"context": null}', "INVALID_CONTEXT"),
        (b'{"context": ["targetingKey"]}', "INVALID_CONTEXT"),
        (b'{"context": {"targetingKey": 7}}', "INVALID_CONTEXT"),
    ],
    ids=[
        "not-json",
        "not-utf8",
        "array",
        "string",
        "nan",
        "context-number",
        "context-null",
        "context-array",
        "targeting-key-number",
    ],
)
def test_a_malformed_body_is_400_with_its_error_code(
    admin: httpx.Client,
    anon: httpx.Client,
    project: str,
    keys: dict[str, str],
    content: bytes,
    code: str,
) -> None:
    create_on(admin, project, "f", BOOL)
    headers = {**bearer(keys["server"]), "Content-Type": "application/json"}
    single = anon.post(SINGLE.format("f"), content=content, headers=headers)
    assert single.status_code == 400
    assert conforms(single, "evaluationFailure")["errorCode"] == code
    assert single.json()["key"] == "f"
    many = anon.post(BULK, content=content, headers=headers)
    assert many.status_code == 400
    assert conforms(many, "bulkEvaluationFailure")["errorCode"] == code
    assert "ETag" not in many.headers


# --------------------------------------------------------------- keys and auth


def test_a_client_key_reaches_client_side_flags_only(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "public", BOOL, client_side=True)
    create_on(admin, project, "internal", BOOL)
    client = keys["client"]
    assert conforms(evaluate(anon, client, "public"), "serverEvaluationSuccess")["value"] is True
    hidden, absent = evaluate(anon, client, "internal"), evaluate(anon, client, "notthere")
    # A server-side flag is indistinguishable from a flag that does not exist.
    assert hidden.status_code == absent.status_code == 404
    conforms(hidden, "flagNotFound")
    assert hidden.text.replace("internal", "K") == absent.text.replace("notthere", "K")
    assert hidden.headers["content-length"] == absent.headers["content-length"]
    assert evaluate(anon, keys["server"], "internal").status_code == 200
    seen = {
        kind: [f["key"] for f in conforms(bulk(anon, key, {}), "bulkEvaluationSuccess")["flags"]]
        for kind, key in keys.items()
    }
    assert seen == {"server": ["internal", "public"], "client": ["public"]}


@pytest.mark.parametrize("header", ["bearer", "x-api-key", "plain"])
def test_every_key_header_form_is_accepted(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str], header: str
) -> None:
    create_on(admin, project, "f", BOOL, client_side=True)
    for key in keys.values():
        headers = {
            "bearer": {"Authorization": f"Bearer {key}"},
            "x-api-key": {"X-API-Key": key},
            "plain": {"Authorization": key},
        }[header]
        response = anon.post(SINGLE.format("f"), json={}, headers=headers)
        assert response.status_code == 200, response.text
        assert conforms(response, "serverEvaluationSuccess")["value"] is True


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer vx-srv-not-a-key"}, {"X-API-Key": "vx-cli-nope"}],
    ids=["none", "unknown-server-key", "unknown-client-key"],
)
@pytest.mark.parametrize("path", [SINGLE.format("f"), BULK])
def test_a_request_without_a_valid_key_is_401(
    server: VexilServer, headers: dict[str, str], path: str
) -> None:
    # The key is checked before the body: a malformed body without a key is still 401.
    for content in (b'{"context": {}}', b"{not json"):
        response = httpx.post(f"{server.base_url}{path}", content=content, headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_a_key_evaluates_its_own_environment(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "f", BOOL)
    toggle = f"/api/v1/projects/{project}/environments/production/flags/f/toggle"
    assert admin.post(toggle, json={"on": False}).status_code == 200
    production = sdk_key(admin, project, "production")
    dev = conforms(evaluate(anon, keys["server"], "f"), "serverEvaluationSuccess")
    prod = conforms(evaluate(anon, production, "f"), "serverEvaluationSuccess")
    assert (dev["reason"], prod["reason"]) == ("STATIC", "DISABLED")


# ------------------------------------------------------------------------ bulk


def test_bulk_answers_304_until_the_ruleset_or_the_context_changes(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "f", BOOL, client_side=True)
    server = keys["server"]
    context = {"targetingKey": "u-1", "plan": "pro", "country": "CA"}
    first = bulk(anon, server, context)
    assert first.status_code == 200
    assert conforms(first, "bulkEvaluationSuccess")["flags"][0]["value"] is True
    etag = first.headers["ETag"]

    same = bulk(anon, server, context, **{"If-None-Match": etag})
    assert (same.status_code, same.content, same.headers["ETag"]) == (304, b"", etag)
    reordered = dict(reversed(context.items()))
    assert bulk(anon, server, reordered, **{"If-None-Match": f'"x", W/{etag}'}).status_code == 304

    other = bulk(anon, server, {**context, "plan": "free"}, **{"If-None-Match": etag})
    assert other.status_code == 200
    assert other.headers["ETag"] != etag
    conforms(other, "bulkEvaluationSuccess")
    assert bulk(anon, keys["client"], context).headers["ETag"] != etag

    toggle = f"/api/v1/projects/{project}/environments/development/flags/f/toggle"
    assert admin.post(toggle, json={"on": False}).status_code == 200
    changed = bulk(anon, server, context, **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    flag = conforms(changed, "bulkEvaluationSuccess")["flags"][0]
    assert (flag["value"], flag["reason"]) == (False, "DISABLED")


def test_bulk_reports_a_failing_flag_among_the_successes(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    create_on(admin, project, "rollout", {"a": "A", "b": "B"}, default=ROLLOUT)
    create_on(admin, project, "static", {"small": 10, "large": 20})
    response = bulk(anon, keys["server"], {"plan": "pro"})
    assert response.status_code == 200
    rollout, static = conforms(response, "bulkEvaluationSuccess")["flags"]
    assert (rollout["key"], rollout["errorCode"]) == ("rollout", "TARGETING_KEY_MISSING")
    assert "reason" not in rollout
    assert static == {
        "key": "static",
        "value": 10,
        "reason": "STATIC",
        "variant": "small",
        "metadata": {},
    }

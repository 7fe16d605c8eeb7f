"""OpenFeature's own OFREP provider against a real ``vexil serve``, on SQLite and PostgreSQL.

``openfeature-provider-ofrep`` knows nothing of Vexil: it speaks OFREP to the server
through the OpenFeature SDK, with an SDK key in ``Authorization: Bearer``. These tests
show what an application using it sees for every type, targeting, disabled and
missing flags, type mismatches, bad contexts and changes made through the admin API.

The provider evaluates one flag per request (``/ofrep/v1/evaluate/flags/{key}``); it
has no bulk mode. The bulk endpoint with its ETag, which client-side providers (web,
mobile) poll, is driven here with httpx as they drive it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from _admin_api import create_on
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason

from _services import VexilServer, sdk_key, wait_for

BOOL = {"on": True, "off": False}

Connect = Callable[[str], OpenFeatureClient]


@pytest.fixture(autouse=True)
def openfeature_api() -> Iterator[None]:
    """OpenFeature's global state (providers, hooks, context) reset around each test."""
    api.shutdown()
    yield
    api.clear_providers()
    api.clear_hooks()
    api.shutdown()


@pytest.fixture
def connect(server: VexilServer) -> Iterator[Connect]:
    """Registers an OFREP provider for an SDK key, as an application would, and
    returns an OpenFeature client; closes the providers' HTTP sessions after the test."""
    providers: list[OFREPProvider] = []

    def make(key: str) -> OpenFeatureClient:
        provider = OFREPProvider(
            base_url=server.base_url,
            headers_factory=lambda: {"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        providers.append(provider)
        api.set_provider_and_wait(provider)
        return api.get_client()

    yield make
    api.clear_providers()
    for provider in providers:
        provider.session.close()


def targeting_url(project: str, flag: str, env: str = "development") -> str:
    return f"/api/v1/projects/{project}/environments/{env}/flags/{flag}"


def outcome(details: FlagEvaluationDetails[Any]) -> tuple[Any, ...]:
    return details.value, details.variant, details.reason, details.error_code


# ------------------------------------------------------------------------ types


def test_every_type_evaluates_with_value_variant_reason_and_metadata(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    meta = {"owner": "payments", "tier": 2}
    create_on(admin, project, "dark-mode", BOOL, metadata=meta)
    create_on(admin, project, "banner", {"green": "#0a0", "red": "#a00"})
    create_on(admin, project, "page-size", {"page": 20, "big": 50})
    create_on(admin, project, "ratio", {"quarter": 0.25, "half": 0.5})
    layout = {"compact": {"rows": 2, "dense": True}, "roomy": {"rows": 1}}
    create_on(admin, project, "layout", layout)
    client = connect(keys["server"])
    user = EvaluationContext("u-1")

    boolean = client.get_boolean_details("dark-mode", False, user)
    assert outcome(boolean) == (True, "on", Reason.STATIC, None)
    assert boolean.flag_metadata == meta
    string = client.get_string_details("banner", "", user)
    assert outcome(string) == ("#0a0", "green", Reason.STATIC, None)
    integer = client.get_integer_details("page-size", 0, user)
    assert outcome(integer) == (20, "page", Reason.STATIC, None)
    assert type(integer.value) is int
    number = client.get_float_details("ratio", 1.0, user)
    assert outcome(number) == (0.25, "quarter", Reason.STATIC, None)
    obj = client.get_object_details("layout", {}, user)
    assert outcome(obj) == ({"rows": 2, "dense": True}, "compact", Reason.STATIC, None)
    # The plain value calls give the same answers.
    assert client.get_boolean_value("dark-mode", False, user) is True
    assert client.get_object_value("layout", {}, user) == {"rows": 2, "dense": True}
    assert string.flag_metadata == integer.flag_metadata == {}


# -------------------------------------------------------------------- targeting


def test_rules_targets_and_the_targeting_key_decide(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    rule = {"id": "pro-plan", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    rules = [{**rule, "serve": "on"}]
    create_on(admin, project, "f", BOOL, targets={"on": ["u-7"]}, rules=rules, default="off")
    client = connect(keys["server"])

    pro = client.get_boolean_details("f", False, EvaluationContext("u-1", {"plan": "pro"}))
    assert outcome(pro) == (True, "on", Reason.TARGETING_MATCH, None)
    assert pro.flag_metadata == {"vexil.rule_id": "pro-plan"}
    free = client.get_boolean_details("f", True, EvaluationContext("u-2", {"plan": "free"}))
    assert outcome(free) == (False, "off", Reason.DEFAULT, None)
    # The targeting key is the context's key, which individual targets name.
    target = client.get_boolean_details("f", False, EvaluationContext("u-7", {"plan": "free"}))
    assert outcome(target) == (True, "on", Reason.TARGETING_MATCH, None)
    assert target.flag_metadata == {}

    # Context set on the API and on the client is merged into each request.
    api.set_evaluation_context(EvaluationContext(attributes={"plan": "pro"}))
    merged = client.get_boolean_details("f", False, EvaluationContext("u-3"))
    assert outcome(merged) == (True, "on", Reason.TARGETING_MATCH, None)


def test_a_rollout_splits_by_targeting_key_and_needs_one(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    rollout = [{"variation": "a", "weight": 50}, {"variation": "b", "weight": 50}]
    create_on(admin, project, "f", {"a": "A", "b": "B"}, default={"rollout": rollout})
    client = connect(keys["server"])
    seen = set()
    for n in range(30):
        details = client.get_string_details("f", "none", EvaluationContext(f"u-{n}"))
        assert (details.reason, details.error_code) == (Reason.SPLIT, None)
        assert details.value == {"a": "A", "b": "B"}[str(details.variant)]
        seen.add(details.variant)
    assert seen == {"a", "b"}
    again = client.get_string_details("f", "none", EvaluationContext("u-0"))
    assert again.variant == client.get_string_details("f", "", EvaluationContext("u-0")).variant

    missing = client.get_string_details("f", "none", EvaluationContext(attributes={"plan": "x"}))
    assert outcome(missing) == ("none", None, Reason.ERROR, ErrorCode.TARGETING_KEY_MISSING)
    assert "targetingKey" in str(missing.error_message)


# --------------------------------------------------------------- disabled flags


def test_a_disabled_flag_serves_its_off_variation(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    create_on(admin, project, "f", {"small": 10, "large": 20}, on=False, off_variation="small")
    client = connect(keys["server"])
    details = client.get_integer_details("f", 99, EvaluationContext("u-1"))
    assert outcome(details) == (10, "small", Reason.DISABLED, None)


def test_what_provider_0_3_cannot_read_falls_back_to_the_code_default(
    admin: httpx.Client,
    project: str,
    keys: dict[str, str],
    connect: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A disabled flag without off variation: the server answers OFREP's codeDefaultFlag
    # ({"key", "reason": "DISABLED", "metadata"}, no value or variant), which means
    # "use the code default". A failed prerequisite has the custom reason
    # PREREQUISITE_FAILED. openfeature-provider-ofrep 0.3.0 requires a variant and
    # one of OpenFeature's named reasons, so it reports both as GENERAL errors; the
    # application still gets its own default, which is what the server asked for.
    create_on(admin, project, "off", BOOL)
    replaced = admin.put(targeting_url(project, "off"), json={"on": False, "default": "on"})
    assert replaced.status_code == 200, replaced.text
    create_on(admin, project, "parent", BOOL, on=False, off_variation="off")
    prerequisites = [{"flag": "parent", "variation": "on"}]
    create_on(admin, project, "child", BOOL, off_variation="off", prerequisites=prerequisites)
    client = connect(keys["server"])

    with caplog.at_level(logging.ERROR, logger="openfeature"):
        for flag in ("off", "child"):
            details = client.get_boolean_details(flag, True, EvaluationContext("u-1"))
            assert outcome(details) == (True, None, Reason.ERROR, ErrorCode.GENERAL)
    # Both are successes on the wire (what the server said is checked in test_ofrep).
    assert len(caplog.records) == 2


# ------------------------------------------------------------------------ errors


def test_an_unknown_flag_is_flag_not_found(keys: dict[str, str], connect: Connect) -> None:
    client = connect(keys["server"])
    details = client.get_boolean_details("nothing", True, EvaluationContext("u-1"))
    assert outcome(details) == (True, None, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    assert details.error_message == "no flag 'nothing'"


def test_asking_with_the_wrong_type_is_a_type_mismatch(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    create_on(admin, project, "banner", {"green": "#0a0", "red": "#a00"})
    create_on(admin, project, "page-size", {"page": 20, "big": 50})
    create_on(admin, project, "ratio", {"quarter": 0.25, "half": 0.5})
    client = connect(keys["server"])
    user = EvaluationContext("u-1")
    mismatch = (7, None, Reason.ERROR, ErrorCode.TYPE_MISMATCH)
    assert outcome(client.get_integer_details("banner", 7, user)) == mismatch
    assert client.get_boolean_details("page-size", False, user).error_code == mismatch[3]
    # Numbers keep their JSON type: an integer flag is not a float, nor the reverse.
    as_float = client.get_float_details("page-size", 7.0, user)
    assert (as_float.value, as_float.error_code) == (7.0, ErrorCode.TYPE_MISMATCH)
    assert outcome(client.get_integer_details("ratio", 7, user)) == mismatch
    assert client.get_float_value("ratio", 7.0, user) == 0.25


def test_a_targeting_key_that_is_not_a_string_is_invalid_context(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    # An application that passes a numeric user id as the targetingKey attribute: the
    # provider sends it as it is, and the server refuses the context. (The provider
    # always sends well-formed JSON, so PARSE_ERROR cannot reach it from Vexil.)
    create_on(admin, project, "f", BOOL)
    client = connect(keys["server"])
    details = client.get_boolean_details(
        "f", False, EvaluationContext(attributes={"targetingKey": 7})
    )
    assert outcome(details) == (False, None, Reason.ERROR, ErrorCode.INVALID_CONTEXT)
    assert details.error_message == "targetingKey must be a string"


# -------------------------------------------------------------------------- keys


def test_a_client_key_sees_client_side_flags_only(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    create_on(admin, project, "public", BOOL, client_side=True)
    create_on(admin, project, "internal", BOOL)
    client = connect(keys["client"])
    user = EvaluationContext("u-1")
    assert outcome(client.get_boolean_details("public", False, user)) == (
        True,
        "on",
        Reason.STATIC,
        None,
    )
    hidden = client.get_boolean_details("internal", False, user)
    assert (hidden.value, hidden.error_code) == (False, ErrorCode.FLAG_NOT_FOUND)
    assert hidden.error_message == "no flag 'internal'"


def test_a_wrong_key_is_a_general_error_and_the_default(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    create_on(admin, project, "f", BOOL)
    client = connect(keys["server"].replace("vx-srv-", "vx-srv-x"))
    details = client.get_boolean_details("f", False, EvaluationContext("u-1"))
    assert outcome(details) == (False, None, Reason.ERROR, ErrorCode.GENERAL)
    assert details.error_message == "unauthorized"


# ----------------------------------------------------------------------- changes


def test_a_change_through_the_admin_api_reaches_the_provider(
    admin: httpx.Client, project: str, keys: dict[str, str], connect: Connect
) -> None:
    create_on(
        admin, project, "f", {"small": 10, "large": 20}, off_variation="small", default="large"
    )
    client = connect(keys["server"])
    user = EvaluationContext("u-1", {"plan": "pro"})
    assert outcome(client.get_integer_details("f", 0, user)) == (20, "large", Reason.STATIC, None)

    toggled = admin.post(f"{targeting_url(project, 'f')}/toggle", json={"on": False})
    assert toggled.status_code == 200, toggled.text
    off = wait_for(
        lambda: (d := client.get_integer_details("f", 0, user)).reason == Reason.DISABLED and d,
        what="the provider to see the flag off",
    )
    assert outcome(off) == (10, "small", Reason.DISABLED, None)

    rule = {"id": "pro", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    targeting = {"on": True, "default": "small", "rules": [{**rule, "serve": "large"}]}
    replaced = admin.put(targeting_url(project, "f"), json=targeting)
    assert replaced.status_code == 200, replaced.text
    ruled = wait_for(
        lambda: (
            (d := client.get_integer_details("f", 0, user)).reason == Reason.TARGETING_MATCH and d
        ),
        what="the provider to see the new rule",
    )
    assert outcome(ruled) == (20, "large", Reason.TARGETING_MATCH, None)
    assert ruled.flag_metadata == {"vexil.rule_id": "pro"}
    # The production environment, untouched, still serves the original answer.
    production = connect(sdk_key(admin, project, "production"))
    assert production.get_integer_value("f", 0, user) == 20


# -------------------------------------------------------------------------- bulk


def test_bulk_with_etag_as_client_side_providers_poll_it(
    admin: httpx.Client, anon: httpx.Client, project: str, keys: dict[str, str]
) -> None:
    # openfeature-provider-ofrep 0.3.0 has no bulk mode: the web and mobile providers
    # poll this endpoint with the ETag of their last answer, as done here.
    create_on(admin, project, "banner", {"green": "#0a0", "red": "#a00"}, client_side=True)
    create_on(admin, project, "internal", BOOL)
    headers = {"Authorization": f"Bearer {keys['client']}"}
    body = {"context": {"targetingKey": "u-1", "plan": "pro"}}
    first = anon.post("/ofrep/v1/evaluate/flags", json=body, headers=headers)
    assert first.status_code == 200, first.text
    banner = {"key": "banner", "reason": "STATIC", "value": "#0a0", "variant": "green"}
    assert first.json() == {"flags": [{**banner, "metadata": {}}]}
    etag = first.headers["ETag"]

    polled = anon.post(
        "/ofrep/v1/evaluate/flags", json=body, headers={**headers, "If-None-Match": etag}
    )
    assert (polled.status_code, polled.content) == (304, b"")

    replaced = admin.put(targeting_url(project, "banner"), json={"on": True, "default": "red"})
    assert replaced.status_code == 200, replaced.text
    changed = anon.post(
        "/ofrep/v1/evaluate/flags", json=body, headers={**headers, "If-None-Match": etag}
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["flags"] == [
        {**banner, "value": "#a00", "variant": "red", "metadata": {}}
    ]

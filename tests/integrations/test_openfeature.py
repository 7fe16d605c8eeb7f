"""The OpenFeature provider: OpenFeature's SDK -> ``VexilProvider`` -> a real Vexil client.

The conformance part reproduces the scenarios of OpenFeature's ``evaluation_v2.feature``
that apply to a provider, one parametrized test per scenario (the rows and the flags,
in Vexil's format, are in ``_openfeature_scenarios.py``):

- Resolve values; Resolves zero value; Resolves zero value with targeting; Resolves
  zero value with targeting using default; Flag not found error; Type mismatch error;
  Complete evaluation details structure; Empty evaluation context; Null context values;
  Multiple context attributes targeting; Structure flag evaluation; Variant field
  population; DISABLED reason; Default value type validation (``test_scenario``).
- Flag metadata in evaluation details; Error message in evaluation details; Evaluation
  options with hooks; Evaluation context immutability; Asynchronous flag evaluation.
- Provider not ready error; Provider in fatal state error; Provider status
  accessibility (stable, not ready, error, fatal, stale).

Left out:

- **CACHED reason**: Vexil never answers from a cache of evaluations: each resolve is a
  fresh evaluation of the flags held in memory, so its reason is the engine's.
- **Evaluation context immutability**, its second half ("the evaluation details should
  be immutable"): the details object is built by OpenFeature's SDK, not the provider.
  The first half (the context is left unchanged) is tested.
- Where the specification's revisions differ, the rows follow the fuller one: the
  multi-attribute flag is ``complex-targeted`` (elsewhere ``context-aware``), and
  the flag of the error message scenario is ``missing-flag`` (elsewhere ``error-flag``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _openfeature_scenarios import ANY, FLAGS_YAML, SCENARIOS, STATUS_ROWS, TEMPLATE, Row
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ProviderFatalError, ProviderNotReadyError
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagEvaluationOptions
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider import ProviderStatus
from openfeature.track import TrackingEventDetails

from _services import VexilServer, sdk_key, wait_for
from vexil import Client, ConfigurationError, Daemon, Offline, Ruleset, Streaming
from vexil.integrations.openfeature import VexilProvider
from vexil.testing import TestClient, Tracked

USER = EvaluationContext("u-1")
BOOL = {"on": True, "off": False}
FAST = Streaming(initial_backoff=0.05, max_backoff=0.5)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "openfeature" / "app.py"
#: A well-formed server key that no server knows.
UNKNOWN_KEY = "vx-srv-openfeature-unknown-0001"


def vexil_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vexil")]


@pytest.fixture(autouse=True)
def openfeature_api() -> Iterator[None]:
    """OpenFeature's global state, reset around each test; no Vexil thread outlives it.

    ``api.shutdown`` shuts every provider down (closing the clients they own) and
    forgets event handlers, hooks and the global evaluation context.
    """
    api.shutdown()
    before = set(threading.enumerate())
    yield
    api.shutdown()

    def left_behind() -> list[str]:
        now = threading.enumerate()
        return [t.name for t in now if t not in before and t.name.startswith("vexil")]

    wait_for(lambda: not left_behind(), timeout=5, what="the test's Vexil threads to stop")


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.yaml"
    path.write_text(FLAGS_YAML, encoding="utf-8")
    return path


@pytest.fixture
def flags(flag_file: Path) -> OpenFeatureClient:
    """An OpenFeature client on a provider that owns a client of the scenarios' flags."""
    api.set_provider_and_wait(VexilProvider(mode=Offline(path=str(flag_file))))
    return api.get_client()


class Events:
    """Vexil's provider events, as OpenFeature's global handlers receive them (on its threads).

    Events of other providers are left out: adding a handler replays the current
    status of the default provider, which is OpenFeature's no-op one before a test
    sets its own.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[ProviderEvent, EventDetails]] = []
        for event in ProviderEvent:
            api.add_handler(event, self._handler(event))

    def _handler(self, event: ProviderEvent) -> Callable[[EventDetails], None]:
        return lambda details: self.seen.append((event, details))

    def of(self, event: ProviderEvent) -> list[EventDetails]:
        return [
            details
            for kind, details in list(self.seen)
            if kind == event and details.provider_name == "Vexil"
        ]

    def wait(self, event: ProviderEvent, count: int = 1, timeout: float = 15) -> list[EventDetails]:
        seen: list[EventDetails] = wait_for(
            lambda: len(self.of(event)) >= count and self.of(event),
            timeout=timeout,
            what=f"{count} {event.value}",
        )
        return seen


def details_of(
    client: OpenFeatureClient,
    kind: str,
    key: str,
    default: Any,
    context: EvaluationContext | None = None,
    options: FlagEvaluationOptions | None = None,
) -> FlagEvaluationDetails[Any]:
    method = getattr(client, f"get_{kind.lower()}_details")
    return method(key, default, context, options)  # type: ignore[no-any-return]


def same(actual: Any, expected: Any) -> bool:
    """Equal and of the same type: 0 is not 0.0, and False is not 0."""
    return bool(actual == expected and type(actual) is type(expected))


def check(details: FlagEvaluationDetails[Any], row: Row) -> None:
    if row.value is not ANY:
        assert same(details.value, row.value), (details.value, row.value)
    if row.reason is not ANY:
        assert details.reason == row.reason
    if row.error_code is not ANY:
        assert details.error_code == row.error_code
    if row.variant is not ANY:
        assert details.variant == row.variant


# ------------------------------------------------- evaluation_v2.feature


@pytest.mark.parametrize("row", SCENARIOS)
def test_scenario(flags: OpenFeatureClient, row: Row) -> None:
    details = details_of(
        flags, row.type, row.key, row.default, EvaluationContext(None, row.context)
    )
    assert details.flag_key == row.key
    check(details, row)
    if row.error_code is ANY and row.reason not in ("ERROR", ANY):
        assert details.error_code is None


def test_flag_metadata_in_evaluation_details(flags: OpenFeatureClient) -> None:
    details = flags.get_boolean_details("metadata-flag", True)
    assert details.flag_metadata == {"string": "1.0.2", "integer": 2, "float": 0.1, "boolean": True}
    assert [type(details.flag_metadata[k]) for k in ("string", "integer", "float", "boolean")] == [
        str,
        int,
        float,
        bool,
    ]


def test_error_message_in_evaluation_details(flags: OpenFeatureClient) -> None:
    details = flags.get_boolean_details("missing-flag", False)
    assert details.reason == "ERROR"
    assert details.error_message is not None
    assert "flag missing-flag not found" in details.error_message


class Recorder(Hook):
    """A hook that writes down each stage it sees, with what it was given."""

    def __init__(self, name: str, calls: list[tuple[Any, ...]]) -> None:
        self.name, self.calls = name, calls

    def before(self, hook_context: HookContext, hints: HookHints) -> EvaluationContext | None:
        self.calls.append((self.name, "before", hook_context.flag_key, hook_context.default_value))
        return None

    def after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints
    ) -> None:
        self.calls.append((self.name, "after", details.value, details.variant, details.reason))

    def error(self, hook_context: HookContext, exception: Exception, hints: HookHints) -> None:
        self.calls.append((self.name, "error", type(exception).__name__))

    def finally_after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: HookHints
    ) -> None:
        self.calls.append((self.name, "finally", details.value, details.error_code))


def test_evaluation_options_with_hooks(flags: OpenFeatureClient) -> None:
    calls: list[tuple[Any, ...]] = []
    options = FlagEvaluationOptions(hooks=[Recorder("first", calls), Recorder("second", calls)])
    details = flags.get_boolean_details("boolean-flag", False, None, options)
    assert details.value is True
    assert calls == [
        ("first", "before", "boolean-flag", False),
        ("second", "before", "boolean-flag", False),
        ("second", "after", True, "on", "STATIC"),
        ("first", "after", True, "on", "STATIC"),
        ("second", "finally", True, None),
        ("first", "finally", True, None),
    ]


def test_evaluation_context_immutability(flags: OpenFeatureClient) -> None:
    attributes: dict[str, Any] = {"email": "ballmer@macrosoft.com", "tags": ["a"]}
    context = EvaluationContext("u-1", attributes)
    flags.get_boolean_details("boolean-targeted-zero-flag", True, context)
    assert context.targeting_key == "u-1"
    assert context.attributes is attributes
    assert attributes == {"email": "ballmer@macrosoft.com", "tags": ["a"]}  # no "key" added


@pytest.mark.parametrize(
    ("kind", "key", "default", "value"),
    [
        ("Boolean", "boolean-flag", False, True),
        ("String", "string-flag", "bye", "hi"),
        ("Integer", "integer-flag", 1, 10),
        ("Float", "float-flag", 0.1, 0.5),
        ("Object", "object-flag", {}, TEMPLATE),
    ],
)
def test_asynchronous_flag_evaluation(
    flags: OpenFeatureClient, kind: str, key: str, default: Any, value: Any
) -> None:
    method = getattr(flags, f"get_{kind.lower()}_details_async")
    details = asyncio.run(method(key, default))
    assert same(details.value, value)
    synchronous = details_of(flags, kind, key, default)
    assert (details.value, details.variant, details.reason) == (
        synchronous.value,
        synchronous.variant,
        synchronous.reason,
    )


def test_provider_status_accessibility_stable(flags: OpenFeatureClient) -> None:
    assert flags.get_provider_status() == ProviderStatus.READY


class SharedStore:
    """A ``vexil.Store`` that the test fills, as a connected process would fill Redis."""

    def __init__(self) -> None:
        self.data: bytes | None = None

    def save(self, namespace: str, data: bytes) -> None:
        self.data = data

    def load(self, namespace: str) -> bytes | None:
        return self.data

    def fill(self, document: str, revision: int) -> None:
        data = Ruleset.from_text(document).to_data()
        self.data = json.dumps({"revision": revision, "saved_at": 0, "document": data}).encode()


def daemon_provider(store: SharedStore, init_timeout: float) -> VexilProvider:
    """A provider whose client reads an empty store: it has no flags until the test says."""
    return VexilProvider(
        "vx-srv-openfeature-daemon-1",
        mode=Daemon(interval=0.05),
        store=store,
        init_timeout=init_timeout,
        status_interval=0.05,
    )


@pytest.mark.parametrize(("kind", "key", "default"), STATUS_ROWS)
def test_provider_not_ready_error(kind: str, key: str, default: Any) -> None:
    # While initialize() waits for flags, OpenFeature's status is NOT_READY...
    waiting = daemon_provider(SharedStore(), init_timeout=60)
    api.set_provider(waiting, "waiting")
    flags = api.get_client("waiting")
    assert flags.get_provider_status() == ProviderStatus.NOT_READY
    details = details_of(flags, kind, key, default)
    assert same(details.value, default)
    assert (details.reason, details.error_code) == ("ERROR", "PROVIDER_NOT_READY")

    # ... and once it gave up, it is ERROR, and Vexil itself answers PROVIDER_NOT_READY.
    with pytest.raises(ProviderNotReadyError):
        api.set_provider_and_wait(daemon_provider(SharedStore(), init_timeout=0), "given-up")
    flags = api.get_client("given-up")
    assert flags.get_provider_status() == ProviderStatus.ERROR
    details = details_of(flags, kind, key, default)
    assert same(details.value, default)
    assert (details.reason, details.error_code) == ("ERROR", "PROVIDER_NOT_READY")
    assert details.error_message == "the client has no flags yet"


def test_provider_status_accessibility_not_ready_and_error_then_ready_when_flags_come() -> None:
    events = Events()
    store = SharedStore()
    provider = daemon_provider(store, init_timeout=0)
    with pytest.raises(ProviderNotReadyError):
        api.set_provider_and_wait(provider)
    flags = api.get_client()
    assert flags.get_provider_status() == ProviderStatus.ERROR
    assert events.wait(ProviderEvent.PROVIDER_ERROR)[0].error_code == "PROVIDER_NOT_READY"

    store.fill(FLAGS_YAML, revision=7)
    events.wait(ProviderEvent.PROVIDER_READY)
    assert flags.get_provider_status() == ProviderStatus.READY
    details = flags.get_string_details("string-flag", "bye")
    assert (details.value, details.reason, details.flag_metadata) == (
        "hi",
        "STATIC",
        {"vexil.revision": 7},
    )
    assert events.of(ProviderEvent.PROVIDER_STALE) == []


@pytest.mark.parametrize(("kind", "key", "default"), STATUS_ROWS)
def test_provider_in_fatal_state_error(
    server: VexilServer, kind: str, key: str, default: Any
) -> None:
    provider = VexilProvider(UNKNOWN_KEY, url=server.base_url, send_events=False, init_timeout=10)
    with pytest.raises(ProviderFatalError):
        api.set_provider_and_wait(provider)
    flags = api.get_client()
    assert flags.get_provider_status() == ProviderStatus.FATAL  # Provider status accessibility
    details = details_of(flags, kind, key, default)
    assert same(details.value, default)
    assert (details.reason, details.error_code) == ("ERROR", "PROVIDER_FATAL")


@pytest.mark.slow
def test_provider_status_accessibility_stale_then_ready_then_fatal(
    new_server: Callable[..., VexilServer],
) -> None:
    server = new_server("sqlite")
    with server.admin() as admin:
        assert admin.post("/api/v1/projects", json={"key": "stale"}).status_code == 201
        created = admin.post(
            "/api/v1/projects/stale/flags", json={"key": "banner", "variations": BOOL}
        )
        assert created.status_code == 201, created.text
        key = sdk_key(admin, "stale")
    events = Events()
    provider = VexilProvider(
        key, url=server.base_url, mode=FAST, send_events=False, status_interval=0.05
    )
    api.set_provider_and_wait(provider)
    flags = api.get_client()

    server.stop()
    events.wait(ProviderEvent.PROVIDER_STALE)
    assert flags.get_provider_status() == ProviderStatus.STALE
    stale = flags.get_boolean_details("banner", True, USER)
    assert (stale.value, stale.reason, stale.error_code) == (False, "DISABLED", None)

    server.start()
    events.wait(ProviderEvent.PROVIDER_READY, count=2)  # initialize's, then the recovery's
    assert flags.get_provider_status() == ProviderStatus.READY

    # The key revoked: an open stream outlives it, the next connection is refused.
    rotate = "/api/v1/projects/stale/environments/development/keys/rotate"
    with server.admin() as admin:
        rotated = admin.post(rotate, json={"kind": "server", "overlap_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    server.stop()
    server.start()
    assert events.wait(ProviderEvent.PROVIDER_ERROR)[0].error_code == "PROVIDER_FATAL"
    assert flags.get_provider_status() == ProviderStatus.FATAL


# ----------------------------------------------------- what Vexil adds


def test_the_targeting_key_is_the_context_key_and_attributes_are_copied() -> None:
    vexil = TestClient()
    vexil.set_flag(
        "pricing",
        {
            "variations": {"old": "old", "new": "new", "vip": "vip"},
            "targets": {"vip": ["u-7"]},
            "rules": [
                {
                    "id": "pro-in-eu",
                    "clauses": [
                        {"attribute": "plan", "op": "in", "values": ["pro"]},
                        {"attribute": "region", "op": "in", "values": ["eu"]},
                    ],
                    "serve": "new",
                }
            ],
            "default": "old",
        },
    )
    api.set_provider_and_wait(VexilProvider(vexil))
    api.set_evaluation_context(EvaluationContext(attributes={"region": "eu"}))
    flags = api.get_client()

    pro = flags.get_string_details("pricing", "old", EvaluationContext("u-1", {"plan": "pro"}))
    vip = flags.get_string_details("pricing", "old", EvaluationContext("u-7"))
    assert (pro.value, pro.reason, pro.flag_metadata) == (
        "new",
        "TARGETING_MATCH",
        {"vexil.rule_id": "pro-in-eu"},
    )
    assert (vip.value, vip.reason, vip.variant) == ("vip", "TARGETING_MATCH", "vip")
    assert [e.context for e in vexil.evaluated("pricing")] == [
        {"key": "u-1", "plan": "pro", "region": "eu"},
        {"key": "u-7", "region": "eu"},
    ]


def test_reasons_errors_and_metadata_map_onto_openfeature() -> None:
    vexil = TestClient({"checkout": False})
    vexil.set_flag(
        "layout",
        {
            "variations": {"a": "a", "b": "b"},
            "metadata": {"owner": "web"},
            "default": {
                "rollout": [{"variation": "a", "weight": 50}, {"variation": "b", "weight": 50}],
                "experiment": True,
            },
        },
    )
    vexil.set_flag(
        "express",
        {
            "variations": BOOL,
            "prerequisites": [{"flag": "checkout", "variation": "on"}],
            "off_variation": "off",
            "default": "on",
        },
    )
    api.set_provider_and_wait(VexilProvider(vexil))
    flags = api.get_client()

    split = flags.get_string_details("layout", "a", USER)
    assert split.reason == "SPLIT"
    assert split.variant in ("a", "b")
    assert split.flag_metadata == {"owner": "web", "vexil.in_experiment": True}

    prerequisite = flags.get_boolean_details("express", True, USER)
    assert (prerequisite.value, prerequisite.variant, prerequisite.reason) == (
        False,
        "off",
        "PREREQUISITE_FAILED",
    )
    assert prerequisite.flag_metadata == {"vexil.prerequisite": "checkout"}

    no_key = flags.get_string_details("layout", "z", EvaluationContext(None, {"plan": "pro"}))
    assert (no_key.value, no_key.reason, no_key.error_code) == (
        "z",
        "ERROR",
        "TARGETING_KEY_MISSING",
    )
    assert no_key.error_message


def test_integers_floats_and_booleans_are_told_apart() -> None:
    vexil = TestClient({"ratio": 0.5, "count": 10, "enabled": True, "ids": [1, 2]})
    api.set_provider_and_wait(VexilProvider(vexil))
    flags = api.get_client()

    count = flags.get_float_details("count", 0.0)
    assert same(count.value, 10.0)  # OpenFeature's Python SDK wants a float
    assert count.error_code is None
    assert same(flags.get_integer_details("count", 0).value, 10)

    ratio = flags.get_integer_details("ratio", 1)
    assert (ratio.value, ratio.reason, ratio.error_code) == (1, "ERROR", "TYPE_MISMATCH")
    assert ratio.error_message == "flag 'ratio' serves 0.5, not an integer"

    for kind, default in [("Integer", 3), ("Float", 0.25)]:
        details = details_of(flags, kind, "enabled", default)
        assert same(details.value, default)
        assert details.error_code == "TYPE_MISMATCH"
    assert flags.get_boolean_details("count", False).error_code == "TYPE_MISMATCH"

    assert flags.get_object_details("ids", []).value == [1, 2]
    assert flags.get_object_details("ids", ()).value == [1, 2]


def test_tracking_goes_to_the_vexil_client() -> None:
    vexil = TestClient()
    api.set_provider_and_wait(VexilProvider(vexil))
    api.set_evaluation_context(EvaluationContext(attributes={"region": "eu"}))
    flags = api.get_client()

    context = EvaluationContext("u-1", {"plan": "pro"})
    flags.track("checkout-completed", context, TrackingEventDetails(9.5, {"items": 3}))
    flags.track("page-viewed", USER)
    assert vexil.tracked == [
        Tracked(
            "checkout-completed", {"key": "u-1", "plan": "pro", "region": "eu"}, 9.5, {"items": 3}
        ),
        Tracked("page-viewed", {"key": "u-1", "region": "eu"}, None, None),
    ]


def test_hooks_on_the_api_and_the_client_see_the_details() -> None:
    calls: list[tuple[Any, ...]] = []
    vexil = TestClient()
    vexil.set_flag(
        "beta",
        {
            "variations": BOOL,
            "rules": [
                {
                    "id": "pro",
                    "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
                    "serve": "on",
                }
            ],
            "default": "off",
        },
    )

    class AddsThePlan(Hook):
        def before(self, hook_context: HookContext, hints: HookHints) -> EvaluationContext:
            return EvaluationContext(attributes={"plan": "pro"})

    api.add_hooks([Recorder("api", calls)])
    api.set_provider_and_wait(VexilProvider(vexil))
    flags = api.get_client()
    flags.add_hooks([AddsThePlan(), Recorder("client", calls)])

    assert flags.get_boolean_value("beta", False, USER) is True  # the hook's plan reached Vexil
    assert flags.get_boolean_value("nope", False, USER) is False
    assert calls == [
        ("api", "before", "beta", False),
        ("client", "before", "beta", False),
        ("client", "after", True, "on", "TARGETING_MATCH"),
        ("api", "after", True, "on", "TARGETING_MATCH"),
        ("client", "finally", True, None),
        ("api", "finally", True, None),
        ("api", "before", "nope", False),
        ("client", "before", "nope", False),
        ("client", "error", "FlagNotFoundError"),
        ("api", "error", "FlagNotFoundError"),
        ("client", "finally", False, "FLAG_NOT_FOUND"),
        ("api", "finally", False, "FLAG_NOT_FOUND"),
    ]
    assert vexil.evaluated("beta")[0].context == {"key": "u-1", "plan": "pro"}


def test_flag_changes_are_configuration_changed_events() -> None:
    vexil = TestClient({"banner": "hello"})
    events = Events()
    api.set_provider_and_wait(VexilProvider(vexil))
    events.wait(ProviderEvent.PROVIDER_READY)

    vexil.set("banner", "goodbye")
    vexil.set("other", 1)
    changed = events.wait(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, count=2)
    assert [c.flags_changed for c in changed] == [["banner"], ["other"]]
    assert {c.provider_name for c in changed} == {"Vexil"}
    assert api.get_client().get_string_value("banner", "") == "goodbye"


def test_the_vexil_flags_fixture_takes_over(vexil_flags: TestClient, flag_file: Path) -> None:
    provider = VexilProvider(mode=Offline(path=str(flag_file)))
    api.set_provider_and_wait(provider)
    flags = api.get_client()
    assert provider.client.variation("boolean-flag", {"key": "u-1"}, None) is True  # its own

    vexil_flags.set("boolean-flag", False)
    details = flags.get_boolean_details("boolean-flag", True, USER)
    assert (details.value, details.variant, details.reason) == (False, "off", "STATIC")
    assert [e.context for e in vexil_flags.evaluated("boolean-flag")] == [{"key": "u-1"}]
    assert flags.get_string_details("string-flag", "x").error_code == "FLAG_NOT_FOUND"

    flags.track("clicked", USER)
    assert vexil_flags.tracked == [Tracked("clicked", {"key": "u-1"})]


# -------------------------------------------------------- lifecycle


def test_a_provider_closes_the_client_it_made_and_can_start_again(flag_file: Path) -> None:
    provider = VexilProvider(mode=Offline(path=str(flag_file)))
    assert provider.owns_client
    first = provider.client
    api.set_provider_and_wait(provider)
    api.shutdown()
    assert first.status == "stopped"

    api.set_provider_and_wait(provider)  # OpenFeature may initialize a provider again
    assert provider.client is not first
    assert api.get_client().get_integer_value("integer-flag", 1) == 10


def test_a_provider_leaves_a_given_client_open(flag_file: Path) -> None:
    with Client.from_file(flag_file, watch=True) as vexil:
        provider = VexilProvider(vexil)
        assert not provider.owns_client
        api.set_provider_and_wait(provider)
        api.shutdown()
        assert vexil.status == "polling"  # still watching its file
        assert "vexil-file" in vexil_threads()
        assert "vexil-openfeature" not in vexil_threads()
    assert vexil.status == "stopped"


def test_configuration_mistakes_are_refused_at_construction() -> None:
    with Client.for_testing() as vexil, pytest.raises(ConfigurationError, match=r"^url: "):
        VexilProvider(vexil, url="http://127.0.0.1:8800")
    with pytest.raises(ConfigurationError, match="client key"):
        VexilProvider("vx-cli-0123456789abcdef")
    with pytest.raises(ConfigurationError, match="init_timeout"):
        VexilProvider(mode="offline", init_timeout=-1)
    with pytest.raises(ConfigurationError, match="status_interval"):
        VexilProvider(mode="offline", status_interval=0)
    with pytest.raises(ConfigurationError, match="client must be"):
        VexilProvider(42)  # type: ignore[arg-type]


# ------------------------------------------------------ a real server


def test_a_real_server_change_is_a_configuration_changed_event_and_the_new_value(
    server: VexilServer, admin: httpx.Client, project: str
) -> None:
    created = admin.post(
        f"/api/v1/projects/{project}/flags", json={"key": "banner", "variations": BOOL}
    )
    assert created.status_code == 201, created.text
    events = Events()
    provider = VexilProvider(sdk_key(admin, project), url=server.base_url, send_events=False)
    api.set_provider_and_wait(provider)
    flags = api.get_client()

    before = flags.get_boolean_details("banner", True, USER)
    assert (before.value, before.variant, before.reason) == (False, "off", "DISABLED")

    url = f"/api/v1/projects/{project}/environments/development/flags/banner/toggle"
    toggled = admin.post(url, json={"on": True})
    assert toggled.status_code == 200, toggled.text
    changed = events.wait(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED)
    assert changed[0].flags_changed == ["banner"]

    after = flags.get_boolean_details("banner", False, USER)
    assert (after.value, after.variant, after.reason) == (True, "on", "STATIC")
    revision = after.flag_metadata["vexil.revision"]
    previous = before.flag_metadata["vexil.revision"]
    assert isinstance(revision, int)
    assert isinstance(previous, int)
    assert revision > previous
    assert changed[0].metadata == {"revision": revision}


# ---------------------------------------------------------- the example


def test_the_example_runs() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("VEXIL_")}
    ran = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=env, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "new-checkout for ana: True (TARGETING_MATCH, {'vexil.rule_id': 'staff'})",
        "checkout-button-color for ana: #2da44e (variant green, SPLIT)",
        "search-results-per-page for bob: 10 (TARGETING_MATCH)",
        "maintenance-mode: False (DISABLED)",
        "new-checkout as an integer: 0 (TYPE_MISMATCH)",
    ]

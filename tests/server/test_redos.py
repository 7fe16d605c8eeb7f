"""Regular expressions against a real server: a hostile pattern cannot hold it up.

The attack: a client-side flag matching ``^(a+)+$``, then OFREP evaluations with the
public client key and a context built to make a backtracking engine try every way of
splitting the ``a``. With Python's ``re`` one evaluation of 28 characters took seconds
and held the event loop, so ``/healthz`` waited behind it. RE2 answers in microseconds.

SQLite only: the storage plays no part here. Bounds are generous ("not stalled"), and
every request has a client timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from _admin_api import BOOL, error_of, flags_url, segments_url, targeting_url

from _services import VexilServer, not_stalled, sdk_key
from vexil import Client

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

HOSTILE_PATTERNS = [r"^(a+)+$", r"(a|aa)+$", r"^(\w+\s?)*$", r"^(([a-z])+.)+[A-Z]([a-z])+$"]
#: The reported input, then texts of 1,000 and 100,000 characters of the same shape.
#: Up to the longest string an OFREP context may hold (65,536 characters).
TEXTS = ["a" * 27 + "!", "a" * 999 + "!", "a" * 65_535 + "!"]
PROMPT = 1.0  # seconds: far above what RE2 takes, far below what backtracking takes


def create_flag(admin: httpx.Client, project: str, key: str, patterns: list[str]) -> None:
    rule = {"clauses": [{"attribute": "name", "op": "matches", "values": patterns}], "serve": "on"}
    body = {
        "key": key,
        "variations": BOOL,
        "client_side": True,
        "targeting": {"on": True, "rules": [rule], "default": "off"},
    }
    response = admin.post(flags_url(project), json=body)
    assert response.status_code == 201, response.text


def ofrep(client: httpx.Client, key: str, flag: str, name: str) -> httpx.Response:
    return client.post(
        f"/ofrep/v1/evaluate/flags/{flag}",
        json={"context": {"targetingKey": "u", "name": name}},
        headers={"Authorization": f"Bearer {key}"},
    )


def timed_get(client: httpx.Client, path: str) -> float:
    start = time.monotonic()
    assert client.get(path).status_code == 200
    return time.monotonic() - start


def test_the_attack_over_ofrep_answers_promptly(
    server: VexilServer, admin: httpx.Client, project: str
) -> None:
    create_flag(admin, project, "hostile", [r"^(a+)+$"])
    key = sdk_key(admin, project, kind="client")
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for text in TEXTS:
            start = time.monotonic()
            response = ofrep(client, key, "hostile", text)
            elapsed = time.monotonic() - start
            assert response.status_code == 200, response.text
            assert response.json()["value"] is False
            assert response.json()["reason"] == "DEFAULT"
            assert elapsed < PROMPT, f"{len(text)} characters took {elapsed:.2f} s"
        assert ofrep(client, key, "hostile", "aaaa").json()["value"] is True


def test_healthz_is_not_held_up_by_hostile_evaluations(
    server: VexilServer, admin: httpx.Client, project: str
) -> None:
    create_flag(admin, project, "hostile", HOSTILE_PATTERNS)
    key = sdk_key(admin, project, kind="client")
    stop, answered, failures = threading.Event(), threading.Event(), []

    def attack() -> None:
        # Evaluations, back to back, for as long as /healthz is being asked.
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            while not stop.is_set():
                for text in TEXTS:
                    response = ofrep(client, key, "hostile", text)
                    if response.status_code != 200 or response.json()["value"] is not False:
                        failures.append(response.text)
                    answered.set()

    attacker = threading.Thread(target=attack, name="attacker", daemon=True)
    attacker.start()
    try:
        assert answered.wait(10), "no OFREP answer within 10 s"
        with httpx.Client(base_url=server.base_url, timeout=10) as probe:
            waits = [timed_get(probe, "/healthz") for _ in range(20)]
    finally:
        stop.set()
        attacker.join(15)
    assert not attacker.is_alive()
    assert not failures, failures[:1]
    assert max(waits) < PROMPT, f"/healthz waited {max(waits):.2f} s"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "backreferences are not supported"),
        (r"(?=admin)", "lookahead is not supported"),
        (r"(?<!x)y", "lookbehind is not supported"),
        (r"a++", "possessive quantifiers are not supported"),
        (r"\pL{100}", "memory budget"),
        ("a" * 1001, "more than the 1000 allowed"),
    ],
)
def test_the_admin_api_refuses_a_pattern_re2_cannot_run_naming_the_field(
    admin: httpx.Client, project: str, pattern: str, reason: str
) -> None:
    rule = {"clauses": [{"attribute": "name", "op": "matches", "values": [pattern]}], "serve": "on"}
    body = {"key": "f", "variations": BOOL, "targeting": {"on": True, "rules": [rule]}}
    error = error_of(admin.post(flags_url(project), json=body), 422)
    assert error["field"] == "flags.f.rules[0].clauses[0].values[0]"
    assert reason in error["message"]
    assert admin.get(flags_url(project, "f")).status_code == 404  # nothing half-written

    assert admin.post(flags_url(project), json={"key": "f", "variations": BOOL}).status_code == 201
    error = error_of(admin.put(targeting_url(project, "f"), json={"rules": [rule]}), 422)
    assert error["field"] == "flags.f.rules[0].clauses[0].values[0]"

    segment = {"key": "s", "rules": [{"clauses": rule["clauses"]}]}
    error = error_of(admin.post(segments_url(project), json=segment), 422)
    assert error["field"] == "segments.s.rules[0].clauses[0].values[0]"
    assert reason in error["message"]


def test_the_sdk_evaluates_the_hostile_input_promptly(
    server: VexilServer, admin: httpx.Client, project: str
) -> None:
    create_flag(admin, project, "hostile", HOSTILE_PATTERNS)
    with Client(sdk_key(admin, project), url=server.base_url) as client:
        assert client.wait_until_ready(10)
        with not_stalled(2 * PROMPT):
            for text in TEXTS:
                assert client.variation("hostile", {"key": "u", "name": text}, True) is False
            assert client.variation("hostile", {"key": "u", "name": "aaa"}, False) is True

    testing = Client.for_testing()
    rule = {"clauses": [{"attribute": "name", "op": "matches", "values": HOSTILE_PATTERNS}]}
    testing.set_flag(
        "hostile", {"variations": BOOL, "rules": [{**rule, "serve": "on"}], "default": "off"}
    )
    with not_stalled(2 * PROMPT):
        for text in TEXTS:
            assert testing.variation("hostile", {"key": "u", "name": text}, True) is False

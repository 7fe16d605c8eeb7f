"""Fuzzing the server with schemathesis, from its own OpenAPI document.

Every operation of ``/api/openapi.json`` gets schemathesis's coverage cases
(boundaries, missing and wrong-typed fields) and generated ones, positive and
negative, NUL characters included, as an admin. Path parameters are random half of
the time (mostly 404s) and otherwise name a project, environment, flag, segment,
token and user that exist, so that bodies reach validation and the engine. SDK and
OFREP endpoints get a server key.

Each answer must be no 5xx, and must be what the document says: a declared status,
a declared content type, a body that fits the declared schema and the declared
headers; a request outside the schema must be refused, and a 405 must list the
path's methods in ``Allow`` (``CHECKS``). One server per backend, few examples per
operation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import schemathesis
from _admin_api import API, BOOL, bearer, create_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Err, Ok

from _services import VexilServer

T = TypeVar("T")
E = TypeVar("E", bound=Exception)

# Hundreds of generated requests per route.
pytestmark = pytest.mark.slow

PROJECT, ENV, KEY = "fuzz", "development", "f"
EXAMPLES = 20
#: Schemathesis's checks of every answer. Left out: positive_data_acceptance, as the
#: engine refuses requests that fit the schema (variations a rule does not name, a
#: promotion to the same environment, NUL in free-form values), and the stateful ones.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "allow_header_conformance",
    "negative_data_rejection",
)
#: If-Match headers: the current version (1 for a resource nobody changed), a stale one,
#: other spellings. Mixed into generated ones in place of EDGES, which hold text that
#: schemathesis cannot check against the header's pattern (a lone surrogate).
IF_MATCH = ['"1"', "1", 'W/"1"', "*", '"999"']
#: Values that break things more often than random ones: mixed into what is generated.
EDGES: dict[str, list[Any]] = {
    "string": [
        "\x00",
        "a\x00b",
        "\ud800",
        "x" * 201,
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
    ],
    "integer": [2**31, 2**31 - 1, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30],
    "number": [1e308, -1e308, 5e-324, 2**63],
}


class Target:
    """The fuzzed server, and what aimed requests point at (put back when removed)."""

    def __init__(self, server: VexilServer) -> None:
        self.server = server
        with server.admin() as basic:
            self.token = create_token(basic, "admin")
        self.client = bearer(server, self.token)
        tokens = self.client.get(f"{API}/tokens").json()
        self.root_token_id = next(t["id"] for t in tokens if self.token.startswith(t["prefix"]))
        users = self.client.get(f"{API}/users").json()
        self.admin_id = next(u["id"] for u in users if u["username"] == "admin")
        self.token_id = self.user_id = 0
        self.statuses: dict[str, Counter[int]] = {}
        self.restore()

    def restore(self) -> None:
        api = self.client
        if api.get(f"{API}/projects/{PROJECT}").status_code == 404:
            assert api.post(f"{API}/projects", json={"key": PROJECT}).status_code == 201
        env = f"{API}/projects/{PROJECT}/environments/{ENV}"
        if api.get(env).status_code == 404:
            api.post(f"{API}/projects/{PROJECT}/environments", json={"key": ENV})
        if api.get(f"{API}/projects/{PROJECT}/flags/{KEY}").status_code == 404:
            body = {"key": KEY, "variations": BOOL}
            assert api.post(f"{API}/projects/{PROJECT}/flags", json=body).is_success
        if api.get(f"{env}/segments/{KEY}").status_code == 404:
            assert api.put(f"{env}/segments/{KEY}", json={"included": ["u-1"]}).is_success
        tokens = {t["id"] for t in api.get(f"{API}/tokens").json()}
        if self.token_id not in tokens:
            body = {"name": "spare", "role": "viewer", "project": PROJECT}
            self.token_id = api.post(f"{API}/tokens", json=body).json()["id"]
        users = {u["id"] for u in api.get(f"{API}/users").json()}
        if self.user_id not in users:
            body = {"username": f"fuzz-{len(users)}", "password": "12345678", "role": "viewer"}
            self.user_id = api.post(f"{API}/users", json=body).json()["id"]

    def headers_for(self, path: str) -> dict[str, str]:
        if path.startswith(("/sdk/", "/ofrep/")) and path != "/sdk/v1/stream":
            # The current server key (fuzzed rotations replace it). A stream is left
            # with the admin token, so refused: with a key it would never end.
            url = f"{API}/projects/{PROJECT}/environments/{ENV}/keys"
            keys = self.client.get(url).json()
            return {"Authorization": next(k["key"] for k in keys if k["kind"] == "server")}
        return {"Authorization": f"Bearer {self.token}"}

    def send(self, case: Any) -> None:
        # Revoking the token this run uses, or disabling the admin, would end the run.
        params = case.path_parameters or {}
        if same_id(params.get("token_id"), self.root_token_id):
            params["token_id"] = self.token_id
        if same_id(params.get("user_id"), self.admin_id):
            params["user_id"] = self.user_id
        try:
            response = case.call_and_validate(
                base_url=self.server.base_url, headers=self.headers_for(case.path), timeout=10
            )
            self.statuses.setdefault(case.operation.label, Counter())[response.status_code] += 1
        finally:
            if case.method.upper() == "DELETE":
                self.restore()

    def aimed(self, operation: Any | None = None) -> dict[str, Any]:
        """Path parameters naming what exists (those of ``operation``, or all)."""
        values = {
            "project": PROJECT,
            "env": ENV,
            "key": KEY,
            "token_id": self.token_id,
            "user_id": self.user_id,
        }
        if operation is None:
            return values
        return {k: v for k, v in values.items() if "{" + k + "}" in operation.path}

    def config(self) -> schemathesis.Config:
        """Half of the generated path parameters name what exists."""
        aimed = self.aimed()
        return schemathesis.Config.from_dict(
            {
                "seed": 20261122,
                "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
                "generation": {
                    "mode": "all",
                    "allow-x00": True,
                    "database": "none",
                    # The credentials are the run's own (headers_for), not generated ones.
                    "with-security-parameters": False,
                    "dictionaries": {
                        kind: {"dictionary": kind, "probability": 0.2} for kind in EDGES
                    },
                },
                "dictionaries": {
                    **{name: {"values": [value]} for name, value in aimed.items()},
                    **{kind: {"values": values} for kind, values in EDGES.items()},
                    "if-match": {"values": IF_MATCH},
                },
                "parameters": {
                    **{f"path.{name}": {"dictionary": name, "probability": 0.5} for name in aimed},
                    "header.if-match": {"dictionary": "if-match", "probability": 0.5},
                },
            }
        )


def same_id(value: Any, row_id: int) -> bool:
    """Whether a generated path parameter names ``row_id`` ("1", 1.0, " 1"...)."""
    try:
        return int(float(str(value).strip())) == row_id
    except (ValueError, OverflowError):
        return False


@pytest.fixture(scope="module")
def target(backend: str, request: pytest.FixtureRequest, workdir: Path) -> Iterator[Target]:
    if backend == "sqlite":
        database = f"sqlite:///{workdir / 'fuzz.db'}"
    else:
        database = request.getfixturevalue("postgres").create_database("vexil_fuzz")
    server = VexilServer(database, workdir).start()
    made = Target(server)
    yield made
    made.client.close()
    server.stop()


@pytest.fixture(scope="module")
def operations(target: Target) -> list[Any]:
    url = f"{target.server.base_url}/api/openapi.json"
    schema = schemathesis.openapi.from_url(url, config=target.config())
    return [ok(result) for result in schema.get_all_operations()]


def ok(result: Ok[T] | Err[E]) -> T:
    """What a result holds, or its error raised (a document schemathesis cannot read)."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def run_each(operations: list[Any], test: Callable[[Any], None]) -> list[str]:
    """``test(operation)`` for every operation; returns every operation's failure."""
    failures = []
    for operation in operations:
        try:
            test(operation)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis's failures are a group
            failures.append(f"{operation.label}: {exc}")
    return failures


def test_coverage_cases_get_declared_answers(target: Target, operations: list[Any]) -> None:
    """Schemathesis's coverage cases: boundary values, missing fields, wrong types...

    Every other case is aimed at the existing resources, so that both the routing
    (random names) and what lies behind it (validation, the engine) are covered.
    """
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]

    def test(operation: Any) -> None:
        schema = operation.schema
        config = schema.config.generation_for(operation=operation, phase="coverage")
        cases = schema.iter_coverage_cases(
            operation, generation_modes=modes, generation_config=config
        )
        for i, case in enumerate(cases):
            if i % 2 and case.path_parameters:
                case.path_parameters = {**case.path_parameters, **target.aimed(operation)}
            target.send(case)

    failures = run_each(operations, test)
    assert failures == [], "\n\n".join(failures)


#: Operations left out of the generated requests, with the reason; each is still fuzzed
#: by the coverage cases above and tested with the same inputs by hand elsewhere.
NOT_GENERATED = {
    # Schemathesis's value dictionaries hand jsonschema-rs a lone surrogate for this
    # free-form body, which fails while generating (UnicodeEncodeError), before any
    # request; test_flagd_import.py sends such text itself.
    "POST /api/v1/projects/{project}/environments/{env}/import/flagd",
}


def test_generated_requests_get_declared_answers(target: Target, operations: list[Any]) -> None:
    """Hypothesis-generated requests, within the schema and outside it, per operation."""
    operations = [o for o in operations if o.label not in NOT_GENERATED]

    def test(operation: Any) -> None:
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )
        )
        def fuzz(case: Any) -> None:
            target.send(case)

        fuzz()

    target.statuses.clear()
    failures = run_each(operations, test)
    assert failures == [], "\n\n".join(failures)
    # Each operation was called, and most got past validation to an answer in 2xx.
    statuses = target.statuses
    assert set(statuses) == {operation.label for operation in operations}
    succeeded = {label for label, seen in statuses.items() if any(s < 300 for s in seen)}
    assert len(succeeded) >= 0.8 * len(statuses), sorted(set(statuses) - succeeded)
    assert "Traceback" not in target.server.log.read_text()

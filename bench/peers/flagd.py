"""flagd's in-process evaluator, reached through an OpenFeature client, reading a local file.

``openfeature-provider-flagd`` evaluates in the Python process when it is given an
offline flag source path: its file resolver reads flagd flag JSON and evaluates it
with its own JsonLogic engine, with no flagd daemon and no network. Calls go through
the OpenFeature SDK client, as an application would write them, so the timings
include OpenFeature's hook and context-merging machinery. The provider is bound to a
domain of its own, so several peers can be loaded at once without replacing the
process-wide default provider. The file resolver re-checks the file's modification
time on a background thread (every 500 ms by default); nothing else runs.

Mapping from Vexil:

* variations become ``variants``; a flag that is on gets ``state: ENABLED`` and a
  ``targeting`` rule, a flag that is off gets ``ENABLED`` with the off variation as
  ``defaultVariant`` and no targeting (flagd's ``DISABLED`` state would answer with
  the caller's default instead of a variant);
* rules become one JsonLogic ``if`` chain, first match wins, each condition an
  ``and`` of its clauses: ``in`` is ``in`` over the value list, ``ends_with`` is
  flagd's ``ends_with`` (an ``or`` for several suffixes), ``semver_gte`` is
  ``sem_ver >=`` the lowest listed version;
* the fallthrough is the default variant name, or ``fractional`` with the rollout's
  weights, which flagd buckets by flag key and ``targetingKey`` (the context's ``key``).

Differences: JsonLogic's ``in`` uses Python equality, so a clause value ``True`` would
also match the number ``1`` (Vexil keeps them apart; the workloads' ``beta`` is always
a boolean). ``sem_ver`` on a missing attribute does not match, as in Vexil, but flagd
logs an error for it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.contrib.provider.flagd.config import ResolverType
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.no_op_provider import NoOpProvider

from ._document import Clause, Flag, Rule, ScratchDir, lowest_version, read_flags

NAME = (
    f"flagd in-process {version('openfeature-provider-flagd')}"
    f" (OpenFeature {version('openfeature-sdk')})"
)

_domains = itertools.count(1)


def load(document: dict[str, Any]) -> Peer:
    """An OpenFeature client whose flagd provider has loaded ``document`` from a file."""
    flags = read_flags(document)
    scratch = ScratchDir("vexil-bench-flagd-")
    path = scratch.write_json("flags.json", {"flags": {f.key: to_flagd_flag(f) for f in flags}})
    provider = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=path)
    domain = f"vexil-bench-flagd-{next(_domains)}"
    # Initialisation reads the file synchronously; waiting on it surfaces a bad file here.
    api.set_provider_and_wait(provider, domain)
    return Peer(api.get_client(domain), domain, flags, scratch)


def to_flagd_flag(flag: Flag) -> dict[str, Any]:
    """``flag`` as flagd flag JSON."""
    body: dict[str, Any] = {"state": "ENABLED", "variants": dict(flag.variations)}
    if not flag.on:
        body["defaultVariant"] = flag.off_variation
        return body
    body["defaultVariant"] = flag.default if flag.default is not None else flag.rollout[0].variation
    fallthrough = _fallthrough(flag)
    if flag.rules:
        chain: list[Any] = []
        for rule in flag.rules:
            chain += [_condition(rule), rule.serve]
        body["targeting"] = {"if": [*chain, fallthrough]}
    elif flag.default is None:
        body["targeting"] = fallthrough
    return body


def _fallthrough(flag: Flag) -> Any:
    if flag.default is not None:
        return flag.default
    return {"fractional": [[s.variation, s.weight] for s in flag.rollout]}


def _condition(rule: Rule) -> dict[str, Any]:
    tests = [_test(c) for c in rule.clauses]
    return tests[0] if len(tests) == 1 else {"and": tests}


def _test(clause: Clause) -> dict[str, Any]:
    var = {"var": clause.attribute}
    if clause.op == "in":
        return {"in": [var, list(clause.values)]}
    if clause.op == "semver_gte":
        return {"sem_ver": [var, ">=", lowest_version(clause.values)]}
    suffixes = [{"ends_with": [var, v]} for v in clause.values]
    return suffixes[0] if len(suffixes) == 1 else {"or": suffixes}


def _typed_getter(client: OpenFeatureClient, flag: Flag) -> Callable[..., Any]:
    """The OpenFeature ``get_*_value`` method matching the flag's value type."""
    kind = flag.value_type
    if kind is bool:
        return client.get_boolean_value
    if kind is str:
        return client.get_string_value
    if kind is int:
        return client.get_integer_value
    if kind is float:
        return client.get_float_value
    return client.get_object_value


class Peer:
    """An OpenFeature client bound to its own flagd provider."""

    def __init__(
        self, client: OpenFeatureClient, domain: str, flags: list[Flag], scratch: ScratchDir
    ):
        self._client = client
        self._domain = domain
        self._flags = {f.key: f for f in flags}
        self._getters = {f.key: _typed_getter(client, f) for f in flags}
        self._scratch = scratch

    def prepare(self, context: dict[str, Any]) -> EvaluationContext:
        attributes = {k: v for k, v in context.items() if k != "key"}
        return EvaluationContext(targeting_key=str(context["key"]), attributes=attributes)

    def evaluator(self, flag_key: str) -> Callable[[EvaluationContext], Any]:
        getter = self._getters[flag_key]
        fallback = self._flags[flag_key].off_value

        def evaluate(context: EvaluationContext) -> Any:
            return getter(flag_key, fallback, context)

        return evaluate

    def all_flags(self, prepared_context: EvaluationContext) -> dict[str, Any]:
        """Every flag, one call each: OpenFeature has no bulk evaluation API."""
        getters = self._getters
        return {
            key: getters[key](key, flag.off_value, prepared_context)
            for key, flag in self._flags.items()
        }

    def close(self) -> None:
        provider = self._client.provider
        provider.shutdown()
        _join_file_watcher(provider)
        api.set_provider(NoOpProvider(), self._domain)
        self._scratch.cleanup()


def _join_file_watcher(provider: Any) -> None:
    """Wait for the file resolver's watcher thread to notice the shutdown.

    The watcher sleeps for one poll interval and then re-reads the file once more
    before it checks whether it was stopped; deleting the file before then makes
    it log a spurious "file not found" error. The SDK offers no public handle on
    the thread, hence the defensive lookup.
    """
    connector = getattr(getattr(provider, "resolver", None), "connector", None)
    thread = getattr(connector, "thread", None)
    if isinstance(thread, threading.Thread):
        thread.join(timeout=5)

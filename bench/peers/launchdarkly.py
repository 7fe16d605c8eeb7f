"""LaunchDarkly's server-side Python SDK, evaluating Vexil's flags from a local file.

The client reads LaunchDarkly flag JSON through the SDK's file data source, which
takes the place of the streaming or polling connection, so nothing is fetched. Events
are off (``send_events=False``, which also keeps the event processor, and so the
diagnostic reports, from starting) and ``diagnostic_opt_out`` is set as well. The
client is *not* in ``offline`` mode: offline mode would answer every call with the
caller's default without evaluating anything.

Mapping from Vexil:

* variations become LaunchDarkly's variation list, names mapped to indices;
* ``on``/``off_variation`` map directly to ``on``/``offVariation``;
* each rule becomes a rule with the same clauses: ``in`` stays ``in``, ``ends_with``
  becomes ``endsWith``, and ``semver_gte v`` becomes a negated ``semVerLessThan`` of
  the lowest listed version. LaunchDarkly never applies ``negate`` to a missing
  attribute, so a context without the attribute still does not match; a present
  value that is not a version would match, where Vexil does not (no workload has one);
* a default rollout becomes ``fallthrough.rollout`` with weights in 0.001 % units,
  bucketed by ``key`` (LaunchDarkly's default).

``in`` with a boolean value matches only a boolean, in both engines.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import ldclient
from ldclient.config import Config
from ldclient.integrations import Files

from ._document import Clause, Flag, Rule, ScratchDir, lowest_version, read_flags

NAME = f"LaunchDarkly {version('launchdarkly-server-sdk')}"

_OPS = {"in": "in", "ends_with": "endsWith"}


def load(document: dict[str, Any]) -> Peer:
    """A client that has loaded ``document``'s flags from a temporary file."""
    flags = read_flags(document)
    scratch = ScratchDir("vexil-bench-ld-")
    path = scratch.write_json("flags.json", {"flags": {f.key: to_ld_flag(f) for f in flags}})
    config = Config(
        sdk_key="vexil-bench-offline",
        update_processor_class=Files.new_data_source(paths=[path]),
        send_events=False,
        diagnostic_opt_out=True,
    )
    # The file data source loads synchronously and signals readiness at once, so
    # the client's own start-up wait returns immediately.
    client = ldclient.LDClient(config=config, start_wait=5)
    if not client.is_initialized():
        client.close()  # type: ignore[no-untyped-call]  # unannotated in the SDK
        scratch.cleanup()
        raise RuntimeError("the LaunchDarkly file data source did not load the flags")
    return Peer(client, {f.key: f.off_value for f in flags}, scratch)


def to_ld_flag(flag: Flag) -> dict[str, Any]:
    """``flag`` as LaunchDarkly flag JSON."""
    index = {name: i for i, name in enumerate(flag.variations)}
    if flag.default is not None:
        fallthrough: dict[str, Any] = {"variation": index[flag.default]}
    else:
        slices = [{"variation": index[s.variation], "weight": s.weight} for s in flag.rollout]
        fallthrough = {"rollout": {"variations": slices}}
    return {
        "key": flag.key,
        "version": 1,
        "on": flag.on,
        "variations": list(flag.variations.values()),
        "offVariation": index[flag.off_variation],
        "fallthrough": fallthrough,
        "rules": [_ld_rule(rule, index) for rule in flag.rules],
        "targets": [],
        "contextTargets": [],
        "prerequisites": [],
        "salt": flag.key,
        "trackEvents": False,
        "trackEventsFallthrough": False,
    }


def _ld_rule(rule: Rule, index: dict[str, int]) -> dict[str, Any]:
    return {
        "id": rule.id,
        "clauses": [_ld_clause(c) for c in rule.clauses],
        "variation": index[rule.serve],
        "trackEvents": False,
    }


def _ld_clause(clause: Clause) -> dict[str, Any]:
    if clause.op == "semver_gte":
        op, values, negate = "semVerLessThan", [lowest_version(clause.values)], True
    else:
        op, values, negate = _OPS[clause.op], list(clause.values), False
    return {
        "contextKind": "user",
        "attribute": clause.attribute,
        "op": op,
        "values": values,
        "negate": negate,
    }


class Peer:
    """A started ``LDClient`` and the fallback value each flag's call passes."""

    def __init__(self, client: ldclient.LDClient, fallbacks: dict[str, Any], scratch: ScratchDir):
        self._client = client
        self._fallbacks = fallbacks
        self._scratch = scratch

    def prepare(self, context: dict[str, Any]) -> ldclient.Context:
        builder = ldclient.Context.builder(str(context["key"]))
        for attribute, value in context.items():
            if attribute != "key":
                builder.set(attribute, value)
        ctx = builder.build()
        if not ctx.valid:
            raise ValueError(f"LaunchDarkly rejected the context: {ctx.error}")
        return ctx

    def evaluator(self, flag_key: str) -> Callable[[ldclient.Context], Any]:
        variation = self._client.variation
        fallback = self._fallbacks[flag_key]

        def evaluate(context: ldclient.Context) -> Any:
            return variation(flag_key, context, fallback)

        return evaluate

    def all_flags(self, prepared_context: ldclient.Context) -> dict[str, Any]:
        return self._client.all_flags_state(prepared_context).to_values_map()

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]  # unannotated in the SDK
        self._scratch.cleanup()

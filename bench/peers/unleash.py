"""Unleash's Python SDK (Yggdrasil engine), evaluating Vexil's flags from a bootstrapped cache.

No Unleash server is involved: the client's ``FileCache`` (in a temporary folder) is
bootstrapped with the feature payload, registration and metrics are disabled, and the
client is initialised with ``fetch_toggles=False``, which loads the cache instead of
polling. The URL it is given is never contacted. The offline connector re-reads the
unchanged cache on a timer; the timer is set to an hour so that no reload lands in
a measurement.

Unleash's model differs from Vexil's, so the mapping is:

* a flag becomes a feature toggle whose ``enabled`` is Vexil's ``on``;
* a rule becomes a ``flexibleRollout`` strategy at 100 % whose constraints are the
  rule's clauses (constraints are AND-ed): ``in`` is ``IN``, ``ends_with`` is
  ``STR_ENDS_WITH``, and ``semver_gte v`` is two strategies, ``SEMVER_GT`` and
  ``SEMVER_EQ`` the lowest listed version, because Unleash has no ``>=`` and an
  inverted ``SEMVER_LT`` would also match contexts without the attribute;
* Unleash strategies are OR-ed, but a strategy's *variants* come from the first
  strategy that matches, in order, which is Vexil's first-match-wins. So a string
  (or number, or JSON) flag is evaluated with ``get_variant``: each rule's strategy
  carries the served variation as its only variant, and a final unconstrained
  strategy carries the default, or the rollout's variations with their weights
  (Unleash weighs variants in 0.1 % units, bucketed by ``userId``). The adapter maps
  the variant name back to the Vexil value, and a disabled toggle (flag off) to the
  off variation, as an Unleash user maps a variant to a value in their own code;
* a boolean flag whose rules all serve ``True`` and whose off variation is ``False``
  is evaluated with ``is_enabled``, the call Unleash users make for on/off flags:
  rules become constrained strategies, a ``True`` default an unconstrained one, and a
  rollout a ``flexibleRollout`` at the ``True`` share (whole percents only). Any
  other boolean flag falls back to the variant form.

The SDK turns every context value into a string with ``str()`` before evaluating,
so a boolean ``True`` arrives as ``"True"``; ``in`` clauses are translated with the
same ``str()``, which also means a clause value ``True`` matches the string
``"True"``, where Vexil would not. Context attributes are passed as ``properties``
and the context's ``key`` as ``userId``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from UnleashClient import UnleashClient  # type: ignore[attr-defined]
from UnleashClient.cache import FileCache
from UnleashClient.utils import InstanceAllowType

from ._document import WEIGHT_UNITS, Clause, Flag, ScratchDir, lowest_version, read_flags

NAME = f"Unleash {version('UnleashClient')}"

#: Unleash variant weights add up to this many units (0.1 % each).
VARIANT_UNITS = 1000
_NEVER_CONTACTED_URL = "http://127.0.0.1:9/api"
_CACHE_RELOAD_SECONDS = 3600
_apps = itertools.count(1)


def load(document: dict[str, Any]) -> Peer:
    """A client that has loaded ``document``'s flags from a bootstrapped cache."""
    flags = read_flags(document)
    scratch = ScratchDir("vexil-bench-unleash-")
    app_name = f"vexil-bench-{next(_apps)}"
    cache = FileCache(app_name, directory=scratch.path)
    cache.bootstrap_from_dict({"version": 2, "features": [to_unleash_feature(f) for f in flags]})
    client = UnleashClient(
        url=_NEVER_CONTACTED_URL,
        app_name=app_name,
        refresh_interval=_CACHE_RELOAD_SECONDS,
        disable_metrics=True,
        disable_registration=True,
        cache=cache,
        multiple_instance_mode=InstanceAllowType.SILENTLY_ALLOW,
    )
    client.initialize_client(fetch_toggles=False)
    missing = {f.key for f in flags} - set(client.feature_definitions())
    if missing:
        client.destroy()
        scratch.cleanup()
        raise RuntimeError(f"Unleash did not load the features {sorted(missing)}")
    return Peer(client, flags, scratch)


def uses_is_enabled(flag: Flag) -> bool:
    """Whether ``flag`` maps exactly onto Unleash's plain on/off evaluation."""
    if flag.value_type is not bool or flag.off_value is not False:
        return False
    if any(flag.value(rule.serve) is not True for rule in flag.rules):
        return False
    return flag.default is not None or _true_share(flag) % (WEIGHT_UNITS // 100) == 0


def to_unleash_feature(flag: Flag) -> dict[str, Any]:
    """``flag`` as one entry of an Unleash client features payload."""
    strategies = _toggle_strategies(flag) if uses_is_enabled(flag) else _variant_strategies(flag)
    return {
        "name": flag.key,
        "type": "release",
        "project": "default",
        "enabled": flag.on and bool(strategies),
        "stale": False,
        "impressionData": False,
        "strategies": strategies,
        "variants": [],
    }


def _toggle_strategies(flag: Flag) -> list[dict[str, Any]]:
    strategies = [s for rule in flag.rules for s in _strategies(flag.key, rule.clauses)]
    if flag.default is None:
        strategies += _strategies(flag.key, (), rollout=_true_share(flag) * 100 // WEIGHT_UNITS)
    elif flag.value(flag.default) is True:
        strategies += _strategies(flag.key, ())
    return strategies


def _variant_strategies(flag: Flag) -> list[dict[str, Any]]:
    strategies = [
        s
        for rule in flag.rules
        for s in _strategies(flag.key, rule.clauses, variants=[_variant(flag, rule.serve)])
    ]
    if flag.default is not None:
        default_variants = [_variant(flag, flag.default)]
    else:
        default_variants = [_variant(flag, name, weight) for name, weight in _variant_weights(flag)]
    return strategies + _strategies(flag.key, (), variants=default_variants)


def _strategies(
    key: str,
    clauses: tuple[Clause, ...],
    rollout: int = 100,
    variants: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One strategy per alternative of the clauses (a ``semver_gte`` clause makes two)."""
    alternatives: list[list[dict[str, Any]]] = [[]]
    for clause in clauses:
        options = _constraints(clause)
        alternatives = [[*done, option] for done in alternatives for option in options]
    parameters = {"rollout": str(rollout), "stickiness": "default", "groupId": key}
    return [
        {
            "name": "flexibleRollout",
            "parameters": parameters,
            "constraints": constraints,
            "variants": variants or [],
        }
        for constraints in alternatives
    ]


def _constraints(clause: Clause) -> list[dict[str, Any]]:
    """The constraints any one of which expresses ``clause``."""
    context_name = "userId" if clause.attribute == "key" else clause.attribute
    base = {"contextName": context_name, "inverted": False, "caseInsensitive": False}
    if clause.op == "semver_gte":
        lowest = lowest_version(clause.values)
        return [
            {**base, "operator": "SEMVER_GT", "value": lowest, "values": []},
            {**base, "operator": "SEMVER_EQ", "value": lowest, "values": []},
        ]
    operator = "IN" if clause.op == "in" else "STR_ENDS_WITH"
    return [{**base, "operator": operator, "values": [str(v) for v in clause.values]}]


def _true_share(flag: Flag) -> int:
    """The rollout weight, in 0.001 % units, of the slices serving ``True``."""
    return sum(s.weight for s in flag.rollout if flag.value(s.variation) is True)


def _variant_weights(flag: Flag) -> list[tuple[str, int]]:
    """The rollout in Unleash's 0.1 % units, rounding error folded into the last slice."""
    scale = WEIGHT_UNITS // VARIANT_UNITS
    weights = [(s.variation, round(s.weight / scale)) for s in flag.rollout]
    name, last = weights[-1]
    weights[-1] = (name, last + VARIANT_UNITS - sum(w for _, w in weights))
    return weights


def _variant(flag: Flag, name: str, weight: int = VARIANT_UNITS) -> dict[str, Any]:
    return {
        "name": name,
        "weight": weight,
        "weightType": "variable",
        "stickiness": "default",
        "payload": _payload(flag.value(name)),
    }


def _payload(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"type": "number", "value": json.dumps(value)}
    return {"type": "json", "value": json.dumps(value)}


class Peer:
    """An initialised ``UnleashClient`` and how to turn its answers into Vexil values."""

    def __init__(self, client: UnleashClient, flags: list[Flag], scratch: ScratchDir):
        self._client = client
        self._scratch = scratch
        self._evaluators = {f.key: self._make_evaluator(f) for f in flags}

    def prepare(self, context: dict[str, Any]) -> dict[str, Any]:
        properties = {k: v for k, v in context.items() if k != "key"}
        return {"userId": str(context["key"]), "properties": properties}

    def evaluator(self, flag_key: str) -> Callable[[dict[str, Any]], Any]:
        return self._evaluators[flag_key]

    def all_flags(self, prepared_context: dict[str, Any]) -> dict[str, Any]:
        """Every flag, one call each: the Python SDK has no bulk evaluation API."""
        return {key: evaluate(prepared_context) for key, evaluate in self._evaluators.items()}

    def close(self) -> None:
        self._client.destroy()
        self._scratch.cleanup()

    def _make_evaluator(self, flag: Flag) -> Callable[[dict[str, Any]], Any]:
        key = flag.key
        if uses_is_enabled(flag):
            is_enabled = self._client.is_enabled

            def evaluate_toggle(context: dict[str, Any]) -> Any:
                return is_enabled(key, context)

            return evaluate_toggle

        get_variant = self._client.get_variant
        values = dict(flag.variations)
        off_value = flag.off_value

        def evaluate_variant(context: dict[str, Any]) -> Any:
            variant = get_variant(key, context)
            return values[variant["name"]] if variant["enabled"] else off_value

        return evaluate_variant

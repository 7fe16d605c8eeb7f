"""GrowthBook's Python SDK, evaluating Vexil's flags from an in-memory feature payload.

How it is timed: GrowthBook's synchronous ``GrowthBook`` object holds *one user's*
attributes, and its documentation tells web applications to create one instance per
incoming request and ``destroy()`` it at the end. That is what a user pays per
request, so the timed call does it: ``evaluator`` builds a ``GrowthBook`` for the
context, reads one feature and destroys it; ``all_flags`` builds one instance and
reads every feature through it. ``prepare`` only turns the context into GrowthBook's
attribute dict. The feature payload is parsed into ``growthbook.Feature`` objects
once, at load time, and handed to each instance: passing raw payload dicts instead
would re-parse every rule of every feature per request (as a fresh ``load_features``
from the SDK's cache does), which is avoidable, so it is not charged to GrowthBook.
Each instance gets a copy of the attribute dict because ``destroy()`` clears the dict
it was given, and a request builds its own dict anyway.

The multi-user ``GrowthBookClient`` is async-only; driving it from this synchronous
benchmark would mostly time the event loop, so it is not used.

Mapping from Vexil (no network: no ``api_host``/``client_key``, so nothing is fetched):

* each rule becomes a ``force`` rule whose ``condition`` holds every clause (implicit
  AND, or ``$and`` when two clauses test the same attribute): ``in`` is ``$in``
  (GrowthBook keeps ``True`` and ``1`` apart, like Vexil), ``ends_with`` is an
  anchored ``$regex`` of the escaped suffixes, ``semver_gte`` is ``$vgte`` of the
  lowest listed version. A missing attribute fails all three, as in Vexil;
* a fixed default becomes ``defaultValue``; a default rollout becomes an experiment
  rule (``variations`` + ``weights``) hashed on the ``id`` attribute, which carries
  the context's ``key``. ``defaultValue`` is then the first slice's value, served only
  to a context without a ``key``;
* a flag that is off becomes a feature with no rules whose ``defaultValue`` is the
  off variation: GrowthBook payloads have no on/off switch of their own.

GrowthBook's ``$vgte`` compares padded version strings rather than parsing SemVer;
it agrees with SemVer precedence on the workloads' versions (including
``4.0.0-beta.1``) but not on every exotic pre-release.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from growthbook import Feature, GrowthBook

from ._document import WEIGHT_UNITS, Clause, Flag, Rule, lowest_version, read_flags

NAME = f"GrowthBook {version('growthbook')}"

#: The attribute GrowthBook hashes on by default.
_HASH_ATTRIBUTE = "id"


def load(document: dict[str, Any]) -> Peer:
    """Parsed features for ``document``, ready to hand to per-request instances."""
    flags = read_flags(document)
    payload = {f.key: to_gb_feature(f) for f in flags}
    features = {key: Feature(**body) for key, body in payload.items()}
    return Peer(features, {f.key: f.off_value for f in flags})


def to_gb_feature(flag: Flag) -> dict[str, Any]:
    """``flag`` as one entry of a GrowthBook SDK payload's ``features``."""
    if not flag.on:
        return {"defaultValue": flag.off_value, "rules": []}
    rules = [_force_rule(rule, flag) for rule in flag.rules]
    if flag.default is not None:
        return {"defaultValue": flag.value(flag.default), "rules": rules}
    rules.append(_rollout_rule(flag))
    return {"defaultValue": flag.value(flag.rollout[0].variation), "rules": rules}


def _force_rule(rule: Rule, flag: Flag) -> dict[str, Any]:
    return {"id": rule.id, "condition": _condition(rule.clauses), "force": flag.value(rule.serve)}


def _rollout_rule(flag: Flag) -> dict[str, Any]:
    return {
        "id": f"{flag.key}-rollout",
        "key": flag.key,
        "variations": [flag.value(s.variation) for s in flag.rollout],
        "weights": [s.weight / WEIGHT_UNITS for s in flag.rollout],
        "hashAttribute": _HASH_ATTRIBUTE,
        "hashVersion": 2,
    }


def _condition(clauses: tuple[Clause, ...]) -> dict[str, Any]:
    tests = [(c.attribute, _operator(c)) for c in clauses]
    if len({attribute for attribute, _ in tests}) == len(tests):
        return dict(tests)
    return {"$and": [{attribute: test} for attribute, test in tests]}


def _operator(clause: Clause) -> dict[str, Any]:
    if clause.op == "in":
        return {"$in": list(clause.values)}
    if clause.op == "ends_with":
        return {"$regex": "(?:" + "|".join(re.escape(str(v)) for v in clause.values) + ")$"}
    return {"$vgte": lowest_version(clause.values)}


class Peer:
    """Parsed features, and one short-lived ``GrowthBook`` per evaluated request."""

    def __init__(self, features: dict[str, Feature], fallbacks: dict[str, Any]):
        self._features = features
        self._fallbacks = fallbacks

    def prepare(self, context: dict[str, Any]) -> dict[str, Any]:
        attributes = {k: v for k, v in context.items() if k != "key"}
        attributes[_HASH_ATTRIBUTE] = context["key"]
        return attributes

    def evaluator(self, flag_key: str) -> Callable[[dict[str, Any]], Any]:
        features = self._features
        fallback = self._fallbacks[flag_key]

        def evaluate(attributes: dict[str, Any]) -> Any:
            gb = GrowthBook(attributes=dict(attributes), features=features)
            try:
                return gb.get_feature_value(flag_key, fallback)
            finally:
                gb.destroy()

        return evaluate

    def all_flags(self, prepared_context: dict[str, Any]) -> dict[str, Any]:
        """Every feature through one per-request instance (GrowthBook has no bulk call)."""
        gb = GrowthBook(attributes=dict(prepared_context), features=self._features)
        try:
            return {key: gb.get_feature_value(key, self._fallbacks[key]) for key in self._features}
        finally:
            gb.destroy()

    def close(self) -> None:
        self._features = {}

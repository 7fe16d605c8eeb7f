"""The compiler: turns validated flags and segments into plain Python callables.

Each flag becomes one function ``(context, env) -> EvaluationDetail`` made of
closures over converted literals. Every detail a flag can return is built here,
once, so the hot path allocates nothing. ``env`` gives access to the other
compiled flags and segments at evaluation time: a flag is never recompiled
because a prerequisite or a segment it uses changed.
"""

from __future__ import annotations

import copy
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol, cast

from ._bucketing import hash32
from ._detail import ErrorKind, EvaluationDetail, Reason, error_detail
from ._model import WEIGHT_UNITS, Clause, Flag, Operator, Rollout, Segment, Serve, VariationType
from ._operators import compile_test

Context = Mapping[str, Any]
Detail = EvaluationDetail[Any]


class Env(Protocol):
    """What a compiled flag may look up while evaluating: the others of its ruleset."""

    @property
    def compiled_flags(self) -> Mapping[str, CompiledFlag]: ...

    @property
    def compiled_segments(self) -> Mapping[str, CompiledSegment]: ...


Predicate = Callable[[Context, Env], bool]
Getter = Callable[[Context], Any]
Split = Callable[[Context], Detail]
FlagFunction = Callable[[Context, Env], Detail]

#: Reasons a prerequisite counts as failed whatever variation it served.
_NOT_ON = frozenset({Reason.DISABLED, Reason.PREREQUISITE_FAILED, Reason.ERROR})


def getter(attribute: str) -> Getter:
    """Reads ``a.b.c`` from nested mappings; ``None`` where any part is missing."""
    path = tuple(attribute.split("."))
    if len(path) == 1:
        name = path[0]
        return lambda ctx: ctx.get(name)

    def get(ctx: Context) -> Any:
        value: Any = ctx
        for part in path:
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        return value

    return get


def compile_clause(clause: Clause) -> Predicate:
    if clause.op is Operator.SEGMENT:
        return _segment_clause(clause.values, clause.negate)
    get = getter(clause.attribute)
    if clause.op is Operator.EXISTS:
        if clause.negate:
            return lambda ctx, env: get(ctx) is None
        return lambda ctx, env: get(ctx) is not None
    test = compile_test(clause.op, clause.values)
    if "." not in clause.attribute and not clause.negate:
        return _string_clause(clause, test) or _top_level_clause(clause.attribute, test)

    negate = clause.negate

    # A missing attribute never matches, negated or not: "country not in [US]"
    # says nothing about a context without a country.
    def predicate(ctx: Context, env: Env) -> bool:
        value = get(ctx)
        if value is None:
            return False
        matched = any(map(test, value)) if value.__class__ is list else test(value)
        return bool(matched) != negate

    return predicate


def _top_level_clause(name: str, test: Callable[[Any], bool]) -> Predicate:
    # The common case, kept to one dictionary read and one call.
    def predicate(ctx: Context, env: Env) -> bool:
        value = ctx.get(name)
        if value.__class__ is list:
            return any(map(test, value))
        return test(value)

    return predicate


def _string_clause(clause: Clause, test: Callable[[Any], bool]) -> Predicate | None:
    """One call per clause for the most common tests of a string attribute.

    Strings take the inline path; any other value (a list, a number, nothing)
    goes through the general ``test``, so the result is the same either way.
    """
    name, values = clause.attribute, clause.values
    if not all(v.__class__ is str for v in values):
        return None
    general = _top_level_clause(name, test)
    if clause.op is Operator.IN:
        strings = frozenset(values)

        def is_in(ctx: Context, env: Env) -> bool:
            value = ctx.get(name)
            if value.__class__ is str:
                return value in strings
            return general(ctx, env)

        return is_in
    if clause.op in (Operator.STARTS_WITH, Operator.ENDS_WITH):
        affixes = tuple(values)
        method = str.startswith if clause.op is Operator.STARTS_WITH else str.endswith

        def affixed(ctx: Context, env: Env) -> bool:
            value = ctx.get(name)
            if value.__class__ is str:
                return method(value, affixes)
            return general(ctx, env)

        return affixed
    return None


def _segment_clause(keys: tuple[str, ...], negate: bool) -> Predicate:
    def predicate(ctx: Context, env: Env) -> bool:
        segments = env.compiled_segments
        for key in keys:
            if segments[key].match(ctx, env):
                return not negate
        return negate

    return predicate


def all_of(predicates: list[Predicate]) -> Predicate:
    if not predicates:
        return lambda ctx, env: True
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda ctx, env: first(ctx, env) and second(ctx, env)

    def every(ctx: Context, env: Env) -> bool:
        for predicate in predicates:
            if not predicate(ctx, env):
                return False
        return True

    return every


class CompiledSegment:
    __slots__ = ("clauses", "match", "segment")

    def __init__(self, segment: Segment) -> None:
        self.segment = segment
        self.clauses = [[compile_clause(c) for c in rule.clauses] for rule in segment.rules]
        self.match = _segment_matcher(segment, [all_of(preds) for preds in self.clauses])


def _segment_matcher(segment: Segment, rules: list[Predicate]) -> Predicate:
    included = frozenset(segment.included)
    excluded = frozenset(segment.excluded)

    def match(ctx: Context, env: Env) -> bool:
        key = ctx.get("key")
        if key.__class__ is str:
            if key in included:
                return True
            if key in excluded:
                return False
        for rule in rules:
            if rule(ctx, env):
                return True
        return False

    return match


class CompiledRollout:
    """A rollout with its slices laid end to end, and one prebuilt detail per slice."""

    __slots__ = ("bounds", "details", "get", "missing", "rollout", "salt", "split")

    def __init__(self, rollout: Rollout, flag: Flag, rule_id: str | None) -> None:
        self.rollout = rollout
        self.salt = (flag.key if rollout.seed is None else rollout.seed) + "."
        bounds, total = [], 0
        for s in rollout.slices:
            total += s.weight
            bounds.append(total)
        self.bounds = bounds
        self.details = [
            _served(flag, s.variation, Reason.SPLIT, rule_id, in_experiment=rollout.experiment)
            for s in rollout.slices
        ]
        self.missing = error_detail(
            ErrorKind.TARGETING_KEY_MISSING,
            f"the rollout buckets by {rollout.bucket_by!r}, which the context lacks",
        )
        self.get = getter(rollout.bucket_by)
        self.split = self._splitter()

    def _splitter(self) -> Split:
        get, salt, bounds, details, missing = (
            self.get,
            self.salt,
            self.bounds,
            self.details,
            self.missing,
        )
        units = WEIGHT_UNITS

        def split(ctx: Context) -> Detail:
            value = get(ctx)
            cls = value.__class__
            if cls is int:
                value = str(value)
            elif cls is not str or not value:
                return missing
            return details[bisect_right(bounds, (hash32(salt + value, 0, False) * units) >> 32)]

        return split


def _served(
    flag: Flag, variation: str | None, reason: Reason, rule_id: str | None = None, **extra: Any
) -> Detail:
    value = None if variation is None else flag.variations[variation]
    return EvaluationDetail(value, variation, reason, rule_id, **extra)


class CompiledRule:
    __slots__ = ("clauses", "fixed", "match", "rollout", "rule_id")

    def __init__(self, flag: Flag, index: int) -> None:
        rule = flag.rules[index]
        self.rule_id = rule.id
        self.clauses = [compile_clause(c) for c in rule.clauses]
        self.match = all_of(self.clauses)
        self.fixed, self.rollout = _compile_serve(flag, rule.serve, Reason.TARGETING_MATCH, rule.id)


def _compile_serve(
    flag: Flag, serve: Serve | None, reason: Reason, rule_id: str | None
) -> tuple[Detail | None, CompiledRollout | None]:
    if isinstance(serve, Rollout):
        return None, CompiledRollout(serve, flag, rule_id)
    return _served(flag, serve, reason, rule_id), None


class CompiledFlag:
    """A flag ready to evaluate: ``evaluate(context, env)`` plus the parts explain walks."""

    __slots__ = (
        "accepts",
        "default_fixed",
        "default_rollout",
        "evaluate",
        "flag",
        "off",
        "prerequisites",
        "rules",
        "targets",
    )

    def __init__(self, flag: Flag) -> None:
        self.flag = flag
        self.accepts = _type_check(flag.type)
        self.off = _served(flag, flag.off_variation, Reason.DISABLED)
        self.targets = {
            key: _served(flag, variation, Reason.TARGETING_MATCH)
            for variation, keys in flag.targets.items()
            for key in keys
        }
        self.prerequisites = [
            (
                p.flag,
                p.variation,
                replace(self.off, reason=Reason.PREREQUISITE_FAILED, prerequisite=p.flag),
            )
            for p in flag.prerequisites
        ]
        self.rules = [CompiledRule(flag, i) for i in range(len(flag.rules))]
        default_reason = Reason.STATIC if flag.is_static else Reason.DEFAULT
        self.default_fixed, self.default_rollout = _compile_serve(
            flag, flag.default, default_reason, None
        )
        function = self._function()
        self.evaluate = _copying(function) if flag.type is VariationType.JSON else function

    def _function(self) -> FlagFunction:
        off = self.off
        if not self.flag.on:
            return lambda ctx, env: off
        fixed = self.default_fixed
        if self.flag.is_static and fixed is not None:
            return lambda ctx, env: fixed
        prerequisites, targets = self.prerequisites, self.targets
        # A serve is a fixed detail or a rollout, never neither: the casts only tell mypy.
        rules = [
            (r.match, cast(Detail, r.fixed), None if r.rollout is None else r.rollout.split)
            for r in self.rules
        ]
        default_split = None if self.default_rollout is None else self.default_rollout.split
        fallback = cast(Detail, fixed)

        def evaluate(ctx: Context, env: Env) -> Detail:
            if prerequisites:
                flags = env.compiled_flags
                for key, required, failed in prerequisites:
                    got = flags[key].evaluate(ctx, env)
                    if got.variant != required or got.reason in _NOT_ON:
                        return failed
            if targets:
                target_key = ctx.get("key")
                if target_key.__class__ is str:
                    hit = targets.get(target_key)
                    if hit is not None:
                        return hit
            for match, served, split in rules:
                if match(ctx, env):
                    return served if split is None else split(ctx)
            return fallback if default_split is None else default_split(ctx)

        return evaluate


def _copying(function: FlagFunction) -> FlagFunction:
    # JSON values are mutable: hand each caller its own copy, so that one caller's
    # change never leaks into the flag or into another caller's result.
    def evaluate(ctx: Context, env: Env) -> Detail:
        detail = function(ctx, env)
        if detail.value is None:
            return detail
        return replace(detail, value=copy.deepcopy(detail.value))

    return evaluate


def _type_check(vtype: VariationType) -> Callable[[Any], bool]:
    if vtype is VariationType.BOOLEAN:
        return lambda v: v.__class__ is bool
    if vtype is VariationType.STRING:
        return lambda v: isinstance(v, str)
    if vtype is VariationType.NUMBER:
        return lambda v: isinstance(v, int | float) and v.__class__ is not bool
    return lambda v: isinstance(v, dict | list)

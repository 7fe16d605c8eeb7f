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
from functools import lru_cache
from typing import Any, Protocol

from ._bucketing import hash32
from ._clauses import Getter, Predicate, all_of, compile_clause, getter
from ._codegen import flag_function
from ._detail import ErrorKind, EvaluationDetail, Reason, error_detail
from ._model import WEIGHT_UNITS, Flag, Rollout, Segment, Serve, VariationType

Context = Mapping[str, Any]
Detail = EvaluationDetail[Any]


class Env(Protocol):
    """What a compiled flag may look up while evaluating: the others of its ruleset."""

    @property
    def compiled_flags(self) -> Mapping[str, CompiledFlag]: ...

    @property
    def compiled_segments(self) -> Mapping[str, CompiledSegment]: ...


Split = Callable[[Context], Detail]
FlagFunction = Callable[[Context, Env], Detail]

#: Reasons a prerequisite counts as failed whatever variation it served.
_NOT_ON = frozenset({Reason.DISABLED, Reason.PREREQUISITE_FAILED, Reason.ERROR})


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
        self.missing = _missing(rollout.bucket_by)
        self.get = getter(rollout.bucket_by)
        self.split = self._splitter()

    def _splitter(self) -> Split:
        # Bound as default arguments rather than closure variables: read as fast
        # locals, and held in one tuple instead of one cell object each.
        def split(
            ctx: Context,
            get: Getter = self.get,
            salt: str = self.salt,
            bounds: list[int] = self.bounds,
            details: list[Detail] = self.details,
            missing: Detail = self.missing,
            units: int = WEIGHT_UNITS,
        ) -> Detail:
            value = get(ctx)
            cls = value.__class__
            if cls is int:
                value = str(value)
            elif cls is not str or not value:
                return missing
            return details[bisect_right(bounds, (hash32(salt + value, 0, False) * units) >> 32)]

        return split


@lru_cache(maxsize=256)
def _missing(attribute: str) -> Detail:
    return error_detail(
        ErrorKind.TARGETING_KEY_MISSING,
        f"the rollout buckets by {attribute!r}, which the context lacks",
    )


def _served(
    flag: Flag, variation: str | None, reason: Reason, rule_id: str | None = None, **extra: Any
) -> Detail:
    value = None if variation is None else flag.variations[variation]
    return EvaluationDetail(value, variation, reason, rule_id, **extra)


class CompiledRule:
    __slots__ = ("fixed", "rollout", "rule")

    def __init__(self, flag: Flag, index: int) -> None:
        self.rule = flag.rules[index]
        self.fixed, self.rollout = _compile_serve(
            flag, self.rule.serve, Reason.TARGETING_MATCH, self.rule.id
        )

    def predicates(self) -> list[Predicate]:
        """The rule's clauses as closures, the reference semantics (built on demand)."""
        return [compile_clause(c) for c in self.rule.clauses]


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
        self.accepts = _TYPE_CHECKS[flag.type]
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
        return flag_function(self, _NOT_ON)


def own_copy(detail: Detail) -> Detail:
    """A detail whose JSON value is the caller's own, so that changing it changes
    neither the flag nor another caller's result."""
    if detail.value is None:
        return detail
    return replace(detail, value=copy.deepcopy(detail.value))


def _copying(function: FlagFunction) -> FlagFunction:
    return lambda ctx, env: own_copy(function(ctx, env))


def _is_bool(v: Any) -> bool:
    return v.__class__ is bool


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and v.__class__ is not bool


def _is_json(v: Any) -> bool:
    return isinstance(v, dict | list)


#: Whether a caller's default is of a flag's type.
_TYPE_CHECKS: dict[VariationType, Callable[[Any], bool]] = {
    VariationType.BOOLEAN: _is_bool,
    VariationType.STRING: _is_str,
    VariationType.NUMBER: _is_number,
    VariationType.JSON: _is_json,
}

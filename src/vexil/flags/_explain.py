"""Explaining an evaluation: which targets, rules and clauses were checked, and why.

The walk uses the very predicates and rollouts the compiled flag evaluates with,
so an explanation cannot disagree with an evaluation. It is slower than
``evaluate`` and meant for people: the CLI, the dashboard, debug logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ._bucketing import bucket, bucket_value
from ._clauses import getter
from ._compile import CompiledFlag, CompiledRollout, Env, own_copy
from ._detail import EvaluationDetail, Reason
from ._model import Clause, Operator, VariationType

Detail = EvaluationDetail[Any]


@dataclass(frozen=True, slots=True)
class Step:
    """One check made while evaluating; ``matched`` is None for plain statements."""

    kind: str
    message: str
    matched: bool | None = None

    def __str__(self) -> str:
        mark = {True: "[x]", False: "[ ]", None: "   "}[self.matched]
        return f"{mark} {self.message}"


@dataclass(frozen=True, slots=True)
class Explanation:
    flag_key: str
    detail: EvaluationDetail[Any]
    steps: tuple[Step, ...] = ()
    #: The context's bucket in ``[0, 100000)`` when a rollout decided.
    bucket: int | None = field(default=None)

    def __str__(self) -> str:
        d = self.detail
        head = f"{self.flag_key} -> {d.value!r} (variant {d.variant}, reason {d.reason}"
        head += f", rule {d.rule_id})" if d.rule_id else ")"
        if d.error:
            head += f" error {d.error}: {d.error_message}"
        return "\n".join([head, *(f"  {s}" for s in self.steps)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "flag": self.flag_key,
            "detail": self.detail.to_dict(),
            "steps": [
                {"kind": s.kind, "message": s.message, "matched": s.matched} for s in self.steps
            ],
            "bucket": self.bucket,
        }


class _Walk:
    def __init__(self, compiled: CompiledFlag, ctx: Mapping[str, Any], env: Env) -> None:
        self.compiled, self.ctx, self.env = compiled, ctx, env
        self.steps: list[Step] = []
        self.bucket: int | None = None

    def step(self, kind: str, message: str, matched: bool | None = None) -> None:
        self.steps.append(Step(kind, message, matched))

    def run(self) -> EvaluationDetail[Any]:
        c, flag = self.compiled, self.compiled.flag
        if not flag.on:
            self.step("flag", f"the flag is off: serves its off variation {flag.off_variation!r}")
            return c.off
        self.step("flag", "the flag is on")
        for key, required, failed in c.prerequisites:
            got = self.env.compiled_flags[key].evaluate(self.ctx, self.env)
            ok = got.variant == required and got.reason not in (
                Reason.DISABLED,
                Reason.PREREQUISITE_FAILED,
                Reason.ERROR,
            )
            self.step(
                "prerequisite",
                f"prerequisite {key!r} served {got.variant!r} ({got.reason});"
                f" requires {required!r}",
                ok,
            )
            if not ok:
                return failed
        found = self._target()
        if found is not None:
            return found
        for rule, model in zip(c.rules, flag.rules, strict=True):
            if self._rule_matches(rule.predicates(), model.clauses, model.id):
                return self._split(rule.rollout) if rule.rollout else cast(Detail, rule.fixed)
        self.step("default", "no target or rule matched: the default serve applies")
        if c.default_rollout is not None:
            return self._split(c.default_rollout)
        assert c.default_fixed is not None
        return c.default_fixed

    def _target(self) -> EvaluationDetail[Any] | None:
        if not self.compiled.targets:
            return None
        key = self.ctx.get("key")
        hit = self.compiled.targets.get(key) if isinstance(key, str) else None
        message = (
            f"context key {key!r} is individually targeted"
            if hit
            else (f"context key {key!r} is not individually targeted")
        )
        self.step("target", message + (f" to {hit.variant!r}" if hit else ""), hit is not None)
        return hit

    def _rule_matches(
        self, predicates: list[Any], clauses: tuple[Clause, ...], rule_id: str
    ) -> bool:
        for predicate, clause in zip(predicates, clauses, strict=True):
            ok = bool(predicate(self.ctx, self.env))
            self.step("clause", f"rule {rule_id!r}: {_describe(clause, self.ctx)}", ok)
            if not ok:
                self.step("rule", f"rule {rule_id!r} does not match", False)
                return False
        self.step("rule", f"rule {rule_id!r} matches", True)
        return True

    def _split(self, rollout: CompiledRollout) -> EvaluationDetail[Any]:
        detail = rollout.split(self.ctx)
        value = bucket_value(rollout.get(self.ctx))
        by = rollout.rollout.bucket_by
        if value is None:
            self.step("rollout", f"the rollout buckets by {by!r}, which the context lacks", False)
            return detail
        self.bucket = bucket(rollout.salt[:-1], value)
        weights = ", ".join(f"{s.variation} {s.weight / 1000:g}%" for s in rollout.rollout.slices)
        self.step(
            "rollout",
            f"rollout ({weights}) by {by!r}:"
            f" bucket {self.bucket / 1000:.3f}% -> {detail.variant!r}",
            True,
        )
        return detail


def _describe(clause: Clause, ctx: Mapping[str, Any]) -> str:
    if clause.op is Operator.SEGMENT:
        what = "in segment" if len(clause.values) == 1 else "in one of the segments"
        names = ", ".join(repr(v) for v in clause.values)
        return f"context {'not ' if clause.negate else ''}{what} {names}"
    actual = getter(clause.attribute)(ctx)
    shown = "is missing" if actual is None else f"is {actual!r}"
    values = "" if clause.op is Operator.EXISTS else " " + ", ".join(repr(v) for v in clause.values)
    test = f"{clause.attribute} {'not ' if clause.negate else ''}{clause.op}{values}"
    return f"{test} ({clause.attribute} {shown})"


def explain_flag(compiled: CompiledFlag, ctx: Mapping[str, Any], env: Env) -> Explanation:
    walk = _Walk(compiled, ctx, env)
    detail = walk.run()
    if compiled.flag.type is VariationType.JSON:
        detail = own_copy(detail)  # as evaluation does
    return Explanation(compiled.flag.key, detail, tuple(walk.steps), walk.bucket)

"""Generates the evaluation function of a flag as Python source, compiled once per shape.

A flag's targets and rules become one function of straight-line ``if`` tests,
so evaluating costs one call plus the comparisons themselves, and a flag holds
one function instead of a closure per clause. Literal values never appear in
the generated source: each is bound as a default argument (``c0``, ``c1``, ...),
so no flag content can inject code, and every flag of the same *shape* (the same
sequence of tests and serves) shares one compiled code object. Default arguments
rather than closure variables: they are read as fast locals, and a flag's values
are held in one tuple rather than one cell object each.

The closures of ``_clauses.compile_clause`` remain the reference semantics:
``explain`` walks them, and the tests check the two never disagree. A clause
this module has no template for is evaluated by calling that closure.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from types import CodeType, FunctionType
from typing import TYPE_CHECKING, Any

from ._clauses import compile_clause
from ._model import Clause, Operator
from ._operators import SPECS, compile_test, lookup

if TYPE_CHECKING:
    from ._compile import CompiledFlag, CompiledRollout, FlagFunction


# The slow paths of the string templates below: a str subclass (a StrEnum, say),
# a list (any element may match), or anything else (no match).


def _in(v: Any, strings: Any) -> bool:
    if isinstance(v, str):
        return v in strings
    if v.__class__ is list:
        for item in v:
            if isinstance(item, str) and item in strings:
                return True
    return False


def _any_string(test: Callable[[str, tuple[str, ...]], bool]) -> Callable[[Any, Any], bool]:
    def helper(v: Any, literals: tuple[str, ...]) -> bool:
        if isinstance(v, str):
            return test(v, literals)
        if v.__class__ is list:
            for item in v:
                if isinstance(item, str) and test(item, literals):
                    return True
        return False

    return helper


_HELPERS = {
    "_in": _in,
    "_prefixed": _any_string(str.startswith),
    "_suffixed": _any_string(str.endswith),
}

# Templates for a clause on a top-level attribute, not negated, with string
# literals: a plain str is tested inline, anything else by the helper above.
# {a} is the attribute's name, {s} the literals.
_STRING_TEMPLATES = {
    Operator.IN: "(v in {s} if (v := get({a})).__class__ is str else _in(v, {s}))",
    Operator.STARTS_WITH: "(v.startswith({s}) if (v := get({a})).__class__ is str"
    " else _prefixed(v, {s}))",
    Operator.ENDS_WITH: "(v.endswith({s}) if (v := get({a})).__class__ is str"
    " else _suffixed(v, {s}))",
}
# Operators without a test of one value (exists, segment) are compiled as whole clauses.
_NOT_INLINE = frozenset(op for op, spec in SPECS.items() if spec.test is None)
_IN = Operator.IN


def _all_strings(values: tuple[Any, ...]) -> bool:
    for v in values:
        if v.__class__ is not str:
            return False
    return True


_GENERAL_TEMPLATE = "(any(map({t}, v)) if (v := get({a})).__class__ is list else {t}(v))"


class _Source:
    """Collects the lines of one flag's function and the values they refer to."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.lines: list[str] = []

    def const(self, value: Any) -> str:
        self.values.append(value)
        return f"c{len(self.values) - 1}"

    def clause(self, clause: Clause) -> str:
        op, values = clause.op, clause.values
        if op in _NOT_INLINE or clause.negate or "." in clause.attribute:
            return f"{self.const(compile_clause(clause))}(ctx, env)"
        a = self.const(clause.attribute)
        template = _STRING_TEMPLATES.get(op)
        if template is not None and _all_strings(values):
            return template.format(a=a, s=self.const(lookup(values) if op is _IN else values))
        return _GENERAL_TEMPLATE.format(a=a, t=self.const(compile_test(op, values)))

    def serve(self, fixed: Any, rollout: CompiledRollout | None) -> str:
        if rollout is not None:
            return f"{self.const(rollout.split)}(ctx)"
        return self.const(fixed)


def flag_function(compiled: CompiledFlag, not_on: frozenset[Any]) -> FlagFunction:
    """The evaluation function of an enabled, non-static flag."""
    src = _Source()
    emit = src.lines.append
    if compiled.prerequisites:
        emit("flags = env.compiled_flags")
        emit(f"for key, required, failed in {src.const(tuple(compiled.prerequisites))}:")
        emit("    got = flags[key].evaluate(ctx, env)")
        emit(f"    if got.variant != required or got.reason in {src.const(not_on)}:")
        emit("        return failed")
    emit("get = ctx.get")
    if compiled.targets:
        emit('v = get("key")')
        emit(
            f"if isinstance(v, str) and (hit := {src.const(compiled.targets)}.get(v)) is not None:"
        )
        emit("    return hit")
    for rule in compiled.rules:
        tests = [src.clause(c) for c in rule.rule.clauses] or ["True"]
        emit(f"if {' and '.join(tests)}:")
        emit(f"    return {src.serve(rule.fixed, rule.rollout)}")
    emit(f"return {src.serve(compiled.default_fixed, compiled.default_rollout)}")
    return generated_function(src.lines, src.values, "<vexil flag>")


def generated_function(lines: list[str], values: list[Any], filename: str) -> FlagFunction:
    """``def evaluate(ctx, env, c0=values[0], ...)`` with ``lines`` as its body."""
    params = "".join(f", c{i}=None" for i in range(len(values)))
    body = "".join(f"    {line}\n" for line in lines)
    code, namespace = _compiled(f"def evaluate(ctx, env{params}):\n{body}", filename)
    function: FlagFunction = FunctionType(code, namespace, "evaluate", tuple(values))
    return function


@lru_cache(maxsize=4096)
def _compiled(source: str, filename: str) -> tuple[CodeType, dict[str, Any]]:
    """The code object of a generated function (shared by flags of one shape), and the
    globals it runs with.

    The source comes only from fixed templates (this module's and ``_flagd``'s); flag
    content is never in it.
    """
    namespace: dict[str, Any] = dict(_HELPERS)
    exec(compile(source, filename, "exec"), namespace)
    code: CodeType = namespace["evaluate"].__code__
    return code, namespace

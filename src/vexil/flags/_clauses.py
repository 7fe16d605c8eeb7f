"""Clauses as closures: the reference semantics of every operator.

Each clause becomes a predicate ``(context, env) -> bool``. Segments evaluate
their rules with these, ``explain`` walks them clause by clause, and the
generated flag functions (``_codegen``) call them for the clauses they have no
inline template for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._model import Clause, Operator
from ._operators import compile_test, lookup

if TYPE_CHECKING:
    from ._compile import Env

Context = Mapping[str, Any]
Predicate = Callable[[Context, "Env"], bool]
Getter = Callable[[Context], Any]


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
    if clause.op is Operator.EXISTS:
        get = getter(clause.attribute)
        if clause.negate:
            return lambda ctx, env: get(ctx) is None
        return lambda ctx, env: get(ctx) is not None
    if "." not in clause.attribute and not clause.negate:
        fast = _string_clause(clause)
        if fast is not None:
            return fast
        return _top_level_clause(clause.attribute, compile_test(clause.op, clause.values))
    test = compile_test(clause.op, clause.values)

    get, negate = getter(clause.attribute), clause.negate

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


def _string_clause(clause: Clause) -> Predicate | None:
    """One call per clause for the most common tests of a string attribute.

    Strings take the inline path; any other value (a list, a number, nothing)
    goes through the general ``test``, so the result is the same either way.
    """
    name, values = clause.attribute, clause.values
    if not all(v.__class__ is str for v in values):
        return None
    # With only string literals, a value that is neither a string nor a list
    # cannot match.
    if clause.op is Operator.IN:
        strings = lookup(values)
        test: Callable[[Any], bool] = lambda v: v.__class__ is str and v in strings  # noqa: E731

        def is_in(ctx: Context, env: Env) -> bool:
            value = ctx.get(name)
            if value.__class__ is str:
                return value in strings
            return value.__class__ is list and any(map(test, value))

        return is_in
    if clause.op in (Operator.STARTS_WITH, Operator.ENDS_WITH):
        affixes = tuple(values)
        method = str.startswith if clause.op is Operator.STARTS_WITH else str.endswith
        test = lambda v: v.__class__ is str and method(v, affixes)  # noqa: E731

        def affixed(ctx: Context, env: Env) -> bool:
            value = ctx.get(name)
            if value.__class__ is str:
                return method(value, affixes)
            return value.__class__ is list and any(map(test, value))

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

"""Clauses as closures: the reference semantics of every operator.

Each clause becomes a predicate ``(context, env) -> bool``, kept as plain as
possible: this is the reference of what every operator means. Segments evaluate
their rules with these, ``explain`` walks them clause by clause, and the
generated flag functions (``_codegen``) call them for the clauses they have no
inline template for; the tests check the generated code against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._model import Clause, Operator
from ._operators import compile_test

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
    """The clause as a predicate ``(context, env) -> bool``."""
    if clause.op is Operator.SEGMENT:
        return _segment_clause(clause.values, clause.negate)
    if clause.op is Operator.EXISTS:
        get = getter(clause.attribute)
        if clause.negate:
            return lambda ctx, env: get(ctx) is None
        return lambda ctx, env: get(ctx) is not None
    test = compile_test(clause.op, clause.values)
    if "." not in clause.attribute and not clause.negate:
        return _top_level_clause(clause.attribute, test)
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

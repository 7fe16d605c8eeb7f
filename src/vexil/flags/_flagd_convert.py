"""Converting between flagd flag-definition documents and Vexil's flags.

``flagd_to_vexil(data)`` turns a flagd document into Vexil flag documents (one per
flag, shared fields and targeting together); ``vexil_to_flagd(document)`` turns the
flags and segments of one Vexil environment into a flagd document. The server's
import and export (``vexil import flagd``, ``vexil export flagd`` and their API
endpoints) are built on these two.

Both directions keep evaluations the same, or refuse: whatever cannot be expressed
on the other side is reported with the flag and the path of the field, never
approximated in silence. The differences that remain are those of the two
languages' value conversions, which no document can bridge (see
``docs/openfeature.md``):

- a context attribute holding a list: Vexil's clauses match when any element
  matches, JsonLogic compares the list as a whole;
- text compared with a number or a boolean (``"17" < 18``, ``"1" == true``):
  JsonLogic converts the text, Vexil's operators compare values of one type;
- a number compared as a version: flagd's ``sem_ver`` reads ``2`` as ``2.0.0``,
  Vexil's version operators read text only;
- percentage rollouts: flagd and Vexil hash contexts differently, so a converted
  rollout keeps its split but places people anew.

The import warns about the second and third on the flags whose conditions they can
affect, and about rollouts on every flag with one; lists can meet any clause, so they
are only documented.

flagd to Vexil
--------------
A flag's ``if`` chain becomes ordered rules, its final ``else`` (or the default
variant) the default serve. Conditions are rewritten into Vexil's form, an "or" of
rules each an "and" of clauses, with JsonLogic's meaning kept exactly: a test of a
missing attribute is false in Vexil even when negated, and true in JsonLogic when
negated, so ``country != "US"`` becomes two rules (``country`` is missing; ``country``
not in ``[US]``). Leading branches that test the targeting key against a list become
individual targets. ``fractional`` becomes a rollout, its weights normalised to
0.001 %. A branch that returns ``null`` serves the default variant (without one, the
rules after it leave out the contexts it caught, which get the caller's default).

Vexil to flagd
--------------
Targets become ``in`` tests of ``targetingKey``, rules the branches of one ``if``
chain, clauses the matching JsonLogic (negations guarded so that a missing attribute
still never matches), segments ``$evaluators`` named ``segment:KEY``, rollouts
``fractional`` splits. Prerequisites, regular expressions (``matches``) and dates
(``before``, ``after``) have no flagd form: such flags are refused, or left out with
``skip_unsupported=True``. flagd has no off variation: an off flag is exported as what
it serves, its targeting left in Vexil.
"""

from __future__ import annotations

import copy
import math
import operator
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import Problem, ValidationError
from ._flagd import FlagdFlag, parse_flagd, parse_flagd_flag
from ._graph import segment_refs
from ._jsonlogic import LogicError, compile_logic, is_truthy, js_string, to_number
from ._model import (
    WEIGHT_UNITS,
    Clause,
    Document,
    Flag,
    Rollout,
    Segment,
)
from ._operators import SPECS, ValueKind, any_of
from ._parse import KEY_RE, parse_document, parse_flag
from ._values import is_number, semver_key

__all__ = [
    "FLAGD_SCHEMA",
    "MAX_RULES",
    "MAX_TERMS",
    "SEGMENT_EVALUATOR",
    "Exported",
    "Imported",
    "flagd_to_vexil",
    "vexil_to_flagd",
]

#: The ``$schema`` of exported documents.
FLAGD_SCHEMA = "https://flagd.dev/schema/v0/flags.json"
#: The most rules one imported flag may expand into.
MAX_RULES = 200
#: The most alternatives ("or") one condition may expand into.
MAX_TERMS = 64
#: The prefix of the ``$evaluators`` that exported segments become.
SEGMENT_EVALUATOR = "segment:"

_TARGETING_KEY = "targetingKey"


@dataclass(frozen=True)
class Imported:
    """A flagd document as Vexil flags.

    ``flags`` maps each key (in the document's order) to a Vexil flag document: the
    shared fields ``type``, ``variations`` and ``metadata`` and the targeting ``on``,
    ``off_variation``, ``default``, ``targets`` and ``rules``. ``warnings`` say where
    evaluations may still differ (rollouts, value conversions).
    """

    flags: dict[str, dict[str, Any]]
    warnings: tuple[Problem, ...] = ()

    def document(self) -> dict[str, Any]:
        """The flags as one Vexil document (without segments)."""
        return {"version": 1, "flags": copy.deepcopy(self.flags)}


@dataclass(frozen=True)
class Exported:
    """A Vexil environment as a flagd document.

    ``skipped`` maps each flag left out (with ``skip_unsupported``) to why;
    ``warnings`` say where evaluations may differ (rollouts, off flags).
    """

    document: dict[str, Any]
    skipped: dict[str, tuple[Problem, ...]] = field(default_factory=dict)
    warnings: tuple[Problem, ...] = ()


class _Refused(Exception):
    """Something that cannot be converted, at ``path``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.problem = Problem(path, message)


# ====================================================================== conditions
#
# A condition is kept in disjunctive normal form: a list of alternatives, each a
# tuple of literals that must all hold. ``[]`` is false, ``[()]`` is true. Each
# alternative becomes one Vexil rule, each literal one clause.


class _Lit:
    """One Vexil clause: ``attribute op values``, possibly negated.

    Compared by a key that tells booleans from numbers (``True == 1`` in Python, but
    ``in [true]`` and ``in [1]`` are different clauses).
    """

    __slots__ = ("attribute", "key", "negate", "op", "values")

    def __init__(
        self, attribute: str, op: str, values: Iterable[Any] = (), negate: bool = False
    ) -> None:
        self.attribute = attribute
        self.op = op
        self.values: tuple[Any, ...] = _unique(values)
        self.negate = negate
        self.key = (attribute, op, tuple(_typed(v) for v in self.values), negate)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Lit) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"_Lit{self.key!r}"

    @property
    def is_missing(self) -> bool:
        return self.op == "exists" and self.negate

    @property
    def is_present(self) -> bool:
        return self.op == "exists" and not self.negate

    def negated(self) -> _Lit:
        return _Lit(self.attribute, self.op, self.values, not self.negate)

    def with_values(self, values: Iterable[Any]) -> _Lit:
        return _Lit(self.attribute, self.op, values, self.negate)

    def clause(self) -> dict[str, Any]:
        out: dict[str, Any] = {"attribute": self.attribute, "op": self.op}
        if self.op != "exists":
            out["values"] = list(self.values)
        if self.negate:
            out["negate"] = True
        return out


def _typed(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def _unique(values: Iterable[Any]) -> tuple[Any, ...]:
    seen: set[tuple[str, Any]] = set()
    out = []
    for v in values:
        if _typed(v) not in seen:
            seen.add(_typed(v))
            out.append(v)
    return tuple(out)


Conj = tuple[_Lit, ...]
DNF = list[Conj]
TRUE: DNF = [()]
FALSE: DNF = []


def _missing(attribute: str) -> _Lit:
    return _Lit(attribute, "exists", negate=True)


def _normal(conj: Iterable[_Lit]) -> Conj | None:
    """The alternative simplified, or None when it can never hold.

    "x is missing" contradicts any other test of x (every other clause needs x);
    "x exists" is implied by any test of x; negated tests of one attribute with one
    operator merge ("not in A" and "not in B" is "not in A or B").
    """
    lits: list[_Lit] = []
    for lit in conj:
        if lit not in lits:
            lits.append(lit)
    by_attribute: dict[str, list[_Lit]] = {}
    for lit in lits:
        by_attribute.setdefault(lit.attribute, []).append(lit)
    out: list[_Lit] = []
    for group in by_attribute.values():
        if any(lit.is_missing for lit in group):
            if len(group) > 1:
                return None
            out.append(group[0])
            continue
        tests = [lit for lit in group if not lit.is_present]
        if not tests:
            out.append(group[0])
            continue
        merged: dict[str, _Lit] = {}
        kept: list[_Lit] = []
        for lit in tests:
            if lit.negate and lit.op in merged:
                merged[lit.op] = merged[lit.op].with_values(merged[lit.op].values + lit.values)
            elif lit.negate:
                merged[lit.op] = lit
                kept.append(lit)
            else:
                kept.append(lit)
        final = [merged[lit.op] if lit.negate else lit for lit in kept]
        positives = {lit.key for lit in final if not lit.negate}
        if any(lit.negated().key in positives for lit in final if lit.negate):
            return None  # x in A and not (x in A)
        out.extend(final)
    return tuple(out)


def _simplify(dnf: Iterable[Conj], path: str) -> DNF:
    """Duplicates and alternatives implied by others removed; alternatives that differ
    in one test of one attribute merged ("x in A" or "x in B" is "x in A or B")."""
    items: list[Conj] = []
    seen: set[frozenset[Any]] = set()
    for conj in dnf:
        keys = frozenset(lit.key for lit in conj)
        if keys not in seen:
            seen.add(keys)
            items.append(conj)
    # "a or (a and b)" is "a": shortest first, each kept unless a kept one implies it.
    sets = [frozenset(lit.key for lit in c) for c in items]
    kept: list[int] = []
    for i in sorted(range(len(items)), key=lambda i: len(items[i])):
        if not any(sets[j] <= sets[i] for j in kept):
            kept.append(i)
    items = [items[i] for i in sorted(kept)]
    merged_any = True
    while merged_any:
        merged_any = False
        i = 0
        while i < len(items):
            j = i + 1
            while j < len(items):
                merged = _merge_alternatives(items[i], items[j])
                if merged is None:
                    j += 1
                else:
                    items[i] = merged
                    del items[j]
                    merged_any = True
            i += 1
    if len(items) > MAX_TERMS:
        raise _Refused(
            path, f"the condition expands into more than {MAX_TERMS} alternatives (rules)"
        )
    return items


def _merge_alternatives(a: Conj, b: Conj) -> Conj | None:
    if len(a) != len(b):
        return None
    only_a = [lit for lit in a if lit not in b]
    only_b = [lit for lit in b if lit not in a]
    if len(only_a) != 1 or len(only_b) != 1:
        return None
    x, y = only_a[0], only_b[0]
    if x.negate or y.negate or x.op != y.op or x.attribute != y.attribute or x.op == "exists":
        return None
    merged = x.with_values(x.values + y.values)
    return tuple(merged if lit is x else lit for lit in a)


def _and(a: DNF, b: DNF, path: str) -> DNF:
    out = []
    for x in a:
        for y in b:
            conj = _normal(x + y)
            if conj is not None:
                out.append(conj)
        if len(out) > MAX_TERMS * 8:
            raise _Refused(
                path, f"the condition expands into more than {MAX_TERMS} alternatives (rules)"
            )
    return _simplify(out, path)


def _or(a: DNF, b: DNF, path: str) -> DNF:
    return _simplify(a + b, path)


def _negate_lit(lit: _Lit) -> DNF:
    if lit.op == "exists":
        return [(lit.negated(),)]
    # A test needs its attribute: "not (x in A)" holds when x is missing, or present
    # and not in A (which is what a negated Vexil clause means).
    return [(_missing(lit.attribute),), (lit.negated(),)]


def _not(dnf: DNF, path: str) -> DNF:
    out = TRUE
    for conj in dnf:
        alternatives: DNF = []
        for lit in conj:
            alternatives = _or(alternatives, _negate_lit(lit), path)
        out = _and(out, alternatives, path)
    return out


# ======================================================================== import


_NULL: Any = object()  # a branch that returns null: the default variant


@dataclass(frozen=True)
class _Split:
    slices: tuple[tuple[str, int], ...]  # variation, units of 0.001 %
    bucket_by: str
    seed: str | None
    exact: bool

    def serve(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rollout": [{"variation": v, "weight": _percent(u)} for v, u in self.slices]
        }
        if self.bucket_by != "key":
            out["bucket_by"] = self.bucket_by
        if self.seed is not None:
            out["seed"] = self.seed
        return out


Outcome = Any  # a variant name, a _Split, or _NULL
Entry = tuple[DNF, Outcome, str]

_NUMBERS, _VERSIONS = ValueKind.NUMBERS, ValueKind.VERSIONS
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
#: The Vexil operator a comparison of flagd's becomes (the flagd form of the operators).
_NUMBER_OPS = {s.flagd_symbol: op.value for op, s in SPECS.items() if s.values is _NUMBERS}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
#: sem_ver's comparisons with their operands swapped.
_SEMVER_FLIP = {**_FLIP, "=": "=", "!=": "!=", "~": "~", "^": "^"}
_SEMVER_OPS = {s.flagd_symbol: op.value for op, s in SPECS.items() if s.values is _VERSIONS}

# Warnings, once per flag and kind.
_TEXT_AS_NUMBER = (
    "compares with a number or a boolean: flagd converts text to a number here "
    '("17" < 18, "1" == true), Vexil compares values of one type, so a context holding '
    "such a number as text no longer matches"
)
_NUMBER_AS_VERSION = (
    "compares versions: flagd also reads a number as a version (2 as 2.0.0), "
    "Vexil reads versions from text only"
)
_REASSIGNED = (
    "becomes a percentage rollout with the same split, but Vexil places contexts with "
    "its own hashing: people are assigned anew"
)


class _FlagImport:
    """The conversion of one flagd flag."""

    def __init__(self, flag: FlagdFlag, evaluators: Mapping[str, Any]) -> None:
        self.flag = flag
        self.key = flag.key
        self.evaluators = evaluators
        self.problems: list[Problem] = []
        self.warnings: dict[str, Problem] = {}
        self.targets: dict[str, list[str]] = {}
        self.targeted: set[str] = set()
        #: The Vexil flag document, once converted (None if refused).
        self.result: dict[str, Any] | None = None

    # ------------------------------------------------------------ reading rules

    def warn(self, kind: str, path: str, message: str) -> None:
        if kind not in self.warnings:
            self.warnings[kind] = Problem(path, message)

    def resolve(self, expr: Any, path: str) -> tuple[Any, str]:
        """``expr`` with a ``$ref`` replaced by its evaluator (and that evaluator's path)."""
        for _ in range(64):
            if isinstance(expr, Mapping) and len(expr) == 1 and "$ref" in expr:
                name = expr["$ref"]
                expr, path = self.evaluators[name], f"$evaluators.{name}"
            else:
                return expr, path
        raise _Refused(path, "evaluators refer to each other too deeply")

    def substituted(self, expr: Any, depth: int = 0) -> Any:
        """``expr`` with every ``$ref`` replaced, and ``$flagd.flagKey`` by the key."""
        if depth > 200:
            raise RecursionError("nested too deeply")
        if isinstance(expr, list):
            return [self.substituted(x, depth + 1) for x in expr]
        if isinstance(expr, Mapping):
            if len(expr) == 1 and "$ref" in expr:
                return self.substituted(self.evaluators[expr["$ref"]], depth + 1)
            if len(expr) == 1 and "var" in expr and _var_path(expr["var"]) == "$flagd.flagKey":
                return self.key
            return {k: self.substituted(v, depth + 1) for k, v in expr.items()}
        return expr

    def constant(self, expr: Any, path: str) -> tuple[bool, Any]:
        """Whether ``expr`` has one value whatever the context, and that value.

        Asked of flagd's own engine (``_jsonlogic``), which folds what does not read
        the context: the value is exactly what flagd computes.
        """
        try:
            node = compile_logic(self.substituted(expr), flag_key=self.key, clock=time.time)
        except (LogicError, RecursionError) as exc:
            raise _Refused(path, f"cannot be compiled: {exc}") from None
        return node.const, node.value

    def attribute(self, expr: Any, path: str) -> str | None:
        """The Vexil attribute a plain ``{"var": ...}`` reads, or None for anything else."""
        expr, path = self.resolve(expr, path)
        if not (isinstance(expr, Mapping) and len(expr) == 1 and "var" in expr):
            return None
        arg = expr["var"]
        at = f"{path}.var"
        if isinstance(arg, list):
            if len(arg) > 1 and arg[1] is not None:
                raise _Refused(at, "a var with a default value has no Vexil form")
            arg = arg[0] if arg else ""
        if is_number(arg):
            arg = js_string(arg)
        if not isinstance(arg, str):
            raise _Refused(at, "the attribute's name must be literal text")
        if arg == _TARGETING_KEY:
            return "key"
        if arg == "":
            raise _Refused(at, "reads the whole context, which no Vexil clause tests")
        if arg == "$flagd" or arg.startswith("$flagd."):
            raise _Refused(
                at,
                f"{arg} is the evaluation's own data (such as its time), "
                "which Vexil's clauses do not read",
            )
        parts = arg.split(".")
        if "" in parts:
            raise _Refused(at, f"{arg!r} has an empty part in its path")
        if any(p.isdigit() for p in parts):
            raise _Refused(
                at,
                f"{arg!r} indexes into a list, which Vexil's attribute paths do not",
            )
        return arg

    def operands(
        self, args: list[Any], path: str, op: str, at: tuple[int, int] = (0, 1)
    ) -> tuple[str, Any, bool]:
        """(attribute, literal, attribute first) of a test of an attribute and a literal;
        ``at`` are the two operands' positions among the operation's arguments."""
        a, b = [*args, None, None][:2]
        attr_a = self.attribute(a, f"{path}[{at[0]}]")
        attr_b = self.attribute(b, f"{path}[{at[1]}]")
        if attr_a is not None and attr_b is not None:
            raise _Refused(path, "compares two context attributes, which Vexil's clauses do not")
        if attr_a is None and attr_b is None:
            raise _Refused(
                path,
                f"'{op}' here tests a computed value; Vexil's clauses test one attribute "
                "against literal values",
            )
        attr, other, first = (attr_a, b, True) if attr_a is not None else (attr_b, a, False)
        const, value = self.constant(other, f"{path}[{at[1] if first else at[0]}]")
        if not const:
            raise _Refused(
                path, f"'{op}' compares with a computed value; Vexil compares with literals"
            )
        assert attr is not None
        return attr, value, first

    # --------------------------------------------------------------- conditions

    def cond(self, expr: Any, path: str) -> DNF:
        expr, path = self.resolve(expr, path)
        const, value = self.constant(expr, path)
        if const:
            return TRUE if is_truthy(value) else FALSE
        if not (isinstance(expr, Mapping) and len(expr) == 1):
            raise _Refused(path, "is not a condition Vexil can express")
        ((op, raw),) = expr.items()
        args = list(raw) if isinstance(raw, list) else [raw]
        at = f"{path}.{op}"
        if op == "var":
            attribute = self.attribute(expr, path)
            assert attribute is not None
            return self.truthy(attribute)
        if op == "!":
            return _not(self.cond(args[0] if args else None, f"{at}[0]"), at)
        if op == "!!":
            return self.cond(args[0] if args else None, f"{at}[0]")
        if op in ("and", "or"):
            return self.junction(op, args, at)
        if op in ("==", "===", "!=", "!=="):
            return self.equality(op, args, at)
        if op == "in":
            return self.membership(args, at)
        if op in _COMPARE:
            return self.relation(op, args, at)
        if op in ("starts_with", "ends_with"):
            attr, value, first = self.operands(args, at, op)
            if not first:
                raise _Refused(
                    at,
                    f"tests whether a text {op.replace('_', ' ', 1)} the attribute; Vexil's "
                    f"'{op}' tests the attribute",
                )
            if len(args) != 2 or not isinstance(value, str):
                return FALSE  # flagd gives null: never true
            return [(_Lit(attr, op, [value]),)]
        if op == "sem_ver":
            return self.semver(args, at)
        if op in ("if", "?:"):
            raise _Refused(at, "an 'if' inside a condition has no Vexil form")
        if op == "fractional":
            raise _Refused(
                at, "a fractional split used as a condition has no Vexil form (serve it instead)"
            )
        raise _Refused(at, f"'{op}' has no Vexil clause")

    def junction(self, op: str, args: list[Any], at: str) -> DNF:
        out = TRUE if op == "and" else FALSE
        for i, arg in enumerate(args):
            part = self.cond(arg, f"{at}[{i}]")
            out = _and(out, part, at) if op == "and" else _or(out, part, at)
        return out

    def truthy(self, attribute: str) -> DNF:
        """JsonLogic's truthiness of an attribute: true, a non-empty text, a non-zero
        number (objects and non-empty lists too, which Vexil cannot tell apart)."""
        return [
            (_Lit(attribute, "in", [True]),),
            (_Lit(attribute, "contains", [""]), _Lit(attribute, "in", [""], negate=True)),
            (_Lit(attribute, "gt", [0]),),
            (_Lit(attribute, "lt", [0]),),
        ]

    def equality(self, op: str, args: list[Any], at: str) -> DNF:
        attr, value, _ = self.operands(args, at, op)
        strict = op in ("===", "!==")
        if value is None:
            dnf: DNF = [(_missing(attr),)]
        elif isinstance(value, list | Mapping):
            raise _Refused(at, "compares with an array or an object, which Vexil's clauses do not")
        elif not isinstance(value, str | bool) and not is_number(value):
            raise _Refused(at, f"compares with {value!r}, which is not a JSON value")
        elif strict:
            dnf = [(_Lit(attr, "in", [value]),)]
        else:
            dnf = [(_Lit(attr, "in", self.loose_values(value, at)),)]
        return _not(dnf, at) if op in ("!=", "!==") else dnf

    def loose_values(self, value: Any, at: str) -> list[Any]:
        """The values JavaScript's ``==`` finds equal to ``value`` (but text, for a
        number or a boolean: a warning says so)."""
        if isinstance(value, str):
            out: list[Any] = [value]
            number = to_number(value)
            if isinstance(number, float) and math.isfinite(number):
                out.append(int(number) if number.is_integer() else number)
            elif isinstance(number, int):
                out.append(number)
            if number == 0:
                out.append(False)
            elif number == 1:
                out.append(True)
            return out
        self.warn("text", at, _TEXT_AS_NUMBER)
        if isinstance(value, bool):
            return [value, int(value)]
        out = [value]
        if value == 0:
            out.append(False)
        elif value == 1:
            out.append(True)
        return out

    def membership(self, args: list[Any], at: str) -> DNF:
        attr, value, first = self.operands(args, at, "in")
        if first:
            if isinstance(value, str):
                raise _Refused(
                    at,
                    "tests whether the attribute is part of a text, which no Vexil operator "
                    "does; list the accepted values in an array instead",
                )
            if not isinstance(value, list):
                return FALSE  # flagd: never true
            values = []
            dnf: DNF = []
            for i, item in enumerate(value):
                if item is None:
                    dnf.append((_missing(attr),))
                elif isinstance(item, list | Mapping):
                    raise _Refused(f"{at}[1][{i}]", "arrays and objects never equal a value")
                else:
                    values.append(item)
            if values:
                dnf.insert(0, (_Lit(attr, "in", values),))
            return _simplify(dnf, at)
        if isinstance(value, list | Mapping):
            raise _Refused(f"{at}[0]", "only text can be looked for in an attribute")
        text = js_string(value)
        if text == "":
            # flagd finds "" only in a non-empty text; Vexil's contains "" in any text.
            return [(_Lit(attr, "contains", [""]), _Lit(attr, "in", [""], negate=True))]
        return [(_Lit(attr, "contains", [text]),)]

    def relation(self, op: str, args: list[Any], at: str) -> DNF:
        if op in ("<", "<=") and len(args) >= 3:
            left = self.relation(op, args[:2], at)
            right = self.relation(op, args[1:3], at)
            return _and(left, right, at)
        if len(args) < 2:
            return FALSE
        attr, value, first = self.operands(args[:2], at, op)
        if not first:
            op = _FLIP[op]
        if not is_number(value):
            raise _Refused(
                at,
                f"'{op}' compares with {js_string(value)!r}: Vexil's comparisons take numbers "
                "(text is compared by its letters in JsonLogic)",
            )
        self.warn("text", at, _TEXT_AS_NUMBER)
        compare = _COMPARE[op]
        dnf: DNF = [(_Lit(attr, _NUMBER_OPS[op], [value]),)]
        # JsonLogic reads a missing attribute as 0, and booleans as 0 and 1.
        if compare(0, value):
            dnf.append((_missing(attr),))
        booleans = [b for b in (False, True) if compare(int(b), value)]
        if booleans:
            dnf.append((_Lit(attr, "in", booleans),))
        return _simplify(dnf, at)

    def semver(self, args: list[Any], at: str) -> DNF:
        if len(args) != 3:
            return FALSE
        const, op = self.constant(args[1], f"{at}[1]")
        if not const or not isinstance(op, str) or op not in _SEMVER_FLIP:
            raise _Refused(f"{at}[1]", "the comparison must be one of = != < <= > >= ~ ^")
        attr, value, first = self.operands([args[0], args[2]], at, "sem_ver", (0, 2))
        if not first:
            op = _SEMVER_FLIP[op]
        text = value if isinstance(value, str) else js_string(value) if is_number(value) else None
        version = semver_key(text) if text is not None else None
        if text is None or version is None:
            return FALSE  # flagd gives null: never true
        self.warn("version", at, _NUMBER_AS_VERSION)
        major, minor = version[0], version[1]
        if op == "!=":
            return [(_Lit(attr, "semver_lt", [text]),), (_Lit(attr, "semver_gt", [text]),)]
        if op == "~":
            low, high = f"{major}.{minor}.0-0", f"{major}.{minor + 1}.0-0"
        elif op == "^":
            low, high = f"{major}.0.0-0", f"{major + 1}.0.0-0"
        else:
            return [(_Lit(attr, _SEMVER_OPS[op], [text]),)]
        return [(_Lit(attr, "semver_gte", [low]), _Lit(attr, "semver_lt", [high]))]

    # ------------------------------------------------------------------ results

    def variant(self, value: Any, path: str) -> str:
        if isinstance(value, list | Mapping):
            raise _Refused(path, "returns an array or an object, not a variant name")
        name = js_string(value)
        if name not in self.flag.variations:
            variants = ", ".join(self.flag.variations)
            raise _Refused(path, f"returns {name!r}, which is not a variant (variants: {variants})")
        return name

    def results(self, expr: Any, guard: DNF, path: str, label: str) -> list[Entry]:
        """What ``expr`` serves, as (condition, outcome, label) in order of precedence;
        the label is the path of the branch's condition, for the rules' descriptions.

        The last entry's condition is ``guard`` itself: between them, the entries
        cover every context ``guard`` holds for.
        """
        expr, path = self.resolve(expr, path)
        const, value = self.constant(expr, path)
        if const:
            outcome = _NULL if value is None else self.variant(value, path)
            return [(guard, outcome, label)]
        if not (isinstance(expr, Mapping) and len(expr) == 1):
            raise _Refused(path, "is not a variant name, an 'if' or a fractional split")
        ((op, raw),) = expr.items()
        args = list(raw) if isinstance(raw, list) else [raw]
        at = f"{path}.{op}"
        if op in ("if", "?:"):
            return self.chain(args, 0, guard, at)
        if op == "fractional":
            return self.fractional(args, guard, at, label)
        if op == "var":
            raise _Refused(
                at, "the variant's name is read from the context, which Vexil's flags do not do"
            )
        if op in ("==", "===", "!=", "!==", "in", "<", "<=", ">", ">=", "!", "!!", "and", "or"):
            raise _Refused(
                at,
                "the targeting returns the condition's own value; write it as "
                '{"if": [condition, "variant", "other-variant"]}',
            )
        if op in ("starts_with", "ends_with", "sem_ver"):
            raise _Refused(
                at,
                "the targeting returns the test's own value; write it as "
                '{"if": [test, "variant", "other-variant"]}',
            )
        raise _Refused(at, f"'{op}' computes the variant from the context, which Vexil cannot")

    def chain(self, args: list[Any], start: int, guard: DNF, at: str) -> list[Entry]:
        entries: list[Entry] = []
        if len(args) - start == 0:
            return [(guard, _NULL, at)]  # no branch (left): null
        i = start
        while i + 1 < len(args):
            try:
                condition = self.cond(args[i], f"{at}[{i}]")
            except _Refused as exc:
                self.problems.append(exc.problem)
                condition = FALSE
            branch = _and(guard, condition, f"{at}[{i}]")
            if branch:
                try:
                    entries.extend(
                        self.results(args[i + 1], branch, f"{at}[{i + 1}]", f"{at}[{i}]")
                    )
                except _Refused as exc:
                    self.problems.append(exc.problem)
            if condition == TRUE:
                return entries  # what follows can never be reached
            i += 2
        if i < len(args):
            entries.extend(self.results(args[i], guard, f"{at}[{i}]", f"{at}[{i}]"))
        else:
            entries.append((guard, _NULL, at))
        return entries

    def fractional(self, args: list[Any], guard: DNF, at: str, label: str) -> list[Entry]:
        if not args:
            return [(guard, _NULL, at)]
        seed: str | None = None
        if isinstance(args[0], list):  # flagd's short form: the targeting key
            bucket_by, buckets, offset, nullable = "key", args, 0, True
        else:
            bucket_by, seed, nullable = self.bucketing(args[0], f"{at}[0]")
            buckets, offset = args[1:], 1
        weights: dict[str, int] = {}
        for i, bucket in enumerate(buckets):
            bpath = f"{at}[{i + offset}]"
            const, value = self.constant(bucket, bpath)
            if not const:
                raise _Refused(bpath, "a bucket computed from the context has no Vexil form")
            name = self.variant(value[0], f"{bpath}[0]")
            weight = value[1] if len(value) > 1 else 1
            units = max(math.floor(weight), 0) if is_number(weight) else 0
            weights[name] = weights.get(name, 0) + int(units)
        split = _normalise(weights, bucket_by, seed)
        self.warn(
            "rollout",
            at,
            _REASSIGNED + ("" if split.exact else "; the weights are rounded to Vexil's 0.001 %"),
        )
        default = self.flag.default_variant
        entries: list[Entry] = []
        if default is not None and nullable:
            # flagd serves the default variant to a context it cannot place (no
            # bucketing value); a Vexil rollout would give the caller's default.
            entries.append((_and(guard, [(_missing(bucket_by),)], at), default, label))
        entries.append((guard, split, label))
        return entries

    def bucketing(self, expr: Any, path: str) -> tuple[str, str | None, bool]:
        """The attribute and seed a fractional split buckets by, and whether flagd
        places no context without that attribute (a plain var: null, the default
        variant) rather than all of them together (a ``cat``: text all the same)."""
        attribute = self.attribute(expr, path)
        if attribute is not None:
            return attribute, None, True
        expr, path = self.resolve(expr, path)
        if isinstance(expr, Mapping) and len(expr) == 1 and "cat" in expr:
            parts = expr["cat"]
            if isinstance(parts, list) and len(parts) == 2:
                const, seed = self.constant(parts[0], f"{path}.cat[0]")
                attribute = self.attribute(parts[1], f"{path}.cat[1]")
                if const and isinstance(seed, str) and attribute is not None:
                    # flagd's usual form: the flag's key then the attribute, which is
                    # what Vexil does without a seed.
                    return attribute, None if seed == self.key else seed, False
        raise _Refused(
            path,
            "Vexil buckets by one attribute, optionally with a seed: use "
            '{"var": "attribute"} or {"cat": ["seed", {"var": "attribute"}]}',
        )

    # ------------------------------------------------------------------ targets

    def peel_targets(self, args: list[Any], at: str) -> int:
        """Leading branches that test the targeting key against keys become targets;
        the index of the first branch left for rules."""
        i = 0
        while i + 1 < len(args):
            keys = self.key_list(args[i], f"{at}[{i}]")
            if keys is None:
                return i
            try:
                const, value = self.constant(args[i + 1], f"{at}[{i + 1}]")
            except _Refused:
                return i
            if not const or value is None or isinstance(value, list | Mapping):
                return i
            name = js_string(value)
            if name not in self.flag.variations:
                return i
            for key in keys:
                if key not in self.targeted:  # the first branch that names a key wins
                    self.targeted.add(key)
                    self.targets.setdefault(name, []).append(key)
            i += 2
        return i

    def key_list(self, expr: Any, path: str) -> list[str] | None:
        expr, path = self.resolve(expr, path)
        if not (isinstance(expr, Mapping) and len(expr) == 1):
            return None
        ((op, args),) = expr.items()
        if not isinstance(args, list) or len(args) != 2 or op not in ("in", "==", "==="):
            return None
        try:
            attr, value, first = self.operands(args, f"{path}.{op}", op)
        except _Refused:
            return None
        if attr != "key":
            return None
        if op == "in" and first and isinstance(value, list) and value:
            if all(isinstance(v, str) for v in value):
                return list(value)
            return None
        if op != "in" and isinstance(value, str):
            number = to_number(value)
            if op == "==" and not (isinstance(number, float) and math.isnan(number)):
                return None  # loose equality would also match a number
            return [value]
        return None

    # ------------------------------------------------------------------- a flag

    def convert(self) -> dict[str, Any] | None:
        flag = self.flag
        path = f"flags.{self.key}"
        if not KEY_RE.match(self.key):
            self.problems.append(
                Problem(
                    path,
                    "Vexil's flag keys are 1-200 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit",
                )
            )
        for name in flag.variations:
            if not name.strip() or len(name) > 100:
                self.problems.append(
                    Problem(
                        f"{path}.variants.{name}",
                        "Vexil's variation names are 1 to 100 characters, not only spaces",
                    )
                )
        if self.problems:
            return None
        entries: list[Entry] = []
        top = f"{path}.targeting"
        rule = flag.targeting
        try:
            if rule is None or (isinstance(rule, Mapping) and not rule):
                entries = [(TRUE, _NULL, top)]
            else:
                expr, at = self.resolve(rule, top)
                chain = expr.get("if", expr.get("?:")) if _is_operation(expr) else None
                if chain is not None:
                    op = next(iter(expr))
                    args = list(chain) if isinstance(chain, list) else [chain]
                    start = self.peel_targets(args, f"{at}.{op}")
                    entries = self.chain(args, start, TRUE, f"{at}.{op}")
                else:
                    entries = self.results(rule, TRUE, top, top)
        except _Refused as exc:
            self.problems.append(exc.problem)
        if self.problems:
            return None
        try:
            default, rules = self.rules(entries, top)
        except _Refused as exc:
            self.problems.append(exc.problem)
            return None
        out: dict[str, Any] = {
            "type": flag.type.value,
            "variations": copy.deepcopy(dict(flag.variations)),
            "metadata": dict(flag.metadata),
            "on": flag.on,
        }
        # flagd has no off variation: a DISABLED flag gives the caller's default, as a
        # Vexil flag without one does; an enabled flag would serve its default variant
        # when turned off in Vexil.
        if flag.on and flag.default_variant is not None:
            out["off_variation"] = flag.default_variant
        if default is not None:
            out["default"] = default
        if self.targets:
            out["targets"] = self.targets
        if rules:
            out["rules"] = rules
        try:
            parse_flag(self.key, out)
        except ValidationError as exc:
            self.problems.extend(exc.problems)
            return None
        return out

    def rules(self, entries: list[Entry], top: str) -> tuple[Any, list[dict[str, Any]]]:
        """The default serve and the rules of the entries, in order."""
        default_variant = self.flag.default_variant
        rules: list[dict[str, Any]] = []
        blocked: DNF = FALSE  # contexts that stop at a null branch with no default variant
        default: Any = None
        for condition, outcome, path in entries:
            if blocked:
                condition = _and(condition, _not(blocked, path), path)
            if outcome is _NULL:
                if default_variant is None:
                    if condition == TRUE:
                        break
                    blocked = _or(blocked, condition, path)
                    continue
                outcome = default_variant
            serve = outcome.serve() if isinstance(outcome, _Split) else outcome
            if condition == TRUE:
                default = serve
                break
            # "flagd targeting.if[2]": where the rule comes from, without the flag's key.
            where = "targeting" + path[len(top) :] if path.startswith(top) else path
            for conj in condition:
                rules.append(
                    {
                        "id": f"rule-{len(rules) + 1}",
                        "description": f"flagd {where}",
                        "clauses": [lit.clause() for lit in conj],
                        "serve": copy.deepcopy(serve),
                    }
                )
        if len(rules) > MAX_RULES:
            raise _Refused(
                top, f"the targeting expands into {len(rules)} rules (at most {MAX_RULES})"
            )
        return default, rules


def _is_operation(expr: Any) -> bool:
    """Whether ``expr`` is a JsonLogic operation: an object with one key."""
    return isinstance(expr, Mapping) and len(expr) == 1


def _var_path(arg: Any) -> Any:
    if isinstance(arg, list):
        return arg[0] if len(arg) == 1 or (len(arg) > 1 and arg[1] is None) else None
    return arg


def _normalise(weights: dict[str, int], bucket_by: str, seed: str | None) -> _Split:
    """flagd's relative weights as slices of 0.001 %, by largest remainder."""
    total = sum(weights.values())
    shares = [
        (name, w * WEIGHT_UNITS // total, w * WEIGHT_UNITS % total) for name, w in weights.items()
    ]
    units = {name: q for name, q, _ in shares}
    left = WEIGHT_UNITS - sum(units.values())
    for name, _, _ in sorted(shares, key=lambda s: -s[2])[:left]:
        units[name] += 1
    exact = all(r == 0 for _, _, r in shares)
    return _Split(tuple(units.items()), bucket_by, seed, exact)


def _percent(units: int) -> int | float:
    return units // 1000 if units % 1000 == 0 else units / 1000


def flagd_to_vexil(data: Any) -> Imported:
    """A decoded flagd document as Vexil flag documents.

    Raises ``ValidationError`` listing every problem: the document's own (as
    ``parse_flagd`` reports them, targeting that cannot run included) and everything
    that has no Vexil form, each with its path (``flags.KEY.targeting.if[0].cat``, or
    ``$evaluators.NAME...`` inside an evaluator).
    """
    try:
        doc = parse_flagd(data)
    except ValidationError as exc:
        # Also what the well-formed flags of a malformed document cannot convert,
        # so that one pass shows everything to fix.
        raise ValidationError([*exc.problems, *_problems_of_well_formed(data)]) from None
    flags: dict[str, dict[str, Any]] = {}
    # Targeting that cannot run is refused too (flagd would serve errors for it).
    problems: list[Problem] = list(doc.issues)
    warnings: list[Problem] = []
    for key, flag in doc.flags.items():
        assert isinstance(flag, FlagdFlag)
        if flag.issues:
            continue
        conversion = _convert(flag, doc.evaluators)
        problems.extend(conversion.problems)
        if conversion.result is not None:
            flags[key] = conversion.result
            warnings.extend(conversion.warnings.values())
    if problems:
        raise ValidationError(problems)
    return Imported(flags, tuple(warnings))


def _convert(flag: FlagdFlag, evaluators: Mapping[str, Any]) -> _FlagImport:
    """One flag converted: its ``result`` (None if refused), ``problems`` and ``warnings``."""
    conversion = _FlagImport(flag, evaluators)
    conversion.result = conversion.convert()
    # A problem inside an evaluator says which flag ran into it.
    conversion.problems = [
        p if p.path.startswith("flags.") else Problem(p.path, f"{p.message} (flag {flag.key!r})")
        for p in conversion.problems
    ]
    return conversion


def _problems_of_well_formed(data: Any) -> list[Problem]:
    """The conversion problems of each flag of a malformed document that reads on its
    own (with the document's evaluators, when they read too)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("flags"), Mapping):
        return []
    evaluators = data.get("$evaluators")
    if evaluators is not None and not isinstance(evaluators, Mapping):
        return []
    problems: list[Problem] = []
    for key, body in data["flags"].items():
        try:
            flag = parse_flagd_flag(key, body, evaluators=evaluators or {}, strict=True)
        except (ValidationError, KeyError, TypeError, RecursionError):
            continue  # reported by parse_flagd already
        problems.extend(_convert(flag, evaluators or {}).problems)
    return problems


# ======================================================================== export


def _var(attribute: str) -> dict[str, Any]:
    return {"var": _TARGETING_KEY if attribute == "key" else attribute}


def _all_of(parts: list[Any]) -> Any:
    if not parts:
        return True
    return parts[0] if len(parts) == 1 else {"and": parts}


class _Exporter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.evaluators: dict[str, Any] = {}

    # --------------------------------------------------------------- checking

    def unsupported(self, flag: Flag) -> list[Problem]:
        """Why ``flag`` has no flagd form (nothing when it has one)."""
        path = f"flags.{flag.key}"
        problems = [
            Problem(f"{path}.variations.{name}", "flagd's object variants are objects, not arrays")
            for name, value in flag.variations.items()
            if isinstance(value, list)
        ]
        if not flag.on:
            return problems  # exported as what it serves: its targeting is not needed
        if flag.prerequisites:
            needs = ", ".join(f"{p.flag}={p.variation}" for p in flag.prerequisites)
            problems.append(
                Problem(f"{path}.prerequisites", f"flagd has no prerequisites ({needs})")
            )
        segments: list[str] = []
        for i, rule in enumerate(flag.rules):
            problems.extend(self.clause_problems(rule.clauses, f"{path}.rules[{i}]", segments))
        seen: set[str] = set()
        while segments:
            key = segments.pop(0)
            if key in seen or key not in self.doc.segments:
                continue
            seen.add(key)
            for i, srule in enumerate(self.doc.segments[key].rules):
                found = self.clause_problems(srule.clauses, f"segments.{key}.rules[{i}]", segments)
                problems.extend(
                    Problem(p.path, f"{p.message}; flag {flag.key!r} uses segment {key!r}")
                    for p in found
                )
        return problems

    @staticmethod
    def clause_problems(clauses: Iterable[Clause], path: str, segments: list[str]) -> list[Problem]:
        out = []
        for j, clause in enumerate(clauses):
            reason = SPECS[clause.op].no_flagd
            if reason:
                out.append(Problem(f"{path}.clauses[{j}].op", reason))
        segments.extend(segment_refs(clauses))
        return out

    # ------------------------------------------------------------- converting

    def flag(self, flag: Flag, warnings: list[Problem]) -> dict[str, Any]:
        path = f"flags.{flag.key}"
        out: dict[str, Any] = {"state": "ENABLED", "variants": copy.deepcopy(dict(flag.variations))}
        if not flag.on:
            if flag.off_variation is not None:
                out["defaultVariant"] = flag.off_variation
                warnings.append(
                    Problem(
                        f"{path}.on",
                        f"the flag is off: exported as serving {flag.off_variation!r} to "
                        "everyone (flagd has no off variation; a DISABLED flag would give "
                        "applications their own default)",
                    )
                )
            else:
                out["state"] = "DISABLED"
                if isinstance(flag.default, str):
                    out["defaultVariant"] = flag.default
        else:
            if isinstance(flag.default, str):
                out["defaultVariant"] = flag.default
            targeting = self.targeting(flag, warnings)
            if isinstance(targeting, str):  # a first rule for everyone: one variation
                out["defaultVariant"] = targeting
            elif targeting is not None:
                out["targeting"] = targeting
        if flag.metadata:
            out["metadata"] = dict(flag.metadata)
        return out

    def targeting(self, flag: Flag, warnings: list[Problem]) -> Any:
        chain: list[Any] = []
        for variation, keys in flag.targets.items():
            chain += [{"in": [{"var": _TARGETING_KEY}, list(keys)]}, variation]
        otherwise: Any = None
        for rule in flag.rules:
            serve = self.serve(flag, rule.serve, warnings)
            if not rule.clauses:
                otherwise = serve  # matches everyone: what follows is never reached
                break
            chain += [_all_of([self.clause(c) for c in rule.clauses]), serve]
        else:
            if isinstance(flag.default, Rollout):
                otherwise = self.serve(flag, flag.default, warnings)
        if not chain:
            return otherwise
        if otherwise is not None:
            chain.append(otherwise)
        return {"if": chain}

    def serve(self, flag: Flag, serve: Any, warnings: list[Problem]) -> Any:
        if isinstance(serve, str):
            return serve
        assert isinstance(serve, Rollout)
        if not any(w.path == f"flags.{flag.key}" for w in warnings):
            warnings.append(
                Problem(
                    f"flags.{flag.key}",
                    "a rollout becomes a fractional split with the same weights, but flagd "
                    "places contexts with its own hashing: people are assigned anew",
                )
            )
        divisor = math.gcd(*(s.weight for s in serve.slices))
        buckets = [[s.variation, s.weight // divisor] for s in serve.slices]
        if serve.bucket_by == "key" and serve.seed is None:
            return {"fractional": buckets}  # flagd's default: flag key and targeting key
        seed: Any = serve.seed if serve.seed is not None else {"var": "$flagd.flagKey"}
        return {"fractional": [{"cat": [seed, _var(serve.bucket_by)]}, *buckets]}

    def clause(self, clause: Clause) -> Any:
        form = SPECS[clause.op].flagd
        if form is None:  # unsupported() refused these first
            raise AssertionError(f"operator {clause.op} has no flagd form")
        return form(_var(clause.attribute), clause.values, clause.negate, self.segment)

    def segment(self, key: str) -> str:
        name = SEGMENT_EVALUATOR + key
        if name not in self.evaluators:
            self.evaluators[name] = None  # reserved first: a segment may use another
            self.evaluators[name] = self.segment_logic(self.doc.segments[key])
        return name

    def segment_logic(self, segment: Segment) -> Any:
        parts: list[Any] = []
        if segment.included:
            parts.append({"in": [{"var": _TARGETING_KEY}, list(segment.included)]})
        if segment.rules:
            rules: Any = any_of(
                [_all_of([self.clause(c) for c in rule.clauses]) for rule in segment.rules]
            )
            if segment.excluded:
                excluded = {"!": {"in": [{"var": _TARGETING_KEY}, list(segment.excluded)]}}
                rules = {"and": [excluded, rules]}
            parts.append(rules)
        return any_of(parts) if parts else False


def vexil_to_flagd(
    document: Document | Mapping[str, Any], *, skip_unsupported: bool = False
) -> Exported:
    """The flags of a Vexil document (one environment's) as a flagd document.

    Raises ``ValidationError`` listing every problem (each flag's prerequisites,
    ``matches``, ``before`` and ``after`` clauses, in its rules or the segments they
    use) unless ``skip_unsupported``, which leaves such flags out and lists them in
    ``Exported.skipped``.
    """
    doc = document if isinstance(document, Document) else parse_document(document)
    exporter = _Exporter(doc)
    flags: dict[str, Any] = {}
    skipped: dict[str, tuple[Problem, ...]] = {}
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for key in sorted(doc.flags):
        flag = doc.flags[key]
        found = exporter.unsupported(flag)
        if found:
            if skip_unsupported:
                skipped[key] = tuple(found)
            else:
                problems.extend(found)
            continue
        flags[key] = exporter.flag(flag, warnings)
    if problems:
        raise ValidationError(problems)
    out: dict[str, Any] = {"$schema": FLAGD_SCHEMA, "flags": flags}
    if exporter.evaluators:
        out["$evaluators"] = dict(sorted(exporter.evaluators.items()))
    return Exported(out, skipped, tuple(warnings))

"""JsonLogic, compiled: flagd's targeting rules as plain Python closures.

A rule is read once, when its flag is compiled, into a tree of closures that each
take the data (the evaluation context, or an element inside ``map``/``all``/...)
and return a value. No JSON is looked at while evaluating. Constant sub-rules are
folded at compile time, and the common tests (``in``, ``==``, ``starts_with``,
``sem_ver``, ...) on a plain ``{"var": "name"}`` read the context inline, so a
test costs one call.

Semantics follow JsonLogic's reference implementation (json-logic-js): JavaScript
truthiness (``[]``, ``""``, ``0`` and ``null`` are false, ``{}`` is true), loose
``==`` with JavaScript's coercions, strict ``===``, relational operators that
compare two strings as strings and anything else as numbers. flagd's own
operations are here too, with flagd's semantics (see ``docs/openfeature.md``):

- ``fractional``: MurmurHash3 (x86, 32-bit, seed 0) of the bucketing string,
  ``(hash * total_weight) >> 32``, and the first bucket whose cumulative weight
  exceeds that; the default bucketing string is the flag key followed by the
  targeting key. Variant names and weights may themselves be rules.
- ``sem_ver``: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~`` (same major and
  minor), ``^`` (same major); a ``v``/``V`` prefix and partial versions accepted,
  numbers read as versions, build metadata ignored.
- ``starts_with`` / ``ends_with`` on two strings.

Each of them gives ``null`` for arguments it cannot use (a missing bucketing key,
weights that sum to zero, a value that is not a version or a string, a wrong
number of arguments), which makes the flag serve its default variant.

Two names in a ``var`` are flagd's: ``$flagd.flagKey`` (the key of the flag being
evaluated, a constant here) and ``$flagd.timestamp`` (Unix seconds, read from the
clock given to the compiler). ``targetingKey`` reads the context's ``targetingKey``,
or its ``key`` (Vexil's name for OpenFeature's targeting key) when it has none.
"""

from __future__ import annotations

import math
import operator
import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Container, Mapping
from typing import Any

import mmh3

from vexil._exceptions import VexilError

from ._errors import Problem
from ._operators import lookup, member_test
from ._parse import did_you_mean
from ._values import is_js_number, is_number, semver_key

__all__ = [
    "OPERATIONS",
    "LogicError",
    "Node",
    "Source",
    "compile_logic",
    "is_truthy",
    "js_string",
    "logic_problems",
]

Fn = Callable[[Any], Any]
Clock = Callable[[], float]

#: The largest total weight ``fractional`` accepts (flagd's limit: a signed 32-bit integer).
MAX_TOTAL_WEIGHT = 2**31 - 1
#: Rules nested deeper than this are refused (they would exhaust Python's stack).
MAX_DEPTH = 200

_MISSING: Any = object()
#: The classes of JSON's scalar values, as decoded (rules are tested against these first:
#: an isinstance test against an abstract class costs many times more).
_SCALARS = frozenset((str, int, float, bool, type(None)))
_hash32 = mmh3.hash


def bucket_hash(key: str) -> int:
    """MurmurHash3 (x86, 32-bit, seed 0, unsigned) of ``key`` in UTF-8.

    A lone surrogate (JSON allows ``"\\ud800"``) cannot be UTF-8, and ``mmh3`` given
    such a string crashes the process: it becomes U+FFFD, as Go's JSON decoder (and
    so flagd) reads it.
    """
    if key.isascii():
        return _hash32(key, 0, False)
    try:
        data = key.encode("utf-8")
    except UnicodeEncodeError:
        data = key.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode("utf-8")
    return _hash32(data, 0, False)


class LogicError(VexilError, ValueError):
    """A rule that cannot be compiled; ``path`` says where."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class Source:
    """The constants of a generated function, each bound as a default argument (``c0``...).

    The generated code reads a plain ``dict`` context ``ctx`` through ``get = ctx.get``;
    ``v`` is a scratch variable. No rule content ever appears in the source text.
    """

    #: Deeper sub-rules are called rather than inlined (Python limits nested parentheses).
    MAX_INLINE_DEPTH = 32

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.depth = 0

    def const(self, value: Any) -> str:
        self.values.append(value)
        return f"c{len(self.values) - 1}"

    def expr(self, node: Node) -> str:
        """A Python expression equal to ``node.fn(ctx)`` for a ``dict`` context."""
        if node.const:
            return self.const(node.value)
        if node.emit is not None and self.depth < self.MAX_INLINE_DEPTH:
            self.depth += 1
            try:
                return node.emit(self)
            finally:
                self.depth -= 1
        return f"{self.const(node.fn)}(ctx)"


Emit = Callable[[Source], str]


class Node:
    """A compiled sub-rule: ``fn(data)``, plus what the compiler knows of it.

    ``const`` rules have their ``value`` already; ``pred`` rules return only True,
    False or None (so Python's ``and``/``or``/``not`` agree with JsonLogic's);
    ``key`` is set for a plain ``{"var": "name"}`` read at the top of the context,
    so that the tests on it can look it up inline. ``emit``, when set, writes the
    rule as one inline Python expression (see ``Source``); ``chain`` and
    ``otherwise`` are the branches of an ``if``.
    """

    __slots__ = ("chain", "const", "emit", "fn", "key", "otherwise", "pred", "value")

    def __init__(
        self,
        fn: Fn,
        *,
        pred: bool = False,
        key: str | None = None,
        value: Any = _MISSING,
        emit: Emit | None = None,
    ) -> None:
        self.fn = fn
        self.pred = pred
        self.key = key
        self.const = value is not _MISSING
        self.value = None if value is _MISSING else value
        self.emit = emit
        self.chain: tuple[tuple[Node, Node], ...] = ()
        self.otherwise: Node | None = None


def _const(value: Any) -> Node:
    return Node(lambda d: value, value=value, pred=value is None or value.__class__ is bool)


# ------------------------------------------------------------ JavaScript values


def is_truthy(v: Any) -> bool:
    """JsonLogic's truthiness: JavaScript's, except that an empty array is false too."""
    cls = v.__class__
    if cls is bool:
        return bool(v)
    if v is None:
        return False
    if cls is str or cls is list:
        return len(v) > 0
    if cls is int:
        return bool(v != 0)
    if cls is float:
        return bool(v == v and v != 0.0)  # NaN is false
    if isinstance(v, Mapping):
        return True  # every object is true in JavaScript, the empty one included
    if isinstance(v, str | list | tuple):
        return len(v) > 0
    return bool(v)


def _number_text(v: float | int) -> str:
    if v.__class__ is int:
        return str(v)
    if v != v:
        return "NaN"
    if v in (math.inf, -math.inf):
        return "Infinity" if v > 0 else "-Infinity"
    if float(v).is_integer() and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


def js_string(v: Any) -> str:
    """JavaScript's ``String(v)``, for the JSON values a rule can hold."""
    if v.__class__ is str:
        return str(v)
    if v is None:
        return "null"
    if v.__class__ is bool:
        return "true" if v else "false"
    if isinstance(v, int | float) and not isinstance(v, bool):
        return _number_text(v)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, list | tuple):
        return ",".join("" if x is None else js_string(x) for x in v)
    if isinstance(v, Mapping):
        return "[object Object]"
    return str(v)


# Each character can be read one way only (``\d+(?:\.\d*)?``, not ``\d+\.?\d*``): a text
# from the context that is almost a number must not make ``re`` try every split of its
# digits, which took seconds for 16,000 of them.
_JS_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\Z")
_JS_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)")


def to_number(v: Any) -> float | int:
    """JavaScript's ``Number(v)``: NaN for what is not a number."""
    cls = v.__class__
    if cls is int or cls is float:
        return v  # type: ignore[no-any-return]
    if v is None:
        return 0
    if cls is bool:
        return 1 if v else 0
    if isinstance(v, str):
        text = v.strip()
        if not text:
            return 0
        if _JS_NUMBER.match(text):
            return float(text)
        if text in ("Infinity", "+Infinity", "-Infinity"):
            return -math.inf if text[0] == "-" else math.inf
        if text[:2].lower() == "0x":
            try:
                return int(text[2:], 16)
            except ValueError:
                return math.nan
        return math.nan
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, list | tuple):
        return to_number(js_string(v))
    return math.nan


def _parse_float(v: Any) -> float | int:
    """JavaScript's ``parseFloat(v)``, which ``+`` and ``*`` apply in JsonLogic."""
    cls = v.__class__
    if cls is int or cls is float:
        return v  # type: ignore[no-any-return]
    text = js_string(v).lstrip()
    m = _JS_FLOAT_PREFIX.match(text)
    if m is None:
        return math.nan
    found = m.group()
    if found.lstrip("+-") == "Infinity":
        return -math.inf if found[0] == "-" else math.inf
    return float(found)


def _primitive(v: Any) -> Any:
    """JavaScript's ToPrimitive for arrays and objects (their string forms)."""
    if isinstance(v, list | tuple | Mapping) and not isinstance(v, str):
        return js_string(v)
    return v


def strict_equals(a: Any, b: Any) -> bool:
    """JavaScript's ``===`` for JSON values (arrays and objects by identity)."""
    ca, cb = a.__class__, b.__class__
    if ca is str and cb is str:
        return bool(a == b)
    if ca is bool or cb is bool:
        return ca is cb and a == b
    if is_js_number(a) and is_js_number(b):
        return bool(a == b)
    if a is None or b is None:
        return a is b
    if isinstance(a, str) and isinstance(b, str):
        return str.__eq__(a, b)
    return a is b


def loose_equals(a: Any, b: Any) -> bool:
    """JavaScript's ``==`` for JSON values."""
    if a is None or b is None:
        return a is None and b is None
    if a.__class__ is bool:
        return loose_equals(1 if a else 0, b)
    if b.__class__ is bool:
        return loose_equals(a, 1 if b else 0)
    a_num, b_num = is_js_number(a), is_js_number(b)
    if a_num and b_num:
        return a == b  # type: ignore[no-any-return]
    a_str, b_str = isinstance(a, str), isinstance(b, str)
    if a_str and b_str:
        return str.__eq__(a, b)
    if a_num and b_str:
        return a == to_number(b)  # type: ignore[no-any-return]
    if a_str and b_num:
        return to_number(a) == b  # type: ignore[no-any-return]
    a_obj = isinstance(a, list | tuple | Mapping) and not a_str
    b_obj = isinstance(b, list | tuple | Mapping) and not b_str
    if a_obj and b_obj:
        return a is b
    if a_obj or b_obj:
        return loose_equals(_primitive(a), _primitive(b))
    return False


def _less(a: Any, b: Any, or_equal: bool) -> bool:
    """JavaScript's ``<`` (or ``<=``): strings as strings, anything else as numbers."""
    if is_js_number(a) and is_js_number(b):
        return a <= b if or_equal else a < b  # type: ignore[no-any-return]
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a <= b if or_equal else a < b
    x, y = to_number(a), to_number(b)
    return x <= y if or_equal else x < y


# ----------------------------------------------------------------- the compiler


def compile_logic(rule: Any, *, flag_key: str, clock: Clock, path: str = "targeting") -> Node:
    """Compile ``rule`` (decoded JSON) for the flag ``flag_key``.

    Raises ``LogicError`` for an operation that does not exist (run
    ``logic_problems`` first to list every problem at once).
    """
    return _Compiler(flag_key, clock).compile(rule, path, True, 0)


def logic_problems(
    rule: Any, path: str = "targeting", evaluators: Collection[str] = ()
) -> list[Problem]:
    """Every unknown operation and unknown ``$ref`` in ``rule``, with its path.

    A ``{"$ref": name}`` naming one of ``evaluators`` is fine (it is replaced by the
    evaluator before compiling); any other ``$ref`` is a problem.
    """
    problems: list[Problem] = []
    stack: list[tuple[Any, str, int]] = [(rule, path, 0)]
    while stack:
        node, at, depth = stack.pop()
        cls = node.__class__
        if cls in _SCALARS:
            continue
        if depth > MAX_DEPTH:
            problems.append(Problem(at, f"nested more than {MAX_DEPTH} levels deep"))
            continue
        if cls is list or isinstance(node, list):
            stack.extend(
                (item, f"{at}[{i}]", depth + 1)
                for i, item in enumerate(node)
                if item.__class__ not in _SCALARS
            )
        elif (cls is dict or isinstance(node, Mapping)) and len(node) == 1:
            ((op, args),) = node.items()
            if op == "$ref":
                if not isinstance(args, str) or args not in evaluators:
                    hint = did_you_mean(args, evaluators) if isinstance(args, str) else ""
                    problems.append(Problem(f"{at}.$ref", f"unknown evaluator {args!r}{hint}"))
                continue
            if op not in OPERATIONS:
                hint = did_you_mean(str(op), OPERATIONS)
                problems.append(Problem(f"{at}.{op}", f"unknown operation {op!r}{hint}"))
                continue
            items = args if args.__class__ is list else [args]
            stack.extend(
                (item, f"{at}.{op}[{i}]", depth + 1)
                for i, item in enumerate(items)
                if item.__class__ not in _SCALARS
            )
        elif (cls is dict or isinstance(node, Mapping)) and "$ref" in node:
            # flagd pastes an evaluator's operation in beside the other keys (its $ref is a
            # text substitution); an object of several keys is no operation here.
            problems.append(Problem(f"{at}.$ref", "a $ref must be alone in its object"))
    problems.reverse()
    return problems


Handler = Callable[["_Compiler", list[Any], str, bool, int], Node]


class _Compiler:
    def __init__(self, flag_key: str, clock: Clock) -> None:
        self.flag_key = flag_key
        self.clock = clock

    def compile(self, rule: Any, path: str, top: bool, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise LogicError(path, f"nested more than {MAX_DEPTH} levels deep")
        cls = rule.__class__
        if cls in _SCALARS:
            return _const(rule)
        if cls is list or isinstance(rule, list):
            if all(x.__class__ in _SCALARS for x in rule):  # a literal list: the usual case
                return _const(list(rule))
            items = [self.compile(x, f"{path}[{i}]", top, depth + 1) for i, x in enumerate(rule)]
            if all(n.const for n in items):
                return _const([n.value for n in items])
            fns = [n.fn for n in items]
            return Node(lambda d: [f(d) for f in fns])
        if cls is dict or isinstance(rule, Mapping):
            if len(rule) != 1:  # not an operation: an object literal
                return _const(dict(rule))
            ((op, args),) = rule.items()
            handler = OPERATIONS.get(op)
            if handler is None:
                if op == "$ref":
                    raise LogicError(f"{path}.$ref", f"unknown evaluator {args!r}")
                hint = did_you_mean(str(op), OPERATIONS)
                raise LogicError(f"{path}.{op}", f"unknown operation {op!r}{hint}")
            return handler(
                self, args if args.__class__ is list else [args], f"{path}.{op}", top, depth + 1
            )
        return _const(rule)

    def args(self, args: list[Any], path: str, top: bool, depth: int) -> list[Node]:
        return [self.compile(a, f"{path}[{i}]", top, depth) for i, a in enumerate(args)]

    # ------------------------------------------------------------------ var

    def lookup(self, path: str, top: bool) -> Fn | None:
        """A getter for a constant path, or None when the path is one of the special ones
        handled by the caller ($flagd.*, targetingKey)."""
        parts = path.split(".")
        if parts[0] == "$flagd":
            return self._flagd(parts)
        if top and path == "targetingKey":
            return _targeting_key
        if len(parts) == 1:
            key = parts[0]

            def one(d: Any) -> Any:
                if d.__class__ is dict:
                    return d.get(key, _MISSING)
                return _step(d, key)

            return one
        return lambda d: _walk(d, parts)

    def _flagd(self, parts: list[str]) -> Fn:
        flag_key, clock = self.flag_key, self.clock
        if len(parts) == 1:
            return lambda d: {"flagKey": flag_key, "timestamp": int(clock())}
        if len(parts) == 2 and parts[1] == "flagKey":
            return lambda d: flag_key
        if len(parts) == 2 and parts[1] == "timestamp":
            return lambda d: int(clock())
        return lambda d: _MISSING

    def dynamic_lookup(self, d: Any, path: Any, top: bool) -> Any:
        if path is None or path == "" or path == []:
            return d
        if isinstance(path, int | float) and not isinstance(path, bool):
            path = js_string(path)
        if not isinstance(path, str):
            return _MISSING
        getter = self.lookup(path, top)
        return _MISSING if getter is None else getter(d)


def _targeting_key(d: Any) -> Any:
    """OpenFeature's targeting key: ``targetingKey``, or Vexil's ``key`` without one."""
    if d.__class__ is dict or isinstance(d, Mapping):
        found = d.get("targetingKey")
        return d.get("key", _MISSING) if found is None else found
    return _MISSING


def _step(d: Any, key: str) -> Any:
    if isinstance(d, Mapping):
        return d.get(key, _MISSING)
    if isinstance(d, list | tuple) and key.isdigit():
        i = int(key)
        return d[i] if i < len(d) else _MISSING
    return _MISSING


def _walk(d: Any, parts: list[str]) -> Any:
    for part in parts:
        if d is None:
            return _MISSING
        d = _step(d, part)
        if d is _MISSING:
            return d
    return d


def _var(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    nodes = c.args(args, path, top, depth)
    if not nodes:
        return Node(lambda d: d)
    default = nodes[1] if len(nodes) > 1 else _const(None)
    where = nodes[0]
    if not where.const:
        get_path, get_default = where.fn, default.fn

        def dynamic(d: Any) -> Any:
            found = c.dynamic_lookup(d, get_path(d), top)
            return get_default(d) if found is _MISSING else found

        return Node(dynamic)
    target = where.value
    if target is None or target == "" or target == []:
        return Node(lambda d: d)
    if is_js_number(target):
        target = js_string(target)
    if not isinstance(target, str):
        return default
    getter = c.lookup(target, top)
    assert getter is not None
    simple = "." not in target and not target.startswith("$flagd") and target != "targetingKey"
    if default.const:
        fallback = default.value
        if simple and fallback is None:
            key = target

            def plain(d: Any) -> Any:
                if d.__class__ is dict:
                    return d.get(key)
                found = _step(d, key)
                return None if found is _MISSING else found

            return Node(plain, key=key, emit=lambda src: f"get({src.const(key)})")

        def with_default(d: Any) -> Any:
            found = getter(d)
            return fallback if found is _MISSING else found

        return Node(with_default)
    get_default = default.fn

    def with_rule_default(d: Any) -> Any:
        found = getter(d)
        return get_default(d) if found is _MISSING else found

    return Node(with_rule_default)


def _missing_keys(c: _Compiler, d: Any, keys: Any, top: bool) -> list[Any]:
    out = []
    for key in keys:
        found = c.dynamic_lookup(d, key, top)
        if found is _MISSING or found is None or found == "":
            out.append(key)
    return out


def _missing(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    nodes = c.args(args, path, top, depth)

    def keys(values: list[Any]) -> Any:
        return values[0] if values and isinstance(values[0], list) else values

    if all(n.const for n in nodes):
        wanted = keys([n.value for n in nodes])
        return Node(lambda d: _missing_keys(c, d, wanted, top))
    fns = [n.fn for n in nodes]
    return Node(lambda d: _missing_keys(c, d, keys([f(d) for f in fns]), top))


def _missing_some(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    nodes = c.args(args, path, top, depth)
    if len(nodes) != 2:
        return _const(None)
    need, options = nodes

    def run(d: Any) -> Any:
        wanted = options.fn(d)
        if not isinstance(wanted, list):
            return None
        absent = _missing_keys(c, d, wanted, top)
        return [] if len(wanted) - len(absent) >= to_number(need.fn(d)) else absent

    return Node(run)


# ------------------------------------------------------------- eager operations


def _eager(impl: Callable[..., Any], nodes: list[Node], *, pred: bool = False) -> Node:
    """An operation whose arguments are all evaluated first; folded when all are constant."""
    if all(n.const for n in nodes):
        return _const(impl(*[n.value for n in nodes]))
    fns = [n.fn for n in nodes]
    if len(fns) == 1:
        (a,) = fns
        return Node(lambda d: impl(a(d)), pred=pred)
    if len(fns) == 2:
        a, b = fns
        if nodes[1].const:
            bv = nodes[1].value
            return Node(lambda d: impl(a(d), bv), pred=pred)
        return Node(lambda d: impl(a(d), b(d)), pred=pred)
    return Node(lambda d: impl(*[f(d) for f in fns]), pred=pred)


def _value_test(node: Node, test: Callable[[Any], Any], *, pred: bool = True) -> Node:
    """``test`` of the value of ``node``; a plain ``var`` is read inline."""
    if node.const:
        return _const(test(node.value))
    key, get = node.key, node.fn

    def emit(src: Source) -> str:
        return f"{src.const(test)}({src.expr(node)})"

    if key is not None:
        return Node(
            lambda d: test(d.get(key) if d.__class__ is dict else get(d)), pred=pred, emit=emit
        )
    return Node(lambda d: test(get(d)), pred=pred, emit=emit)


def _str_template(
    node: Node, fast: str, literal: Any, slow: Callable[..., Any], *extra: Any
) -> Emit:
    """Inline code for a test of a value: ``fast`` (with ``{v}`` the value and ``{s}`` the
    literal) when the value is a ``str``, else ``slow(value, literal, *extra)``. ``slow``
    is a module function, so that a flag holds no closure of its own for it."""

    def emit(src: Source) -> str:
        s = src.const(literal)
        more = "".join(f", {src.const(x)}" for x in extra)
        test = fast.format(v="v", s=s)
        other = f"{src.const(slow)}(v, {s}{more})"
        return f"({test} if (v := {src.expr(node)}).__class__ is str else {other})"

    return emit


# The slow paths of the templates: a value that is not exactly a ``str``.


def _in_strings(v: Any, strings: Container[str]) -> bool:
    return isinstance(v, str) and str.__str__(v) in strings


def _starts_with(v: Any, prefix: str) -> bool | None:
    return str.startswith(v, prefix) if isinstance(v, str) else None


def _ends_with(v: Any, suffix: str) -> bool | None:
    return str.endswith(v, suffix) if isinstance(v, str) else None


def _equals(v: Any, s: str, compare: Callable[[Any, Any], bool], negate: bool) -> bool:
    return compare(v, s) != negate


def _two(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> tuple[Node, Node]:
    """The first two arguments; a missing one is null (JavaScript's undefined)."""
    nodes = c.args(args, path, top, depth)
    nodes += [_const(None)] * (2 - len(nodes))
    return nodes[0], nodes[1]


def _equality(strict: bool, negate: bool) -> Handler:
    compare = strict_equals if strict else loose_equals

    def handler(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
        a, b = _two(c, args, path, top, depth)
        if a.const and not b.const:
            a, b = b, a  # equality is symmetric: the constant goes second
        if b.const and b.value.__class__ is str and not a.const:
            s = b.value
            key, get = a.key, a.fn
            if key is not None:

                def eq_str(d: Any) -> bool:
                    v = d.get(key) if d.__class__ is dict else get(d)
                    return (v == s if v.__class__ is str else compare(v, s)) != negate

                fast = "{v} != {s}" if negate else "{v} == {s}"
                emit = _str_template(a, fast, s, _equals, compare, negate)
                return Node(eq_str, pred=True, emit=emit)
        if b.const:
            bv = b.value
            return _value_test(a, lambda v: compare(v, bv) != negate)
        af, bf = a.fn, b.fn
        return Node(lambda d: compare(af(d), bf(d)) != negate, pred=True)

    return handler


def _relation(op: str) -> Handler:
    """``<``, ``<=`` (both also "between" with three arguments), ``>`` and ``>=``."""

    def test(*values: Any) -> bool:
        if len(values) < 2:
            return False
        if op in ("<", "<="):
            or_equal = op == "<="
            if len(values) >= 3:
                return _less(values[0], values[1], or_equal) and _less(
                    values[1], values[2], or_equal
                )
            return _less(values[0], values[1], or_equal)
        return _less(values[1], values[0], op == ">=")

    def handler(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
        nodes = c.args(args, path, top, depth)
        if len(nodes) == 2 and nodes[1].const and is_js_number(nodes[1].value):
            limit: Any = nodes[1].value
            fast: Callable[[Any, Any], Any] = {
                "<": operator.lt,
                "<=": operator.le,
                ">": operator.gt,
                ">=": operator.ge,
            }[op]

            def against(v: Any) -> bool:
                if v.__class__ is int or v.__class__ is float:
                    return bool(fast(v, limit))
                return test(v, limit)

            return _value_test(nodes[0], against)
        return _eager(test, nodes, pred=True)

    return handler


def _not(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    nodes = c.args(args, path, top, depth)
    a = nodes[0] if nodes else _const(None)
    if a.const:
        return _const(not is_truthy(a.value))
    f = a.fn
    if a.pred:
        return Node(lambda d: not f(d), pred=True, emit=lambda src: f"(not {src.expr(a)})")
    return Node(
        lambda d: not is_truthy(f(d)),
        pred=True,
        emit=lambda src: f"(not {src.const(is_truthy)}({src.expr(a)}))",
    )


def _truth(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    nodes = c.args(args, path, top, depth)
    a = nodes[0] if nodes else _const(None)
    if a.const:
        return _const(is_truthy(a.value))
    return _condition(a)


def _condition(node: Node) -> Node:
    """``node`` as a predicate (True/False/None), for ``if`` and the like."""
    if node.pred:
        return node
    f = node.fn
    return Node(
        lambda d: is_truthy(f(d)),
        pred=True,
        emit=lambda src: f"{src.const(is_truthy)}({src.expr(node)})",
    )


# ------------------------------------------------------------ lazy operations


def _and_or(is_and: bool) -> Handler:
    def handler(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
        nodes = c.args(args, path, top, depth)
        if not nodes:
            return _const(None)
        if len(nodes) == 1:
            return nodes[0]
        fns = tuple(n.fn for n in nodes)
        if all(n.pred for n in nodes):
            # Results are True, False or None: Python's and/or are JsonLogic's.
            word = " and " if is_and else " or "

            def emit(src: Source) -> str:
                return "(" + word.join(src.expr(n) for n in nodes) + ")"

            if len(fns) == 2:
                a, b = fns
                if is_and:
                    return Node(lambda d: a(d) and b(d), pred=True, emit=emit)
                return Node(lambda d: a(d) or b(d), pred=True, emit=emit)
            if is_and:
                return Node(lambda d: _first_false(fns, d), pred=True, emit=emit)
            return Node(lambda d: _first_true(fns, d), pred=True, emit=emit)

        def run(d: Any) -> Any:
            value = None
            for f in fns:
                value = f(d)
                if is_truthy(value) != is_and:
                    return value
            return value

        return Node(run, pred=all(n.pred for n in nodes))

    return handler


def _first_false(fns: tuple[Fn, ...], d: Any) -> Any:
    value = None
    for f in fns:
        value = f(d)
        if not value:
            return value
    return value


def _first_true(fns: tuple[Fn, ...], d: Any) -> Any:
    value = None
    for f in fns:
        value = f(d)
        if value:
            return value
    return value


def _if(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    nodes = c.args(args, path, top, depth)
    if not nodes:
        return _const(None)
    if len(nodes) % 2 == 0:
        nodes.append(_const(None))  # no else: null
    last = nodes[-1]
    pairs = [(_condition(nodes[i]), nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
    # A condition known in advance picks its branch now.
    while pairs and pairs[0][0].const:
        cond, then = pairs.pop(0)
        if cond.value:
            return then
    pairs = [(cond, then) for cond, then in pairs if not (cond.const and not cond.value)]
    if not pairs:
        return last
    pred = last.pred and all(then.pred for _, then in pairs)
    node = _if_node(pairs, last, pred)
    node.chain, node.otherwise = tuple(pairs), last
    return node


def _if_node(pairs: list[tuple[Node, Node]], last: Node, pred: bool) -> Node:
    if len(pairs) == 1:
        cond, then = pairs[0]
        c_fn = cond.fn
        if then.const and last.const:
            tv, ev = then.value, last.value
            return Node(lambda d: tv if c_fn(d) else ev, pred=pred)
        t_fn, e_fn = then.fn, last.fn
        return Node(lambda d: t_fn(d) if c_fn(d) else e_fn(d), pred=pred)
    chain = tuple((cond.fn, then.fn) for cond, then in pairs)
    e_fn = last.fn

    def run(d: Any) -> Any:
        for test, then in chain:
            if test(d):
                return then(d)
        return e_fn(d)

    return Node(run, pred=pred)


# --------------------------------------------------------- strings and arrays


def _in_impl(a: Any, b: Any) -> bool:
    if isinstance(b, str):
        return bool(b) and js_string(a) in b
    if isinstance(b, list | tuple):
        for item in b:
            if strict_equals(a, item):
                return True
    return False


def _in(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    a, b = _two(c, args, path, top, depth)
    if b.const and isinstance(b.value, list) and not a.const:
        items = b.value
        if items and all(x.__class__ is str for x in items):
            strings = lookup(items)  # a tuple when small: far less memory than a set
            key, get = a.key, a.fn
            if key is not None:

                def in_strings(d: Any) -> bool:
                    v = d.get(key) if d.__class__ is dict else get(d)
                    if v.__class__ is str:
                        return v in strings
                    return _in_strings(v, strings)

                emit = _str_template(a, "{v} in {s}", strings, _in_strings)
                return Node(in_strings, pred=True, emit=emit)
        if all(x.__class__ in _SCALARS for x in items):
            return _value_test(a, _member_test(items))
        return _value_test(a, lambda v: _in_impl(v, items))
    if b.const and isinstance(b.value, str) and not a.const:
        text = b.value
        return _value_test(a, lambda v: _in_impl(v, text))
    return _eager(_in_impl, [a, b], pred=True)


def _member_test(items: list[Any]) -> Callable[[Any], bool]:
    """Membership by JavaScript's ``===`` in a list of literals."""
    return member_test(items, null=any(x is None for x in items))


def _cat(*values: Any) -> str:
    return "".join("" if v is None else js_string(v) for v in values)


def _substr(source: Any, start: Any = 0, length: Any = None) -> str:
    text = js_string(source)
    first = to_number(start)
    begin = 0 if first != first else int(first)
    if begin < 0:
        begin = max(len(text) + begin, 0)
    if length is None:
        return text[begin:]
    count = to_number(length)
    n = 0 if count != count else int(count)
    if n < 0:
        rest = text[begin:]
        return rest[: max(len(rest) + n, 0)]
    return text[begin : begin + n]


def _merge(*values: Any) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, list | tuple):
            out.extend(v)
        else:
            out.append(v)
    return out


def _string_test(starts: bool) -> Handler:
    """flagd's ``starts_with`` / ``ends_with``: null unless given exactly two strings."""

    def impl(a: Any, b: Any) -> bool | None:
        if not isinstance(a, str) or not isinstance(b, str):
            return None
        return a.startswith(b) if starts else a.endswith(b)

    def handler(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
        nodes = c.args(args, path, top, depth)
        if len(nodes) != 2:
            return _const(None)
        a, b = nodes
        if b.const and not a.const:
            fix = b.value
            if not isinstance(fix, str):
                return _const(None)
            key, get = a.key, a.fn
            if key is not None:
                if starts:

                    def starts_with(d: Any) -> bool | None:
                        v = d.get(key) if d.__class__ is dict else get(d)
                        return v.startswith(fix) if isinstance(v, str) else None

                    emit = _str_template(a, "{v}.startswith({s})", fix, _starts_with)
                    return Node(starts_with, pred=True, emit=emit)

                def ends_with(d: Any) -> bool | None:
                    v = d.get(key) if d.__class__ is dict else get(d)
                    return v.endswith(fix) if isinstance(v, str) else None

                emit = _str_template(a, "{v}.endswith({s})", fix, _ends_with)
                return Node(ends_with, pred=True, emit=emit)
            return _value_test(a, lambda v: impl(v, fix))
        return _eager(impl, nodes, pred=True)

    return handler


# ------------------------------------------------------------------ arithmetic


def _plus(*values: Any) -> float | int:
    total: float | int = 0
    for v in values:
        total += _parse_float(v)
    return total


def _times(*values: Any) -> float | int:
    if not values:
        return 0
    product: float | int = 1
    for v in values:
        product *= _parse_float(v)
    return product


def _minus(*values: Any) -> float | int | None:
    if not values:
        return None
    if len(values) == 1:
        return -to_number(values[0])
    return to_number(values[0]) - to_number(values[1])


def _divide(a: Any = None, b: Any = None) -> float | None:
    x, y = to_number(a), to_number(b)
    if y == 0:
        if x != x or x == 0:
            return math.nan
        return math.inf if (x > 0) == (math.copysign(1.0, y) > 0) else -math.inf
    return x / y


def _modulo(a: Any = None, b: Any = None) -> float | int:
    x, y = to_number(a), to_number(b)
    if y == 0 or x != x or y != y or x in (math.inf, -math.inf):
        return math.nan
    if x.__class__ is int and y.__class__ is int:
        return int(math.fmod(x, y))
    return math.fmod(x, y)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def impl(*values: Any) -> Any:
        if not values:
            return None
        numbers = [to_number(v) for v in values]
        if any(n != n for n in numbers):
            return math.nan
        return pick(numbers)

    return impl


# ------------------------------------------------------------- array scopes


def _scoped(kind: str) -> Handler:
    """``all``, ``some``, ``none``, ``map``, ``filter``: the second argument runs on each
    element of the first, with the element as its data."""

    def handler(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
        if len(args) < 2:
            return _const(None if kind in ("map", "filter") else kind == "none")
        items = c.compile(args[0], f"{path}[0]", top, depth).fn
        test = c.compile(args[1], f"{path}[1]", False, depth).fn

        def elements(d: Any) -> list[Any]:
            found = items(d)
            return found if isinstance(found, list) else []

        if kind == "all":
            return Node(
                lambda d: bool(xs := elements(d)) and all(is_truthy(test(x)) for x in xs),
                pred=True,
            )
        if kind == "some":
            return Node(lambda d: any(is_truthy(test(x)) for x in elements(d)), pred=True)
        if kind == "none":
            return Node(lambda d: not any(is_truthy(test(x)) for x in elements(d)), pred=True)
        if kind == "map":
            return Node(lambda d: [test(x) for x in elements(d)])
        return Node(lambda d: [x for x in elements(d) if is_truthy(test(x))])

    return handler


def _reduce(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    if len(args) < 2:
        return _const(None)
    items = c.compile(args[0], f"{path}[0]", top, depth).fn
    step = c.compile(args[1], f"{path}[1]", False, depth).fn
    initial = c.compile(args[2], f"{path}[2]", top, depth).fn if len(args) > 2 else (lambda d: None)

    def run(d: Any) -> Any:
        acc = initial(d)
        found = items(d)
        for x in found if isinstance(found, list) else ():
            acc = step({"current": x, "accumulator": acc})
        return acc

    return Node(run)


# -------------------------------------------------------------- flagd's own


_SEMVER_TESTS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "~": lambda a, b: a[0] == b[0] and a[1] == b[1],
    "^": lambda a, b: a[0] == b[0],
}


def _version(v: Any) -> Any:
    """A version's precedence key: from a string, or a number read as one (``1.2``)."""
    if isinstance(v, str):
        return semver_key(str.__str__(v))
    if is_number(v):
        return semver_key(_number_text(v))
    return None


def _semver_impl(a: Any, op: Any, b: Any) -> bool | None:
    test = _SEMVER_TESTS.get(op) if isinstance(op, str) else None
    left, right = _version(a), _version(b)
    if test is None or left is None or right is None:
        return None
    return test(left, right)


def _sem_ver(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    nodes = c.args(args, path, top, depth)
    if len(nodes) != 3:
        return _const(None)
    value, op, target = nodes
    if op.const and target.const and not value.const:
        test = _SEMVER_TESTS.get(op.value) if isinstance(op.value, str) else None
        right = _version(target.value)
        if test is None or right is None:
            return _const(None)
        key, get = value.key, value.fn
        if key is not None:

            def sem_ver(d: Any) -> bool | None:
                v = d.get(key) if d.__class__ is dict else get(d)
                left = semver_key(v) if v.__class__ is str else _version(v)
                return None if left is None else test(left, right)

            def of_value(v: Any) -> bool | None:
                left = semver_key(v) if v.__class__ is str else _version(v)
                return None if left is None else test(left, right)

            def emit(src: Source) -> str:
                return f"{src.const(of_value)}({src.expr(value)})"

            return Node(sem_ver, pred=True, emit=emit)
        return _value_test(value, lambda v: None if (k := _version(v)) is None else test(k, right))
    return _eager(_semver_impl, nodes, pred=True)


def _distribution(buckets: Any) -> tuple[list[Any], list[int], int] | None:
    """Variant names, cumulative weights and total of ``fractional`` buckets, or None."""
    names: list[Any] = []
    bounds: list[int] = []
    total = 0
    for bucket in buckets:
        if not isinstance(bucket, list) or not bucket:
            return None
        name = bucket[0]
        if isinstance(name, list | Mapping):
            return None
        weight: Any = bucket[1] if len(bucket) > 1 else 1
        if weight.__class__ is int:
            units = max(weight, 0)
        elif weight.__class__ is float and math.isfinite(weight):
            units = max(math.floor(weight), 0)
        else:
            return None
        total += units
        names.append(name)
        bounds.append(total)
    if not names or total == 0 or total > MAX_TOTAL_WEIGHT:
        return None
    return names, bounds, total


def _pick(bucket_key: str, distribution: tuple[list[Any], list[int], int]) -> Any:
    names, bounds, total = distribution
    return names[bisect_right(bounds, (bucket_hash(bucket_key) * total) >> 32)]


def _shorthand_other(k: Any, flag_key: str, names: Any, bounds: Any, total: int) -> Any:
    """The short form's split for a targeting key that is not exactly a ``str``."""
    if not isinstance(k, str):
        return None
    return _pick(flag_key + str.__str__(k), (names, bounds, total))


def _fractional(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
    if not args:
        return _const(None)
    flag_key = c.flag_key
    shorthand = isinstance(args[0], list)  # no bucketing expression: flag key + targeting key
    if shorthand:
        bucket_args = args

        def key_fn(d: Any) -> str | None:
            if d.__class__ is dict:
                k = d.get("targetingKey")
                if k is None:
                    k = d.get("key")
            else:
                k = _targeting_key(d)
            if k.__class__ is str:
                return flag_key + k
            return flag_key + str.__str__(k) if isinstance(k, str) else None

    else:
        key_node = c.compile(args[0], f"{path}[0]", top, depth)
        bucket_args = args[1:]
        get_key = key_node.fn

        def key_fn(d: Any) -> str | None:
            k = get_key(d)
            if k.__class__ is str:
                return k
            return str.__str__(k) if isinstance(k, str) else None

    offset = 0 if shorthand else 1
    buckets = [c.compile(b, f"{path}[{i + offset}]", top, depth) for i, b in enumerate(bucket_args)]
    if all(b.const for b in buckets):
        fixed = _distribution([b.value for b in buckets])
        if fixed is None:
            return _const(None)
        names, bounds, total = fixed
        if len(names) == 1:
            only = names[0]
            return Node(lambda d: None if key_fn(d) is None else only)

        if shorthand:

            def split(d: Any) -> Any:
                # key_fn inlined for a plain dict context: this runs on every evaluation
                # that reaches the split, often most of them.
                if d.__class__ is dict:
                    k = d.get("targetingKey")
                    if k is None:
                        k = d.get("key")
                    if k.__class__ is not str:
                        return _shorthand_other(k, flag_key, names, bounds, total)
                    k = flag_key + k
                else:
                    k = key_fn(d)
                    if k is None:
                        return None
                h = _hash32(k, 0, False) if k.isascii() else bucket_hash(k)
                return names[bisect_right(bounds, (h * total) >> 32)]

            return Node(split)

        def split_by(d: Any) -> Any:
            k = key_fn(d)
            if k is None:
                return None
            return names[bisect_right(bounds, (bucket_hash(k) * total) >> 32)]

        return Node(split_by)
    fns = [b.fn for b in buckets]

    def dynamic_split(d: Any) -> Any:
        k = key_fn(d)
        if k is None:
            return None
        found = _distribution([f(d) for f in fns])
        return None if found is None else _pick(k, found)

    return Node(dynamic_split)


# ------------------------------------------------------------------- the table


def _eager_op(impl: Callable[..., Any], *, pred: bool = False) -> Handler:
    def handler(c: _Compiler, args: list[Any], path: str, top: bool, depth: int) -> Node:
        return _eager(impl, c.args(args, path, top, depth), pred=pred)

    return handler


#: Every operation a targeting rule may use: JsonLogic's (without ``log`` and
#: ``method``, which have effects) and flagd's four.
OPERATIONS: dict[str, Handler] = {
    "var": _var,
    "missing": _missing,
    "missing_some": _missing_some,
    "if": _if,
    "?:": _if,
    "==": _equality(strict=False, negate=False),
    "===": _equality(strict=True, negate=False),
    "!=": _equality(strict=False, negate=True),
    "!==": _equality(strict=True, negate=True),
    "<": _relation("<"),
    "<=": _relation("<="),
    ">": _relation(">"),
    ">=": _relation(">="),
    "!": _not,
    "!!": _truth,
    "and": _and_or(is_and=True),
    "or": _and_or(is_and=False),
    "in": _in,
    "cat": _eager_op(_cat),
    "substr": _eager_op(_substr),
    "merge": _eager_op(_merge),
    "+": _eager_op(_plus),
    "-": _eager_op(_minus),
    "*": _eager_op(_times),
    "/": _eager_op(_divide),
    "%": _eager_op(_modulo),
    "min": _eager_op(_extreme(min)),
    "max": _eager_op(_extreme(max)),
    "all": _scoped("all"),
    "some": _scoped("some"),
    "none": _scoped("none"),
    "map": _scoped("map"),
    "filter": _scoped("filter"),
    "reduce": _reduce,
    "fractional": _fractional,
    "sem_ver": _sem_ver,
    "starts_with": _string_test(starts=True),
    "ends_with": _string_test(starts=False),
}

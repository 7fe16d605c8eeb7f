"""flagd flag-definition documents, read as they are and compiled into the same engine.

A flagd document (https://flagd.dev/reference/flag-definitions/)::

    {"$schema": "https://flagd.dev/schema/v0/flags.json",
     "flags": {"new-checkout": {"state": "ENABLED",
                                "variants": {"on": true, "off": false},
                                "defaultVariant": "off",
                                "targeting": {"if": [{"$ref": "staff"}, "on"]},
                                "metadata": {"team": "checkout"}}},
     "$evaluators": {"staff": {"ends_with": [{"var": "email"}, "@example.com"]}},
     "metadata": {"flagSetId": "shop"}}

Two steps, each usable on its own (the server imports flagd files with them):

- ``parse_flagd(data)`` validates a decoded document into a ``FlagdDocument`` of
  ``FlagdFlag`` model objects (subclasses of ``Document`` and ``Flag``, so the rest of
  Vexil reads them like any other). A malformed document raises ``ValidationError``
  with every problem and its path (``flags.new-checkout.defaultVariant``). Targeting
  that cannot run (an unknown operation, a ``$ref`` to no evaluator) is, as in flagd,
  no reason to refuse the other flags: it is kept in ``issues``, and the flag
  evaluates to a PARSE_ERROR. ``strict=True`` refuses it instead.
- ``compile_flagd_flag(flag)`` turns one flag into a ``CompiledFlagdFlag``: its
  targeting compiled once into closures (``_jsonlogic``) and into one generated
  function that inlines them (as ``_codegen`` does for Vexil's flags), every detail it
  can return built in advance. ``Ruleset`` does this for each flag of a
  ``FlagdDocument``. Nothing reads JSON while evaluating.

Evaluation follows flagd: a disabled flag gives DISABLED and the caller's default; no
targeting gives the default variant (STATIC); targeting that returns null gives the
default variant (DEFAULT), or the caller's default when the flag has no default variant;
a variant name gives that variant (TARGETING_MATCH, ``fractional`` included: flagd has no
SPLIT); a name that is not a variant gives a GENERAL error. Booleans returned by
targeting name the variants ``"true"`` and ``"false"``. Every detail carries the flag's
metadata, merged over the flag set's.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._codegen import generated_function
from ._compile import _TYPE_CHECKS, CompiledFlag, Env, FlagFunction, own_copy
from ._detail import NO_METADATA, ErrorKind, EvaluationDetail, Metadata, Reason
from ._errors import Problem, ValidationError
from ._explain import Explanation, Step
from ._graph import find_cycle
from ._jsonlogic import LogicError, Node, Source, compile_logic, js_string, logic_problems
from ._model import Document, Flag, VariationType
from ._parse import Reader, Scalar, _join, did_you_mean, read_scalars, value_type
from ._values import type_name

__all__ = [
    "CompiledFlagdFlag",
    "FlagdDocument",
    "FlagdFlag",
    "compile_flagd_flag",
    "dump_flagd",
    "is_flagd_document",
    "parse_flagd",
    "parse_flagd_flag",
]

Detail = EvaluationDetail[Any]
Clock = Callable[[], float]

ENABLED, DISABLED = "ENABLED", "DISABLED"
_STATES = (ENABLED, DISABLED)
_DOC_FIELDS = frozenset(("$schema", "flags", "$evaluators", "metadata"))
_FLAG_FIELDS = frozenset(("state", "variants", "defaultVariant", "targeting", "metadata"))
_SCALARS = frozenset((str, int, float, bool, type(None)))
_NESTED = frozenset((dict, list))
#: JSON in targeting and evaluators may nest this deep (a rule's every level counts).
MAX_NESTING = 200
#: Nested ``if`` deeper than this is called rather than inlined (Python limits indentation).
_MAX_INDENT = 30
#: flagd's variants when a flag names none.
_BOOLEAN_VARIANTS = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class FlagdFlag(Flag):
    """A flag read from a flagd document.

    The ``Flag`` fields say what the rest of Vexil needs (``on`` is ``state ==
    "ENABLED"``, ``default`` the default variant, ``metadata`` the flag's metadata
    merged over the flag set's); the fields below keep flagd's own form.
    """

    state: str = ENABLED
    #: The targeting as written, ``$ref`` included (None when the flag has none).
    targeting: Any = None
    #: The targeting with every ``$ref`` replaced by its evaluator: what is compiled.
    #: None when there is no targeting (or only ``{}``, which flagd reads as none).
    rule: Any = None
    #: The flag's own metadata (``metadata`` holds it merged over the flag set's).
    flag_metadata: Mapping[str, Scalar] = field(default_factory=dict)
    #: Why the targeting cannot run; when set, evaluating gives PARSE_ERROR.
    issues: tuple[Problem, ...] = ()

    @property
    def default_variant(self) -> str | None:
        return self.default if isinstance(self.default, str) else None

    @property
    def is_static(self) -> bool:
        return self.on and self.rule is None and not self.issues


@dataclass(frozen=True, slots=True)
class FlagdDocument(Document):
    """The flags of a flagd document, with its evaluators and flag-set metadata."""

    evaluators: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Scalar] = field(default_factory=dict)
    schema: str | None = None
    #: Problems inside evaluators (unknown operations, cycles); flags using them fail.
    evaluator_issues: tuple[Problem, ...] = ()
    #: Fields flagd ignores and so does Vexil, reported by ``vexil validate``.
    warnings: tuple[Problem, ...] = ()

    @property
    def issues(self) -> tuple[Problem, ...]:
        """Every tolerated problem: the evaluators', then each flag's."""
        out = list(self.evaluator_issues)
        for flag in self.flags.values():
            out.extend(getattr(flag, "issues", ()))
        return tuple(out)


# ------------------------------------------------------------------ detection


def is_flagd_document(data: Any) -> bool:
    """Whether decoded ``data`` has the shape of a flagd document rather than Vexil's.

    A ``$schema`` on flagd.dev or an ``$evaluators`` section says so; otherwise every
    flag must have flagd's fields (``state``, ``variants``, ``defaultVariant``) and
    none of Vexil's ``variations``, in a document without Vexil's ``version`` or
    ``segments``.
    """
    if not isinstance(data, Mapping):
        return False
    schema = data.get("$schema")
    if isinstance(schema, str) and "flagd.dev" in schema:
        return True
    if "$evaluators" in data:
        return True
    if "version" in data or "segments" in data:
        return False
    flags = data.get("flags")
    if isinstance(flags, Mapping):
        bodies = list(flags.values())
    elif isinstance(flags, list):
        bodies = flags
    else:
        return False
    return bool(bodies) and all(
        isinstance(body, Mapping) and "variations" not in body and not _FLAG_FIELDS.isdisjoint(body)
        for body in bodies
    )


# -------------------------------------------------------------------- parsing


class _Reader(Reader):
    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[Problem] = []

    def unknown_fields(self, body: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        for name in body:
            if name not in allowed and not str(name).startswith("$"):
                hint = did_you_mean(str(name), sorted(allowed))
                self.warnings.append(Problem(_join(path, str(name)), f"unknown field{hint}"))


def _type_name(value: Any) -> str:
    # JSON's word for a mapping: flagd documents are JSON.
    return type_name(value, mapping="an object")


def parse_flagd(data: Any, *, strict: bool = False) -> FlagdDocument:
    """Validate a decoded flagd document into the model.

    Raises ``ValidationError`` listing every problem with its path. Targeting that
    cannot run is kept in the flags' ``issues`` (the flag gives PARSE_ERROR, the
    others work, as in flagd), or refused too with ``strict=True``.
    """
    r = _Reader()
    if not isinstance(data, Mapping):
        raise ValidationError([Problem("", f"must be an object, not {_type_name(data)}")])
    r.unknown_fields(data, _DOC_FIELDS, "")
    schema = data.get("$schema")
    if schema is not None and not isinstance(schema, str):
        r.add("$schema", f"must be a string, not {_type_name(schema)}")
        schema = None
    set_metadata = _read_metadata(r, data.get("metadata"), "metadata")
    evaluators, evaluator_issues = _read_evaluators(r, data.get("$evaluators"))
    flags: dict[str, FlagdFlag] = {}
    for key, body, path in _flag_entries(r, data.get("flags")):
        flag = _read_flag(r, key, body, path, evaluators, set_metadata)
        if flag is not None:
            flags[key] = flag
    doc = FlagdDocument(
        flags=flags,
        segments={},
        evaluators=evaluators,
        metadata=set_metadata,
        schema=schema,
        evaluator_issues=tuple(evaluator_issues),
        warnings=tuple(r.warnings),
    )
    if strict:
        r.problems.extend(doc.issues)
    if r.problems:
        raise ValidationError(r.problems)
    return doc


def parse_flagd_flag(
    key: str,
    data: Any,
    *,
    evaluators: Mapping[str, Any] | None = None,
    flag_set_metadata: Mapping[str, Scalar] | None = None,
    strict: bool = False,
) -> FlagdFlag:
    """Validate one flagd flag, with the document's evaluators and flag-set metadata."""
    r = _Reader()
    path = f"flags.{key}"
    if not isinstance(key, str) or not key:
        r.add(path, "a flag key must be a non-empty string")
    flag = _read_flag(r, key, data, path, evaluators or {}, flag_set_metadata or {})
    if strict and flag is not None:
        r.problems.extend(flag.issues)
    if r.problems or flag is None:
        raise ValidationError(r.problems)
    return flag


def _flag_entries(r: _Reader, data: Any) -> list[tuple[str, Any, str]]:
    """(key, body, path) of each flag, from flagd's mapping or its array of flags."""
    if data is None:
        r.add("flags", "is required")
        return []
    if isinstance(data, Mapping):
        out = []
        for key, body in data.items():
            if not isinstance(key, str) or not key:
                r.add(f"flags.{key}", "a flag key must be a non-empty string")
            else:
                out.append((key, body, f"flags.{key}"))
        return out
    if isinstance(data, list):  # flagd's other form: a list of flags, each with its key
        out, seen = [], set()
        for i, body in enumerate(data):
            key = body.get("key") if isinstance(body, Mapping) else None
            if not isinstance(key, str) or not key:
                r.add(f"flags[{i}].key", "each flag of the list needs a non-empty string key")
            elif key in seen:
                r.add(f"flags[{i}].key", f"flag {key!r} appears twice")
            else:
                seen.add(key)
                rest = {k: v for k, v in body.items() if k != "key"}
                out.append((key, rest, f"flags.{key}"))
        return out
    r.add("flags", f"must be an object of flag keys to flags, not {_type_name(data)}")
    return []


def _read_flag(
    r: _Reader,
    key: str,
    data: Any,
    path: str,
    evaluators: Mapping[str, Any],
    set_metadata: Mapping[str, Scalar],
) -> FlagdFlag | None:
    if not isinstance(data, Mapping):
        r.add(path, f"must be an object, not {_type_name(data)}")
        return None
    before = len(r.problems)
    r.unknown_fields(data, _FLAG_FIELDS, path)
    state = data.get("state", ENABLED)
    if state not in _STATES:
        r.add(_join(path, "state"), f"must be ENABLED or DISABLED, not {state!r}")
    vtype, variants = _read_variants(r, data, path)
    default = data.get("defaultVariant")
    if default is not None:
        if not isinstance(default, str):
            r.add(
                _join(path, "defaultVariant"),
                f"must be a string or null, not {_type_name(default)}",
            )
            default = None
        elif variants and default not in variants:
            hint = did_you_mean(default, variants) or f" (variants: {', '.join(variants)})"
            r.add(_join(path, "defaultVariant"), f"unknown variant {default!r}{hint}")
    targeting = data.get("targeting")
    if targeting is not None and not isinstance(targeting, Mapping):
        r.add(_join(path, "targeting"), f"must be a JsonLogic object, not {_type_name(targeting)}")
    elif _too_deep(targeting):
        r.add(_join(path, "targeting"), f"nested more than {MAX_NESTING} levels deep")
    own_metadata = _read_metadata(r, data.get("metadata"), _join(path, "metadata"))
    if len(r.problems) != before:
        return None
    rule, issues = _targeting(targeting, _join(path, "targeting"), evaluators)
    # The rule is a fresh copy of the targeting; without $ref it can stand for it too.
    written = rule if rule is not None and rule == targeting else copy.deepcopy(targeting)
    merged = {k: v for k, v in set_metadata.items() if not k.startswith("$")}
    merged.update(own_metadata)
    return FlagdFlag(
        key=key,
        type=vtype,
        variations=variants,
        on=state == ENABLED,
        default=default,
        name=key,
        metadata=merged,
        state=state,
        targeting=written,
        rule=rule,
        flag_metadata=own_metadata,
        issues=tuple(issues),
    )


def _read_variants(
    r: _Reader, data: Mapping[str, Any], path: str
) -> tuple[VariationType, dict[str, Any]]:
    at = _join(path, "variants")
    raw = data.get("variants", _BOOLEAN_VARIANTS)
    if not isinstance(raw, Mapping) or not raw:
        r.add(at, "must be a non-empty object of variant names to values")
        return VariationType.BOOLEAN, {}
    vtype: VariationType | None = None
    variants: dict[str, Any] = {}
    for name, value in raw.items():
        vpath = f"{at}.{name}"
        found = value_type(value)
        if not isinstance(name, str) or not name:
            r.add(vpath, "a variant name must be a non-empty string")
        elif found is None:
            r.add(vpath, f"{_type_name(value)} is not a variant value")
        elif vtype is not None and found is not vtype:
            r.add(vpath, f"is {_type_name(value)}, but the flag's variants are of type {vtype}")
        else:
            vtype = found
            variants[name] = copy.deepcopy(value) if found is VariationType.JSON else value
    return vtype or VariationType.BOOLEAN, variants


def _read_metadata(r: _Reader, data: Any, path: str) -> dict[str, Scalar]:
    problem = f"must be an object of names to strings, numbers or booleans, not {_type_name(data)}"
    return read_scalars(r, data, path, problem, mapping="an object")


def _read_evaluators(r: _Reader, data: Any) -> tuple[dict[str, Any], list[Problem]]:
    """The evaluators with their own ``$ref`` resolved, and the problems found in them."""
    if data is None:
        return {}, []
    if not isinstance(data, Mapping):
        r.add("$evaluators", f"must be an object of names to rules, not {_type_name(data)}")
        return {}, []
    raw: dict[str, Any] = {}
    for name, body in data.items():
        if not isinstance(name, str) or not name:
            r.add(f"$evaluators.{name}", "an evaluator name must be a non-empty string")
        elif _too_deep(body):
            r.add(f"$evaluators.{name}", f"nested more than {MAX_NESTING} levels deep")
        else:
            raw[name] = copy.deepcopy(body)
    issues: list[Problem] = []
    for name, body in raw.items():
        issues.extend(logic_problems(body, f"$evaluators.{name}", raw))
        cycle = _ref_cycle(name, raw)
        if cycle:
            issues.append(Problem(f"$evaluators.{name}", "$ref cycle: " + " -> ".join(cycle)))
    return raw, issues


def _too_deep(value: Any) -> bool:
    """Whether JSON ``value`` nests deeper than ``MAX_NESTING`` (checked without recursion,
    before anything recursive walks it)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return True
        cls = node.__class__
        if cls is dict or (cls is not list and isinstance(node, Mapping)):
            stack.extend((v, depth + 1) for v in node.values() if v.__class__ in _NESTED)
        elif cls is list or isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if v.__class__ in _NESTED)
    return False


def _refs(rule: Any) -> list[str]:
    """The evaluator names ``rule`` refers to."""
    out: list[str] = []
    stack = [rule]
    while stack:
        node = stack.pop()
        cls = node.__class__
        if cls is list:
            stack.extend(node)
        elif cls is dict or (cls not in _SCALARS and isinstance(node, Mapping)):
            if len(node) == 1 and isinstance(node.get("$ref"), str):
                out.append(node["$ref"])
            else:
                stack.extend(node.values())
        elif cls not in _SCALARS and isinstance(node, list):
            stack.extend(node)
    return out


def _ref_cycle(start: str, evaluators: Mapping[str, Any]) -> list[str] | None:
    return find_cycle(start, lambda name: [n for n in _refs(evaluators[name]) if n in evaluators])


def _targeting(
    targeting: Any, path: str, evaluators: Mapping[str, Any]
) -> tuple[Any, list[Problem]]:
    """The rule to compile (``$ref`` replaced) and why it cannot run, if it cannot."""
    if targeting is None or (isinstance(targeting, Mapping) and not targeting):
        return None, []  # flagd reads empty targeting as none
    issues = logic_problems(targeting, path, evaluators)
    used: set[str] = set()
    pending = _refs(targeting)
    while pending:
        name = pending.pop()
        if name in evaluators and name not in used:
            used.add(name)
            pending.extend(_refs(evaluators[name]))
    for name in sorted(used):
        if logic_problems(evaluators[name], f"$evaluators.{name}", evaluators) or _ref_cycle(
            name, evaluators
        ):
            issues.append(Problem(path, f"uses the evaluator {name!r}, which cannot run"))
    if issues:
        return None, issues
    try:
        return _substitute(targeting, evaluators, 0), []
    except RecursionError:
        return None, [
            Problem(path, f"nested more than {MAX_NESTING} levels deep with its evaluators")
        ]


def _substitute(rule: Any, evaluators: Mapping[str, Any], depth: int) -> Any:
    """``rule`` with each ``{"$ref": name}`` replaced by that evaluator (already checked)."""
    if depth > MAX_NESTING:
        raise RecursionError("evaluators nested too deeply")
    cls = rule.__class__
    if cls in _SCALARS:
        return rule
    if cls is list or isinstance(rule, list):
        return [_substitute(x, evaluators, depth + 1) for x in rule]
    if cls is dict or isinstance(rule, Mapping):
        if len(rule) == 1 and "$ref" in rule:
            return _substitute(evaluators[rule["$ref"]], evaluators, depth + 1)
        return {k: _substitute(v, evaluators, depth + 1) for k, v in rule.items()}
    return rule


# ------------------------------------------------------------------ compiling


def _resolve_failed(message: str, meta: Mapping[str, Any]) -> Detail:
    return EvaluationDetail(
        None, None, Reason.ERROR, error=ErrorKind.GENERAL, error_message=message, metadata=meta
    )


class CompiledFlagdFlag(CompiledFlag):
    """A flagd flag ready to evaluate: its targeting compiled, its details prebuilt.

    It stands where a ``CompiledFlag`` stands in a ``Ruleset``; the parts of a native
    flag it has not (targets, rules, prerequisites) are empty.

    The targeting compiles to closures (``_jsonlogic``), then to one generated function
    for plain ``dict`` contexts (``_generated``). Once that function exists the closures
    are let go, and built again only if a context of another mapping type comes: they
    would hold more memory than the rest of the flag.
    """

    __slots__ = (
        "_clock",
        "_closures",
        "_rule",
        "broken",
        "by_variant",
        "default_detail",
        "metadata",
        "parse_error",
    )

    def __init__(self, flag: FlagdFlag, *, clock: Clock = time.time) -> None:
        self.flag = flag
        self.accepts = _TYPE_CHECKS[flag.type]
        meta = self.metadata = Metadata(flag.metadata) if flag.metadata else NO_METADATA
        variants = flag.variations
        self.by_variant: dict[str, Detail] = {
            name: EvaluationDetail(value, name, Reason.TARGETING_MATCH, metadata=meta)
            for name, value in variants.items()
        }
        default = flag.default_variant
        value = None if default is None else variants[default]
        self.default_detail = EvaluationDetail(value, default, Reason.DEFAULT, metadata=meta)
        static = EvaluationDetail(
            value, default, Reason.STATIC if default is not None else Reason.DEFAULT, metadata=meta
        )
        self.off = EvaluationDetail(None, None, Reason.DISABLED, metadata=meta)
        self.targets = {}
        self.prerequisites = []
        self.rules = []
        self.default_fixed, self.default_rollout = static, None
        message = "; ".join(str(p) for p in flag.issues) or "the targeting cannot run"
        self.parse_error = EvaluationDetail(
            None, None, Reason.ERROR, error=ErrorKind.PARSE_ERROR, error_message=message,
            metadata=meta,
        )  # fmt: skip
        self._clock = clock
        self._rule: Callable[[Any], Any] | None = None
        self._closures: FlagFunction | None = None
        self.broken = bool(flag.issues)
        node = None
        if flag.on and not self.broken and flag.rule is not None:
            try:
                node = self._compile_rule()
            except (LogicError, RecursionError) as exc:  # parse_flagd found none: a safety net
                self.broken = True
                self.parse_error = EvaluationDetail(
                    None, None, Reason.ERROR, error=ErrorKind.PARSE_ERROR,
                    error_message=str(exc), metadata=meta,
                )  # fmt: skip
            else:
                self._rule = node.fn
        function = None
        if node is not None and not node.const:
            # A rule too big for Python's parser keeps its closures: slower, just as right.
            with contextlib.suppress(SyntaxError, RecursionError, MemoryError):
                function = self._generated(node, self._fallback)
                self._rule = None  # built again when needed (see the class docstring)
        if function is None:
            function = self._closures = self._function()
        if flag.type is VariationType.JSON:
            self.evaluate = lambda ctx, env: own_copy(function(ctx, env))
        else:
            self.evaluate = function

    def _compile_rule(self) -> Node:
        flag = self.flag
        assert isinstance(flag, FlagdFlag)
        return compile_logic(
            flag.rule, flag_key=flag.key, clock=self._clock, path=f"flags.{flag.key}.targeting"
        )

    @property
    def rule(self) -> Callable[[Any], Any] | None:
        """The targeting as closures (None when it does not run: no targeting, or broken)."""
        flag = self.flag
        assert isinstance(flag, FlagdFlag)
        if self._rule is None and flag.on and not self.broken and flag.rule is not None:
            self._rule = self._compile_rule().fn
        return self._rule

    def _fallback(self, ctx: Mapping[str, Any], env: Env) -> Detail:
        """The closures' evaluation, for contexts that are not a plain ``dict``."""
        closures = self._closures
        if closures is None:
            closures = self._closures = self._function()
        return closures(ctx, env)

    def _function(self) -> Callable[[Mapping[str, Any], Env], Detail]:
        if not self.flag.on:
            off = self.off
            return lambda ctx, env: off
        if self.broken:
            failed = self.parse_error
            return lambda ctx, env: failed
        closures = self.rule
        if closures is None:
            static = self.default_fixed
            assert static is not None
            return lambda ctx, env: static

        def evaluate(
            ctx: Mapping[str, Any],
            env: Env,
            rule: Callable[[Any], Any] = closures,
            by_variant: dict[str, Detail] = self.by_variant,
            resolve: Callable[[Any], Detail] = self.resolve,
            failed: Callable[[Exception], Detail] = self._failed,
        ) -> Detail:
            try:
                result = rule(ctx)
            except Exception as exc:  # a rule that cannot run is flagd's PARSE_ERROR
                return failed(exc)
            if result.__class__ is str:
                found = by_variant.get(result)
                if found is not None:
                    return found
            return resolve(result)

        return evaluate

    def _generated(self, node: Node, closures: FlagFunction) -> FlagFunction:
        """One generated function for the targeting, for plain ``dict`` contexts.

        ``if`` chains become ``if`` statements, the common tests inline expressions
        (see ``_jsonlogic.Source``), and each branch returns a detail built in advance.
        Any other context goes to ``closures``, the reference semantics.
        """
        src = Source()
        lines = [
            "if ctx.__class__ is not dict:",
            f"    return {src.const(closures)}(ctx, env)",
            "get = ctx.get",
            "try:",
        ]
        self._emit(src, node, lines, 1)
        lines += ["except Exception as exc:", f"    return {src.const(self._failed)}(exc)"]
        return generated_function(lines, src.values, "<vexil flagd flag>")

    def _emit(self, src: Source, node: Node, lines: list[str], indent: int) -> None:
        pad = "    " * indent
        while node.chain and node.otherwise is not None and indent < _MAX_INDENT:
            for cond, then in node.chain:
                lines.append(f"{pad}if {src.expr(cond)}:")
                self._emit(src, then, lines, indent + 1)
            node = node.otherwise  # an `if` in the else branch continues the chain
        if node.const:
            lines.append(f"{pad}return {src.const(self._detail_for(node.value))}")
            return
        found, resolve = src.const(self.by_variant), src.const(self.resolve)
        lines.append(
            f"{pad}return (({found}.get(r) or {resolve}(r))"
            f" if (r := {src.expr(node)}).__class__ is str else {resolve}(r))"
        )

    def _detail_for(self, result: Any) -> Detail:
        if result.__class__ is str and result in self.by_variant:
            return self.by_variant[result]
        return self.resolve(result)

    def _failed(self, exc: Exception) -> Detail:
        return EvaluationDetail(
            None, None, Reason.ERROR, error=ErrorKind.PARSE_ERROR,
            error_message=f"the targeting failed: {exc!r}", metadata=self.metadata,
        )  # fmt: skip

    def resolve(self, result: Any) -> Detail:
        """The detail for what the targeting returned (the slow cases of ``evaluate``)."""
        if result is None:
            return self.default_detail
        if isinstance(result, list | Mapping):
            return _resolve_failed(
                f"the targeting returned {_type_name(result)}, not a variant name", self.metadata
            )
        name = js_string(result)  # booleans name the variants "true" and "false", as in flagd
        found = self.by_variant.get(name)
        if found is not None:
            return found
        if name == "" and self.default_detail.variant is None:
            return self.default_detail
        variants = ", ".join(self.flag.variations)
        return _resolve_failed(
            f"the targeting returned {name!r}, which is not a variant (variants: {variants})",
            self.metadata,
        )

    def explain(self, ctx: Mapping[str, Any], env: Env) -> Explanation:
        """The evaluation of ``ctx``, with the steps a person needs to see why."""
        flag = self.flag
        assert isinstance(flag, FlagdFlag)
        detail = self.evaluate(ctx, env)
        steps: list[Step] = []
        if not flag.on:
            steps.append(Step("flag", "the flag is DISABLED: the caller's default is served"))
        elif self.broken:
            steps.append(Step("targeting", f"the targeting cannot run: {detail.error_message}"))
        elif self.rule is None:
            steps.append(Step("flag", "the flag is ENABLED and has no targeting"))
        else:
            steps.append(Step("flag", "the flag is ENABLED"))
            try:
                result: Any = self.rule(ctx)
                shown = repr(result)
            except Exception as exc:  # as evaluate does
                shown = f"an error ({exc!r})"
                result = None
            matched = isinstance(result, str | bool) and detail.reason is Reason.TARGETING_MATCH
            steps.append(Step("targeting", f"the targeting returned {shown}", matched))
        if detail.reason is Reason.DEFAULT or detail.reason is Reason.STATIC:
            default = flag.default_variant
            steps.append(
                Step("default", f"the default variant {default!r} is served")
                if default is not None
                else Step("default", "the flag has no default variant: the caller's default")
            )
        return Explanation(flag.key, detail, tuple(steps))


def compile_flagd_flag(flag: FlagdFlag, *, clock: Clock = time.time) -> CompiledFlagdFlag:
    """Compile one flag; ``clock`` gives ``$flagd.timestamp`` (Unix seconds)."""
    return CompiledFlagdFlag(flag, clock=clock)


# -------------------------------------------------------------------- writing


def dump_flagd(doc: FlagdDocument) -> dict[str, Any]:
    """The flagd document form of ``doc`` (what ``parse_flagd`` reads back)."""
    out: dict[str, Any] = {}
    if doc.schema is not None:
        out["$schema"] = doc.schema
    out["flags"] = {key: dump_flagd_flag(flag) for key, flag in doc.flags.items()}
    if doc.evaluators:
        out["$evaluators"] = copy.deepcopy(dict(doc.evaluators))
    if doc.metadata:
        out["metadata"] = dict(doc.metadata)
    return out


def dump_flagd_flag(flag: Flag) -> dict[str, Any]:
    if not isinstance(flag, FlagdFlag):
        raise TypeError(f"flag {flag.key!r} is not a flagd flag")
    out: dict[str, Any] = {
        "state": flag.state,
        "variants": copy.deepcopy(dict(flag.variations)),
    }
    if flag.default_variant is not None:
        out["defaultVariant"] = flag.default_variant
    if flag.targeting is not None:
        out["targeting"] = copy.deepcopy(flag.targeting)
    if flag.flag_metadata:
        out["metadata"] = dict(flag.flag_metadata)
    return out

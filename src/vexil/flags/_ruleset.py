"""A ruleset: the compiled flags and segments of one environment, ready to evaluate.

A ruleset is immutable, so any number of threads may evaluate with it while
another builds its successor. ``with_flag`` and friends return a new ruleset that
shares every compiled flag but the changed one: replacing one flag among ten
thousand compiles that one flag only.

A ruleset is built from a Vexil document or from a flagd document (``_flagd``):
the loaders tell them apart by their shape, and a flagd flag compiles into the
same kind of callable, so evaluating does not care where a flag came from.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ._compile import CompiledFlag, CompiledSegment
from ._detail import ErrorKind, EvaluationDetail, error_detail
from ._dump import dump_document
from ._errors import Problem, ValidationError
from ._explain import Explanation, explain_flag
from ._flagd import (
    CompiledFlagdFlag,
    FlagdDocument,
    FlagdFlag,
    compile_flagd_flag,
    dump_flagd,
    is_flagd_document,
    parse_flagd,
    parse_flagd_flag,
)
from ._graph import dependents
from ._loader import load_data, read_data
from ._model import Document, Flag, Segment
from ._parse import check_references, parse_document, parse_flag, parse_segment


class Ruleset:
    """The evaluator: ``ruleset.evaluate("new-checkout", {"key": "u-1"})``."""

    __slots__ = ("compiled_flags", "compiled_segments", "document")

    def __init__(self, document: Document | None = None) -> None:
        self.document = document or Document(flags={}, segments={})
        with _collector_paused():
            self.compiled_flags: dict[str, CompiledFlag] = {
                k: _compiled(f) for k, f in self.document.flags.items()
            }
            self.compiled_segments: dict[str, CompiledSegment] = {
                k: CompiledSegment(s) for k, s in self.document.segments.items()
            }

    # ---------------------------------------------------------------- building

    @classmethod
    def from_data(cls, data: Any) -> Ruleset:
        """From a decoded document (dicts and lists, as from ``json.loads``).

        A Vexil document or a flagd one (see ``from_flagd``), told apart by its shape.
        """
        with _collector_paused():
            return cls(_parse_any(data))

    @classmethod
    def from_text(cls, text: str | bytes, *, format: str | None = None) -> Ruleset:
        """From YAML or JSON text; ``format`` ("yaml" or "json") is guessed when omitted."""
        with _collector_paused():
            return cls(_parse_any(read_data(text, format=format)))

    @classmethod
    def from_file(cls, path: str | Path) -> Ruleset:
        """From a document file: Vexil's or flagd's, YAML or JSON."""
        with _collector_paused():
            return cls(_parse_any(load_data(path)))

    @classmethod
    def from_flagd(cls, data: Any, *, strict: bool = False) -> Ruleset:
        """From a decoded flagd flag-definition document, whatever its shape looks like.

        Targeting that cannot run makes its flag evaluate to PARSE_ERROR, as in flagd;
        ``strict=True`` raises ``ValidationError`` for it instead.
        """
        with _collector_paused():
            return cls(parse_flagd(data, strict=strict))

    def with_flag(self, key: str, data: Any) -> Ruleset:
        """A copy in which flag ``key`` is added or replaced by ``data`` (document form).

        Raises ``ValidationError`` if the flag, or what depends on it, would be broken.
        In a ruleset read from a flagd document, ``data`` is a flagd flag.
        """
        flag = self._flag_of(key, data)
        flags = {**self.document.flags, key: flag}
        problems = check_references(flags, self.document.segments, changed_flags=[key])
        old = self.document.flags.get(key)
        if old is None or set(old.variations) != set(flag.variations):
            problems += check_references(
                flags, self.document.segments, changed_flags=dependents(key, self.document.flags)
            )
        _raise(problems)
        return self._derive(flags, self.document.segments, {key: _compiled(flag)}, {})

    def _flag_of(self, key: str, data: Any) -> Flag:
        doc = self.document
        if isinstance(doc, FlagdDocument):
            if isinstance(data, Flag) and not isinstance(data, FlagdFlag):
                _raise([Problem(f"flags.{key}", "a flagd ruleset holds flagd flags only")])
            if isinstance(data, FlagdFlag):
                return data
            return parse_flagd_flag(
                key, data, evaluators=doc.evaluators, flag_set_metadata=doc.metadata
            )
        if isinstance(data, FlagdFlag):
            _raise([Problem(f"flags.{key}", "a flagd flag belongs in a flagd ruleset")])
        return data if isinstance(data, Flag) else parse_flag(key, data)

    def without_flag(self, key: str) -> Ruleset:
        if key not in self.document.flags:
            return self
        users = dependents(key, self.document.flags)
        if users:
            _raise([Problem(f"flags.{key}", f"is a prerequisite of {', '.join(sorted(users))}")])
        flags = {k: f for k, f in self.document.flags.items() if k != key}
        return self._derive(flags, self.document.segments, {}, {}, drop_flag=key)

    def with_segment(self, key: str, data: Any) -> Ruleset:
        segment = data if isinstance(data, Segment) else parse_segment(key, data)
        segments = {**self.document.segments, key: segment}
        _raise(
            check_references(
                self.document.flags, segments, changed_flags=(), changed_segments=[key]
            )
        )
        return self._derive(self.document.flags, segments, {}, {key: CompiledSegment(segment)})

    def without_segment(self, key: str) -> Ruleset:
        if key not in self.document.segments:
            return self
        segments = {k: s for k, s in self.document.segments.items() if k != key}
        problems = check_references(self.document.flags, segments)
        _raise(problems)
        return self._derive(self.document.flags, segments, {}, {}, drop_segment=key)

    def _derive(
        self,
        flags: Mapping[str, Flag],
        segments: Mapping[str, Segment],
        new_flags: dict[str, CompiledFlag],
        new_segments: dict[str, CompiledSegment],
        drop_flag: str | None = None,
        drop_segment: str | None = None,
    ) -> Ruleset:
        out = Ruleset.__new__(Ruleset)
        out.document = replace(self.document, flags=flags, segments=segments)
        out.compiled_flags = {**self.compiled_flags, **new_flags}
        out.compiled_segments = {**self.compiled_segments, **new_segments}
        out.compiled_flags.pop(drop_flag or "", None)
        out.compiled_segments.pop(drop_segment or "", None)
        return out

    # -------------------------------------------------------------- evaluating

    def evaluate(
        self, key: str, context: Mapping[str, Any], default: Any = None
    ) -> EvaluationDetail[Any]:
        """Evaluate flag ``key`` for ``context``. Never raises.

        With a ``default``, a flag of another type gives TYPE_MISMATCH, and the
        default stands in wherever the flag has nothing to serve.
        """
        compiled = self.compiled_flags.get(key)
        if compiled is None:
            return error_detail(ErrorKind.FLAG_NOT_FOUND, f"no flag {key!r}", default)
        if default is not None and not compiled.accepts(default):
            return error_detail(
                ErrorKind.TYPE_MISMATCH,
                f"flag {key!r} is of type {compiled.flag.type},"
                f" the default is {type(default).__name__}",
                default,
            )
        if context.__class__ is not dict and not isinstance(context, Mapping):
            return error_detail(ErrorKind.INVALID_CONTEXT, "the context must be a mapping", default)
        try:
            detail = compiled.evaluate(context, self)
        except Exception as exc:  # evaluation must never raise into the caller
            return error_detail(ErrorKind.GENERAL, f"evaluating {key!r} failed: {exc!r}", default)
        if detail.value is None and default is not None:
            return replace(detail, value=default)
        return detail

    def evaluate_all(self, context: Mapping[str, Any]) -> dict[str, EvaluationDetail[Any]]:
        """Every flag's detail for one context."""
        evaluate = self.evaluate
        return {key: evaluate(key, context) for key in self.compiled_flags}

    def explain(self, key: str, context: Mapping[str, Any]) -> Explanation:
        """Why ``evaluate(key, context)`` gives what it gives, step by step."""
        compiled = self.compiled_flags.get(key)
        if compiled is None or not isinstance(context, Mapping):
            return Explanation(key, self.evaluate(key, context))
        try:
            if isinstance(compiled, CompiledFlagdFlag):
                return compiled.explain(context, self)
            return explain_flag(compiled, context, self)
        except Exception:
            return Explanation(key, self.evaluate(key, context))

    # --------------------------------------------------------------- reading

    @property
    def flags(self) -> Mapping[str, Flag]:
        return self.document.flags

    @property
    def segments(self) -> Mapping[str, Segment]:
        return self.document.segments

    def __len__(self) -> int:
        return len(self.compiled_flags)

    def __iter__(self) -> Iterator[str]:
        return iter(self.compiled_flags)

    def __contains__(self, key: object) -> bool:
        return key in self.compiled_flags

    def to_data(self) -> dict[str, Any]:
        """The document form (what ``from_data`` reads back): flagd's for a flagd ruleset."""
        if isinstance(self.document, FlagdDocument):
            return dump_flagd(self.document)
        return dump_document(self.document)

    def __repr__(self) -> str:
        return f"<Ruleset {len(self.document.flags)} flags, {len(self.document.segments)} segments>"


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large ruleset is built.

    Building a ruleset allocates many long-lived, acyclic objects; each batch of
    allocations would start a collection that walks everything built so far,
    which makes loading 10,000 flags several times slower. Nothing built here is
    cyclic garbage, and the collector is restored (if it was on) right after.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_any(data: Any) -> Document:
    return parse_flagd(data) if is_flagd_document(data) else parse_document(data)


def _compiled(flag: Flag) -> CompiledFlag:
    return compile_flagd_flag(flag) if isinstance(flag, FlagdFlag) else CompiledFlag(flag)


def _raise(problems: list[Problem]) -> None:
    if problems:
        raise ValidationError(problems)

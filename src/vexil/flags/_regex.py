"""The regular expressions of ``matches``, run by RE2 in time linear in the text.

Python's ``re`` backtracks: ``^(a+)+$`` against thirty ``a`` and a ``!`` tries every
way of splitting the ``a``, which takes seconds and doubles with each character.
RE2 (``google-re2``) never backtracks; a search costs at most the length of the text
times the size of the compiled pattern. What only backtracking can run
(backreferences, lookahead and lookbehind, possessive quantifiers, atomic groups) is
not in its syntax, and such a pattern is refused when the flag is validated, with
the reason: no pattern is ever handed to another engine.

The limits, checked by :func:`problem` when a flag is validated and again when it is
compiled: :data:`MAX_LENGTH` characters of pattern; RE2's memory budget of
:data:`MAX_MEMORY` bytes per pattern (its program and the state caches its searches
fill); :data:`MAX_PROGRAM` instructions once compiled, since the worst-case cost of
a search, per character of text, grows with that size.

The extension's ``RE2`` object is used directly rather than through
``re2.compile``: the Python wrapper builds a generator and a match object on every
search, which costs twice the search itself, and keeps a process-wide cache of
compiled patterns, while a flag already holds its own. A pattern that is plain text
(``@example\\.com$``) is tested with a ``str`` method instead, which gives RE2's
answer for a fraction of the cost of a call into it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import re2  # type: ignore[import-untyped]
from re2 import _re2

from ._bucketing import well_formed

__all__ = ["MAX_LENGTH", "MAX_MEMORY", "MAX_PROGRAM", "problem", "search_test"]

#: The longest pattern accepted, in characters.
MAX_LENGTH = 1000
#: RE2's memory budget for one pattern, in bytes (RE2's own default is 8 MiB).
MAX_MEMORY = 1 << 20
#: The most instructions a compiled pattern may have: a search's worst case, when RE2
#: cannot keep the states of its automaton, costs about this much per byte of text.
MAX_PROGRAM = 5000


def _options() -> Any:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.never_capture = True  # only "found or not" is asked: groups cost work
    return options


_OPTIONS = _options()
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_encode = str.encode

#: RE2's error, as it begins, and what it means for a pattern written for Python's ``re``.
_HINTS = (
    *((f"invalid escape sequence: \\{d}", "backreferences are not supported") for d in "123456789"),
    ("invalid escape sequence: \\Z", r"RE2 writes the end of the text \z"),
    ("invalid escape sequence: \\u", r"RE2 writes a code point \x{00e9}"),
    ("invalid escape sequence: \\U", r"RE2 writes a code point \x{1f600}"),
    ("invalid perl operator: (?=", "lookahead is not supported"),
    ("invalid perl operator: (?!", "lookahead is not supported"),
    ("invalid perl operator: (?<=", "lookbehind is not supported"),
    ("invalid perl operator: (?<!", "lookbehind is not supported"),
    ("invalid perl operator: (?>", "atomic groups are not supported"),
    ("invalid perl operator: (?P", "backreferences (?P=name) are not supported"),
    ("invalid perl operator: (?#", "comments are not supported"),
    *((f"invalid perl operator: (?{f}", "RE2's flags are i, m, s and U") for f in "axuL"),
    ("bad repetition operator: ++", "possessive quantifiers are not supported"),
    ("bad repetition operator: *+", "possessive quantifiers are not supported"),
    ("bad repetition operator: ?+", "possessive quantifiers are not supported"),
    ("pattern too large", f"it needs more than RE2's memory budget of {MAX_MEMORY >> 20} MiB"),
)

#: A repetition for Python's ``re`` (``{,3}``, ``{01}``, ``{99999999999}``) that RE2
#: reads as literal text, silently changing what a pattern written for ``re`` means.
_PYTHON_REPEAT = re.compile(r"\{[0-9]*(?:,[0-9]*)?\}")
_COUNT = "(?:0|[1-9][0-9]{0,7})"  # RE2 reads no leading zero, nor 9 digits or more
_RE2_REPEAT = re.compile(rf"\{{{_COUNT}(?:,{_COUNT}?)?\}}")


#: Plain text, with ``\\`` before punctuation, perhaps between ``^`` and ``$`` (which, with
#: no ``(?m)``, RE2 reads as the start and the very end of the text).
_LITERAL = re.compile(r"(\^?)((?:[^\\.+*?()|\[\]{}^$]|\\[!-/:-@\[-`{-~])*)(\$?)\Z")
_UNESCAPE = re.compile(r"\\(.)")


def problem(pattern: str) -> str | None:
    """Why RE2 cannot run ``pattern`` as a ``matches`` value, or None when it can."""
    try:
        _compile(pattern)
    except ValueError as exc:
        return str(exc)
    return None


def search_test(patterns: Iterable[str]) -> Callable[[Any], bool]:
    """The test "is a string in which one of ``patterns`` is found" (``re.search``'s sense).

    Raises ``ValueError`` for a pattern :func:`problem` refuses. The test never raises:
    an unpaired surrogate, which JSON can carry but UTF-8 cannot, is read as U+FFFD.
    """
    literals: list[Callable[[str], bool]] = []
    searches: list[Callable[..., Any]] = []
    for pattern in patterns:
        compiled = _compile(pattern)  # literal or not, every pattern meets the same limits
        literal = _literal_test(pattern)
        if literal is None:
            searches.append(compiled.Match)
        else:
            literals.append(literal)
    return _test(tuple(literals), tuple(searches))


def _test(
    literals: tuple[Callable[[str], bool], ...], searches: tuple[Callable[..., Any], ...]
) -> Callable[[Any], bool]:
    def test(v: Any) -> bool:
        if not isinstance(v, str):
            return False
        for found in literals:
            if found(v):
                return True
        if not searches:
            return False
        try:
            text = _encode(v)
        except UnicodeEncodeError:
            text = _encode(well_formed(v))
        end = len(text)
        for match in searches:
            if match(_UNANCHORED, text, 0, end)[0][0] >= 0:
                return True
        return False

    return test


def _literal_test(pattern: str) -> Callable[[str], bool] | None:
    """``pattern`` as a string method when it is plain text, perhaps anchored (``^ab\\.c$``).

    A call into RE2 costs several times what ``str.endswith`` does, and such patterns
    are common. None when RE2 is needed. U+FFFD is left to RE2, which sees each
    unpaired surrogate of the text as one.
    """
    m = _LITERAL.match(pattern)
    if m is None or "\ufffd" in pattern:
        return None
    start, body, end = m.groups()
    text = _UNESCAPE.sub(r"\1", body)
    if start and end:
        return text.__eq__
    if start:
        return lambda v: v.startswith(text)
    if end:
        return lambda v: v.endswith(text)
    return lambda v: text in v


def _compile(pattern: str) -> Any:
    """The RE2 object of ``pattern``; ``ValueError`` saying why when there is none."""
    shown = repr(pattern) if len(pattern) <= 100 else f"{pattern[:60]!r}..."
    reason = _refusal(pattern)
    if reason is None:
        compiled = _re2.RE2(_encode(pattern), _OPTIONS)
        if not compiled.ok():
            reason = _explain(compiled.error().decode("utf-8", "replace"))
        elif (size := compiled.ProgramSize()) > MAX_PROGRAM:
            reason = (
                f"too large once compiled: {size} instructions, at most {MAX_PROGRAM}"
                " (a repetition such as {100} copies what it repeats)"
            )
        else:
            return compiled
    raise ValueError(f"invalid regular expression {shown}: {reason}")


def _refusal(pattern: str) -> str | None:
    """What is wrong with ``pattern`` before RE2 reads it."""
    if len(pattern) > MAX_LENGTH:
        return f"{len(pattern)} characters, more than the {MAX_LENGTH} allowed"
    try:
        _encode(pattern)
    except UnicodeEncodeError:
        return "it contains an unpaired surrogate, which is not text"
    literal = _literal_repeat(pattern)
    if literal is not None:
        return (
            f"RE2 reads {literal} as literal text, not as a repetition"
            r" (count as in {0,3}, without leading zeros; \{ is a brace)"
        )
    return None


def _explain(error: str) -> str:
    for start, hint in _HINTS:
        if error.startswith(start):
            return f"{error} ({hint})"
    return error


def _literal_repeat(pattern: str) -> str | None:
    """The first repetition of Python's that RE2 reads as text, outside a class or ``\\Q``."""
    i, end, in_class = 0, len(pattern), False
    while i < end:
        c = pattern[i]
        if c == "\\":
            if not in_class and pattern.startswith("Q", i + 1):  # literal up to \E
                quoted = pattern.find("\\E", i + 2)
                i = end if quoted < 0 else quoted + 2
            else:
                i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):  # [:alpha:] inside a class
                named = pattern.find(":]", i + 2)
                i = end if named < 0 else named + 2
                continue
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1
            i += pattern.startswith("^", i)
            i += pattern.startswith("]", i)  # a "]" first is literal
            continue
        elif c == "{" and (m := _PYTHON_REPEAT.match(pattern, i)):
            token = m.group()
            if token != "{}" and not _RE2_REPEAT.fullmatch(token):
                return token
            i = m.end()
            continue
        i += 1
    return None

"""``matches`` runs on RE2: linear time, refusals with their reasons, and the same answers.

A backtracking engine would run the hostile patterns below for hours; each test that
evaluates one is held to a deadline (the ``not_stalled`` fixture) so that it fails
instead of hanging.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from enum import StrEnum
from typing import Any

import pytest
import re2  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from vexil.flags import Operator, Reason, Ruleset, ValidationError, parse_document
from vexil.flags._bucketing import well_formed

SIZES = (30, 1_000, 100_000)
Stalling = Callable[[float], AbstractContextManager[None]]


def ruleset(*patterns: str, attribute: str = "name") -> Ruleset:
    """One flag, on when ``attribute`` matches one of ``patterns``."""
    clause = {"attribute": attribute, "op": "matches", "values": list(patterns)}
    return Ruleset.from_data(
        {
            "flags": {
                "f": {
                    "variations": {"on": True, "off": False},
                    "rules": [{"clauses": [clause], "serve": "on"}],
                    "default": "off",
                }
            }
        }
    )


def found(patterns: list[str], value: Any) -> bool:
    detail = ruleset(*patterns).evaluate("f", {"key": "u", "name": value})
    assert detail.error is None, detail
    return bool(detail.value)


def refusal(pattern: str, where: str = "flag") -> tuple[str, str]:
    """The path and message of the one problem ``pattern`` makes, in a flag or a segment."""
    clause = {"attribute": "email", "op": "matches", "values": ["ok", pattern]}
    if where == "flag":
        rule = {"clauses": [clause], "serve": "on"}
        flag = {"variations": {"on": True, "off": False}, "rules": [rule]}
        data: dict[str, Any] = {"flags": {"f": flag}}
    else:
        data = {"flags": {}, "segments": {"s": {"rules": [{"clauses": [clause]}]}}}
    with pytest.raises(ValidationError) as caught:
        parse_document(data)
    [problem] = caught.value.problems
    return problem.path, problem.message


# ----------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"(a)\1", "backreferences are not supported"),
        (r"(?P<x>a)(?P=x)", "backreferences (?P=name) are not supported"),
        (r"(?=a)", "lookahead is not supported"),
        (r"x(?!a)", "lookahead is not supported"),
        (r"(?<=a)b", "lookbehind is not supported"),
        (r"(?<!a)b", "lookbehind is not supported"),
        (r"a++", "possessive quantifiers are not supported"),
        (r"a*+", "possessive quantifiers are not supported"),
        (r"(?>a+)b", "atomic groups are not supported"),
        (r"(?#note)a", "comments are not supported"),
        (r"(?x) a b", "RE2's flags are i, m, s and U"),
        (r"ab\Z", r"RE2 writes the end of the text \z"),
        (r"caf\u00e9", r"RE2 writes a code point \x{00e9}"),
        (r"a{,3}", "RE2 reads {,3} as literal text, not as a repetition"),
        (r"a{01}", "RE2 reads {01} as literal text, not as a repetition"),
        (r"a{1001}", "invalid repetition size: {1001}"),
        (r"\pL{100}", "it needs more than RE2's memory budget of 1 MiB"),
        (r".{1000}", "too large once compiled: 8004 instructions, at most 5000"),
        ("x" * 1001, "1001 characters, more than the 1000 allowed"),
        ("a\ud800", "it contains an unpaired surrogate, which is not text"),
        ("(unclosed", "missing ): (unclosed"),
    ],
)
@pytest.mark.parametrize("where", ["flag", "segment"])
def test_a_pattern_re2_cannot_run_is_refused_with_its_path_and_the_reason(
    pattern: str, reason: str, where: str
) -> None:
    path, message = refusal(pattern, where)
    prefix = "flags.f" if where == "flag" else "segments.s"
    assert path == f"{prefix}.rules[0].clauses[0].values[1]"
    assert message.startswith("invalid regular expression ")
    assert reason in message


def test_a_long_refused_pattern_is_shortened_in_the_message() -> None:
    _, message = refusal("(" * 600 + ")" * 600)
    assert len(message) < 200
    assert "1200 characters, more than the 1000 allowed" in message


def ok_rule() -> dict[str, Any]:
    return {"clauses": [{"attribute": "name", "op": "matches", "values": ["a"]}], "serve": "on"}


def test_a_refused_pattern_is_never_run_by_another_engine() -> None:
    # A document built from the model skips validation; compiling it must refuse too,
    # where a fallback to Python's re would have run the pattern.
    valid = parse_document(
        {"flags": {"f": {"variations": {"on": True, "off": False}, "rules": [ok_rule()]}}}
    )
    flag = valid.flags["f"]
    clause = replace(flag.rules[0].clauses[0], values=("a(?=b)",))
    rule = replace(flag.rules[0], clauses=(clause,))
    document = replace(valid, flags={"f": replace(flag, rules=(rule,))})
    assert clause.op is Operator.MATCHES
    with pytest.raises(ValueError, match="lookahead is not supported"):
        Ruleset(document)
    with pytest.raises(re2.error):  # and the library itself has no fallback
        re2.compile("a(?=b)")


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("x" * 1000, "x" * 1000),
        (r"^\pL+$", "Straße"),
        (r"^[\pL\pN_]+$", "naïve_42"),
        (r"a{1000}", "a" * 1000),
        (r"\{,3}", "a{,3}"),
        (r"[{,3}]", ","),
        (r"\Q{,3}\E", "a{,3}"),
        (r"a{2,}", "aaa"),
        (r"end\z", "the end"),
        (r"\x{00e9}", "café"),
        (r"(?U)a+", "a"),
        (r"[[:digit:]]+", "v42"),
        ("", "anything"),
    ],
)
def test_re2_syntax_up_to_the_limits_is_accepted(pattern: str, text: str) -> None:
    assert found([pattern], text) is True


# ---------------------------------------------------------- same answers

#: Patterns of the kinds flags use, on which Python's re and RE2 agree.
ORDINARY = [
    r"^a.a@",
    r"vexil\.dev",
    r"@vexil\.dev$",
    r"^ana@vexil\.dev$",
    r"^admin",
    r"(?i)^ANA",
    r"^[a-z0-9._%+-]+@(?:vexil\.dev|example\.org)$",
    r"^\d{3}-\d{4}$",
    r"\b(?:beta|alpha)\b",
    r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$",
    r"^(?:US|CA|MX)$",
    r"[^a-z]",
    r"^$",
    r"colou?r",
    r"^\s*$",
    r"(?s)a.b",
    r"(?m)^b",
    r"^user-\d+$",
]
TEXTS = [
    "ana@vexil.dev",
    "ANA@VEXIL.DEV",
    "admin@example.org",
    "555-1234",
    "the beta build",
    "alphabet",
    "v1.2.3",
    "10.4",
    "CA",
    "",
    "   ",
    "color",
    "a\nb",
    "user-0042",
    "ana@vexil.devx",
]


@pytest.mark.parametrize("pattern", ORDINARY)
def test_matches_answers_as_re_search_did_on_ordinary_patterns(pattern: str) -> None:
    rs = ruleset(pattern)
    for text in TEXTS:
        expected = re.search(pattern, text) is not None
        assert bool(rs.evaluate("f", {"key": "u", "name": text}).value) is expected, text


#: The one-pattern-kind tests below build patterns from these pieces: plain text
#: (which the engine tests with string methods) and what needs RE2.
PIECES = ["a", "b", "é", ".", r"\.", r"\$", r"\^", r"\\", "-", "^", "$", "\ufffd", "\n", "a+"]
TEXT_CHARS = ["a", "b", "é", ".", "$", "^", "\\", "\ufffd", "\ud800", "\n", "-"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=5).map("".join),
    st.lists(st.sampled_from(TEXT_CHARS), max_size=8).map("".join),
)
def test_every_pattern_answers_as_re2_searching_the_text(pattern: str, text: str) -> None:
    try:
        rs = ruleset(pattern)
    except ValidationError:
        return  # "a$^" and the like: refused, nothing to compare
    oracle = re2.compile(pattern).search(well_formed(text).encode()) is not None
    assert bool(rs.evaluate("f", {"key": "u", "name": text}).value) is oracle


def test_any_one_of_several_patterns_is_enough() -> None:
    assert found([r"^x", r"dev$", r"\d"], "ana@vexil.dev") is True
    assert found([r"^x", r"@vexil\.dev"], "ana@vexil.dev") is True
    assert found([r"^x", r"\d+", "@other"], "ana@vexil.dev") is False


class Plan(StrEnum):
    PRO = "pro"


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("^p.o$", Plan.PRO, True),
        ("^pro$", Plan.PRO, True),
        ("x", ["a", "box"], True),
        ("^box$", ["a", "box"], True),
        ("x", ["a", "b"], False),
        ("1", 1, False),
        ("a", b"a", False),
        ("a", None, False),
    ],
)
def test_str_subclasses_and_lists_match_and_other_types_do_not(
    pattern: str, value: Any, expected: bool
) -> None:
    assert found([pattern], value) is expected


# --------------------------------------------------------- hostile input

HOSTILE = [
    (r"^(a+)+$", lambda n: "a" * (n - 1) + "!"),
    (r"(a|aa)+$", lambda n: "a" * (n - 1) + "!"),
    (r"(.*a){20}", lambda n: "a" * 19 + "b" * (n - 19)),
    (r"(x+x+)+y", lambda n: "x" * n),
    (r"^(\w+\s?)*$", lambda n: "a" * (n - 1) + "!"),
    (r"^(([a-z])+.)+[A-Z]([a-z])+$", lambda n: "a" * (n - 1) + "!"),
]


@pytest.mark.parametrize(("pattern", "build"), HOSTILE, ids=[p for p, _ in HOSTILE])
def test_catastrophic_patterns_evaluate_without_stalling(
    pattern: str, build: Any, not_stalled: Stalling
) -> None:
    rs = ruleset(pattern)
    with not_stalled(2.0):
        for n in SIZES:
            detail = rs.evaluate("f", {"key": "u", "name": build(n)})
            assert (detail.reason, detail.value) == (Reason.DEFAULT, False)


def test_a_catastrophic_pattern_beside_an_ordinary_one_still_matches(
    not_stalled: Stalling,
) -> None:
    rs = ruleset(r"^(a+)+$", r"!$")
    with not_stalled(2.0):
        assert rs.evaluate("f", {"key": "u", "name": "a" * 100_000 + "!"}).value is True


ODD = [
    "\ud800",
    "\udfff\ud800",
    "a\ud83dz",
    "\ud83d\ude00",  # a surrogate pair as two code points, not one emoji
    "\x00",
    "a\x00b",
    "\ufffd",
    "\U0010ffff",
    "e\u0301",
    "\u202e",
    "\n",
    "",
    "é" * 10_000,
]


@pytest.mark.parametrize("value", ODD, ids=lambda v: ascii(v)[:24])
@pytest.mark.parametrize("pattern", [r"^.*$", r"\x{fffd}", r"a", r"^$", r"(?i)É", r"\C"])
def test_odd_strings_never_raise(pattern: str, value: str) -> None:
    detail = ruleset(pattern).evaluate("f", {"key": "u", "name": value})
    assert detail.error is None
    assert detail.reason in (Reason.TARGETING_MATCH, Reason.DEFAULT)


def test_an_unpaired_surrogate_is_read_as_the_replacement_character() -> None:
    assert found([r"^a\x{fffd}b$"], "a\ud800b") is True
    assert found(["^a\ufffd"], "a\udfff") is True
    assert found([r"^a.b$"], "a\ud800b") is True


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        st.one_of(
            st.characters(exclude_categories=()), st.sampled_from(["\ud800", "\udc00", "\x00"])
        ),
        max_size=40,
    )
)
def test_no_text_makes_an_evaluation_raise(text: str) -> None:
    rs = ruleset(r"^[\pL\pN]+$", r"a.b", r"@x\.io$")
    detail = rs.evaluate("f", {"key": "u", "name": text})
    assert detail.error is None

"""The dependency graph: who needs a flag, and which segments lean on a segment."""

from __future__ import annotations

from typing import Any

from vexil.flags import parse_document
from vexil.flags._graph import refers_to, segments_using, with_dependents

BOOL = {"on": True, "off": False}


def flag(*prerequisites: str, segment: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"variations": dict(BOOL), "default": "off"}
    body["prerequisites"] = [{"flag": key, "variation": "on"} for key in prerequisites]
    if segment is not None:
        body["rules"] = [{"clauses": [{"op": "segment", "values": [segment]}], "serve": "on"}]
    return body


def segment(*uses: str) -> dict[str, Any]:
    rules = [{"clauses": [{"op": "segment", "values": [key]}]} for key in uses]
    return {"included": ["ana"], "rules": rules}


DOCUMENT = parse_document(
    {
        "flags": {
            "a": flag(),
            "b": flag("a"),
            "c": flag("b"),
            "d": flag("a", "c"),
            "lone": flag(segment="outer"),
        },
        "segments": {
            "inner": segment(),
            "middle": segment("inner"),
            "outer": segment("middle"),
            "apart": segment(),
        },
    }
)


def test_dependents_are_followed_through_chains_of_prerequisites() -> None:
    assert with_dependents(["a"], DOCUMENT.flags) == {"a", "b", "c", "d"}
    assert with_dependents(["c"], DOCUMENT.flags) == {"c", "d"}
    assert with_dependents(["lone"], DOCUMENT.flags) == {"lone"}
    assert with_dependents([], DOCUMENT.flags) == set()


def test_segments_using_a_segment_are_followed_through_segments() -> None:
    assert segments_using({"inner"}, DOCUMENT.segments) == {"middle", "outer"}
    assert segments_using({"middle", "outer"}, DOCUMENT.segments) == set()
    assert segments_using({"apart"}, DOCUMENT.segments) == set()


def test_refers_to_reads_the_segment_clauses_of_rules() -> None:
    lone = DOCUMENT.flags["lone"]
    assert refers_to(lone.rules, {"outer"})
    assert not refers_to(lone.rules, {"inner"})
    assert not refers_to(DOCUMENT.flags["a"].rules, {"outer"})

"""The dependency graph of a document: flags need flags (prerequisites), and rules
refer to segments, which refer to segments in turn.

Edges lead only to what exists, so that a dangling reference (reported on its own) is
no edge. The reader checks the graph for cycles, a ruleset asks it what a change
breaks, and the flagd export follows it to the segments a flag uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet

from ._model import Clause, Flag, Operator, Rule, Segment, SegmentRule


def segment_refs(clauses: Iterable[Clause]) -> Iterator[str]:
    """The segment keys that ``clauses`` refer to, in order."""
    for clause in clauses:
        if clause.op is Operator.SEGMENT:
            yield from clause.values


def segment_edges(segment: Segment, segments: Mapping[str, Segment]) -> list[str]:
    """The segments that ``segment``'s rules refer to."""
    return [k for rule in segment.rules for k in segment_refs(rule.clauses) if k in segments]


def prerequisite_edges(flag: Flag, flags: Mapping[str, Flag]) -> list[str]:
    """The other flags that ``flag`` needs."""
    return [p.flag for p in flag.prerequisites if p.flag in flags and p.flag != flag.key]


def dependents(key: str, flags: Mapping[str, Flag]) -> list[str]:
    """The flags that need flag ``key``."""
    return [k for k, f in flags.items() if any(p.flag == key for p in f.prerequisites)]


def with_dependents(keys: Iterable[str], flags: Mapping[str, Flag]) -> set[str]:
    """``keys`` and every flag that needs one of them, directly or through other flags."""
    users: dict[str, list[str]] = {}
    for key, flag in flags.items():
        for prerequisite in flag.prerequisites:
            users.setdefault(prerequisite.flag, []).append(key)
    found = set(keys)
    pending = list(found)
    while pending:
        for user in users.get(pending.pop(), ()):
            if user not in found:
                found.add(user)
                pending.append(user)
    return found


def refers_to(rules: Iterable[Rule | SegmentRule], keys: AbstractSet[str]) -> bool:
    """Whether a clause of ``rules`` (a flag's or a segment's) names one of segments ``keys``."""
    return any(not keys.isdisjoint(segment_refs(rule.clauses)) for rule in rules)


def segments_using(keys: AbstractSet[str], segments: Mapping[str, Segment]) -> set[str]:
    """The segments that refer to one of ``keys``, directly or through other segments,
    ``keys`` themselves left out."""
    found = set(keys)
    while True:
        more = {
            key
            for key, segment in segments.items()
            if key not in found and refers_to(segment.rules, found)
        }
        if not more:
            return found - keys
        found |= more


def find_cycle(start: str, edges: Callable[[str], Iterable[str]]) -> list[str] | None:
    """A path from ``start`` back to itself, if there is one (depth-first, iterative)."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for nxt in edges(node):
            if nxt == start:
                return [*trail, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None

"""The validated flag model: what a flag document means, once it has been checked.

Model objects are immutable and are never touched while evaluating: the compiler
turns them into callables once (see ``_compile``). They are kept for explaining
evaluations, for writing documents back out and for the server's services.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

#: Rollout weights are held in units of 0.001 %; a full rollout is this many units.
WEIGHT_UNITS = 100_000


class VariationType(StrEnum):
    BOOLEAN = "boolean"
    STRING = "string"
    NUMBER = "number"
    JSON = "json"


class Operator(StrEnum):
    IN = "in"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    MATCHES = "matches"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    SEMVER_EQ = "semver_eq"
    SEMVER_LT = "semver_lt"
    SEMVER_LTE = "semver_lte"
    SEMVER_GT = "semver_gt"
    SEMVER_GTE = "semver_gte"
    BEFORE = "before"
    AFTER = "after"
    EXISTS = "exists"
    SEGMENT = "segment"


@dataclass(frozen=True, slots=True)
class Clause:
    """One test of one context attribute; ``values`` match when any one of them does."""

    attribute: str
    op: Operator
    values: tuple[Any, ...] = ()
    negate: bool = False

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.attribute.split("."))


@dataclass(frozen=True, slots=True)
class Slice:
    variation: str
    #: In units of 0.001 %: 100,000 is everyone.
    weight: int


@dataclass(frozen=True, slots=True)
class Rollout:
    slices: tuple[Slice, ...]
    bucket_by: str = "key"
    seed: str | None = None
    experiment: bool = False


#: What a rule or the default serves: a variation name, or a rollout.
Serve = str | Rollout


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    clauses: tuple[Clause, ...]
    serve: Serve
    description: str = ""


@dataclass(frozen=True, slots=True)
class Prerequisite:
    flag: str
    variation: str


@dataclass(frozen=True, slots=True)
class Flag:
    key: str
    type: VariationType
    variations: Mapping[str, Any]
    on: bool = True
    off_variation: str | None = None
    default: Serve | None = None
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    prerequisites: tuple[Prerequisite, ...] = ()
    name: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    temporary: bool = True
    client_side: bool = False
    metadata: Mapping[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def is_static(self) -> bool:
        """On, with nothing to decide: every context gets the same fixed variation."""
        return (
            self.on
            and not self.targets
            and not self.rules
            and not self.prerequisites
            and isinstance(self.default, str)
        )


@dataclass(frozen=True, slots=True)
class SegmentRule:
    id: str
    clauses: tuple[Clause, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    included: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    rules: tuple[SegmentRule, ...] = ()
    name: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class Document:
    """The flags and segments of one environment."""

    flags: Mapping[str, Flag]
    segments: Mapping[str, Segment]
    version: int = 1

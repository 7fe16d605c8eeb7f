"""What an evaluation returns: a typed, frozen detail with a reason and an error kind.

The wire names are OpenFeature's where OpenFeature has the concept, so that the
SDK, the OpenFeature provider and the OFREP endpoint pass them through as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Metadata(Mapping[str, Any]):
    """A flag's metadata in a detail: read-only, shared by every detail of the flag.

    Unlike ``MappingProxyType`` it can be hashed, copied and pickled like the rest of
    a detail, so details stay usable wherever they were before the field existed.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(frozenset(self._items.items()))

    def __repr__(self) -> str:
        return repr(self._items)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Metadata, (self._items,))


#: The metadata of a detail that has none.
NO_METADATA: Mapping[str, Any] = Metadata()


class Reason(StrEnum):
    """Why an evaluation produced its value."""

    #: The flag is on and has no targets, rules or prerequisites: every context gets one value.
    STATIC = "STATIC"
    #: No individual target and no rule matched; the flag's default serve was used.
    DEFAULT = "DEFAULT"
    #: An individual target or a rule matched and served a fixed variation.
    TARGETING_MATCH = "TARGETING_MATCH"
    #: A percentage rollout chose the variation.
    SPLIT = "SPLIT"
    #: The flag is off; its off variation was served.
    DISABLED = "DISABLED"
    #: A prerequisite flag did not serve the required variation; the off variation was served.
    PREREQUISITE_FAILED = "PREREQUISITE_FAILED"
    #: The evaluation failed; see the detail's ``error``.
    ERROR = "ERROR"


class ErrorKind(StrEnum):
    """Why an evaluation failed. Names and meanings are OpenFeature's error codes."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    #: The caller's default is of another type than the flag's variations.
    TYPE_MISMATCH = "TYPE_MISMATCH"
    #: A rollout buckets by an attribute (by default ``key``) that the context lacks.
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"
    #: The context is not a mapping.
    INVALID_CONTEXT = "INVALID_CONTEXT"
    #: The flag data could not be parsed (used by the SDK and the server).
    PARSE_ERROR = "PARSE_ERROR"
    #: The SDK has no flag data yet.
    PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
    #: Anything else; the message says what.
    GENERAL = "GENERAL"


@dataclass(frozen=True, slots=True)
class EvaluationDetail(Generic[T]):
    """The result of evaluating one flag for one context.

    ``value`` is ``None`` when the engine has nothing to serve (an error, or a
    flag without an off variation or default); the SDK then returns the caller's
    default. Details are shared between evaluations: treat them as read-only.
    """

    value: T
    variant: str | None
    reason: Reason
    rule_id: str | None = None
    error: ErrorKind | None = None
    error_message: str | None = None
    in_experiment: bool = False
    #: The key of the prerequisite that failed, when ``reason`` is PREREQUISITE_FAILED.
    prerequisite: str | None = None
    #: The flag's metadata (OpenFeature's flag metadata), for the flags that return it:
    #: flags read from flagd documents. Read-only; empty for the others.
    metadata: Mapping[str, Any] = field(default=NO_METADATA, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with only the fields that are set."""
        out: dict[str, Any] = {"value": self.value, "reason": self.reason.value}
        if self.variant is not None:
            out["variant"] = self.variant
        if self.rule_id is not None:
            out["rule_id"] = self.rule_id
        if self.error is not None:
            out["error"] = self.error.value
        if self.error_message is not None:
            out["error_message"] = self.error_message
        if self.in_experiment:
            out["in_experiment"] = True
        if self.prerequisite is not None:
            out["prerequisite"] = self.prerequisite
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


def error_detail(kind: ErrorKind, message: str, value: Any = None) -> EvaluationDetail[Any]:
    return EvaluationDetail(value, None, Reason.ERROR, error=kind, error_message=message)

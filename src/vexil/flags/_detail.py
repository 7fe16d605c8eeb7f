"""What an evaluation returns: a typed, frozen detail with a reason and an error kind.

The wire names are OpenFeature's where OpenFeature has the concept, so that the
SDK, the OpenFeature provider and the OFREP endpoint pass them through as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T")


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
        return out


def error_detail(kind: ErrorKind, message: str, value: Any = None) -> EvaluationDetail[Any]:
    return EvaluationDetail(value, None, Reason.ERROR, error=kind, error_message=message)

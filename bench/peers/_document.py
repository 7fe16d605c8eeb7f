"""Reads the subset of a Vexil flag document that the peer adapters can translate.

The adapters must not drift from what Vexil means, and they must fail loudly on
anything they cannot express, rather than benchmark a different flag. So every
adapter reads documents through this one module, which checks the subset
(``in``, ``ends_with`` and ``semver_gte`` clauses; a fixed variation or a
rollout by ``key`` as the default; no targets, prerequisites or segments) and
hands back plain, typed values.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import semver

#: Rollout weights in units of 0.001 %, as LaunchDarkly and Vexil hold them.
WEIGHT_UNITS = 100_000

SUPPORTED_OPS = frozenset({"in", "ends_with", "semver_gte"})
_FLAG_FIELDS = frozenset({"variations", "on", "off_variation", "rules", "default"})


class UnsupportedDocument(ValueError):
    """The document uses something outside the subset the adapters translate."""


@dataclass(frozen=True, slots=True)
class Clause:
    attribute: str
    op: str
    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    clauses: tuple[Clause, ...]
    serve: str


@dataclass(frozen=True, slots=True)
class Slice:
    variation: str
    #: In units of 0.001 %; the slices of a rollout add up to ``WEIGHT_UNITS``.
    weight: int


@dataclass(frozen=True, slots=True)
class Flag:
    key: str
    variations: Mapping[str, Any]
    on: bool
    off_variation: str
    rules: tuple[Rule, ...]
    #: The variation served when no rule matches, or ``None`` for a rollout.
    default: str | None
    rollout: tuple[Slice, ...]

    def value(self, variation: str) -> Any:
        return self.variations[variation]

    @property
    def off_value(self) -> Any:
        return self.variations[self.off_variation]

    @property
    def value_type(self) -> type:
        """The Python type shared by every variation value (``bool`` before ``int``)."""
        kinds = {type(v) for v in self.variations.values()}
        if len(kinds) != 1:
            raise UnsupportedDocument(
                f"flag {self.key!r} mixes value types {sorted(map(str, kinds))}"
            )
        return kinds.pop()


def read_flags(document: Mapping[str, Any]) -> list[Flag]:
    """The flags of ``document``, in document order, after checking the subset."""
    if document.get("segments"):
        raise UnsupportedDocument("segments are not translated")
    return [_read_flag(key, body) for key, body in document["flags"].items()]


def _read_flag(key: str, body: Mapping[str, Any]) -> Flag:
    extra = set(body) - _FLAG_FIELDS
    if extra:
        raise UnsupportedDocument(f"flag {key!r}: fields {sorted(extra)} are not translated")
    variations = dict(body["variations"])
    default = body["default"]
    rollout: tuple[Slice, ...] = ()
    if isinstance(default, Mapping):
        rollout = _read_rollout(key, default)
        default = None
    flag = Flag(
        key=key,
        variations=variations,
        on=bool(body.get("on", True)),
        off_variation=body["off_variation"],
        rules=tuple(_read_rule(key, r) for r in body.get("rules", ())),
        default=default,
        rollout=rollout,
    )
    _check_names(flag)
    return flag


def _read_rule(key: str, body: Mapping[str, Any]) -> Rule:
    serve = body["serve"]
    if not isinstance(serve, str):
        raise UnsupportedDocument(f"flag {key!r}: a rule serving a rollout is not translated")
    clauses = tuple(_read_clause(key, c) for c in body["clauses"])
    return Rule(id=body["id"], clauses=clauses, serve=serve)


def _read_clause(key: str, body: Mapping[str, Any]) -> Clause:
    op = body["op"]
    if op not in SUPPORTED_OPS or body.get("negate"):
        raise UnsupportedDocument(f"flag {key!r}: clause op {op!r} is not translated")
    values = tuple(body["values"])
    if not values:
        raise UnsupportedDocument(f"flag {key!r}: a clause needs at least one value")
    return Clause(attribute=body["attribute"], op=op, values=values)


def _read_rollout(key: str, body: Mapping[str, Any]) -> tuple[Slice, ...]:
    if set(body) - {"rollout", "bucket_by"} or body.get("bucket_by", "key") != "key":
        raise UnsupportedDocument(f"flag {key!r}: only a plain rollout by key is translated")
    slices = tuple(
        Slice(variation=s["variation"], weight=round(s["weight"] * 1000)) for s in body["rollout"]
    )
    if sum(s.weight for s in slices) != WEIGHT_UNITS:
        raise UnsupportedDocument(f"flag {key!r}: rollout weights do not add up to 100%")
    return slices


def _check_names(flag: Flag) -> None:
    served = [
        flag.off_variation,
        *(r.serve for r in flag.rules),
        *(s.variation for s in flag.rollout),
    ]
    if flag.default is not None:
        served.append(flag.default)
    unknown = sorted(set(served) - set(flag.variations))
    if unknown:
        raise UnsupportedDocument(f"flag {flag.key!r}: unknown variations {unknown}")


def lowest_version(values: tuple[Any, ...]) -> str:
    """The lowest of a ``semver_gte`` clause's versions.

    Vexil matches when the attribute is at least *any* of the values, which is the
    same as at least the lowest one. Collapsing to one version lets every SDK
    express the clause with a single comparison, including LaunchDarkly, whose
    ``negate`` would otherwise turn "any" into "all".
    """
    return str(min(values, key=_version))


def _version(text: Any) -> semver.Version:
    text = str(text)
    if text[:1] in ("v", "V"):
        text = text[1:]
    return semver.Version.parse(text, optional_minor_and_patch=True)


class ScratchDir:
    """A private temporary folder for the data files some SDKs insist on reading."""

    def __init__(self, prefix: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix=prefix)

    def write_json(self, name: str, data: Any) -> str:
        path = Path(self._dir.name) / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return str(path)

    @property
    def path(self) -> str:
        return self._dir.name

    def cleanup(self) -> None:
        self._dir.cleanup()

"""Writing the model back out in document form (the inverse of ``parse_document``).

Only fields that differ from their defaults are written, so a round trip of a
hand-written document stays close to what its author wrote.
"""

from __future__ import annotations

import copy
from typing import Any

from ._model import Clause, Document, Flag, Rollout, Rule, Segment, SegmentRule, Serve


def dump_document(doc: Document) -> dict[str, Any]:
    return {
        "version": doc.version,
        "flags": {k: dump_flag(f) for k, f in doc.flags.items()},
        "segments": {k: dump_segment(s) for k, s in doc.segments.items()},
    }


def dump_flag(flag: Flag) -> dict[str, Any]:
    out = _named(flag)
    _put(out, "tags", list(flag.tags), [])
    _put(out, "temporary", flag.temporary, True)
    _put(out, "client_side", flag.client_side, False)
    _put(out, "metadata", dict(flag.metadata), {})
    out["type"] = flag.type.value
    # JSON values are copied, so that changing the output cannot change the flag.
    out["variations"] = copy.deepcopy(dict(flag.variations))
    out["on"] = flag.on
    _put(out, "off_variation", flag.off_variation, None)
    _put(
        out,
        "prerequisites",
        [{"flag": p.flag, "variation": p.variation} for p in flag.prerequisites],
        [],
    )
    _put(out, "targets", {v: list(keys) for v, keys in flag.targets.items()}, {})
    rules = [{**_dump_rule(rule), "serve": dump_serve(rule.serve)} for rule in flag.rules]
    _put(out, "rules", rules, [])
    if flag.default is not None:
        out["default"] = dump_serve(flag.default)
    return out


def dump_serve(serve: Serve) -> Any:
    if not isinstance(serve, Rollout):
        return serve
    out: dict[str, Any] = {
        "rollout": [{"variation": s.variation, "weight": _percent(s.weight)} for s in serve.slices]
    }
    _put(out, "bucket_by", serve.bucket_by, "key")
    _put(out, "seed", serve.seed, None)
    _put(out, "experiment", serve.experiment, False)
    return out


def dump_clause(clause: Clause) -> dict[str, Any]:
    out: dict[str, Any] = {"attribute": clause.attribute, "op": clause.op.value}
    _put(out, "values", list(clause.values), [])
    _put(out, "negate", clause.negate, False)
    return out


def dump_segment(segment: Segment) -> dict[str, Any]:
    out = _named(segment)
    _put(out, "included", list(segment.included), [])
    _put(out, "excluded", list(segment.excluded), [])
    _put(out, "rules", [_dump_rule(rule) for rule in segment.rules], [])
    return out


def _named(item: Flag | Segment) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if item.name != item.key:
        out["name"] = item.name
    _put(out, "description", item.description, "")
    return out


def _dump_rule(rule: Rule | SegmentRule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule.id}
    _put(out, "description", rule.description, "")
    out["clauses"] = [dump_clause(c) for c in rule.clauses]
    return out


def _put(out: dict[str, Any], name: str, value: Any, default: Any) -> None:
    if value != default:
        out[name] = value


def _percent(units: int) -> int | float:
    return units // 1000 if units % 1000 == 0 else units / 1000

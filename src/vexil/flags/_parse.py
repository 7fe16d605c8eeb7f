"""Reading a flag document: from plain JSON-like data to the validated model.

Validation is all-or-nothing. Every problem is collected (not just the first),
each with the path to the field, so a person can fix a document in one pass.
Everything that could go wrong at evaluation time is caught here instead:
unknown operators, dangling references, bad weights, bad regexes and versions.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any, TypeVar

from ._errors import Problem, ValidationError
from ._graph import find_cycle, prerequisite_edges, segment_edges
from ._model import (
    WEIGHT_UNITS,
    Clause,
    Document,
    Flag,
    Operator,
    Prerequisite,
    Rollout,
    Rule,
    Segment,
    SegmentRule,
    Serve,
    Slice,
    VariationType,
)
from ._operators import SPECS, OperatorSpec
from ._values import is_json_value, is_number, type_name

KEY_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}"
KEY_RE = re.compile(KEY_PATTERN + r"\Z")
FORMAT_VERSION = 1

_DOC_FIELDS = frozenset(("version", "flags", "segments", "$schema"))
#: A flag's fields that hold in every environment of a project (a server shares them).
SHARED_FIELDS = (
    "name",
    "description",
    "tags",
    "temporary",
    "client_side",
    "metadata",
    "type",
    "variations",
)
#: A flag's fields that each environment sets for itself: its targeting.
TARGETING_FIELDS = ("on", "off_variation", "default", "targets", "rules", "prerequisites")
_FLAG_FIELDS = frozenset((*SHARED_FIELDS, *TARGETING_FIELDS))
_RULE_FIELDS = frozenset(("id", "description", "clauses", "serve"))
_SEGMENT_RULE_FIELDS = frozenset(("id", "description", "clauses"))
_CLAUSE_FIELDS = frozenset(("attribute", "op", "values", "negate"))
_SEGMENT_FIELDS = frozenset(("name", "description", "included", "excluded", "rules"))
_ROLLOUT_FIELDS = frozenset(("rollout", "bucket_by", "seed", "experiment"))
_SERVE_FIELDS = _ROLLOUT_FIELDS | {"variation"}
_SLICE_FIELDS = frozenset(("variation", "weight"))
_PREREQUISITE_FIELDS = frozenset(("flag", "variation"))

# Spellings people reach for from other tools, and what Vexil calls them.
_OPERATOR_HINTS = {
    "==": "in",
    "eq": "in",
    "equals": "in",
    "is": "in",
    "one_of": "in",
    "not_in": "in (with negate: true)",
    "regex": "matches",
    "startswith": "starts_with",
    "endswith": "ends_with",
    "<": "lt",
    "<=": "lte",
    ">": "gt",
    ">=": "gte",
    "in_segment": "segment",
    "segment_match": "segment",
}

_SPECS = {op.value: spec for op, spec in SPECS.items()}
# Enum members, read once: attribute access on an Enum class is slow, and these
# are tested for every clause of every flag.
_SEGMENT = Operator.SEGMENT

T = TypeVar("T")
Scalar = str | int | float | bool


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Reader:
    """Collects problems while walking a document, so that all are reported at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def mapping(
        self, data: Any, path: str, fields: Iterable[str], required: Iterable[str] = ()
    ) -> Mapping[str, Any] | None:
        if data.__class__ is not dict and not isinstance(data, Mapping):
            self.add(path, f"must be a mapping, not {type_name(data)}")
            return None
        allowed = fields if isinstance(fields, frozenset) else frozenset(fields)
        if not data.keys() <= allowed:  # a set operation: the common case costs one call
            for name in data:
                if name not in allowed:
                    hint = did_you_mean(str(name), sorted(allowed))
                    self.add(_join(path, str(name)), "unknown field" + hint)
        for name in required:
            if name not in data:
                self.add(_join(path, name), "is required")
        return data

    def text(self, data: Mapping[str, Any], name: str, path: str, default: str = "") -> str:
        value = data.get(name, default)
        if value.__class__ is not str and not isinstance(value, str):
            self.add(_join(path, name), f"must be a string, not {type_name(value)}")
            return default
        return value

    def flag(self, data: Mapping[str, Any], name: str, path: str, default: bool) -> bool:
        value = data.get(name, default)
        if value.__class__ is not bool:
            self.add(_join(path, name), f"must be true or false, not {type_name(value)}")
            return default
        return value

    def items(self, data: Any, path: str) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, list):
            self.add(path, f"must be a list, not {type_name(data)}")
            return []
        return data

    def strings(self, data: Any, path: str) -> tuple[str, ...]:
        out = []
        for i, item in enumerate(self.items(data, path)):
            if isinstance(item, str):
                out.append(item)
            else:
                self.add(f"{path}[{i}]", f"must be a string, not {type_name(item)}")
        return tuple(out)

    def key(self, key: Any, path: str, what: str) -> bool:
        if isinstance(key, str) and KEY_RE.match(key):
            return True
        self.add(
            path,
            f"invalid {what} key {key!r}: use 1-200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
        return False

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationError(self.problems)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---------------------------------------------------------------- documents


def parse_document(data: Any) -> Document:
    """Validate a whole document (already decoded from YAML or JSON) into the model.

    Raises ``ValidationError`` listing every problem; nothing is half-accepted.
    """
    r = Reader()
    doc = r.mapping(data, "", _DOC_FIELDS)
    if doc is None:
        r.raise_if_any()
        raise AssertionError("unreachable")
    version = doc.get("version", FORMAT_VERSION)
    if version.__class__ is not int or version != FORMAT_VERSION:  # True == 1 in Python
        r.add("version", f"unsupported format version {version!r}; this Vexil reads version 1")
    flags = _parse_all(r, doc.get("flags"), "flags", _read_flag)
    segments = _parse_all(r, doc.get("segments"), "segments", _read_segment)
    # A flag or segment that failed validation is still a known name: a reference
    # to it is not reported a second time as "unknown".
    known_flags = set(doc["flags"]) if isinstance(doc.get("flags"), Mapping) else set()
    known_segments = set(doc["segments"]) if isinstance(doc.get("segments"), Mapping) else set()
    r.problems.extend(check_references(flags, segments, known=(known_flags, known_segments)))
    r.raise_if_any()
    return Document(flags=flags, segments=segments, version=FORMAT_VERSION)


def _parse_all(
    r: Reader, data: Any, path: str, read: Callable[[Reader, str, Any, str], T | None]
) -> dict[str, T]:
    out: dict[str, T] = {}
    if data is None:
        return out
    if not isinstance(data, Mapping):
        r.add(path, f"must be a mapping of keys to definitions, not {type_name(data)}")
        return out
    for key, body in data.items():
        item_path = f"{path}.{key}"
        if r.key(key, item_path, path[:-1]):
            item = read(r, key, body, item_path)
            if item is not None:
                out[key] = item
    return out


def parse_flag(key: str, data: Any) -> Flag:
    """Validate one flag on its own (references to other flags and segments unchecked)."""
    return _parse_one("flag", key, data, _read_flag)


def parse_segment(key: str, data: Any) -> Segment:
    """Validate one segment on its own (references to other segments unchecked)."""
    return _parse_one("segment", key, data, _read_segment)


def _parse_one(
    kind: str, key: str, data: Any, read: Callable[[Reader, str, Any, str], T | None]
) -> T:
    r = Reader()
    path = f"{kind}s.{key}"
    item = read(r, key, data, path) if r.key(key, path, kind) else None
    r.raise_if_any()
    assert item is not None
    return item


# -------------------------------------------------------------------- flags


def _read_flag(r: Reader, key: str, data: Any, path: str) -> Flag | None:
    body = r.mapping(data, path, _FLAG_FIELDS, required=("variations",))
    if body is None:
        return None
    before = len(r.problems)
    vtype, variations = _read_variations(r, body, path)
    names = tuple(variations)

    def variation(value: Any, at: str) -> str | None:
        if isinstance(value, str) and value in variations:
            return value
        r.add(at, f"unknown variation {value!r}" + _choices(value, names))
        return None

    off_data = body.get("off_variation")
    off = None if off_data is None else variation(off_data, _join(path, "off_variation"))
    default = _read_serve(r, body.get("default"), _join(path, "default"), variation, names)
    flag = Flag(
        key=key,
        type=vtype,
        variations=variations,
        on=r.flag(body, "on", path, True),
        off_variation=off,
        default=default,
        targets=_read_targets(r, body.get("targets"), _join(path, "targets"), variation),
        rules=_read_rules(r, body.get("rules"), _join(path, "rules"), variation, names),
        prerequisites=_read_prerequisites(
            r, body.get("prerequisites"), _join(path, "prerequisites")
        ),
        name=r.text(body, "name", path, key),
        description=r.text(body, "description", path),
        tags=r.strings(body.get("tags"), _join(path, "tags")),
        temporary=r.flag(body, "temporary", path, True),
        client_side=r.flag(body, "client_side", path, False),
        metadata=_read_metadata(r, body.get("metadata"), _join(path, "metadata")),
    )
    return flag if len(r.problems) == before else None


def _choices(value: Any, names: Iterable[str]) -> str:
    names = tuple(names)
    hint = did_you_mean(value, names) if isinstance(value, str) else ""
    return hint or f" (variations: {', '.join(names)})"


def _read_variations(
    r: Reader, body: Mapping[str, Any], path: str
) -> tuple[VariationType, dict[str, Any]]:
    at = _join(path, "variations")
    data = body.get("variations")
    declared = body.get("type")
    vtype: VariationType | None = None
    if declared is not None:
        try:
            vtype = VariationType(declared)
        except ValueError:
            r.add(
                _join(path, "type"),
                f"unknown type {declared!r}: use one of boolean, string, number, json",
            )
    if not isinstance(data, Mapping) or not data:
        if data is not None:
            r.add(at, "must be a non-empty mapping of variation names to values")
        return vtype or VariationType.BOOLEAN, {}
    variations: dict[str, Any] = {}
    for name, value in data.items():
        vpath = f"{at}.{name}"
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            r.add(vpath, "a variation name must be a non-empty string of up to 100 characters")
            continue
        found = value_type(value)
        if found is None:
            r.add(
                vpath,
                f"{type_name(value)} is not a variation value (boolean, string, number or JSON)",
            )
            continue
        if vtype is None:
            vtype = found
        elif found is not vtype:
            r.add(vpath, f"is {type_name(value)}, but the flag's variations are of type {vtype}")
            continue
        # A JSON value is copied: the caller's data may change after it was read.
        variations[name] = copy.deepcopy(value) if found is VariationType.JSON else value
    return vtype or VariationType.BOOLEAN, variations


def value_type(value: Any) -> VariationType | None:
    if isinstance(value, bool):
        return VariationType.BOOLEAN
    if isinstance(value, str):
        return VariationType.STRING
    if is_number(value):
        return VariationType.NUMBER
    if isinstance(value, dict | list) and is_json_value(value):
        return VariationType.JSON
    return None


VariationRef = Callable[[Any, str], "str | None"]


def _read_serve(
    r: Reader, data: Any, path: str, variation: VariationRef, names: tuple[str, ...]
) -> Serve | None:
    if data is None:
        return None
    if isinstance(data, str):
        return variation(data, path)
    if isinstance(data, Mapping) and "variation" in data:
        if len(data) > 1:
            r.add(path, "serve either a variation or a rollout, not both")
        return variation(data["variation"], _join(path, "variation"))
    body = r.mapping(data, path, _SERVE_FIELDS, required=("rollout",))
    if body is None or "rollout" not in body:
        return None
    return _read_rollout(r, body, path, variation)


def _read_rollout(
    r: Reader, body: Mapping[str, Any], path: str, variation: VariationRef
) -> Rollout | None:
    at = _join(path, "rollout")
    slices: list[Slice] = []
    seen: set[str] = set()
    for i, item in enumerate(r.items(body["rollout"], at)):
        ipath = f"{at}[{i}]"
        s = r.mapping(item, ipath, _SLICE_FIELDS, required=("variation", "weight"))
        if s is None or "variation" not in s or "weight" not in s:
            continue
        name = variation(s["variation"], _join(ipath, "variation"))
        units = _weight_units(r, s["weight"], _join(ipath, "weight"))
        if name is not None and name in seen:
            r.add(_join(ipath, "variation"), f"variation {name!r} appears twice in the rollout")
        elif name is not None and units is not None:
            seen.add(name)
            slices.append(Slice(name, units))
    total = sum(s.weight for s in slices)
    if slices and len(slices) == len(r.items(body["rollout"], at)) and total != WEIGHT_UNITS:
        r.add(at, f"weights sum to {total / 1000:g}%, not 100%")
    if not slices and not r.items(body["rollout"], at):
        r.add(at, "a rollout needs at least one variation")
    bucket_by = r.text(body, "bucket_by", path, "key")
    if not bucket_by:
        r.add(_join(path, "bucket_by"), "must name an attribute")
    seed = body.get("seed")
    if (seed is not None and not isinstance(seed, str | int)) or isinstance(seed, bool):
        r.add(_join(path, "seed"), "must be a string or an integer")
        seed = None
    return Rollout(
        slices=tuple(slices),
        bucket_by=bucket_by or "key",
        seed=None if seed is None else str(seed),
        experiment=r.flag(body, "experiment", path, False),
    )


def _weight_units(r: Reader, weight: Any, path: str) -> int | None:
    if not is_number(weight) or weight < 0 or weight > 100:
        r.add(path, f"must be a percentage from 0 to 100, not {weight!r}")
        return None
    units = round(weight * 1000)
    if abs(weight * 1000 - units) > 1e-6:
        r.add(path, f"{weight!r} is finer than the 0.001% resolution of rollouts")
        return None
    return int(units)


def _read_targets(
    r: Reader, data: Any, path: str, variation: VariationRef
) -> dict[str, tuple[str, ...]]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        r.add(path, "must be a mapping of variation names to lists of context keys")
        return {}
    out: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for name, keys in data.items():
        vpath = f"{path}.{name}"
        resolved = variation(name, vpath)
        values = r.strings(keys, vpath)
        for k in values:
            if k in owner and owner[k] != name:
                r.add(vpath, f"context key {k!r} is also targeted to {owner[k]!r}")
            owner[k] = name
        if resolved is not None and values:
            out[resolved] = tuple(dict.fromkeys(values))
    return out


def _read_rules(
    r: Reader, data: Any, path: str, variation: VariationRef, names: tuple[str, ...]
) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    ids: set[str] = set()
    for i, item in enumerate(r.items(data, path)):
        rpath = f"{path}[{i}]"
        body = r.mapping(item, rpath, _RULE_FIELDS, required=("serve",))
        if body is None:
            continue
        rule_id = _rule_id(r, body, rpath, i, ids)
        if "serve" in body and body["serve"] is None:
            r.add(_join(rpath, "serve"), "must name a variation or a rollout, not null")
        serve = _read_serve(r, body.get("serve"), _join(rpath, "serve"), variation, names)
        clauses = _read_clauses(r, body.get("clauses"), _join(rpath, "clauses"))
        if serve is not None:
            rules.append(Rule(rule_id, clauses, serve, r.text(body, "description", rpath)))
    return tuple(rules)


def _rule_id(r: Reader, body: Mapping[str, Any], path: str, index: int, ids: set[str]) -> str:
    rule_id = body.get("id", f"rule-{index + 1}")
    if not isinstance(rule_id, str) or not rule_id:
        r.add(_join(path, "id"), "must be a non-empty string")
        rule_id = f"rule-{index + 1}"
    if rule_id in ids:
        r.add(_join(path, "id"), f"duplicate rule id {rule_id!r}")
    ids.add(rule_id)
    return rule_id


def _read_clauses(r: Reader, data: Any, path: str) -> tuple[Clause, ...]:
    out = []
    for i, item in enumerate(r.items(data, path)):
        clause = _read_clause(r, item, f"{path}[{i}]")
        if clause is not None:
            out.append(clause)
    return tuple(out)


def _read_clause(r: Reader, data: Any, path: str) -> Clause | None:
    body = r.mapping(data, path, _CLAUSE_FIELDS, required=("op",))
    if body is None or "op" not in body:
        return None
    op_name = body["op"]
    spec = _SPECS.get(op_name) if isinstance(op_name, str) else None
    if spec is None:
        hint = _OPERATOR_HINTS.get(str(op_name))
        msg = f" (did you mean '{hint}'?)" if hint else did_you_mean(str(op_name), list(Operator))
        r.add(_join(path, "op"), f"unknown operator {op_name!r}{msg}")
        return None
    op = spec.op
    attribute = body.get("attribute", "key" if op is _SEGMENT else None)
    if op is not _SEGMENT and (not isinstance(attribute, str) or not attribute):
        r.add(
            _join(path, "attribute"),
            "must name a context attribute, such as 'plan' or 'address.country'",
        )
        return None
    if isinstance(attribute, str) and "" in attribute.split("."):
        r.add(_join(path, "attribute"), f"{attribute!r} has an empty part in its path")
        return None
    raw = body.get("values", [])
    checked = _check_values(r, spec, raw if isinstance(raw, list) else [raw], _join(path, "values"))
    if checked is None:
        return None
    negate = r.flag(body, "negate", path, False)
    return Clause(str(attribute), op, tuple(checked), negate)


def _check_values(r: Reader, spec: OperatorSpec, values: list[Any], path: str) -> list[Any] | None:
    check = spec.check
    if check is None:
        if values:
            r.add(path, f"'{spec.op}' takes no values")
            return None
        return values
    if not values:
        r.add(path, f"'{spec.op}' needs at least one value")
        return None
    ok = True
    for i, value in enumerate(values):
        problem = check(value)
        if problem:
            r.add(f"{path}[{i}]", problem)
            ok = False
    return values if ok else None


def _read_prerequisites(r: Reader, data: Any, path: str) -> tuple[Prerequisite, ...]:
    out: list[Prerequisite] = []
    seen: set[str] = set()
    for i, item in enumerate(r.items(data, path)):
        ipath = f"{path}[{i}]"
        body = r.mapping(item, ipath, _PREREQUISITE_FIELDS, required=("flag", "variation"))
        if body is None or "flag" not in body or "variation" not in body:
            continue
        flag, variation = body["flag"], body["variation"]
        if not isinstance(flag, str) or not isinstance(variation, str):
            r.add(ipath, "flag and variation must be strings")
        elif flag in seen:
            r.add(_join(ipath, "flag"), f"{flag!r} is already a prerequisite")
        else:
            seen.add(flag)
            out.append(Prerequisite(flag, variation))
    return tuple(out)


def _read_metadata(r: Reader, data: Any, path: str) -> dict[str, Scalar]:
    return read_scalars(r, data, path, "must be a mapping of names to strings, numbers or booleans")


def read_scalars(
    r: Reader, data: Any, path: str, not_a_mapping: str, mapping: str = "a mapping"
) -> dict[str, Scalar]:
    """A mapping of names to strings, numbers or booleans (metadata), or its problems."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        r.add(path, not_a_mapping)
        return {}
    out: dict[str, Scalar] = {}
    for name, value in data.items():
        if isinstance(value, str | bool) or is_number(value):
            out[str(name)] = value
        else:
            problem = f"must be a string, number or boolean, not {type_name(value, mapping)}"
            r.add(f"{path}.{name}", problem)
    return out


# ----------------------------------------------------------------- segments


def _read_segment(r: Reader, key: str, data: Any, path: str) -> Segment | None:
    body = r.mapping(data, path, _SEGMENT_FIELDS)
    if body is None:
        return None
    before = len(r.problems)
    included = r.strings(body.get("included"), _join(path, "included"))
    excluded = r.strings(body.get("excluded"), _join(path, "excluded"))
    both = sorted(set(included) & set(excluded))
    if both:
        r.add(_join(path, "excluded"), f"keys both included and excluded: {', '.join(both)}")
    rules: list[SegmentRule] = []
    ids: set[str] = set()
    rpath = _join(path, "rules")
    for i, item in enumerate(r.items(body.get("rules"), rpath)):
        ipath = f"{rpath}[{i}]"
        rule = r.mapping(item, ipath, _SEGMENT_RULE_FIELDS, required=("clauses",))
        if rule is not None:
            rule_id = _rule_id(r, rule, ipath, i, ids)
            clauses = _read_clauses(r, rule.get("clauses"), _join(ipath, "clauses"))
            rules.append(SegmentRule(rule_id, clauses, r.text(rule, "description", ipath)))
    segment = Segment(
        key=key,
        included=tuple(dict.fromkeys(included)),
        excluded=tuple(dict.fromkeys(excluded)),
        rules=tuple(rules),
        name=r.text(body, "name", path, key),
        description=r.text(body, "description", path),
    )
    return segment if len(r.problems) == before else None


# --------------------------------------------------------------- references


def check_references(
    flags: Mapping[str, Flag],
    segments: Mapping[str, Segment],
    changed_flags: Iterable[str] | None = None,
    changed_segments: Iterable[str] | None = None,
    known: tuple[AbstractSet[str], AbstractSet[str]] = (frozenset(), frozenset()),
) -> list[Problem]:
    """Problems with prerequisites and segment references.

    By default every flag and segment is checked. Given ``changed_*``, only what
    those changes can break is checked, so that replacing one flag in a large
    ruleset stays cheap.
    """
    problems: list[Problem] = []
    flag_keys = list(flags) if changed_flags is None else [k for k in changed_flags if k in flags]
    seg_keys = (
        list(segments)
        if changed_segments is None
        else [k for k in changed_segments if k in segments]
    )
    for key in flag_keys:
        flag = flags[key]
        problems.extend(_prerequisite_problems(flag, flags, known[0]))
        for i, rule in enumerate(flag.rules):
            problems.extend(
                _segment_ref_problems(rule.clauses, segments, f"flags.{key}.rules[{i}]", known[1])
            )
        cycle = find_cycle(key, lambda k: prerequisite_edges(flags[k], flags))
        if cycle:
            problems.append(
                Problem(f"flags.{key}.prerequisites", "prerequisite cycle: " + " -> ".join(cycle))
            )
    for key in seg_keys:
        for i, srule in enumerate(segments[key].rules):
            problems.extend(
                _segment_ref_problems(
                    srule.clauses, segments, f"segments.{key}.rules[{i}]", known[1]
                )
            )
        cycle = find_cycle(key, lambda k: segment_edges(segments[k], segments))
        if cycle:
            problems.append(
                Problem(f"segments.{key}.rules", "segment cycle: " + " -> ".join(cycle))
            )
    return problems


def _prerequisite_problems(
    flag: Flag, flags: Mapping[str, Flag], known: AbstractSet[str]
) -> list[Problem]:
    problems = []
    for i, pre in enumerate(flag.prerequisites):
        path = f"flags.{flag.key}.prerequisites[{i}]"
        other = flags.get(pre.flag)
        if pre.flag == flag.key:
            problems.append(Problem(_join(path, "flag"), "a flag cannot be its own prerequisite"))
        elif other is None and pre.flag not in known:
            problems.append(
                Problem(
                    _join(path, "flag"),
                    f"unknown flag {pre.flag!r}" + did_you_mean(pre.flag, flags),
                )
            )
        elif other is not None and pre.variation not in other.variations:
            problems.append(
                Problem(
                    _join(path, "variation"),
                    f"flag {pre.flag!r} has no variation {pre.variation!r}"
                    + _choices(pre.variation, other.variations),
                )
            )
    return problems


def _segment_ref_problems(
    clauses: Iterable[Clause], segments: Mapping[str, Segment], path: str, known: AbstractSet[str]
) -> list[Problem]:
    problems = []
    for j, clause in enumerate(clauses):
        if clause.op is Operator.SEGMENT:
            for k, name in enumerate(clause.values):
                if name not in segments and name not in known:
                    problems.append(
                        Problem(
                            f"{path}.clauses[{j}].values[{k}]",
                            f"unknown segment {name!r}" + did_you_mean(name, segments),
                        )
                    )
    return problems

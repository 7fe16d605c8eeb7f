"""One model of a targeting form's conditions, for the flag editor and the segment editor.

A condition (a clause) is shown as an attribute, an operator, its values typed as
text and a negate box. Both editors read and write the values the same way, per
operator, from the engine's table of operators (``SPECS``):

- one value per line, and for every operator but ``matches`` (whose one regular
  expression may hold commas) several on a line, separated by commas;
- a line in double quotes is one text value, exactly as quoted (``"42"``, ``"a, b"``);
- where the operator compares numbers, booleans or moments (``form_typed``), an
  unquoted ``42`` or ``true`` is a number or a boolean; elsewhere it is text.

Writing a stored clause back into the form quotes what would otherwise read
differently, so that saving an untouched form stores the same values.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from vexil.flags._operators import SPECS, OperatorSpec
from vexil.server.web._forms import json_number

_SPECS: dict[str, OperatorSpec] = {op.value: spec for op, spec in SPECS.items()}
#: Each operator's hint for the person filling in its values.
OPERATOR_HELP = {name: spec.help for name, spec in _SPECS.items()}


def typed(op: str) -> bool:
    """Whether unquoted ``42`` and ``true`` are a number and a boolean under ``op``."""
    spec = _SPECS.get(op)
    return spec is not None and spec.form_typed


def splits_commas(op: str) -> bool:
    """Whether a line of values under ``op`` may hold several, separated by commas."""
    spec = _SPECS.get(op)
    return spec is None or spec.form_splits_commas


def _literal(text: str) -> Any:
    if text in ("true", "false"):
        return text == "true"
    number = json_number(text)
    return text if number is None else number


def format_values(op: str, values: Any) -> str:
    """Clause values one per line, quoted where they would otherwise read differently."""
    lines: list[str] = []
    for value in values if isinstance(values, list) else [values]:
        if isinstance(value, bool):
            lines.append("true" if value else "false")
        elif isinstance(value, str):
            quote = (
                not value
                or value != value.strip()
                or value.startswith('"')
                or "\n" in value
                or (splits_commas(op) and "," in value)
                or (typed(op) and _literal(value) != value)
            )
            lines.append(json.dumps(value, ensure_ascii=False) if quote else value)
        else:
            lines.append(json.dumps(value, ensure_ascii=False))
    return "\n".join(lines)


def parse_values(op: str, text: str) -> list[Any]:
    """Values typed one per line or separated by commas; quoted ones are taken as text.

    For operators that compare numbers, booleans or moments, ``42`` and ``true`` are
    a number and a boolean; ``"42"`` is text.
    """
    out: list[Any] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith('"'):
            try:
                quoted = json.loads(line)
            except ValueError:
                quoted = None
            if isinstance(quoted, str):
                out.append(quoted)
                continue
        for part in line.split(",") if splits_commas(op) else [line]:
            item = part.strip()
            if item:
                out.append(_literal(item) if typed(op) else item)
    return out


@dataclass
class ClauseForm:
    """A condition as the form holds it: all text, as typed."""

    uid: str = ""
    attribute: str = ""
    op: str = "in"
    values: str = ""
    #: Segments chosen from a list (the flag editor), beside any typed as values.
    segments: list[str] = field(default_factory=list)
    negate: bool = False


@dataclass
class RuleForm:
    """A rule as the form holds it: its id, description and conditions."""

    uid: str = ""
    id: str = ""
    description: str = ""
    clauses: list[ClauseForm] = field(default_factory=list)


def clause_form(
    clause: Mapping[str, Any], uid: str = "", segment_keys: Collection[str] | None = None
) -> ClauseForm:
    """A stored clause as form fields; with ``segment_keys``, known segments are chosen
    from the list and only the others are written as values."""
    op = str(clause.get("op", "in"))
    raw = clause.get("values", [])
    values = raw if isinstance(raw, list) else [raw]
    chosen: list[str] = []
    if op == "segment" and segment_keys is not None:
        chosen = [v for v in values if v in segment_keys]
        values = [v for v in values if v not in segment_keys]
    return ClauseForm(
        uid=uid,
        attribute=str(clause.get("attribute") or ""),
        op=op,
        values=format_values(op, values),
        segments=chosen,
        negate=bool(clause.get("negate")),
    )


def clause_body(clause: ClauseForm, *, segment_attribute: bool = True) -> dict[str, Any]:
    """The clause the form describes, as the services take it.

    A segment clause keeps a typed attribute when ``segment_attribute`` (the
    segment editor shows the field; the flag editor hides it for segments).
    """
    body: dict[str, Any] = {"op": clause.op}
    if clause.op != "segment" or (segment_attribute and clause.attribute):
        body["attribute"] = clause.attribute
    if clause.op == "segment":
        body["values"] = clause.segments or parse_values("segment", clause.values)
    elif clause.op != "exists":
        body["values"] = parse_values(clause.op, clause.values)
    if clause.negate:
        body["negate"] = True
    return body

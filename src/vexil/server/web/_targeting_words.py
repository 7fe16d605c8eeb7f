"""A targeting as lines a person reads, one fact per line, and the diff of two.

What the flag page shows when a save is refused because someone else changed the
targeting meanwhile: what changed since the page was opened.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from vexil.server.web._common import OPERATOR_WORDS
from vexil.server.web._targeting_draft import weight_text


def _serve_words(serve: Any) -> str:
    if serve is None:
        return "nothing (the application's default)"
    if isinstance(serve, str):
        return serve
    if isinstance(serve, dict) and "rollout" in serve:
        parts = [
            f"{s.get('variation')} {weight_text(s.get('weight'))}%"
            for s in serve.get("rollout") or []
            if isinstance(s, dict)
        ]
        text = "a rollout of " + ", ".join(parts)
        if serve.get("bucket_by") not in (None, "key"):
            text += f" by {serve['bucket_by']}"
        if serve.get("seed") is not None:
            text += f", seed {serve['seed']}"
        if serve.get("experiment"):
            text += " (experiment)"
        return text
    if isinstance(serve, dict) and "variation" in serve:
        return str(serve["variation"])
    return json.dumps(serve, ensure_ascii=False)


def _clause_words(clause: Any) -> str:
    if not isinstance(clause, dict):
        return json.dumps(clause, ensure_ascii=False)
    op = str(clause.get("op", ""))
    values = clause.get("values", [])
    values = values if isinstance(values, list) else [values]
    shown = ", ".join(v if isinstance(v, str) else json.dumps(v) for v in values)
    negate = "not " if clause.get("negate") else ""
    if op == "segment":
        return f"{negate}in segment {shown}"
    if op == "exists":
        return f"{clause.get('attribute')} {'does not exist' if negate else 'exists'}"
    return f"{clause.get('attribute')} {negate}{OPERATOR_WORDS.get(op, op)} {shown}"


def describe_targeting(body: dict[str, Any] | None) -> list[str]:
    """A targeting as lines a person reads, one fact per line (the unit of the diff)."""
    if body is None:
        return []
    lines = [
        f"State: {'on' if body.get('on') else 'off'}",
        f"Off variation: {body.get('off_variation') or 'none'}",
    ]
    for item in body.get("prerequisites") or []:
        if isinstance(item, dict):
            lines.append(f"Prerequisite: {item.get('flag')} serves {item.get('variation')}")
    for variation, keys in (body.get("targets") or {}).items():
        lines.append(f"Target {variation}: {', '.join(map(str, keys))}")
    for n, rule in enumerate(body.get("rules") or [], start=1):
        if not isinstance(rule, dict):
            continue
        clauses = " and ".join(_clause_words(c) for c in rule.get("clauses") or []) or "everyone"
        name = rule.get("id") or f"rule-{n}"
        lines.append(f"Rule {n} ({name}): if {clauses}, serve {_serve_words(rule.get('serve'))}")
    lines.append(f"Default: serve {_serve_words(body.get('default'))}")
    return lines


def targeting_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[tuple[str, str]]:
    """The lines that changed, as (kind, line): kind is ``del`` or ``add``."""
    out: list[tuple[str, str]] = []
    for line in difflib.ndiff(describe_targeting(before), describe_targeting(after)):
        tag, text = line[:1], line[2:]
        if tag == "-":
            out.append(("del", "- " + text))
        elif tag == "+":
            out.append(("add", "+ " + text))
    return out

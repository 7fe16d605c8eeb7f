"""The targeting editor's content (a draft), and the targeting body it describes.

A draft comes from the stored targeting or from a posted form; the editor's buttons
change it (``apply_action``) without saving; ``build_targeting`` turns it into the
body the services take, with the problems found before the engine's, and
``engine_field`` places each of the engine's problems on the form field it is about.
Conditions are the targeting form's (``_targeting_form``), read as the segment
editor reads them.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.datastructures import FormData

from vexil.server.web._forms import decimal_number, whole_number
from vexil.server.web._page_helpers import text_field, text_fields
from vexil.server.web._targeting_form import (
    ClauseForm,
    RuleForm,
    clause_body,
    clause_form,
)

UID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}\Z")


@dataclass
class ServeDraft:
    """A serve as the form holds it: a variation, or a rollout's weights as typed."""

    kind: str = "variation"
    variation: str = ""
    slices: list[tuple[str, str]] = field(default_factory=list)
    bucket_by: str = ""
    seed: str = ""
    experiment: bool = False

    def total(self) -> str:
        """The rollout's weights summed, for display ('?' if one is not a number)."""
        weights = [decimal_number(w.strip() or "0") for _, w in self.slices]
        if None in weights:
            return "?"
        return decimal_text(sum((w for w in weights if w is not None), Decimal(0)))


#: A condition of the flag editor: the targeting form's, with the segments chosen.
ClauseDraft = ClauseForm


@dataclass
class RuleDraft(RuleForm):
    serve: ServeDraft = field(default_factory=ServeDraft)


@dataclass
class Draft:
    """The targeting editor's content: from the stored targeting or from a posted form."""

    targets: list[tuple[str, str]] = field(default_factory=list)
    rules: list[RuleDraft] = field(default_factory=list)
    default: ServeDraft = field(default_factory=ServeDraft)
    off_variation: str = ""
    prerequisites: list[tuple[str, str]] = field(default_factory=list)
    comment: str = ""


def decimal_text(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def weight_text(weight: Any) -> str:
    if isinstance(weight, bool) or not isinstance(weight, int | float | str):
        return str(weight)
    try:
        return decimal_text(Decimal(str(weight)))
    except InvalidOperation:
        return str(weight)


def serve_draft(serve: Any, variations: list[str]) -> ServeDraft:
    if isinstance(serve, str):
        return ServeDraft(
            variation=serve, slices=[(v, "100" if v == serve else "0") for v in variations]
        )
    if isinstance(serve, dict) and "rollout" in serve:
        slices: list[tuple[str, str]] = []
        for item in serve.get("rollout") or []:
            if isinstance(item, dict):
                slices.append((str(item.get("variation", "")), weight_text(item.get("weight"))))
        named = {name for name, _ in slices}
        slices += [(v, "0") for v in variations if v not in named]
        bucket_by = serve.get("bucket_by")
        return ServeDraft(
            kind="rollout",
            slices=slices,
            bucket_by="" if bucket_by in (None, "key") else str(bucket_by),
            seed="" if serve.get("seed") is None else str(serve["seed"]),
            experiment=bool(serve.get("experiment")),
        )
    if isinstance(serve, dict) and "variation" in serve:
        return serve_draft(str(serve["variation"]), variations)
    return ServeDraft(slices=[(v, "0") for v in variations])


def draft_from_targeting(
    body: Mapping[str, Any], variations: list[str], segment_keys: list[str]
) -> Draft:
    targets = body.get("targets") or {}
    draft = Draft(
        targets=[(v, "\n".join(str(k) for k in targets.get(v) or [])) for v in variations],
        default=serve_draft(body.get("default"), variations),
        off_variation=str(body.get("off_variation") or ""),
    )
    draft.targets += [
        (name, "\n".join(map(str, keys)))
        for name, keys in targets.items()
        if name not in variations
    ]
    for i, rule in enumerate(body.get("rules") or [], start=1):
        if not isinstance(rule, dict):
            continue
        clauses = [
            clause_form(clause, f"r{i}c{j}", segment_keys)
            for j, clause in enumerate(rule.get("clauses") or [], start=1)
            if isinstance(clause, dict)
        ]
        draft.rules.append(
            RuleDraft(
                uid=f"r{i}",
                id=str(rule.get("id") or ""),
                description=str(rule.get("description") or ""),
                clauses=clauses,
                serve=serve_draft(rule.get("serve"), variations),
            )
        )
    for item in body.get("prerequisites") or []:
        if isinstance(item, dict):
            draft.prerequisites.append((str(item.get("flag", "")), str(item.get("variation", ""))))
    return draft


def _uid(text: str) -> str | None:
    return text if UID_RE.match(text) else None


def _read_serve(form: FormData, prefix: str) -> ServeDraft:
    names, weights = (
        text_fields(form, f"{prefix}.slice_variation"),
        text_fields(form, f"{prefix}.slice_weight"),
    )
    weights += [""] * (len(names) - len(weights))
    return ServeDraft(
        kind="rollout" if text_field(form, f"{prefix}.kind") == "rollout" else "variation",
        variation=text_field(form, f"{prefix}.variation"),
        slices=list(zip(names, weights[: len(names)], strict=True)),
        bucket_by=text_field(form, f"{prefix}.bucket_by").strip(),
        seed=text_field(form, f"{prefix}.seed").strip(),
        experiment=text_field(form, f"{prefix}.experiment") == "yes",
    )


def draft_from_form(form: FormData) -> Draft:
    names, keys = text_fields(form, "target_variation"), text_fields(form, "target_keys")
    keys += [""] * (len(names) - len(keys))
    draft = Draft(
        targets=list(zip(names, keys[: len(names)], strict=True)),
        default=_read_serve(form, "default"),
        off_variation=text_field(form, "off_variation"),
        comment=text_field(form, "comment").strip(),
    )
    seen: set[str] = set()
    for raw in text_fields(form, "rule"):
        uid = _uid(raw)
        if uid is None or uid in seen:
            continue
        seen.add(uid)
        rule = RuleDraft(
            uid=uid,
            id=text_field(form, f"rule.{uid}.id").strip(),
            description=text_field(form, f"rule.{uid}.description").strip(),
            serve=_read_serve(form, f"rule.{uid}.serve"),
        )
        for raw_clause in text_fields(form, f"rule.{uid}.clause"):
            cuid = _uid(raw_clause)
            if cuid is None or cuid in seen:
                continue
            seen.add(cuid)
            p = f"clause.{cuid}"
            rule.clauses.append(
                ClauseDraft(
                    uid=cuid,
                    attribute=text_field(form, f"{p}.attribute").strip(),
                    op=text_field(form, f"{p}.op") or "in",
                    values=text_field(form, f"{p}.values"),
                    segments=[s for s in text_fields(form, f"{p}.segments") if s],
                    negate=text_field(form, f"{p}.negate") == "yes",
                )
            )
        draft.rules.append(rule)
    for value in text_fields(form, "prereq"):
        try:
            pair = json.loads(value) if value else None
        except ValueError:
            pair = None
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            draft.prerequisites.append((pair[0], pair[1]))
        else:
            draft.prerequisites.append(("", ""))
    return draft


def _new_uid(prefix: str) -> str:
    return prefix + secrets.token_hex(4)


def apply_action(draft: Draft, action: str, variations: list[str]) -> str:
    """Apply an editor button's change to the draft; returns the id to focus next."""
    verb, _, target = action.partition(":")
    rules = draft.rules
    index = next((i for i, r in enumerate(rules) if r.uid == target), None)
    if verb == "add-rule":
        rule = RuleDraft(
            uid=_new_uid("n"),
            clauses=[ClauseDraft(uid=_new_uid("c"))],
            serve=serve_draft(variations[0] if variations else "", variations),
        )
        rules.append(rule)
        return f"clause-{rule.clauses[0].uid}-attribute"
    if verb == "remove-rule" and index is not None:
        del rules[index]
        return "add-rule"
    if verb in ("up", "down") and index is not None:
        other = index - 1 if verb == "up" else index + 1
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        return f"rule-{target}-{verb}"
    if verb == "add-clause" and index is not None:
        clause = ClauseDraft(uid=_new_uid("c"))
        rules[index].clauses.append(clause)
        return f"clause-{clause.uid}-attribute"
    if verb == "remove-clause":
        for rule in rules:
            kept = [c for c in rule.clauses if c.uid != target]
            if len(kept) != len(rule.clauses):
                rule.clauses = kept
                return f"rule-{rule.uid}-add-clause"
    if verb == "add-prereq":
        draft.prerequisites.append(("", ""))
        return f"prereq-{len(draft.prerequisites) - 1}"
    if verb == "remove-prereq":
        place = whole_number(target, high=len(draft.prerequisites) - 1)
        if place is not None:
            del draft.prerequisites[place]
            return "add-prereq"
    return ""


@dataclass
class Built:
    """A draft turned into a targeting body, with where each body path sits in the form."""

    body: dict[str, Any]
    errors: dict[str, str]
    clause_ids: dict[tuple[int, int], str] = field(default_factory=dict)
    prereq_ids: dict[int, str] = field(default_factory=dict)


def _build_serve(serve: ServeDraft, sid: str, errors: dict[str, str], optional: bool) -> Any:
    if serve.kind != "rollout":
        if not serve.variation:
            if optional:
                return None
            errors[f"{sid}-variation"] = "Choose the variation to serve."
        return serve.variation
    slices: list[dict[str, Any]] = []
    total = Decimal(0)
    bad = False
    for i, (name, text) in enumerate(serve.slices):
        weight = decimal_number(text.strip() or "0")
        if weight is None:
            errors[f"{sid}-w-{i}"] = f"{text.strip()[:40]!r} is not a number."
            bad = True
            continue
        if weight < 0:
            errors[f"{sid}-w-{i}"] = "A percentage cannot be negative."
            bad = True
        total += weight
        if weight:
            slices.append(
                {
                    "variation": name,
                    "weight": int(weight) if weight == weight.to_integral() else float(weight),
                }
            )
    if not bad and total != 100:
        errors[f"{sid}-total"] = (
            f"The percentages add up to {decimal_text(total)}%; they must add up to 100%."
        )
    out: dict[str, Any] = {"rollout": slices}
    if serve.bucket_by and serve.bucket_by != "key":
        out["bucket_by"] = serve.bucket_by
    if serve.seed:
        out["seed"] = serve.seed
    if serve.experiment:
        out["experiment"] = True
    return out


def build_targeting(draft: Draft, on: bool) -> Built:
    """The targeting body a draft describes, and the problems found before the engine's."""
    errors: dict[str, str] = {}
    built = Built({"on": on}, errors)
    body = built.body
    targets: dict[str, list[str]] = {}
    for i, (variation, text) in enumerate(draft.targets):
        keys = list(dict.fromkeys(k.strip() for k in re.split(r"[\n,]", text) if k.strip()))
        if keys:
            if variation in targets:
                errors[f"targets-{i}"] = f"The variation {variation!r} appears twice."
            targets[variation] = keys
    if targets:
        body["targets"] = targets
    rules: list[dict[str, Any]] = []
    used_ids = {r.id for r in draft.rules if r.id}
    for i, rule in enumerate(draft.rules):
        rule_id = rule.id
        if not rule_id:
            n = i + 1
            while f"rule-{n}" in used_ids:
                n += 1
            rule_id = f"rule-{n}"
            used_ids.add(rule_id)
        clauses: list[dict[str, Any]] = []
        for j, clause in enumerate(rule.clauses):
            built.clause_ids[i, j] = clause.uid
            item = clause_body(clause, segment_attribute=False)
            if clause.op == "segment":
                if not item["values"]:
                    errors[f"clause-{clause.uid}-segments"] = "Choose at least one segment."
            else:
                if not clause.attribute:
                    errors[f"clause-{clause.uid}-attribute"] = "Name the context attribute."
                if clause.op != "exists" and not item["values"]:
                    errors[f"clause-{clause.uid}-values"] = "Give at least one value."
            clauses.append(item)
        out: dict[str, Any] = {"id": rule_id}
        if rule.description:
            out["description"] = rule.description
        out["clauses"] = clauses
        out["serve"] = _build_serve(rule.serve, f"rule-{rule.uid}-serve", errors, optional=False)
        rules.append(out)
    if rules:
        body["rules"] = rules
    default = _build_serve(draft.default, "default", errors, optional=True)
    if default is not None:
        body["default"] = default
    if draft.off_variation:
        body["off_variation"] = draft.off_variation
    prerequisites: list[dict[str, str]] = []
    for k, (flag, variation) in enumerate(draft.prerequisites):
        if flag and variation:
            built.prereq_ids[len(prerequisites)] = f"prereq-{k}"
            prerequisites.append({"flag": flag, "variation": variation})
    if prerequisites:
        body["prerequisites"] = prerequisites
    return built


def _serve_field(sid: str, rest: str) -> str:
    if rest.startswith((".rollout", "rollout")):
        return f"{sid}-total"
    for name in ("bucket_by", "seed"):
        if rest.lstrip(".").startswith(name):
            return f"{sid}-{name}"
    if rest.lstrip(".").startswith("experiment"):
        return f"{sid}-total"
    return f"{sid}-variation"


def engine_field(path: str | None, key: str, draft: Draft, built: Built) -> str:
    """The form field an engine problem's path is about (``form`` for the whole form)."""
    if not path:
        return "form"
    rest = path.removeprefix(f"flags.{key}.")
    if rest == path and path.startswith("flags."):
        return "form"
    if m := re.match(r"rules\[([0-9]+)\](.*)\Z", rest):
        i, tail = whole_number(m[1], high=len(draft.rules) - 1), m[2]
        if i is None:
            return "form"
        uid = draft.rules[i].uid
        if c := re.match(r"\.clauses\[([0-9]+)\](.*)\Z", tail):
            j = whole_number(c[1], high=len(draft.rules[i].clauses) - 1)
            cuid = None if j is None else built.clause_ids.get((i, j))
            if j is None or cuid is None:
                return f"rule-{uid}"
            what = c[2].lstrip(".")
            if what.startswith("op"):
                return f"clause-{cuid}-op"
            if what.startswith("attribute"):
                return f"clause-{cuid}-attribute"
            clause = draft.rules[i].clauses[j]
            return f"clause-{cuid}-segments" if clause.op == "segment" else f"clause-{cuid}-values"
        if tail.startswith(".serve"):
            return _serve_field(f"rule-{uid}-serve", tail.removeprefix(".serve"))
        if tail.startswith(".id"):
            return f"rule-{uid}-id"
        return f"rule-{uid}"
    if rest.startswith("default"):
        return _serve_field("default", rest.removeprefix("default"))
    if rest.startswith("off_variation"):
        return "off_variation"
    if rest.startswith("targets"):
        name = rest.removeprefix("targets").lstrip(".")
        for i, (variation, _) in enumerate(draft.targets):
            if variation == name:
                return f"targets-{i}"
        return "targets"
    if m := re.match(r"prerequisites\[([0-9]+)\]", rest):
        place = whole_number(m[1])
        return "prerequisites" if place is None else built.prereq_ids.get(place, "prerequisites")
    if rest.startswith("prerequisites"):
        return "prerequisites"
    return "form"

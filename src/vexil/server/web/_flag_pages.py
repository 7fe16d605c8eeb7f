"""A flag's pages: creating one, and its page per environment.

The flag page shows the flag and, for one environment, its on/off switch, the
targeting editor (targets, ordered rules, rollouts, the default and off variations,
prerequisites), a form to test a context with the engine's explanation, and live
news of changes made elsewhere (``app.js`` polls ``.../state``).

Every form works without JavaScript: the editor's add, move and remove buttons are
submit buttons that re-render the form with the change applied (nothing is saved
until "Save"). Saving goes through the same services as the admin API, with the
version the page was rendered from: a change made meanwhile by someone else is
shown, with what changed, rather than silently overwritten.
"""

from __future__ import annotations

import difflib
import importlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from vexil.server._access import list_audit
from vexil.server._api.admin import check_storable
from vexil.server._errors import ApiError, Conflict, NotFound, Unprocessable
from vexil.server._flags import create_flag, get_flag, get_targeting, list_flags
from vexil.server._flags import replace_targeting as replace_targeting_
from vexil.server._flags import toggle as toggle_
from vexil.server._json import reject_constant
from vexil.server._projects import could_exist, environment_row, list_environments, project_row
from vexil.server._segments import list_segments
from vexil.server._store import TARGETING_FIELDS, Store
from vexil.server.web._common import (
    OPERATOR_WORDS,
    OPERATORS,
    SessionDep,
    check_csrf,
    redirect,
    render,
    require_role,
    store_of,
)
from vexil.server.web._forms import (
    decimal_number,
    json_number,
    read_form,
    version_field,
    whole_number,
)

log = logging.getLogger(__name__)

#: Form bodies are bounded like every body (``_limits``: 413 past ``max_body_bytes``).
router = APIRouter(include_in_schema=False)

TYPES = ("boolean", "string", "number", "json")

#: Operators whose values may be numbers or booleans as well as strings.
TYPED_OPS = frozenset({"in", "lt", "lte", "gt", "gte", "before", "after"})
UID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}\Z")

#: Messages after a successful change, by the ``done`` query parameter.
DONE = {
    "created": "Flag created. It is off in every environment.",
    "saved": "Targeting saved.",
    "on": "The flag is now on.",
    "off": "The flag is now off.",
}


FormDep = Annotated[FormData, Depends(read_form)]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _texts(form: FormData, name: str) -> list[str]:
    return [v if isinstance(v, str) else "" for v in form.getlist(name)]


def _who(actor: str | None) -> str:
    """An audit actor for people: ``user:ana`` is ana, ``token:ci`` the API token ci."""
    if not actor:
        return "someone"
    kind, _, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind == "token" and name:
        return f"API token {name}"
    if kind == "system" and name:
        return f"Vexil ({name})"
    return actor


def _when(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] if message else message


# =================================================================== creating


@dataclass
class NewFlag:
    key: str = ""
    name: str = ""
    description: str = ""
    type: str = "boolean"
    variations: list[tuple[str, str]] = field(
        default_factory=lambda: [("on", "true"), ("off", "false")]
    )
    tags: str = ""
    temporary: bool = True
    client_side: bool = False


def _default_rows(kind: str) -> list[tuple[str, str]]:
    if kind == "boolean":
        return [("on", "true"), ("off", "false")]
    return [("", ""), ("", "")]


def _read_new_flag(form: FormData) -> NewFlag:
    kind = _text(form, "type")
    names, values = _texts(form, "variation_name"), _texts(form, "variation_value")
    rows = list(zip(names, (values + [""] * len(names))[: len(names)], strict=True))
    return NewFlag(
        key=_text(form, "key").strip(),
        name=_text(form, "name").strip(),
        description=_text(form, "description").strip(),
        type=kind if kind in TYPES else "boolean",
        variations=rows,
        tags=_text(form, "tags"),
        temporary=_text(form, "lifetime") != "permanent",
        client_side=_text(form, "client_side") == "yes",
    )


def _value(kind: str, text: str) -> Any:
    """A variation's value from what was typed; ValueError with words for a person."""
    if kind == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise ValueError("write true or false")
        return lowered == "true"
    if kind == "number":
        number = json_number(text.strip())
        if number is None:
            raise ValueError(f"{text.strip()[:40] or 'an empty value'!r} is not a number")
        return number
    if kind == "json":
        try:
            return json.loads(text, parse_constant=reject_constant)
        except ValueError as exc:
            raise ValueError(f"this is not valid JSON ({exc})") from None
    return text


def _new_flag_body(draft: NewFlag) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    if not draft.key:
        errors["key"] = "Give the flag a key."
    elif not could_exist(draft.key):
        errors["key"] = (
            "Use 1 to 200 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    variations: dict[str, Any] = {}
    for i, (name, text) in enumerate(draft.variations):
        name = name.strip()
        if not name and not text.strip():
            continue
        if not name:
            errors[f"variation-{i}-name"] = "Give this variation a name."
            continue
        if name in variations:
            errors[f"variation-{i}-name"] = f"The name {name!r} is used twice."
            continue
        try:
            variations[name] = _value(draft.type, text)
        except ValueError as exc:
            errors[f"variation-{i}-value"] = _sentence(str(exc)) + "."
    if not variations and not errors:
        errors["variations"] = "A flag needs at least one variation."
    if len(draft.name) > 200:
        errors["name"] = "The name is longer than 200 characters."
    tags = list(dict.fromkeys(t.strip() for t in draft.tags.split(",") if t.strip()))
    body: dict[str, Any] = {
        "key": draft.key,
        "description": draft.description,
        "tags": tags,
        "temporary": draft.temporary,
        "client_side": draft.client_side,
        "type": draft.type,
        "variations": variations,
    }
    if draft.name:
        body["name"] = draft.name
    return body, errors


def _new_flag_field(draft: NewFlag, path: str | None) -> str:
    """The form field an error of the services is about."""
    if not path:
        return "form"
    rest = path.removeprefix(f"flags.{draft.key}.")
    if rest.startswith("variations."):
        name = rest.removeprefix("variations.")
        for i, (row_name, _) in enumerate(draft.variations):
            if row_name.strip() == name:
                return f"variation-{i}-value"
        return "variations"
    head = re.split(r"[.\[]", rest, maxsplit=1)[0]
    if head in ("key", "name", "description", "tags", "type", "variations"):
        return head
    return "form"


def _new_flag_form(
    request: Request,
    project: str,
    draft: NewFlag,
    errors: dict[str, str] | None = None,
    focus: str = "",
    status: int = 200,
) -> Response:
    return render(
        request,
        "flag_new.html",
        status=status,
        project=project,
        draft=draft,
        errors=errors or {},
        types=TYPES,
        focus=focus,
    )


@router.get("/projects/{project}/flags/new")
def new_flag_page(request: Request, session: SessionDep, project: str) -> Response:
    require_role(session, "editor")
    list_environments(store_of(request), project)  # 404 for an unknown project
    return _new_flag_form(request, project, NewFlag())


@router.post("/projects/{project}/flags/new")
def new_flag(request: Request, session: SessionDep, project: str, form: FormDep) -> Response:
    check_csrf(session, _text(form, "csrf"))
    require_role(session, "editor")
    store = store_of(request)
    environments = list_environments(store, project)
    draft = _read_new_flag(form)
    action = _text(form, "action")
    if action == "add-variation":
        draft.variations.append(("", ""))
        return _new_flag_form(
            request, project, draft, focus=f"variation-{len(draft.variations) - 1}-name"
        )
    if action.startswith("remove-variation:"):
        index = whole_number(action.partition(":")[2], high=len(draft.variations) - 1)
        if index is not None:
            del draft.variations[index]
        return _new_flag_form(request, project, draft, focus="add-variation")
    if action == "type":
        if all(not n.strip() or (n, v) in _default_rows("boolean") for n, v in draft.variations):
            draft.variations = _default_rows(draft.type)
        return _new_flag_form(request, project, draft, focus="type")
    body, errors = _new_flag_body(draft)
    if not errors:
        try:
            check_storable(body)
            create_flag(store, session.principal.actor, project, body)
        except ApiError as exc:
            problems = exc.extra.get("problems") or [{"field": exc.field, "message": exc.message}]
            for problem in problems:
                where = _new_flag_field(draft, problem.get("field"))
                message = problem.get("message") or exc.message
                if isinstance(exc, Conflict) and where == "key":
                    message = "A flag with this key already exists in this project."
                errors.setdefault(where, _sentence(str(message)))
    if errors:
        first = next(iter(errors))
        return _new_flag_form(request, project, draft, errors, focus=first, status=422)
    env = environments[0]["key"] if environments else ""
    return redirect(f"/projects/{project}/flags/{draft.key}?env={env}&done=created")


# ================================================================== targeting


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
        return _decimal_text(sum((w for w in weights if w is not None), Decimal(0)))


@dataclass
class ClauseDraft:
    uid: str
    attribute: str = ""
    op: str = "in"
    values: str = ""
    segments: list[str] = field(default_factory=list)
    negate: bool = False


@dataclass
class RuleDraft:
    uid: str
    id: str = ""
    description: str = ""
    clauses: list[ClauseDraft] = field(default_factory=list)
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


def _decimal_text(number: Decimal) -> str:
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _weight_text(weight: Any) -> str:
    if isinstance(weight, bool) or not isinstance(weight, int | float | str):
        return str(weight)
    try:
        return _decimal_text(Decimal(str(weight)))
    except InvalidOperation:
        return str(weight)


def _serve_draft(serve: Any, variations: list[str]) -> ServeDraft:
    if isinstance(serve, str):
        return ServeDraft(
            variation=serve, slices=[(v, "100" if v == serve else "0") for v in variations]
        )
    if isinstance(serve, dict) and "rollout" in serve:
        slices: list[tuple[str, str]] = []
        for item in serve.get("rollout") or []:
            if isinstance(item, dict):
                slices.append((str(item.get("variation", "")), _weight_text(item.get("weight"))))
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
        return _serve_draft(str(serve["variation"]), variations)
    return ServeDraft(slices=[(v, "0") for v in variations])


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
                or (op != "matches" and "," in value)
                or (op in TYPED_OPS and _literal(value) != value)
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
        for part in [line] if op == "matches" else line.split(","):
            item = part.strip()
            if item:
                out.append(_literal(item) if op in TYPED_OPS else item)
    return out


def draft_from_targeting(
    body: dict[str, Any], variations: list[str], segment_keys: list[str]
) -> Draft:
    targets = body.get("targets") or {}
    draft = Draft(
        targets=[(v, "\n".join(str(k) for k in targets.get(v) or [])) for v in variations],
        default=_serve_draft(body.get("default"), variations),
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
        clauses: list[ClauseDraft] = []
        for j, clause in enumerate(rule.get("clauses") or [], start=1):
            if not isinstance(clause, dict):
                continue
            op = str(clause.get("op", "in"))
            values = clause.get("values", [])
            values = values if isinstance(values, list) else [values]
            chosen: list[str] = []
            if op == "segment":
                chosen = [v for v in values if v in segment_keys]
                values = [v for v in values if v not in segment_keys]
            clauses.append(
                ClauseDraft(
                    uid=f"r{i}c{j}",
                    attribute=str(clause.get("attribute") or ""),
                    op=op,
                    values=format_values(op, values),
                    segments=chosen,
                    negate=bool(clause.get("negate")),
                )
            )
        draft.rules.append(
            RuleDraft(
                uid=f"r{i}",
                id=str(rule.get("id") or ""),
                description=str(rule.get("description") or ""),
                clauses=clauses,
                serve=_serve_draft(rule.get("serve"), variations),
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
        _texts(form, f"{prefix}.slice_variation"),
        _texts(form, f"{prefix}.slice_weight"),
    )
    weights += [""] * (len(names) - len(weights))
    return ServeDraft(
        kind="rollout" if _text(form, f"{prefix}.kind") == "rollout" else "variation",
        variation=_text(form, f"{prefix}.variation"),
        slices=list(zip(names, weights[: len(names)], strict=True)),
        bucket_by=_text(form, f"{prefix}.bucket_by").strip(),
        seed=_text(form, f"{prefix}.seed").strip(),
        experiment=_text(form, f"{prefix}.experiment") == "yes",
    )


def draft_from_form(form: FormData) -> Draft:
    names, keys = _texts(form, "target_variation"), _texts(form, "target_keys")
    keys += [""] * (len(names) - len(keys))
    draft = Draft(
        targets=list(zip(names, keys[: len(names)], strict=True)),
        default=_read_serve(form, "default"),
        off_variation=_text(form, "off_variation"),
        comment=_text(form, "comment").strip(),
    )
    seen: set[str] = set()
    for raw in _texts(form, "rule"):
        uid = _uid(raw)
        if uid is None or uid in seen:
            continue
        seen.add(uid)
        rule = RuleDraft(
            uid=uid,
            id=_text(form, f"rule.{uid}.id").strip(),
            description=_text(form, f"rule.{uid}.description").strip(),
            serve=_read_serve(form, f"rule.{uid}.serve"),
        )
        for raw_clause in _texts(form, f"rule.{uid}.clause"):
            cuid = _uid(raw_clause)
            if cuid is None or cuid in seen:
                continue
            seen.add(cuid)
            p = f"clause.{cuid}"
            rule.clauses.append(
                ClauseDraft(
                    uid=cuid,
                    attribute=_text(form, f"{p}.attribute").strip(),
                    op=_text(form, f"{p}.op") or "in",
                    values=_text(form, f"{p}.values"),
                    segments=[s for s in _texts(form, f"{p}.segments") if s],
                    negate=_text(form, f"{p}.negate") == "yes",
                )
            )
        draft.rules.append(rule)
    for value in _texts(form, "prereq"):
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
            serve=_serve_draft(variations[0] if variations else "", variations),
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
            f"The percentages add up to {_decimal_text(total)}%; they must add up to 100%."
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
            item: dict[str, Any] = {"op": clause.op}
            if clause.op == "segment":
                item["values"] = clause.segments or parse_values("segment", clause.values)
                if not item["values"]:
                    errors[f"clause-{clause.uid}-segments"] = "Choose at least one segment."
            else:
                if not clause.attribute:
                    errors[f"clause-{clause.uid}-attribute"] = "Name the context attribute."
                item["attribute"] = clause.attribute
                if clause.op != "exists":
                    item["values"] = parse_values(clause.op, clause.values)
                    if not item["values"]:
                        errors[f"clause-{clause.uid}-values"] = "Give at least one value."
            if clause.negate:
                item["negate"] = True
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


# ================================================================ describing


def _serve_words(serve: Any) -> str:
    if serve is None:
        return "nothing (the application's default)"
    if isinstance(serve, str):
        return serve
    if isinstance(serve, dict) and "rollout" in serve:
        parts = [
            f"{s.get('variation')} {_weight_text(s.get('weight'))}%"
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


def _body_only(targeting: dict[str, Any]) -> dict[str, Any]:
    return {k: targeting[k] for k in TARGETING_FIELDS if targeting.get(k) is not None}


# ====================================================================== pages


def _insights(store: Store, project: str, key: str) -> Any:
    """The insights panel's data, once ``_insights_pages`` provides it; None before."""
    try:
        module = importlib.import_module("vexil.server.web._insights_pages")
        insights_for = module.insights_for
    except (ImportError, AttributeError):
        return None
    try:
        return insights_for(store, project, key)
    except Exception:  # a broken panel must not take the flag page down with it
        log.exception("insights of flag %s in project %s failed", key, project)
        return None


def _changes_since(
    store: Store, project: str, key: str, env: str, version: int
) -> list[dict[str, Any]]:
    """The targeting changes in ``env`` after ``version``, oldest first, for people."""
    found = list_audit(store, project=project, flag=key, environment=env, limit=50)["items"]
    out: list[dict[str, Any]] = []
    for item in found:
        after = item.get("after") if isinstance(item.get("after"), dict) else {}
        if item.get("resource") != "targeting" or not isinstance(after, dict):
            continue
        stored = after.get("version")
        if not isinstance(stored, int) or stored <= version:
            continue
        out.append(
            {
                "who": _who(item.get("actor")),
                "when": _when(item.get("at")),
                "at": item.get("at") or "",
                "action": {
                    "targeting.toggle": "turned it on or off",
                    "targeting.update": "changed its targeting",
                    "targeting.promote": "promoted targeting into it",
                }.get(str(item.get("action")), str(item.get("action"))),
                "comment": item.get("comment") or "",
            }
        )
    return list(reversed(out))


def _last_change(store: Store, project: str, key: str, env: str) -> dict[str, str] | None:
    for item in list_audit(store, project=project, flag=key, limit=20)["items"]:
        if item.get("environment") in (None, env):
            return {"who": _who(item.get("actor")), "when": _when(item.get("at")), "at": item["at"]}
    return None


def _resolve_env(store: Store, project: str, env: str) -> tuple[str, dict[str, Any]]:
    environments = list_environments(store, project)
    if not environments:
        raise NotFound(f"project {project!r} has no environments")
    if not env:
        return environments[0]["key"], environments[0]
    for item in environments:
        if item["key"] == env:
            return env, item
    raise NotFound(f"no environment {env!r} in project {project!r}")


def _flag_page(
    request: Request,
    project: str,
    key: str,
    env: str,
    *,
    status: int = 200,
    draft: Draft | None = None,
    version: int | None = None,
    base: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    store = store_of(request)
    env_key, environment = _resolve_env(store, project, env)
    flag = get_flag(store, project, key)
    targeting = flag["environments"][env_key]
    variations = list(flag["variations"])
    segments = list_segments(store, project, env_key)
    segment_keys = [s["key"] for s in segments]
    if draft is None:
        draft = draft_from_targeting(targeting, variations, segment_keys)
    others = [
        {"key": f["key"], "name": f["name"], "variations": list(f["variations"])}
        for f in list_flags(store, project, limit=10**9)["items"]
        if f["key"] != key
    ]
    known = {(f["key"], v) for f in others for v in f["variations"]}
    return render(
        request,
        "flag.html",
        status=status,
        project=project,
        env=env_key,
        environment=environment,
        flag=flag,
        variations=[
            (name, json.dumps(value, ensure_ascii=False))
            for name, value in flag["variations"].items()
        ],
        variation_names=variations,
        targeting=targeting,
        draft=draft,
        version=targeting["version"] if version is None else version,
        base=json.dumps(_body_only(targeting) if base is None else base, ensure_ascii=False),
        errors=errors or {},
        operators=OPERATORS,
        segments=segments,
        other_flags=others,
        unknown_prereqs=[p for p in draft.prerequisites if p[0] and p not in known],
        last_change=_last_change(store, project, key, env_key),
        insights=_insights(store, project, key),
        blank_rule=_blank_rule(variations),
        json_pair=lambda a, b: json.dumps([a, b], ensure_ascii=False),
        **extra,
    )


def _blank_rule(variations: list[str]) -> RuleDraft:
    """The rule ``app.js`` clones when a rule is added in the browser."""
    return RuleDraft(
        uid="__R__",
        clauses=[ClauseDraft(uid="__C__")],
        serve=_serve_draft(variations[0] if variations else "", variations),
    )


@router.get("/projects/{project}/flags/{key}")
def flag_page(
    request: Request, session: SessionDep, project: str, key: str, env: str = "", done: str = ""
) -> Response:
    return _flag_page(request, project, key, env, notice=DONE.get(done))


def _flag_url(project: str, key: str, env: str, done: str) -> str:
    return f"/projects/{project}/flags/{key}?env={env}&done={done}"


@router.post("/projects/{project}/flags/{key}/toggle")
def toggle_flag(
    request: Request, session: SessionDep, project: str, key: str, form: FormDep, env: str = ""
) -> Response:
    check_csrf(session, _text(form, "csrf"))
    require_role(session, "editor")
    store = store_of(request)
    env_key, environment = _resolve_env(store, project, env)
    on = _text(form, "on") == "on"
    comment = _text(form, "comment").strip()
    version = version_field(_text(form, "version"))
    if environment["production"] and not comment:
        return _flag_page(
            request,
            project,
            key,
            env_key,
            status=422,
            toggle_error="A comment is required to change a production environment: "
            "say why, for whoever reads the audit log.",
            toggle_open=True,
        )
    try:
        toggle_(store, session.principal.actor, project, env_key, key, on, version, comment)
    except Conflict:
        changes = _changes_since(store, project, key, env_key, version or 0)
        return _flag_page(
            request,
            project,
            key,
            env_key,
            status=409,
            toggle_conflict=changes,
            toggle_comment=comment,
        )
    return redirect(_flag_url(project, key, env_key, "on" if on else "off"))


@router.post("/projects/{project}/flags/{key}/targeting")
def save_targeting(
    request: Request, session: SessionDep, project: str, key: str, form: FormDep, env: str = ""
) -> Response:
    check_csrf(session, _text(form, "csrf"))
    require_role(session, "editor")
    store = store_of(request)
    env_key, _ = _resolve_env(store, project, env)
    draft = draft_from_form(form)
    version = version_field(_text(form, "version"))
    try:
        base = json.loads(_text(form, "base"))
    except ValueError:
        base = None
    base = base if isinstance(base, dict) else None
    action = _text(form, "action") or "save"
    if action != "save":
        flag = get_flag(store, project, key)
        focus = apply_action(draft, action, list(flag["variations"]))
        return _flag_page(
            request,
            project,
            key,
            env_key,
            draft=draft,
            version=version,
            base=base,
            focus=focus,
            editing=True,
        )
    current = get_targeting(store, project, env_key, key)
    built = build_targeting(draft, bool(current.get("on")))
    errors = built.errors
    if not errors:
        try:
            check_storable(built.body)
            replace_targeting_(
                store,
                session.principal.actor,
                project,
                env_key,
                key,
                built.body,
                version,
                draft.comment,
            )
        except Conflict:
            current = get_targeting(store, project, env_key, key)
            conflict = {
                "changes": _changes_since(store, project, key, env_key, version or 0),
                "diff": targeting_diff(base, _body_only(current)),
            }
            return _flag_page(
                request,
                project,
                key,
                env_key,
                status=409,
                draft=draft,
                version=current["version"],
                base=_body_only(current),
                conflict=conflict,
                editing=True,
            )
        except (Unprocessable, ApiError) as exc:
            problems = exc.extra.get("problems") or [{"field": exc.field, "message": exc.message}]
            for problem in problems:
                where = engine_field(problem.get("field"), key, draft, built)
                errors.setdefault(where, _sentence(str(problem.get("message") or exc.message)))
    if errors:
        return _flag_page(
            request,
            project,
            key,
            env_key,
            status=422,
            errors=errors,
            draft=draft,
            version=version,
            base=base,
            focus=next(iter(errors)),
            editing=True,
        )
    return redirect(_flag_url(project, key, env_key, "saved"))


@router.post("/projects/{project}/flags/{key}/test")
def evaluate_context(
    request: Request, session: SessionDep, project: str, key: str, form: FormDep, env: str = ""
) -> Response:
    """Evaluate the flag for a pasted context: a read (viewers may), but CSRF-checked."""
    check_csrf(session, _text(form, "csrf"))
    store = store_of(request)
    env_key, _ = _resolve_env(store, project, env)
    text = _text(form, "context")
    test: dict[str, Any] = {"context": text}
    try:
        context = json.loads(text, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:
        test["error"] = f"This is not valid JSON: {exc}."
        context = None
    if context is not None and not isinstance(context, dict):
        test["error"] = 'The context must be a JSON object, like {"key": "user-1"}.'
    if "error" in test:
        return _flag_page(request, project, key, env_key, status=422, test=test)
    with store.read() as conn:
        env_id = environment_row(conn, project_row(conn, project).id, env_key).id
    get_flag(store, project, key)  # 404 for an unknown flag
    _, ruleset = store.current(env_id)
    explanation = ruleset.explain(key, context)
    detail = explanation.detail
    test.update(
        value="none: the application's default"
        if detail.value is None
        else json.dumps(detail.value, ensure_ascii=False),
        variant=detail.variant,
        reason=str(detail.reason.value),
        rule=detail.rule_id,
        error=None,
        failure=(
            f"{detail.error.value}: {detail.error_message}" if detail.error is not None else None
        ),
        trace=str(explanation),
    )
    return _flag_page(request, project, key, env_key, test=test)


@router.get("/projects/{project}/flags/{key}/state")
def flag_state(
    request: Request, session: SessionDep, project: str, key: str, env: str = ""
) -> Response:
    """What ``app.js`` polls to tell an open page that the flag changed elsewhere."""
    store = store_of(request)
    env_key, _ = _resolve_env(store, project, env)
    flag = get_flag(store, project, key)
    targeting = flag["environments"][env_key]
    last = _last_change(store, project, key, env_key)
    return JSONResponse(
        {
            "version": targeting["version"],
            "flag_version": flag["version"],
            "on": bool(targeting.get("on")),
            "by": last["who"] if last else None,
            "at": last["when"] if last else None,
        },
        headers={"Cache-Control": "no-store"},
    )

"""A project's segments per environment: the list, creating one, the editor, deleting.

The editor's rules and conditions are the targeting form's (``_targeting_form``):
values are read as the flag editor reads them. Its add and remove buttons are
submit buttons that re-render the form with the change applied; nothing is saved
until "Save segment", with the version the form was rendered from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from vexil.server import _segments
from vexil.server._errors import ApiError, Conflict
from vexil.server._store import Store
from vexil.server.web._common import (
    OPERATOR_WORDS,
    OPERATORS,
    EditorPost,
    FormDep,
    SessionDep,
    store_of,
)
from vexil.server.web._forms import clamped_number, version_field, whole_number
from vexil.server.web._page_helpers import (
    Filled,
    FilledDep,
    done,
    fields,
    form_page,
    path,
    pick_env,
    sentence,
    show,
    text_field,
)
from vexil.server.web._sessions import Session
from vexil.server.web._targeting_form import (
    OPERATOR_HELP,
    ClauseForm,
    RuleForm,
    clause_body,
    clause_form,
    format_values,
)

router = APIRouter(include_in_schema=False)

#: Bounds on the segment editor's form, so that a crafted form cannot make it loop long.
MAX_RULES, MAX_CLAUSES = 100, 100


@router.get("/projects/{project}/segments")
def segments_page(
    request: Request, session: SessionDep, project: str, filled: FilledDep, env: str = ""
) -> HTMLResponse:
    env_key = pick_env(store_of(request), project, env)
    items = _segments.list_segments(store_of(request), project, env_key)
    context = {"project": project, "env": env_key, "items": items}
    return form_page(request, "segments.html", "segments", filled, **context)


@router.post("/projects/{project}/segments")
def create_segment(request: Request, session: EditorPost, project: str, form: FormDep) -> Response:
    env, key, name = fields(form, "env", "key", "name")
    store = store_of(request)
    env_key = pick_env(store, project, env)
    values = {"key": key.strip(), "name": name.strip()}
    data = {"name": values["name"]} if values["name"] else {}
    try:
        _put(store, session, (project, env_key, values["key"]), data, None, create_only=True)
    except ApiError as exc:
        return segments_page(request, session, project, Filled.refused(values, exc), env_key)
    return done(
        request,
        _segment_url(project, values["key"], env_key),
        f"Segment {values['key']} created in {env_key}: add keys and rules, then save.",
    )


def _put(
    store: Store,
    session: Session,
    where: tuple[str, str, str],
    data: Mapping[str, Any],
    version: int | None,
    *,
    create_only: bool = False,
    comment: str = "",
) -> None:
    """Save segment ``(project, env, key)`` as the signed-in user."""
    project, env, key = where
    actor = session.principal.actor
    _segments.put_segment(
        store, actor, project, env, key, data, version, create_only=create_only, comment=comment
    )


def _segment_url(project: str, key: str, env: str) -> str:
    return f"/projects/{path(project)}/segments/{path(key)}?env={path(env)}"


def _segment_form(segment: Mapping[str, Any]) -> dict[str, Any]:
    """A segment as the editor's form fields (all text)."""
    rules = [
        RuleForm(
            id=str(rule.get("id", "")),
            description=str(rule.get("description", "")),
            clauses=[clause_form(c) for c in rule.get("clauses") or []],
        )
        for rule in segment.get("rules") or []
    ]
    return {
        "name": str(segment.get("name") or ""),
        "description": str(segment.get("description") or ""),
        "included": "\n".join(str(k) for k in segment.get("included") or []),
        "excluded": "\n".join(str(k) for k in segment.get("excluded") or []),
        "rules": rules,
        "version": str(segment.get("version", "")),
    }


def _posted_segment(form: FormData) -> dict[str, Any]:
    """The editor's fields as posted."""

    def text(name: str) -> str:
        return text_field(form, name)

    rules = []
    for i in range(clamped_number(text("rules"), low=0, high=MAX_RULES, default=0)):
        count = clamped_number(text(f"rules-{i}-clauses"), low=0, high=MAX_CLAUSES, default=0)
        prefixes = [f"rules-{i}-clauses-{j}-" for j in range(count)]
        clauses = [
            ClauseForm(
                attribute=text(p + "attribute").strip(),
                op=text(p + "op") or "in",
                values=text(p + "values"),
                negate=text(p + "negate") == "yes",
            )
            for p in prefixes
        ]
        rules.append(
            RuleForm(
                id=text(f"rules-{i}-id").strip(),
                description=text(f"rules-{i}-description").strip(),
                clauses=clauses,
            )
        )
    return {
        "name": text("name").strip(),
        "description": text("description").strip(),
        "included": text("included"),
        "excluded": text("excluded"),
        "rules": rules,
        "version": text("version"),
    }


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _segment_data(form: Mapping[str, Any]) -> dict[str, Any]:
    """The segment the form describes, as the service takes it."""
    rules = []
    for rule in form["rules"]:
        out: dict[str, Any] = {"clauses": [clause_body(c) for c in rule.clauses]}
        if rule.id:
            out["id"] = rule.id
        if rule.description:
            out["description"] = rule.description
        rules.append(out)
    data: dict[str, Any] = {
        "included": _lines(form["included"]),
        "excluded": _lines(form["excluded"]),
        "rules": rules,
    }
    if form["name"]:
        data["name"] = form["name"]
    if form["description"]:
        data["description"] = form["description"]
    return data


_FIELD_PATH = re.compile(
    r"(included|excluded|name|description)(?:\[\d+\])?"
    r"|rules\[(\d+)\](?:\.(id|description)"
    r"|\.clauses\[(\d+)\](?:\.(attribute|op|values|negate)(?:\[\d+\])?)?)?"
)


def _segment_field(key: str, where: str | None) -> str:
    """The editor's field for the path of a problem the engine reported in segment ``key``.

    Problems elsewhere (a flag or another segment) concern the whole form.
    """
    prefix = f"segments.{key}."
    if not where or not where.startswith(prefix):
        return "form"
    match = _FIELD_PATH.fullmatch(where.removeprefix(prefix))
    if match is None:
        return "form"
    top, rule, rule_field, clause, clause_field = match.groups()
    if top:
        return top
    if clause is not None:
        return f"rules-{rule}-clauses-{clause}-{clause_field or 'attribute'}"
    return f"rules-{rule}-{rule_field or 'id'}"


@router.get("/projects/{project}/segments/{key}")
def segment_page(
    request: Request, session: SessionDep, project: str, key: str, env: str = ""
) -> Response:
    store = store_of(request)
    env_key = pick_env(store, project, env)
    segment = _segments.get_segment(store, project, env_key, key)
    return _segment_editor(request, project, env_key, key, segment, _segment_form(segment), {})


def _segment_editor(
    request: Request,
    project: str,
    env: str,
    key: str,
    segment: Mapping[str, Any],
    form: Mapping[str, Any],
    errors: dict[str, str],
    status: int = 200,
    pending: bool = False,
) -> HTMLResponse:
    return show(
        request,
        "segments_edit.html",
        status=status,
        pending=pending,
        section="segments",
        project=project,
        env=env,
        key=key,
        segment=segment,
        form=form,
        errors=errors,
        operators=OPERATORS,
        operator_words=OPERATOR_WORDS,
        operator_help=OPERATOR_HELP,
        format_values=format_values,
    )


@router.post("/projects/{project}/segments/{key}")
def save_segment(
    request: Request, session: EditorPost, project: str, key: str, posted: FormDep, env: str = ""
) -> Response:
    store = store_of(request)
    env_key = pick_env(store, project, env)
    segment = _segments.get_segment(store, project, env_key, key)
    form = _posted_segment(posted)
    action = posted.get("action")
    action = action if isinstance(action, str) else "save"
    if action != "save":
        _edit_rules(form["rules"], action)
        return _segment_editor(request, project, env_key, key, segment, form, {}, pending=True)
    try:
        version = version_field(form["version"], required=True)
        comment = str(posted.get("comment") or "").strip()[:1000]
        _put(store, session, (project, env_key, key), _segment_data(form), version, comment=comment)
    except ApiError as exc:
        if isinstance(exc, Conflict) and "current_version" in exc.extra:
            message = (
                "Someone else changed this segment while you were editing it. Your edits "
                "are below; open the segment again to see theirs."
            )
            errors = {"form": message}
        else:
            errors = {_segment_field(key, exc.field): sentence(exc.message)}
            if errors.keys() != {"form"}:
                errors["form"] = "The segment was not saved: see the marked field."
        return _segment_editor(
            request, project, env_key, key, segment, form, errors, status=exc.status
        )
    return done(request, _segment_url(project, key, env_key), f"Segment {key} saved in {env_key}.")


def _edit_rules(rules: list[RuleForm], action: str) -> None:
    """Add or remove a rule or a condition, as the editor's buttons ask.

    ``action`` is ``verb:rule[:condition]``, positions counted from 0; a position
    that is not one of the form's does nothing.
    """
    verb, *places = action.split(":")
    if verb == "add-rule":
        if len(rules) < MAX_RULES:
            rules.append(RuleForm(clauses=[ClauseForm()]))
        return
    rule = whole_number(places[0], high=len(rules) - 1) if places else None
    if rule is None:
        return
    clauses = rules[rule].clauses
    if verb == "remove-rule" and len(places) == 1:
        del rules[rule]
    elif verb == "add-clause" and len(places) == 1 and len(clauses) < MAX_CLAUSES:
        clauses.append(ClauseForm())
    elif verb == "remove-clause" and len(places) == 2:
        clause = whole_number(places[1], high=len(clauses) - 1)
        if clause is not None:
            del clauses[clause]


@router.post("/projects/{project}/segments/{key}/delete")
def delete_segment(
    request: Request, session: EditorPost, project: str, key: str, form: FormDep
) -> Response:
    env = text_field(form, "env")
    store = store_of(request)
    env_key = pick_env(store, project, env)
    try:
        _segments.delete_segment(store, session.principal.actor, project, env_key, key)
    except ApiError as exc:
        segment = _segments.get_segment(store, project, env_key, key)
        message = f"The segment was not deleted: {sentence(exc.message)}"
        if exc.field and "." in exc.field:
            message = (
                "The segment was not deleted: a flag or another segment still uses it "
                f"({exc.message})."
            )
        return _segment_editor(
            request,
            project,
            env_key,
            key,
            segment,
            _segment_form(segment),
            {"delete": message},
            exc.status,
        )
    return done(
        request,
        f"/projects/{path(project)}/segments?env={path(env_key)}",
        f"Segment {key} deleted from {env_key}.",
    )

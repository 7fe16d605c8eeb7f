"""A flag's page per environment.

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

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from vexil.server._access import list_audit
from vexil.server._deps import check_storable
from vexil.server._errors import ApiError, Conflict, NotFound, Unprocessable
from vexil.server._flags import get_flag, get_targeting, list_flags
from vexil.server._flags import replace_targeting as replace_targeting_
from vexil.server._flags import toggle as toggle_
from vexil.server._insights import insights_for
from vexil.server._json import reject_constant
from vexil.server._projects import environment_row, list_environments, project_row
from vexil.server._segments import list_segments
from vexil.server._store import TARGETING_FIELDS, Store
from vexil.server.web._common import (
    OPERATORS,
    EditorPost,
    FormDep,
    SessionDep,
    ViewerPost,
    redirect,
    render,
    store_of,
)
from vexil.server.web._forms import version_field
from vexil.server.web._page_helpers import sentence, text_field, when, who
from vexil.server.web._targeting_draft import (
    ClauseDraft,
    Draft,
    RuleDraft,
    apply_action,
    build_targeting,
    draft_from_form,
    draft_from_targeting,
    engine_field,
    serve_draft,
)
from vexil.server.web._targeting_form import OPERATOR_HELP
from vexil.server.web._targeting_words import targeting_diff

log = logging.getLogger(__name__)

#: Form bodies are bounded like every body (``_limits``: 413 past ``max_body_bytes``).
router = APIRouter(include_in_schema=False)

#: Messages after a successful change, by the ``done`` query parameter.
DONE = {
    "created": "Flag created. It is off in every environment.",
    "saved": "Targeting saved.",
    "on": "The flag is now on.",
    "off": "The flag is now off.",
}


def _body_only(targeting: Mapping[str, Any]) -> dict[str, Any]:
    return {k: targeting[k] for k in TARGETING_FIELDS if targeting.get(k) is not None}


def _insights(store: Store, project: str, key: str) -> Any:
    """The insights panel's data; None when it fails."""
    try:
        return insights_for(store, project, key, now=time.time())
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
                "who": who(item.get("actor")),
                "when": when(item.get("at")),
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
            return {"who": who(item.get("actor")), "when": when(item.get("at")), "at": item["at"]}
    return None


@dataclass(frozen=True)
class FlagAt:
    """The flag a page is about and the environment it shows (the first by default)."""

    store: Store
    project: str
    key: str
    env: str
    environment: Mapping[str, Any]


def flag_at(request: Request, project: str, key: str, env: str = "") -> FlagAt:
    """The page's flag and environment from its path and ``?env=``; 404 for an unknown one.

    A dependency, so every handler reads them the same way; declared after the session
    dependency, so a caller without the role hears 403 before any 404.
    """
    store = store_of(request)
    environments = list_environments(store, project)
    if not environments:
        raise NotFound(f"project {project!r} has no environments")
    for item in environments:
        if not env or item["key"] == env:
            return FlagAt(store, project, key, item["key"], item)
    raise NotFound(f"no environment {env!r} in project {project!r}")


FlagAtDep = Annotated[FlagAt, Depends(flag_at)]


def _flag_page(
    request: Request,
    at: FlagAt,
    *,
    status: int = 200,
    draft: Draft | None = None,
    version: int | None = None,
    base: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    store, project, key, env_key = at.store, at.project, at.key, at.env
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
        environment=at.environment,
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
        operator_help=OPERATOR_HELP,
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
        serve=serve_draft(variations[0] if variations else "", variations),
    )


@router.get("/projects/{project}/flags/{key}")
def flag_page(request: Request, session: SessionDep, at: FlagAtDep, done: str = "") -> Response:
    return _flag_page(request, at, notice=DONE.get(done))


def _flag_url(at: FlagAt, done: str) -> str:
    return f"/projects/{at.project}/flags/{at.key}?env={at.env}&done={done}"


@router.post("/projects/{project}/flags/{key}/toggle")
def toggle_flag(request: Request, session: EditorPost, at: FlagAtDep, form: FormDep) -> Response:
    on = text_field(form, "on") == "on"
    comment = text_field(form, "comment").strip()
    version = version_field(text_field(form, "version"))
    if at.environment["production"] and not comment:
        return _flag_page(
            request,
            at,
            status=422,
            toggle_error="A comment is required to change a production environment: "
            "say why, for whoever reads the audit log.",
            toggle_open=True,
        )
    try:
        toggle_(at.store, session.principal.actor, at.project, at.env, at.key, on, version, comment)
    except Conflict:
        changes = _changes_since(at.store, at.project, at.key, at.env, version or 0)
        return _flag_page(
            request,
            at,
            status=409,
            toggle_conflict=changes,
            toggle_comment=comment,
        )
    return redirect(_flag_url(at, "on" if on else "off"))


@router.post("/projects/{project}/flags/{key}/targeting")
def save_targeting(request: Request, session: EditorPost, at: FlagAtDep, form: FormDep) -> Response:
    store, project, key, env_key = at.store, at.project, at.key, at.env
    draft = draft_from_form(form)
    version = version_field(text_field(form, "version"))
    try:
        base = json.loads(text_field(form, "base"))
    except ValueError:
        base = None
    base = base if isinstance(base, dict) else None
    action = text_field(form, "action") or "save"
    if action != "save":
        flag = get_flag(store, project, key)
        focus = apply_action(draft, action, list(flag["variations"]))
        return _flag_page(
            request,
            at,
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
                at,
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
                errors.setdefault(where, sentence(str(problem.get("message") or exc.message)))
    if errors:
        return _flag_page(
            request,
            at,
            status=422,
            errors=errors,
            draft=draft,
            version=version,
            base=base,
            focus=next(iter(errors)),
            editing=True,
        )
    return redirect(_flag_url(at, "saved"))


@router.post("/projects/{project}/flags/{key}/test")
def evaluate_context(
    request: Request, session: ViewerPost, at: FlagAtDep, form: FormDep
) -> Response:
    """Evaluate the flag for a pasted context: a read (viewers may), but CSRF-checked."""
    store, project, key = at.store, at.project, at.key
    text = text_field(form, "context")
    test: dict[str, Any] = {"context": text}
    try:
        context = json.loads(text, parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:
        test["error"] = f"This is not valid JSON: {exc}."
        context = None
    if context is not None and not isinstance(context, dict):
        test["error"] = 'The context must be a JSON object, like {"key": "user-1"}.'
    if "error" in test:
        return _flag_page(request, at, status=422, test=test)
    with store.read() as conn:
        env_id = environment_row(conn, project_row(conn, project).id, at.env).id
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
    return _flag_page(request, at, test=test)


@router.get("/projects/{project}/flags/{key}/state")
def flag_state(request: Request, session: SessionDep, at: FlagAtDep) -> Response:
    """What ``app.js`` polls to tell an open page that the flag changed elsewhere."""
    flag = get_flag(at.store, at.project, at.key)
    targeting = flag["environments"][at.env]
    last = _last_change(at.store, at.project, at.key, at.env)
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

"""The dashboard's administration pages: projects, a flag's history with revert, the
audit log, segments, environments with their SDK keys, API tokens and users.

Every change goes through the same service functions as the admin API, with the same
role: segments need an editor; projects, environments, SDK keys, tokens and users an
admin. Every form carries the session's CSRF token. A refused change is shown next to
the field it concerns, in the words of the service that refused it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from vexil.server import _access, _flags, _projects, _segments
from vexil.server._errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from vexil.server._store import SHARED_FIELDS, TARGETING_FIELDS, Store
from vexil.server._tables import audit_log, environments
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
    MAX_PAGE,
    clamped_number,
    json_number,
    read_form,
    version_field,
    whole_number,
)
from vexil.server.web._sessions import Session

router = APIRouter(include_in_schema=False)

#: Entries per page of the audit log and of a flag's history.
PAGE_SIZE = 50
#: A one-time message for the page a change redirects to (set by the server only).
NOTICE_COOKIE = "vexil_notice"
#: How long the old SDK key may keep working after a rotation: seconds and words.
OVERLAPS = (
    (0, "Immediately: the old key stops working now"),
    (3600, "After 1 hour"),
    (86400, "After 24 hours"),
    (7 * 86400, "After 7 days"),
)
ROLE_CHOICES = ("viewer", "editor", "admin")
#: Bounds on the segment editor's form, so that a crafted form cannot make it loop long.
MAX_RULES, MAX_CLAUSES = 100, 100


# ------------------------------------------------------------------ helpers


def _page(
    request: Request, template: str, *, status: int = 200, secret: bool = False, **context: Any
) -> HTMLResponse:
    """``render``, with the one-time notice a redirect left; never cached when ``secret``."""
    if not context.get("notice"):
        context["notice"] = _take_notice(request)
    response = render(request, template, status=status, **context)
    if NOTICE_COOKIE in request.cookies:
        response.delete_cookie(NOTICE_COOKIE, path="/")
    if secret:
        response.headers["Cache-Control"] = "no-store"
    return response


def _take_notice(request: Request) -> str | None:
    value = request.cookies.get(NOTICE_COOKIE)
    return unquote(value)[:500] if value else None


def _done(request: Request, url: str, notice: str) -> Response:
    """See the result of a change at ``url``, with ``notice`` said once."""
    response = redirect(url)
    response.set_cookie(
        NOTICE_COOKIE,
        quote(notice, safe=""),
        max_age=60,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _sentence(message: str) -> str:
    """A service's message as a sentence: capital first letter, final full stop."""
    text = message.strip()
    if not text:
        return "That did not work."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


def _problem(
    exc: ApiError, fields: Iterable[str], aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The error for the field it names (when the form has it), else for the whole form."""
    field = (aliases or {}).get(exc.field or "", exc.field)
    if isinstance(exc, Conflict) and "current_version" in exc.extra:
        message = (
            "Someone else changed this meanwhile. Reload the page to see their change, "
            "then make yours again."
        )
    else:
        message = _sentence(exc.message)
    return {field if field in set(fields) else "form": message}


def _page_number(text: str) -> int:
    return clamped_number(text, low=1, high=MAX_PAGE, default=1)


def _when(moment: str | None) -> str:
    if not moment:
        return ""
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def _path(text: str) -> str:
    return quote(text, safe="")


def _environment_keys(store: Store, project: str) -> list[str]:
    return [e["key"] for e in _projects.list_environments(store, project)]


def _pick_env(store: Store, project: str, env: str) -> str:
    keys = _environment_keys(store, project)
    if env in keys:
        return env
    if env:
        raise NotFound(f"project {project!r} has no environment {env!r}", field="environment")
    if not keys:
        raise NotFound(f"project {project!r} has no environments", field="environment")
    return keys[0]


# --------------------------------------------------------------------- diffs

#: Fields every change moves on by itself: left out of diffs, which show what changed.
NOISE = frozenset({"version", "updated_at", "created_at"})


def _clean(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {k: v for k, v in value.items() if k not in NOISE}
    if isinstance(out.get("environments"), dict):
        out["environments"] = {
            env: (
                {k: v for k, v in body.items() if k not in NOISE}
                if isinstance(body, dict)
                else body
            )
            for env, body in out["environments"].items()
        }
    return out


def _pretty(value: Any) -> list[str]:
    if value is None:
        return []
    return json.dumps(_clean(value), indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff_lines(before: Any, after: Any, context: int = 3) -> list[dict[str, str]]:
    """A line diff of the pretty-printed JSON: each line ``add``, ``del``, ``same`` or ``gap``."""
    old, new = _pretty(before), _pretty(after)
    lines: list[dict[str, str]] = []
    if old == new:
        return lines
    for i, group in enumerate(
        difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_grouped_opcodes(context)
    ):
        if i > 0 or (group and (group[0][1] > 0 or group[0][3] > 0)):
            lines.append({"kind": "gap", "text": "…"})
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend({"kind": "same", "text": t} for t in old[i1:i2])
                continue
            if tag in ("replace", "delete"):
                lines.extend({"kind": "del", "text": t} for t in old[i1:i2])
            if tag in ("replace", "insert"):
                lines.extend({"kind": "add", "text": t} for t in new[j1:j2])
    if lines and group and (group[-1][2] < len(old) or group[-1][4] < len(new)):
        lines.append({"kind": "gap", "text": "…"})
    return lines


#: What each audited action did, in words; ``{key}`` is the resource's key.
ACTION_WORDS = {
    "project.create": "created project {key}",
    "project.update": "changed project {key}",
    "project.delete": "deleted project {key}",
    "environment.create": "created environment {key}",
    "environment.update": "changed environment {key}",
    "environment.delete": "deleted environment {key}",
    "flag.create": "created flag {key}",
    "flag.update": "changed the shared fields of flag {key}",
    "flag.delete": "deleted flag {key}",
    "targeting.update": "changed the targeting of {key}",
    "targeting.promote": "promoted the targeting of {key}",
    "segment.create": "created segment {key}",
    "segment.update": "changed segment {key}",
    "segment.delete": "deleted segment {key}",
    "sdk_key.rotate": "rotated the {key} SDK key",
    "token.create": "created API token {key}",
    "token.revoke": "revoked API token {key}",
    "user.create": "created user {key}",
    "user.update": "changed user {key}",
    "user.delete": "deleted user {key}",
}


def _summary(item: Mapping[str, Any]) -> str:
    action, key = str(item["action"]), str(item.get("key") or "")
    if action == "targeting.toggle":
        on = isinstance(item.get("after"), dict) and item["after"].get("on")
        return f"turned {key} {'on' if on else 'off'}"
    words = ACTION_WORDS.get(action)
    return words.format(key=key) if words else f"{action} {key}".strip()


def _version_of(value: Any) -> int | None:
    if isinstance(value, dict) and isinstance(value.get("version"), int):
        return int(value["version"])
    return None


def _entry_view(item: Mapping[str, Any]) -> dict[str, Any]:
    revertable = item["before"] is not None and (
        (item["resource"] == "targeting" and item["environment"] is not None)
        or item["action"] == "flag.update"
    )
    return {
        **item,
        "when": _when(item["at"]),
        "summary": _summary(item),
        "diff": diff_lines(item["before"], item["after"]),
        "revertable": revertable,
    }


# ------------------------------------------------------------------ projects


@router.get("/projects")
def projects_page(request: Request, session: SessionDep) -> Response:
    return _projects_page(request, {}, {})


def _projects_page(
    request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    return _page(
        request,
        "projects.html",
        status=status,
        section="projects",
        items=_projects.list_projects(store_of(request)),
        values=values,
        errors=errors,
    )


@router.post("/projects")
def create_project(
    request: Request,
    session: SessionDep,
    key: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "admin")
    values = {"key": key.strip(), "name": name.strip(), "description": description.strip()}
    try:
        _check_length(values["name"], "name", 200)
        created = _projects.create_project(
            store_of(request),
            session.principal.actor,
            values["key"],
            values["name"] or None,
            values["description"],
        )
    except ApiError as exc:
        return _projects_page(request, values, _problem(exc, values), status=exc.status)
    envs = ", ".join(_environment_keys(store_of(request), created["key"]))
    return _done(request, "/projects", f"Project {created['key']} created, with {envs}.")


def _check_length(text: str, field: str, limit: int) -> None:
    if len(text) > limit:
        raise BadRequest(f"at most {limit} characters, please", field=field)


# ------------------------------------------------------------------- history


@router.get("/projects/{project}/flags/{key}/history")
def history_page(
    request: Request, session: SessionDep, project: str, key: str, env: str = "", page: str = ""
) -> Response:
    store = store_of(request)
    env_keys = _environment_keys(store, project)
    try:
        flag = _flags.get_flag(store, project, key)
    except NotFound:
        # A deleted flag keeps its history; there is nothing left to revert.
        flag = {"key": key, "name": None, "deleted": True}
    number = _page_number(page)
    env_filter = env if env in env_keys else ""
    found = _access.list_audit(
        store,
        project=project,
        flag=key,
        environment=env_filter or None,
        limit=PAGE_SIZE + 1,
        offset=(number - 1) * PAGE_SIZE,
    )
    items = found["items"]
    if flag.get("deleted") and not items and number == 1 and not env_filter:
        raise NotFound(f"there is no flag {key!r} in {project!r}, nor was there", field="flag")

    def page_url(n: int) -> str:
        return "?" + urlencode({**({"env": env_filter} if env_filter else {}), "page": n})

    return _page(
        request,
        "history.html",
        section="flags",
        project=project,
        env=env_filter,
        flag=flag,
        entries=[_entry_view(i) for i in items[:PAGE_SIZE]],
        page=number,
        has_next=len(items) > PAGE_SIZE,
        page_url=page_url,
        env_filter=env_filter,
    )


def _audit_entry(store: Store, project: str, key: str, entry_id: str) -> dict[str, Any]:
    """One entry of a flag's history (its targeting's or its own), or NotFound."""
    number = whole_number(entry_id, low=1)
    with store.read() as conn:
        prow = _projects.project_row(conn, project)
        row = None
        if number is not None:
            row = conn.execute(
                select(audit_log, environments.c.key.label("env_key"))
                .outerjoin(environments, environments.c.id == audit_log.c.environment_id)
                .where(
                    audit_log.c.id == number,
                    audit_log.c.project_id == prow.id,
                    audit_log.c.resource.in_(("flag", "targeting")),
                    audit_log.c.resource_key == key,
                )
            ).first()
    if row is None:
        raise NotFound(f"flag {key!r} has no change #{entry_id}", field="entry")
    return _entry_view(
        {
            "id": row.id,
            "at": row.at.isoformat(),
            "actor": row.actor,
            "action": row.action,
            "resource": row.resource,
            "key": row.resource_key,
            "environment": row.env_key,
            "comment": row.comment,
            "before": row.before,
            "after": row.after,
        }
    )


def _restored(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What reverting ``entry`` writes: the targeting or the shared fields before it."""
    before = entry["before"]
    fields = TARGETING_FIELDS if entry["resource"] == "targeting" else SHARED_FIELDS
    return {k: before[k] for k in fields if before.get(k) is not None}


def _current(store: Store, project: str, key: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    if entry["resource"] == "targeting":
        return _flags.get_targeting(store, project, entry["environment"], key)
    return _flags.get_flag(store, project, key)


def _what(entry: Mapping[str, Any], key: str) -> str:
    if entry["resource"] == "targeting":
        return f"the targeting of {key} in {entry['environment']}"
    return f"the shared fields of {key}"


@router.get("/projects/{project}/flags/{key}/history/{entry_id}/revert")
def revert_page(
    request: Request, session: SessionDep, project: str, key: str, entry_id: str
) -> Response:
    store = store_of(request)
    entry = _audit_entry(store, project, key, entry_id)
    return _revert_confirmation(request, store, project, key, entry, "", None)


def _revert_confirmation(
    request: Request,
    store: Store,
    project: str,
    key: str,
    entry: dict[str, Any],
    comment: str,
    error: str | None,
    status: int = 200,
) -> HTMLResponse:
    if not entry["revertable"]:
        raise BadRequest("this change cannot be reverted here", field="entry")
    current = _current(store, project, key, entry)
    restored = _restored(entry)
    changed_since = _version_of(current) != _version_of(entry["after"])
    return _page(
        request,
        "admin_revert.html",
        status=status,
        section="flags",
        project=project,
        env=entry["environment"] or "",
        flag_key=key,
        entry=entry,
        what=_what(entry, key),
        version=_version_of(current),
        changed_since=changed_since,
        same=_comparable(current, entry) == restored,
        diff=diff_lines(_comparable(current, entry), restored),
        comment=comment,
        error=error,
    )


def _comparable(current: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    fields = TARGETING_FIELDS if entry["resource"] == "targeting" else SHARED_FIELDS
    return {k: current[k] for k in fields if k in current and current[k] is not None}


@router.post("/projects/{project}/flags/{key}/history/{entry_id}/revert")
def revert(
    request: Request,
    session: SessionDep,
    project: str,
    key: str,
    entry_id: str,
    comment: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "editor")
    store = store_of(request)
    entry = _audit_entry(store, project, key, entry_id)
    if not entry["revertable"]:
        raise BadRequest("this change cannot be reverted: it has no earlier state", field="entry")
    comment = comment.strip()[:1000]
    current = _current(store, project, key, entry)
    current_version = _version_of(current)
    if confirm == "yes":
        # Reverting over later changes: only onto the state the person saw and confirmed.
        expected = version_field(version, required=True)
    elif current_version == _version_of(entry["after"]):
        expected = current_version
    else:
        message = (
            f"{_what(entry, key)[0].upper()}{_what(entry, key)[1:]} has changed since "
            f"change #{entry['id']}. Reverting would also undo the later changes: "
            "check the difference below and confirm, or go back."
        )
        return _revert_confirmation(request, store, project, key, entry, comment, message, 409)
    text = comment or f"revert of change #{entry['id']}"
    try:
        if entry["resource"] == "targeting":
            _flags.replace_targeting(
                store,
                session.principal.actor,
                project,
                entry["environment"],
                key,
                _restored(entry),
                expected,
                text,
            )
        else:
            _flags.update_flag(
                store, session.principal.actor, project, key, _restored(entry), expected, text
            )
    except Conflict as exc:
        if "current_version" not in exc.extra:
            raise
        message = (
            "It changed again while you were looking. Here is the difference with its "
            "state now: confirm again to revert onto it."
        )
        return _revert_confirmation(request, store, project, key, entry, comment, message, 409)
    except ApiError as exc:
        message = f"This change cannot be reverted: {_sentence(exc.message)}"
        return _revert_confirmation(
            request, store, project, key, entry, comment, message, exc.status
        )
    what = _what(entry, key)
    return _done(
        request,
        f"/projects/{_path(project)}/flags/{_path(key)}/history",
        f"Reverted change #{entry['id']}: {what} is back to how it was before it.",
    )


# ----------------------------------------------------------------- audit log


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    project: str = "",
    flag: str = "",
    environment: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
    page: str = "",
) -> Response:
    store = store_of(request)
    filters = {
        "project": project.strip(),
        "flag": flag.strip(),
        "environment": environment.strip(),
        "actor": actor.strip(),
        "since": since.strip(),
        "until": until.strip(),
    }
    errors: dict[str, str] = {}
    for name, text in filters.items():
        if len(text) > 300 or "\x00" in text:
            errors[name] = "At most 300 characters, please."
    known = {p["key"] for p in _projects.list_projects(store)}
    if filters["project"] and filters["project"] not in known:
        errors["project"] = f"There is no project {filters['project']!r}."
    start = _date(filters["since"], "since", errors)
    end = _date(filters["until"], "until", errors)
    if start and end and end < start:
        errors["until"] = "The end date is before the start date."
    number = _page_number(page)
    items: list[dict[str, Any]] = []
    has_next = False
    if not errors:
        found = _access.list_audit(
            store,
            project=filters["project"] or None,
            flag=filters["flag"] or None,
            environment=filters["environment"] or None,
            actor=filters["actor"] or None,
            since=datetime.combine(start, datetime.min.time(), UTC) if start else None,
            # Until the end of that day; the last day there is has no day after it.
            until=datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC)
            if end and end < date.max
            else None,
            limit=PAGE_SIZE + 1,
            offset=(number - 1) * PAGE_SIZE,
        )
        items, has_next = found["items"][:PAGE_SIZE], len(found["items"]) > PAGE_SIZE

    def page_url(n: int) -> str:
        return "?" + urlencode({**{k: v for k, v in filters.items() if v}, "page": n})

    in_project = filters["project"] if filters["project"] in known else None
    return _page(
        request,
        "audit.html",
        status=400 if errors else 200,
        section="audit",
        project=in_project,
        filters=filters,
        errors=errors,
        entries=[_entry_view(i) for i in items],
        offset=(number - 1) * PAGE_SIZE,
        page=number,
        has_next=has_next,
        page_url=page_url,
    )


def _date(text: str, field: str, errors: dict[str, str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[field] = "Use a date such as 2025-01-31."
        return None


# ------------------------------------------------------------------ segments


@router.get("/projects/{project}/segments")
def segments_page(request: Request, session: SessionDep, project: str, env: str = "") -> Response:
    env_key = _pick_env(store_of(request), project, env)
    return _segments_page(request, project, env_key, {}, {})


def _segments_page(
    request: Request,
    project: str,
    env: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    items = _segments.list_segments(store_of(request), project, env)
    return _page(
        request,
        "segments.html",
        status=status,
        section="segments",
        project=project,
        env=env,
        items=items,
        values=values,
        errors=errors,
    )


@router.post("/projects/{project}/segments")
def create_segment(
    request: Request,
    session: SessionDep,
    project: str,
    env: Annotated[str, Form()] = "",
    key: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "editor")
    store = store_of(request)
    env_key = _pick_env(store, project, env)
    values = {"key": key.strip(), "name": name.strip()}
    data = {"name": values["name"]} if values["name"] else {}
    try:
        _segments.put_segment(
            store,
            session.principal.actor,
            project,
            env_key,
            values["key"],
            data,
            None,
            create_only=True,
        )
    except ApiError as exc:
        errors = _problem(exc, values)
        return _segments_page(request, project, env_key, values, errors, exc.status)
    return _done(
        request,
        _segment_url(project, values["key"], env_key),
        f"Segment {values['key']} created in {env_key}: add keys and rules, then save.",
    )


def _segment_url(project: str, key: str, env: str) -> str:
    return f"/projects/{_path(project)}/segments/{_path(key)}?env={_path(env)}"


def _value_text(value: Any) -> str:
    """A clause value as typed: strings as they are, unless they would read as JSON."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _value_of(text: str) -> Any:
    """A typed value: JSON numbers, booleans and "quoted strings"; anything else is text."""
    number = json_number(text)
    if number is not None:
        return number
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | str) else text


def _segment_form(segment: Mapping[str, Any]) -> dict[str, Any]:
    """A segment as the editor's form fields (all text)."""
    rules = []
    for rule in segment.get("rules") or []:
        clauses = []
        for clause in rule.get("clauses") or []:
            raw = clause.get("values", [])
            values = raw if isinstance(raw, list) else [raw]
            clauses.append(
                {
                    "attribute": str(clause.get("attribute", "")),
                    "op": str(clause.get("op", "in")),
                    "values": "\n".join(_value_text(v) for v in values),
                    "negate": bool(clause.get("negate", False)),
                }
            )
        rules.append(
            {
                "id": str(rule.get("id", "")),
                "description": str(rule.get("description", "")),
                "clauses": clauses,
            }
        )
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
        value = form.get(name)
        return value if isinstance(value, str) else ""

    rules = []
    for i in range(clamped_number(text("rules"), low=0, high=MAX_RULES, default=0)):
        clauses = []
        count = clamped_number(text(f"rules-{i}-clauses"), low=0, high=MAX_CLAUSES, default=0)
        for j in range(count):
            prefix = f"rules-{i}-clauses-{j}-"
            clauses.append(
                {
                    "attribute": text(prefix + "attribute").strip(),
                    "op": text(prefix + "op") or "in",
                    "values": text(prefix + "values"),
                    "negate": text(prefix + "negate") == "yes",
                }
            )
        rules.append(
            {
                "id": text(f"rules-{i}-id").strip(),
                "description": text(f"rules-{i}-description").strip(),
                "clauses": clauses,
            }
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
        clauses = []
        for clause in rule["clauses"]:
            body: dict[str, Any] = {"op": clause["op"]}
            if clause["op"] != "segment" or clause["attribute"]:
                body["attribute"] = clause["attribute"]
            if clause["op"] != "exists":
                body["values"] = [_value_of(v) for v in _lines(clause["values"])]
            if clause["negate"]:
                body["negate"] = True
            clauses.append(body)
        out: dict[str, Any] = {"clauses": clauses}
        if rule["id"]:
            out["id"] = rule["id"]
        if rule["description"]:
            out["description"] = rule["description"]
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


def _segment_field(key: str, path: str | None) -> str:
    """The editor's field for the path of a problem the engine reported in segment ``key``.

    Problems elsewhere (a flag or another segment) concern the whole form.
    """
    prefix = f"segments.{key}."
    if not path or not path.startswith(prefix):
        return "form"
    match = _FIELD_PATH.fullmatch(path.removeprefix(prefix))
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
    env_key = _pick_env(store, project, env)
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
    return _page(
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
        value_text=_value_text,
    )


@router.post("/projects/{project}/segments/{key}")
async def save_segment(
    request: Request, session: SessionDep, project: str, key: str, env: str = ""
) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_save_segment, request, session, project, key, env, form)


def _save_segment(
    request: Request, session: Session, project: str, key: str, env: str, posted: FormData
) -> Response:
    csrf = posted.get("csrf")
    check_csrf(session, csrf if isinstance(csrf, str) else None)
    require_role(session, "editor")
    store = store_of(request)
    env_key = _pick_env(store, project, env)
    segment = _segments.get_segment(store, project, env_key, key)
    form = _posted_segment(posted)
    action = posted.get("action")
    action = action if isinstance(action, str) else "save"
    if action != "save":
        _edit_rules(form["rules"], action)
        return _segment_editor(request, project, env_key, key, segment, form, {}, pending=True)
    try:
        _segments.put_segment(
            store,
            session.principal.actor,
            project,
            env_key,
            key,
            _segment_data(form),
            version_field(form["version"], required=True),
            comment=str(posted.get("comment") or "").strip()[:1000],
        )
    except ApiError as exc:
        if isinstance(exc, Conflict) and "current_version" in exc.extra:
            message = (
                "Someone else changed this segment while you were editing it. Your edits "
                "are below; open the segment again to see theirs."
            )
            errors = {"form": message}
        else:
            errors = {_segment_field(key, exc.field): _sentence(exc.message)}
            if errors.keys() != {"form"}:
                errors["form"] = "The segment was not saved: see the marked field."
        return _segment_editor(
            request, project, env_key, key, segment, form, errors, status=exc.status
        )
    return _done(request, _segment_url(project, key, env_key), f"Segment {key} saved in {env_key}.")


def _edit_rules(rules: list[dict[str, Any]], action: str) -> None:
    """Add or remove a rule or a condition, as the editor's buttons ask.

    ``action`` is ``verb:rule[:condition]``, positions counted from 0; a position
    that is not one of the form's does nothing.
    """
    verb, *places = action.split(":")
    blank = {"attribute": "", "op": "in", "values": "", "negate": False}
    if verb == "add-rule":
        if len(rules) < MAX_RULES:
            rules.append({"id": "", "description": "", "clauses": [dict(blank)]})
        return
    rule = whole_number(places[0], high=len(rules) - 1) if places else None
    if rule is None:
        return
    clauses = rules[rule]["clauses"]
    if verb == "remove-rule" and len(places) == 1:
        del rules[rule]
    elif verb == "add-clause" and len(places) == 1 and len(clauses) < MAX_CLAUSES:
        clauses.append(dict(blank))
    elif verb == "remove-clause" and len(places) == 2:
        clause = whole_number(places[1], high=len(clauses) - 1)
        if clause is not None:
            del clauses[clause]


@router.post("/projects/{project}/segments/{key}/delete")
def delete_segment(
    request: Request,
    session: SessionDep,
    project: str,
    key: str,
    env: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "editor")
    store = store_of(request)
    env_key = _pick_env(store, project, env)
    try:
        _segments.delete_segment(store, session.principal.actor, project, env_key, key)
    except ApiError as exc:
        segment = _segments.get_segment(store, project, env_key, key)
        message = f"The segment was not deleted: {_sentence(exc.message)}"
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
    return _done(
        request,
        f"/projects/{_path(project)}/segments?env={_path(env_key)}",
        f"Segment {key} deleted from {env_key}.",
    )


# -------------------------------------------------------------- environments


def _mask(key: str) -> str:
    prefix = key[:7] if key.startswith("vx-") else ""
    return f"{prefix}{'•' * 12}{key[-4:]}"


@router.get("/projects/{project}/environments")
def environments_page(
    request: Request, session: SessionDep, project: str, reveal: str = ""
) -> Response:
    return _environments_page(request, session, project, reveal, {}, {})


def _environments_page(
    request: Request,
    session: Session,
    project: str,
    reveal: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    store = store_of(request)
    envs = _projects.list_environments(store, project)
    show_keys = session.can("admin")  # the admin API shows SDK keys to admins only
    rows = []
    for env in envs:
        keys: dict[str, Any] = {"server": None, "client": None}
        old: list[dict[str, Any]] = []
        if show_keys:
            for item in _projects.list_keys(store, project, env["key"]):
                view = {
                    **item,
                    "masked": _mask(item["key"]),
                    "expires": _when(item["expires_at"]),
                    "ref": f"{env['key']}:{item['kind']}",
                    "revealed": reveal == f"{env['key']}:{item['kind']}",
                }
                if item["expires_at"] is None:
                    keys[item["kind"]] = view
                else:
                    old.append(view)
        rows.append({**env, "keys": keys, "old": old})
    return _page(
        request,
        "environments.html",
        status=status,
        secret=True,
        section="environments",
        project=project,
        rows=rows,
        show_keys=show_keys,
        values=values,
        errors=errors,
    )


@router.post("/projects/{project}/environments")
def create_environment(
    request: Request,
    session: SessionDep,
    project: str,
    key: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    production: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "admin")
    values = {"key": key.strip(), "name": name.strip(), "production": production}
    try:
        _check_length(values["name"], "name", 200)
        _projects.create_environment(
            store_of(request),
            session.principal.actor,
            project,
            {
                "key": values["key"],
                "name": values["name"] or None,
                "production": production == "yes",
            },
        )
    except ApiError as exc:
        errors = _problem(exc, values)
        return _environments_page(request, session, project, "", values, errors, exc.status)
    return _done(
        request,
        f"/projects/{_path(project)}/environments",
        f"Environment {values['key']} created, with its own SDK keys; every flag is off in it.",
    )


@router.get("/projects/{project}/environments/{env}/rotate")
def rotate_page(
    request: Request, session: SessionDep, project: str, env: str, kind: str = "server"
) -> Response:
    require_role(session, "admin")
    return _rotate_page(request, project, env, kind, 3600, {})


def _rotate_page(
    request: Request,
    project: str,
    env: str,
    kind: str,
    overlap: int,
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    if kind not in ("server", "client"):
        raise BadRequest("there are server and client keys only", field="kind")
    environment = _projects.get_environment(store_of(request), project, env)
    return _page(
        request,
        "admin_rotate.html",
        status=status,
        section="environments",
        project=project,
        environment=environment,
        kind=kind,
        overlap=overlap,
        overlaps=OVERLAPS,
        errors=errors,
    )


@router.post("/projects/{project}/environments/{env}/rotate")
def rotate_key(
    request: Request,
    session: SessionDep,
    project: str,
    env: str,
    kind: Annotated[str, Form()] = "",
    overlap: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "admin")
    seconds = whole_number(overlap)
    if confirm != "yes":
        errors = {"confirm": "Tick the box to confirm the rotation."}
        return _rotate_page(request, project, env, kind, seconds or 0, errors, 400)
    try:
        if seconds is None:
            raise BadRequest("the overlap is not a number of seconds", field="overlap")
        _projects.rotate_key(
            store_of(request), session.principal.actor, project, env, kind, seconds
        )
    except ApiError as exc:
        errors = _problem(exc, ("overlap", "kind"), {"overlap_seconds": "overlap"})
        if "overlap" in errors:
            errors["overlap"] = "Choose when the old key stops working: now, or up to 30 days."
        return _rotate_page(request, project, env, kind, seconds or 0, errors, exc.status)
    if seconds == 0:
        old = "The old key has stopped working."
    else:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        old = f"The old key keeps working until {_when(until.isoformat())}."
    return _done(
        request,
        f"/projects/{_path(project)}/environments?reveal={_path(env)}:{kind}#env-{_path(env)}",
        f"New {kind} key for {env}: it is shown below. {old}",
    )


# -------------------------------------------------------------------- tokens


@router.get("/tokens")
def tokens_page(request: Request, session: SessionDep) -> Response:
    require_role(session, "admin")
    return _tokens_page(request, {}, {})


def _tokens_page(
    request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    return _page(
        request,
        "tokens.html",
        status=status,
        section="tokens",
        items=[
            {**t, "created": _when(t["created_at"]), "used": _when(t["last_used_at"])}
            for t in _access.list_tokens(store_of(request))
        ],
        roles=ROLE_CHOICES,
        values=values,
        errors=errors,
    )


@router.post("/tokens")
def create_token(
    request: Request,
    session: SessionDep,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    project: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "admin")
    values = {"name": name.strip(), "role": role, "project": project}
    try:
        created = _access.create_token(
            store_of(request), session.principal.actor, values["name"], role, project or None
        )
    except ApiError as exc:
        return _tokens_page(request, values, _problem(exc, values), exc.status)
    return _page(request, "admin_token_created.html", secret=True, section="tokens", token=created)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, session: SessionDep, token_id: str, csrf: Annotated[str, Form()] = ""
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "admin")
    number = whole_number(token_id)
    names = {t["id"]: t["name"] for t in _access.list_tokens(store_of(request))}
    if number is None or number not in names:
        raise NotFound("there is no such token, or it was revoked already", field="token")
    _access.revoke_token(store_of(request), session.principal.actor, number)
    return _done(request, "/tokens", f"Token {names[number]} revoked: it no longer opens the API.")


# --------------------------------------------------------------------- users


@router.get("/users")
def users_page(request: Request, session: SessionDep) -> Response:
    require_role(session, "admin")
    return _users_page(request, {}, {})


def _users_page(
    request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    return _page(
        request,
        "users.html",
        status=status,
        section="users",
        items=[
            {**u, "created": _when(u["created_at"])} for u in _access.list_users(store_of(request))
        ],
        roles=ROLE_CHOICES,
        values=values,
        errors=errors,
    )


@router.post("/users")
def create_user(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "admin")
    values = {"username": username.strip(), "password": "", "role": role}
    try:
        if len(password) > 1000:
            raise BadRequest("a password has at most 1000 characters", field="password")
        created = _access.create_user(
            store_of(request), session.principal.actor, values["username"], password, role
        )
    except ApiError as exc:
        return _users_page(request, values, _problem(exc, values), exc.status)
    return _done(
        request,
        "/users",
        f"User {created['username']} created as {created['role']}: they can sign in now.",
    )


def _user(store: Store, user_id: str) -> dict[str, Any]:
    number = whole_number(user_id)
    for user in _access.list_users(store):
        if user["id"] == number:
            return user
    raise NotFound("there is no such user", field="user")


@router.get("/users/{user_id}")
def user_page(request: Request, session: SessionDep, user_id: str) -> Response:
    require_role(session, "admin")
    return _user_page(request, session, _user(store_of(request), user_id), {})


def _user_page(
    request: Request,
    session: Session,
    user: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "admin_user.html",
        status=status,
        section="users",
        user={**user, "created": _when(user["created_at"])},
        yourself=user["id"] == session.user_id,
        roles=ROLE_CHOICES,
        errors=errors,
    )


def _change_user(
    request: Request,
    session: Session,
    user_id: str,
    csrf: str,
    change: Callable[[Store, dict[str, Any]], str],
    field: str,
) -> Response:
    check_csrf(session, csrf)
    require_role(session, "admin")
    store = store_of(request)
    user = _user(store, user_id)
    try:
        if user["id"] == session.user_id and field != "password":
            raise Forbidden(
                "you cannot change your own role, disable or delete yourself: ask another admin"
            )
        notice = change(store, user)
    except ApiError as exc:
        errors = _problem(exc, (field,))
        return _user_page(request, session, user, errors, exc.status)
    if field == "delete":
        return _done(request, "/users", notice)
    return _done(request, f"/users/{user['id']}", notice)


@router.post("/users/{user_id}/role")
def change_role(
    request: Request,
    session: SessionDep,
    user_id: str,
    role: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    def change(store: Store, user: dict[str, Any]) -> str:
        _access.update_user(store, session.principal.actor, user["id"], {"role": role})
        return f"{user['username']} is now {'a' if role == 'viewer' else 'an'} {role}."

    return _change_user(request, session, user_id, csrf, change, "role")


@router.post("/users/{user_id}/password")
def reset_password(
    request: Request,
    session: SessionDep,
    user_id: str,
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    def change(store: Store, user: dict[str, Any]) -> str:
        if len(password) > 1000:
            raise BadRequest("a password has at most 1000 characters", field="password")
        _access.update_user(store, session.principal.actor, user["id"], {"password": password})
        return f"New password set for {user['username']}."

    return _change_user(request, session, user_id, csrf, change, "password")


@router.post("/users/{user_id}/disabled")
def set_disabled(
    request: Request,
    session: SessionDep,
    user_id: str,
    disabled: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    def change(store: Store, user: dict[str, Any]) -> str:
        off = disabled == "yes"
        _access.update_user(store, session.principal.actor, user["id"], {"disabled": off})
        if off:
            return f"{user['username']} is disabled: they are signed out and cannot sign in."
        return f"{user['username']} is enabled again: they can sign in."

    return _change_user(request, session, user_id, csrf, change, "disabled")


@router.post("/users/{user_id}/delete")
def delete_user(
    request: Request,
    session: SessionDep,
    user_id: str,
    confirm: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    def change(store: Store, user: dict[str, Any]) -> str:
        if confirm != "yes":
            raise BadRequest("tick the box to confirm", field="delete")
        _access.delete_user(store, session.principal.actor, user["id"])
        return f"User {user['username']} deleted."

    return _change_user(request, session, user_id, csrf, change, "delete")

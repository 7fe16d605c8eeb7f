"""A flag's history, newest first, and reverting one of its changes.

A change to a flag's targeting in one environment, or to its shared fields, can be
reverted: the state before it is written again, as a new change. When later changes
came since, reverting would undo them too: the page says so, shows the difference
and asks first; the revert then applies only onto the state the person saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vexil.server._access import list_audit
from vexil.server._errors import ApiError, BadRequest, Conflict, NotFound
from vexil.server._flags import get_flag, get_targeting, replace_targeting, update_flag
from vexil.server._store import SHARED_FIELDS, TARGETING_FIELDS, Store
from vexil.server.web._audit_pages import diff_lines, entry_view
from vexil.server.web._common import EditorPost, FormDep, SessionDep, store_of
from vexil.server.web._forms import version_field, whole_number
from vexil.server.web._page_helpers import (
    PAGE_SIZE,
    done,
    environment_keys,
    fields,
    page_number,
    path,
    sentence,
    show,
)

router = APIRouter(include_in_schema=False)


def version_of(value: Any) -> int | None:
    if isinstance(value, dict) and isinstance(value.get("version"), int):
        return int(value["version"])
    return None


@router.get("/projects/{project}/flags/{key}/history")
def history_page(
    request: Request, session: SessionDep, project: str, key: str, env: str = "", page: str = ""
) -> Response:
    store = store_of(request)
    env_keys = environment_keys(store, project)
    flag: Mapping[str, Any]
    try:
        flag = get_flag(store, project, key)
    except NotFound:
        # A deleted flag keeps its history; there is nothing left to revert.
        flag = {"key": key, "name": None, "deleted": True}
    number = page_number(page)
    env_filter = env if env in env_keys else ""
    found = list_audit(
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

    return show(
        request,
        "history.html",
        section="flags",
        project=project,
        env=env_filter,
        flag=flag,
        entries=[entry_view(i) for i in items[:PAGE_SIZE]],
        page=number,
        has_next=len(items) > PAGE_SIZE,
        page_url=page_url,
        env_filter=env_filter,
    )


def _audit_entry(store: Store, project: str, key: str, entry_id: str) -> dict[str, Any]:
    """One entry of a flag's history (its targeting's or its own), or NotFound."""
    number = whole_number(entry_id, low=1)
    # Ids start at 1: entry 0 finds nothing, once the project is known to exist.
    found = list_audit(store, project=project, flag=key, entry=number or 0, limit=1)["items"]
    if not found:
        raise NotFound(f"flag {key!r} has no change #{entry_id}", field="entry")
    return entry_view(found[0])


def _restored(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What reverting ``entry`` writes: the targeting or the shared fields before it."""
    before = entry["before"]
    fields = TARGETING_FIELDS if entry["resource"] == "targeting" else SHARED_FIELDS
    return {k: before[k] for k in fields if before.get(k) is not None}


def _current(store: Store, project: str, key: str, entry: Mapping[str, Any]) -> Mapping[str, Any]:
    if entry["resource"] == "targeting":
        return get_targeting(store, project, entry["environment"], key)
    return get_flag(store, project, key)


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
    changed_since = version_of(current) != version_of(entry["after"])
    return show(
        request,
        "admin_revert.html",
        status=status,
        section="flags",
        project=project,
        env=entry["environment"] or "",
        flag_key=key,
        entry=entry,
        what=_what(entry, key),
        version=version_of(current),
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
    request: Request, session: EditorPost, project: str, key: str, entry_id: str, form: FormDep
) -> Response:
    comment, confirm, version = fields(form, "comment", "confirm", "version")
    store = store_of(request)
    entry = _audit_entry(store, project, key, entry_id)
    if not entry["revertable"]:
        raise BadRequest("this change cannot be reverted: it has no earlier state", field="entry")
    comment = comment.strip()[:1000]
    current = _current(store, project, key, entry)
    current_version = version_of(current)
    if confirm == "yes":
        # Reverting over later changes: only onto the state the person saw and confirmed.
        expected = version_field(version, required=True)
    elif current_version == version_of(entry["after"]):
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
            replace_targeting(
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
            update_flag(
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
        message = f"This change cannot be reverted: {sentence(exc.message)}"
        return _revert_confirmation(
            request, store, project, key, entry, comment, message, exc.status
        )
    what = _what(entry, key)
    return done(
        request,
        f"/projects/{path(project)}/flags/{path(key)}/history",
        f"Reverted change #{entry['id']}: {what} is back to how it was before it.",
    )

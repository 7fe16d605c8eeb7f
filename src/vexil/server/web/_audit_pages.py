"""The audit log, and each entry as people read it: who did what, and a diff of the JSON.

The entries are the admin API's (``list_audit``); a flag's history shows the same
entries, with a revert button where a change can be undone (``_history_pages``).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vexil.server._access import list_audit
from vexil.server._projects import list_projects
from vexil.server.web._common import SessionDep, store_of
from vexil.server.web._page_helpers import PAGE_SIZE, page_number, show, when

router = APIRouter(include_in_schema=False)

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


def entry_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """An audit entry for the page: when, in words, its diff, and whether it reverts."""
    revertable = item["before"] is not None and (
        (item["resource"] == "targeting" and item["environment"] is not None)
        or item["action"] == "flag.update"
    )
    return {
        **item,
        "when": when(item["at"]),
        "summary": _summary(item),
        "diff": diff_lines(item["before"], item["after"]),
        "revertable": revertable,
    }


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
    known = {p["key"] for p in list_projects(store)}
    if filters["project"] and filters["project"] not in known:
        errors["project"] = f"There is no project {filters['project']!r}."
    start = _date(filters["since"], "since", errors)
    end = _date(filters["until"], "until", errors)
    if start and end and end < start:
        errors["until"] = "The end date is before the start date."
    number = page_number(page)
    items: list[Any] = []
    has_next = False
    if not errors:
        found = list_audit(
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
    return show(
        request,
        "audit.html",
        status=400 if errors else 200,
        section="audit",
        project=in_project,
        filters=filters,
        errors=errors,
        entries=[entry_view(i) for i in items],
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

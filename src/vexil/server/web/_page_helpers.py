"""What the administration and flag pages share: a one-time notice after a change,
errors as sentences beside their fields, times and actors for people, and the
environment a page is about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from vexil.server._errors import ApiError, BadRequest, Conflict, NotFound
from vexil.server._projects import list_environments
from vexil.server._store import Store
from vexil.server.web._common import redirect, render
from vexil.server.web._forms import MAX_PAGE, clamped_number

#: Entries per page of the audit log and of a flag's history.
PAGE_SIZE = 50
#: A one-time message for the page a change redirects to (set by the server only).
NOTICE_COOKIE = "vexil_notice"
ROLE_CHOICES = ("viewer", "editor", "admin")
#: What a refused change says when its version moved on meanwhile.
CHANGED_MEANWHILE = (
    "Someone else changed this meanwhile. Reload the page to see their change, "
    "then make yours again."
)


def show(
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


@dataclass(frozen=True, slots=True)
class Filled:
    """A form shown again: what was typed, the errors by field, and the status."""

    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    status: int = 200

    @classmethod
    def refused(cls, values: Mapping[str, str], exc: ApiError) -> Filled:
        """The form again, with the refusal beside the field it names."""
        return cls(values, problem(exc, values), exc.status)


#: A form as it first shows.
BLANK = Filled()


def _blank() -> Filled:
    return BLANK


#: A page's form: blank when the page is asked for, filled when a POST shows it again.
FilledDep = Annotated[Filled, Depends(_blank)]


def form_page(
    request: Request, template: str, section: str, filled: Filled, **context: Any
) -> HTMLResponse:
    """A page with a form (``values`` and ``errors`` in the template), in its section."""
    return show(
        request,
        template,
        status=filled.status,
        section=section,
        values=filled.values,
        errors=filled.errors,
        **context,
    )


def _take_notice(request: Request) -> str | None:
    value = request.cookies.get(NOTICE_COOKIE)
    return unquote(value)[:500] if value else None


def done(request: Request, url: str, notice: str) -> Response:
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


def sentence(message: str) -> str:
    """A service's message as a sentence: capital first letter, final full stop."""
    text = message.strip()
    if not text:
        return "That did not work."
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."


def problem(
    exc: ApiError, fields: Iterable[str], aliases: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The error for the field it names (when the form has it), else for the whole form."""
    field = (aliases or {}).get(exc.field or "", exc.field)
    if isinstance(exc, Conflict) and "current_version" in exc.extra:
        message = CHANGED_MEANWHILE
    else:
        message = sentence(exc.message)
    return {field if field in set(fields) else "form": message}


def page_number(text: str) -> int:
    return clamped_number(text, low=1, high=MAX_PAGE, default=1)


def when(moment: str | None) -> str:
    """A stored time for people, in UTC; text that is not a time, as it is."""
    if not moment:
        return ""
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        return moment
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def who(actor: str | None) -> str:
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


def path(text: str) -> str:
    """``text`` as one segment of a URL's path."""
    return quote(text, safe="")


def text_field(form: FormData, name: str) -> str:
    """A form field's text; "" when it is missing or not text."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def fields(form: FormData, *names: str) -> list[str]:
    """The text of each field named, in that order."""
    return [text_field(form, name) for name in names]


def text_fields(form: FormData, name: str) -> list[str]:
    return [v if isinstance(v, str) else "" for v in form.getlist(name)]


def check_length(text: str, field: str, limit: int) -> None:
    if len(text) > limit:
        raise BadRequest(f"at most {limit} characters, please", field=field)


def environment_keys(store: Store, project: str) -> list[str]:
    return [e["key"] for e in list_environments(store, project)]


def pick_env(store: Store, project: str, env: str) -> str:
    """The environment ``env`` names, or the project's first when it names none."""
    keys = environment_keys(store, project)
    if env in keys:
        return env
    if env:
        raise NotFound(f"project {project!r} has no environment {env!r}", field="environment")
    if not keys:
        raise NotFound(f"project {project!r} has no environments", field="environment")
    return keys[0]

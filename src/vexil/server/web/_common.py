"""What every dashboard page shares: templates, the signed-in session, CSRF and roles.

Pages are rendered on the server and work without JavaScript; ``static/app.js`` only
adds conveniences (live updates, checks as you type, copying keys). Every page calls
the same services as the admin API, so the two can never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import FormData

from vexil._version import __version__
from vexil.flags._operators import SPECS
from vexil.server._auth import Role
from vexil.server._errors import ApiError, Forbidden
from vexil.server._projects import list_environments, list_projects
from vexil.server._store import Store
from vexil.server.web._forms import read_form
from vexil.server.web._sessions import COOKIE, Session, lookup

STATIC = Path(__file__).parent / "static"

environment = Environment(
    loader=PackageLoader("vexil.server.web", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=environment)

#: Clause operators, in the order the flag and segment editors list them, with words
#: for people (from the engine's table of operators).
OPERATORS = tuple((op.value, spec.label) for op, spec in SPECS.items())
OPERATOR_WORDS = dict(OPERATORS)


class SignInRequired(Exception):
    """Raised by pages that need a session; answered with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def store_of(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


def current_session(request: Request) -> Session:
    session = lookup(store_of(request), request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired(
            str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
        )
    request.state.session = session
    return session


SessionDep = Annotated[Session, Depends(current_session)]
#: A POST's form, read with the dashboard's limits.
FormDep = Annotated[FormData, Depends(read_form)]


def require_role(session: Session, role: Role) -> None:
    if not session.can(role):
        raise Forbidden(f"this needs the {role} role; you are a {session.role}")


def check_csrf(session: Session, token: str | None) -> None:
    """Every state-changing form carries the session's token; a form without it is refused.

    Tokens are ASCII, and the constant-time comparison refuses to compare other
    text (``TypeError``): a token that is not ASCII is not the session's.
    """
    if token is None or not token.isascii() or not session.csrf_ok(token):
        raise Forbidden("the form's security token is missing or out of date: reload the page")


def form_post(role: Role) -> Any:
    """The dependency of every form POST: the signed-in session, whose CSRF token the
    form must carry, and then the role the change needs; it answers with the session.

    The form is read with the dashboard's limits (``read_form``); a page that reads
    it again gets the same.
    """

    async def check(request: Request, session: SessionDep) -> Session:
        token = (await read_form(request)).get("csrf")
        check_csrf(session, token if isinstance(token, str) else None)
        require_role(session, role)
        return session

    return Depends(check)


def signed_in_as(role: Role) -> Any:
    """The dependency of a page that needs ``role``: the session, else 403."""

    def check(session: SessionDep) -> Session:
        require_role(session, role)
        return session

    return Depends(check)


#: A form POST's session: any signed-in user, an editor, an admin.
ViewerPost = Annotated[Session, form_post("viewer")]
EditorPost = Annotated[Session, form_post("editor")]
AdminPost = Annotated[Session, form_post("admin")]
#: A page's session, for editors and for admins only.
EditorDep = Annotated[Session, signed_in_as("editor")]
AdminDep = Annotated[Session, signed_in_as("admin")]


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    session: Session | None = getattr(request.state, "session", None)
    base: dict[str, Any] = {
        "session": session,
        "csrf": session.csrf if session else "",
        "vexil_version": __version__,
        "can_edit": bool(session and session.can("editor")),
        "is_admin": bool(session and session.can("admin")),
    }
    project = context.get("project")
    if session is not None:
        store = store_of(request)
        base["projects"] = list_projects(store)
        if isinstance(project, str):
            base["environments"] = list_environments(store, project)
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status)


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: see-other, so that reloading does not post again."""
    return RedirectResponse(url, status_code=303)


def sign_in_redirect(next_url: str) -> Response:
    return RedirectResponse(f"/login?next={quote(next_url, safe='/')}", status_code=303)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as a page: words for a person, never a stack trace."""
    titles = {
        400: "That did not work",
        403: "Not allowed",
        404: "Not found",
        409: "Changed meanwhile",
        422: "That did not work",
        500: "Something went wrong",
    }
    return render(
        request,
        "error.html",
        status=status,
        title=titles.get(status, "That did not work"),
        message=message,
    )


def api_error_page(request: Request, exc: ApiError) -> HTMLResponse:
    return error_page(request, exc.status, exc.message)


def wants_html(request: Request) -> bool:
    """Dashboard pages answer errors with pages; the APIs keep their JSON."""
    path = request.url.path
    return not path.startswith(("/api/", "/sdk/", "/ofrep/", "/healthz", "/readyz", "/metrics"))

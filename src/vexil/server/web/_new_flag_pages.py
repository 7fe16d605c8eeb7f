"""Creating a flag: its key, name, type and variations, then off in every environment.

The form's add and remove buttons re-render it with the change applied; choosing
another type offers that type's variations when the form still holds the defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from vexil.server._deps import check_storable
from vexil.server._errors import ApiError, Conflict
from vexil.server._flags import create_flag
from vexil.server._json import reject_constant
from vexil.server._projects import could_exist, list_environments
from vexil.server.web._common import EditorDep, EditorPost, FormDep, redirect, render, store_of
from vexil.server.web._forms import json_number, whole_number
from vexil.server.web._page_helpers import sentence, text_field, text_fields

router = APIRouter(include_in_schema=False)

TYPES = ("boolean", "string", "number", "json")


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
    kind = text_field(form, "type")
    names, values = text_fields(form, "variation_name"), text_fields(form, "variation_value")
    rows = list(zip(names, (values + [""] * len(names))[: len(names)], strict=True))
    return NewFlag(
        key=text_field(form, "key").strip(),
        name=text_field(form, "name").strip(),
        description=text_field(form, "description").strip(),
        type=kind if kind in TYPES else "boolean",
        variations=rows,
        tags=text_field(form, "tags"),
        temporary=text_field(form, "lifetime") != "permanent",
        client_side=text_field(form, "client_side") == "yes",
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
            errors[f"variation-{i}-value"] = sentence(str(exc))
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
def new_flag_page(request: Request, session: EditorDep, project: str) -> Response:
    list_environments(store_of(request), project)  # 404 for an unknown project
    return _new_flag_form(request, project, NewFlag())


@router.post("/projects/{project}/flags/new")
def new_flag(request: Request, session: EditorPost, project: str, form: FormDep) -> Response:
    store = store_of(request)
    environments = list_environments(store, project)
    draft = _read_new_flag(form)
    action = text_field(form, "action")
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
                errors.setdefault(where, sentence(str(message)))
    if errors:
        first = next(iter(errors))
        return _new_flag_form(request, project, draft, errors, focus=first, status=422)
    env = environments[0]["key"] if environments else ""
    return redirect(f"/projects/{project}/flags/{draft.key}?env={env}&done=created")

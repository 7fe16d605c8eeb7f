"""flagd documents in and out of an environment, through the admin API.

``POST /api/v1/projects/{project}/environments/{env}/import/flagd`` takes a flagd
document as its body (editor role); ``GET .../export/flagd`` answers one (viewer
role). Both are ``vexil.server._flagd_io``, which the CLI calls too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response

from vexil.server import _deps, _flagd_io
from vexil.server._api._answers import Answer
from vexil.server._deps import Editor, IfMatchDep, Key, ScopedProject, StoreDep, Viewer
from vexil.server._errors import Unprocessable
from vexil.server._flagd_io import FlagdImport
from vexil.server._json import JSONResponse
from vexil.server._openapi import etag
from vexil.server._routes import AdminRoute

__all__ = ["router"]

#: Credentials are checked before bodies are read, and no NUL is taken (``_routes``);
#: bodies are bounded by ``_limits``.
router = APIRouter(prefix="/api/v1", tags=["admin"], route_class=AdminRoute)

ENVIRONMENT = "/projects/{project}/environments/{env}"

REVISION = "The environment's revision, for If-Match"
EXPORTED: dict[str, Any] = {
    "headers": {
        **etag(REVISION)["headers"],
        "Content-Disposition": {
            "description": 'attachment; filename="PROJECT-ENV.flagd.json"',
            "required": True,
            "schema": {"type": "string"},
        },
        "Vexil-Skipped-Flags": {
            "description": "With skip_unsupported: the flags left out, comma-separated",
            "schema": {"type": "string"},
        },
    }
}


@router.post(
    f"{ENVIRONMENT}/import/flagd",
    summary="Import a flagd document: create or update its flags, in one transaction",
    responses={200: etag(REVISION)},
)
def import_flagd(
    env: Key,
    document: Annotated[Any, Body(description="A flagd flag-definition document (its JSON form)")],
    store: StoreDep,
    response: Response,
    revision: IfMatchDep,
    who: Editor,
    project: ScopedProject,
    dry_run: Annotated[bool, Query(description="Check and report; change nothing")] = False,
    existing: Annotated[
        Literal["update", "skip"], Query(description="What to do with flags that exist already")
    ] = "update",
    # Checked by check_storable rather than a schema pattern, which some OpenAPI
    # tools cannot evaluate on text that is not Unicode.
    comment: Annotated[str, Query(max_length=1000)] = "",
) -> Answer[FlagdImport]:
    if not isinstance(document, dict):
        raise Unprocessable("the body must be a flagd document: a JSON object")
    _deps.check_storable(document)
    _deps.check_storable({"comment": comment})
    result = _flagd_io.import_flagd(
        store,
        who.actor,
        project,
        env,
        document,
        dry_run=dry_run,
        existing=existing,
        if_revision=revision,
        comment=comment,
    )
    response.headers["ETag"] = f'"{result["revision"]}"'
    return result


@router.get(
    f"{ENVIRONMENT}/export/flagd",
    summary="The environment's flags as a flagd document",
    response_model=None,
    responses={200: EXPORTED},
)
def export_flagd(
    env: Key,
    store: StoreDep,
    who: Viewer,
    project: ScopedProject,
    skip_unsupported: Annotated[
        bool, Query(description="Leave out the flags flagd cannot express, instead of 422")
    ] = False,
) -> Response:
    result = _flagd_io.export_flagd(store, project, env, skip_unsupported=skip_unsupported)
    headers = {
        "ETag": f'"{result.revision}"',
        "Content-Disposition": f'attachment; filename="{result.filename}"',
    }
    if result.skipped:
        headers["Vexil-Skipped-Flags"] = ", ".join(result.skipped)
    return JSONResponse(result.document, headers=headers)

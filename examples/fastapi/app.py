"""A FastAPI application whose endpoints follow Vexil flags.

Run it from the repository's root (flags from ``flags.yaml`` next to this file)::

    uvicorn app:app --app-dir examples/fastapi

or against a Vexil server, with an environment's server SDK key::

    export VEXIL_SDK_KEY=vx-srv-... VEXIL_URL=http://127.0.0.1:8800
    uvicorn app:app --app-dir examples/fastapi

Say who you are with a header (a demonstration: no password)::

    curl -H 'X-User: staff' http://127.0.0.1:8000/
"""

import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header

from vexil.integrations.fastapi import (
    RequestFlags,
    context_of_user,
    flag,
    flags_for,
    vexil_lifespan,
)

HERE = Path(__file__).parent

if os.environ.get("VEXIL_SDK_KEY"):
    # The client reads VEXIL_SDK_KEY and VEXIL_URL from the environment itself.
    lifespan = vexil_lifespan()
else:
    # Edits to the file are picked up within a second.
    lifespan = vexil_lifespan(file=HERE / "flags.yaml", watch=True)

app = FastAPI(title="Vexil and FastAPI", lifespan=lifespan)


class User:
    def __init__(self, name: str) -> None:
        self.id = name
        self.email = f"{name}@vexil.dev" if name == "staff" else f"{name}@example.com"


async def current_user(x_user: Annotated[str | None, Header()] = None) -> User | None:
    """The application's authentication: here, whoever the X-User header names."""
    return User(x_user) if x_user else None


async def user_context(user: Annotated[User | None, Depends(current_user)]) -> dict[str, Any]:
    """Who the flags are evaluated for: the user, else ``{"key": "anonymous", ...}``."""
    return context_of_user(user)


# Dependencies evaluating for the user; FastAPI builds the context once per request.
Flags = Annotated[RequestFlags, Depends(flags_for(user_context))]
new_ui_required = Depends(flag("new-ui", context=user_context))


@app.get("/")
async def home(flags: Flags) -> dict[str, Any]:
    return {
        "page": "new home" if flags.is_on("new-ui") else "home",
        "banner": flags.value("welcome-banner", ""),
        "you": flags.context["key"],
    }


@app.get("/dashboard", dependencies=[new_ui_required])
async def new_dashboard() -> dict[str, str]:
    """The new dashboard: 404 for whoever `new-ui` is off for."""
    return {"page": "the new dashboard"}


@app.get("/flags")
async def all_flags(flags: Flags) -> dict[str, Any]:
    return {"flags": flags.all(), "why": flags.detail("new-ui", False).reason.value}

"""Who the flags are evaluated for: ``VEXIL["context"]`` names this function.

With ``django.contrib.auth``, there is nothing to write: the default context is the
signed-in ``request.user`` (its ``pk``, ``email`` and ``username``).
"""

from typing import Any

from vexil.integrations.django import request_context


def context(request: Any) -> dict[str, Any]:
    """The name this visitor signed in with, else an anonymous visitor."""
    name = request.session.get("user")
    if name is None:
        return request_context(request)
    domain = "vexil.dev" if name == "staff" else "example.com"
    return {"key": name, "email": f"{name}@{domain}"}

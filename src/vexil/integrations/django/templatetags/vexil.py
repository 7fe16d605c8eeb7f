# mypy: disable-error-code="import-untyped"
"""The ``vexil`` template tag library: ``{% flag %}``.

::

    {% load vexil %}
    {% flag "new-ui" as new_ui %}
    {% if new_ui %}...{% endif %}

    {% flag "theme" "light" as theme %}        {# with a default, of the flag's type #}
    <body class="{% flag "theme" "light" %}">  {# or write the value out #}

The context is the request's (``request.flags``) when ``request`` is in the template
context (the ``request`` context processor, on by default in new projects); else
the ``user`` of the template context; else the anonymous context.
"""

from __future__ import annotations

from typing import Any

from django import template

from vexil.integrations.django._flags import RequestFlags, flags_of

__all__ = ["flag", "register"]

register = template.Library()


def flag(context: Any, key: str, default: Any = None) -> Any:
    """The value of flag ``key`` for the page's request or user, or ``default``."""
    request = context.get("request")
    flags = flags_of(request) if request is not None else RequestFlags(user=context.get("user"))
    return flags.value(key, default)


# Registered by a call rather than as a decorator, so that type checkers keep its signature.
register.simple_tag(flag, takes_context=True)

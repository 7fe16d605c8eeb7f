"""The SDK's exceptions.

::

    ValueError
     └── ConfigurationError   a malformed key, URL or option, raised by the constructor

Nothing else is raised into the caller: network trouble, bad payloads and failing
stores are logged under ``vexil.*`` and the client keeps serving what it holds.
"""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A client option is malformed; the message names it."""

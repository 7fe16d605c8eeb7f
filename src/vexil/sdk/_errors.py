"""The SDK's exceptions (all of Vexil's are drawn in :mod:`vexil._exceptions`).

::

    VexilError, ValueError
     └── ConfigurationError   a malformed key, URL or option, raised by the constructor

Nothing else is raised into the caller: network trouble, bad payloads and failing
stores are logged under ``vexil.*`` and the client keeps serving what it holds.
"""

from __future__ import annotations

from vexil._exceptions import VexilError


class ConfigurationError(VexilError, ValueError):
    """A client option is malformed; the message names it."""

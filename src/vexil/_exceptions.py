"""The root of every exception Vexil raises, and the whole tree under it.

Catch ``VexilError`` to catch anything Vexil raises on purpose; each exception also keeps
the built-in base it had (``ValueError`` for rejected input), so ``except ValueError`` code
keeps working. The tree, by part::

    VexilError
      │  the engine (vexil.flags)
      ├── ValidationError         (also ValueError) a flag document, flag or segment was
      │                           rejected; ``.problems`` lists each problem with its path
      ├── LogicError              (also ValueError) a flagd JsonLogic rule that cannot be
      │                           compiled; ``.path`` says where (read as a ValidationError)
      │  the SDK (vexil)
      ├── ConfigurationError      (also ValueError) a malformed key, URL or client option,
      │                           raised by the constructor; ``variation()`` never raises
      │  the server (vexil.server)
      ├── SettingsError           (also ValueError) a server setting is wrong, raised at
      │                           start; ``.setting`` names it
      └── ApiError                answered as JSON {"error": {"code", "message", "field"}}
            ├── BadRequest            400
            ├── Unauthorized          401
            ├── Forbidden             403
            ├── NotFound              404
            ├── Conflict              409  (carries the current version)
            ├── TooLarge              413
            ├── UnsupportedEncoding   415  (an events body in an encoding not read)
            ├── Unprocessable         422  (a document the engine rejected; one per problem)
            ├── TooManyRequests       429  (with Retry-After)
            └── Unavailable           503  (a limit is reached, or the database is down)

Exceptions that never leave Vexil (a stream's read refusing an oversized event, a page
redirecting to sign-in) derive from ``Exception`` alone; ``tests/test_public_api.py``
names them.
"""

from __future__ import annotations

__all__ = ["VexilError"]


class VexilError(Exception):
    """Base class of every exception raised by Vexil's engine, SDK and server."""

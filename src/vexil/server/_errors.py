"""Errors of the server, and how they reach a client.

``ApiError`` and its subclasses (one per HTTP status) are answered as JSON
``{"error": {"code", "message", "field"}}``; the whole tree, from ``VexilError`` down,
is drawn in :mod:`vexil._exceptions`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from vexil._exceptions import VexilError
from vexil.flags import ValidationError


class SettingsError(VexilError, ValueError):
    """A setting is wrong, named in ``setting`` (not the SDK's ``ConfigurationError``)."""

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {message}")


class ApiError(VexilError):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        error.update(self.extra)
        return {"error": error}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class TooLarge(ApiError):
    status, code = 413, "too_large"


class Unprocessable(ApiError):
    status, code = 422, "invalid"

    @classmethod
    def of(cls, exc: ValidationError) -> Unprocessable:
        """The engine's refusal as an answer: the first problem, and every problem."""
        first = exc.problems[0]
        problems = [{"field": p.path, "message": p.message} for p in exc.problems]
        return cls(str(first), field=first.path, problems=problems)


class _TryLater(ApiError):
    """An error that says, in whole seconds, when to try again (``Retry-After``), if known."""

    def __init__(self, message: str, retry_after: float | None, field: str | None = None) -> None:
        super().__init__(message, field=field)
        if retry_after is not None:
            self.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))


class TooManyRequests(_TryLater):
    status, code = 429, "rate_limited"


class Unavailable(_TryLater):
    status, code = 503, "unavailable"

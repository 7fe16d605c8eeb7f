"""Errors of the server, and how they reach a client.

Exception tree::

    Exception
      ├── ConfigurationError    a setting is wrong (raised at start, names the setting)
      └── ApiError              answered as JSON {"error": {"code", "message", "field"}}
            ├── BadRequest         400
            ├── Unauthorized       401
            ├── Forbidden          403
            ├── NotFound           404
            ├── Conflict           409  (carries the current version)
            ├── TooLarge           413
            ├── Unprocessable      422  (a document the engine rejected; one per problem)
            ├── TooManyRequests    429  (with Retry-After)
            └── Unavailable        503  (a limit of this server is reached; with Retry-After)
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


class ConfigurationError(ValueError):
    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {message}")


class ApiError(Exception):
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


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))


class Unavailable(ApiError):
    status, code = 503, "unavailable"

    def __init__(self, message: str, retry_after: float, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))

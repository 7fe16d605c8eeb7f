"""JSON responses in UTF-8 that never fail on text that is not Unicode.

JSON can escape an unpaired surrogate (``"\\ud800"``), and Python reads it into a str
that UTF-8 cannot encode. Such text reaches answers through error messages naming
what a request sent, or values stored from one; encoding it raw would turn the answer
into a 500. It is escaped again instead, as the request wrote it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse as _StarletteJSON


def json_text(content: Any, **options: Any) -> str:
    """``json.dumps`` keeping non-ASCII text as it is, unless it cannot be UTF-8."""
    text = json.dumps(content, ensure_ascii=False, **options)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(content, ensure_ascii=True, **options)
    return text


def reject_constant(name: str) -> Any:
    """``parse_constant`` for ``json.loads``: refuse NaN and Infinity, which Python's
    reader accepts and JSON does not."""
    raise ValueError(f"{name} is not JSON")


def json_bytes(content: Any, **options: Any) -> bytes:
    """The UTF-8 bytes of ``json_text``."""
    return json_text(content, **options).encode()


class JSONResponse(_StarletteJSON):
    """The server's JSON answers: compact UTF-8, surrogates escaped (see above)."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content, allow_nan=False, separators=(",", ":"))

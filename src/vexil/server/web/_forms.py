"""What the dashboard reads from forms and query strings: numbers, one way everywhere,
and text without NUL characters.

``int()``, ``float()``, ``Decimal()`` and ``str.isdigit()`` agree on less than they
seem: ``"²".isdigit()`` is true and ``int("²")`` fails; ``int()`` takes other
scripts' digits (``"٣"``), underscores and numbers of any size, which the databases
then refuse (the tables' ids and versions are 32-bit integers on PostgreSQL, SQLite
holds 64 bits); ``Decimal("1e999999999")`` is a dozen characters that become a
billion digits once shown. A form is filled in by a person, or made by hand by
anyone signed in: what these functions accept is ASCII digits only, of a bounded
length, in a range, and anything else is ``None`` (or, for page numbers, the nearest
page), so that a page can name the field that is wrong, or use its default, instead
of failing.

No field or parameter of the dashboard may hold a NUL character: nobody types one,
PostgreSQL cannot store or even compare text holding one (SQLite can, so refusing it
keeps the two alike), and the text of a form goes to queries in many places
(searches, keys, names, comments). ``refuse_nul`` refuses it once for every page,
with 422 naming the field, before any of that runs.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from fastapi import Request
from starlette.datastructures import FormData

from vexil.server._errors import BadRequest, Unprocessable

#: A large targeting form has many fields; Starlette's default stops at 1000.
MAX_FIELDS = 50_000
#: The largest id or version the tables hold (PostgreSQL's ``INTEGER``).
MAX_ID = 2**31 - 1
#: Page numbers stop here: fifty million entries at fifty a page, far below any
#: offset the databases refuse.
MAX_PAGE = 10**6
#: The longest number a clause value or a variation may be written with; longer
#: text stays text.
MAX_NUMBER_CHARS = 100

_WHOLE = re.compile(r"[0-9]+")
#: More digits than any range asked of ``whole_number``: no need to convert them.
_MAX_DIGITS = 18
_DECIMAL = re.compile(r"-?[0-9]{1,20}(?:\.[0-9]{1,20})?")
_JSON_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _magnitude(text: str) -> int | None:
    """ASCII digits as a number (past ``10**18``: ``10**18``); ``None`` for anything else."""
    digits = text.strip(" \t\r\n")
    if not _WHOLE.fullmatch(digits):
        return None
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def whole_number(text: str | None, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """``text`` as a whole number from ``low`` to ``high`` (not negative); else ``None``."""
    value = _magnitude(text or "")
    return value if value is not None and low <= value <= high else None


def clamped_number(text: str | None, *, low: int, high: int, default: int) -> int:
    """``text`` as a whole number, moved into ``low..high``; ``default`` if not a number.

    For page numbers and the like, where a hand-made URL deserves the nearest page
    rather than an error.
    """
    value = _magnitude(text or "")
    return default if value is None else min(max(value, low), high)


def version_field(text: str, *, required: bool = False) -> int | None:
    """The version a form was rendered from; ``None`` when it has none and needs none.

    An edit carries the version it started from, so that a change made meanwhile is
    refused rather than overwritten: a version that is not one is refused too, naming
    the field, never taken as "no version".
    """
    if not text and not required:
        return None
    version = whole_number(text, low=1)
    if version is None:
        raise BadRequest(
            "the form's version is missing or not a version number: reload the page",
            field="version",
        )
    return version


def decimal_number(text: str) -> Decimal | None:
    """A number as people write one in a form (``25``, ``12.5``, ``-3``), exactly.

    ASCII digits, at most 20 either side of the point, no exponent; else ``None``.
    """
    return Decimal(text) if _DECIMAL.fullmatch(text) else None


def json_number(text: str) -> int | float | None:
    """A number in JSON's syntax: an ``int`` when written without a point or an
    exponent, else a finite ``float``; ``None`` for anything else, for text longer
    than ``MAX_NUMBER_CHARS`` and for numbers beyond a float's range.
    """
    if len(text) > MAX_NUMBER_CHARS or not _JSON_NUMBER.fullmatch(text):
        return None
    if _JSON_INTEGER.fullmatch(text):
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else None


async def read_form(request: Request) -> FormData:
    """The request's form (Starlette keeps it: later reads get the same, whatever limits)."""
    return await request.form(max_files=0, max_fields=MAX_FIELDS)


def _has_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_nul(request: Request) -> None:
    """Refuse a NUL in a path parameter, a query parameter or a form field (a dependency)."""
    pairs: list[tuple[str, object]] = [
        *request.path_params.items(),
        *request.query_params.multi_items(),
    ]
    if _has_form(request):
        pairs += (await read_form(request)).multi_items()
    for name, value in pairs:
        if "\x00" in name or (isinstance(value, str) and "\x00" in value):
            field = name.replace("\x00", "\\x00")
            raise Unprocessable(f"{field}: NUL characters are not allowed", field=field)

"""SDK events: evaluation summaries, custom (``track``) and ``identify`` events.

A batch arrives as a JSON array, optionally gzip-compressed, and is taken whole
or not at all: it is checked against a size limit (both as sent and once
decompressed, so that a small gzip bomb cannot expand into memory), validated
with the path of the first offending field, then stored in one transaction with
bulk inserts. SDKs count evaluations locally and send one counter per flag,
variation and period, so a single row stands for many evaluations.

The format is specified in ``docs/protocol.md``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter as Tally
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy import insert

from ._clock import now
from ._contexts import record_contexts
from ._errors import ApiError, BadRequest, TooLarge, Unprocessable
from ._json import reject_constant
from ._metrics import Metrics
from ._store import Store
from ._tables import custom_events, evaluation_counts


class UnsupportedEncoding(ApiError):
    status, code = 415, "unsupported_encoding"


Key = Annotated[str, Field(min_length=1, max_length=200)]
UnixTime = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Event(BaseModel):
    # Strict: "3" is not a count. Unknown fields are ignored, so that newer SDKs
    # can add some without breaking older servers.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class EvaluationCounter(_Event):
    flag: Key
    variant: Annotated[str, Field(max_length=200)] | None = None
    count: Annotated[int, Field(ge=1, le=2**31 - 1)]


class Summary(_Event):
    kind: Literal["summary"]
    start: UnixTime
    end: UnixTime
    counters: list[EvaluationCounter]

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: float, info: Any) -> float:
        start = info.data.get("start")
        if start is not None and end < start:
            raise ValueError("the period ends before it starts")
        return end


def _context_key(context: dict[str, Any]) -> str | None:
    key = context.get("key")
    if isinstance(key, bool) or not isinstance(key, str | int):
        return None
    return str(key)


class Track(_Event):
    kind: Literal["track"]
    name: Key
    context: dict[str, Any]
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    data: Any = None
    at: UnixTime


class Identify(_Event):
    kind: Literal["identify"]
    context: dict[str, Any]
    at: UnixTime

    @field_validator("context")
    @classmethod
    def _has_key(cls, context: dict[str, Any]) -> dict[str, Any]:
        if _context_key(context) is None:
            raise ValueError("an identified context needs a key (a string or an integer)")
        return context


Event = Annotated[Summary | Track | Identify, Field(discriminator="kind")]
_BATCH = TypeAdapter(list[Event])


# ------------------------------------------------------------------ the body


async def read_limited(chunks: AsyncIterable[bytes], declared: str | None, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def decode(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its content coding (``gzip`` or none)."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding in ("gzip", "x-gzip"):
        return gunzip(body, limit)
    raise UnsupportedEncoding(
        f"Content-Encoding {encoding!r} is not supported: use gzip or none",
        field="Content-Encoding",
    )


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress gzip (one member or several), never producing more than ``limit`` bytes."""
    out = bytearray()
    rest = body
    while rest:
        member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += member.decompress(rest, limit + 1 - len(out))
        except zlib.error:
            raise BadRequest("the body is not valid gzip", field="Content-Encoding") from None
        if len(out) > limit:
            raise _too_large(limit, decompressed=True)
        if not member.eof:
            raise BadRequest("the gzip body is truncated", field="Content-Encoding")
        rest = member.unused_data
    return bytes(out)


def _too_large(limit: int, decompressed: bool = False) -> TooLarge:
    what = "decompressed, the body" if decompressed else "the body"
    return TooLarge(f"{what} is larger than {limit} bytes: send smaller batches")


# ------------------------------------------------------------------ validation


def parse(raw: bytes) -> list[Summary | Track | Identify]:
    """The events of a batch, or the first problem with the path of its field."""
    try:
        return _BATCH.validate_json(raw)
    except ValidationError as exc:
        if exc.errors(include_url=False)[0]["type"] != "json_invalid":
            raise _problem(exc) from None
    # pydantic's reader refuses an unpaired surrogate escape ("\ud800"), which JSON
    # allows and end users' text can hold; Python's reader takes it, and storage
    # replaces it (``storable``), so one odd attribute does not fail the batch.
    try:
        data = json.loads(raw, parse_constant=reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    try:
        return _BATCH.validate_python(data)
    except ValidationError as exc:
        raise _problem(exc) from None


def _problem(exc: ValidationError) -> ApiError:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return BadRequest("the body is not valid JSON")
    if first["loc"] == ():
        return Unprocessable("the body must be a JSON array of events")
    path = field_path(first["loc"])
    if first["type"].startswith("union_tag"):
        path += ".kind"
        message = "kind must be 'summary', 'track' or 'identify'"
    else:
        message = first["msg"].removeprefix("Value error, ")
    return Unprocessable(f"{path}: {message}", field=path)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``(0, "summary", "counters", 2, "count")`` -> ``[0].counters[2].count``.

    The second element names the event's kind (the union member), not a field.
    """
    parts = [f"[{loc[0]}]"]
    for part in loc[2:]:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return "".join(parts)


# ------------------------------------------------------------------ storage


@dataclass(frozen=True, slots=True)
class Ingested:
    """What a batch held, for the metrics."""

    events: dict[str, int]
    evaluations: int

    def count(self, metrics: Metrics) -> None:
        for kind, n in self.events.items():
            metrics.events.labels(kind).inc(n)
        metrics.evaluations.inc(self.evaluations)


def storable(value: Any) -> Any:
    """``value`` with every string made storable alike on SQLite and PostgreSQL.

    Events carry what end users typed; PostgreSQL refuses NUL in text and JSON, and
    neither database takes an unpaired surrogate (JSON can escape one). Rather than
    fail an SDK's whole batch for one user's odd attribute, such characters are
    stored as U+FFFD, the replacement character, on both backends.
    """
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, dict):
        return {_scrub(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _scrub(text: str) -> str:
    return _UNSTORABLE.sub("\ufffd", text)


def store_batch(store: Store, env_id: int, events: list[Summary | Track | Identify]) -> Ingested:
    """Store a batch in one transaction. Blocking: run it in a worker thread."""
    received = now()
    counts = [
        {
            "environment_id": env_id,
            "flag_key": storable(counter.flag),
            "variant": storable(counter.variant),
            "period_start": event.start,
            "period_end": event.end,
            "count": counter.count,
            "received_at": received,
        }
        for event in events
        if isinstance(event, Summary)
        for counter in event.counters
    ]
    custom = [_custom_row(env_id, e, received) for e in events if not isinstance(e, Summary)]
    # Identified contexts, for the contexts list: the row of each is upserted.
    seen = [
        (row["context_key"], row["context"], row["at"])
        for row in custom
        if row["kind"] == "identify"
    ]
    if counts or custom:
        with store.write() as tx:
            if counts:
                tx.conn.execute(insert(evaluation_counts), counts)
            if custom:
                tx.conn.execute(insert(custom_events), custom)
            if seen:
                record_contexts(tx.conn, env_id, seen)
    evaluations = sum(c.count for e in events if isinstance(e, Summary) for c in e.counters)
    return Ingested(dict(Tally(e.kind for e in events)), evaluations)


def _custom_row(env_id: int, event: Track | Identify, received: datetime) -> dict[str, Any]:
    track = event if isinstance(event, Track) else None
    return {
        "environment_id": env_id,
        "kind": event.kind,
        "name": storable(track.name) if track else None,
        "context_key": storable(_context_key(event.context)),
        "context": storable(event.context),
        "value": track.value if track else None,
        "data": storable(track.data) if track else None,
        "at": event.at,
        "received_at": received,
    }

"""The flags a client holds, and how changes to them are applied.

Evaluations read ``state.ruleset`` (one attribute read, no lock): a ruleset is
immutable, and every update builds a successor and swaps the reference, which is
atomic. Writers (the data source, ``refresh``) take a lock among themselves only.

A change is applied whole or not at all: a payload that does not parse or validate
is logged and dropped, and the last good ruleset stays.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from vexil.flags import ErrorKind, Explanation, Ruleset, ValidationError
from vexil.flags._detail import error_detail
from vexil.flags._graph import refers_to, segments_using, with_dependents

log = logging.getLogger("vexil.sdk")


class NotReady(Ruleset):
    """What a client evaluates with before it has any flags: every call gets its default."""

    __slots__ = ()
    message = "the client has no flags yet"

    def evaluate(self, key: str, context: Mapping[str, Any], default: Any = None) -> Any:
        return error_detail(ErrorKind.PROVIDER_NOT_READY, self.message, default)

    def explain(self, key: str, context: Mapping[str, Any]) -> Explanation:
        return Explanation(key, self.evaluate(key, context))


class KeyRefused(NotReady):
    """What a client evaluates with when the server refused its key before sending flags."""

    __slots__ = ()
    message = "the server refused the SDK key (HTTP 401 or 403): no flags are served"


NOT_READY = NotReady()
KEY_REFUSED = KeyRefused()


@dataclass(frozen=True, slots=True)
class FlagChange:
    """What ``on_change`` callbacks receive: a flag whose evaluation may now differ."""

    key: str
    #: The environment's revision after the change, when the server gave one.
    revision: int | None


#: One event of a stream group: ("patch" | "delete", its decoded data).
StreamEvent = tuple[str, Mapping[str, Any]]

#: The keys a change touched, (flags, segments), or None when everything may have.
Touched = tuple[frozenset[str], frozenset[str]] | None

#: Called after each update with the old and new rulesets, the revision and what changed.
UpdateHook = Callable[[Ruleset, Ruleset, "int | None", Touched], None]


class FlagState:
    """The current ruleset, its revision and readiness; applies puts and patch groups."""

    def __init__(self, on_update: UpdateHook) -> None:
        self.ruleset: Ruleset = NOT_READY
        self.revision: int | None = None
        #: The ETag of the last ruleset fetched, for polling.
        self.etag: str | None = None
        #: ``time.monotonic()`` of the last update or confirmation from the source.
        self.checked_at = 0.0
        self.ready = threading.Event()
        #: True once the server sent (or confirmed) flags to this client: from then on a
        #: refused key keeps them, as any other outage does.
        self.confirmed = False
        self._lock = threading.Lock()
        self._on_update = on_update

    @property
    def is_ready(self) -> bool:
        return self.ready.is_set()

    # ------------------------------------------------------------ whole documents

    def put(self, payload: bytes | str | Any, revision: int | None, origin: str) -> bool:
        """Replace everything with a whole document (JSON text or decoded). False if refused."""
        try:
            data = json.loads(payload) if isinstance(payload, bytes | str) else payload
            ruleset = Ruleset.from_data(data)
        except (ValueError, ValidationError, RecursionError) as exc:
            log.error("refused the flags from %s, keeping the last good ones: %s", origin, exc)
            return False
        self.replace(ruleset, revision)
        return True

    def replace(self, ruleset: Ruleset, revision: int | None) -> None:
        with self._lock:
            old, self.ruleset = self.ruleset, ruleset
            self.revision = revision if revision is not None else self.revision
            self.checked_at = time.monotonic()
        self.ready.set()
        if old is not ruleset:
            self._on_update(old, ruleset, self.revision, None)

    def touch(self) -> None:
        """The source confirmed that nothing changed (a 304)."""
        self.checked_at = time.monotonic()

    def forget(self) -> None:
        """Drop every flag held: evaluations get their default (``PROVIDER_NOT_READY``)."""
        with self._lock:
            old, self.ruleset = self.ruleset, KEY_REFUSED
            self.revision = self.etag = None
        self.ready.clear()
        if not isinstance(old, NotReady):
            self._on_update(old, KEY_REFUSED, None, None)

    # ----------------------------------------------------------------- groups

    def apply_group(self, events: list[StreamEvent], revision: int | None) -> bool:
        """Apply a stream group (patches and deletes) at once. False if refused."""
        with self._lock:
            old = self.ruleset
            try:
                new = _apply_each(old, events)
            except (ValidationError, KeyError, TypeError, ValueError, RecursionError):
                # A group may be valid only as a whole (a flag using a segment that a
                # later event creates): apply it to the document form, then build.
                try:
                    new = Ruleset.from_data(_patched_document(old.to_data(), events))
                except (ValidationError, KeyError, TypeError, ValueError, RecursionError) as exc:
                    log.error(
                        "refused a change from the stream, keeping the last good flags: %s", exc
                    )
                    return False
            self.ruleset = new
            self.revision = revision if revision is not None else self.revision
            self.checked_at = time.monotonic()
        self.ready.set()
        touched = (
            frozenset(data["key"] for _, data in events if data["kind"] == "flag"),
            frozenset(data["key"] for _, data in events if data["kind"] == "segment"),
        )
        self._on_update(old, new, self.revision, touched)
        return True


def _apply_each(ruleset: Ruleset, events: Iterable[StreamEvent]) -> Ruleset:
    """Apply events one by one with the engine's incremental updates (the fast path)."""
    for kind, data in events:
        what, key = data["kind"], data["key"]
        if not isinstance(key, str) or what not in ("flag", "segment"):
            raise ValueError(f"malformed {kind} event: {dict(data)!r}")
        if kind == "patch":
            if what == "flag":
                ruleset = ruleset.with_flag(key, data["object"])
            else:
                ruleset = ruleset.with_segment(key, data["object"])
        elif what == "flag":
            ruleset = ruleset.without_flag(key)
        else:
            ruleset = ruleset.without_segment(key)
    return ruleset


def _patched_document(document: dict[str, Any], events: Iterable[StreamEvent]) -> dict[str, Any]:
    for kind, data in events:
        section = document.setdefault("flags" if data["kind"] == "flag" else "segments", {})
        if kind == "patch":
            section[data["key"]] = data["object"]
        else:
            section.pop(data["key"], None)
    return document


# --------------------------------------------------------------- what changed


def changed_flags(old: Ruleset, new: Ruleset, touched: Touched = None) -> list[str]:
    """The flags whose evaluation may differ between two rulesets, sorted.

    A flag changed if its definition did, if a segment it uses did, or if one of its
    prerequisites changed. With ``touched`` (the keys a stream group named), only
    those are compared; otherwise every key is.
    """
    old_flags, new_flags = old.document.flags, new.document.flags
    old_segments, new_segments = old.document.segments, new.document.segments
    flag_keys: AbstractSet[str]
    segment_keys: AbstractSet[str]
    if touched is None:
        flag_keys = old_flags.keys() | new_flags.keys()
        segment_keys = old_segments.keys() | new_segments.keys()
    else:
        flag_keys, segment_keys = touched
    changed = {
        key
        for key in flag_keys
        if old_flags.get(key) is not new_flags.get(key) and old_flags.get(key) != new_flags.get(key)
    }
    segments = {
        key
        for key in segment_keys
        if old_segments.get(key) is not new_segments.get(key)
        and old_segments.get(key) != new_segments.get(key)
    }
    if segments:
        segments |= segments_using(segments, new_segments)
        changed |= {
            key for key, flag in new_flags.items() if flag.rules and refers_to(flag.rules, segments)
        }
    return sorted(with_dependents(changed, new_flags)) if changed else []

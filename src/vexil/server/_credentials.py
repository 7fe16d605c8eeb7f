"""A short-lived cache of SDK key lookups, so that hot SDK endpoints skip the database.

SDKs poll ``/sdk/v1/ruleset`` and browsers call OFREP many times a second; looking
their key up in the database each time costs far more than answering. Lookups
(valid and invalid alike) are kept for a few seconds, by the key's SHA-256 rather
than the key itself, and never past the key's expiry: a rotated key is refused
from the moment its overlap ends, whatever the cache holds. A rotation or
deletion made through this server clears the cache at once; the streams' key
check (``_stream_keys``) re-reads the cached keys every ``poll_seconds``, so that
another replica's rotation reaches this cache within that time too.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # at run time, _auth imports digest from this module
    from ._auth import SdkCredential

TTL: Final = 5.0
MAX_ENTRIES: Final = 10_000


class _Miss:
    pass


MISS: Final = _Miss()


def digest(secret: str) -> str:
    """How keys and tokens are looked up and stored: their SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def expired(credential: SdkCredential) -> bool:
    return credential.expires_at is not None and credential.expires_at <= datetime.now(UTC)


class CredentialCache:
    def __init__(self, ttl: float = TTL, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, SdkCredential | None]] = OrderedDict()
        #: Called (from any thread) when this server changed SDK keys.
        self.listeners: list[Callable[[], None]] = []

    def get(self, key: str) -> SdkCredential | _Miss | None:
        """The cached lookup of ``key``: a credential, None (known invalid), or MISS."""
        entry = self._entries.get(digest(key))
        if entry is None or entry[0] < time.monotonic():
            return MISS
        credential = entry[1]
        # The entry ends at the expiry already; the wall clock decides, not the monotonic one.
        if credential is not None and expired(credential):
            return None
        return credential

    def put(self, key: str, credential: SdkCredential | None) -> None:
        """Remember a lookup; a key that expires sooner than the TTL is kept only until then."""
        ttl = self.ttl
        if credential is not None and credential.expires_at is not None:
            left = (credential.expires_at - datetime.now(UTC)).total_seconds()
            ttl = max(0.0, min(ttl, left))
        with self._lock:
            self._entries[digest(key)] = (time.monotonic() + ttl, credential)
            self._entries.move_to_end(digest(key))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def valid_digests(self) -> set[str]:
        """The digests of the keys cached as valid, for the periodic re-check."""
        with self._lock:
            return {d for d, (_, credential) in self._entries.items() if credential is not None}

    def revalidate(self, checked: set[str], current: Mapping[str, datetime | None]) -> None:
        """Forget the cached keys of ``checked`` that no longer stand as they were cached.

        ``current`` maps the digests of ``checked`` that still exist to their expiry
        as the database has it now: a key missing from it was deleted, one with
        another expiry was rotated. The next request looks them up afresh.
        """
        with self._lock:
            for key_digest in checked:
                entry = self._entries.get(key_digest)
                if entry is None or entry[1] is None:
                    continue
                if key_digest not in current or current[key_digest] != entry[1].expires_at:
                    del self._entries[key_digest]

    def clear(self) -> None:
        """SDK keys changed through this server: forget every lookup, and tell the listeners."""
        with self._lock:
            self._entries.clear()
        for listener in self.listeners:
            listener()

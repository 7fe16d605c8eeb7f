"""A short-lived cache of SDK key lookups, so that hot SDK endpoints skip the database.

SDKs poll ``/sdk/v1/ruleset`` and browsers call OFREP many times a second; looking
their key up in the database each time costs far more than answering. Lookups
(valid and invalid alike) are kept for a few seconds, by the key's SHA-256 rather
than the key itself. A rotation or deletion made through this server clears the
cache at once; other replicas notice within ``TTL`` seconds.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # at run time, _auth imports the store, which imports this module
    from ._auth import SdkCredential

TTL: Final = 5.0
MAX_ENTRIES: Final = 10_000


class _Miss:
    pass


MISS: Final = _Miss()


def digest(secret: str) -> str:
    """How keys and tokens are looked up and stored: their SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


class CredentialCache:
    def __init__(self, ttl: float = TTL, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, SdkCredential | None]] = OrderedDict()

    def get(self, key: str) -> SdkCredential | _Miss | None:
        """The cached lookup of ``key``: a credential, None (known invalid), or MISS."""
        entry = self._entries.get(digest(key))
        if entry is None or entry[0] < time.monotonic():
            return MISS
        return entry[1]

    def put(
        self, key: str, credential: SdkCredential | None, expires_in: float | None = None
    ) -> None:
        """Remember a lookup; a key that expires sooner than the TTL is kept only until then."""
        ttl = self.ttl if expires_in is None else max(0.0, min(self.ttl, expires_in))
        with self._lock:
            self._entries[digest(key)] = (time.monotonic() + ttl, credential)
            self._entries.move_to_end(digest(key))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

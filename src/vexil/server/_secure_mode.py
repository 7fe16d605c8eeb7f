"""Secure mode: a client key evaluates only for contexts your own server vouched for.

A client key is public, so without secure mode anyone holding it can ask OFREP
what any targeting key would get (and so learn, say, which users are in a beta).
With an environment's ``secure_mode`` on, OFREP requests made with a client key
must carry, in the ``X-Vexil-Secure-Hash`` header, the HMAC-SHA256 of the
context's targeting key computed by the application's server
(``Client.secure_mode_hash``); a missing or wrong hash is refused with 403.

The HMAC is keyed with the SHA-256 (in hexadecimal) of one of the environment's
server keys: the server stores keys only as that digest, so it can check the
hash without ever holding a key. During a rotation's overlap both the old and the
new server key are accepted.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from ._clock import now
from ._errors import Forbidden

HEADER: Final = "X-Vexil-Secure-Hash"


def secure_hash(key_digest: str, targeting_key: str) -> str:
    """The HMAC a context with ``targeting_key`` must carry, for one server key's digest."""
    return hmac.new(key_digest.encode(), targeting_key.encode(), hashlib.sha256).hexdigest()


def check(
    secrets: Iterable[tuple[str, datetime | None]], presented: str | None, context: dict[str, Any]
) -> None:
    """Refuse (403) an OFREP request whose hash does not prove its targeting key.

    ``secrets`` are the digests of the environment's server keys with their expiry
    (from ``SdkCredential.secure_mode``); a key past its expiry no longer counts.
    """
    key = context.get("targetingKey")
    if not isinstance(key, str) or not key:
        raise Forbidden(
            "secure mode is on for this environment: the context needs a targetingKey "
            f"and its HMAC in the {HEADER} header",
            field=HEADER,
        )
    if not presented:
        raise Forbidden(
            f"secure mode is on for this environment: send the targeting key's HMAC in {HEADER}",
            field=HEADER,
        )
    given = presented.strip().lower()
    t = now()
    try:
        wanted = [secure_hash(d, key) for d, expires in secrets if expires is None or expires > t]
    except UnicodeEncodeError:  # a targeting key with an unpaired surrogate
        wanted = []
    # Every candidate is compared, in constant time, so that timing says nothing.
    matched = False
    for candidate in wanted:
        matched |= hmac.compare_digest(candidate, given)
    if not matched:
        raise Forbidden(f"the {HEADER} header does not match the targeting key", field=HEADER)

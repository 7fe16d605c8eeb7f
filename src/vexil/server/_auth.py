"""Credentials: SDK keys, API tokens and users, and who a request acts as.

- **Server SDK keys** (``vx-srv-...``) read an environment's whole ruleset.
- **Client keys** (``vx-cli-...``) are public: OFREP evaluation of client-side flags.
- **API tokens** (``vx-api-...``) reach the admin API with a role and an optional
  project scope; stored hashed and shown once.
- **Users** sign in with a password (argon2) to the dashboard, or with HTTP Basic
  to the admin API.

The prefixes let secret scanners recognise leaked keys. Lookups go by SHA-256 of
the presented secret, then compare in constant time; secrets are never logged.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, or_, select, update

from ._clock import now
from ._credentials import digest
from ._tables import api_tokens, environments, sdk_keys, users

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "editor", "admin")
PREFIXES = {"server": "vx-srv-", "client": "vx-cli-", "token": "vx-api-"}

_hasher = PasswordHasher()


def new_secret(kind: str) -> str:
    """A new key or token: a recognizable prefix and 192 random bits."""
    return PREFIXES[kind] + secrets.token_urlsafe(24)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches: an argon2 verification, about 64 MiB for a moment.

    Requests reach it only through the password gate and the failure limits
    (``_throttle.Throttle.verify``), which bound how many run at once and how often.
    """
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who an admin API request acts as."""

    actor: str
    role: Role
    project_id: int | None = None

    def can(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True, slots=True)
class SdkCredential:
    """What an SDK key opens, and until when.

    ``digest`` names the key without holding it (streams count and re-check their
    keys by it); ``expires_at`` is set once the key was rotated, and a cached
    lookup must not outlive it.
    """

    environment_id: int
    project_id: int
    kind: Literal["server", "client"]
    digest: str
    expires_at: datetime | None
    #: For a client key of an environment in secure mode: the digests of its server
    #: keys, with their expiry, that an OFREP request's HMAC may be keyed with
    #: (``_secure_mode``). None when secure mode is off or for a server key.
    secure_mode: tuple[tuple[str, datetime | None], ...] | None = None


def sdk_credential(conn: Connection, key: str) -> SdkCredential | None:
    """The environment a server or client key opens, if it is valid and not expired."""
    if not key.startswith((PREFIXES["server"], PREFIXES["client"])):
        return None
    wanted = digest(key)
    row = conn.execute(
        select(
            sdk_keys.c.key_hash,
            sdk_keys.c.kind,
            sdk_keys.c.environment_id,
            sdk_keys.c.expires_at,
            environments.c.project_id,
            environments.c.secure_mode,
        )
        .join(environments, environments.c.id == sdk_keys.c.environment_id)
        .where(sdk_keys.c.key_hash == wanted)
        .where(or_(sdk_keys.c.expires_at.is_(None), sdk_keys.c.expires_at > now()))
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, wanted):
        return None
    secure = None
    if row.kind == "client" and row.secure_mode:
        secure = tuple(
            (r.key_hash, r.expires_at)
            for r in conn.execute(
                select(sdk_keys.c.key_hash, sdk_keys.c.expires_at).where(
                    sdk_keys.c.environment_id == row.environment_id,
                    sdk_keys.c.kind == "server",
                    or_(sdk_keys.c.expires_at.is_(None), sdk_keys.c.expires_at > now()),
                )
            )
        )
    return SdkCredential(
        row.environment_id, row.project_id, row.kind, wanted, row.expires_at, secure
    )


def token_principal(conn: Connection, token: str) -> Principal | None:
    if not token.startswith(PREFIXES["token"]):
        return None
    wanted = digest(token)
    row = conn.execute(
        select(api_tokens).where(api_tokens.c.token_hash == wanted, api_tokens.c.revoked.is_(False))
    ).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    # End the read before writing: SQLite cannot turn a read into a write once another
    # writer has committed since ("database is locked", without waiting), whereas a
    # transaction that starts by writing waits its turn.
    conn.commit()
    t = now()
    if row.last_used_at is None or t - row.last_used_at > LAST_USED_PRECISION:
        conn.execute(update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=t))
        conn.commit()
    return Principal(f"token:{row.name}", row.role, row.project_id)


#: How stale ``last_used_at`` may get: one write per token per minute, not per request.
LAST_USED_PRECISION = timedelta(minutes=1)


def user_principal(conn: Connection, username: str, password: str) -> Principal | None:
    """The user these credentials name, or None: a password check (see ``check_password``)."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or row.disabled:
        # Spend the same time as a real check, so that timing does not reveal names.
        check_password(_DUMMY_HASH, password)
        return None
    if not check_password(row.password_hash, password):
        return None
    return Principal(f"user:{row.username}", row.role)


_DUMMY_HASH = _hasher.hash("no such user")


def basic_credentials(header: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(header, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    username, sep, password = raw.partition(":")
    if not sep or "\x00" in raw:  # no NUL: PostgreSQL refuses them in queries
        return None
    return username, password


def is_expired(expires_at: datetime | None) -> bool:
    return expires_at is not None and expires_at <= now()

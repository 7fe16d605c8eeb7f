"""Persistent stores: where a client keeps the last ruleset it received.

A store lets a process start with flags when the server is unreachable, and lets
``daemon`` clients read flags that another process keeps up to date. The protocol
is two methods on bytes, so a store knows nothing of flags: the client encodes.

Stores may raise (a full disk, Redis down); the client catches, logs and carries on
with what it holds in memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable


def store_namespace(sdk_key: str) -> str:
    """The namespace under which clients with ``sdk_key`` save and read their flags.

    ``ruleset-`` and 20 hex digits of the key's SHA-256: processes with one key share
    one entry, and the key itself is never stored. A process that fills a ``Daemon``
    client's store without being a client (a deploy job) writes under this name.
    """
    digest = hashlib.sha256(sdk_key.encode()).hexdigest()
    return f"ruleset-{digest[:20]}"


@runtime_checkable
class Store(Protocol):
    """Somewhere to save one blob per namespace, and read it back."""

    def save(self, namespace: str, data: bytes) -> None:
        """Replace what is saved under ``namespace`` with ``data``, atomically."""

    def load(self, namespace: str) -> bytes | None:
        """What was last saved under ``namespace``, or ``None`` if nothing was."""


class FileStore:
    """One file per namespace in a directory, replaced atomically (write, then rename)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _path(self, namespace: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in namespace)
        return self.directory / f"{safe}.json"

    def save(self, namespace: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self._path(namespace)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".vexil-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, namespace: str) -> bytes | None:
        try:
            return self._path(namespace).read_bytes()
        except FileNotFoundError:
            return None

    def __repr__(self) -> str:
        return f"FileStore({str(self.directory)!r})"

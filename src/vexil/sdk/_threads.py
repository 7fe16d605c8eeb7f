"""What the SDK's background threads share: each belongs to one owner, which joins it on close."""

from __future__ import annotations

import threading


def joined(thread: threading.Thread | None, timeout: float) -> bool:
    """Whether ``thread`` has ended (or never started), waiting at most ``timeout`` seconds."""
    if thread is not None:
        thread.join(timeout)
        return not thread.is_alive()
    return True

"""Vexil: feature flags and experimentation for Python.

The public API lives here; everything in modules whose names start with ``_``
is private and may change without notice.
"""

from ._exceptions import VexilError
from ._version import __version__
from .flags import (
    ErrorKind,
    EvaluationDetail,
    Explanation,
    Problem,
    Reason,
    Ruleset,
    ValidationError,
)
from .sdk._client import Client
from .sdk._errors import ConfigurationError
from .sdk._modes import Daemon, Lazy, Manual, Offline, Polling, Streaming
from .sdk._state import FlagChange
from .sdk._status import ClientStatus
from .sdk._stores import FileStore, Store, store_namespace
from .sdk._transport import HttpOptions

__all__ = [
    "Client",
    "ClientStatus",
    "ConfigurationError",
    "Daemon",
    "ErrorKind",
    "EvaluationDetail",
    "Explanation",
    "FileStore",
    "FlagChange",
    "HttpOptions",
    "Lazy",
    "Manual",
    "Offline",
    "Polling",
    "Problem",
    "Reason",
    "Ruleset",
    "Store",
    "Streaming",
    "ValidationError",
    "VexilError",
    "__version__",
    "store_namespace",
]

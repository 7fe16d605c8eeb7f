"""Vexil: feature flags and experimentation for Python.

The public API lives here; everything in modules whose names start with ``_``
is private and may change without notice.
"""

from .flags import (
    ErrorKind,
    EvaluationDetail,
    Explanation,
    Problem,
    Reason,
    Ruleset,
    ValidationError,
)

__version__ = "0.1.0.dev0"

# After __version__, which the SDK's User-Agent reads.
from .sdk._client import Client
from .sdk._errors import ConfigurationError
from .sdk._modes import Daemon, Lazy, Manual, Offline, Polling, Streaming
from .sdk._state import FlagChange
from .sdk._stores import FileStore, Store
from .sdk._transport import HttpOptions

__all__ = [
    "Client",
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
    "__version__",
]

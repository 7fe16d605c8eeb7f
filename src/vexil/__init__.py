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

__all__ = [
    "ErrorKind",
    "EvaluationDetail",
    "Explanation",
    "Problem",
    "Reason",
    "Ruleset",
    "ValidationError",
    "__version__",
]

"""Logging for ``vexil serve``: text for people, or one JSON object per line for machines.

One configuration covers Vexil's loggers and uvicorn's (errors and access log), so
a deployment that collects JSON gets every line as JSON. Secrets never reach the
logs: keys, tokens and passwords are not logged anywhere, and database URLs are
shown without their password.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: time, level, logger, message, extra fields, error."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for Vexil and uvicorn (also uvicorn's ``log_config``)."""
    formatter: dict[str, Any] = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT}
    handler = {"class": "logging.StreamHandler", "formatter": "vexil", "stream": "ext://sys.stderr"}
    loggers = {
        name: {"handlers": ["default"], "level": level.upper(), "propagate": False}
        for name in ("vexil", "uvicorn", "uvicorn.error", "uvicorn.access", "alembic")
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"vexil": formatter},
        "handlers": {"default": handler},
        "loggers": loggers,
        "root": {"handlers": ["default"], "level": "WARNING"},
    }

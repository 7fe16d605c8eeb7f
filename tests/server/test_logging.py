"""Structured logs: with VEXIL_LOG_FORMAT=json every line the server writes is a JSON object."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from _services import ADMIN_PASSWORD, VexilServer


@pytest.mark.slow
def test_json_logs_cover_vexil_and_uvicorn_and_hold_no_secrets(
    new_server: Callable[..., VexilServer],
) -> None:
    server = new_server(VEXIL_LOG_FORMAT="json", VEXIL_LOG_LEVEL="info")
    httpx.get(f"{server.base_url}/healthz")
    server.stop()
    text = server.log.read_text()
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert records, text
    assert {"time", "level", "logger", "message"} <= set(records[0])
    loggers = {r["logger"] for r in records}
    assert "uvicorn.access" in loggers
    assert any(r["logger"].startswith("uvicorn.error") for r in records)
    assert ADMIN_PASSWORD not in text
    assert "vx-srv-" not in "".join(r["message"] for r in records)


@pytest.mark.slow
def test_a_bad_log_format_stops_the_server_with_the_setting_named(
    new_server: Callable[..., VexilServer],
) -> None:
    with pytest.raises(RuntimeError, match="log_format: use text or json"):
        new_server(VEXIL_LOG_FORMAT="xml")

"""Helpers shared by the Flask and FastAPI integration tests."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import uvicorn

from _services import free_port, wait_for

BOOL = {"on": True, "off": False}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def boolean_flag(on: bool = True, **fields: Any) -> dict[str, Any]:
    """A boolean flag definition, in the flag document's form, serving ``on`` by default."""
    return {"variations": BOOL, "default": "on" if on else "off", **fields}


def targeting(*keys: str) -> dict[str, Any]:
    """A boolean flag that is true only for the context keys given."""
    return boolean_flag(False, targets={"on": list(keys)})


def write_flags(path: Path, flags: dict[str, Any]) -> Path:
    """Write a flag document holding ``flags`` (JSON, which the SDK reads by its suffix)."""
    path.write_text(json.dumps({"version": 1, "flags": flags}), encoding="utf-8")
    return path


def vexil_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("vexil")}


@contextmanager
def serving(app: Any) -> Iterator[httpx.Client]:
    """Serve an ASGI ``app`` with Uvicorn on loopback, lifespan included, for one block.

    A real server rather than a test transport: it runs the lifespan protocol (startup,
    state handed to requests, shutdown) as production does. It runs on a thread of this
    process, so the ``vexil_flags`` fixture still takes over.
    """
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", ws="none", log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), what="Uvicorn to start")
        assert server.started, "the application did not start: see the log"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "Uvicorn did not stop"


@contextmanager
def example(framework: str) -> Iterator[ModuleType]:
    """Import ``examples/<framework>/app.py`` as a module, for one block."""
    name = f"vexil_example_{framework}"
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / framework / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Flask finds the application's directory through it
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[name]

"""Helpers for the SDK tests: a project to change through the admin API, as users would."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar

import httpx

from _services import VexilServer, sdk_key

BOOL = {"on": True, "off": False}
API = "/api/v1"

Owner = TypeVar("Owner")


class LoopbackServer(ThreadingHTTPServer, Generic[Owner]):
    """A stand-in for a server on a free loopback port; its handlers answer for ``owner``."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler], owner: Owner) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer: what these servers expect


def editor_for(server: VexilServer) -> httpx.Client:
    with server.admin() as admin:
        body = {"name": f"sdk-tests-{uuid.uuid4().hex[:8]}", "role": "admin"}
        response = admin.post(f"{API}/tokens", json=body)
        assert response.status_code == 201, response.text
        token = response.json()["token"]
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    )


@dataclass
class Env:
    """The development environment of one project: its server key and flag changes."""

    server: VexilServer
    editor: httpx.Client
    project: str
    key: str

    @classmethod
    def create(cls, server: VexilServer, editor: httpx.Client, project: str) -> Env:
        response = editor.post(f"{API}/projects", json={"key": project})
        assert response.status_code == 201, response.text
        return cls(server, editor, project, sdk_key(editor, project))

    @property
    def url(self) -> str:
        return self.server.base_url

    def _ok(self, response: httpx.Response) -> dict[str, Any]:
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    def create_flag(self, key: str, variations: Any = None, **fields: Any) -> dict[str, Any]:
        """A flag (off everywhere, serving its first variation when off)."""
        body = {"key": key, "variations": variations or BOOL, **fields}
        return self._ok(self.editor.post(f"{API}/projects/{self.project}/flags", json=body))

    def targeting(self, key: str, **body: Any) -> dict[str, Any]:
        """Replace the flag's targeting in development (on, rules, default, targets...)."""
        url = f"{API}/projects/{self.project}/environments/development/flags/{key}"
        return self._ok(self.editor.put(url, json=body))

    def flag_on(self, key: str) -> dict[str, Any]:
        """A new boolean flag, turned on in development."""
        self.create_flag(key)
        return self.toggle(key, True)

    def toggle(self, key: str, on: bool) -> dict[str, Any]:
        url = f"{API}/projects/{self.project}/environments/development/flags/{key}/toggle"
        return self._ok(self.editor.post(url, json={"on": on}))

    def delete_flag(self, key: str) -> None:
        self._ok(self.editor.delete(f"{API}/projects/{self.project}/flags/{key}"))

    def segment(self, key: str, **body: Any) -> dict[str, Any]:
        url = f"{API}/projects/{self.project}/environments/development/segments/{key}"
        return self._ok(self.editor.put(url, json=body))

    def ruleset(self) -> httpx.Response:
        return self.editor.get("/sdk/v1/ruleset", headers={"Authorization": self.key})


@contextmanager
def new_env(server: VexilServer, project: str) -> Iterator[Env]:
    """A new project on ``server``, its editor closed when the block ends."""
    with editor_for(server) as editor:
        yield Env.create(server, editor, project)

"""Several ``vexil serve`` replicas on one database stream the same changes.

On PostgreSQL, a replica hears the others' writes through ``LISTEN``/``NOTIFY``;
on one SQLite file, through the revision poller.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from _services import VexilServer, database_for, sdk_key
from _sse import open_stream

# Several servers per test, on one database.
pytestmark = pytest.mark.slow

BOOL = {"on": True, "off": False}


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_replicas_on_one_database_stream_the_same_changes(
    kind: str,
    new_server: Callable[..., VexilServer],
    request: pytest.FixtureRequest,
    workdir: Path,
) -> None:
    url = database_for(kind, request, workdir, prefix="vexil_replicas")
    a, b = new_server(database_url=url), new_server(database_url=url)
    toggle = "/api/v1/projects/default/environments/development/flags/f/toggle"
    with (
        a.admin() as admin,
        httpx.Client(base_url=a.base_url, timeout=10) as on_a,
        httpx.Client(base_url=b.base_url, timeout=10) as on_b,
    ):
        created = admin.post(
            "/api/v1/projects/default/flags", json={"key": "f", "variations": BOOL}
        )
        assert created.status_code == 201, created.text
        key = sdk_key(admin, "default")
        with open_stream(on_b, key) as events:
            put = events.event()
            assert admin.post(toggle, json={"on": True}).status_code == 200
            # Bounded by the client's read timeout: the patch comes, or the test fails.
            patch = events.event()
        ruleset_on_b = on_b.get("/sdk/v1/ruleset", headers={"Authorization": key}).json()
        # Behind a load balancer, a client may reconnect to another replica: the
        # revisions are the database's, so Last-Event-ID means the same there.
        assert admin.post(toggle, json={"on": False}).status_code == 200
        with open_stream(on_a, key, last_event_id=patch.id) as events:
            missed = events.event()
    assert put.json()["flags"]["f"]["on"] is False
    assert (patch.event, patch.json()["key"], patch.json()["object"]["on"]) == ("patch", "f", True)
    assert int(patch.id or "") == int(put.id or "") + 1
    assert ruleset_on_b["flags"]["f"] == patch.json()["object"]
    assert (missed.event, missed.json()["object"]["on"]) == ("patch", False)
    assert int(missed.id or "") == int(patch.id or "") + 1

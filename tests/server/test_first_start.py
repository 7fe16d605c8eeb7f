"""The first start: a password and keys printed once; --demo; the server's CLI commands."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from _services import ADMIN_PASSWORD, Postgres, VexilServer, free_port, run_vexil, wait_for

API = "/api/v1"


class BareServer:
    """``vexil serve`` in an environment with no VEXIL_ADMIN_PASSWORD at all."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"bare-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEXIL_")}
        argv = [sys.executable, "-m", "vexil", "serve", "--port", str(self.port)]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [*argv, "--database", database_url],
                cwd=workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, timeout=30, what="vexil serve")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"vexil serve exited:\n{self.log.read_text()}")
        return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)


@pytest.fixture
def bare(workdir: Path) -> Iterator[Callable[[str], BareServer]]:
    started: list[BareServer] = []

    def start(database_url: str) -> BareServer:
        started.append(BareServer(database_url, workdir))
        return started[-1]

    yield start
    for instance in started:
        instance.stop()


def printed_password(log: str) -> str | None:
    found = re.search(r"^\s+Password:\s+(\S+)\s+\(shown once", log, re.MULTILINE)
    return found.group(1) if found else None


def printed_keys(log: str) -> dict[tuple[str, str], str]:
    pattern = r"^\s+(\S+)\s+(server|client) key: (vx-\S+)$"
    return {(env, kind): key for env, kind, key in re.findall(pattern, log, re.MULTILINE)}


def ruleset_status(base_url: str, key: str) -> int:
    return httpx.get(f"{base_url}/sdk/v1/ruleset", headers={"Authorization": key}).status_code


@pytest.mark.slow
def test_db_upgrade_then_a_first_start_prints_the_password_and_keys_once(
    bare: Callable[[str], BareServer], workdir: Path
) -> None:
    path = workdir / f"first-{uuid.uuid4().hex[:8]}.db"
    url = f"sqlite:///{path}"
    upgraded = run_vexil("db", "upgrade", "--database", url, cwd=workdir)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is up to date" in upgraded.stdout
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT count(*) FROM projects").fetchone() == (0,)
    conn.close()
    assert {"projects", "flags", "api_tokens", "audit_log", "alembic_version"} <= tables
    assert (
        run_vexil("db", "upgrade", "--database", url, cwd=workdir).returncode == 0
    )  # again: no-op

    first = bare(url)
    log = first.log.read_text()
    password = printed_password(log)
    assert password is not None, log
    assert len(password) >= 12
    keys = printed_keys(log)
    assert set(keys) == {
        (env, kind) for env in ("development", "production") for kind in ("server", "client")
    }
    with httpx.Client(base_url=first.base_url, auth=("admin", password)) as admin:
        projects = admin.get(f"{API}/projects")
        assert [p["key"] for p in projects.json()] == ["default"]
        listed = admin.get(f"{API}/projects/default/environments/production/keys").json()
    assert {k["key"] for k in listed} == {
        keys["production", "server"],
        keys["production", "client"],
    }
    assert ruleset_status(first.base_url, keys["development", "server"]) == 200
    assert ruleset_status(first.base_url, keys["production", "server"]) == 200
    assert ruleset_status(first.base_url, keys["development", "client"]) == 403  # valid, client
    first.stop()

    second = bare(url)
    again = second.log.read_text()
    assert "First start" not in again
    assert printed_password(again) is None
    assert password not in again
    assert printed_keys(again) == {}
    response = httpx.get(f"{second.base_url}{API}/projects", auth=("admin", password))
    assert response.status_code == 200


@pytest.mark.slow
def test_an_empty_admin_password_counts_as_unset(new_server: Callable[..., VexilServer]) -> None:
    instance = new_server(VEXIL_ADMIN_PASSWORD="")
    password = printed_password(instance.log.read_text())
    assert password
    assert httpx.get(f"{instance.base_url}{API}/projects", auth=("admin", password)).is_success
    refused = httpx.get(f"{instance.base_url}{API}/projects", auth=("admin", ""))
    assert refused.status_code == 401


def test_a_given_admin_password_is_not_printed(server: VexilServer) -> None:
    log = server.log.read_text()
    assert "Password:   from VEXIL_ADMIN_PASSWORD" in log
    assert ADMIN_PASSWORD not in log
    assert printed_password(log) is None
    assert len(printed_keys(log)) == 4


@pytest.mark.slow
def test_demo_seeds_flags_on_in_development_and_off_in_production(workdir: Path) -> None:
    instance = VexilServer(f"sqlite:///{workdir / f'demo-{uuid.uuid4().hex[:8]}.db'}", workdir)
    instance.demo = True
    instance.start()
    try:
        with instance.admin() as admin:
            flags = admin.get(f"{API}/projects/default/flags").json()
            segments = admin.get(f"{API}/projects/default/environments/development/segments")
            keys = {
                env: admin.get(f"{API}/projects/default/environments/{env}/keys").json()
                for env in ("development", "production")
            }
        assert flags["total"] >= 3
        assert any(f["on"]["development"] for f in flags["items"])
        assert not any(f["on"]["production"] for f in flags["items"])
        assert segments.json()
        server_key = next(k["key"] for k in keys["development"] if k["kind"] == "server")
        served = httpx.get(
            f"{instance.base_url}/sdk/v1/ruleset", headers={"Authorization": server_key}
        ).json()
        assert set(served["flags"]) == {f["key"] for f in flags["items"]}
    finally:
        instance.stop()


@pytest.mark.slow
def test_token_create_prints_a_working_token(
    new_server: Callable[..., VexilServer], workdir: Path
) -> None:
    instance = new_server()
    made = run_vexil(
        "token",
        "create",
        "--name",
        "ci",
        "--role",
        "admin",
        "--database",
        instance.database_url,
        cwd=workdir,
    )
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert re.fullmatch(r"vx-api-[\w-]+", token), made.stdout
    assert "only time" in made.stderr
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=instance.base_url, headers=headers) as client:
        assert client.post(f"{API}/projects", json={"key": "from-cli"}).status_code == 201
        listed = client.get(f"{API}/tokens").json()
    assert [(t["name"], t["role"], t["created_by"]) for t in listed] == [("ci", "admin", "cli")]
    scoped = run_vexil(
        "token",
        "create",
        "--name",
        "viewer",
        "--role",
        "viewer",
        "--project",
        "default",
        "--database",
        instance.database_url,
        cwd=workdir,
    )
    viewer = {"Authorization": f"Bearer {scoped.stdout.strip()}"}
    projects = httpx.get(f"{instance.base_url}{API}/projects", headers=viewer).json()
    assert [p["key"] for p in projects] == ["default"]
    bad = run_vexil(
        "token",
        "create",
        "--name",
        "x",
        "--role",
        "owner",
        "--database",
        instance.database_url,
        cwd=workdir,
    )
    assert bad.returncode != 0


def test_db_upgrade_and_token_create_on_postgresql(postgres: Postgres, workdir: Path) -> None:
    url = postgres.create_database(f"vexil_cli_{uuid.uuid4().hex[:8]}")
    upgraded = run_vexil("db", "upgrade", "--database", url, cwd=workdir)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is up to date" in upgraded.stdout
    made = run_vexil("token", "create", "--name", "pg", "--database", url, cwd=workdir)
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("vx-api-")
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT name, role, token_hash FROM api_tokens").fetchall()
    digest = hashlib.sha256(made.stdout.strip().encode()).hexdigest()
    assert rows == [("pg", "editor", digest)]

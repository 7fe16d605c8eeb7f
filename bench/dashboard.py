"""Dashboard benchmark: the flag list (and a flag's insights) with 10,000 flags.

Run with ``python bench/dashboard.py`` (``--flags N`` for another size). Builds a SQLite
database file in this process through the server's own services: the ``default``
project and its admin (``bootstrap``), 10,000 flags (``_flags.create_flag``, each
validated against the ruleset, as the admin API does), a third of them turned on in
development, and a week of hourly evaluation summaries for 3,000 of them
(``_events.store_batch``, as ``/sdk/v1/events`` stores them; for a third of those the
week ended eight days ago, so they are stale). The flags are then backdated by 90 days
in SQL, so that the 7,000 never evaluated are stale too. Then it starts
``vexil serve`` on that file (one worker process, a free loopback port), signs in
through the form and times each page from outside: ``--rounds`` requests after one
warm-up, one at a time. Building takes a few minutes; ``--database FILE`` keeps the
file for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from _services import ADMIN_PASSWORD, VexilServer
from vexil.server import _events, _flags
from vexil.server._bootstrap import SYSTEM, bootstrap
from vexil.server._bus import Hub
from vexil.server._db import make_engine, upgrade
from vexil.server._projects import environment_row, project_row
from vexil.server._settings import Settings
from vexil.server._store import Store
from vexil.server._tables import flags

WORDS = ["checkout", "search", "billing", "profile", "onboarding", "pricing", "cart", "mobile"]
TAGS = ["web", "ios", "android", "backend", "experiment", "ops"]
HOUR, DAY = 3600, 86400

#: (name, path): what is timed.
PAGES = [
    ("first page", "/projects/default/flags"),
    ("search (`q=checkout`, ~1/8 of the flags)", "/projects/default/flags?q=checkout"),
    ("search matching nothing (`q=zzz`)", "/projects/default/flags?q=zzz"),
    (
        "filtered (`tag=web&state=on&temporary=yes`)",
        "/projects/default/flags?tag=web&state=on&temporary=yes",
    ),
    ("stale flags (`state=stale`)", "/projects/default/flags?state=stale"),
    ("page 150 of 200", "/projects/default/flags?page=150"),
    (
        "a flag's `insights.json` (a week of hourly summaries)",
        "/projects/default/flags/flag-00042/insights.json",
    ),
]


def build(path: Path, count: int, evaluated: int) -> dict[str, float]:
    """The database, through the services; returns how long each part took."""
    settings = Settings(database_url=f"sqlite:///{path}", admin_password=ADMIN_PASSWORD)
    engine = make_engine(settings)
    upgrade(settings, engine)
    store = Store(engine, Hub())
    bootstrap(store, settings)
    rng = random.Random(7)
    took: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(count):
        word = WORDS[i % len(WORDS)]
        _flags.create_flag(
            store,
            SYSTEM,
            "default",
            {
                "key": f"flag-{i:05d}",
                "name": f"{word.title()} {rng.choice(WORDS)} {i}",
                "tags": rng.sample(TAGS, rng.randint(0, 3)),
                "temporary": i % 4 != 0,
                "variations": {"on": True, "off": False},
                "targeting": {"on": i % 3 == 0},
            },
        )
    took["flags_s"] = time.perf_counter() - start
    # Flags made over the past months, as a real project's: the one thing no service
    # can do is backdate, so it is done here in SQL.
    with engine.begin() as conn:
        conn.execute(update(flags).values(created_at=datetime.now(UTC) - timedelta(days=90)))
    start = time.perf_counter()
    with store.read() as conn:
        env_id = environment_row(conn, project_row(conn, "default").id, "development").id
    now = time.time()
    rows = 0
    for first in range(0, evaluated, 100):
        # The last third of them was evaluated last week, not this one: they are stale.
        since = 8 * DAY if first >= evaluated * 2 // 3 else 0
        batch = []
        for hour in range(7 * 24):
            end = now - since - hour * HOUR
            counters = [
                {"flag": f"flag-{i:05d}", "variant": v, "count": rng.randint(1, 500)}
                for i in range(first, min(first + 100, evaluated))
                for v in ("on", "off")
            ]
            batch.append({"kind": "summary", "start": end - 60, "end": end, "counters": counters})
            rows += len(counters)
        _events.store_batch(store, env_id, _events.parse(json.dumps(batch).encode()))
    took["events_s"] = time.perf_counter() - start
    took["evaluation_rows"] = rows
    engine.dispose()
    return took


def sign_in(server: VexilServer) -> httpx.Client:
    client = httpx.Client(base_url=server.base_url, timeout=60)
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    response = client.post(
        "/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": token[1]}
    )
    assert response.status_code == 303, response.text
    return client


def time_page(client: httpx.Client, path: str, rounds: int) -> dict[str, Any]:
    first = client.get(path)  # warm-up
    if first.status_code != 200:
        raise RuntimeError(f"{path}: {first.status_code} {first.text[:300]}")
    shown = re.search(r"(\d+) flags?</p>", first.text)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    times.sort()
    return {
        "matches": int(shown[1]) if shown else None,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flags", type=int, default=10_000)
    parser.add_argument("--evaluated", type=int, default=3_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument(
        "--database",
        type=Path,
        help="a SQLite file to keep: built if missing, else measured as it is",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vexil-bench-dashboard-"))
    results: dict[str, Any] = {"python": sys.version.split()[0], "cores": os.cpu_count()}
    database = args.database or work / "dashboard.db"
    try:
        if not database.exists():
            results["build"] = build(database, args.flags, args.evaluated)
        server = VexilServer(f"sqlite:///{database}", work, VEXIL_LOG_LEVEL="warning").start()
        try:
            client = sign_in(server)
            try:
                for name, path in PAGES:
                    results[name] = time_page(client, path, args.rounds)
                    print(f"{name}: {results[name]}", file=sys.stderr)
            finally:
                client.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

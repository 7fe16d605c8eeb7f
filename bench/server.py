"""Server benchmark: stream fan-out, idle streams, ruleset 304s, OFREP, event ingestion.

Run with ``make bench-server`` (or ``python bench/server.py``). Starts its own
``vexil serve`` (one worker process, SQLite, demo data) on a free loopback port and
drives it from this process (streams, events) and from ``wrk`` (request rates).
Every load stops by itself: a fixed number of requests or a fixed duration.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from _services import ADMIN_PASSWORD, VexilServer, sdk_key
from latency import summary_ms

HOST = "127.0.0.1"


# ------------------------------------------------------------------ streams


class Stream:
    """One SSE connection read with raw asyncio streams: cheap enough for thousands."""

    def __init__(self, port: int, key: str) -> None:
        self.port, self.key = port, key
        self.put = asyncio.Event()
        self.patches: list[float] = []
        self.patch_seen = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def run(self) -> None:
        reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=2**24)
        self.writer.write(
            f"GET /sdk/v1/stream HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: {self.key}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        await self.writer.drain()
        event = ""
        while line := await reader.readline():
            text = line.decode().rstrip("\r\n")
            if text.startswith("event:"):
                event = text[6:].strip()
            elif text.startswith("data:") and event == "put":
                self.put.set()
            elif text.startswith("data:") and event == "patch":
                self.patches.append(time.perf_counter())
                self.patch_seen.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.task is not None:
            self.task.cancel()


async def open_streams(port: int, key: str, count: int, timeout: float = 120) -> list[Stream]:
    streams = []
    for i in range(count):
        stream = Stream(port, key)
        stream.start()
        streams.append(stream)
        if i % 200 == 199:  # do not flood the accept queue
            await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*(s.put.wait() for s in streams)), timeout)
    return streams


def editor(server: VexilServer) -> httpx.Client:
    """An admin API client with a token: a password (argon2) would dominate the timing."""
    with server.admin() as admin:
        token = admin.post("/api/v1/tokens", json={"name": "bench", "role": "editor"}).json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=30)


def toggle(client: httpx.Client, on: bool) -> None:
    url = "/api/v1/projects/default/environments/development/flags/new-checkout/toggle"
    client.post(url, json={"on": on, "comment": "benchmark"}).raise_for_status()


async def fan_out(server: VexilServer, key: str, clients: int, changes: int) -> dict[str, float]:
    streams = await open_streams(server.port, key, clients)
    lags: list[float] = []
    client = editor(server)
    try:
        for n in range(changes):
            for s in streams:
                s.patch_seen.clear()
            # From the moment the change is asked for, to its arrival on each stream.
            start = time.perf_counter()
            await asyncio.to_thread(toggle, client, n % 2 == 0)
            await asyncio.wait_for(asyncio.gather(*(s.patch_seen.wait() for s in streams)), 30)
            lags.extend(s.patches[-1] - start for s in streams)
    finally:
        client.close()
        for s in streams:
            s.close()
    return {"clients": clients, "changes": changes, **summary_ms(lags)}


async def idle(server: VexilServer, key: str, clients: int) -> dict[str, float]:
    process = psutil.Process(server.process.pid if server.process else 0)
    before = process.memory_info().rss
    streams = await open_streams(server.port, key, clients, timeout=300)
    try:
        rss = process.memory_info().rss
    finally:
        for s in streams:
            s.close()
    return {"streams": clients, "rss_mb": rss / 2**20, "growth_mb": (rss - before) / 2**20}


# ---------------------------------------------------------------- wrk loads


def wrk(url: str, seconds: int, headers: dict[str, str], body: str | None = None) -> float:
    """Requests per second that ``wrk`` achieved (2 threads, 32 connections)."""
    lua = Path(tempfile.mkdtemp()) / "request.lua"
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    if body is not None:
        lines += [
            'wrk.method = "POST"',
            f"wrk.body = {json.dumps(body)}",
            'wrk.headers["Content-Type"] = "application/json"',
        ]
    lua.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    codes = [line for line in out.splitlines() if "Non-2xx" in line]
    if codes:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    rate = next(line for line in out.splitlines() if line.startswith("Requests/sec"))
    return float(rate.split()[1])


def ruleset_304(server: VexilServer, key: str, seconds: int) -> float:
    etag = httpx.get(f"{server.base_url}/sdk/v1/ruleset", headers={"Authorization": key}).headers[
        "ETag"
    ]
    return wrk(
        f"{server.base_url}/sdk/v1/ruleset",
        seconds,
        {"Authorization": key, "If-None-Match": etag.replace('"', '\\"')},
    )


def ofrep(server: VexilServer, key: str, seconds: int) -> float:
    body = json.dumps({"context": {"targetingKey": "u-42", "email": "ana@vexil.dev"}})
    url = f"{server.base_url}/ofrep/v1/evaluate/flags/new-checkout"
    check = httpx.post(
        url,
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    check.raise_for_status()
    return wrk(url, seconds, {"Authorization": f"Bearer {key}"}, body)


# ------------------------------------------------------------------- events


def events_batch(flags: int, per_counter: int) -> bytes:
    now = time.time()
    counters = [
        {"flag": f"flag-{i}", "variant": v, "count": per_counter}
        for i in range(flags)
        for v in ("on", "off")
    ]
    batch = [{"kind": "summary", "start": now - 10, "end": now, "counters": counters}]
    return gzip.compress(json.dumps(batch).encode())


async def ingest(
    server: VexilServer, key: str, requests: int, concurrency: int
) -> dict[str, float]:
    flags, per_counter = 50, 1000
    body = events_batch(flags, per_counter)
    per_request = flags * 2 * per_counter
    headers = {"Authorization": key, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(requests):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                response = await client.post("/sdk/v1/events", content=body, headers=headers)
                if response.status_code != 202:
                    raise RuntimeError(f"events: {response.status_code} {response.text}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - start
    return {
        "requests_per_s": requests / seconds,
        "evaluations_per_s": requests * per_request / seconds,
        "counters_per_request": flags * 2,
    }


# --------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", default="fanout,idle,ruleset,ofrep,events")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed for the request-rate figures: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="vexil-bench-"))
    server = VexilServer(
        f"sqlite:///{work / 'bench.db'}",
        work,
        demo=True,
        VEXIL_LOG_LEVEL="warning",
        VEXIL_ADMIN_PASSWORD=ADMIN_PASSWORD,
    ).start()
    results: dict[str, Any] = {"python": sys.version.split()[0], "cores": os.cpu_count()}
    try:
        with server.admin() as admin:
            key = sdk_key(admin, "default")
            client_key = sdk_key(admin, "default", kind="client")
        only = args.only.split(",")
        if "fanout" in only:
            results["fanout"] = asyncio.run(fan_out(server, key, args.clients, changes=5))
        if "idle" in only:
            results["idle"] = asyncio.run(idle(server, key, args.idle))
        if "ruleset" in only:
            results["ruleset_304_per_s"] = ruleset_304(server, key, args.seconds)
        if "ofrep" in only:
            results["ofrep_per_s"] = ofrep(server, client_key, args.seconds)
        if "events" in only:
            results["events"] = asyncio.run(ingest(server, key, requests=200, concurrency=8))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

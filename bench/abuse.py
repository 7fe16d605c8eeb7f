"""Abuse benchmark: what hostile clients cost the server, and what everyone else sees meanwhile.

Run with ``make bench-abuse`` (or ``python bench/abuse.py``). Each scenario starts its
own ``vexil serve`` (SQLite, default limits unless said) on a free loopback port,
attacks it from this process, and meanwhile asks ``/healthz`` every 50 ms and samples
the server's resident memory. Every attack is bounded in count and time and stops by
itself; everything targets 127.0.0.1 only.

Scenarios (``--only`` takes a comma-separated subset):

- ``redos``: a client-side flag matching ``^(a+)+$``, evaluated over OFREP with the
  public client key for a hostile ``name`` (the classic catastrophic-backtracking input).
- ``body``: chunked POSTs of up to 300 MB each, without a key, to OFREP; then with a key.
- ``passwords``: 32 parallel loops of wrong Basic-auth passwords, while an API token
  reads the flag list.
- ``slow-readers``: 500 SDK streams that never read, on a ruleset of about 500 KB.
- ``slowloris``: 1,500 connections sending their headers one byte a second.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from _services import ADMIN_PASSWORD, VexilServer, sdk_key

HOST = "127.0.0.1"
PROJECT = "default"


class Watch:
    """``/healthz`` latency and the server's RSS, sampled on a thread during an attack."""

    def __init__(self, server: VexilServer) -> None:
        self.server = server
        assert server.process is not None
        self.proc = psutil.Process(server.process.pid)
        self.latencies: list[float] = []
        self.failures = 0
        self.rss: list[int] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Watch:
        self.rss_before = self.proc.memory_info().rss
        self._threads = [
            threading.Thread(target=self._ping, daemon=True),
            threading.Thread(target=self._sample, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _ping(self) -> None:
        with httpx.Client(base_url=self.server.base_url, timeout=30) as client:
            while not self._stop.wait(0.05):
                start = time.perf_counter()
                try:
                    client.get("/healthz").raise_for_status()
                except httpx.HTTPError:
                    self.failures += 1
                    continue
                self.latencies.append(time.perf_counter() - start)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.rss.append(self.proc.memory_info().rss)
            except psutil.Error:
                return

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        for thread in self._threads:
            thread.join(35)
        lat = sorted(self.latencies) or [float("nan")]
        return {
            "healthz_ms": {
                "median": round(statistics.median(lat) * 1000, 1),
                "p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1),
                "max": round(lat[-1] * 1000, 1),
                "answered": len(self.latencies),
                "failed": self.failures,
            },
            "rss_mb": {
                "before": round(self.rss_before / 2**20, 1),
                "peak": round(max(self.rss or [self.rss_before]) / 2**20, 1),
            },
        }


@contextmanager
def server(work: Path, **env: str) -> Iterator[VexilServer]:
    instance = VexilServer(
        f"sqlite:///{work / f'abuse-{time.monotonic_ns()}.db'}",
        work,
        VEXIL_LOG_LEVEL="error",
        VEXIL_ADMIN_PASSWORD=ADMIN_PASSWORD,
        **env,
    ).start()
    try:
        yield instance
    finally:
        instance.stop()


def token(instance: VexilServer) -> dict[str, str]:
    with instance.admin() as admin:
        made = admin.post("/api/v1/tokens", json={"name": "bench", "role": "admin"})
        made.raise_for_status()
    return {"Authorization": f"Bearer {made.json()['token']}"}


def watched(instance: VexilServer, attack: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    watch = Watch(instance).start()
    try:
        result = attack()
    finally:
        figures = watch.stop()
    return {**result, **figures}


# ------------------------------------------------------------------ ReDoS


def redos(work: Path) -> dict[str, Any]:
    with server(work) as instance:
        auth = token(instance)
        with httpx.Client(base_url=instance.base_url, headers=auth, timeout=30) as api:
            flag = {"key": "evil", "variations": {"on": True, "off": False}, "client_side": True}
            api.post(f"/api/v1/projects/{PROJECT}/flags", json=flag).raise_for_status()
            rule = {"clauses": [{"attribute": "name", "op": "matches", "values": ["^(a+)+$"]}]}
            targeting = {"on": True, "rules": [{**rule, "serve": "on"}], "default": "off"}
            url = f"/api/v1/projects/{PROJECT}/environments/development/flags/evil"
            api.put(url, json=targeting).raise_for_status()
            client_key = sdk_key(api, PROJECT, kind="client")

        def attack() -> dict[str, Any]:
            times: dict[str, float] = {}
            with httpx.Client(base_url=instance.base_url, timeout=60) as client:
                # 65,536 characters is the longest string an OFREP context may hold.
                for length in (28, 1_000, 65_535):
                    body = {"context": {"targetingKey": "u", "name": "a" * length + "!"}}
                    spent = []
                    for _ in range(20):
                        start = time.perf_counter()
                        answer = client.post(
                            "/ofrep/v1/evaluate/flags/evil",
                            json=body,
                            headers={"Authorization": client_key},
                        )
                        spent.append(time.perf_counter() - start)
                        assert answer.status_code == 200, answer.text
                    times[f"ofrep_ms_at_{length}_chars"] = round(statistics.median(spent) * 1e3, 2)
            return times

        return watched(instance, attack)


# ------------------------------------------------------------------ bodies


async def chunked_post(path: str, total: int, headers: str) -> dict[str, Any]:
    """Send up to ``total`` bytes chunked; stop as soon as the server answers."""
    reader, writer = await asyncio.open_connection(HOST, PORT[0])
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Transfer-Encoding: chunked\r\n{headers}\r\n".encode()
    )
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    sent = 0
    status = None
    answer = asyncio.ensure_future(reader.readline())
    try:
        while sent < total and not answer.done():
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (TimeoutError, ConnectionError):
                break
            sent += 65536
        line = await asyncio.wait_for(answer, 30)
        status = int(line.split()[1]) if line else None
    except (TimeoutError, ConnectionError, IndexError, ValueError):
        pass
    finally:
        answer.cancel()
        writer.close()
    return {"sent_mb": sent / 2**20, "status": status}


PORT = [0]


def body_flood(work: Path) -> dict[str, Any]:
    with server(work) as instance:
        PORT[0] = instance.port
        with instance.admin() as admin:
            key = sdk_key(admin, PROJECT, kind="client")

        def attack() -> dict[str, Any]:
            async def run() -> dict[str, Any]:
                total = 300 * 2**20
                path = "/ofrep/v1/evaluate/flags/x"
                anonymous = await asyncio.gather(*(chunked_post(path, total, "") for _ in range(4)))
                keyed = await asyncio.gather(
                    *(chunked_post(path, total, f"Authorization: {key}\r\n") for _ in range(4))
                )
                return {
                    "without_key": {
                        "statuses": sorted({str(r["status"]) for r in anonymous}),
                        "max_sent_mb_before_answer": max(r["sent_mb"] for r in anonymous),
                    },
                    "with_key": {
                        "statuses": sorted({str(r["status"]) for r in keyed}),
                        "max_sent_mb_before_answer": max(r["sent_mb"] for r in keyed),
                    },
                }

            return asyncio.run(run())

        return watched(instance, attack)


# ------------------------------------------------------------------ passwords


def password_flood(work: Path, seconds: float = 15.0) -> dict[str, Any]:
    with server(work) as instance:
        auth = token(instance)

        def attack() -> dict[str, Any]:
            statuses: dict[int, int] = {}
            lock = threading.Lock()
            deadline = time.monotonic() + seconds
            wrong = "Basic " + base64.b64encode(b"admin:wrong-password").decode()

            def loop() -> None:
                with httpx.Client(base_url=instance.base_url, timeout=30) as client:
                    while time.monotonic() < deadline:
                        try:
                            code = client.get(
                                "/api/v1/projects", headers={"Authorization": wrong}
                            ).status_code
                        except httpx.HTTPError:
                            code = 0
                        with lock:
                            statuses[code] = statuses.get(code, 0) + 1

            threads = [threading.Thread(target=loop, daemon=True) for _ in range(32)]
            for thread in threads:
                thread.start()
            token_ms = []
            with httpx.Client(base_url=instance.base_url, headers=auth, timeout=60) as api:
                while time.monotonic() < deadline:
                    start = time.perf_counter()
                    api.get(f"/api/v1/projects/{PROJECT}/flags").raise_for_status()
                    token_ms.append((time.perf_counter() - start) * 1000)
                    time.sleep(0.1)  # a steady reader, not a second flood
            for thread in threads:
                thread.join(40)
            token_ms.sort()
            return {
                "wrong_password_answers": {str(k): v for k, v in sorted(statuses.items())},
                "token_request_ms": {
                    "median": round(statistics.median(token_ms), 1),
                    "max": round(token_ms[-1], 1),
                },
            }

        return watched(instance, attack)


# ------------------------------------------------------------------ slow readers


def slow_readers(work: Path, count: int = 500) -> dict[str, Any]:
    with server(work, VEXIL_STREAM_SEND_TIMEOUT="10") as instance:
        auth = token(instance)
        with httpx.Client(base_url=instance.base_url, headers=auth, timeout=60) as api:
            description = "x" * 4000
            for i in range(120):  # about 500 KB of ruleset
                flag = {
                    "key": f"bulk-{i}",
                    "description": description,
                    "variations": {"on": True, "off": False},
                }
                api.post(f"/api/v1/projects/{PROJECT}/flags", json=flag).raise_for_status()
            key = sdk_key(api, PROJECT)
            size = len(api.get("/sdk/v1/ruleset", headers={"Authorization": key}).content)

        def attack() -> dict[str, Any]:
            async def run() -> dict[str, Any]:
                sockets = []
                for _ in range(count):
                    reader, writer = await asyncio.open_connection(HOST, instance.port, limit=1024)
                    # A tiny receive buffer, and never a read: the server's sends block.
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    writer.write(
                        f"GET /sdk/v1/stream HTTP/1.1\r\nHost: {HOST}\r\n"
                        f"Authorization: {key}\r\n\r\n".encode()
                    )
                    sockets.append((reader, writer))
                start = time.monotonic()
                # Hold the streams unread past the send timeout (10 s here)...
                await asyncio.sleep(15)

                async def closed_by_server(reader: asyncio.StreamReader) -> bool:
                    """...then read: a dropped stream reaches EOF once its bytes are read."""
                    try:
                        async with asyncio.timeout(20):
                            while await reader.read(65536):
                                pass
                        return True
                    except ConnectionResetError:  # dropped with a reset: the same
                        return True
                    except TimeoutError:  # still open, still sending heartbeats
                        return False

                results = await asyncio.gather(*(closed_by_server(r) for r, _ in sockets))
                for _, writer in sockets:
                    writer.close()
                return {
                    "streams": count,
                    "dropped_by_server": sum(results),
                    "seconds": round(time.monotonic() - start, 1),
                }

            return asyncio.run(run())

        return {"ruleset_kb": round(size / 1024), **watched(instance, attack)}


# ------------------------------------------------------------------ slowloris


def slowloris(work: Path, count: int = 1500, seconds: float = 20.0) -> dict[str, Any]:
    with server(work) as instance:

        def attack() -> dict[str, Any]:
            async def run() -> dict[str, Any]:
                readers, writers = [], []
                for _ in range(count):
                    try:
                        reader, writer = await asyncio.open_connection(HOST, instance.port)
                    except OSError:
                        break
                    readers.append(reader)
                    writers.append(writer)
                header = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
                start = time.monotonic()
                position = 0
                open_at: dict[str, int] = {}
                checkpoints = [5.0, 9.0, 12.0, 15.0, seconds]
                while checkpoints:
                    for writer in writers:
                        if not writer.is_closing():
                            writer.write(header[position : position + 1])
                    position = min(position + 1, len(header) - 1)
                    await asyncio.sleep(1)
                    for writer in writers:
                        try:
                            await asyncio.wait_for(writer.drain(), 0.01)
                        except (TimeoutError, ConnectionError):
                            writer.close()
                    if time.monotonic() - start >= checkpoints[0]:
                        # A connection the server closed shows as EOF on its reader.
                        still = sum(1 for r in readers if not r.at_eof())
                        open_at[f"{checkpoints.pop(0):.0f}s"] = still
                for writer in writers:
                    writer.close()
                return {"connections": len(writers), "open_after": open_at}

            return asyncio.run(run())

        return watched(instance, attack)


SCENARIOS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "redos": redos,
    "body": body_flood,
    "passwords": password_flood,
    "slow-readers": slow_readers,
    "slowloris": slowloris,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vexil-abuse-"))
    results: dict[str, Any] = {"python": sys.version.split()[0], "cores": os.cpu_count()}
    for name in args.only.split(","):
        print(f"-- {name}", file=sys.stderr, flush=True)
        results[name] = SCENARIOS[name](work)
        print(json.dumps(results[name]), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Analytics events: summaries, ``track`` and ``identify``, from ``Client`` to the database.

End to end, a real ``vexil serve`` stores what the SDK sends, and the tests read its
database. What a server cannot show (retries, drops, headers) is checked on the
``EventProcessor`` with a recording ``send`` or a small HTTP server on loopback.
"""

from __future__ import annotations

import collections
import gzip
import json
import logging
import os
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import pytest
from _sdk import Env
from sqlalchemy import Engine, create_engine, text

from _services import VexilServer, free_port, wait_for
from vexil import Client
from vexil.sdk import _events
from vexil.sdk._events import BATCH_SIZE, EventProcessor
from vexil.sdk._transport import HttpOptions, Transport

USER = {"key": "u-1", "plan": "pro"}
Pair = tuple[str, str | None]

# ------------------------------------------------------------------ the database


@pytest.fixture(scope="session")
def database(server: VexilServer) -> Iterator[Engine]:
    """The session server's database, read directly."""
    engine = create_engine(server.database_url.replace("postgresql://", "postgresql+psycopg://"))
    yield engine
    engine.dispose()


def rows(database: Engine, env: Env, columns: str, table: str, order: str) -> list[tuple[Any, ...]]:
    """Rows of ``table`` stored for the development environment of ``env``'s project."""
    sql = (
        f"SELECT {columns} FROM {table} t"
        " JOIN environments e ON e.id = t.environment_id"
        " JOIN projects p ON p.id = e.project_id"
        f" WHERE p.key = :project AND e.key = 'development' ORDER BY {order}"
    )
    with database.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), {"project": env.project})]


def counts(database: Engine, env: Env) -> dict[Pair, int]:
    """Evaluations stored, per (flag, variant), over every summary received."""
    total: collections.Counter[Pair] = collections.Counter()
    for flag, variant, count in rows(
        database, env, "t.flag_key, t.variant, t.count", "evaluation_counts", "t.id"
    ):
        total[flag, variant] += count
    return dict(total)


def summaries(database: Engine, env: Env) -> list[tuple[Any, ...]]:
    """(flag, variant, count, start, end) per stored counter, in the order received."""
    columns = "t.flag_key, t.variant, t.count, t.period_start, t.period_end"
    return rows(database, env, columns, "evaluation_counts", "t.id")


def custom_events(database: Engine, env: Env) -> list[dict[str, Any]]:
    """Stored ``track`` and ``identify`` events, oldest first, their JSON decoded."""
    # As text, the JSON columns read the same on both backends.
    columns = (
        "t.kind, t.name, t.context_key, CAST(t.context AS TEXT), t.value,"
        " CAST(t.data AS TEXT), t.at"
    )
    found = rows(database, env, columns, "custom_events", "t.at, t.id")
    return [
        {
            "kind": kind,
            "name": name,
            "context_key": context_key,
            "context": json.loads(context),
            "value": value,
            "data": None if data is None else json.loads(data),
            "at": at,
        }
        for kind, name, context_key, context, value, data, at in found
    ]


# ------------------------------------------------------- recording, loopback


class Recorder:
    """A ``send`` for ``EventProcessor``: records each batch, answers from a script."""

    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.batches: list[list[dict[str, Any]]] = []
        self.sent = threading.Event()

    def __call__(self, body: bytes) -> int:
        self.batches.append(json.loads(gzip.decompress(body)))
        self.sent.set()
        answer = self.answers.pop(0) if self.answers else 202
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for batch in self.batches for event in batch]


class Loopback:
    """An HTTP server on loopback recording each request, answering from a script."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        loopback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                loopback.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = loopback.statuses.pop(0) if loopback.statuses else 202
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="loopback-http"
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def loopback() -> Iterator[Callable[..., Loopback]]:
    started: list[Loopback] = []

    def start(*statuses: int) -> Loopback:
        started.append(Loopback(*statuses))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture
def transports() -> Iterator[Callable[[str], Transport]]:
    made: list[Transport] = []

    def make(url: str) -> Transport:
        made.append(Transport(url, "vx-srv-events-test", HttpOptions(connect_timeout=2)))
        return made[-1]

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_events, "_RETRY_DELAY", 0.0)


def warnings_of(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "vexil.events" and r.levelno == level
    ]


def tracks(n: int) -> list[str]:
    return [f"e{i}" for i in range(n)]


# ------------------------------------------------------------------- summaries


def test_summaries_count_each_flag_and_variant_exactly(env: Env, database: Engine) -> None:
    env.create_flag("off-flag")  # off: serves its off variation, "off"
    env.create_flag("on-flag")
    env.toggle("on-flag", True)  # on: serves its default, "on"
    with Client(env.key, url=env.url, flush_interval=60) as client:
        client.wait_until_ready(5)
        for _ in range(3):
            client.variation("off-flag", USER, True)
        for _ in range(5):
            client.bool_variation("on-flag", USER, False)
        client.variation_detail("on-flag", USER, False)
        for _ in range(2):
            client.variation("no-such-flag", USER, "default")  # unknown: variant null
        client.json_variation("off-flag", USER, {})  # wrong type: the default, variant null
        # Not counted: track=False, and the bulk and debugging calls.
        for _ in range(4):
            client.variation("off-flag", USER, True, track=False)
        client.variation_detail("on-flag", USER, False, track=False)
        client.bool_variation("on-flag", USER, False, track=False)
        client.json_variation("no-such-flag", USER, {}, track=False)
        client.all_flags(USER)
        client.all_flags_state(USER)
        client.explain("on-flag", USER)
        client.flush()
        expected = {
            ("off-flag", "off"): 3,
            ("on-flag", "on"): 6,
            ("no-such-flag", None): 2,
            ("off-flag", None): 1,
        }
        assert counts(database, env) == expected
        # One summary per flush, with one counter per pair: not one row per evaluation.
        assert len(summaries(database, env)) == 4
        client.flush()  # nothing new: nothing sent
        assert len(summaries(database, env)) == 4


def test_evaluations_from_many_threads_are_counted_exactly(env: Env, database: Engine) -> None:
    env.flag_on("f")
    threads, each = 8, 10_000
    # A short interval: the flusher reads the counters while the threads count.
    with Client(env.key, url=env.url, flush_interval=0.02) as client:
        client.wait_until_ready(5)
        start = threading.Barrier(threads)
        errors: list[BaseException] = []

        def evaluate(n: int) -> None:
            try:
                start.wait(10)
                flag = "f" if n % 2 else "unknown"
                for _ in range(each):
                    client.variation(flag, USER, False)
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=evaluate, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert errors == []
    expected = {("f", "on"): threads // 2 * each, ("unknown", None): threads // 2 * each}
    assert counts(database, env) == expected
    assert sum(expected.values()) == 80_000


def test_summary_periods_follow_each_other(env: Env, database: Engine) -> None:
    env.create_flag("f")
    before = time.time()
    with Client(env.key, url=env.url, flush_interval=60) as client:
        client.variation("f", USER, False)
        client.flush()
        between = time.time()
        client.variation("f", USER, False)
        client.variation("f", USER, False)
        client.flush()
        after = time.time()
    (_, _, n1, start1, end1), (_, _, n2, start2, end2) = summaries(database, env)
    assert (n1, n2) == (1, 2)
    assert before <= start1 <= end1 <= between <= end2 <= after
    assert start2 == end1  # the next period starts where the last ended: no gap, no overlap


def test_invalid_flag_keys_are_not_counted_and_spoil_nothing(env: Env, database: Engine) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url, flush_interval=60) as client:
        client.variation("", USER, False)
        client.variation("x" * 201, USER, False)
        client.variation("f", USER, True)
        client.track("still-sent", USER)
    # The server refuses a batch whole: one bad counter would have lost all of them.
    assert counts(database, env) == {("f", "off"): 1}
    assert [e["name"] for e in custom_events(database, env)] == ["still-sent"]


# ---------------------------------------------------------- track and identify


def test_track_and_identify_are_stored(env: Env, database: Engine) -> None:
    before = time.time()
    with Client(env.key, url=env.url, flush_interval=60) as client:
        client.identify(USER)
        client.track("checkout", USER, value=42.5, data={"items": 3, "coupon": None})
        client.track("visit", {"key": 7})
        client.track("signup", USER, value=0)
        client.flush()
        after = time.time()
        stored = custom_events(database, env)
    assert [{k: e[k] for k in ("kind", "name", "context_key", "value")} for e in stored] == [
        {"kind": "identify", "name": None, "context_key": "u-1", "value": None},
        {"kind": "track", "name": "checkout", "context_key": "u-1", "value": 42.5},
        {"kind": "track", "name": "visit", "context_key": "7", "value": None},
        {"kind": "track", "name": "signup", "context_key": "u-1", "value": 0.0},
    ]
    assert stored[0]["context"] == USER
    assert stored[1]["data"] == {"items": 3, "coupon": None}
    assert stored[2]["context"] == {"key": 7}
    assert all(before <= e["at"] <= after for e in stored)


def test_invalid_track_and_identify_input_is_logged_and_ignored(
    env: Env, database: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    bad_calls: list[Callable[[Client], None]] = [
        lambda c: c.track("", USER),
        lambda c: c.track("x" * 201, USER),
        lambda c: c.track(42, USER),  # type: ignore[arg-type]
        lambda c: c.track("e", {"plan": "pro"}),  # no key
        lambda c: c.track("e", {"key": ""}),
        lambda c: c.track("e", {"key": True}),
        lambda c: c.track("e", "u-1"),  # type: ignore[arg-type]
        lambda c: c.track("e", USER, value=float("nan")),
        lambda c: c.track("e", USER, value=float("inf")),
        lambda c: c.track("e", USER, value="3"),  # type: ignore[arg-type]
        lambda c: c.track("e", USER, value=True),
        lambda c: c.track("e", USER, value=10**400),
        lambda c: c.track("e", USER, data={"x": float("nan")}),
        lambda c: c.track("e", USER, data={("a", "b"): 1}),
        lambda c: c.track("e", USER, data=cyclic),
        lambda c: c.track("e", {"key": "u-1", "score": float("-inf")}),
        lambda c: c.identify({"plan": "pro"}),
        lambda c: c.identify(None),  # type: ignore[arg-type]
        lambda c: c.identify({"key": "u-1", "loop": cyclic}),
    ]
    caplog.set_level(logging.WARNING, logger="vexil.events")
    with Client(env.key, url=env.url, flush_interval=60) as client:
        for call in bad_calls:
            call(client)  # never raises
        assert len(warnings_of(caplog)) == len(bad_calls)
        assert all("ignored" in message for message in warnings_of(caplog))
        client.track("valid", USER, data={"when": time}, value=1)  # objects sent as str
        client.flush()
    stored = custom_events(database, env)
    assert [(e["name"], e["value"]) for e in stored] == [("valid", 1.0)]
    assert stored[0]["data"] == {"when": str(time)}
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_batch_too_large_for_the_server_is_sent_in_parts(env: Env, database: Engine) -> None:
    big = "x" * 200_000  # 12 of these are over the server's 1 MiB limit (decompressed)
    with Client(env.key, url=env.url, flush_interval=60) as client:
        client.variation("f", USER, False)
        for name in tracks(12):
            client.track(name, USER, data=big)
        client.flush()
        assert counts(database, env) == {("f", None): 1}
        assert sorted(e["name"] for e in custom_events(database, env)) == sorted(tracks(12))


# ----------------------------------------------------------------- when to send


def test_events_are_sent_every_flush_interval_without_flush(env: Env, database: Engine) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url, flush_interval=0.2) as client:
        client.variation("f", USER, True)
        client.track("tick", USER)
        wait_for(lambda: counts(database, env) == {("f", "off"): 1}, 10, "the summary")
        wait_for(lambda: len(custom_events(database, env)) == 1, 10, "the track event")
        client.variation("f", USER, True)
        wait_for(lambda: counts(database, env) == {("f", "off"): 2}, 10, "the next summary")


def test_a_full_batch_is_sent_before_the_interval(env: Env, database: Engine) -> None:
    with Client(env.key, url=env.url, flush_interval=60) as client:
        for name in tracks(BATCH_SIZE - 1):
            client.track(name, USER)
        client.identify(USER)  # the 500th event
        wait_for(lambda: len(custom_events(database, env)) == BATCH_SIZE, 10, "a full batch")


def test_close_sends_what_is_left(env: Env, database: Engine) -> None:
    env.create_flag("f")
    client = Client(env.key, url=env.url, flush_interval=60)
    client.variation("f", USER, True)
    client.track("last", USER)
    client.close()
    assert counts(database, env) == {("f", "off"): 1}
    assert [e["name"] for e in custom_events(database, env)] == ["last"]
    assert not [t for t in threading.enumerate() if t.name == "vexil-events"]


def test_send_events_false_sends_nothing_and_starts_no_thread(
    env: Env, database: Engine, loopback: Callable[..., Loopback]
) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url, send_events=False, flush_interval=0.05) as client:
        assert client.is_initialized
        assert "vexil-events" not in {t.name for t in threading.enumerate()}
        for _ in range(10):
            client.variation("f", USER, True)
        client.track("nope", USER)
        client.identify(USER)
        client.flush()
    assert counts(database, env) == {}
    assert custom_events(database, env) == []
    # The same client with events on does start the thread (the check above can fail).
    with Client(env.key, url=env.url) as client:
        assert "vexil-events" in {t.name for t in threading.enumerate()}


# ------------------------------------------------------- the wire and failures


def test_batches_are_sent_gzipped_as_json(
    loopback: Callable[..., Loopback], transports: Callable[[str], Transport]
) -> None:
    server = loopback()
    processor = EventProcessor(transports(server.url).post_events, flush_interval=60)
    processor.count("f", "on")
    processor.count("f", "on")
    processor.track("checkout", USER, 9.5, {"items": 2})
    processor.flush()
    [(headers, body)] = server.requests
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "vx-srv-events-test"
    assert int(headers["content-length"]) == len(body)
    summary, track = json.loads(gzip.decompress(body))
    assert summary["kind"] == "summary"
    assert summary["counters"] == [{"flag": "f", "variant": "on", "count": 2}]
    assert {k: v for k, v in track.items() if k != "at"} == {
        "kind": "track",
        "name": "checkout",
        "context": USER,
        "value": 9.5,
        "data": {"items": 2},
    }


@pytest.mark.usefixtures("no_retry_delay")
def test_a_5xx_is_retried_once(
    loopback: Callable[..., Loopback],
    transports: Callable[[str], Transport],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="vexil.events")
    server = loopback(503)  # then 202
    processor = EventProcessor(transports(server.url).post_events, flush_interval=60)
    processor.count("f", "on")
    processor.flush()
    assert len(server.requests) == 2
    assert server.requests[0][1] == server.requests[1][1]  # the same batch again
    assert warnings_of(caplog) == []
    # Twice 5xx: dropped, with a warning, and not sent again later.
    server.statuses = [500, 502]
    processor.identify(USER)
    processor.flush()
    assert len(server.requests) == 4
    assert len(warnings_of(caplog)) == 1
    assert "dropped 1 events after a retry: HTTP 502" in warnings_of(caplog)[0]
    processor.flush()
    assert len(server.requests) == 4


@pytest.mark.usefixtures("no_retry_delay")
def test_a_network_error_is_retried_once(
    transports: Callable[[str], Transport], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vexil.events")
    recorder = Recorder(httpx.ConnectError("refused"))  # then 202
    processor = EventProcessor(recorder, flush_interval=60)
    processor.track("t", USER, None, None)
    processor.flush()
    assert len(recorder.batches) == 2
    assert recorder.batches[0] == recorder.batches[1]
    assert warnings_of(caplog) == []
    # For real: nobody listens on the port.
    transport = transports(f"http://127.0.0.1:{free_port()}")
    attempts: list[bytes] = []

    def send(body: bytes) -> int:
        attempts.append(body)
        return transport.post_events(body)

    processor = EventProcessor(send, flush_interval=60)
    processor.identify(USER)
    processor.flush()
    assert len(attempts) == 2
    [warning] = warnings_of(caplog)
    assert "dropped 1 events after a retry: network error" in warning


@pytest.mark.usefixtures("no_retry_delay")
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_4xx_refusal_is_logged_and_dropped_without_retry(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vexil.events")
    recorder = Recorder(status)
    processor = EventProcessor(recorder, flush_interval=60)
    processor.count("f", "on")
    processor.track("t", USER, None, None)
    processor.flush()
    assert len(recorder.batches) == 1
    assert warnings_of(caplog, logging.ERROR) == [f"the server refused 2 events (HTTP {status})"]
    processor.flush()  # dropped: not sent again
    assert len(recorder.batches) == 1


def test_a_refused_key_does_not_break_the_client(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="vexil.events")
    with Client("vx-srv-no-such-key-at-all", url=env.url, init_timeout=0) as client:
        client.variation("f", USER, False)
        client.flush()
    assert warnings_of(caplog, logging.ERROR) == ["the server refused 1 events (HTTP 401)"]


# ---------------------------------------------------------------- the buffer


def test_a_full_buffer_drops_the_oldest_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vexil.events")
    recorder = Recorder()
    processor = EventProcessor(recorder, flush_interval=60, capacity=3)
    for name in tracks(5):
        processor.track(name, USER, None, None)  # never blocks
    assert processor.dropped == 2
    processor.flush()
    assert [e["name"] for e in recorder.events] == ["e2", "e3", "e4"]
    assert warnings_of(caplog) == ["dropped 2 analytics events: the buffer (capacity 3) was full"]


def test_drops_are_warned_of_at_most_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vexil.events")
    processor = EventProcessor(Recorder(), flush_interval=60, capacity=2)
    for _ in range(3):  # three full buffers within one interval
        for name in tracks(5):
            processor.track(name, USER, None, None)
        processor.flush()
    assert processor.dropped == 9
    assert warnings_of(caplog) == ["dropped 3 analytics events: the buffer (capacity 2) was full"]
    processor.stop()  # closing: the last flush tells of the rest
    processor.flush()
    assert warnings_of(caplog)[1:] == [
        "dropped 6 analytics events: the buffer (capacity 2) was full"
    ]
    # A short interval: a new warning once it has passed.
    caplog.clear()
    processor = EventProcessor(Recorder(), flush_interval=0.05, capacity=1)
    processor.identify(USER)
    processor.identify(USER)
    processor.flush()
    assert len(warnings_of(caplog)) == 1
    processor.identify(USER)
    processor.identify(USER)

    def warned_again() -> bool:
        processor.flush()
        return len(warnings_of(caplog)) == 2

    wait_for(warned_again, 5, "the next warning")
    assert processor.dropped == 2


def test_drops_from_many_threads_are_counted_exactly() -> None:
    recorder = Recorder()
    processor = EventProcessor(recorder, flush_interval=60, capacity=100)
    threads, each = 4, 2_000
    start = threading.Barrier(threads)

    def produce() -> None:
        start.wait(10)
        for name in tracks(each):
            processor.track(name, USER, None, None)

    workers = [threading.Thread(target=produce) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert processor.dropped == threads * each - 100
    processor.flush()
    assert len(recorder.events) == 100


def test_a_client_buffer_is_bounded_by_events_capacity(env: Env, database: Engine) -> None:
    with Client(env.key, url=env.url, flush_interval=60, events_capacity=5) as client:
        for name in tracks(8):
            client.track(name, USER)
        events = client._core.events
        assert events is not None
        assert events.dropped == 3
        client.flush()
    assert [e["name"] for e in custom_events(database, env)] == ["e3", "e4", "e5", "e6", "e7"]


# ------------------------------------------------------------------- forking


def test_a_forked_child_sends_its_own_counts_and_not_its_parents(
    env: Env, database: Engine
) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url, flush_interval=60) as client:
        for _ in range(100):
            client.variation("f", USER, True)
        client.track("before-fork", USER)
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a threaded process may deadlock; forking
            # such a process (gunicorn --preload, Celery prefork) is what is tested.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never return into pytest
            code = 1
            try:
                for _ in range(7):
                    client.variation("f", USER, True)
                client.track("in-child", USER)
                client.flush()
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The child sent its 7, and neither the parent's 100 nor its event.
        assert [row[2] for row in summaries(database, env)] == [7]
        assert [e["name"] for e in custom_events(database, env)] == ["in-child"]
        client.variation("f", USER, True)
        client.flush()
    assert [row[2] for row in summaries(database, env)] == [7, 101]
    assert counts(database, env) == {("f", "off"): 108}
    assert sorted(e["name"] for e in custom_events(database, env)) == ["before-fork", "in-child"]

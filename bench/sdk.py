"""SDK benchmark: ``Client.variation`` against the bare engine and LaunchDarkly; updates.

Run with ``make bench-sdk`` (or ``python bench/sdk.py``). Starts its own ``vexil serve``
(one worker process, SQLite, on a free loopback port), loads each workload of
``workloads.py`` into a project of its own through the admin API, and connects a real
``Client`` to each (streaming, events on). In the same run and process it measures, on
the same flags and the same 10,000 contexts built before timing:

* the bare engine, ``Ruleset.evaluate`` on a ruleset built from the workload document;
* ``Client.variation``, counting every evaluation for the summaries it sends;
* LaunchDarkly's ``LDClient.variation`` with events on (sent to a local sink).

Rounds are interleaved (engine, client, LaunchDarkly, then again) and each figure is
the best of them, with the garbage collector paused during a round, as in
``engine.py``. Then: applying one stream change to a client holding 10,000 W2-like
flags (``FlagState.apply_group``), and the time from an admin API write to a client's
``on_change`` callback, through the server's stream. Results go to standard output
as Markdown tables.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

import workloads
from _services import ADMIN_PASSWORD, VexilServer, sdk_key
from engine import best_of
from latency import summary_ms
from vexil import Client, Ruleset
from vexil.sdk._state import FlagState, StreamEvent, changed_flags

WORKLOADS = {
    "w1": workloads.w1_document,
    "w2": workloads.w2_document,
    "w3": workloads.w3_document,
}


# ------------------------------------------------------------- the server side


def admin_client(server: VexilServer) -> httpx.Client:
    """An admin API client with a token: a password (argon2) would dominate the timing."""
    with server.admin() as admin:
        token = admin.post("/api/v1/tokens", json={"name": "bench-sdk", "role": "admin"}).json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=30)


def load_project(api: httpx.Client, project: str, document: dict[str, Any]) -> str:
    """A project holding ``document``'s flags, created through the admin API; its SDK key."""
    api.post("/api/v1/projects", json={"key": project}).raise_for_status()
    for key, flag in document["flags"].items():
        targeting = {name: value for name, value in flag.items() if name != "variations"}
        body = {"key": key, "variations": flag["variations"], "targeting": targeting}
        api.post(f"/api/v1/projects/{project}/flags", json=body).raise_for_status()
    return str(sdk_key(api, project))


EVENT_SINK = """
import http.server
class Sink(http.server.BaseHTTPRequestHandler):
    posts = 0
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Sink.posts += 1
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        body = str(Sink.posts).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class EventSink:
    """A process that accepts LaunchDarkly's event posts with 202 and counts them."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", EVENT_SINK], stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def posts(self) -> int:
        return int(httpx.get(self.url, timeout=5).text)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# ---------------------------------------------------------------- contenders


class Engine:
    """The bare engine: ``Ruleset.evaluate``, as in ``engine.py``."""

    NAME = "Vexil engine, `Ruleset.evaluate`"

    def __init__(self, document: dict[str, Any]) -> None:
        self.ruleset = Ruleset.from_data(document)

    def prepare(self, context: dict[str, Any]) -> Any:
        return context

    def evaluator(self, key: str) -> Callable[[Any], Any]:
        evaluate = self.ruleset.evaluate
        return lambda ctx: evaluate(key, ctx)

    def all_flags(self, context: Any) -> Any:
        return self.ruleset.evaluate_all(context)

    def each_flag(self, keys: list[str]) -> Callable[[Any], None]:
        evaluate = self.ruleset.evaluate

        def run(ctx: Any) -> None:
            for key in keys:
                evaluate(key, ctx)

        return run

    def close(self) -> None:
        pass


class VexilClient:
    """A ``Client`` streaming from the server, events on (the defaults)."""

    NAME = "Vexil `Client.variation`, events on"

    def __init__(self, url: str, key: str, document: dict[str, Any]) -> None:
        self.client = Client(key, url=url, init_timeout=15)
        if not self.client.is_initialized:
            raise RuntimeError(f"the client did not get its flags: {self.client!r}")
        self.defaults = {k: _fallback(f) for k, f in document["flags"].items()}

    def prepare(self, context: dict[str, Any]) -> Any:
        return context

    def evaluator(self, key: str) -> Callable[[Any], Any]:
        variation, default = self.client.variation, self.defaults[key]
        return lambda ctx: variation(key, ctx, default)

    def all_flags(self, context: Any) -> Any:
        return self.client.all_flags(context)

    def each_flag(self, keys: list[str]) -> Callable[[Any], None]:
        variation = self.client.variation
        pairs = [(key, self.defaults[key]) for key in keys]

        def run(ctx: Any) -> None:
            for key, default in pairs:
                variation(key, ctx, default)

        return run

    def close(self) -> None:
        self.client.close()


class LaunchDarkly:
    """``LDClient.variation`` on the flags of ``peers/launchdarkly.py``, with events on."""

    NAME = f"LaunchDarkly {version('launchdarkly-server-sdk')} `variation`, events on"

    def __init__(self, document: dict[str, Any], events_uri: str) -> None:
        import ldclient
        from ldclient.config import Config
        from ldclient.integrations import Files

        from peers import launchdarkly
        from peers._document import ScratchDir, read_flags

        flags = read_flags(document)
        scratch = ScratchDir("vexil-bench-ld-")
        path = scratch.write_json(
            "flags.json", {"flags": {f.key: launchdarkly.to_ld_flag(f) for f in flags}}
        )
        config = Config(
            sdk_key="vexil-bench-offline",
            update_processor_class=Files.new_data_source(paths=[path]),
            send_events=True,
            events_uri=events_uri,
            diagnostic_opt_out=True,
        )
        client = ldclient.LDClient(config=config, start_wait=5)
        if not client.is_initialized():
            raise RuntimeError("the LaunchDarkly file data source did not load the flags")
        self.client = client
        self.peer = launchdarkly.Peer(client, {f.key: f.off_value for f in flags}, scratch)

    def prepare(self, context: dict[str, Any]) -> Any:
        return self.peer.prepare(context)

    def evaluator(self, key: str) -> Callable[[Any], Any]:
        return self.peer.evaluator(key)

    def all_flags(self, context: Any) -> Any:
        return self.peer.all_flags(context)

    def each_flag(self, keys: list[str]) -> Callable[[Any], None]:
        evaluators = [self.peer.evaluator(key) for key in keys]

        def run(ctx: Any) -> None:
            for evaluate in evaluators:
                evaluate(ctx)

        return run

    def close(self) -> None:
        self.peer.close()  # flushes the last events


def _fallback(flag: dict[str, Any]) -> Any:
    return flag["variations"][flag["off_variation"]]


# ---------------------------------------------------------------- evaluation


def interleaved(
    runs: Mapping[str, Callable[[], object]], rounds: int, count: int
) -> dict[str, float]:
    """Microseconds per item: best of ``rounds`` for each run, the runs taking turns."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], best_of(run, 1))
    return {name: seconds / count * 1e6 for name, seconds in best.items()}


def loop(evaluate: Callable[[Any], Any], contexts: list[Any]) -> Callable[[], None]:
    def run() -> None:
        for ctx in contexts:
            evaluate(ctx)

    return run


def check_same(engine: Engine, client: VexilClient, contexts: list[dict[str, Any]]) -> None:
    """The client must serve what the engine computes from the workload document."""
    for ctx in contexts:
        expected = {key: d.value for key, d in engine.ruleset.evaluate_all(ctx).items()}
        if client.client.all_flags(ctx) != expected:
            raise RuntimeError(f"the client and the engine disagree for {ctx!r}")


def measure_evaluation(
    server: VexilServer, keys: dict[str, str], sink: EventSink, rounds: int
) -> dict[str, dict[str, float]]:
    contexts = workloads.contexts()
    results: dict[str, dict[str, float]] = {"engine": {}, "client": {}, "ld": {}}
    for workload, make in WORKLOADS.items():
        document = make()
        print(f"  measuring {workload.upper()} ...", file=sys.stderr)
        engine = Engine(document)
        contenders: dict[str, Any] = {"engine": engine}
        try:
            contenders["client"] = client = VexilClient(server.base_url, keys[workload], document)
            contenders["ld"] = LaunchDarkly(document, sink.url)
            sample = contexts if workload != "w3" else contexts[:1000]
            check_same(engine, client, sample)
            prepared = {name: [c.prepare(x) for x in sample] for name, c in contenders.items()}
            if workload != "w3":
                runs = {
                    name: loop(c.evaluator(workload), prepared[name])
                    for name, c in contenders.items()
                }
                for name, value in interleaved(runs, rounds, len(sample)).items():
                    results[name][workload.upper()] = value
                continue
            # W3: each SDK's "all flags" call, then the same 100 flags one call at a time.
            flag_keys = list(document["flags"])
            for column, runs in (
                ("W3", {name: loop(c.all_flags, prepared[name]) for name, c in contenders.items()}),
                (
                    "W3v",
                    {
                        name: loop(c.each_flag(flag_keys), prepared[name])
                        for name, c in contenders.items()
                    },
                ),
            ):
                for name, value in interleaved(runs, rounds, len(sample)).items():
                    results[name][column] = value
        finally:
            for contender in contenders.values():
                contender.close()
    return results


# ------------------------------------------------------------------- updates


def measure_apply(flags: int, changes: int) -> dict[str, float]:
    """One stream patch applied to a state holding ``flags`` W2-like flags, ``changes`` times."""
    document = workloads.big_document(flags)
    state = FlagState(lambda old, new, revision, touched: None)
    state.replace(Ruleset.from_data(document), 1)
    groups: list[list[StreamEvent]] = []
    for i in range(changes):
        key = f"flag-{i * 7919 % flags:05d}"
        flag = dict(document["flags"][key])
        # Alternately a toggle and an edited rule: both are one whole flag on the stream.
        if i % 2:
            flag["on"] = not flag["on"]
        else:
            rules = [dict(rule) for rule in flag["rules"]]
            rules[0] = {**rules[0], "id": f"edited-{i}"}
            flag["rules"] = rules
        groups.append([("patch", {"kind": "flag", "key": key, "object": flag})])
    times, diffs = [], []
    for revision, group in enumerate(groups, start=2):
        old = state.ruleset
        start = time.perf_counter()
        if not state.apply_group(group, revision):
            raise RuntimeError(f"the change was refused: {group!r}")
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        key = group[0][1]["key"]
        changed = changed_flags(old, state.ruleset, (frozenset([key]), frozenset()))
        diffs.append(time.perf_counter() - start)
        assert changed == [key], changed
    return {
        "flags": flags,
        "changes": changes,
        **summary_ms(times),
        "changed_flags_ms": statistics.median(diffs) * 1000,
    }


def measure_propagation(
    server: VexilServer, api: httpx.Client, key: str, changes: int
) -> dict[str, float]:
    """From an admin API toggle to the client's ``on_change`` callback, through the stream."""
    flag = "w1-00"
    seen = threading.Event()
    arrived: list[float] = []

    def on_change(change: Any) -> None:
        arrived.append(time.perf_counter())
        seen.set()

    url = f"/api/v1/projects/w3/environments/development/flags/{flag}/toggle"
    lags, writes = [], []
    with Client(key, url=server.base_url, init_timeout=15) as client:
        client.on_change(on_change, flag)
        for n in range(changes):
            seen.clear()
            on = n % 2 == 1  # the flag starts on
            start = time.perf_counter()
            api.post(url, json={"on": on, "comment": "benchmark"}).raise_for_status()
            writes.append(time.perf_counter() - start)
            if not seen.wait(10):
                raise RuntimeError("the change did not reach the client")
            lags.append(arrived[-1] - start)
            if client.variation(flag, {"key": "u"}, None) is not on:
                raise RuntimeError("the client saw the change but does not serve it")
            time.sleep(0.02)
    return {
        "changes": changes,
        **summary_ms(lags),
        "write_p50_ms": statistics.median(writes) * 1000,
    }


# ---------------------------------------------------------------------- main


class Problems(logging.Handler):
    """Counts warnings from the SDK (a failed event post would show here)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def report(
    evals: dict[str, dict[str, float]], apply: dict[str, float], lag: dict[str, float]
) -> None:
    engine, client, ld = evals["engine"], evals["client"], evals["ld"]
    print(
        "| | W1 (us/eval) | W2 (us/eval) | W3 all flags (us/100 flags) "
        "| W3 as 100 `variation` calls (us) |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, r in (
        (Engine.NAME, engine),
        (VexilClient.NAME, client),
        (LaunchDarkly.NAME, ld),
    ):
        print(f"| {name} | {r['W1']:.3f} | {r['W2']:.3f} | {r['W3']:.1f} | {r['W3v']:.1f} |")
    ratio = " / ".join(f"{client[w] / engine[w]:.2f}x" for w in ("W1", "W2", "W3", "W3v"))
    print(f"| client vs engine | {ratio.replace(' / ', ' | ')} |")
    ratio = " / ".join(f"{ld[w] / client[w]:.1f}x" for w in ("W1", "W2", "W3", "W3v"))
    print(f"| LaunchDarkly vs client | {ratio.replace(' / ', ' | ')} |")
    print()
    print("| target | measured |")
    print("|---|---|")
    print(
        f"| `client.variation` W1 <= 0.75 us, within 1.5x of the engine "
        f"| {client['W1']:.3f} us ({client['W1'] / engine['W1']:.2f}x) |"
    )
    print(
        f"| `client.variation` W2 <= 4.5 us, within 1.5x of the engine "
        f"| {client['W2']:.3f} us ({client['W2'] / engine['W2']:.2f}x) |"
    )
    print(
        f"| one flag change applied to {apply['flags']:,.0f} flags, <= 1 ms "
        f"| median {apply['p50_ms']:.3f} ms, p99 {apply['p99_ms']:.3f} ms, "
        f"max {apply['max_ms']:.3f} ms ({apply['changes']:.0f} changes) |"
    )
    print(
        f"| admin API write to the client's `on_change` (100 flags) "
        f"| p50 {lag['p50_ms']:.1f} ms, p99 {lag['p99_ms']:.1f} ms, "
        f"max {lag['max_ms']:.1f} ms ({lag['changes']:.0f} changes; the write's own "
        f"request, p50 {lag['write_p50_ms']:.1f} ms) |"
    )
    print(
        f"\nWorking out which flags changed, for `on_change` listeners (off the stream's "
        f"thread), on {apply['flags']:,.0f} flags: median {apply['changed_flags_ms']:.3f} ms."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--flags", type=int, default=10_000, help="for the update benchmark")
    parser.add_argument("--changes", type=int, default=200, help="for the update benchmark")
    parser.add_argument("--propagation", type=int, default=50, help="changes through the stream")
    args = parser.parse_args()
    problems = Problems()
    logging.getLogger("vexil").addHandler(problems)
    work = Path(tempfile.mkdtemp(prefix="vexil-bench-sdk-"))
    server = VexilServer(
        f"sqlite:///{work / 'bench.db'}",
        work,
        VEXIL_LOG_LEVEL="warning",
        VEXIL_ADMIN_PASSWORD=ADMIN_PASSWORD,
    ).start()
    sink = EventSink()
    try:
        api = admin_client(server)
        keys = {name: load_project(api, name, make()) for name, make in WORKLOADS.items()}
        evals = measure_evaluation(server, keys, sink, args.rounds)
        ld_posts = sink.posts()
        print("  measuring propagation ...", file=sys.stderr)
        lag = measure_propagation(server, api, keys["w3"], args.propagation)
        api.close()
    finally:
        sink.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("  measuring updates ...", file=sys.stderr)
    apply = measure_apply(args.flags, args.changes)
    if ld_posts == 0:
        raise RuntimeError("LaunchDarkly sent no events: they were not on")
    if problems.records:
        for record in problems.records:
            print(f"  SDK warning: {record.getMessage()}", file=sys.stderr)
    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores")
    print(f"LaunchDarkly posted {ld_posts} event payloads to the local sink\n")
    report(evals, apply, lag)


if __name__ == "__main__":
    main()

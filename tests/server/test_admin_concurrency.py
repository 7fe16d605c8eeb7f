"""Versions, ETag and If-Match: concurrent writers never lose an update (SQLite, PostgreSQL)."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from _admin_api import (
    API,
    BOOL,
    create_flag,
    error_of,
    etag,
    flags_url,
    root_client,
    segments_url,
    targeting_url,
)

from _services import VexilServer, sdk_key

THREADS, ROUNDS = 8, 10


def run_together(server: VexilServer, work: Callable[[httpx.Client, int], Any]) -> list[Any]:
    """``work(client, i)`` in THREADS threads at once, each with its own connection."""
    barrier = threading.Barrier(THREADS)
    token = root_client(server).headers["Authorization"]

    def one(i: int) -> Any:
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": token}, timeout=30
        ) as client:
            barrier.wait()
            return work(client, i)

    with ThreadPoolExecutor(THREADS) as pool:
        return list(pool.map(one, range(THREADS)))


def add_tag(flag: dict[str, Any], tag: str) -> dict[str, Any]:
    return {"tags": [*flag["tags"], tag]}


def include(segment: dict[str, Any], key: str) -> dict[str, Any]:
    return {"included": [*segment.get("included", []), key]}


def read_modify_write(
    client: httpx.Client,
    url: str,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    write: Callable[..., httpx.Response],
) -> tuple[int, int]:
    """Read, change, write with If-Match; on 409 start again. Returns (version, conflicts)."""
    conflicts = 0
    for _ in range(THREADS * ROUNDS):  # a writer may lose to each other one each round
        current = client.get(url)
        assert current.status_code == 200, current.text
        body = change(current.json())
        response = write(url, json=body, headers={"If-Match": current.headers["ETag"]})
        if response.status_code == 409:
            assert response.json()["error"]["current_version"] > etag(current)
            conflicts += 1
            continue
        assert response.status_code == 200, response.text
        return etag(response), conflicts
    raise AssertionError(f"no write got through in {conflicts} attempts")


# --------------------------------------------------------------------- ETags


def test_every_versioned_resource_answers_with_an_etag(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    api.put(segments_url(project, key="s"), json={"included": ["u-1"]})
    urls = [
        f"{API}/projects/{project}",
        f"{API}/projects/{project}/environments/development",
        flags_url(project, "f"),
        targeting_url(project, "f"),
        segments_url(project, key="s"),
    ]
    for url in urls:
        assert etag(api.get(url)) == 1, url


@pytest.mark.parametrize(
    ("url", "method", "body"),
    [
        ("/api/v1/projects/{p}", "PATCH", {"name": "x"}),
        ("/api/v1/projects/{p}/environments/development", "PATCH", {"name": "x"}),
        ("/api/v1/projects/{p}/flags/f", "PATCH", {"description": "x"}),
        ("/api/v1/projects/{p}/environments/development/flags/f", "PUT", {"on": True}),
        ("/api/v1/projects/{p}/environments/development/flags/f/toggle", "POST", {"on": True}),
        ("/api/v1/projects/{p}/environments/development/segments/s", "PUT", {"included": []}),
    ],
)
def test_a_stale_if_match_is_409_with_the_current_version_and_writes_nothing(
    api: httpx.Client, project: str, url: str, method: str, body: dict[str, Any]
) -> None:
    create_flag(api, project, "f")
    api.put(segments_url(project, key="s"), json={"included": ["u-1"]})
    url = url.format(p=project)
    read = url.removesuffix("/toggle")
    first = api.request(method, url, json=body, headers={"If-Match": '"1"'})
    assert first.status_code == 200, first.text
    before = api.get(read).json()
    stale = api.request(method, url, json=body, headers={"If-Match": '"1"'})
    error = error_of(stale, 409)
    assert (error["code"], error["current_version"]) == ("conflict", 2)
    assert stale.headers["ETag"] == '"2"'
    assert api.get(read).json() == before
    for form in ('"{}"', "{}", 'W/"{}"', "*"):
        value = form.format(etag(api.get(read)))
        again = api.request(method, url, json=body, headers={"If-Match": value})
        assert again.status_code == 200, (value, again.text)


@pytest.mark.parametrize("value", ["abc", '"1.5"', "1, 2"])
def test_an_unreadable_if_match_is_400(api: httpx.Client, project: str, value: str) -> None:
    create_flag(api, project, "f")
    url = f"{targeting_url(project, 'f')}/toggle"
    error = error_of(api.post(url, json={"on": True}, headers={"If-Match": value}), 400)
    assert error["field"] == "If-Match"
    assert api.get(targeting_url(project, "f")).json()["on"] is False


# ---------------------------------------------------------- racing writers


@pytest.mark.slow
def test_concurrent_targeting_writers_lose_no_update(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    """8 threads x 10 read-modify-writes of one flag's targets, retrying on 409."""
    create_flag(api, project, "f")
    url = targeting_url(project, "f")

    def append(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        def change(current: dict[str, Any]) -> dict[str, Any]:
            body = {k: v for k, v in current.items() if k not in ("version", "updated_at")}
            targets = body.setdefault("targets", {})
            targets["on"] = [*targets.get("on", []), key]
            return body

        return change

    def work(client: httpx.Client, i: int) -> tuple[list[int], int]:
        versions, conflicts = [], 0
        for n in range(ROUNDS):
            version, lost = read_modify_write(client, url, append(f"u-{i}-{n}"), client.put)
            versions.append(version)
            conflicts += lost
        return versions, conflicts

    results = run_together(server, work)
    final = api.get(url).json()
    expected = {f"u-{i}-{n}" for i in range(THREADS) for n in range(ROUNDS)}
    assert len(final["targets"]["on"]) == THREADS * ROUNDS
    assert set(final["targets"]["on"]) == expected
    assert final["version"] == 1 + THREADS * ROUNDS
    versions = [v for vs, _ in results for v in vs]
    assert sorted(versions) == list(range(2, 2 + THREADS * ROUNDS))  # each granted once
    entries = api.get(
        f"{API}/audit", params={"project": project, "flag": "f", "limit": 1000}
    ).json()["items"]
    assert Counter(e["action"] for e in entries)["targeting.update"] == THREADS * ROUNDS
    served = httpx.get(
        f"{server.base_url}/sdk/v1/ruleset", headers={"Authorization": sdk_key(api, project)}
    ).json()
    assert set(served["flags"]["f"]["targets"]["on"]) == expected


def test_concurrent_flag_and_segment_writers_lose_no_update(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    """Half the threads change a flag's tags, half a segment's list: both sets complete."""
    create_flag(api, project, "f")
    rounds = ROUNDS // 2

    def work(client: httpx.Client, i: int) -> None:
        for n in range(rounds):
            if i % 2:
                read_modify_write(
                    client,
                    flags_url(project, "f"),
                    functools.partial(add_tag, tag=f"t-{i}-{n}"),
                    client.patch,
                )
            else:
                read_modify_write(
                    client,
                    f"{API}/projects/{project}/environments/production/segments/s",
                    functools.partial(include, key=f"u-{i}-{n}"),
                    client.put,
                )

    api.put(segments_url(project, "production", "s"), json={"included": []})
    run_together(server, work)
    flag = api.get(flags_url(project, "f")).json()
    segment = api.get(segments_url(project, "production", "s")).json()
    each = THREADS // 2 * rounds
    assert len(flag["tags"]) == len(set(flag["tags"])) == each
    assert len(segment["included"]) == len(set(segment["included"])) == each
    assert (flag["version"], segment["version"]) == (1 + each, 1 + each)


@pytest.mark.slow
def test_racing_variation_and_targeting_writers_never_break_the_document(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    """Two threads swap a flag's variations, five serve one that comes and goes.

    Each write is checked against the other's latest state, so of two racing writers
    one is refused (422): the environment's document stays valid throughout, as a
    thread reading the SDK ruleset all along sees.
    """
    targeting = {"off_variation": "a", "default": "a"}
    create_flag(api, project, "f", variations={"a": "A", "b": "B"}, targeting=targeting)
    url = targeting_url(project, "f")
    key = sdk_key(api, project)
    with_b, without_b = {"a": "A", "b": "B"}, {"a": "A", "c": "C"}
    writing = threading.Event()
    writers_left = [THREADS - 1]
    lock = threading.Lock()

    def observe(client: httpx.Client) -> Counter[int]:
        seen: Counter[int] = Counter()
        while writing.is_set():
            response = client.get("/sdk/v1/ruleset", headers={"Authorization": key})
            flag = response.json()["flags"]["f"] if response.status_code == 200 else {}
            valid = flag.get("default", "a") in flag.get("variations", {})
            seen[response.status_code if valid else 0] += 1
        return seen

    def work(client: httpx.Client, i: int) -> Counter[int]:
        if i == THREADS - 1:
            return observe(client)
        statuses: Counter[int] = Counter()
        for n in range(ROUNDS):
            if i < 2:
                variations = with_b if n % 2 else without_b
                response = client.patch(flags_url(project, "f"), json={"variations": variations})
            else:
                response = client.put(url, json={"on": True, "default": "b" if n % 2 else "a"})
            statuses[response.status_code] += 1
        with lock:
            writers_left[0] -= 1
            if not writers_left[0]:
                writing.clear()
        return statuses

    writing.set()
    *writers, observed = run_together(server, work)
    totals: Counter[int] = sum(writers, Counter())
    assert set(totals) <= {200, 422}, totals
    assert totals[200] >= ROUNDS, totals
    assert set(observed) == {200}, observed  # 0: a served default the flag does not have
    final = httpx.get(f"{server.base_url}/sdk/v1/ruleset", headers={"Authorization": key})
    assert final.json()["flags"]["f"]["default"] in final.json()["flags"]["f"]["variations"]


def test_racing_toggles_without_if_match_all_apply_in_turn(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    create_flag(api, project, "f")
    url = f"{targeting_url(project, 'f', 'production')}/toggle"

    def work(client: httpx.Client, i: int) -> list[int]:
        return [client.post(url, json={"on": n % 2 == 0}).status_code for n in range(ROUNDS)]

    statuses = [s for result in run_together(server, work) for s in result]
    assert statuses == [200] * (THREADS * ROUNDS)
    assert api.get(targeting_url(project, "f", "production")).json()["version"] == 81


def test_racing_creates_of_one_key_make_one_and_refuse_the_rest(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    def work(client: httpx.Client, i: int) -> tuple[int, int, int]:
        flag = client.post(flags_url(project), json={"key": "same", "variations": BOOL})
        segment = client.post(segments_url(project), json={"key": "same"})
        env = client.post(f"{API}/projects/{project}/environments", json={"key": "same"})
        return flag.status_code, segment.status_code, env.status_code

    results = run_together(server, work)
    for made in zip(*results, strict=True):
        assert sorted(made) == [201] + [409] * (THREADS - 1), made
    assert api.get(flags_url(project)).json()["total"] == 1

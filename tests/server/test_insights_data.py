"""The dashboard's data against a real server, on SQLite and PostgreSQL: a flag's
insights from the summaries SDKs post (counted by the insights service in this
process, at a moment the test chooses, and served as ``insights.json``), and the
flag list's stale marking and filters, which run in SQL, checked against the admin
API's answers."""

from __future__ import annotations

import html
import json
import math
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from _admin_api import create_flag, flags_url, root_client, targeting_url
from sqlalchemy import create_engine, update

from _services import ADMIN_PASSWORD, VexilServer, sdk_key
from vexil.server._bus import Hub
from vexil.server._db import make_engine
from vexil.server._insights import insights_for
from vexil.server._settings import Settings
from vexil.server._store import Store
from vexil.server._tables import flags

HOUR, DAY = 3600, 86400

#: A signed-in dashboard session per server (signing in costs an argon2 check).
_sessions: dict[str, httpx.Cookies] = {}


@pytest.fixture
def api(server: VexilServer) -> Iterator[httpx.Client]:
    with root_client(server) as client:
        yield client


@pytest.fixture
def web(server: VexilServer) -> Iterator[httpx.Client]:
    """A client signed in to the dashboard as the admin, through the sign-in form."""
    cookies = _sessions.get(server.database_url)
    if cookies is None:
        with httpx.Client(base_url=server.base_url, timeout=15) as client:
            form = client.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None, form.text
            signed_in = client.post(
                "/login",
                data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": token[1]},
            )
            assert signed_in.status_code == 303, signed_in.text
            cookies = httpx.Cookies({"vexil_session": client.cookies["vexil_session"]})
        _sessions[server.database_url] = cookies
    with httpx.Client(base_url=server.base_url, timeout=15, cookies=cookies) as client:
        yield client


@pytest.fixture
def store(server: VexilServer) -> Iterator[Store]:
    """The server's database, opened in this process: the insights service's own."""
    engine = make_engine(Settings(database_url=server.database_url))
    try:
        yield Store(engine, Hub())
    finally:
        engine.dispose()


def post_summaries(
    client: httpx.Client, key: str, *summaries: tuple[float, str, dict[str | None, int]]
) -> None:
    """Post (period_end, flag, {variant: count}) summaries, each a minute long."""
    body = [
        {
            "kind": "summary",
            "start": end - 60,
            "end": end,
            "counters": [{"flag": flag, "variant": v, "count": n} for v, n in counts.items()],
        }
        for end, flag, counts in summaries
    ]
    response = client.post(
        "/sdk/v1/events",
        content=json.dumps(body),
        headers={"Authorization": key, "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def bucket(period: dict[str, Any], start: float) -> dict[str, Any]:
    return next(b for b in period["buckets"] if b["start"] == iso(start))


# ------------------------------------------------------------------ insights


def test_insights_count_per_variant_hour_and_day(
    server: VexilServer, admin: httpx.Client, api: httpx.Client, store: Store, project: str
) -> None:
    colors = {"red": "#f00", "green": "#0f0", "blue": "#00f"}
    create_flag(api, project, "color", variations=colors)
    create_flag(api, project, "other")
    # Half past the last full hour: every summary is in the past, and the hour the
    # service counts in is the one chosen, however long the test takes.
    now = math.floor(time.time() / HOUR) * HOUR - HOUR / 2
    hour = math.floor(now / HOUR) * HOUR
    day = math.floor(now / DAY) * DAY
    recent, earlier, days_ago, long_ago = (
        now - 5,
        hour - 2 * HOUR + 30,
        day - 3 * DAY + 60,
        now - 10 * DAY,
    )
    with httpx.Client(base_url=server.base_url, timeout=15) as sdk:
        post_summaries(
            sdk,
            sdk_key(admin, project),
            (recent, "color", {"red": 5, "green": 3}),
            (earlier, "color", {"red": 7, None: 2}),
            (days_ago, "color", {"blue": 11}),
            (long_ago, "color", {"red": 100}),
            (recent, "other", {"on": 1000}),
        )

    insights = insights_for(store, project, "color", now=now)
    assert insights["generated_at"] == iso(now)
    assert (insights["project"], insights["flag"]) == (project, "color")
    assert sorted(insights["variants"]) == sorted([*colors, "(default)"])
    assert insights["variants"][-1] == "(default)"
    dev, prod = insights["environments"]
    assert (dev["key"], prod["key"]) == ("development", "production")

    last = datetime.fromisoformat(dev["last_evaluated"]).timestamp()
    assert last == pytest.approx(recent, abs=0.01)
    assert prod["last_evaluated"] == "never"

    zero = dict.fromkeys(insights["variants"], 0)
    hours = dev["periods"]["24h"]
    assert len(hours["buckets"]) == 24
    assert hours["buckets"][-1]["start"] == iso(hour)
    assert bucket(hours, hour)["counts"] == {**zero, "red": 5, "green": 3}
    assert bucket(hours, hour - 2 * HOUR)["counts"] == {**zero, "red": 7, "(default)": 2}
    assert bucket(hours, hour - 2 * HOUR)["total"] == 9
    assert hours["totals"] == {**zero, "red": 12, "green": 3, "(default)": 2}
    assert hours["total"] == 17
    assert sum(b["total"] for b in hours["buckets"]) == 17

    days = dev["periods"]["7d"]
    assert len(days["buckets"]) == 7
    assert days["buckets"][-1]["start"] == iso(day)
    assert bucket(days, day - 3 * DAY)["counts"] == {**zero, "blue": 11}
    expected_days: dict[float, dict[str, int]] = {}
    for end, counts in ((recent, {"red": 5, "green": 3}), (earlier, {"red": 7, "(default)": 2})):
        cell = expected_days.setdefault(math.floor(end / DAY) * DAY, dict(zero))
        for variant, n in counts.items():
            cell[variant] += n
    for start, counts in expected_days.items():
        assert bucket(days, start)["counts"] == counts
    assert days["totals"] == {**zero, "red": 12, "green": 3, "blue": 11, "(default)": 2}
    assert days["total"] == 28

    for period in prod["periods"].values():
        assert period["total"] == 0
        assert period["totals"] == zero


def test_insights_keep_projects_and_environments_apart(
    server: VexilServer, admin: httpx.Client, api: httpx.Client, web: httpx.Client, project: str
) -> None:
    create_flag(api, project, "shared")
    other = f"p-{uuid.uuid4().hex[:10]}"
    assert api.post("/api/v1/projects", json={"key": other}).status_code == 201
    create_flag(api, other, "shared")
    now = time.time()
    with httpx.Client(base_url=server.base_url, timeout=15) as sdk:
        post_summaries(sdk, sdk_key(admin, project, "production"), (now, "shared", {"on": 4}))
        post_summaries(sdk, sdk_key(admin, other), (now, "shared", {"off": 9}))
    dev, prod = web.get(f"/projects/{project}/flags/shared/insights.json").json()["environments"]
    assert dev["periods"]["24h"]["total"] == 0
    assert dev["last_evaluated"] == "never"
    assert prod["periods"]["24h"]["totals"] == {"on": 4, "off": 0}
    assert prod["periods"]["7d"]["totals"] == {"on": 4, "off": 0}


def test_insights_json_needs_a_session_and_a_flag(
    server: VexilServer, api: httpx.Client, web: httpx.Client, project: str
) -> None:
    create_flag(api, project, "f")
    url = f"/projects/{project}/flags/f/insights.json"
    with httpx.Client(base_url=server.base_url, timeout=15) as anonymous:
        refused = anonymous.get(url)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthorized"
    missing = web.get(f"/projects/{project}/flags/nope/insights.json")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    assert web.get(f"/projects/p-{uuid.uuid4().hex[:6]}/flags/f/insights.json").status_code == 404
    assert web.get(url).json()["environments"][0]["periods"]["24h"]["total"] == 0


# ------------------------------------------------------------------ the list


def listed(web: httpx.Client, project: str, **params: Any) -> dict[str, Any]:
    """The flag list page, read back: total, keys in order, stale marks, pages."""
    response = web.get(f"/projects/{project}/flags", params=params)
    assert response.status_code == 200, response.text
    page = response.text
    total = re.search(r"(\d+) flags?</p>", page)
    assert total is not None
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    keys, stale = [], {}
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        key = re.search(r'<div class="muted mono">([^<]*)</div>', row)
        if key is None:
            continue
        keys.append(html.unescape(key[1]))
        mark = re.search(r'title="not evaluated for ([^ ]+) days">stale<', row)
        if mark:
            stale[keys[-1]] = mark[1]
    pages = re.search(r"Page (\d+) of (\d+)", page)
    return {
        "total": int(total[1]),
        "keys": keys,
        "stale": stale,
        "page": (int(pages[1]), int(pages[2])) if pages else (1, 1),
    }


def backdate(server: VexilServer, project_flags: list[str], days: int) -> None:
    """Make flags older, straight in the database: the API cannot."""
    url = server.database_url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(flags)
                .where(flags.c.key.in_(project_flags))
                .values(created_at=datetime.now(UTC) - timedelta(days=days))
            )
    finally:
        engine.dispose()


def test_the_list_marks_flags_not_evaluated_lately_as_stale(
    server: VexilServer, admin: httpx.Client, api: httpx.Client, web: httpx.Client, project: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    fresh, old, young, forgotten = (f"{n}-{suffix}" for n in ("fresh", "old", "young", "forgot"))
    for key in (fresh, old, young, forgotten):
        create_flag(api, project, key)
    backdate(server, [forgotten], days=30)
    now = time.time()
    with httpx.Client(base_url=server.base_url, timeout=15) as sdk:
        post_summaries(
            sdk,
            sdk_key(admin, project),
            (now, fresh, {"on": 1}),
            (now - 10 * DAY - 60, old, {"on": 1}),
            (now - 20 * DAY, fresh, {"off": 1}),
        )

    everything = listed(web, project)
    assert everything["keys"] == sorted([fresh, old, young, forgotten])
    assert everything["stale"] == {old: "10", forgotten: "never"}
    only = listed(web, project, state="stale")
    assert (only["total"], only["keys"]) == (2, sorted([old, forgotten]))
    # Eleven days: the flag evaluated ten days ago is no longer stale.
    assert listed(web, project, stale_days=11)["stale"] == {forgotten: "never"}
    assert listed(web, project, stale_days=11, state="stale")["keys"] == [forgotten]
    # Production never evaluated anything: only the flag older than a week is stale there.
    in_production = listed(web, project, env="production", state="stale")
    assert (in_production["keys"], in_production["stale"]) == ([forgotten], {forgotten: "never"})
    assert listed(web, project, env="production", stale_days=40, state="stale")["total"] == 0


@pytest.mark.slow
def test_the_lists_filters_agree_with_the_admin_api(
    api: httpx.Client, web: httpx.Client, project: str
) -> None:
    for i in range(56):
        create_flag(
            api,
            project,
            f"flag-{i:02d}",
            name=f"Flag number {i}" if i % 5 else f"Checkout {i}",
            tags=[["alpha"], ["beta", "web"], []][i % 3],
            temporary=i % 4 != 0,
            targeting={"on": i % 7 == 0},
        )
    create_flag(
        api, project, "odd_100", name="Sale: 100% off", tags=["Promo-Spring", "café", 'say "hi"']
    )
    for i in (1, 2):
        assert (
            api.post(
                f"{targeting_url(project, f'flag-{i:02d}', 'production')}/toggle", json={"on": True}
            ).status_code
            == 200
        )
    flags_ = api.get(flags_url(project), params={"limit": 1000}).json()["items"]
    assert len(flags_) == 57

    def expect(params: dict[str, Any], keep: Any) -> None:
        wanted = [f["key"] for f in flags_ if keep(f)]
        first = listed(web, project, **params)
        assert first["total"] == len(wanted), params
        assert first["keys"] == wanted[:50], params
        if len(wanted) > 50:
            second = listed(web, project, **params, page=2)
            assert second["keys"] == wanted[50:100], params
            assert second["page"] == (2, 2)

    def admin_keys(**params: Any) -> set[str]:
        return {f["key"] for f in api.get(flags_url(project), params=params).json()["items"]}

    expect({}, lambda f: True)
    expect({"q": "CHECKOUT"}, lambda f: f["key"] in admin_keys(q="CHECKOUT"))
    expect({"q": "number 1"}, lambda f: f["key"] in admin_keys(q="number 1"))
    # % and _ are searched for as themselves, not as wildcards.
    expect({"q": "_100"}, lambda f: f["key"] == "odd_100")
    expect({"q": "0% OFF"}, lambda f: f["key"] == "odd_100")
    expect({"q": "0_"}, lambda f: False)
    # The list also searches tags (the admin API only keys and names).
    expect({"q": "promo-"}, lambda f: f["key"] == "odd_100")
    expect({"q": "café"}, lambda f: f["key"] == "odd_100")
    expect({"q": 'y "hi'}, lambda f: f["key"] == "odd_100")
    expect({"q": '", "'}, lambda f: False)
    expect({"q": "bet"}, lambda f: "beta" in f["tags"])
    expect({"tag": "beta"}, lambda f: f["key"] in admin_keys(tag="beta"))
    expect({"tag": "bet"}, lambda f: False)
    expect({"state": "on"}, lambda f: f["on"]["development"])
    expect({"state": "off"}, lambda f: not f["on"]["development"])
    expect({"state": "on", "env": "production"}, lambda f: f["on"]["production"])
    expect({"temporary": "no"}, lambda f: not f["temporary"])
    expect({"temporary": "yes"}, lambda f: f["temporary"])
    expect(
        {"q": "flag", "tag": "alpha", "state": "off", "temporary": "yes"},
        lambda f: "alpha" in f["tags"] and not f["on"]["development"] and f["temporary"],
    )
    # A page past the end shows the last one; an unknown environment, the first.
    assert listed(web, project, page=9)["page"] == (2, 2)
    assert listed(web, project, state="on", env="nowhere")["total"] == sum(
        f["on"]["development"] for f in flags_
    )

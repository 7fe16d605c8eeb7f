"""A flag's evaluations: per environment, per variant, over the last 24 hours and 7 days.

The numbers come from the summaries SDKs send (``evaluation_counts``: one row per flag,
variant and flush period of an SDK) and are added up by the database, one query per
flag page. The flag page includes ``flag_insights.html`` with ``insights_for``'s dict;
the charts in it are SVG drawn here, on the server, with a table of the same numbers.
``/projects/{project}/flags/{key}/insights.json`` gives the same dict.

Buckets are UTC hours and UTC days. A summary row counts in the bucket holding its
``period_end``: SDKs flush every few seconds to a minute, far shorter than an hour, so
splitting a row across buckets would move almost nothing and would cost the simple
``GROUP BY`` on the index. Hours whose summaries end in the future (a fast clock) are
left out, as are the buckets' rows that end before the windows start.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection, Integer, cast, func, select

from vexil.server._errors import ApiError, Unauthorized
from vexil.server._flags import flag_row
from vexil.server._projects import project_row
from vexil.server._store import Store
from vexil.server._tables import environments, evaluation_counts
from vexil.server.web._common import environment, store_of
from vexil.server.web._sessions import COOKIE, lookup

router = APIRouter(include_in_schema=False)

HOUR, DAY = 3600, 86400
#: The name, in the insights, of evaluations that served the caller's default
#: (``variant: null`` in a summary). Variation keys cannot contain parentheses.
DEFAULT = "(default)"

#: (key, label, bucket name, bucket seconds, number of buckets)
PERIODS = (
    ("24h", "Last 24 hours", "hour", HOUR, 24),
    ("7d", "Last 7 days", "day", DAY, 7),
)


def insights_for(
    store: Store, project: str, key: str, *, at: float | None = None
) -> dict[str, Any]:
    """A flag's evaluations per environment and variant, hourly (24 h) and daily (7 d).

    Raises ``NotFound`` for an unknown project or flag. ``at`` (Unix seconds) is now.
    """
    moment = time.time() if at is None else at
    windows = {p[0]: _window(moment, p[3], p[4]) for p in PERIODS}
    start = min(w[0] for w in windows.values())
    stop = windows["24h"][1]  # the end of this hour: later ends are a clock's error
    with store.read() as conn:
        prow = project_row(conn, project)
        variations = list(flag_row(conn, prow.id, key).variations or {})
        envs = conn.execute(
            select(
                environments.c.id,
                environments.c.key,
                environments.c.name,
                environments.c.production,
                _last_evaluated(key),
            )
            .where(environments.c.project_id == prow.id)
            .order_by(environments.c.id)
        ).all()
        hourly = _hourly(conn, [e.id for e in envs], key, start, stop)
    seen = {variant for by_env in hourly.values() for variant, _ in by_env}
    extra = sorted(v for v in seen if v not in variations and v != DEFAULT)
    variants = [*variations, *extra, *([DEFAULT] if DEFAULT in seen else [])]
    return {
        "project": project,
        "flag": key,
        "generated_at": _iso(moment),
        "bucketed_by": "period_end",
        "variants": variants,
        "environments": [
            {
                "key": env.key,
                "name": env.name,
                "production": env.production,
                "last_evaluated": "never" if env.last is None else _iso(env.last),
                "periods": {
                    p[0]: _period(p, windows[p[0]], hourly.get(env.id, {}), variants)
                    for p in PERIODS
                },
            }
            for env in envs
        ],
    }


def _window(moment: float, width: int, count: int) -> tuple[float, float]:
    """``count`` buckets of ``width`` seconds, aligned on UTC, the last one holding now."""
    stop = (math.floor(moment / width) + 1) * width
    return float(stop - count * width), float(stop)


def _last_evaluated(key: str) -> Any:
    """Per environment row: the latest period_end, one descent of the index."""
    return (
        select(func.max(evaluation_counts.c.period_end))
        .where(
            evaluation_counts.c.environment_id == environments.c.id,
            evaluation_counts.c.flag_key == key,
        )
        .scalar_subquery()
        .label("last")
    )


def _hourly(
    conn: Connection, env_ids: list[int], key: str, start: float, stop: float
) -> dict[int, dict[tuple[str, int], int]]:
    """{environment id: {(variant, hour number since the epoch): evaluations}}.

    Aggregated by the database over the rows of the (environment_id, flag_key,
    period_end) index range; days are sums of hours (both are aligned on UTC).
    """
    if not env_ids:
        return {}
    ec = evaluation_counts
    if conn.dialect.name == "sqlite":
        # Truncation is the floor here: period_end >= start > 0.
        hour: Any = cast(ec.c.period_end / HOUR, Integer)
    else:
        hour = func.floor(ec.c.period_end / HOUR)
    hour = hour.label("hour")
    rows = conn.execute(
        select(ec.c.environment_id, ec.c.variant, hour, func.sum(ec.c.count))
        .where(
            ec.c.environment_id.in_(env_ids),
            ec.c.flag_key == key,
            ec.c.period_end >= start,
            ec.c.period_end < stop,
        )
        .group_by(ec.c.environment_id, ec.c.variant, hour)
    )
    out: dict[int, dict[tuple[str, int], int]] = {}
    for env_id, variant, number, count in rows:
        cell = (DEFAULT if variant is None else str(variant), int(number))
        by_env = out.setdefault(env_id, {})
        by_env[cell] = by_env.get(cell, 0) + int(count)
    return out


def _period(
    spec: tuple[str, str, str, int, int],
    window: tuple[float, float],
    hourly: dict[tuple[str, int], int],
    variants: list[str],
) -> dict[str, Any]:
    _, label, bucket, width, count = spec
    start, stop = window
    counts = [dict.fromkeys(variants, 0) for _ in range(count)]
    for (variant, number), n in hourly.items():
        at = number * HOUR
        if start <= at < stop:
            counts[int((at - start) // width)][variant] += n
    totals = {v: sum(c[v] for c in counts) for v in variants}
    return {
        "label": label,
        "bucket": bucket,
        "start": _iso(start),
        "end": _iso(stop),
        "buckets": [
            {"start": _iso(start + i * width), "counts": c, "total": sum(c.values())}
            for i, c in enumerate(counts)
        ],
        "totals": totals,
        "total": sum(totals.values()),
    }


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


# ------------------------------------------------------------------ the charts

WIDTH, HEIGHT = 400, 220
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 12, 52
SERIES = 8


def series_class(variants: list[str], variant: str) -> str:
    """The CSS class of a variant's colour: the same in every chart of the flag."""
    if variant == DEFAULT:
        return "series-default"
    return f"series-{variants.index(variant) % SERIES}"


def chart(period: dict[str, Any], variants: list[str], where: str, flag: str) -> dict[str, Any]:
    """A stacked bar chart of a period, as coordinates for ``flag_insights.html``.

    The SVG's viewBox is ``WIDTH`` x ``HEIGHT``: it scales to the width it is given.
    """
    buckets = period["buckets"]
    hourly = period["bucket"] == "hour"
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step, top = _scale(max((b["total"] for b in buckets), default=0))
    slot = plot_w / len(buckets)
    bars, labels, rows = [], [], []
    for i, bucket in enumerate(buckets):
        start = datetime.fromisoformat(bucket["start"])
        name = _bucket_name(start, hourly)
        x = LEFT + i * slot
        segments, base = [], 0
        for variant in variants:
            n = bucket["counts"][variant]
            if n:
                y0, y1 = _y(base, top, plot_h), _y(base + n, top, plot_h)
                segments.append(
                    {
                        "y": round(y1, 2),
                        "h": round(y0 - y1, 2),
                        "cls": series_class(variants, variant),
                        "title": f"{name}: {variant} {n:,}",
                    }
                )
                base += n
        bars.append(
            {"x": round(x + slot * 0.14, 2), "w": round(slot * 0.72, 2), "segments": segments}
        )
        if not hourly or start.hour % 6 == 0:
            labels.append(
                {
                    "x": round(x + slot / 2, 2),
                    "text": f"{start:%H:%M}" if hourly else f"{start:%a}",
                    # The date under the day's first hour, and under each day.
                    "day": str(start.day) if not hourly or start.hour == 0 else "",
                    "month": f"{start:%b}",
                }
            )
        rows.append(
            {
                "label": name,
                "counts": [bucket["counts"][v] for v in variants],
                "total": bucket["total"],
            }
        )
    ticks = [
        {"y": round(_y(value, top, plot_h), 2), "label": compact(value)}
        for value in range(0, top + 1, step)
    ]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "bars": bars,
        "ticks": ticks,
        "labels": labels,
        "hourly": hourly,
        "x_title": "Hour (UTC)" if hourly else "Day (UTC)",
        "legend": [
            {"variant": v, "cls": series_class(variants, v), "total": period["totals"][v]}
            for v in variants
        ],
        "rows": rows,
        "summary": _summary(period, variants, where, flag, hourly),
    }


def _scale(highest: int) -> tuple[int, int]:
    """A round tick step (1, 2 or 5 times a power of ten) and the axis top: 2 to 5 ticks."""
    if highest <= 0:
        return 1, 1
    rough = highest / 4
    power = 10 ** max(0, math.floor(math.log10(rough))) if rough >= 1 else 1
    step = next(f * power for f in (1, 2, 5, 10) if f * power >= rough)
    return step, step * math.ceil(highest / step)


def _y(value: float, top: int, plot_h: int) -> float:
    return TOP + plot_h - value / top * plot_h


def _bucket_name(start: datetime, hourly: bool) -> str:
    return (
        f"{start:%a} {start.day} {start:%b} {start:%H}:00 UTC"
        if hourly
        else f"{start:%a} {start.day} {start:%b}"
    )


def _summary(
    period: dict[str, Any], variants: list[str], where: str, flag: str, hourly: bool
) -> str:
    """What the chart shows, in words: its accessible name."""
    span = period["label"].lower()
    total = period["total"]
    if not total:
        return f"No evaluations of {flag} in {where} in the {span}."
    parts = ", ".join(f"{v} {period['totals'][v]:,}" for v in variants if period["totals"][v])
    busiest = max(period["buckets"], key=lambda b: b["total"])
    when = _bucket_name(datetime.fromisoformat(busiest["start"]), hourly)
    unit = "hour" if hourly else "day"
    return (
        f"Evaluations of {flag} in {where}, {span}, per {unit}: {total:,} in all ({parts}). "
        f"Busiest {unit}: {when}, with {busiest['total']:,}."
    )


def compact(value: int) -> str:
    """1500 -> "1.5k": axis labels that fit."""
    for size, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if value >= size:
            return f"{value / size:.1f}".removesuffix(".0") + suffix
    return str(value)


def when(value: str, at: float | None = None) -> dict[str, str]:
    """An insights time for people: {"ago": "3 hours ago", "exact": "2026-11-23 14:05 UTC"}."""
    moment = datetime.fromisoformat(value)
    seconds = (time.time() if at is None else at) - moment.timestamp()
    return {"ago": _ago(seconds), "exact": f"{moment:%Y-%m-%d %H:%M} UTC"}


def _ago(seconds: float) -> str:
    if seconds < 60:
        return "just now" if seconds > -60 else "in the future"
    for size, unit in ((DAY, "day"), (HOUR, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


environment.globals.update(insights_chart=chart, insights_when=when)
environment.filters["thousands"] = lambda n: f"{n:,}"


# ------------------------------------------------------------------ the JSON


@router.get("/projects/{project}/flags/{key}/insights.json")
def insights_json(request: Request, project: str, key: str) -> Response:
    """The insights of a flag as JSON, for signed-in users (the dashboard's session)."""
    store = store_of(request)
    try:
        if lookup(store, request.cookies.get(COOKIE)) is None:
            raise Unauthorized("sign in to the dashboard first")
        body = insights_for(store, project, key)
    except ApiError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})

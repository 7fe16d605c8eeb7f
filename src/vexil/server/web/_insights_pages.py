"""A flag's evaluations, drawn: the insights panel of the flag page, and its JSON.

The flag page includes ``flag_insights.html`` with the dict of ``vexil.server._insights``;
the charts in it are SVG drawn here, on the server, with a table of the same numbers.
``/projects/{project}/flags/{key}/insights.json`` gives the same dict.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from vexil.server._errors import ApiError, Unauthorized
from vexil.server._insights import DAY, DEFAULT, HOUR, insights_for
from vexil.server.web._common import environment, store_of
from vexil.server.web._sessions import COOKIE, lookup

router = APIRouter(include_in_schema=False)


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
        body = insights_for(store, project, key, now=time.time())
    except ApiError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})

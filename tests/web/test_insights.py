"""A flag's evaluations and stale flags in a real Chromium, against a real server.

The charts are SVG drawn by the server from the summaries an SDK posts to
``/sdk/v1/events``; the list marks flags nobody evaluated lately as stale.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
from _web import create_flag, create_project, sign_in
from playwright.sync_api import Page, expect

from _services import VexilServer, sdk_key

DAY = 86400
COLORS = {"red": "#f00", "green": "#0f0", "blue": "#00f"}


def post_summary(
    server: VexilServer, project: str, end: float, counts: dict[str, dict[str | None, int]]
) -> None:
    """One summary of a minute ending at ``end``: {flag: {variant: count}}."""
    with server.admin() as admin:
        key = sdk_key(admin, project)
    body = [
        {
            "kind": "summary",
            "start": end - 60,
            "end": end,
            "counters": [
                {"flag": flag, "variant": variant, "count": n}
                for flag, by_variant in counts.items()
                for variant, n in by_variant.items()
            ],
        }
    ]
    response = httpx.post(
        f"{server.base_url}/sdk/v1/events",
        content=json.dumps(body),
        headers={"Authorization": key, "Content-Type": "application/json"},
        timeout=15,
    )
    assert response.status_code == 202, response.text


def fill_of(page: Page, selector: str) -> str:
    return str(page.locator(selector).first.evaluate("e => getComputedStyle(e).fill"))


def test_the_flag_page_charts_evaluations_once_they_arrive(
    page: Page, web_server: VexilServer
) -> None:
    project = create_project(web_server)
    key = f"color-{uuid.uuid4().hex[:6]}"
    create_flag(web_server, project, key, variations=COLORS)
    sign_in(page, web_server)
    url = f"{web_server.base_url}/projects/{project}/flags/{key}?env=development"
    page.goto(url)
    insights = page.locator("section#insights")
    expect(insights.get_by_role("heading", name="Evaluations")).to_be_visible()
    expect(
        insights.get_by_text("No evaluations in Development in the last 24 hours")
    ).to_be_visible()
    expect(insights.get_by_role("img")).to_have_count(0)

    post_summary(web_server, project, time.time(), {key: {"red": 1200, "green": 300, None: 5}})
    page.reload()
    day_chart = insights.get_by_role(
        "img", name=re.compile(rf"^Evaluations of {key} in Development, last 24 hours, per hour")
    )
    expect(day_chart).to_be_visible()
    expect(day_chart).to_have_accessible_name(re.compile(r"1,505 in all \(red 1,200, green 300"))
    week_chart = insights.get_by_role("img", name=re.compile(r"last 7 days, per day"))
    expect(week_chart).to_be_visible()
    expect(insights.locator("figcaption").first).to_have_text("Last 24 hours: 1,505 evaluations")
    legend = insights.get_by_role("list", name="Variants").first
    expect(legend).to_contain_text("red 1,200")
    expect(legend).to_contain_text("(default) 5")
    overview = insights.locator("table.insights-overview")
    expect(overview.get_by_role("row", name=re.compile("Production"))).to_contain_text("never")
    expect(overview.get_by_role("row", name=re.compile("Development"))).to_contain_text("just now")

    # The same numbers as a table, behind a disclosure.
    table = insights.locator("details.chart-data").first
    expect(table.get_by_role("table")).to_be_hidden()
    table.get_by_text("The numbers").click()
    expect(table.get_by_role("table")).to_be_visible()
    expect(table.get_by_role("row").last).to_contain_text("1,505")

    # Light and dark come from the stylesheet's variables.
    light = fill_of(page, "section#insights rect.series-0")
    page.emulate_media(color_scheme="dark")
    expect(page.locator("section#insights rect.series-0").first).not_to_have_css("fill", light)
    assert fill_of(page, "section#insights rect.series-0") != light

    # A phone's width: the chart scales down with its viewBox.
    page.set_viewport_size({"width": 375, "height": 800})
    box = day_chart.bounding_box()
    assert box is not None
    assert 200 < box["width"] <= 375


def test_insights_json_is_for_signed_in_users(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "banner")
    post_summary(web_server, project, time.time() - 3 * DAY, {"banner": {"on": 7}})
    url = f"{web_server.base_url}/projects/{project}/flags/banner/insights.json"
    assert page.request.get(url).status == 401
    sign_in(page, web_server)
    response = page.request.get(url)
    assert response.status == 200
    development = response.json()["environments"][0]
    assert development["periods"]["7d"]["totals"] == {"on": 7, "off": 0}
    assert development["periods"]["24h"]["total"] == 0


def test_the_list_marks_flags_not_evaluated_lately(page: Page, web_server: VexilServer) -> None:
    project = create_project(web_server)
    create_flag(web_server, project, "fresh-flag")
    create_flag(web_server, project, "old-flag")
    now = time.time()
    post_summary(web_server, project, now - 10 * DAY - 60, {"old-flag": {"on": 3}})
    post_summary(web_server, project, now, {"fresh-flag": {"off": 2}})
    sign_in(page, web_server)
    page.goto(f"{web_server.base_url}/projects/{project}/flags")
    old = page.get_by_role("row").filter(has_text="old-flag")
    expect(old.get_by_text("stale", exact=True)).to_have_attribute(
        "title", "not evaluated for 10 days"
    )
    fresh = page.get_by_role("row").filter(has_text="fresh-flag")
    expect(fresh).to_be_visible()
    expect(fresh.get_by_text("stale", exact=True)).to_have_count(0)

    page.goto(f"{web_server.base_url}/projects/{project}/flags?state=stale")
    expect(page.get_by_text("1 flag", exact=True)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="old-flag")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="fresh-flag")).to_have_count(0)

    # Eleven days: nothing is stale any more.
    page.goto(f"{web_server.base_url}/projects/{project}/flags?stale_days=11")
    expect(page.get_by_role("row").filter(has_text="old-flag")).to_be_visible()
    expect(page.get_by_text("stale", exact=True)).to_have_count(0)

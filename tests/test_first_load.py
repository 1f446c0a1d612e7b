"""The first screen: until a feed's first poll finished its backfill its chip is grey and its
tiles say 载入中 · 已接收 N 条; the start log prints progress; "no sensor feed configured"
reads differently from "0 alarms"."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from types import SimpleNamespace

import orjson
import pytest

from callbacks import health as health_cb
from callbacks import wall
from canonical_upstream import CanonicalUpstream
from dashboard.queries.access import Viewer
from dashboard.queries import Queries
from dashboard.config.settings import FeedSettings, load_settings
from feeds.tickets import canonical
from feeds.poller import Poller
from layouts.components import feed_chips, feed_state

NOW = 1_800_000_000.0


def text(components) -> str:
    return orjson.dumps([c.to_plotly_json() if hasattr(c, "to_plotly_json") else c for c in components],
                        default=str).decode()


def test_fl001_chip_states():
    assert feed_state({"name": "x", "kind": "tickets"}, NOW) == "loading"          # not polled yet
    assert feed_state({"ok": False, "last_error": "HTTP 500"}, NOW) == "never"      # failed before any success
    assert feed_state({"ok": True, "last_success": NOW - 5, "backfilled": False}, NOW) == "loading"
    assert feed_state({"ok": True, "last_success": NOW - 5, "backfilled": True}, NOW) == "ok"
    assert feed_state({"ok": True, "last_success": NOW - 5}, NOW) == "ok"           # a record from before
    chips = feed_chips({"hotline": {"kind": "tickets", "last_success": NOW - 5, "backfilled": False,
                                    "records_total": 12345}}, NOW, "zh")
    assert chips[0].className == "chip chip-loading" and chips[0].children == "hotline · 载入中 · 已接收 12,345 条"


def test_fl002_backfill_over_several_polls_is_loading_then_done(embedded_store, monkeypatch, caplog):
    """A canonical upstream with more than one poll reads (pages × MAX_PAGES): the feed stays
    loading after its first poll, the log says so, and turns ok when a poll ends caught up."""
    up = CanonicalUpstream(n=250)
    monkeypatch.setattr(canonical, "MAX_PAGES", 2)     # a poll reads 2 pages of 50: 100 records
    feed = FeedSettings(name="hotline", kind="tickets", format="canonical", url=up.url,
                        updated_since_param="updated_since", page_limit=50, interval_s=1, timeout_s=5)
    settings = load_settings(None, env={})
    q = Queries(embedded_store, settings)
    q.feed_names, q.feed_kinds = {"hotline", "water"}, {"hotline": "tickets", "water": "sensors"}
    # before any poll: both configured feeds are there, grey
    before = q.feed_health()
    assert set(before) == {"hotline", "water"} and all(feed_state(h, NOW) == "loading" for h in before.values())
    poller = Poller(settings, embedded_store, [feed])
    try:
        with caplog.at_level(logging.INFO, logger="feeds.poller"):
            h1 = poller.run_feed(feed)
            h2 = poller.run_feed(feed, force=True)
            h3 = poller.run_feed(feed, force=True)
            h4 = poller.run_feed(feed, force=True)
    finally:
        up.close()
    assert (h1["records_total"], h1["backfilled"]) == (100, False)
    assert (h2["records_total"], h2["backfilled"]) == (200, False)
    assert (h3["records_total"], h3["backfilled"]) == (250, True)     # a short page: caught up
    assert h4["backfilled"] is True                                   # and stays loaded
    assert feed_state(h1, h1["last_success"]) == "loading" and feed_state(h3, h3["last_success"]) == "ok"
    lines = [r.getMessage() for r in caplog.records if "hotline" in r.getMessage()]
    assert any("loading, more to read — 100 records so far" in m for m in lines), lines
    assert any("first load done — 250 records so far" in m for m in lines), lines
    assert not any("records so far" in m for m in lines[3:]), "after the first load the log is quiet"


def test_fl003_wall_says_loading_and_no_sensor_feed(embedded_store):
    settings = load_settings(None, env={})
    q = Queries(embedded_store, settings)
    q.feed_names, q.feed_kinds = {"hotline-x"}, {"hotline-x": "tickets"}
    rt = SimpleNamespace(store=embedded_store, settings=settings, queries=q)
    values, classes, chips, _, _, notice = wall.update(0, "zh", rt, Viewer(), datetime.now(timezone.utc))
    assert all("载入中" in text(v) and "已接收 0 条" in text(v) for v in values)
    assert all("data-loading" in c for c in classes)
    assert "工单数据首次载入中" in notice
    assert [c.className for c in chips] == ["chip chip-loading"]
    # no sensor feed configured: said so, not a table of zeros
    (part,), serious = wall.alarm_part("zh", rt, Viewer())
    assert part.children == "未配置管网监测数据源" and serious == []
    assert "载入中 · 已接收 0 条" in text(health_cb.feed_rows(q.feed_health(), NOW, "zh", "Asia/Shanghai")[0])


def test_fl004_wall_scale_legend_and_emergency_markers(demo_runtime):
    fig = wall.scale_view(2)
    ops = {tuple(o["location"]): o["params"]["value"] for o in fig.to_plotly_json()["operations"]}
    assert ops[("layout", "font", "size")] == 36 and ops[("layout", "margin")]["l"] == 120
    assert ops[("data", 1, "line", "width")] == 8
    legend = text(wall.map_legend({"max": 303}, "zh"))
    assert "在办工单(件)" in legend and "303" in legend and "红框" in legend and "Ⅰ级" in legend
    markers = wall.alarm_markers(demo_runtime, Viewer())
    from dashboard.queries import alarm_views
    active = alarm_views.active_list(demo_runtime, Viewer(), datetime.now(timezone.utc))
    assert len(markers["features"]) == len([a for a in active]) > 0
    assert {f["properties"]["level"] for f in markers["features"]} <= {1, 2, 3, 4}

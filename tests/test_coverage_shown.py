"""Coverage shown: a ticket feed that cannot prove it holds everything, or knows it does not,
is amber on the wall's chip ("不完整: 缺 N 条" / "incomplete: N missing") and on /health — never
green. The health records come from real polls of a real Open311 server on 127.0.0.1."""

from __future__ import annotations

from datetime import timedelta

from dashboard.config.settings import FeedSettings, load_settings
from feeds.poller import Poller
from layouts.components import feed_chips, feed_state
from callbacks.health import coverage_cell, feed_rows
from tests.open311_upstream import T0, Open311Server, request


def _poll(srv, store, name="app"):
    f = FeedSettings(name=name, kind="tickets", format="open311", url=srv.url, lookback_days=30, interval_s=30)
    return Poller(load_settings(None, env={}), store, [f], clock=lambda: T0).run_feed(f)


def test_cov001_an_incomplete_feed_is_amber_with_what_is_missing(embedded_store):
    srv = Open311Server(page_size=50, paging="cut", total_header="X-Total-Count")
    try:
        for i in range(70):                            # 70 stamped the same second: 20 cannot be read
            srv.add(request(100 + i, T0 - timedelta(days=1)))
        h = _poll(srv, embedded_store)
    finally:
        srv.close()
    now = T0.timestamp() + 5
    assert h["ok"] and feed_state(h, now) == "incomplete"
    (chip,) = feed_chips({"app": h}, now, "zh")
    assert chip.children == "app · 不完整: 缺 20 条" and chip.className == "chip chip-incomplete"
    (chip,) = feed_chips({"app": h}, now, "en")
    assert chip.children == "app · incomplete: 20 missing" and "ago" in chip.title
    text, cls = coverage_cell(h, "zh")
    assert text == "70/50 · 不完整: 缺 20 条" and "state-incomplete" in cls
    row = feed_rows({"app": h}, now, "en", "Asia/Shanghai")[0]
    assert "Incomplete" in row[2][0] and row[2][1] == "state-incomplete"


def test_cov002_a_complete_feed_stays_green_and_unknown_counts_are_not(embedded_store):
    srv = Open311Server(page_size=100, paging="link")
    try:
        for i in range(250):
            srv.add(request(100 + i, T0 - timedelta(hours=i + 1)))
        h = _poll(srv, embedded_store)
    finally:
        srv.close()
    now = T0.timestamp() + 5
    assert feed_state(h, now) == "ok" and feed_chips({"app": h}, now, "zh")[0].className == "chip chip-ok"
    assert coverage_cell(h, "en")[0] == "250/250 · complete"
    unproven = dict(h, coverage=dict(h["coverage"], complete=False, missing=None))
    assert feed_state(unproven, now) == "incomplete"
    assert feed_chips({"app": unproven}, now, "zh")[0].children == "app · 不完整: 无法证明完整"
    # withdrawn upstream: counted on /health
    assert "3 withdrawn upstream" in coverage_cell(dict(h, withdrawn=3), "en")[0]

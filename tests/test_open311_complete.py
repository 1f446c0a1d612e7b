"""Open311 completeness against real HTTP servers on 127.0.0.1 (tests/open311_upstream.py):
the server's own page size found by the feed, next-page headers, page/page_size, totals,
"updated since" paging, the sweep (reopened and withdrawn requests), jurisdictions, XML,
errors in one line, one bad item rejected alone, pages stored as they arrive."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from dashboard.config.settings import FeedSettings, PollerSettings, load_settings, with_changes
from feeds.base import summarise_error_body
from feeds.tickets.open311 import parse_requests
from feeds.poller import Poller
from feeds.records import tickets_frame
from metrics import tickets as tk
from tests.open311_upstream import T0, Open311Server, iso, request

N = 1234


def city(server: Open311Server, n: int = N, seed: int = 7) -> None:
    """n requests over the last 30 days, with a burst of 260 in four minutes."""
    rnd = random.Random(seed)
    for i in range(n - 260):
        server.add(request(10_000 + i, T0 - timedelta(seconds=rnd.randrange(1, 30 * 86400))))
    burst = T0 - timedelta(days=3)
    for i in range(260):
        server.add(request(20_000 + i, burst + timedelta(seconds=i)))


def feed(url: str, name: str = "app", **kw) -> FeedSettings:
    kw.setdefault("lookback_days", 30)
    return FeedSettings(name=name, kind="tickets", format="open311", url=url, interval_s=30, **kw)


_POLLERS: dict = {}


def poller(store, f, clock) -> Poller:
    """One poller per store (it holds the store's lease); its clock reads `clock[0]`."""
    p = _POLLERS.get(id(store))
    if p is None or p.store is not store:
        # the ticket counters on (off by default), so the sweep's withdrawals are checked there too
        settings = with_changes(load_settings(None, env={}), poller=PollerSettings(keep_ticket_aggregates=True))
        p = _POLLERS[id(store)] = Poller(settings, store, [f], clock=lambda: p.now[0])
    p.now = clock
    return p


@pytest.fixture
def servers():
    made = []

    def make(**kw) -> Open311Server:
        s = Open311Server(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


CASES = [(size, paging, total) for size in (100, 50, 1000) for paging in ("cut", "link", "xnext", "page")
         for total in (None, "X-Total-Count", "X-Result-Count")]


@pytest.mark.parametrize("size,paging,total", CASES, ids=[f"{s}-{p}-{t or 'nototal'}" for s, p, t in CASES])
def test_o3c001_every_request_arrives_whatever_the_servers_page_size(servers, embedded_store, size, paging, total):
    srv = servers(page_size=size, paging=paging, total_header=total)
    city(srv, n=N if size < 1000 else 2600)
    f = feed(srv.url)
    clock = [T0]
    h = poller(embedded_store, f, clock).run_feed(f)
    assert h["ok"], h.get("last_error")
    assert embedded_store.tickets.count() == len(srv.db)
    cov = h["coverage"]
    assert cov["upstream_count"] == len(srv.db) and cov["held"] == len(srv.db)
    assert cov["complete"] is True and cov["missing"] == 0
    windows = [q for p, q in srv.queries if "start_date" in q]
    assert all(q["end_date"] > q["start_date"] for q in windows)


def test_o3c002_a_page_full_within_one_second_is_reported_incomplete(servers, embedded_store):
    srv = servers(page_size=50, paging="cut")
    city(srv, n=400)
    same = T0 - timedelta(days=1)
    for i in range(70):                              # 70 requests stamped the same second
        srv.add(request(30_000 + i, same))
    f = feed(srv.url)
    h = poller(embedded_store, f, [T0]).run_feed(f)
    assert h["ok"]
    cov = h["coverage"]
    assert cov["complete"] is False and cov["gaps"]
    assert any("one second" in n for n in h["notes"])
    assert embedded_store.tickets.count() == len(srv.db) - 20


def test_o3c003_totals_say_what_is_missing(servers, embedded_store):
    srv = servers(page_size=50, paging="cut", total_header="X-Total-Count")
    same = T0 - timedelta(days=1)
    for i in range(70):
        srv.add(request(30_000 + i, same))
    f = feed(srv.url)
    h = poller(embedded_store, f, [T0]).run_feed(f)
    cov = h["coverage"]
    assert (cov["upstream_count"], cov["held"], cov["missing"], cov["complete"]) == (70, 50, 20, False)


def test_o3c004_updated_since_is_paged_like_the_windows(servers, embedded_store):
    srv = servers(page_size=50, paging="cut", updated_param="updated_after")
    city(srv, n=600)
    f = feed(srv.url, updated_since_param="updated_after")
    clock = [T0]
    p = poller(embedded_store, f, clock)
    assert p.run_feed(f)["ok"]
    # 120 old requests closed at once (one bulk job), 30 minutes later
    closed_at = T0 + timedelta(minutes=30)
    old = sorted(srv.db)[:120]
    for i in old:
        srv.db[i].update(status="closed", updated_datetime=iso(closed_at))
    clock[0] = T0 + timedelta(hours=1)
    h = p.run_feed(f, force=True)
    assert h["ok"]
    recs = embedded_store.tickets.get(old)
    assert all(r["status"] == "closed" and r["closed_at"] == iso(closed_at) for r in recs)
    upd = [q for _, q in srv.queries if "updated_after" in q]
    assert upd and all(q["updated_after"] == iso(T0 - timedelta(hours=1)) for q in upd)


def test_o3c005_sweep_brings_reopenings_changes_and_withdrawals(servers, embedded_store):
    srv = servers(page_size=100, paging="cut")
    city(srv, n=500)
    f = feed(srv.url, sweep_s=60)
    clock = [T0]
    p = poller(embedded_store, f, clock)
    assert p.run_feed(f)["ok"]
    ids = sorted(srv.db)
    # a request closes and is reopened; another changes agency; three are hidden (moderated)
    reopened, moved, hidden = ids[0], ids[1], ids[2:5]
    srv.db[reopened].update(status="closed", updated_datetime=iso(T0 + timedelta(seconds=10)))
    clock[0] = T0 + timedelta(seconds=30)
    p.run_feed(f, force=True)                         # the close is seen (the still-open re-query)
    assert embedded_store.tickets.get([reopened])[0]["status"] == "closed"
    srv.db[reopened].update(status="open", updated_datetime=iso(T0 + timedelta(seconds=40)))
    srv.db[moved].update(agency_responsible="水务局", updated_datetime=iso(T0 + timedelta(seconds=40)))
    for i in hidden:
        srv.db[i]["_hidden"] = True
    for k in range(1, 6):                             # the sweep (60 s) is spread over the polls
        clock[0] = T0 + timedelta(seconds=30 + 30 * k)
        h = p.run_feed(f, force=True)
        assert h["ok"], h.get("last_error")
    got = {r["ticket_id"]: r for r in embedded_store.tickets.get([reopened, moved, *hidden])}
    assert got[reopened]["status"] == "dispatched" and got[reopened]["closed_at"] is None
    assert got[moved]["department"] == "水务局"
    assert all(got[i]["withdrawn_at"] for i in hidden)        # kept, marked
    assert embedded_store.tickets.count() == 500
    assert h["withdrawn"] == 3
    cov = h["coverage"]
    assert cov["upstream_count"] == 497 and cov["held"] == 497 and cov["complete"] is True
    # withdrawn tickets are in no population
    _, records = embedded_store.tickets.all()
    df = tk.prepare(tickets_frame(records))
    k = tk.kpis(df, clock[0], T0 - timedelta(days=31), clock[0])
    assert k["received"] == 497 and int(tk.open_mask(df, clock[0]).sum()) == 497
    assert int(tk.daily_counts(df, "Asia/Shanghai", T0 - timedelta(days=31), clock[0])["received"].sum()) == 497
    assert p.aggregates.check() == []             # the counters kept at ingest took them out too
    # one comes back: served again, it is reinstated at the next sweep
    srv.db[hidden[0]]["_hidden"] = False
    for k in range(6, 12):
        clock[0] = T0 + timedelta(seconds=30 + 30 * k)
        h = p.run_feed(f, force=True)
    assert embedded_store.tickets.get([hidden[0]])[0]["withdrawn_at"] is None
    assert h["withdrawn"] == 2


def test_o3c006_jurisdiction_sent_on_every_call_and_urls_with_a_query(servers, embedded_store):
    srv = servers(page_size=100, paging="link", jurisdictions=True)
    for i in range(150):
        srv.add(request(40_000 + i, T0 - timedelta(hours=i + 1), jurisdiction="wuhai"))
        srv.add(request(50_000 + i, T0 - timedelta(hours=i + 1), jurisdiction="neighbour"))
    # without it: the server says so, in one line, and nothing is counted as OK
    f0 = feed(srv.url)
    h = poller(embedded_store, f0, [T0]).run_feed(f0)
    assert h["ok"] is False and "jurisdiction_id is required" in h["last_error"]
    f = feed(srv.url, name="app-j", jurisdiction_id="wuhai")
    h = poller(embedded_store, f, [T0]).run_feed(f, force=True)
    assert h["ok"] and embedded_store.tickets.count() == 150
    assert all(q.get("jurisdiction_id") == "wuhai" for _, q in srv.queries[1:])
    assert all(r["ticket_id"].startswith("4") for r in embedded_store.tickets.all()[1])
    # the same through a URL that carries its own query string
    embedded_store.tickets.clear()
    srv.queries.clear()
    fq = FeedSettings(name="appq", kind="tickets", format="open311", url=srv.url + "?jurisdiction_id=wuhai",
                      lookback_days=30, interval_s=30)
    h = poller(embedded_store, fq, [T0]).run_feed(fq)
    assert h["ok"] and embedded_store.tickets.count() == 150
    assert all(p == "/open311/v2/requests.json" and q["jurisdiction_id"] == "wuhai" for p, q in srv.queries)


def test_o3c007_xml_is_read_strictly(servers, embedded_store):
    srv = servers(page_size=50, paging="cut")
    city(srv, n=300)
    for name, url, kw in (("x1", srv.url + "/requests.xml", {}), ("x2", srv.url, {"open311_format": "xml"})):
        embedded_store.tickets.clear()
        srv.queries.clear()
        f = feed(url, name=name, **kw)
        h = poller(embedded_store, f, [T0]).run_feed(f, force=True)
        assert h["ok"], h.get("last_error")
        assert embedded_store.tickets.count() == 300 and h["coverage"]["complete"]
        assert all(p.endswith("/requests.xml") for p, _ in srv.queries)
    recs, rej = parse_requests(Open311Server.to_xml([{"service_request_id": "1", "status": "open",
                                                       "requested_datetime": "2026-11-20T10:00:00+08:00",
                                                       "lat": "39.6", "long": "106.8"},
                                                      {"service_request_id": "2", "status": "maybe"}]), fmt="xml")
    assert len(recs) == 1 and recs[0]["lat"] == 39.6 and "status" in rej[0].reason and rej[0].ticket_id == "2"
    from feeds.base import FeedError
    with pytest.raises(FeedError, match="not well-formed XML"):
        parse_requests(b"<service_requests><request><status>open</request>", fmt="xml")
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<service_requests><request><status>&b;</status></request></service_requests>")
    with pytest.raises(FeedError, match="DTD or entity"):
        parse_requests(bomb, fmt="xml")
    with pytest.raises(FeedError, match="root element"):
        parse_requests(b"<requests/>", fmt="xml")


def test_o3c008_error_bodies_in_one_readable_line(servers, embedded_store):
    srv = servers()
    f = feed(srv.base + "/wrong/path")
    h = poller(embedded_store, f, [T0]).run_feed(f)
    assert h["ok"] is False
    assert "HTTP 404" in h["last_error"] and "404 Not Found" in h["last_error"]
    assert "<!DOCTYPE" not in h["last_error"] and "<" not in h["last_error"].split(": ", 2)[-1]
    assert summarise_error_body(b'[{"code":403,"description":"Invalid api_key"}]') == "Invalid api_key (code 403)"
    assert summarise_error_body(b'{"detail": "Not authenticated"}') == "Not authenticated"
    assert summarise_error_body(b'<?xml version="1.0"?><errors><error><code>400</code>'
                                b"<description>jurisdiction_id not found</description></error></errors>") \
        == "jurisdiction_id not found (code 400)"
    line = summarise_error_body(b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x " * 500
                                + b"</body></html>", "text/html")
    assert line.startswith("502 Bad Gateway") and len(line) <= 200 and "\n" not in line


def test_o3c009_a_lone_surrogate_rejects_that_item_only():
    items = [request(i, T0 - timedelta(hours=i)) for i in range(100)]
    import json
    text = json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in items])
    text = text.replace('"service_name": "\\u8def\\u706f"', '"service_name": "\\ud800"', 1)
    assert "\\ud800" in text
    recs, rej = parse_requests(text.encode())
    assert len(recs) == 99 and len(rej) == 1
    assert "surrogate" in rej[0].reason and "leading zeros" not in rej[0].reason
    assert rej[0].ticket_id == "0"
    # a raw byte that is not UTF-8 in one item: that item only
    raw = json.dumps([{k: v for k, v in r.items() if not k.startswith("_")} for r in items[:3]],
                     ensure_ascii=False).encode().replace("城管局".encode(), b"\xff\xfe", 1)
    recs, rej = parse_requests(raw)
    assert len(recs) == 2 and len(rej) == 1 and "UTF-8" in rej[0].reason
    # still strict: leading zeros are refused whole, with the hint
    from feeds.base import FeedError
    with pytest.raises(FeedError, match="leading zeros"):
        parse_requests(b'[{"service_request_id": 1, "service_code": 006}]')


def test_o3c010_pages_are_stored_as_they_arrive_and_a_failure_keeps_them(servers, embedded_store):
    srv = servers(page_size=100, paging="link")
    city(srv, n=1000)
    f = feed(srv.url)
    seen = []
    srv.on_request = lambda n: seen.append(embedded_store.tickets.count())
    srv.fail_after = 6
    p = poller(embedded_store, f, [T0])
    h = p.run_feed(f)
    assert h["ok"] is False and "database is restarting" in h["last_error"]
    # each page was written before the next was asked for; the failure kept them
    assert seen[:6] == [0, 100, 200, 300, 400, 500]
    assert embedded_store.tickets.count() == 600
    srv.fail_after = None
    h = p.run_feed(f, force=True)
    assert h["ok"] and embedded_store.tickets.count() == 1000 and h["coverage"]["complete"]


@pytest.mark.parametrize("total", [None, "X-Total-Count"])
def test_o3c011_window_edges_neither_lose_nor_count_twice(servers, embedded_store, total):
    """A clock with microseconds and a server that counts end_date in (as the demo and many
    real servers do): requests on the look-back's first second and on every boundary of the
    sweep's day windows are held once and the coverage is complete (it said "missing 1")."""
    srv = servers(page_size=1000, paging="cut", total_header=total, end_inclusive=True)
    now = T0 + timedelta(microseconds=750_000)
    city(srv, n=500)
    first = now.replace(microsecond=0) - timedelta(days=30)
    srv.add(request(40_000, first))                             # the look-back's first second
    f = feed(srv.url, sweep_s=60)
    clock = [now]
    p = poller(embedded_store, f, clock)
    h = p.run_feed(f)
    assert h["ok"], h.get("last_error")
    cov = h["coverage"]
    assert embedded_store.tickets.count() == len(srv.db)
    assert (cov["missing"], cov["complete"]) == (0, True), cov
    # a later sweep, in day-long windows: requests on each window's edge second
    later = now + timedelta(seconds=61, microseconds=100_000)
    lo = later.replace(microsecond=0) - timedelta(days=30)
    for d in range(1, 30):
        srv.add(request(41_000 + d, lo + timedelta(days=d)))
    clock[0] = later
    for _ in range(40):                                         # a share of the sweep each poll
        h = p.run_feed(f, force=True)
        assert h["ok"], h.get("last_error")
        if h.get("coverage", {}).get("at") == later.isoformat():
            break
    cov = h["coverage"]
    assert cov["at"] == later.isoformat(), cov
    assert embedded_store.tickets.count() == len(srv.db)
    assert (cov["missing"], cov["complete"]) == (0, True), cov

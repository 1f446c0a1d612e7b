"""Degraded mode: Debian's redis-server (AOF on, started by the test) is killed while the
poller polls and while pages refresh — nothing fails loudly, nothing is lost, recovery is
automatic. The browser's side (the banner) is in tests/test_browser_degraded.py."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from dash import Dash, html
from dash.exceptions import PreventUpdate
import pytest
import redis

from dashboard.app.degraded import guard_callbacks, guarded
from dashboard.store.redis_server import connect
from dashboard.config.settings import FeedSettings, load_settings
from dashboard.store import Store
from dashboard.store.store_watch import StoreWatch
from feeds.poller import Poller
from tests.canonical_upstream import CanonicalUpstream
from tests.redis_procs import AOF_ON, redis_proc  # noqa: F401 - fixture


def _wait(cond, timeout_s: float, step: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def test_deg001_redis_killed_while_polling_loses_no_ticket_and_logs_two_lines(redis_proc, caplog):
    server = redis_proc(*AOF_ON)
    up = CanonicalUpstream(2000)
    store = Store(connect(server.url), "deg")
    feed = FeedSettings(name="hotline", kind="tickets", format="canonical", url=up.url,
                        updated_since_param="updated_since", page_limit=500, interval_s=1, timeout_s=5)
    settings = load_settings(None, env={})
    poller = Poller(settings, store, [feed])
    stop = threading.Event()
    n = [2000]

    def grow():                              # the city keeps filing tickets throughout
        while not stop.wait(0.1):
            up.add(range(n[0], n[0] + 7), at=datetime.now(timezone.utc))
            n[0] += 7
    grower = threading.Thread(target=grow, daemon=True)
    with caplog.at_level(logging.INFO):
        poller.start()
        grower.start()
        try:
            assert _wait(lambda: store.tickets.count() >= 2000, 30)
            server.kill()                    # SIGKILL, mid-polling
            time.sleep(4)                    # several poll intervals and lease renewals in the dark
            server.start()                   # same directory: the AOF is loaded
            time.sleep(2)
            stop.set()
            grower.join()
            want = up.ids()
            assert _wait(lambda: store.tickets.count() == len(want), 30), (store.tickets.count(), len(want))
        finally:
            stop.set()
            poller.stop()
            up.close()
    held = {k.decode() for k in store.r.hkeys(store.tickets.k_rec)}
    assert held == want                       # 0 records lost
    messages = [r.getMessage() for r in caplog.records]
    assert sum("data store unreachable" in m for m in messages) == 1, messages
    assert sum("data store reachable again" in m for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"
    noisy = [m for m in messages if "could not record its run" in m or "poller lease:" in m
             or ("feed hotline failed" in m)]
    assert not noisy, noisy                   # the outage is the store's, not the feed's
    assert store.feed_health("hotline")["consecutive_failures"] == 0
    store.r.close()


def test_deg002_a_batch_read_while_the_store_is_away_is_kept_and_written_on_return(redis_proc, caplog):
    """The read succeeds, the write fails (the store just died): the batch is held with the
    cursor it leads to, and written first when the store answers — not lost, not re-read."""
    server = redis_proc(*AOF_ON)
    up = CanonicalUpstream(1200)
    store = Store(connect(server.url), "deg")
    feed = FeedSettings(name="hotline", kind="tickets", format="canonical", url=up.url,
                        updated_since_param="updated_since", page_limit=500, interval_s=1, timeout_s=5)
    poller = Poller(load_settings(None, env={}), store, [feed])
    assert poller.run_feed(feed, force=True)["accepted"] == 1200
    up.add(range(1200, 1300))
    up.hold.clear()                           # the next response waits until the store is dead
    out: list = []
    t = threading.Thread(target=lambda: out.append(poller.run_feed(feed, force=True)))
    t.start()
    assert up.held.wait(10)
    server.kill()
    up.hold.set()
    t.join(30)
    assert out == [None] and "hotline" in poller._pending
    assert not poller.watch.reachable
    server.start()
    up.add(range(1300, 1310))
    requests_before = up.requests
    with caplog.at_level(logging.INFO):
        assert poller.run_feed(feed, force=True) is not None
    assert any("wrote the batch held while the store was away (100 records)" in r.getMessage()
               for r in caplog.records)
    assert {k.decode() for k in store.r.hkeys(store.tickets.k_rec)} == up.ids()
    assert up.requests == requests_before + 1   # the held 100 were not read again; the 10 new were
    assert poller.watch.reachable
    up.close()
    store.r.close()


def test_deg003_the_callback_wrapper_turns_store_errors_into_no_update(redis_proc):
    """One wrapper, applied where callbacks are registered: a store error is "no update"
    (the browser keeps the page), any other error is left alone (a bug must still show)."""
    server = redis_proc(*AOF_ON)
    r = connect(server.url)
    watch = StoreWatch()
    fn = guarded(lambda: r.get("x"), watch)
    assert fn() is None and watch.reachable
    server.kill()
    with pytest.raises(PreventUpdate):
        fn()
    assert not watch.reachable and watch.state()["since"] is not None
    with pytest.raises(ZeroDivisionError):
        guarded(lambda: 1 / 0, watch)()
    server.start()
    assert watch.check(r.ping) and watch.reachable

    app = Dash(__name__)
    app.layout = html.Div([html.Div(id="a"), html.Div(id="b")])
    guard_callbacks(app, watch)
    from dash import Input, Output

    @app.callback(Output("b", "children"), Input("a", "children"))
    def cb(_):
        return r.get("x")
    server.kill()
    client = app.server.test_client()
    resp = client.post("/_dash-update-component", json={
        "output": "b.children", "outputs": {"id": "b", "property": "children"},
        "inputs": [{"id": "a", "property": "children", "value": None}], "changedPropIds": ["a.children"],
        "state": []})
    assert resp.status_code == 204            # no update, no error
    r.close()

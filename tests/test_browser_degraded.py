"""Degraded mode in a real headless Chromium: Debian's redis-server (AOF on, started by the
test) is killed while the wall refreshes and the poller polls. The page keeps its numbers
under a banner "数据存储不可达 · 自 HH:MM 起", no request answers 500 (callbacks: no update;
`/healthz` and the API: 503 with JSON), and the banner clears within a refresh or two after
the server is back, with every ticket still there."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from dashboard.app.factory import create_app
from dashboard.app.runtime import Runtime
from dashboard.config.settings import FeedSettings, ServerSettings, StoreSettings, load_settings, with_changes
from feeds.demo.tickets import start_simulator
from layouts.wall import TILES
from tests.redis_procs import AOF_ON, redis_proc  # noqa: F401 - fixture

pytestmark = pytest.mark.browser
REFRESH_S = 2

RECORDER_JS = """
if (!window.__cbBodies) {
  window.__cbBodies = [];
  const orig = window.fetch;
  window.fetch = function (url, opts) {
    if (String(url).indexOf('_dash-update-component') >= 0 && opts && opts.body) {
      window.__cbBodies.push(opts.body);
    }
    return orig.apply(this, arguments);
  };
}
"""


@pytest.fixture
def runtime_on_killable_redis(tmp_path, redis_proc):
    server = redis_proc(*AOF_ON)
    behind = lambda: datetime.now(timezone.utc) - timedelta(hours=2)  # noqa: E731
    sim, url = start_simulator(seed=11, history_days=2, clock=behind, speed=120)
    feeds = [FeedSettings(name="hotline", kind="tickets", format="canonical",
                          url=f"{url}/canonical/tickets.jsonl", updated_since_param="updated_since",
                          page_limit=20000, interval_s=1, timeout_s=20)]
    settings = with_changes(load_settings(None, env={"REDIS_URL": server.url}), feeds=feeds,
                            store=StoreSettings(redis_url=server.url, data_dir=str(tmp_path / "var")),
                            server=ServerSettings(refresh_s=REFRESH_S))
    rt = Runtime.start(settings, poll=True)
    yield rt, server
    rt.close()
    sim.stop()


def tile_texts(dash_duo) -> dict[str, str]:
    return {t.metric: dash_duo.find_element(f'[id*="\\"metric\\":\\"{t.metric}\\""][class*="tile-value"]').text
            for t in TILES}


def _wait(cond, timeout_s: float, step: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def unavailable_text(dash_duo) -> str:
    # read in one script (an element found first can be redrawn before its text is read)
    return dash_duo.driver.execute_script(
        "const h = document.querySelector('.page-unavailable h2'); return h ? h.innerText : '';")


def banner(dash_duo) -> tuple[bool, str]:
    el = dash_duo.find_element("#store-banner")
    return el.is_displayed(), el.text


def test_brd001_wall_keeps_its_numbers_under_a_banner_and_recovers(dash_duo, runtime_on_killable_redis,
                                                                   caplog, tmp_path):
    rt, server = runtime_on_killable_redis
    app = create_app(rt)
    rt.keep_warm()
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app)
    base = dash_duo.server_url
    assert _wait(lambda: tile_texts(dash_duo)["received"] not in ("—", "0", ""), 60), tile_texts(dash_duo)
    assert banner(dash_duo)[0] is False
    dash_duo.driver.execute_script(RECORDER_JS)
    assert _wait(lambda: len(dash_duo.driver.execute_script("return window.__cbBodies")) >= 2, 20)
    bodies = dash_duo.driver.execute_script("return window.__cbBodies")
    held_before = {k for k in rt.store.r.hkeys(rt.store.tickets.k_rec)}
    assert held_before

    with caplog.at_level(logging.INFO):
        server.kill()                                          # SIGKILL during page refreshes
        assert _wait(lambda: banner(dash_duo)[0], REFRESH_S * 3 + 5)
        visible, text = banner(dash_duo)
        assert "数据存储不可达 · 自 " in text and "画面数据龄" in text, text
        shown = tile_texts(dash_duo)                           # (a refresh in flight at the kill may land)
        assert all(v not in ("—", "") for v in shown.values()), shown
        statuses = [requests.post(f"{base}/_dash-update-component", data=b.encode("utf-8"),
                                  headers={"Content-Type": "application/json", "Origin": base}, timeout=30).status_code
                    for b in bodies]
        assert 500 not in statuses and set(statuses) <= {200, 204}, statuses
        hz = requests.get(f"{base}/healthz", timeout=30)
        assert hz.status_code == 503 and hz.json()["ok"] is False
        assert hz.json()["store"]["reachable"] is False and hz.json()["store"]["unreachable_since"]
        api = requests.get(f"{base}/api/areas.geojson?level=street", timeout=30)
        assert api.status_code == 503 and api.json()["error"]["code"] == "store_unavailable"
        time.sleep(REFRESH_S * 2)
        assert tile_texts(dash_duo) == shown                   # the page keeps what it showed
        dash_duo.driver.save_screenshot(str(tmp_path / "degraded.png"))
        dash_duo.driver.execute_script("document.querySelector('.lang-button').click()")
        assert _wait(lambda: "data store unreachable since " in banner(dash_duo)[1], REFRESH_S * 3 + 5)
        # another page asked for while the store is away says it cannot open (not the
        # previous page left up under the new URL) ...
        dash_duo.driver.execute_script("document.querySelector('a.nav-link[href=\"/overdue\"]').click()")
        assert _wait(lambda: unavailable_text(dash_duo).startswith("Overdue"), 10), unavailable_text(dash_duo)
        assert "cannot open now: the data store is unreachable" in unavailable_text(dash_duo)
        assert not dash_duo.driver.find_elements("css selector", ".wall-map"), "the wall is still up under /overdue"

        server.start()                                         # back, with its AOF
        t_back = time.monotonic()
        assert _wait(lambda: not banner(dash_duo)[0], REFRESH_S * 2 + 5)
        recovered_after = time.monotonic() - t_back
        # ... and opens by itself once the banner clears
        assert _wait(lambda: dash_duo.driver.find_elements("css selector", "#od-root"), REFRESH_S * 2 + 5)
        assert unavailable_text(dash_duo) == ""
    held_after = {k for k in rt.store.r.hkeys(rt.store.tickets.k_rec)}
    assert held_before <= held_after                           # 0 records lost
    messages = [r.getMessage() for r in caplog.records]
    assert sum("data store unreachable" in m for m in messages) == 1, messages
    assert sum("data store reachable again" in m for m in messages) == 1, messages
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    severe = [e for e in dash_duo.get_logs() or [] if "500" in str(e.get("message"))]
    assert not severe, severe
    print(f"banner cleared {recovered_after:.1f} s after the store was back (refresh {REFRESH_S} s)")

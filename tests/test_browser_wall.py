"""The wall in a real headless Chromium: it renders, fits 1920×1080, and its numbers move
as the simulated city produces tickets (run with `pytest --headless`)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from dashboard.app.factory import create_app
from dashboard.app.runtime import Runtime
from dashboard.config.settings import FeedSettings, ServerSettings, StoreSettings, load_settings, with_changes
from feeds.demo.tickets import start_simulator
from layouts.wall import TILES

pytestmark = pytest.mark.browser


@pytest.fixture
def live_runtime(tmp_path):
    # a simulated city two hours behind the real clock, running 120× faster: tickets arrive
    # and change state every second, all of them in the past of the console's clock
    behind = lambda: datetime.now(timezone.utc) - timedelta(hours=2)  # noqa: E731
    server, url = start_simulator(seed=11, history_days=2, clock=behind, speed=120)
    feeds = [FeedSettings(name="hotline", kind="tickets", format="canonical",
                          url=f"{url}/canonical/tickets.jsonl", updated_since_param="updated_since",
                          page_limit=20000, interval_s=1, timeout_s=20),
             FeedSettings(name="app", kind="tickets", format="open311", url=f"{url}/open311/v2",
                          interval_s=2, timeout_s=20, lookback_days=2)]
    settings = with_changes(load_settings(None, env={}), feeds=feeds,
                            store=StoreSettings(data_dir=str(tmp_path / "var")),
                            server=ServerSettings(refresh_s=1))
    rt = Runtime.start(settings, poll=True)
    yield rt
    rt.close()
    server.stop()


def tile_texts(dash_duo) -> dict[str, str]:
    return {t.metric: dash_duo.find_element(f'[id*="\\"metric\\":\\"{t.metric}\\""][class*="tile-value"]').text
            for t in TILES}


def test_brw001_wall_renders_fits_and_updates(dash_duo, live_runtime):
    app = create_app(live_runtime)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app)
    dash_duo.wait_for_text_to_equal("#title", "城市运行管理中心 · 一网统管", timeout=20)
    deadline = time.monotonic() + 60
    first = tile_texts(dash_duo)
    while "—" in first["open"] and time.monotonic() < deadline:
        time.sleep(1)
        first = tile_texts(dash_duo)
    assert first["open"] not in ("—", "0"), first
    changed = None
    while time.monotonic() < deadline:
        time.sleep(1)
        now = tile_texts(dash_duo)
        if now != first:
            changed = now
            break
    assert changed is not None, f"no number changed in 60 s: {first}"
    # the map drew the city's streets, with no tiles from outside
    dash_duo.wait_for_element(".wall-map path.leaflet-interactive", timeout=20)
    # fits the screen: no scrollbars at 1920×1080
    sw, sh, iw, ih = dash_duo.driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
        " window.innerWidth, window.innerHeight]")
    assert sw <= iw and sh <= ih, (sw, sh, iw, ih)
    assert dash_duo.get_logs() == [], dash_duo.get_logs()


@pytest.mark.parametrize("size", ["1920x1080", "3840x2160", "5760x1080"])
def test_brw002_wall_sizes_relative_to_the_screen(dash_duo, demo_runtime, size):
    """Chips, menu, chart axes and buttons grow with the screen (twice as big at 4K; a spliced
    5760×1080 wall keeps 1080p sizes); the map fills its panel; nothing scrolls; emergency
    mode puts the active alarms on the map."""
    w, h = (int(x) for x in size.split("x"))
    dash_duo.start_server(create_app(demo_runtime))
    dash_duo.driver.set_window_size(w, h)
    dash_duo.wait_for_page(url=dash_duo.server_url + "/", timeout=60)
    dash_duo.wait_for_contains_text(".wall-legend", "在办工单(件)", timeout=60)
    dash_duo.wait_for_element("#wall-trend .xtick text", timeout=30)
    time.sleep(2)   # the map's fit after the panel settled
    info = dash_duo.driver.execute_script("""
      var fs = function (s) { var e = document.querySelector(s); return e ? parseFloat(getComputedStyle(e).fontSize) : 0; };
      var r = function (s) { var e = document.querySelector(s); return e ? e.getBoundingClientRect() : null; };
      var shapes = Array.from(document.querySelectorAll('.wall-map .leaflet-overlay-pane path')).map(function (p) {
        return p.getBoundingClientRect(); });
      var top = Math.min.apply(null, shapes.map(function (b) { return b.top; })),
          bottom = Math.max.apply(null, shapes.map(function (b) { return b.bottom; }));
      return {s: Math.max(1, Math.min(innerWidth / 1920, innerHeight / 1080)), chip: fs('.chip'), nav: fs('.nav-link'),
              axis: fs('#wall-trend .xtick text'), btn: fs('.wall-switch'), h2: fs('.panel h2'),
              map: r('.wall-map'), top: top, bottom: bottom, n: shapes.length,
              scroll: [document.documentElement.scrollWidth - innerWidth, document.documentElement.scrollHeight - innerHeight]};
    """)
    s = info["s"]
    for key, base in (("chip", 16), ("nav", 20), ("axis", 18), ("btn", 16), ("h2", 26)):
        assert abs(info[key] - base * s) <= 1.5, (key, info[key], base * s)
    if w == 3840:
        assert s > 1.8 and info["chip"] > 28
    if w == 5760:
        assert s == 1
    m = info["map"]
    assert info["n"] > 5
    assert info["top"] >= m["top"] - 2 and info["bottom"] <= m["bottom"] + 2          # all of the city shown
    assert (info["bottom"] - info["top"]) >= 0.85 * m["height"]                        # and filling the panel
    assert info["scroll"] == [0, 0]
    dash_duo.driver.save_screenshot(f"/tmp/people_brw002_{size}.png")
    dash_duo.driver.execute_script("document.getElementById('wall-root').classList.add('emergency')")
    deadline = time.monotonic() + 15
    shown = 0
    while time.monotonic() < deadline and not shown:
        shown = dash_duo.driver.execute_script(
            "return Array.from(document.querySelectorAll('.wall-map .alarm-icon')).filter(function (e) {"
            " return getComputedStyle(e).display !== 'none'; }).length;")
        time.sleep(0.5)
    assert shown > 0

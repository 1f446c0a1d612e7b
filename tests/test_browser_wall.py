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

"""The demo sensor platform (feeds/demo/sensors/http.py) read by the demo feeds, end to end:
a hand-driven clock, real HTTP, the real poller and an embedded Redis."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from dashboard.app.runtime import sensor_demo_feeds
from dashboard.config.settings import load_settings, with_changes
from feeds.poller import Poller
from feeds.demo.sensors.alarm_history import history_alarms
from feeds.demo.sensors.simulator import SimSensorsConfig
from feeds.demo.sensors.http import start_sensor_simulator
from metrics import alarms as am
from dashboard.queries.alarm_views import build_alarms

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def platform():
    clock = {"t": T0}
    cfg = SimSensorsConfig(seed=3, n_sensors=600, incidents_per_sensor_day=0, bursts_per_day=0,
                           offline_per_sensor_day=0)
    server, url = start_sensor_simulator(seed=3, clock=lambda: clock["t"], config=cfg)
    yield server, url, clock
    server.stop()


def test_als001_demo_feeds_read_the_platform_and_an_incident_becomes_an_alarm(platform, embedded_store):
    server, url, clock = platform
    feeds = sensor_demo_feeds(url)
    settings = with_changes(load_settings(None, env={}), feeds=feeds)
    poller = Poller(settings, embedded_store, feeds, clock=lambda: clock["t"])
    for f in feeds:
        assert poller.run_feed(f, force=True)["ok"]
    assert embedded_store.dataset("sensors").count() == 600
    assert embedded_store.dataset("responders").count() == 6
    # every sensor reported in the first minute (the platform starts two intervals early)
    assert embedded_store.dataset("readings").count() == 600
    # stored positions are WGS-84 although the utility sends GCJ-02
    w = server.sensors[server.sensors["network"] == "water"].iloc[0]
    (rec,) = embedded_store.dataset("sensors").get([w.sensor_id])
    assert (rec["lon"], rec["lat"]) == pytest.approx((w.lon, w.lat), abs=1e-6)

    gas = server.sensors[(server.sensors["network"] == "gas") & (server.sensors["kind"] == "gas_concentration")].iloc[0]
    r = requests.post(f"{url}/_control/incident", params={"sensor": gas.sensor_id, "level": 1, "minutes": 10})
    assert r.json()["started"]
    clock["t"] += timedelta(seconds=61)
    for f in feeds:
        assert poller.run_feed(f, force=True)["ok"]
    active = [a for a in embedded_store.dataset("alarms").all()[1] if a["status"] != "resolved"]
    assert [(a["sensor_id"], a["level"]) for a in active] == [(gas.sensor_id, 1)]


def test_als002_history_gives_kpis_and_some_active_alarms(platform):
    server, _, _ = platform
    hist = history_alarms(server.sensors, T0, days=5, per_day=40, seed=1)
    df = build_alarms(hist)
    k = am.kpis_by_network(df, T0 - timedelta(days=7), T0)
    assert k.loc["all", "acknowledged"] > 150 and k.loc["all", "mtta_mean_s"] > 0
    assert 0.05 < k.loc["all", "false_alarm_rate"] < 0.35
    active = df[df["status"] != "resolved"]
    assert 3 <= len(active) <= 6 and set(active["network"]) == {"gas"}
    assert all(h["updated_at"].endswith("Z") and len(h["updated_at"]) == 20 for h in hist)

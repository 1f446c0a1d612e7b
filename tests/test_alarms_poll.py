"""Sensor feeds through the real poller: a real HTTP server on 127.0.0.1, a real embedded
Redis. Payloads are small and hand-made, so every number below can be checked by hand.

Thresholds are the defaults of metrics.alarm_rules: heating temperature below 35 °C is
level I (below 40 II, 45 III, 50 IV); water pressure below 80 kPa is level I (120 II).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dashboard.config.schema import build
from dashboard.config.settings import FeedSettings, load_settings, with_changes
from feeds.poller import Poller
from tests.json_upstream import Clock

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def poller_for(store, spec: dict, clock: Clock) -> tuple[Poller, FeedSettings]:
    feed = build(FeedSettings, spec, "feeds.test")
    settings = with_changes(load_settings(None, env={}), feeds=[feed])
    return Poller(settings, store, [feed], clock=clock), feed


def run(poller, feed):
    h = poller.run_feed(feed, force=True)
    assert h["ok"], h.get("last_error")
    return h


def alarms_of(store) -> dict[str, dict]:
    return {a["alarm_id"]: a for a in store.dataset("alarms").all()[1]}


def ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


UTILITY = {"items_path": "data.list", "time_format": "epoch_ms",
           "fields": {"sensor_id": "devNo", "value": "val", "unit": "unit", "observed_at": "ts", "kind": "type"}}


def json_spec(url: str, **sensor) -> dict:
    return {"name": "utility", "kind": "sensors", "format": "json", "url": f"{url}/readings",
            "updated_since_param": "since", "coords": "gcj02",
            "sensor": {"registry_url": "sensors", "json": UTILITY, **sensor}}


def registry():
    # H1 registered in GCJ-02 at the published pair of WGS-84 (116.404, 39.915)
    return {"sensors": [
        {"sensor_id": "H1", "network": "heating", "kind": "temperature", "lon": 116.41024449916938,
         "lat": 39.91640428150164, "grid_code": "g1", "facility": "demo", "offline_after_s": 600},
        {"sensor_id": "W1", "network": "water", "kind": "pressure", "lon": 116.41024449916938,
         "lat": 39.91640428150164, "offline_after_s": 600},
        {"sensor_id": "X1", "network": "sewage", "kind": "pressure", "lon": 116.4, "lat": 39.9}]}


def test_alp001_registry_readings_rejects_and_a_level_one_alarm(upstream, embedded_store):
    upstream.bodies["/sensors"] = registry()
    upstream.bodies["/readings"] = {"data": {"list": [
        {"devNo": "W1", "type": "WaterPressure", "val": 0.35, "unit": "MPa", "ts": ms(T0)},
        {"devNo": "W1", "type": "WaterPressure", "val": "ERR", "unit": "MPa", "ts": ms(T0 + timedelta(seconds=1))},
        {"devNo": "H1", "type": "SupplyTemperature", "val": 30, "unit": "°C", "ts": ms(T0)},
        {"devNo": "H1", "type": "SupplyTemperature", "val": 88, "unit": "furlong", "ts": ms(T0)}]}}
    poller, feed = poller_for(embedded_store, json_spec(upstream.url), Clock(T0 + timedelta(seconds=5)))
    h = run(poller, feed)
    # 3 registry items (1 rejected: sewage is no network of ours) + 4 readings (2 rejected)
    assert (h["received"], h["rejected"]) == (7, 3)
    reasons = [r["reason"] for r in embedded_store.rejects("utility")]
    assert any("network unknown or not gas/water/heating: 'sewage'" in r for r in reasons)
    assert any("value is not a number: 'ERR'" in r for r in reasons)
    assert any("unit 'furlong' is not one the settings know" in r for r in reasons)
    (h1,) = embedded_store.dataset("sensors").get(["H1"])
    assert (h1["lon"], h1["lat"]) == pytest.approx((116.404, 39.915), abs=1e-6)   # GCJ-02 → WGS-84
    (w1,) = embedded_store.dataset("readings").get(["W1/pressure"])
    assert (w1["value"], w1["unit"]) == (350.0, "kPa")                           # 0.35 MPa
    (a,) = alarms_of(embedded_store).values()
    assert (a["sensor_id"], a["kind"], a["level"], a["threshold"], a["status"]) == ("H1", "temperature", 1, 35.0, "active")
    assert a["updated_at"] == "2026-11-20T08:00:05Z" and a["grid_code"] == "g1"


def test_alp002_cursor_escalation_then_clear(upstream, embedded_store):
    upstream.bodies["/sensors"] = registry()
    clock = Clock(T0 + timedelta(seconds=5))
    poller, feed = poller_for(embedded_store, json_spec(upstream.url, clear_on_normal=True), clock)
    item = lambda v, t: {"devNo": "W1", "type": "pressure", "val": v, "unit": "kPa", "ts": ms(t)}  # noqa: E731
    upstream.bodies["/readings"] = {"data": {"list": [item(110, T0)]}}           # 110 kPa: level II
    run(poller, feed)
    assert "since" not in upstream.queries[-1][1]
    clock.t += timedelta(seconds=10)
    upstream.bodies["/readings"] = {"data": {"list": [item(70, T0 + timedelta(seconds=8))]}}   # level I
    run(poller, feed)
    assert upstream.queries[-1][1]["since"] == "2026-11-20T08:00:00+00:00"       # the cursor
    (a,) = alarms_of(embedded_store).values()
    assert (a["level"], a["value"], a["raised_at"]) == (1, 70.0, "2026-11-20T08:00:00+00:00")
    clock.t += timedelta(seconds=10)
    upstream.bodies["/readings"] = {"data": {"list": [item(350, T0 + timedelta(seconds=20))]}}
    run(poller, feed)
    (a,) = alarms_of(embedded_store).values()
    assert (a["status"], a["resolution"], a["resolved_at"]) == ("resolved", "cleared", "2026-11-20T08:00:20+00:00")
    (r,) = embedded_store.dataset("readings").get(["W1/pressure"])
    assert [v for _, v in r["recent"]] == [110.0, 70.0, 350.0]


def test_alp007_a_late_normal_reading_does_not_clear_an_alarm_a_newer_reading_keeps_up(upstream, embedded_store):
    upstream.bodies["/sensors"] = registry()
    clock = Clock(T0 + timedelta(seconds=30))
    poller, feed = poller_for(embedded_store, json_spec(upstream.url, clear_on_normal=True), clock)
    item = lambda v, s: {"devNo": "W1", "type": "pressure", "val": v, "unit": "kPa", "ts": ms(T0 + timedelta(seconds=s))}  # noqa: E731
    upstream.bodies["/readings"] = {"data": {"list": [item(110, 0), item(100, 20)]}}   # level II, still II at 20 s
    run(poller, feed)
    clock.t += timedelta(seconds=10)
    upstream.bodies["/readings"] = {"data": {"list": [item(350, 10)]}}   # normal, but from 10 s: it arrived late
    run(poller, feed)
    (a,) = alarms_of(embedded_store).values()
    assert (a["status"], a["level"]) == ("active", 2)
    (r,) = embedded_store.dataset("readings").get(["W1/pressure"])
    assert [v for _, v in r["recent"]] == [110.0, 350.0, 100.0] and r["value"] == 100.0   # kept, in its place
    upstream.bodies["/readings"] = {"data": {"list": [item(350, 40)]}}   # normal, and newer: clears it
    clock.t += timedelta(seconds=10)
    run(poller, feed)
    (a,) = alarms_of(embedded_store).values()
    assert (a["status"], a["resolution"]) == ("resolved", "cleared")


def test_alp003_silent_sensor_raises_offline_alarm_and_next_reading_clears_it(upstream, embedded_store):
    upstream.bodies["/sensors"] = registry()
    upstream.bodies["/readings"] = {"data": {"list": [
        {"devNo": "W1", "type": "pressure", "val": 350, "unit": "kPa", "ts": ms(T0)},
        {"devNo": "H1", "type": "temperature", "val": 85, "unit": "°C", "ts": ms(T0)}]}}
    clock = Clock(T0 + timedelta(seconds=1))
    poller, feed = poller_for(embedded_store, json_spec(upstream.url), clock)
    run(poller, feed)
    assert alarms_of(embedded_store) == {}
    clock.t = T0 + timedelta(seconds=700)            # W1 and H1 silent 700 s > 600 s
    upstream.bodies["/readings"] = {"data": {"list": [
        {"devNo": "H1", "type": "temperature", "val": 85, "unit": "°C", "ts": ms(T0 + timedelta(seconds=650))}]}}
    run(poller, feed)
    (off,) = alarms_of(embedded_store).values()
    assert (off["sensor_id"], off["kind"], off["level"]) == ("W1", "offline", 4)
    assert off["raised_at"] == "2026-11-20T08:10:00+00:00"     # last seen + 600 s
    clock.t = T0 + timedelta(seconds=760)
    upstream.bodies["/readings"] = {"data": {"list": [
        {"devNo": "W1", "type": "pressure", "val": 350, "unit": "kPa", "ts": ms(T0 + timedelta(seconds=750))}]}}
    run(poller, feed)
    (off,) = alarms_of(embedded_store).values()
    assert (off["status"], off["resolution"]) == ("resolved", "cleared")


def test_alp004_fiware_device_measurements_and_alerts(upstream, embedded_store):
    upstream.bodies["/v2/entities"] = [
        {"id": "m1", "type": "DeviceMeasurement", "refDevice": "urn:ngsi-ld:Device:G1", "controlledProperty": "methane",
         "numValue": 27.5, "unit": "%LEL", "dateObserved": "2026-11-20T16:00:00+08:00",
         "location": {"type": "Point", "coordinates": [106.8, 39.67]}},
        {"id": "a1", "type": "Alert", "alertSource": "urn:ngsi-ld:Device:G2", "category": "environment",
         "subCategory": "gasLeak", "severity": "critical", "dateIssued": "2026-11-20T07:59:00Z",
         "location": {"type": "Point", "coordinates": [106.81, 39.66]}},
        {"id": "x", "type": "Vehicle"}]
    spec = {"name": "gas", "kind": "sensors", "format": "fiware", "url": f"{upstream.url}/v2/entities",
            "sensor": {"network": "gas", "fiware": {"id_last_segment": True}}}
    poller, feed = poller_for(embedded_store, spec, Clock(T0 + timedelta(seconds=30)))
    h = run(poller, feed)
    assert (h["received"], h["rejected"]) == (3, 1)
    got = {a["sensor_id"]: a for a in alarms_of(embedded_store).values()}
    assert (got["G1"]["level"], got["G1"]["threshold"]) == (2, 25.0)     # 27.5 %LEL ≥ 25: level II
    assert (got["G2"]["level"], got["G2"]["alarm_id"]) == (1, "a1")      # severity critical → I
    run(poller, feed)
    assert upstream.queries[-1][1]["q"] == "dateObserved>2026-11-20T08:00:00+00:00"


def test_alp005_sensorthings_follows_next_link(upstream, embedded_store):
    obs = lambda i, v: {"@iot.id": i, "result": v, "phenomenonTime": f"2026-11-20T08:0{i}:00Z"}  # noqa: E731
    upstream.bodies["/sta/v1.1/Datastreams(7)/Observations"] = {
        "value": [obs(1, 85.0), obs(2, 47.0)], "@iot.nextLink": f"{upstream.url}/page2"}
    upstream.bodies["/page2"] = {"value": [obs(3, 44.0), {"@iot.id": 9, "result": "n/a",
                                                          "phenomenonTime": "2026-11-20T08:04:00Z"}]}
    spec = {"name": "sta", "kind": "sensors", "format": "sensorthings", "url": f"{upstream.url}/sta/v1.1",
            "sensor": {"sensorthings": {"datastreams": [
                {"id": "7", "sensor_id": "H9", "network": "heating", "kind": "temperature", "unit": "°C"}]}}}
    poller, feed = poller_for(embedded_store, spec, Clock(T0 + timedelta(minutes=5)))
    h = run(poller, feed)
    assert (h["received"], h["rejected"]) == (4, 1)
    # the Observations, then the trailing window's @iot.count: this server gives none, so the
    # coverage cannot be proven (and the feed still works)
    assert [q[0] for q in upstream.queries] == ["/sta/v1.1/Datastreams(7)/Observations", "/page2",
                                                "/sta/v1.1/Datastreams(7)/Observations"]
    assert upstream.queries[-1][1]["$count"] == "true" and upstream.queries[-1][1]["$top"] == "0"
    assert h["coverage"]["complete"] is False and "no @iot.count" in h["coverage"]["how"]
    (a,) = alarms_of(embedded_store).values()
    # 47 °C: level IV (< 50) at 08:02, escalated by 44 °C to level III (< 45)
    assert (a["level"], a["value"], a["raised_at"]) == (3, 44.0, "2026-11-20T08:02:00+00:00")


def test_alp006_responders(upstream, embedded_store):
    upstream.bodies["/teams"] = {"teams": [
        {"team_id": "GT1", "name": "燃气抢修1队", "network": "gas", "lon": 106.8, "lat": 39.6, "status": "free"},
        {"team_id": "GT2", "lon": 106.8, "lat": 39.6, "status": "sleeping"}]}
    spec = {"name": "teams", "kind": "responders", "format": "json", "url": f"{upstream.url}/teams"}
    poller, feed = poller_for(embedded_store, spec, Clock(T0))
    h = run(poller, feed)
    assert (h["received"], h["rejected"]) == (2, 1)
    (t,) = embedded_store.dataset("responders").get(["GT1"])
    assert (t["status"], t["updated_at"]) == ("free", "2026-11-20T08:00:00Z")

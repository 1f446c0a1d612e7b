"""The demo city's simulated sensors, incidents, bursts and response teams."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from metrics.alarm_engine import apply_readings
from feeds.demo.sensors.network import make_sensors
from metrics.geo import distance_m
from feeds.demo.sensors.simulator import SensorSimulator, SimSensorsConfig
from metrics.alarms import AlarmRules

AREAS = Path(__file__).parents[1] / "feeds" / "demo" / "data" / "wuhai"
T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def sensors():
    return make_sensors(3000, seed=7, areas_dir=AREAS if (AREAS / "areas.geojson").exists() else None)


def test_registry_shape_and_determinism(sensors):
    assert len(sensors) == 3000
    assert set(sensors["network"]) == {"gas", "water", "heating"}
    assert sensors["sensor_id"].is_unique
    assert sensors["lon"].between(106.5, 107.2).all() and sensors["lat"].between(39.0, 40.0).all()
    if (AREAS / "areas.geojson").exists():
        assert sensors["grid_code"].notna().mean() > 0.99
    again = make_sensors(3000, seed=7, areas_dir=AREAS if (AREAS / "areas.geojson").exists() else None)
    assert again.equals(sensors)


def test_sensors_lie_along_lines(sensors):
    main = sensors[sensors["main_id"] == sensors["main_id"].iloc[0]].sort_values("seq")
    steps = distance_m(main["lon"].to_numpy()[:-1], main["lat"].to_numpy()[:-1],
                       main["lon"].to_numpy()[1:], main["lat"].to_numpy()[1:])
    assert (steps < 1500).mean() > 0.9  # neighbours on a main are close to each other


def test_readings_and_alarm_rate(sensors):
    sim = SensorSimulator(sensors, SimSensorsConfig(seed=3, incidents_per_sensor_day=0.05, bursts_per_day=0), T0)
    rules, state, n = AlarmRules(), {}, 0
    reg = {r["sensor_id"]: r for r in sensors.to_dict("records")}
    for k in range(1, 121):
        readings = sim.step(T0 + timedelta(minutes=k))
        n += len(readings)
        for a in apply_readings([a for a in state.values() if a["status"] != "resolved"], readings, reg, rules,
                                clear_on_normal=True):
            state[a["alarm_id"]] = a
    assert 2900 * 120 <= n <= 3000 * 120  # one reading per sensor per minute, minus the silent ones
    expected = 3000 * 0.05 / 12  # ≈ 12.5 incidents in two hours
    assert 4 <= len(state) <= 30, (len(state), expected)


def test_burst_raises_several_nearby_alarms_and_sends_a_team(sensors):
    sim = SensorSimulator(sensors, SimSensorsConfig(seed=5, incidents_per_sensor_day=0, bursts_per_day=0,
                                                    offline_per_sensor_day=0), T0)
    water = sensors.index[(sensors["network"] == "water") & (sensors["kind"] == "pressure")][10]
    hit = sim.burst(int(water))
    assert len(hit) >= 2
    reg = {r["sensor_id"]: r for r in sensors.to_dict("records")}
    alarms = apply_readings([], sim.step(T0 + timedelta(minutes=1)), reg, AlarmRules())
    burst = [a for a in alarms if a["sensor_id"] in hit]
    assert len(burst) >= 2 and min(a["level"] for a in burst) == 1
    c = sensors.loc[water]
    assert all(distance_m(c.lon, c.lat, a["lon"], a["lat"]) <= 700 for a in burst)
    teams = sim.responders()
    assert {t["status"] for t in teams} <= {"free", "en_route", "on_site"}
    assert any(t["network"] == "water" and t["status"] in ("en_route", "on_site") for t in teams)

"""metrics.alarm_engine: raise, dedupe and escalate, clear, offline, acknowledge, resolve."""

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from metrics.alarm_engine import acknowledge, apply_feed_alarms, apply_readings, offline_alarms, resolve
from metrics.alarms import AlarmRules

RULES = AlarmRules()
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
SENSORS = {"g1": {"sensor_id": "g1", "network": "gas", "lat": 39.67, "lon": 106.8, "grid_code": "150302001001001"}}


def rd(minute, value, sensor="g1", kind="gas_concentration"):
    return {"sensor_id": sensor, "network": "gas", "kind": kind, "value": value, "unit": "%LEL",
            "observed_at": (T0 + timedelta(minutes=minute)).isoformat(), "lat": None, "lon": None}


def run(readings, active=(), clear=False):
    return apply_readings(list(active), readings, SENSORS, RULES, clear_on_normal=clear)


def test_crossing_raises_one_alarm_with_sensor_place():
    (a,) = run([rd(0, 1.0), rd(1, 12.0), rd(2, 13.0)])
    assert (a["level"], a["value"], a["threshold"], a["unit"], a["status"]) == (3, 12.0, 10.0, "%LEL", "active")
    assert a["raised_at"] == "2026-11-20T08:01:00+00:00"
    assert (a["lat"], a["lon"], a["grid_code"]) == (39.67, 106.8, "150302001001001")
    assert a["alarm_id"] == "g1/gas_concentration/20261120T080100Z"


def test_escalates_never_deescalates():
    (a,) = run([rd(1, 12.0), rd(2, 30.0), rd(3, 6.0)])
    assert (a["level"], a["value"], a["threshold"]) == (2, 30.0, 25.0)
    assert a["raised_at"] == "2026-11-20T08:01:00+00:00"
    acked = acknowledge(a, "王工", T0 + timedelta(minutes=4))
    (b,) = run([rd(5, 55.0)], active=[acked])
    assert (b["level"], b["status"], b["acknowledged_by"]) == (1, "acknowledged", "王工")
    assert run([rd(6, 20.0)], active=[b]) == []


def test_back_in_range_clears_only_when_the_feed_says_so():
    (a,) = run([rd(1, 12.0)])
    assert run([rd(2, 1.0)], active=[a]) == []
    (c,) = run([rd(2, 1.0)], active=[a], clear=True)
    assert (c["status"], c["resolution"], c["resolved_at"]) == ("resolved", "cleared", "2026-11-20T08:02:00+00:00")
    (again,) = run([rd(3, 11.0)], active=[c])  # a resolved alarm does not block a new one
    assert again["alarm_id"] != a["alarm_id"]


def test_readings_in_any_order_one_per_sensor_and_kind():
    out = run([rd(3, 30.0), rd(1, 12.0), rd(2, 12.0, sensor="g2")])
    assert sorted((a["sensor_id"], a["level"]) for a in out) == [("g1", 2), ("g2", 3)]


def test_offline_alarm_raised_once_and_cleared_by_next_reading():
    sensors = pd.DataFrame([{"sensor_id": "g1", "network": "gas", "lat": 39.67, "lon": 106.8, "grid_code": "x"}])
    now = T0 + timedelta(minutes=20)
    (off,) = offline_alarms([], sensors, {"g1": T0}, now, RULES)
    assert (off["kind"], off["level"], off["value"], off["threshold"]) == ("offline", 4, 1200.0, 900.0)
    assert off["raised_at"] == "2026-11-20T08:15:00+00:00"  # last seen + 15 min
    assert offline_alarms([off], sensors, {"g1": T0}, now, RULES) == []
    (cleared,) = run([rd(21, 1.0)], active=[off])
    assert (cleared["kind"], cleared["status"], cleared["resolution"]) == ("offline", "resolved", "cleared")


def test_feed_alarms_merge_and_clear():
    fa = {"alarm_id": "Anomaly:1", "sensor_id": "g1", "network": "gas", "kind": "pressure", "level": 3,
          "value": 445.0, "threshold": 440.0, "unit": "kPa", "raised_at": T0.isoformat(), "status": "active"}
    (a,) = apply_feed_alarms([], [fa], SENSORS)
    assert (a["alarm_id"], a["grid_code"], a["level"]) == ("Anomaly:1", "150302001001001", 3)
    (b,) = apply_feed_alarms([a], [dict(fa, alarm_id="Anomaly:2", level=1, value=600.0)], SENSORS)
    assert (b["alarm_id"], b["level"], b["value"]) == ("Anomaly:1", 1, 600.0)
    gone = dict(fa, status="resolved", resolved_at=(T0 + timedelta(hours=1)).isoformat(), resolution="cleared")
    (c,) = apply_feed_alarms([b], [gone], SENSORS)
    assert (c["status"], c["resolution"]) == ("resolved", "cleared")


def test_acknowledge_and_resolve_by_a_person():
    (a,) = run([rd(1, 12.0)])
    at = T0 + timedelta(minutes=3)
    r = resolve(a, "李工", at, "false_alarm")
    assert (r["status"], r["resolution"], r["acknowledged_by"]) == ("resolved", "false_alarm", "李工")
    assert r["acknowledged_at"] == r["resolved_at"] == "2026-11-20T08:03:00+00:00"
    with pytest.raises(ValueError, match="^status:"):
        acknowledge(r, "李工", at)
    with pytest.raises(ValueError, match="^resolution:"):
        resolve(a, "李工", at, "whatever")
    assert a["status"] == "active"  # inputs are never modified


def test_a_late_reading_changes_no_alarm():
    """Raised at 1, still out of range at 3; a normal reading of 2 that arrives later must not
    clear it, and a late crossing escalates nothing; a late crossing of a sensor with no
    active alarm raises one at its own time (the event happened, nobody saw it yet)."""
    (a,) = run([rd(1, 12.0), rd(3, 14.0)], clear=True)
    newest = {"g1/gas_concentration": rd(3, 0)["observed_at"]}
    assert apply_readings([a], [rd(2, 1.0)], SENSORS, RULES, clear_on_normal=True, newest=newest) == []
    assert apply_readings([a], [rd(2, 30.0)], SENSORS, RULES, newest=newest) == []
    (late,) = apply_readings([], [rd(2, 30.0)], SENSORS, RULES, newest=newest)
    assert late["status"] == "active" and late["raised_at"] == rd(2, 0)["observed_at"] and late["level"] == 2
    # in time, the same readings do what they always did
    (cleared,) = apply_readings([a], [rd(4, 1.0)], SENSORS, RULES, clear_on_normal=True, newest=newest)
    assert cleared["status"] == "resolved" and cleared["resolution"] == "cleared"
    (b,) = apply_readings([], [rd(4, 30.0)], SENSORS, RULES, newest=newest)
    assert b["level"] == 2

"""metrics.alarms: thresholds, units, offline, counts, MTTA/MTTR, false alarms, clocks."""

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from metrics.alarms import (AlarmRules, Threshold, Unit, ack_clock, active_counts, convert, crossed_threshold,
                            evaluate_reading, false_alarm_rate, kpis_by_network, mtta, mttr, offline_sensors,
                            online_rate)

RULES = AlarmRules()
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def T(minutes):
    return NOW + timedelta(minutes=minutes)


# ---- thresholds and units -------------------------------------------------------------
@pytest.mark.parametrize("value, level", [(4.9, None), (5.0, 4), (9.9, 4), (10.0, 3), (25.0, 2), (49.0, 2), (50.0, 1)])
def test_gas_concentration_levels(value, level):
    assert evaluate_reading("gas", "gas_concentration", value, "%LEL", RULES) == level


def test_units_convert_before_comparing():
    # 0.07 MPa = 70 kPa <= 80 kPa: water pressure level I (too low: a burst)
    assert evaluate_reading("water", "pressure", 0.07, "MPa", RULES) == 1
    # 0.35 MPa = 350 kPa: in range
    assert evaluate_reading("water", "pressure", 0.35, "MPa", RULES) is None
    # 60,000 ppm methane = 120 %LEL (1 ppm = 0.002 %LEL)
    assert convert(60000, "ppm", "%LEL", RULES) == pytest.approx(120.0)
    assert evaluate_reading("gas", "gas_concentration", 6000, "ppm", RULES) == 3   # 12 %LEL
    assert convert(373.15, "K", "°C", RULES) == pytest.approx(100.0)


def test_both_directions_and_breach_detail():
    b = crossed_threshold("gas", "pressure", 455.0, "kPa", RULES)
    assert (b.level, b.threshold, b.unit, b.direction) == (3, 440.0, "kPa", "above")
    b = crossed_threshold("gas", "pressure", 100.0, "kPa", RULES)
    assert (b.level, b.threshold, b.direction) == (2, 120.0, "below")
    assert crossed_threshold("water", "flow", 999.0, "m3/h", RULES) is None  # no threshold for flow


def test_unknown_or_mismatched_unit_raises():
    with pytest.raises(ValueError, match="unit"):
        evaluate_reading("gas", "pressure", 1.0, "psi", RULES)
    with pytest.raises(ValueError, match="cannot be converted"):
        evaluate_reading("gas", "pressure", 1.0, "°C", RULES)


def test_rules_validation_names_the_field():
    with pytest.raises(ValueError, match="^level_1: expected strictly decreasing"):
        Threshold("gas", "pressure", "kPa", "above", 400.0, 450.0)
    with pytest.raises(ValueError, match="^ack_limits_s:"):
        AlarmRules(ack_limits_s=[300, 600])
    with pytest.raises(ValueError, match="^offline_after_s:"):
        AlarmRules(offline_after_s={"gas": 900})
    with pytest.raises(ValueError, match="^thresholds: expected units listed"):
        AlarmRules(units={"kPa": Unit("kPa")}, thresholds=[Threshold("gas", "x", "bar", "above", 1.0)])
    t = Threshold("water", "pressure", "kPa", "below", level_3=150.0, level_4=200.0)  # levels may be skipped
    assert evaluate_reading("water", "pressure", 100.0, "kPa", AlarmRules(thresholds=[t])) == 3


# ---- offline and online rate ---------------------------------------------------------------
SENSORS = pd.DataFrame({
    "sensor_id": ["g1", "g2", "w1", "w2", "h1"],
    "network": ["gas", "gas", "water", "water", "heating"],
    "offline_after_s": [None, 60, None, None, None],
})
LAST_SEEN = {"g1": T(-14), "g2": T(-2), "w1": T(-31), "w2": T(-30)}  # h1 never seen


def test_offline_sensors():
    off = offline_sensors(SENSORS, LAST_SEEN, NOW, RULES)
    # g1: 14 min <= 15 min (gas) online; g2: own limit 60 s < 2 min offline;
    # w1: 31 min > 30 min offline; w2: exactly 30 min is not "longer" → online; h1 never seen
    assert off["sensor_id"].tolist() == ["g2", "w1", "h1"]
    assert off["silent_s"].tolist()[:2] == [120.0, 1860.0]
    assert pd.isna(off["silent_s"].iloc[2])


def test_online_rate():
    r = online_rate(SENSORS, pd.Series(LAST_SEEN), NOW, RULES)
    assert r.loc["gas", ["sensors", "online"]].tolist() == [2, 1]
    assert r.loc["water", "rate"] == 0.5
    assert r.loc["heating", "rate"] == 0.0
    assert r.loc["all", "rate"] == pytest.approx(2 / 5)


def test_online_rate_empty_network_is_none():
    r = online_rate(SENSORS[SENSORS.network == "gas"], LAST_SEEN, NOW, RULES)
    assert pd.isna(r.loc["water", "rate"])  # null in frames is NaN


# ---- alarm populations ------------------------------------------------------------------------
def alarms_frame(rows):
    cols = ["alarm_id", "network", "level", "raised_at", "acknowledged_at", "resolved_at", "resolution", "status"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("raised_at", "acknowledged_at", "resolved_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


ALARMS = alarms_frame([
    # id, network, level, raised, acked, resolved, resolution, status
    ("a1", "gas", 1, T(-60), T(-58), T(-30), "fixed", "resolved"),          # ack 2 min, resolve 30 min
    ("a2", "gas", 2, T(-50), T(-46), T(-40), "false_alarm", "resolved"),    # ack 4 min, resolve 10 min
    ("a3", "water", 3, T(-40), T(-30), None, None, "acknowledged"),         # ack 10 min
    ("a4", "water", 4, T(-20), None, None, None, "active"),
    ("a5", "gas", 1, T(-7), None, None, None, "active"),
    ("a6", "heating", 2, T(-3), None, None, None, "active"),
    ("a7", "gas", 3, T(-200), T(-190), T(-130), "fixed", "resolved"),      # outside the window
])
START, END = T(-120), NOW


def test_active_counts():
    c = active_counts(ALARMS)
    assert c.loc["gas"].tolist() == [1, 0, 0, 0]
    assert c.loc["water"].tolist() == [0, 0, 1, 1]
    assert c.loc["heating"].tolist() == [0, 1, 0, 0]
    assert c.values.sum() == 4
    assert active_counts(ALARMS.iloc[:0]).values.sum() == 0


def test_mtta_mttr_mean_and_p90():
    a = mtta(ALARMS, START, END)  # 120, 240, 600 s
    assert a["n"] == 3 and a["mean_s"] == pytest.approx(320.0)
    assert a["p90_s"] == pytest.approx(528.0)  # rank 0.9*2 = 1.8: 240 + 0.8*(600-240)
    r = mttr(ALARMS, START, END)  # 1800, 600 s
    assert r == {"n": 2, "mean_s": 1200.0, "p90_s": pytest.approx(1680.0)}  # 600 + 0.9*1200
    assert mtta(ALARMS, T(1), T(2)) == {"n": 0, "mean_s": None, "p90_s": None}


def test_false_alarm_rate():
    assert false_alarm_rate(ALARMS, START, END) == {"resolved": 2, "false": 1, "rate": 0.5}
    assert false_alarm_rate(ALARMS, T(1), T(2))["rate"] is None


def test_kpis_by_network():
    k = kpis_by_network(ALARMS, START, END)
    assert k.loc["gas", "mtta_mean_s"] == pytest.approx(180.0)
    assert k.loc["water", "acknowledged"] == 1
    assert pd.isna(k.loc["heating", "false_alarm_rate"])
    assert k.loc["all", "false_alarm_rate"] == 0.5


def test_ack_clock_order_and_limits():
    c = ack_clock(ALARMS, NOW, RULES)
    assert c["alarm_id"].tolist() == ["a5", "a6", "a4"]  # level I, II, IV; acknowledged a3 left out
    a5 = c.iloc[0]
    assert (a5.elapsed_s, a5.limit_s, a5.remaining_s, bool(a5.overdue)) == (420.0, 300.0, -120.0, True)
    assert c.iloc[1].used == pytest.approx(180 / 600)
    assert not c.iloc[2].overdue  # 20 min of 60

"""Alarm metrics (METRICS.md, "Alarms"): thresholds, offline, counts, MTTA/MTTR, clocks.

Pure: pandas in, numbers and frames out; `now` and windows `[start, end)` are arguments.
Alarm frames carry the canonical alarm columns (`alarm_id, sensor_id, network, kind,
level, raised_at, acknowledged_at, resolved_at, resolution, status`, ...) with
tz-aware UTC times (NaT when empty). Sensor frames carry `sensor_id, network` and
optionally `offline_after_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from metrics.alarm_rules import LEVELS, NETWORKS, AlarmRules, Threshold, Unit  # noqa: F401 (re-export)

FALSE_ALARM = "false_alarm"


@dataclass(frozen=True)
class Breach:
    """The bound a value crossed: its level, the bound, and the bound's unit."""

    level: int
    threshold: float
    unit: str
    direction: str


def convert(value: float, unit: str, to_unit: str, rules: AlarmRules) -> float:
    """`value` in `unit` expressed in `to_unit`; ValueError if either is unknown or they differ in kind."""
    if unit not in rules.units:
        raise ValueError(f"unit: expected one of the units in the settings, got {unit!r}")
    if to_unit not in rules.units:
        raise ValueError(f"to_unit: expected one of the units in the settings, got {to_unit!r}")
    src, dst = rules.units[unit], rules.units[to_unit]
    if src.base != dst.base:
        raise ValueError(f"unit: {unit!r} ({src.base}) cannot be converted to {to_unit!r} ({dst.base})")
    return ((value * src.factor + src.offset) - dst.offset) / dst.factor


def _level_of(value: float, t: Threshold) -> int | None:
    for level, bound in zip(LEVELS, t.bounds()):
        if bound is None:
            continue
        if (t.direction == "above" and value >= bound) or (t.direction == "below" and value <= bound):
            return level
    return None


def crossed_threshold(network: str, kind: str, value: float, unit: str, rules: AlarmRules) -> Breach | None:
    """The most severe bound `value` crosses among the network's thresholds for `kind`, or None.

    Raises ValueError when `unit` is unknown or of another quantity than a threshold's.
    """
    best: Breach | None = None
    for t in rules.thresholds:
        if t.network != network or t.kind != kind:
            continue
        level = _level_of(convert(value, unit, t.unit, rules), t)
        if level is not None and (best is None or level < best.level):
            best = Breach(level, float(t.bounds()[level - 1]), t.unit, t.direction)
    return best


def evaluate_reading(network: str, kind: str, value: float, unit: str, rules: AlarmRules) -> int | None:
    """The alarm level (1 = I … 4 = IV) of one reading, or None when it is in range."""
    breach = crossed_threshold(network, kind, value, unit, rules)
    return None if breach is None else breach.level


def _offline_limits(sensors: pd.DataFrame, rules: AlarmRules) -> pd.Series:
    limit = sensors["network"].map(rules.offline_after_s).astype("float64")
    if "offline_after_s" in sensors:
        own = pd.to_numeric(sensors["offline_after_s"], errors="coerce")
        limit = limit.where(~(own > 0), own)
    return limit


def _seen(sensors: pd.DataFrame, last_seen: pd.Series | dict) -> pd.Series:
    seen = pd.Series(last_seen, dtype="object") if isinstance(last_seen, dict) else last_seen
    return pd.to_datetime(sensors["sensor_id"].map(seen), utc=True)


def offline_sensors(sensors_df: pd.DataFrame, last_seen: pd.Series | dict, now: datetime,
                    rules: AlarmRules) -> pd.DataFrame:
    """Sensors silent longer than their offline limit at `now` (never seen counts as silent).

    `last_seen`: sensor_id → last reading time. Returns the sensor rows plus `last_seen`,
    `silent_s` (NaN when never seen) and `offline_after_s_effective`.
    """
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    seen = _seen(sensors_df, last_seen)
    limit = _offline_limits(sensors_df, rules)
    silent = (now_ts - seen).dt.total_seconds()
    offline = seen.isna() | (silent > limit)
    out = sensors_df.assign(last_seen=seen, silent_s=silent, offline_after_s_effective=limit)
    return out[offline.to_numpy()].reset_index(drop=True)


def online_rate(sensors_df: pd.DataFrame, last_seen: pd.Series | dict, now: datetime,
                rules: AlarmRules) -> pd.DataFrame:
    """Per network and "all": `sensors`, `online`, `rate` (None when there are no sensors).

    Online: `last_seen >= now − offline_after` (METRICS.md).
    """
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    seen = _seen(sensors_df, last_seen)
    limit = pd.to_timedelta(_offline_limits(sensors_df, rules), unit="s")
    online = (seen >= now_ts - limit).fillna(False).astype(bool)
    rows = []
    for net in (*NETWORKS, "all"):
        mask = np.ones(len(sensors_df), bool) if net == "all" else (sensors_df["network"] == net).to_numpy()
        n, k = int(mask.sum()), int(online.to_numpy()[mask].sum())
        rows.append({"network": net, "sensors": n, "online": k, "rate": (k / n) if n else None})
    return pd.DataFrame(rows).set_index("network")


def _is_active(alarms: pd.DataFrame) -> pd.Series:
    return alarms["resolved_at"].isna() & (alarms["status"] != "resolved")


def active_counts(alarms_df: pd.DataFrame) -> pd.DataFrame:
    """Active (raised, not resolved) alarms: networks gas, water, heating × levels 1–4, zeros kept."""
    active = alarms_df[_is_active(alarms_df)]
    table = pd.crosstab(active["network"], active["level"].astype(int)) if len(active) else None
    out = pd.DataFrame(0, index=pd.Index(NETWORKS, name="network"), columns=pd.Index(LEVELS, name="level"))
    if table is not None:
        out = out.add(table.reindex(index=NETWORKS, columns=LEVELS, fill_value=0), fill_value=0).astype(int)
    return out


def _durations(alarms: pd.DataFrame, column: str, start: datetime, end: datetime) -> dict:
    at = alarms[column]
    in_w = at.notna() & (at >= pd.Timestamp(start)) & (at < pd.Timestamp(end))
    secs = (at[in_w] - alarms.loc[in_w, "raised_at"]).dt.total_seconds().to_numpy()
    if len(secs) == 0:
        return {"n": 0, "mean_s": None, "p90_s": None}
    return {"n": int(len(secs)), "mean_s": float(secs.mean()), "p90_s": float(np.percentile(secs, 90))}


def mtta(alarms_df: pd.DataFrame, start: datetime, end: datetime) -> dict:
    """`acknowledged_at − raised_at` over alarms acknowledged in [start, end): n, mean_s, p90_s."""
    return _durations(alarms_df, "acknowledged_at", start, end)


def mttr(alarms_df: pd.DataFrame, start: datetime, end: datetime) -> dict:
    """`resolved_at − raised_at` over alarms resolved in [start, end): n, mean_s, p90_s."""
    return _durations(alarms_df, "resolved_at", start, end)


def false_alarm_rate(alarms_df: pd.DataFrame, start: datetime, end: datetime) -> dict:
    """Among alarms resolved in [start, end), the share resolved as false: resolved, false, rate."""
    at = alarms_df["resolved_at"]
    in_w = at.notna() & (at >= pd.Timestamp(start)) & (at < pd.Timestamp(end))
    n = int(in_w.sum())
    k = int((alarms_df.loc[in_w, "resolution"] == FALSE_ALARM).sum())
    return {"resolved": n, "false": k, "rate": (k / n) if n else None}


def kpis_by_network(alarms_df: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """MTTA, MTTR (mean and p90, seconds) and false-alarm rate per network and for "all"."""
    rows = []
    for net in (*NETWORKS, "all"):
        part = alarms_df if net == "all" else alarms_df[alarms_df["network"] == net]
        a, r, f = mtta(part, start, end), mttr(part, start, end), false_alarm_rate(part, start, end)
        rows.append({"network": net, "acknowledged": a["n"], "mtta_mean_s": a["mean_s"], "mtta_p90_s": a["p90_s"],
                     "resolved": r["n"], "mttr_mean_s": r["mean_s"], "mttr_p90_s": r["p90_s"],
                     "false": f["false"], "false_alarm_rate": f["rate"]})
    return pd.DataFrame(rows).set_index("network")


def ack_clock(alarms_df: pd.DataFrame, now: datetime, rules: AlarmRules) -> pd.DataFrame:
    """Active, unacknowledged alarms with their acknowledgement clock, by level then age.

    Adds `elapsed_s` (now − raised_at), `limit_s` (the level's limit), `remaining_s`
    (negative once past), `used` (elapsed / limit) and `overdue` (elapsed > limit).
    Sorted level I first, then oldest first.
    """
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    mask = _is_active(alarms_df) & alarms_df["acknowledged_at"].isna()
    out = alarms_df[mask].copy()
    out["elapsed_s"] = (now_ts - out["raised_at"]).dt.total_seconds()
    out["limit_s"] = out["level"].astype(int).map(lambda lv: rules.ack_limit_s(lv)).astype("float64")
    out["remaining_s"] = out["limit_s"] - out["elapsed_s"]
    out["used"] = out["elapsed_s"] / out["limit_s"]
    out["overdue"] = out["elapsed_s"] > out["limit_s"]
    return out.sort_values(["level", "raised_at"], kind="stable").reset_index(drop=True)

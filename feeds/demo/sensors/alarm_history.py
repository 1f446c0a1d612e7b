"""A few days of past alarms for the demo city, so MTTA, MTTR and the false-alarm rate are
not empty on first start. Invented (the operators' names say 演示); deterministic per seed.

Each past alarm is raised at a random time, acknowledged after a delay drawn around its
level's limit (some late), and resolved 10–150 minutes later as fixed, cleared or (about
one in six) a false alarm. A few recent ones are still active: some acknowledged, some
not, two raised minutes ago so the acknowledgement clocks are running.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd

from metrics.alarm_engine import alarm_id
from metrics.alarm_rules import ALARM_FIELDS
from feeds.demo.sensors.simulator import LEVEL_MIX, PROFILES
from metrics.alarm_rules import AlarmRules
from metrics.alarms import crossed_threshold

OPERATORS = ("值班员 王磊（演示）", "值班员 李娜（演示）", "值班员 赵强（演示）", "值班员 刘洋（演示）")


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record(row, level: int, at: datetime, rng: np.random.Generator, rules: AlarmRules) -> dict | None:
    normal, sd, unit, direction, levels = PROFILES[(row.network, row.kind)]
    if levels[level - 1] is None:
        return None
    value = levels[level - 1] + abs(rng.normal(0, sd)) * (1 if direction == "above" else -1)
    breach = crossed_threshold(row.network, row.kind, value, unit, rules)
    if breach is None:
        return None
    rec = dict.fromkeys(ALARM_FIELDS)
    raised = at.isoformat()
    rec.update(alarm_id=alarm_id(row.sensor_id, row.kind, raised), sensor_id=row.sensor_id, network=row.network,
               kind=row.kind, level=breach.level, value=round(float(value), 3), threshold=breach.threshold,
               unit=breach.unit, raised_at=raised, status="active", lat=float(row.lat), lon=float(row.lon),
               grid_code=row.grid_code if isinstance(row.grid_code, str) else None)
    return rec


def history_alarms(sensors: pd.DataFrame, now: datetime, days: int = 5, per_day: int = 40,
                   seed: int = 20261121, rules: AlarmRules | None = None) -> list[dict]:
    """Canonical alarm records over the `days` before `now` (UTC), with `updated_at`."""
    rules = rules or AlarmRules()
    rng = np.random.default_rng(seed + 4)
    usable = sensors[sensors["kind"] != "flow"].reset_index(drop=True)
    out: list[dict] = []
    n = days * per_day
    starts = np.sort(rng.uniform(0, days * 86400 - 6 * 3600, n))
    for offset in starts:
        row = usable.iloc[int(rng.integers(len(usable)))]
        level = int(rng.choice(4, p=LEVEL_MIX)) + 1
        raised = now - timedelta(days=days) + timedelta(seconds=float(offset))
        rec = _record(row, level, raised, rng, rules)
        if rec is None:
            continue
        limit = rules.ack_limit_s(rec["level"])
        ack = raised + timedelta(seconds=float(limit * rng.lognormal(-0.6, 0.6)))
        done = ack + timedelta(minutes=float(rng.uniform(10, 150)))
        resolution = "false_alarm" if rng.random() < 0.16 else ("fixed" if rng.random() < 0.7 else "cleared")
        rec.update(acknowledged_at=ack.isoformat(), acknowledged_by=OPERATORS[int(rng.integers(len(OPERATORS)))],
                   resolved_at=done.isoformat(), resolution=resolution, status="resolved", updated_at=_stamp(done))
        out.append(rec)
    # still active (gas: its feed does not clear alarms by itself, a person resolves them):
    # acknowledged hours ago, not yet acknowledged, and two raised minutes ago
    gas = usable[usable["network"] == "gas"].reset_index(drop=True)
    for minutes, acked in ((300, True), (190, True), (95, False), (42, True), (7, False), (2, False)):
        row = gas.iloc[int(rng.integers(len(gas)))]
        level = 2 if minutes <= 7 else int(rng.choice(4, p=LEVEL_MIX)) + 1
        raised = now - timedelta(minutes=minutes)
        rec = _record(row, level, raised, rng, rules)
        if rec is None:
            continue
        rec["updated_at"] = _stamp(raised)
        if acked:
            ack = raised + timedelta(minutes=float(rng.uniform(2, 9)))
            rec.update(acknowledged_at=ack.isoformat(), acknowledged_by=OPERATORS[0], status="acknowledged",
                       updated_at=_stamp(ack))
        out.append(rec)
    return out

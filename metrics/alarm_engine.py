"""Readings in, alarm records out: raise, escalate, clear, offline, acknowledge, resolve.

One active alarm per (sensor, kind) at a time ("active" = not resolved, whether
acknowledged or not):
- a reading that crosses a threshold raises an alarm, or escalates the active one to a
  more severe level (value, threshold and level follow; `raised_at` and any
  acknowledgement stay; `levels` keeps each level taken, when and at which value — the
  alarm's own timeline); a less severe crossing changes nothing;
- a reading back in range resolves the active alarm as "cleared", only when the feed
  says so (`clear_on_normal`); otherwise a person resolves it;
- an alarm raised by a feed (FIWARE Alert/Anomaly) merges the same way; one the feed
  marks resolved clears the active one;
- a sensor silent past its limit gets an "offline" alarm, cleared by its next reading.
Functions take the current active alarms and return the alarms they created or changed
(new dicts: inputs are never modified); the caller stores them. People write alarms too
(acknowledge, resolve): when a person wrote an alarm between the engine's read and its
write, `reapply` redoes only the engine's change on the alarm as the person left it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import pandas as pd

from metrics.alarm_rules import ALARM_FIELDS, OFFLINE_KIND, AlarmRules
from metrics.alarms import crossed_threshold, offline_sensors

Key = tuple[str, str]
ESCALATION_FIELDS = ("level", "value", "threshold", "unit", "levels")
CLEAR_FIELDS = ("status", "resolved_at", "resolution")


def alarm_id(sensor_id: str, kind: str, raised_at: str) -> str:
    """A deterministic id, so that replaying the same readings raises the same alarm."""
    stamp = datetime.fromisoformat(raised_at).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{sensor_id}/{kind}/{stamp}"


def _index(active: Iterable[Mapping]) -> dict[Key, dict]:
    return {(a["sensor_id"], a["kind"]): dict(a) for a in active if a.get("status") != "resolved"}


def _where(sensor: Mapping | None, reading: Mapping) -> dict:
    s = sensor or {}
    return {"lat": reading.get("lat") if reading.get("lat") is not None else s.get("lat"),
            "lon": reading.get("lon") if reading.get("lon") is not None else s.get("lon"),
            "grid_code": s.get("grid_code")}


def _step(level, at: str, value) -> dict:
    """One entry of an alarm's `levels`: the level it took, when, and the value that made it."""
    return {"level": level, "at": at, "value": value}


def _escalated(current: Mapping, level: int, at: str, value, threshold, unit) -> dict:
    """`current` at a more severe level; the change is appended to its `levels` history."""
    levels = list(current.get("levels") or [_step(current.get("level"), current.get("raised_at"),
                                                  current.get("value"))])
    return dict(current, level=level, value=value, threshold=threshold, unit=unit,
                levels=levels + [_step(level, at, value)])


def _new(sensor_id: str, network: str, kind: str, level: int, value, threshold, unit, at: str, where: dict) -> dict:
    rec = dict.fromkeys(ALARM_FIELDS)
    rec.update(alarm_id=alarm_id(sensor_id, kind, at), sensor_id=sensor_id, network=network, kind=kind,
               level=level, value=value, threshold=threshold, unit=unit, raised_at=at, status="active",
               levels=[_step(level, at, value)], **where)
    return rec


def _resolve(alarm: Mapping, at: str, resolution: str) -> dict:
    return dict(alarm, resolved_at=at, resolution=resolution, status="resolved")


def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def apply_readings(active: Iterable[Mapping], readings: Iterable[Mapping], sensors: Mapping[str, Mapping],
                   rules: AlarmRules, clear_on_normal: bool = False,
                   newest: Mapping[str, str] | None = None) -> list[dict]:
    """Alarms raised, escalated or cleared by `readings` (taken in time order).

    `newest` maps "sensor_id/kind" to the newest `observed_at` taken from earlier polls: a
    reading older than that arrived late and tells nothing about the sensor's state now
    (a late normal reading must not clear an alarm a newer reading keeps up, a late crossing
    escalates nothing), so it is kept in the sensor's history by the caller; but a late
    crossing of a sensor with no active alarm of that kind still raises its alarm, at the
    reading's time: the event happened, and nobody has seen it yet.
    """
    state, changed = _index(active), {}
    newest = newest or {}
    for r in sorted(readings, key=lambda r: _t(r["observed_at"])):
        sid, at = r["sensor_id"], r["observed_at"]
        before = newest.get(f"{sid}/{r['kind']}")
        if before is not None and _t(at) < _t(before):
            breach = crossed_threshold(r["network"], r["kind"], r["value"], r["unit"], rules)
            if breach is not None and (sid, r["kind"]) not in state:
                rec = _new(sid, r["network"], r["kind"], breach.level, r["value"], breach.threshold, breach.unit,
                           at, _where(sensors.get(sid), r))
                state[(sid, r["kind"])] = changed[rec["alarm_id"]] = rec
            continue
        off = state.get((sid, OFFLINE_KIND))
        if off is not None and _t(at) >= _t(off["raised_at"]):
            changed[off["alarm_id"]] = _resolve(off, at, "cleared")
            del state[(sid, OFFLINE_KIND)]
        key = (sid, r["kind"])
        breach = crossed_threshold(r["network"], r["kind"], r["value"], r["unit"], rules)
        current = state.get(key)
        if breach is None:
            if current is not None and clear_on_normal and _t(at) >= _t(current["raised_at"]):
                changed[current["alarm_id"]] = _resolve(current, at, "cleared")
                del state[key]
            continue
        if current is None:
            rec = _new(sid, r["network"], r["kind"], breach.level, r["value"], breach.threshold, breach.unit,
                       at, _where(sensors.get(sid), r))
            state[key] = changed[rec["alarm_id"]] = rec
        elif breach.level < current["level"]:
            rec = _escalated(current, breach.level, at, r["value"], breach.threshold, breach.unit)
            state[key] = changed[rec["alarm_id"]] = rec
    return list(changed.values())


def apply_feed_alarms(active: Iterable[Mapping], feed_alarms: Iterable[Mapping],
                      sensors: Mapping[str, Mapping]) -> list[dict]:
    """Merge alarms raised (or cleared) by a feed into the active ones, one per sensor+kind."""
    state, changed = _index(active), {}
    for fa in sorted(feed_alarms, key=lambda a: _t(a["raised_at"])):
        key = (fa["sensor_id"], fa["kind"])
        current = state.get(key)
        if fa.get("status") == "resolved":
            if current is not None:
                changed[current["alarm_id"]] = _resolve(current, fa["resolved_at"], fa.get("resolution") or "cleared")
                del state[key]
            continue
        if current is None:
            rec = dict.fromkeys(ALARM_FIELDS)
            rec.update({k: fa.get(k) for k in ALARM_FIELDS}, status="active")
            for k, v in _where(sensors.get(fa["sensor_id"]), fa).items():
                rec[k] = v
            rec["levels"] = [_step(rec.get("level"), rec.get("raised_at"), rec.get("value"))]
            state[key] = changed[rec["alarm_id"]] = rec
        elif fa["level"] < current["level"]:
            rec = _escalated(current, fa["level"], fa.get("updated_at") or fa["raised_at"], fa.get("value"),
                             fa.get("threshold"), fa.get("unit"))
            state[key] = changed[rec["alarm_id"]] = rec
    return list(changed.values())


def offline_alarms(active: Iterable[Mapping], sensors_df: pd.DataFrame, last_seen: Mapping | pd.Series,
                   now: datetime, rules: AlarmRules) -> list[dict]:
    """New "offline" alarms for sensors silent past their limit that have none yet.

    Raised at the moment the sensor went offline (last_seen + limit), or at `now` for a
    sensor never seen. The value is the silence in seconds at `now`.
    """
    state = _index(active)
    out = []
    for row in offline_sensors(sensors_df, last_seen, now, rules).itertuples(index=False):
        if (row.sensor_id, OFFLINE_KIND) in state:
            continue
        seen = row.last_seen
        at = (now if pd.isna(seen) else seen + pd.Timedelta(seconds=row.offline_after_s_effective))
        at_iso = pd.Timestamp(at).tz_convert("UTC").isoformat()
        silent = None if pd.isna(row.silent_s) else float(row.silent_s)
        out.append(_new(row.sensor_id, row.network, OFFLINE_KIND, rules.offline_level, silent,
                        float(row.offline_after_s_effective), "s", at_iso,
                        {"lat": getattr(row, "lat", None), "lon": getattr(row, "lon", None),
                         "grid_code": getattr(row, "grid_code", None)}))
    return out


def change_of(base: Mapping | None, new: Mapping) -> str:
    """What the engine did to `base` (None: nothing stored) to get `new`, in words."""
    if base is None:
        return "clear" if new.get("status") == "resolved" else "raise"
    parts = []
    if new.get("level") != base.get("level"):
        parts.append(f"escalation to level {new.get('level')}")
    if new.get("status") == "resolved" and base.get("status") != "resolved":
        parts.append(new.get("resolution") or "clear")
    return " and ".join(parts) or "change"


def reapply(stored: Mapping | None, base: Mapping | None, new: Mapping) -> tuple[dict | None, str]:
    """The engine's change from `base` to `new`, redone on `stored`: the alarm as another
    writer (a person acknowledging or resolving, another poller raising it) left it meanwhile.

    Only what the engine decides is applied: an escalation sets level, value, threshold and
    unit when it is more severe than the stored level; a clear resolves the alarm; everything
    else (the acknowledgement: who and when) is the stored alarm's. An alarm resolved
    meanwhile stays as it is. Returns (the alarm to store, "") or (None, why nothing is).
    """
    what, aid = change_of(base, new), new["alarm_id"]
    if stored is None:
        return (dict(new), "") if base is None else (None, f"alarm {aid} is no longer stored; its {what} is dropped")
    if stored.get("status") == "resolved":
        return None, (f"alarm {aid} was resolved meanwhile ({stored.get('resolution') or 'resolved'}"
                      f" at {stored.get('resolved_at')}); the poll's {what} is dropped")
    out = dict(stored)
    if _more_severe(new.get("level"), stored.get("level")):
        out.update({k: new.get(k) for k in ESCALATION_FIELDS})
    if new.get("status") == "resolved":
        out.update({k: new.get(k) for k in CLEAR_FIELDS})
    if out == dict(stored):
        return None, f"alarm {aid} already is as the poll's {what} would leave it (level {stored.get('level')})"
    return out, ""


def _more_severe(level, than) -> bool:
    """Level I is the most severe: a smaller number is more severe."""
    return level is not None and (than is None or level < than)


def acknowledge(alarm: Mapping, by: str, at: datetime) -> dict:
    """A person acknowledges an active alarm (ValueError if it is resolved or already acknowledged)."""
    if alarm.get("status") != "active":
        raise ValueError(f"status: expected an active alarm to acknowledge, got {alarm.get('status')!r}")
    if not by.strip():
        raise ValueError("by: expected who acknowledges, got ''")
    return dict(alarm, acknowledged_at=at.astimezone(timezone.utc).isoformat(), acknowledged_by=by,
                status="acknowledged")


def resolve(alarm: Mapping, by: str, at: datetime, resolution: str) -> dict:
    """A person resolves an alarm as "fixed" or "false_alarm".

    An alarm not yet acknowledged is acknowledged by the same person at the same time
    (resolving it is the strongest acknowledgement). Who resolved goes to the audit log.
    """
    if alarm.get("status") == "resolved":
        raise ValueError("status: expected an alarm that is not resolved, got 'resolved'")
    if resolution not in ("fixed", "false_alarm"):
        raise ValueError(f"resolution: expected 'fixed' or 'false_alarm', got {resolution!r}")
    out = dict(alarm)
    if not out.get("acknowledged_at"):
        out = acknowledge(out, by, at)
    return _resolve(out, at.astimezone(timezone.utc).isoformat(), resolution)

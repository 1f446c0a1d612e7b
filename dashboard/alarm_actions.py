"""Acknowledge and resolve alarms from the page: the one place people write alarms.

Each action reads the alarm from the store, applies `feeds.alarm_engine.acknowledge` or
`resolve`, writes it back with a strictly newer `updated_at`, and appends an audit entry
(`who, what, alarm_id, at, …`) to the store's audit log in Redis. Errors a person can act
on (already resolved, unknown alarm) raise `ActionError` with a message for the screen.
"""

from __future__ import annotations

from datetime import datetime, timezone

from feeds import alarm_engine
from feeds.sensor_poll import next_stamp

RESOLUTIONS = ("fixed", "false_alarm")


class ActionError(ValueError):
    """The action cannot be done; the message says why."""


def _load(store, alarm_id: str) -> dict:
    (rec,) = store.dataset("alarms").get([alarm_id]) or [None]
    if rec is None:
        raise ActionError(f"no alarm {alarm_id!r}")
    return rec


def _write(store, old: dict, new: dict, who: str, what: str, at: datetime, **extra) -> dict:
    new["updated_at"] = next_stamp(old.get("updated_at"), at)
    result = store.dataset("alarms").upsert([new])
    if not result.changed:
        raise ActionError(f"alarm {old['alarm_id']} changed meanwhile; try again")
    store.audit({"who": who, "what": what, "alarm_id": old["alarm_id"], "level": old.get("level"),
                 "network": old.get("network"), "sensor_id": old.get("sensor_id"),
                 "when": at.astimezone(timezone.utc).isoformat(), **extra})
    return new


def acknowledge(store, alarm_id: str, who: str, at: datetime | None = None) -> dict:
    """Acknowledge an active alarm; returns the stored record."""
    at = at or datetime.now(timezone.utc)
    old = _load(store, alarm_id)
    try:
        new = alarm_engine.acknowledge(old, who, at)
    except ValueError as exc:
        raise ActionError(str(exc).split(":", 1)[-1].strip()) from None
    return _write(store, old, new, who, "acknowledge", at)


def resolve(store, alarm_id: str, who: str, resolution: str, at: datetime | None = None, note: str = "") -> dict:
    """Resolve an alarm as fixed or false_alarm (acknowledging it too if nobody had)."""
    at = at or datetime.now(timezone.utc)
    if resolution not in RESOLUTIONS:
        raise ActionError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")
    old = _load(store, alarm_id)
    try:
        new = alarm_engine.resolve(old, who, at, resolution)
    except ValueError as exc:
        raise ActionError(str(exc).split(":", 1)[-1].strip()) from None
    new["resolved_by"] = who
    return _write(store, old, new, who, "resolve", at, resolution=resolution, note=note[:200])


def history(store, alarm_id: str | None = None, limit: int = 200) -> list[dict]:
    """Audit entries about alarms (newest first), optionally of one alarm."""
    out = [e for e in store.audit_log(limit) if e.get("alarm_id")]
    return [e for e in out if e["alarm_id"] == alarm_id] if alarm_id else out

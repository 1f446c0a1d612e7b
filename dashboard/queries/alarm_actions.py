"""Acknowledge and resolve alarms from the page: the one place people write alarms.

Each action reads the alarm from the store, applies `feeds.sensors.alarm_engine.acknowledge` or
`resolve`, and writes it back with a strictly newer `updated_at` by compare-and-set: only
over the version it read. The poller writes alarms too (escalations, clears); when it did
so in between, the action is applied again on the alarm as the poller left it (a person
may acknowledge an escalated alarm), a few times at most. An audit entry
(`who, what, alarm_id, at, …`) goes to the store's audit log in Redis only when the write
landed. Errors a person can act on (already resolved, unknown alarm) raise `ActionError`
with a message for the screen.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from feeds.sensors import alarm_engine
from feeds.sensors.poll import next_stamp

RESOLUTIONS = ("fixed", "false_alarm")
TRIES = 3           # writes of one action: the first, and redone twice on a changed alarm


class ActionError(ValueError):
    """The action cannot be done; the message says why."""


def _load(store, alarm_id: str) -> dict:
    (rec,) = store.dataset("alarms").get([alarm_id]) or [None]
    if rec is None:
        raise ActionError(f"no alarm {alarm_id!r}")
    return rec


def _apply(action: Callable[[dict], dict], alarm: dict, what: str, meanwhile: bool) -> dict:
    """`action` on `alarm`; its ValueError becomes an ActionError for the screen."""
    if meanwhile and alarm.get("status") == "resolved":
        raise ActionError(f"alarm {alarm['alarm_id']} was resolved meanwhile "
                          f"({alarm.get('resolution') or 'resolved'} at {alarm.get('resolved_at')}): "
                          f"nothing left to {what}")
    try:
        return action(alarm)
    except ValueError as exc:
        message = str(exc).split(":", 1)[-1].strip()
        raise ActionError(f"alarm {alarm['alarm_id']} changed meanwhile: {message}" if meanwhile else message) from None


def _act(store, alarm_id: str, who: str, what: str, at: datetime, action: Callable[[dict], dict],
         seen: dict | None = None, **extra) -> dict:
    """Apply `action` to the alarm and store it over the version it was applied to.

    `seen` is the alarm as the person saw it (default: read now). When the stored alarm
    changed since, it is read again and the action applied again, `TRIES` writes at most.
    """
    alarms = store.dataset("alarms")
    old = seen or _load(store, alarm_id)
    for attempt in range(TRIES):
        new = _apply(action, old, what, meanwhile=attempt > 0)
        new["updated_at"] = next_stamp(old.get("updated_at"), at)
        _, conflicts = alarms.upsert_expecting([new], {alarm_id: old.get("updated_at") or ""})
        if not conflicts:
            _audit(store, new, who, what, at, **extra)
            return new
        old = _load(store, alarm_id)
    raise ActionError(f"alarm {alarm_id} keeps changing; try again")


def _audit(store, alarm: dict, who: str, what: str, at: datetime, **extra) -> None:
    store.audit({"who": who, "what": what, "alarm_id": alarm["alarm_id"], "level": alarm.get("level"),
                 "network": alarm.get("network"), "sensor_id": alarm.get("sensor_id"),
                 "when": at.astimezone(timezone.utc).isoformat(), **extra})


def acknowledge(store, alarm_id: str, who: str, at: datetime | None = None, seen: dict | None = None) -> dict:
    """Acknowledge an active alarm; returns the stored record.

    `seen`: the alarm as the person saw it, when the page has it (default: read now).
    """
    at = at or datetime.now(timezone.utc)
    return _act(store, alarm_id, who, "acknowledge", at, lambda a: alarm_engine.acknowledge(a, who, at), seen)


def resolve(store, alarm_id: str, who: str, resolution: str, at: datetime | None = None, note: str = "",
            seen: dict | None = None) -> dict:
    """Resolve an alarm as fixed or false_alarm (acknowledging it too if nobody had)."""
    at = at or datetime.now(timezone.utc)
    if resolution not in RESOLUTIONS:
        raise ActionError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")

    def action(alarm: dict) -> dict:
        return dict(alarm_engine.resolve(alarm, who, at, resolution), resolved_by=who)
    return _act(store, alarm_id, who, "resolve", at, action, seen, resolution=resolution, note=note[:200])


def history(store, alarm_id: str | None = None, limit: int = 200) -> list[dict]:
    """Audit entries about alarms (newest first), optionally of one alarm."""
    out = [e for e in store.audit_log(limit) if e.get("alarm_id")]
    return [e for e in out if e["alarm_id"] == alarm_id] if alarm_id else out

"""Acknowledge and resolve alarms from the page: the one place people write alarms.

Each action reads the alarm from the store, applies `feeds.alarm_engine.acknowledge` or
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

import pandas as pd

from feeds import alarm_engine
from feeds.sensor_poll import next_stamp

RESOLUTIONS = ("fixed", "false_alarm")
TRIES = 3           # writes of one action: the first, and redone twice on a changed alarm


class ActionError(ValueError):
    """The action cannot be done; the message says why (a bad request by default)."""


class Forbidden(ActionError):
    """The viewer may not do this (no `act_on_alarms`, or the alarm lies outside their areas)."""


class UnknownAlarm(ActionError):
    """No such alarm."""


class Refused(ActionError):
    """The alarm's state forbids the action (already acknowledged, resolved meanwhile, …)."""


def _load(store, alarm_id: str) -> dict:
    (rec,) = store.dataset("alarms").get([alarm_id]) or [None]
    if rec is None:
        raise UnknownAlarm(f"no alarm {alarm_id!r}")
    return rec


def _apply(action: Callable[[dict], dict], alarm: dict, what: str, meanwhile: bool) -> dict:
    """`action` on `alarm`; its ValueError becomes an ActionError for the screen."""
    if meanwhile and alarm.get("status") == "resolved":
        raise Refused(f"alarm {alarm['alarm_id']} was resolved meanwhile "
                          f"({alarm.get('resolution') or 'resolved'} at {alarm.get('resolved_at')}): "
                          f"nothing left to {what}")
    try:
        return action(alarm)
    except ValueError as exc:
        message = str(exc).split(":", 1)[-1].strip()
        raise Refused(f"alarm {alarm['alarm_id']} changed meanwhile: {message}" if meanwhile else message) from None


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
    raise Refused(f"alarm {alarm_id} keeps changing; try again")


def _audit(store, alarm: dict, who: str, what: str, at: datetime, **extra) -> None:
    store.audit({"who": who, "what": what, "alarm_id": alarm["alarm_id"], "level": alarm.get("level"),
                 "network": alarm.get("network"), "sensor_id": alarm.get("sensor_id"),
                 "when": at.astimezone(timezone.utc).isoformat(), **extra})


def acknowledge(store, alarm_id: str, who: str, at: datetime | None = None, seen: dict | None = None,
                note: str = "") -> dict:
    """Acknowledge an active alarm; returns the stored record.

    `seen`: the alarm as the person saw it, when the page has it (default: read now).
    """
    at = at or datetime.now(timezone.utc)
    extra = {"note": note[:200]} if note else {}
    return _act(store, alarm_id, who, "acknowledge", at, lambda a: alarm_engine.acknowledge(a, who, at), seen,
                **extra)


def resolve(store, alarm_id: str, who: str, resolution: str, at: datetime | None = None, note: str = "",
            seen: dict | None = None) -> dict:
    """Resolve an alarm as fixed or false_alarm (acknowledging it too if nobody had)."""
    at = at or datetime.now(timezone.utc)
    if resolution not in RESOLUTIONS:
        raise ActionError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}")

    def action(alarm: dict) -> dict:
        return dict(alarm_engine.resolve(alarm, who, at, resolution), resolved_by=who)
    return _act(store, alarm_id, who, "resolve", at, action, seen, resolution=resolution, note=note[:200])


ACTIONS = ("acknowledge", "resolve")


def perform(q, viewer, alarm_id: str, what: str, resolution: str | None = None, note: str = "",
            at: datetime | None = None, seen: dict | None = None) -> dict:
    """The one door for people's alarm actions (the page's buttons and the API's POSTs).

    Checked here, on the server, before anything is written: the viewer's role may act on
    alarms (`act_on_alarms`) and the alarm lies in the viewer's areas (`q.scope_mask`, the
    query layer's scope rule). Raises Forbidden, UnknownAlarm, Refused or ActionError.
    """
    if what not in ACTIONS:
        raise ActionError(f"action must be one of {', '.join(ACTIONS)}, got {what!r}")
    if not viewer.act_on_alarms:
        raise Forbidden(f"role {viewer.role!r} may not act on alarms (act_on_alarms is off)")
    alarm = seen or _load(q.store, alarm_id)
    if viewer.areas:
        if not q.scope_mask(viewer, pd.Series([alarm.get("grid_code")], dtype=object)).iloc[0]:
            raise Forbidden(f"alarm {alarm_id} lies outside the areas of role {viewer.role!r}")
    if what == "acknowledge":
        return acknowledge(q.store, alarm_id, viewer.user, at, seen=alarm, note=note or "")
    return resolve(q.store, alarm_id, viewer.user, resolution or "", at, note=note or "", seen=alarm)


def history(store, alarm_id: str | None = None, limit: int = 200) -> list[dict]:
    """Audit entries about alarms (newest first), optionally of one alarm."""
    out = [e for e in store.audit_log(limit) if e.get("alarm_id")]
    return [e for e in out if e["alarm_id"] == alarm_id] if alarm_id else out

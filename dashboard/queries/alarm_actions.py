"""Acknowledge and resolve alarms from the page: the one place people write alarms.

Each action reads the alarm from the store, applies `metrics.alarm_engine.acknowledge` or
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

from dashboard.store import next_stamp
from dashboard.queries import audit as audit_trail
from dashboard.queries.access import Viewer, area_in_scope
from metrics import alarm_engine

RESOLUTIONS = ("fixed", "false_alarm")
TRIES = 3           # writes of one action: the first, and redone twice on a changed alarm


class ActionError(ValueError):
    """The action cannot be done; the message says why (English, for logs).

    `code` and `params` let the page say it in the viewer's language
    (`layouts.i18n` "alarms.err.<code>", formatted with `params`).
    """

    status = 409
    default_code = "failed"

    def __init__(self, message: str, code: str | None = None, **params) -> None:
        super().__init__(message)
        self.code, self.params = code or self.default_code, params


class ActionRefused(ActionError):
    """The viewer may not do this (no `act_on_alarms`, or the alarm is outside their areas);
    nothing was written, and the refusal is in the audit trail."""

    status = 403
    default_code = "refused"


class NoSuchAlarm(ActionError):
    status = 404
    default_code = "not_found"


def check_permission(store, viewer: Viewer, alarm_id: str, what: str, tree=None) -> dict:
    """The alarm, when `viewer` may act on it; else `ActionRefused` (audited): no
    `act_on_alarms`, or the alarm outside the viewer's areas. An unknown id is `NoSuchAlarm`
    (only a viewer who may act learns that)."""
    if not isinstance(viewer, Viewer):
        raise TypeError("alarm actions take the acting Viewer (permissions and scope are checked)")
    rec = (store.dataset("alarms").get([alarm_id]) or [None])[0] if isinstance(alarm_id, str) and alarm_id else None
    why = None
    if not viewer.act_on_alarms:
        why = "no act_on_alarms permission"
    elif rec is None:
        raise NoSuchAlarm(f"no alarm {str(alarm_id)[:64]!r}", alarm=str(alarm_id)[:64])
    elif not area_in_scope(viewer, rec.get("grid_code"), tree):
        why = "alarm outside the viewer's areas"
    if why:
        audit_trail.record(store, {"what": "refused", "action": what, "who": viewer.user, "role": viewer.role,
                                   "via": viewer.via, "alarm_id": str(alarm_id)[:64], "reason": why})
        raise ActionRefused(f"refused: {why}")
    return rec


def _load(store, alarm_id: str) -> dict:
    (rec,) = store.dataset("alarms").get([alarm_id]) or [None]
    if rec is None:
        raise ActionError(f"no alarm {alarm_id!r}", "not_found", alarm=alarm_id)
    return rec


def _refusal(alarm: dict, what: str) -> str:
    """Why `what` cannot be done on `alarm`, as an error code."""
    if alarm.get("status") == "resolved":
        return "already_resolved"
    if what == "acknowledge" and alarm.get("status") == "acknowledged":
        return "already_acknowledged"
    return "failed"


def _apply(action: Callable[[dict], dict], alarm: dict, what: str, meanwhile: bool) -> dict:
    """`action` on `alarm`; its ValueError becomes an ActionError for the screen."""
    if meanwhile and alarm.get("status") == "resolved":
        raise ActionError(f"alarm {alarm['alarm_id']} was resolved meanwhile "
                          f"({alarm.get('resolution') or 'resolved'} at {alarm.get('resolved_at')}): "
                          f"nothing left to {what}", "resolved_meanwhile", alarm=alarm["alarm_id"],
                          resolution=alarm.get("resolution") or "", at=alarm.get("resolved_at") or "")
    try:
        return action(alarm)
    except ValueError as exc:
        message = str(exc).split(":", 1)[-1].strip()
        raise ActionError(f"alarm {alarm['alarm_id']} changed meanwhile: {message}" if meanwhile else message,
                          _refusal(alarm, what), alarm=alarm["alarm_id"], status=alarm.get("status") or "",
                          detail=message) from None


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
    raise ActionError(f"alarm {alarm_id} keeps changing; try again", "keeps_changing", alarm=alarm_id)


def _audit(store, alarm: dict, who: str, what: str, at: datetime, **extra) -> None:
    audit_trail.record(store, {"who": who, "what": what, "alarm_id": alarm["alarm_id"], "level": alarm.get("level"),
                 "network": alarm.get("network"), "sensor_id": alarm.get("sensor_id"),
                 "when": at.astimezone(timezone.utc).isoformat(), **extra})


def acknowledge(store, alarm_id: str, viewer: Viewer, at: datetime | None = None, seen: dict | None = None,
                tree=None, note: str = "") -> dict:
    """Acknowledge an active alarm as `viewer` (permission and area checked); returns the
    stored record. `seen`: the alarm as the person saw it, when the page has it (default: read now)."""
    check_permission(store, viewer, alarm_id, "acknowledge", tree)
    who = viewer.user
    at = at or datetime.now(timezone.utc)
    extra = {"role": viewer.role, "via": viewer.via} | ({"note": note[:200]} if note else {})
    return _act(store, alarm_id, who, "acknowledge", at, lambda a: alarm_engine.acknowledge(a, who, at), seen, **extra)


def resolve(store, alarm_id: str, viewer: Viewer, resolution: str, at: datetime | None = None, note: str = "",
            seen: dict | None = None, tree=None) -> dict:
    """Resolve an alarm as fixed or false_alarm (acknowledging it too if nobody had); a false
    alarm needs a note saying why."""
    check_permission(store, viewer, alarm_id, "resolve", tree)
    who = viewer.user
    at = at or datetime.now(timezone.utc)
    if resolution not in RESOLUTIONS:
        raise ActionError(f"resolution must be one of {', '.join(RESOLUTIONS)}, got {resolution!r}", "failed",
                          alarm=alarm_id, detail=f"resolution {resolution!r}")
    note = (note or "").strip()
    if resolution == "false_alarm" and not note:
        raise ActionError("a false alarm needs a note saying why", "note_required", alarm=alarm_id)

    def action(alarm: dict) -> dict:
        return dict(alarm_engine.resolve(alarm, who, at, resolution), resolved_by=who)
    return _act(store, alarm_id, who, "resolve", at, action, seen, resolution=resolution, note=note[:200],
                role=viewer.role, via=viewer.via)


def history(store, alarm_id: str | None = None, limit: int = 200) -> list[dict]:
    """Audit entries about alarms (newest first), optionally of one alarm."""
    out = [e for e in store.audit_log(limit) if e.get("alarm_id") and e.get("what") in ("acknowledge", "resolve")]
    return [e for e in out if e["alarm_id"] == alarm_id] if alarm_id else out

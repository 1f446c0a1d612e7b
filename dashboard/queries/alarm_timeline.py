"""One alarm's whole story for its own page and its export: raised, each level change,
acknowledgement, resolution, people's actions and notes (audit log), readings, nearby
tickets and teams.

`events_of` is pure (the alarm record and its audit entries in, events out); `timeline`
reads them through the alarm views (viewer-scoped: an alarm outside the viewer's areas is
not found).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from dashboard.queries import alarm_actions as actions
from dashboard.queries import alarm_views as views
from dashboard.queries.access import Viewer

EVENT_ORDER = {"raised": 0, "level": 1, "acknowledged": 2, "action": 3, "resolved": 4}


def _iso(v) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return v.isoformat() if isinstance(v, (pd.Timestamp, datetime)) else str(v)


def _ts(iso: str | None) -> pd.Timestamp:
    return pd.Timestamp(iso).tz_convert("UTC") if iso else pd.Timestamp.max.tz_localize("UTC")


def events_of(alarm: dict, audit: list[dict]) -> list[dict]:
    """The alarm's events in time order, each {at, what, level, value, who, resolution, note}.

    what: "raised" (its first level), "level" (each later level from `levels`),
    "acknowledged" and "resolved" (from the record; `who` None when no person did it, e.g.
    a poll clearing it), "action" (an audit entry that is not already one of those, e.g. a
    note). Audit entries of the acknowledgement and resolution give them their `who` and note.
    """
    steps = list(alarm.get("levels") or [])
    if not steps:     # an alarm stored before levels were kept: its raise at its current level
        steps = [{"level": alarm.get("level"), "at": alarm.get("raised_at"), "value": alarm.get("value")}]
    out = [{"at": _iso(alarm.get("raised_at")) or steps[0].get("at"), "what": "raised",
            "level": steps[0].get("level"), "value": steps[0].get("value"), "who": None}]
    out += [{"at": s.get("at"), "what": "level", "level": s.get("level"), "value": s.get("value"), "who": None}
            for s in steps[1:]]
    audit = sorted(audit, key=lambda e: _ts(e.get("when")))
    ack = next((e for e in audit if e.get("what") == "acknowledge"), None)
    res = next((e for e in audit if e.get("what") == "resolve"), None)
    if alarm.get("acknowledged_at"):
        out.append({"at": _iso(alarm["acknowledged_at"]), "what": "acknowledged",
                    "who": alarm.get("acknowledged_by") or (ack or {}).get("who")})
    if alarm.get("resolved_at") or alarm.get("status") == "resolved":
        out.append({"at": _iso(alarm.get("resolved_at")), "what": "resolved",
                    "resolution": alarm.get("resolution"),
                    "who": alarm.get("resolved_by") or (res or {}).get("who"),
                    "note": (res or {}).get("note") or None})
    for e in audit:
        if e is ack and alarm.get("acknowledged_at") or e is res and alarm.get("resolved_at"):
            continue
        out.append({"at": e.get("when"), "what": "action", "action": e.get("what"), "who": e.get("who"),
                    "resolution": e.get("resolution"), "note": e.get("note") or None})
    for ev in out:
        for k in ("level", "value", "who", "resolution", "note", "action"):
            ev.setdefault(k, None)
    return sorted(out, key=lambda ev: (_ts(ev["at"]), EVENT_ORDER.get(ev["what"], 9)))


def timeline(rt, viewer: Viewer, alarm_id: str, now: datetime) -> dict | None:
    """The alarm (as the list shows it), its events, readings, nearby tickets and teams;
    None when the alarm does not exist or is outside the viewer's scope."""
    d = views.detail(rt, viewer, alarm_id, now)
    if d is None:
        return None
    a = d["alarm"]
    return dict(d, events=events_of(a, actions.history(rt.store, alarm_id, limit=2000)))


def export_frame(tl: dict, words, tz: str) -> pd.DataFrame:
    """The timeline as a table for export: local time (the city's zone), event, level, who,
    detail — words from `words(key)` so the file reads as the page does."""
    rows = []
    for ev in tl["events"]:
        at = pd.Timestamp(ev["at"]).tz_convert(tz).isoformat() if ev["at"] else ""
        detail = []
        if ev["value"] is not None:
            detail.append(f"{ev['value']:g} {tl['alarm'].get('unit') or ''}".strip())
        if ev["resolution"]:
            detail.append(words(f"alarms.res.{ev['resolution']}"))
        if ev["action"]:
            detail.append(words(f"alarms.done.{ev['action']}"))
        if ev["note"]:
            detail.append(f"{words('alarms.ev.note')}: {ev['note']}")
        rows.append({words("alarms.col.when"): at, words("alarms.col.event"): words(f"alarms.ev.{ev['what']}")
                     if ev["what"] != "action" else words("alarms.audit"),
                     words("alarms.col.level"): words(f"alarms.level.{ev['level']}") if ev["level"] else "",
                     words("alarms.col.who"): ev["who"] or (words("alarms.ev.system") if ev["what"] != "raised" else ""),
                     words("alarms.col.detail"): " · ".join(detail)})
    for r in tl["readings"]:
        for at, value in r["points"]:
            rows.append({words("alarms.col.when"): pd.Timestamp(at).tz_convert(tz).isoformat(),
                         words("alarms.col.event"): words("alarms.readings"), words("alarms.col.level"): "",
                         words("alarms.col.who"): "", words("alarms.col.detail"): f"{value:g} {r['unit'] or ''}".strip()})
    for x in tl["tickets"]:
        rows.append({words("alarms.col.when"): pd.Timestamp(x["created_at"]).tz_convert(tz).isoformat(),
                     words("alarms.col.event"): words("alarms.tickets"), words("alarms.col.level"): "",
                     words("alarms.col.who"): "", words("alarms.col.detail"):
                     " · ".join(str(v) for v in (x["ticket_id"], x["category"], x["status"],
                                                 None if x["distance_m"] is None else f"{x['distance_m']} m") if v)})
    return pd.DataFrame(rows, columns=[words(k) for k in ("alarms.col.when", "alarms.col.event", "alarms.col.level",
                                                           "alarms.col.who", "alarms.col.detail")])


def no_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @ first) get a leading '."""
    def cell(v):
        return "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
    return df.apply(lambda col: col.map(cell) if col.dtype == object else col)

"""Feed health as the API shows it (`/api/v1/feeds`): each feed's health record with its
times in the city's zone, its data age and what the console holds from it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dashboard.queries import alarm_views as av
from dashboard.queries import industry_views as iv


def epoch_text(v, tz: str) -> str | None:
    """A stored epoch-seconds stamp as ISO 8601 in the city's zone (microseconds kept)."""
    return None if v is None else datetime.fromtimestamp(float(v), ZoneInfo(tz)).isoformat()


def feed_items(rt, now_ts: float, feed_state) -> list[dict]:
    """Every configured feed's health record; `feed_state(health, now_ts)` is the state
    function of the pages (`layouts.components.feed_state`)."""
    tz = rt.settings.city.timezone
    held = records_held(rt)
    _, payload = rt.store.areas()
    n_areas = len((payload or {}).get("rows") or []) or None     # the area feed holds the tree's nodes
    out = []
    for name, h in sorted(rt.queries.feed_health().items()):
        last = h.get("last_success")
        total, rej = h.get("records_total"), h.get("rejected_total")
        out.append({
            "name": name, "kind": h.get("kind"), "format": h.get("format"), "state": feed_state(h, now_ts),
            "ok": h.get("ok"), "last_attempt": epoch_text(h.get("last_attempt"), tz),
            "last_success": epoch_text(last, tz),
            "data_age_s": None if last is None else round(now_ts - float(last), 3),
            "records_held": held.get(name, n_areas if h.get("kind") == "areas" else None),
            "received": h.get("received"), "accepted": h.get("accepted"), "rejected": h.get("rejected"),
            "received_total": None if total is None or rej is None else int(total) + int(rej),
            "accepted_total": total, "rejected_total": rej,
            "last_error": h.get("last_error"), "coverage": h.get("coverage"),
        })
    return out


def records_held(rt) -> dict[str, int]:
    """Records the console holds per feed: the tickets each ticket feed delivered (counted in
    the store: no worker loads every ticket for this), sensors and enterprises by their feed."""
    health = rt.queries.feed_health()
    counts: dict[str, int] = rt.store.feed_ticket_counts(n for n, h in health.items() if h.get("kind") == "tickets")
    for df in (av.sensors(rt), iv.enterprises(rt.queries)):
        if "feed" in df and len(df):
            for k, v in df["feed"].value_counts().items():
                counts[str(k)] = counts.get(str(k), 0) + int(v)
    return counts

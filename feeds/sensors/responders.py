"""The responders feed: where each response team is and whether it is free.

A JSON list, or `{"teams": [...]}`, of `team_id, name, network, lat, lon, status`
(free, en_route, on_site, off_duty) and optionally `updated_at`; the feed's `mapping`
(source field → canonical field) and `coords` apply. Each team is one record of the
"responders" dataset, or a reject with its reason.
"""

from __future__ import annotations

from datetime import datetime

from feeds.sensors import records as sr
from feeds.base import Batch, FeedError, PollContext, fetch
from feeds.sensors.poll import _rejects, _t, feed_settings, stamp
from feeds.sensors.settings import SensorFeedSettings

TEAM_STATUS = ("free", "en_route", "on_site", "off_duty")


def parse_teams(doc: object, settings: SensorFeedSettings, now: datetime,
                mapping: dict[str, str] | None = None) -> tuple[list[dict], list[dict]]:
    """Response teams (`team_id, name, network, lat, lon, status`) and rejects."""
    items = doc.get("teams", doc.get("items")) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise sr.FeedFormatError("a responders document must be a list or {\"teams\": [...]}")
    records, rejects = [], []
    for i, raw in enumerate(items):
        try:
            if not isinstance(raw, dict):
                raise sr.Rejected(f"item is not an object: {type(raw).__name__}")
            item = {**raw, **{canon: raw[src] for src, canon in (mapping or {}).items() if src in raw}}
            if not str(item.get("team_id") or "").strip():
                raise sr.Rejected("team_id is missing")
            if item.get("status") not in TEAM_STATUS:
                raise sr.Rejected(f"status {item.get('status')!r} is not one of {', '.join(TEAM_STATUS)}")
            lon, lat = sr.position(item.get("lon"), item.get("lat"), settings)
            seen = sr.instant(item["updated_at"], settings, "updated_at") if item.get("updated_at") else now.isoformat()
            records.append({"team_id": str(item["team_id"]), "name": item.get("name") or str(item["team_id"]),
                            "network": item.get("network"), "status": item["status"], "job": item.get("job"),
                            "lon": lon, "lat": lat, "seen_at": seen, "updated_at": stamp(_t(seen))})
        except sr.Rejected as exc:
            rejects.append(sr.reject(i, str(exc), raw))
    return records, rejects


def poll_responders(ctx: PollContext) -> list[Batch]:
    """The responders feed: where each response team is and whether it is free."""
    settings = feed_settings(ctx.feed)
    try:
        records, rejects = parse_teams(sr.load_json(fetch(ctx, ctx.feed.url)), settings, ctx.now,
                                       getattr(ctx.feed, "mapping", None))
    except sr.FeedFormatError as exc:
        raise FeedError(str(exc)) from None
    return [Batch("responders", records, _rejects(rejects), len(records) + len(rejects))]


# the (kind, format) this adapter reads, for feeds.registry (every adapter module exports ADAPTERS)
ADAPTERS = {("responders", "json"): poll_responders}

"""/health's callback as a plain function: every feed, placement counts, rejects with reasons."""

from __future__ import annotations

from datetime import datetime, timezone

from callbacks import health
from feeds.records import Reject


def _texts(component) -> str:
    """All text inside a Dash component tree."""
    out = []

    def walk(c):
        if c is None:
            return
        if isinstance(c, (str, int, float)):
            out.append(str(c))
        elif isinstance(c, (list, tuple)):
            for x in c:
                walk(x)
        else:
            walk(getattr(c, "children", None))
    walk(component)
    return " ".join(out)


def test_hea001_every_feed_listed_with_rejects(demo_runtime):
    rt = demo_runtime
    rt.store.add_rejects("hotline-12345", [dict(Reject(3, "status: expected one of …, got 'lost'", "{…}", "X9")
                                                .to_dict(), at=datetime.now(timezone.utc).timestamp())], keep=10)
    table, placement, areas, rejects, _store = health.update(1, "hotline-12345", "en", rt)
    text = _texts(table)
    for feed in rt.feeds:
        assert feed.name in text
    assert "OK" in text
    assert any(r["ticket_id"] == "X9" and "lost" in r["reason"] for r in rejects)
    place = _texts(placement)
    assert "By grid code" in place and "unplaced" in place
    assert "NBS 2023" in _texts(areas)


def test_hea002_a_feed_removed_from_the_settings_is_shown_apart_not_as_dead(demo_runtime):
    rt = demo_runtime
    old = {"name": "utility-old", "kind": "sensors", "format": "json", "ok": True,
           "last_success": datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp()}
    rt.store.put_health("utility-old", old)
    try:
        assert "utility-old" in rt.store.health()                 # the store still has its record
        assert "utility-old" not in rt.queries.feed_health()      # the wall and the table do not
        assert set(rt.queries.feed_health()) <= {f.name for f in rt.feeds}
        table, *_ = health.update(1, None, "en", rt)
        text = _texts(table)
        rows = text.split("Feeds no longer in the settings")
        assert len(rows) == 2 and "utility-old" not in rows[0] and "utility-old" in rows[1]
        assert "11-01" in rows[1]                                 # its last success, for the record
    finally:
        rt.store.r.srem(f"{rt.store.ns}:feeds", "utility-old")
        rt.store.r.delete(f"{rt.store.ns}:feed:utility-old:health")

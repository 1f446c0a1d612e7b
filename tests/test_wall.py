"""The wall's callback as a plain function, on the demo runtime."""

from __future__ import annotations

from datetime import datetime, timezone

from callbacks import wall
from dashboard.queries.access import Viewer
from layouts.wall import TILES


def test_wal001_update_fills_every_tile_and_the_map(demo_runtime):
    # just after the last poll (the session's runtime may have been polled minutes ago)
    last = max(h["last_success"] for h in demo_runtime.queries.feed_health().values() if h.get("last_success"))
    now = datetime.fromtimestamp(last + 1, timezone.utc)
    values, classes, chips, hideout, fig, notice = wall.update(1, "zh", demo_runtime, Viewer(), now)
    assert len(values) == len(TILES) == len(classes)
    open_value = values[[t.metric for t in TILES].index("open")]
    assert open_value not in ("—", "0")
    assert all("data-ok" in c for c in classes)          # feeds just polled: fresh
    assert hideout["values"] and hideout["max"] >= max(hideout["values"].values())
    ops = fig.to_plotly_json()["operations"]            # a Patch: only the trend's arrays are sent
    assert {tuple(o["location"]) for o in ops} == {("data", 0, "x"), ("data", 0, "y"),
                                                    ("data", 1, "x"), ("data", 1, "y")}
    received = next(o["params"]["value"] for o in ops if tuple(o["location"]) == ("data", 0, "y"))
    assert len(received) == 30 and sum(received) > 0
    assert notice == ""


def test_wal002_stale_feed_turns_tiles_amber_then_red(demo_runtime):
    h = demo_runtime.queries.feed_health()
    hot = next(v for v in h.values() if v.get("kind") == "tickets")
    t0 = hot["last_success"]
    stale = datetime.fromtimestamp(t0 + hot["stale_after_s"] + 1, timezone.utc)
    dead = datetime.fromtimestamp(t0 + hot["dead_after_s"] + 1, timezone.utc)
    assert wall.ticket_feeds_state(h, stale.timestamp()) == "stale"
    assert wall.ticket_feeds_state(h, dead.timestamp()) == "dead"
    _, classes, chips, *_ = wall.update(1, "en", demo_runtime, Viewer(), dead)
    assert all("data-dead" in c for c in classes)

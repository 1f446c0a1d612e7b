"""The wall: every few seconds, today's numbers, the map colours, the trend, feed ages."""

from __future__ import annotations

from datetime import datetime, timezone

from dash import ALL, Input, Output, Patch, State

from layouts import ids
from layouts import wall as view
from layouts.components import feed_chips, feed_state, fmt_count, fmt_rate
from layouts.i18n import t

STATE_RANK = {"ok": 0, "failing": 1, "stale": 2, "never": 3, "dead": 3}


def ticket_feeds_state(health: dict[str, dict], now_ts: float) -> str:
    """The worst state among the ticket feeds: the tiles show it (amber stale, red dead)."""
    states = [feed_state(h, now_ts) for h in health.values() if h.get("kind") == "tickets"]
    return max(states, key=STATE_RANK.get) if states else "never"


def update(n_intervals, lang: str | None, rt, viewer, now: datetime | None = None) -> tuple:
    lang = lang or "zh"
    now = now or datetime.now(timezone.utc)
    q = rt.queries
    health = q.feed_health()
    state = ticket_feeds_state(health, now.timestamp())
    numbers = q.wall_numbers(viewer, now)
    values = [fmt_rate(numbers.get(tl.metric)) if tl.kind == "rate" else fmt_count(numbers.get(tl.metric))
              for tl in view.TILES]
    classes = [f"tile tile-{tl.tone or 'plain'} data-{state}"
               + (" lit" if tl.tone and (numbers.get(tl.metric) or 0) > 0 else "") for tl in view.TILES]
    by_street = q.open_by_area(viewer, now, "street")
    hideout = {"values": {k: v["open"] for k, v in by_street.items()},
               "overdue": {k: v["overdue"] for k, v in by_street.items()},
               "max": max([v["open"] for v in by_street.values()] or [1]), "metric": "open",
               "label": t("kpi.open", lang)}
    trend = q.trend(viewer, now)
    fig = Patch()
    xs = [r["date"] for r in trend]
    fig["data"][0]["x"] = xs
    fig["data"][0]["y"] = [r["received"] for r in trend]
    fig["data"][1]["x"] = xs
    fig["data"][1]["y"] = [r["closed"] for r in trend]
    notice = "" if numbers.get("total") else t("wall.no_data", lang)
    return values, classes, feed_chips(health, now.timestamp(), lang), hideout, fig, notice


def register(app, rt) -> None:
    from dashboard.access import current_viewer

    app.callback(
        Output(ids.kpi(ALL), "children"), Output(ids.kpi_tile(ALL), "className"),
        Output(ids.WALL_FEEDS, "children"), Output(ids.WALL_AREAS, "hideout"),
        Output(ids.WALL_TREND, "figure"), Output(ids.WALL_NOTICE, "children"),
        Input(ids.TICK, "n_intervals"), Input(ids.WALL_TREND, "id"), State(ids.LANG, "data"),
    )(lambda n, _id, lang: update(n, lang, rt, current_viewer(rt.settings.access)))


def page(lang: str, rt):
    tree = rt.queries.tree()
    bounds = None
    if tree is not None and tree.bounds(tree.root.code):
        x0, y0, x1, y1 = tree.bounds(tree.root.code)
        bounds = [[y0, x0], [y1, x1]]
    return view.layout(lang, "/api/areas.geojson?level=street", bounds or [[39.3, 106.7], [39.9, 107.1]],
                       rt.settings.map.tile_url, rt.settings.map.attribution)

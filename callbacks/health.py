"""/health: refresh the feed table, placement counts and the chosen feed's rejects."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from dash import Input, Output, State, html

from layouts import health as view
from layouts import ids
from layouts.components import coverage_text, feed_state, loading_text
from layouts.i18n import age_text, t


def _when(ts: float | None, tz: str) -> str:
    if ts is None:
        return "—"
    return datetime.fromtimestamp(ts, ZoneInfo(tz)).strftime("%m-%d %H:%M:%S")


def coverage_cell(h: dict, lang: str) -> tuple[str, str]:
    """What the upstream counts against what the console holds, and what is missing:
    `1,234/1,234 · 完整`, `70/50 · 不完整: 缺 20 条`; tickets withdrawn upstream counted."""
    cov = h.get("coverage")
    parts = []
    if isinstance(cov, dict):
        up, held = cov.get("upstream_count"), cov.get("held")
        parts.append(f"{'—' if up is None else f'{up:,}'}/{'—' if held is None else f'{held:,}'}")
        parts.append(t("health.complete", lang) if cov.get("complete") else coverage_text(h, lang))
    if h.get("withdrawn"):
        parts.append(t("health.withdrawn", lang).format(n=f"{int(h['withdrawn']):,}"))
    if not parts:
        return "—", "muted"
    return " · ".join(parts), "num" if not isinstance(cov, dict) or cov.get("complete") else "num state-incomplete"


def feed_rows(health: dict[str, dict], now_ts: float, lang: str, tz: str) -> list[list]:
    rows = []
    for name, h in sorted(health.items()):
        state = feed_state(h, now_ts)
        status = t("health.failing", lang) if h.get("ok") is False else t("health.ok", lang)
        if state in ("stale", "dead", "incomplete"):
            status += f" · {t('health.' + state, lang)}"
        if state == "loading":
            status = loading_text(h.get("records_total") or 0, lang)
        last = h.get("last_success")
        rows.append([
            (name, "name"), (f"{h.get('kind')}/{h.get('format')}", ""), (status, f"state-{state}"),
            (_when(last, tz), ""), (age_text(None if last is None else now_ts - last, lang), f"state-{state}"),
            (f"{h.get('duration_s', 0):.2f} s", "num"),
            (f"{h.get('received', 0)}/{h.get('accepted', 0)}/{h.get('rejected', 0)}", "num"),
            (f"{h.get('records_total', 0)}/{h.get('rejected_total', 0)}", "num"),
            coverage_cell(h, lang),
            (_when(h.get("next_try"), tz), ""),
            (view.error_cell(h.get("last_error"), lang), "error" if h.get("ok") is False else "muted"),
        ])
    return rows


def update(n, feed: str | None, lang: str | None, rt, now: datetime | None = None) -> tuple:
    lang = lang or "zh"
    now = now or datetime.now(timezone.utc)
    tz = rt.settings.city.timezone
    q = rt.queries
    table = view.health_table(feed_rows(q.feed_health(), now.timestamp(), lang, tz), lang)
    retired = q.retired_feeds()
    if retired:
        table = html.Div([table, html.P(
            f"{t('health.retired', lang)}: " + "; ".join(
                f"{n} ({t('health.last_success', lang)} {_when(h.get('last_success'), tz)})"
                for n, h in sorted(retired.items())), className="muted retired-feeds")])
    placement = q.placement()
    place = view.placement_list(placement, lang)
    tree = q.tree()
    _, payload = rt.store.areas()
    scheme = (payload or {}).get("code_scheme", "")
    areas = html.Ul([
        html.Li(f"{t('health.code_scheme', lang)}: {scheme}"),
        html.Li(", ".join(f"{lv}: {len(tree.codes_at(lv))}" for lv in tree.levels) if tree else "—"),
        html.Li(t("wall.made_up", lang)),
        html.Li(t(f"health.access.{rt.settings.access.mode}", lang),
                className="access-mode" + (" warn" if rt.settings.access.mode == "open" else "")),
    ])
    rejects = []
    if feed:
        for i, r in enumerate(q.rejects(feed, 200)):
            rejects.append({"key": f"{r.get('at')}-{r.get('index')}-{i}", "at": _when(r.get("at"), tz),
                            "index": r.get("index"), "ticket_id": r.get("ticket_id") or r.get("credit_code"),
                            "reason": r.get("reason"), "excerpt": r.get("excerpt")})
    return table, place, areas, rejects, view.store_line(rt.store_status(), lang)


def unplaced(search: str | None, lang: str | None, rt, viewer, limit: int = 500) -> list:
    """`?placement=REASON`: the tickets behind that unplaced count (masked for the viewer)."""
    from urllib.parse import parse_qs

    import dash_ag_grid as dag

    from dashboard.queries import ticket_views as tv
    from layouts.components import grid_options
    from metrics.placement import UNPLACED
    lang = lang or "zh"
    reason = (parse_qs((search or "").lstrip("?")).get("placement") or [""])[0]
    if reason not in UNPLACED:
        return []
    df = tv.unplaced_tickets(rt.queries, viewer, reason)
    rows = tv.ticket_rows(rt.queries.for_display(df, viewer, "health"), rt.queries.tree(),
                          rt.settings.city.timezone, limit)
    return [html.H3(t("health.unplaced_list", lang).format(reason=t("health." + reason, lang))),
            html.P(t("health.unplaced_shown", lang).format(n=f"{len(rows):,}", total=f"{len(df):,}"),
                   className="muted"),
            dag.AgGrid(id=ids.HEALTH_UNPLACED_GRID, columnDefs=view.unplaced_columns(lang), rowData=rows,
                       getRowId="params.data.ticket_id", dashGridOptions=grid_options(lang),
                       style={"height": "360px"})]


def register(app, rt) -> None:
    from dashboard.queries.access import current_viewer

    app.callback(Output(ids.HEALTH_UNPLACED, "children"), Input(ids.URL, "search"), State(ids.LANG, "data"))(
        lambda search, lang: unplaced(search, lang, rt, current_viewer(rt.settings.access)))
    app.callback(Output(ids.HEALTH_TABLE, "children"), Output(ids.HEALTH_PLACEMENT, "children"),
                 Output(ids.HEALTH_AREAS, "children"), Output(ids.HEALTH_REJECTS, "rowData"),
                 Output(ids.HEALTH_STORE, "children"),
                 Input(ids.TICK, "n_intervals"), Input(ids.HEALTH_FEED, "value"), State(ids.LANG, "data"))(
        lambda n, feed, lang: update(n, feed, lang, rt))


def page(lang: str, rt):
    names = [f.name for f in rt.feeds]
    health = rt.queries.feed_health()
    # open on the feed that rejected the most: that is what an operator comes here for
    names.sort(key=lambda n: -int(health.get(n, {}).get("rejected_total", 0)))
    return view.layout(lang, names)

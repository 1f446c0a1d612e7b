"""/tickets: the URL is the state; clicks and controls rewrite it, one callback draws it.

- `navigate`: controls, map and table clicks → a new `?node=…&win=…&metric=…` (and the
  controls follow the URL when it changes by the back button or a shared link);
- `render`: the URL (or a refresh tick) → breadcrumb, map colours, tables, charts. A tick
  updates numbers only: the map keeps its shapes and view, the grids their rows by id;
- `members` (callbacks/tickets_members.py): a click on a number → the tickets behind it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pandas as pd
from dash import Input, Output, Patch, State, ctx, html, no_update

from dashboard.queries import ticket_views as tv
from layouts import ids
from layouts import tickets as view
from layouts.i18n import t
from metrics import ticket_scale
from metrics.tickets import FALLBACK_NOTICE, fallback_years

def fmt_value(metric: str, v, lang: str = "zh") -> str:
    kind = view.metric_kind(metric)
    if v is None:
        return "—"
    if kind == "rate":
        return f"{100 * v:.1f}%"
    if kind == "hours":
        return f"{v:.1f} {t('unit.h', lang)}"
    if kind == "score":
        return f"{v:.1f}"
    return f"{int(v):,}"


def as_of(rt, now: datetime | None = None) -> datetime:
    """The instant numbers are computed for: now, floored to the refresh interval, so all
    viewers share one memoized view and a members list matches the number clicked."""
    now = now or datetime.now(timezone.utc)
    step = max(1, int(rt.settings.server.refresh_s))
    return datetime.fromtimestamp(int(now.timestamp()) // step * step, timezone.utc)


def _dates(state: tv.DrillState, rt, now: datetime) -> tuple[str, str]:
    start, end = tv.resolve_window(state, now, rt.settings.city.timezone)
    last = (end - pd.Timedelta(1, "ns")) if end > start else end
    return start.date().isoformat(), last.tz_convert(rt.settings.city.timezone).date().isoformat()


def navigate(trigger, search, win, start, end, metric, click, cell, rt, now: datetime | None = None) -> tuple:
    """(URL search, window, start date, end date, metric) after a user action."""
    tree = rt.queries.tree()
    state = tv.parse_state(search, tree)
    if trigger in (None, ids.TK_URL):  # the URL changed from outside (load, back, shared link)
        s, e = _dates(state, rt, now or datetime.now(timezone.utc))
        return no_update, state.win, s, e, state.metric
    new = state
    if trigger == ids.TK_WINDOW and win in tv.PRESETS:
        if win == "custom":
            s, e = (start, end) if start and end else _dates(state, rt, now or datetime.now(timezone.utc))
            new = replace(state, win="custom", start=date.fromisoformat(s[:10]), end=date.fromisoformat(e[:10]))
        else:
            new = replace(state, win=win, start=None, end=None)
    elif trigger == ids.TK_DATES and start and end:
        a, b = sorted((date.fromisoformat(start[:10]), date.fromisoformat(end[:10])))
        new = replace(state, win="custom", start=a, end=b)
    elif trigger == ids.TK_METRIC and metric:
        new = replace(state, metric=metric)
    elif trigger == ids.TK_AREAS and click:
        code = (click.get("properties") or {}).get("code")
        if tree is not None and code in tree:
            new = tv.with_node(state, code)
    elif trigger == ids.TK_TABLE and cell and cell.get("colId") == "name":
        code = cell.get("rowId")
        if tree is not None and code in tree:
            new = tv.with_node(state, None if code == tree.root.code else code)
    search_out = tv.format_search(new)
    if search_out == (search or ""):
        search_out = no_update
    if new.win == "custom":
        return search_out, new.win, new.start.isoformat(), new.end.isoformat(), new.metric
    return search_out, new.win, no_update, no_update, new.metric


def _hideout(rows: list[dict], metric: str, selected: str | None, lang: str, rules=None) -> dict:
    """The map's colours: each area's fill from the metric's fixed scale (`metrics.ticket_scale`)."""
    values = {r["code"]: r.get(metric) for r in rows if r.get("code")}
    scale = ticket_scale.scale_for(metric, values.values(), rules)
    colours = {c: ticket_scale.colour_of(v, scale) for c, v in values.items()}
    return {"values": values, "text": {c: fmt_value(metric, v, lang) for c, v in values.items()},
            "colours": colours, "scale": scale, "label": t(f"tickets.m.{metric}", lang), "selected": selected}


def _legend(h: dict, metric: str, lang: str) -> list:
    """The scale's bands (or 0 → max ramp) with units: "按期结案率 (%) ■ < 80% ■ 80% – 90% …"."""
    kind = view.metric_kind(metric)
    unit = {"rate": "%", "score": t("tickets.unit.points", lang), "hours": t("tickets.unit.hours", lang),
            "count": t("tickets.unit.tickets", lang)}[kind]
    out = [html.Span(f"{h['label']} ({unit})", className="tk-legend-label")]
    for colour, text in ticket_scale.legend_items(h["scale"]):
        out.append(html.Span([html.I(className="tk-swatch", style={"background": colour}), text],
                             className="tk-band"))
    out.append(html.Span([html.I(className="tk-swatch tk-swatch-none"), t("tickets.no_value", lang)],
                         className="tk-band"))
    return out


def render(search, drawn: dict | None, lang, rt, viewer, now: datetime | None = None) -> tuple:
    """Everything the page shows for the URL's state (see `register` for the order).

    `drawn`: the TK_ASOF of the last draw. When it was for the same URL (a refresh), the
    breadcrumb, the shapes and the map's view are left alone: only numbers change. Decided
    by what is on screen, not by which input fired, so a tick racing a click loses nothing.
    """
    lang = lang or "zh"
    q, tz = rt.queries, rt.settings.city.timezone
    tree = q.tree()
    now = as_of(rt, now)
    state = tv.parse_state(search, tree)
    start, end = tv.resolve_window(state, now, tz)
    node = tv.node_code(q, tv.viewer_node(q, viewer, state.node))   # a scoped leader lands on their area
    drill = tv.drill_table(q, viewer, node, now, start, end)
    rows = [dict(r) for r in drill["rows"]]
    for r in rows:
        if r["key"] == tv.UNPLACED:
            r["name"] = t("tickets.unplaced", lang)
    total = dict(drill["total"], name=t("tickets.total", lang))
    pinned = Patch()
    pinned["pinnedTopRowData"] = [total]
    selected = None
    geo_parent = node
    if tree is not None and not tree.children(node):  # a grid: its siblings, itself outlined
        selected, geo_parent = node, tree.parent(node).code if tree.parent(node) else node
    hideout = _hideout(rows, state.metric, selected, lang, rt.settings.tickets)
    hideout["scoped"] = bool(viewer.areas)     # areas outside the scope: drawn as outlines, no number
    departments = tv.department_ranking(q, viewer, node, now, start, end)
    trend = view.trend_figure(tv.trend(q, viewer, node, start, end), lang)
    cats = view.categories_figure(tv.top_categories(q, viewer, node, now, start, end), lang)
    shown_end = (end - pd.Timedelta(1, "s")).tz_convert(tz)
    info = (f"{t('tickets.win.' + state.win, lang)} {start.tz_convert(tz):%Y-%m-%d %H:%M} – "
            f"{shown_end:%Y-%m-%d %H:%M:%S} · {t('tickets.as_of', lang)} {pd.Timestamp(now).tz_convert(tz):%H:%M:%S}")
    years = fallback_years(q.window_tickets(viewer, now, start, area=node), tz)
    notice = FALLBACK_NOTICE["en" if lang == "en" else "zh"].format(years=", ".join(map(str, years))) if years else ""
    asof = {"now": now.isoformat(), "start": start.isoformat(), "end": end.isoformat(), "node": node,
            "search": search or ""}
    first = not drawn or drawn.get("search") != (search or "")
    crumbs = no_update
    url = viewport = no_update
    if first and tree is not None:
        crumbs = view.crumbs(tree.path(node), lambda code: tv.format_search(tv.with_node(state, code)), lang)
        url = f"/api/areas.geojson?parent={geo_parent}"
        b = tree.bounds(node)
        if b:
            viewport = {"bounds": [[b[1], b[0]], [b[3], b[2]]], "transition": "flyToBounds"}
    return (crumbs, url, viewport, hideout, rows, pinned, trend, cats, departments, info, notice,
            view.formula(state.metric, lang), _legend(hideout, state.metric, lang), asof)


def register(app, rt) -> None:
    from callbacks import tickets_members
    from dashboard.queries.access import current_viewer

    def _navigate(search, win, start, end, metric, click, cell):
        return navigate(ctx.triggered_id, search, win, start, end, metric, click, cell, rt)

    app.callback(
        Output(ids.TK_URL, "search"), Output(ids.TK_WINDOW, "value"), Output(ids.TK_DATES, "start_date"),
        Output(ids.TK_DATES, "end_date"), Output(ids.TK_METRIC, "value"),
        Input(ids.TK_URL, "search"), Input(ids.TK_WINDOW, "value"), Input(ids.TK_DATES, "start_date"),
        Input(ids.TK_DATES, "end_date"), Input(ids.TK_METRIC, "value"), Input(ids.TK_AREAS, "clickData"),
        Input(ids.TK_TABLE, "cellClicked"))(_navigate)

    def _render(search, n, drawn, lang):
        return render(search, drawn, lang, rt, current_viewer(rt.settings.access))

    app.callback(
        Output(ids.TK_CRUMBS, "children"), Output(ids.TK_AREAS, "url"), Output(ids.TK_MAP, "viewport"),
        Output(ids.TK_AREAS, "hideout"), Output(ids.TK_TABLE, "rowData"), Output(ids.TK_TABLE, "dashGridOptions"),
        Output(ids.TK_TREND, "figure"), Output(ids.TK_CATEGORIES, "figure"), Output(ids.TK_DEPARTMENTS, "rowData"),
        Output(ids.TK_INFO, "children"), Output(ids.TK_NOTICE, "children"), Output(ids.TK_FORMULA, "children"),
        Output(ids.TK_LEGEND, "children"), Output(ids.TK_ASOF, "data"),
        Input(ids.TK_URL, "search"), Input(ids.TICK, "n_intervals"), State(ids.TK_ASOF, "data"),
        State(ids.LANG, "data"))(_render)
    tickets_members.register(app, rt)


def page(lang: str, rt):
    bounds = rt.queries.map_bounds()
    return view.layout(lang, bounds, rt.settings.map.tile_url, rt.settings.map.attribution,
                       rt.settings.tickets.min_rank_volume)

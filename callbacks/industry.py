"""/industry: the URL (`?node=&period=&street=&park=&grade=&industry=&ent=`) is the state;
callbacks read it, ask dashboard.queries.industry_views (grading memoized per data version) and
fill the shell.

- `navigate`: period and filter choices and clicks (ranking, low list, scatter, map) → a
  new URL (a history entry); a URL from outside (load, back button, shared link) or new
  data → the period and filter dropdowns (options and value together: a Dash 4 dropdown
  clears a value its options lack). One callback, so the URL ↔ dropdowns loop is legal.
- `board`: URL + data version → summary, ranking, scatter, map, areas, low list.
- `detail`: `ent` in the URL → the enterprise's page (and hides the board).
- `export`: the low-efficiency list as CSV or XLSX, with the URL's filters.

A filter value the data does not offer (an old link, a typo) is ignored: the board shows
all for it and its dropdown shows nothing.
"""

from __future__ import annotations

import time
from dataclasses import asdict

from dash import Input, Output, State, ctx, dcc, html, no_update

from dashboard.queries import exports
from dashboard.queries import industry_views as iv
from dashboard.queries.access import Viewer
from layouts import ids
from layouts import industry as view
from layouts.industry import missing_text
from layouts import industry_detail as detail_view
from layouts import industry_tables as tables
from layouts.components import feed_chips
from layouts.i18n import TEXT, t
from metrics.industry import GRADES, what_if

CLICK_INPUTS = (ids.IND_RANKING, ids.IND_LOW, ids.IND_SCATTER, ids.IND_MAP_POINTS, ids.IND_MAP_AREAS)
FILTER_IDS = {ids.IND_STREET: "street", ids.IND_PARK: "park", ids.IND_GRADE: "grade", ids.IND_INDUSTRY: "industry"}
FROM_OUTSIDE = (None, ids.IND_URL, ids.IND_VERSION)   # the controls follow the URL
EVERYONE = Viewer()


def resolve(rt, search: str | None) -> tuple[str | None, str | None, str | None, list[str]]:
    """(node, period, ent, periods present): an unknown node is the city, an unknown or
    absent period the latest one."""
    s = iv.parse_search(search)
    present = iv.periods(rt.queries)
    period = s["period"] if s["period"] in present else (present[0] if present else None)
    tree = rt.queries.tree()
    node = s["node"] if tree is not None and s["node"] in tree and s["node"] != tree.root.code else None
    return node, period, s["ent"], present


def _clicked_code(trigger, rank_cell, low_cell, scatter_click, point_click, area_click) -> tuple[str, str | None]:
    """("ent" | "node", code) from whichever was clicked."""
    if trigger in (ids.IND_RANKING, ids.IND_LOW):
        cell = rank_cell if trigger == ids.IND_RANKING else low_cell
        return "ent", (cell or {}).get("rowId")
    if trigger == ids.IND_SCATTER:
        pts = (scatter_click or {}).get("points") or [{}]
        return "ent", pts[0].get("customdata")
    feat = point_click if trigger == ids.IND_MAP_POINTS else area_click
    code = ((feat or {}).get("properties") or {}).get("code")
    return ("ent" if trigger == ids.IND_MAP_POINTS else "node"), code


def resolve_filters(rt, viewer: Viewer, search: str | None) -> tuple[iv.Filters, dict]:
    """(the URL's filters that the data offers for its period, area and this viewer; those
    choices). Anything else in the URL is ignored."""
    node, period, _ent, _ = resolve(rt, search)
    choices = iv.filter_choices(rt.queries, viewer, period, node)
    return iv.valid_filters(iv.filters_from(iv.parse_search(search)), choices), choices


def ignored_filters(search: str | None, f: iv.Filters) -> dict[str, str]:
    """{key: value} of the URL's filter values that `f` (the resolved filters) left out."""
    raw = iv.parse_search(search)
    return {k: raw[k] for k in iv.FILTER_KEYS if raw[k] and raw[k] != getattr(f, k)}


def controls(rt, viewer: Viewer, search: str | None) -> tuple:
    """What the dropdowns show for a URL: (period options, period value, street / park /
    industry options, street / park / grade / industry values)."""
    _node, period, _ent, present = resolve(rt, search)
    f, choices = resolve_filters(rt, viewer, search)
    return ([{"label": p, "value": p} for p in present], period,
            [{"label": n, "value": c} for c, n in choices["street"]],
            [{"label": p, "value": p} for _, p in choices["park"]],
            [{"label": p, "value": p} for _, p in choices["industry"]],
            f.street, f.park, f.grade, f.industry)


def _new_search(trigger, search, period_value, filter_values, clicks: tuple, rt, viewer: Viewer) -> str | None:
    """The URL after a user action (None: nothing to change)."""
    node, period, ent, _ = resolve(rt, search)
    f, _ = resolve_filters(rt, viewer, search)
    if trigger == ids.IND_PERIOD:
        return iv.format_search(node, period_value, ent, f) if period_value and period_value != period else None
    if trigger in FILTER_IDS:
        key = FILTER_IDS[trigger]
        value = dict(zip(iv.FILTER_KEYS, filter_values or ())).get(key)
        return iv.format_search(node, period, ent, iv.with_filter(f, key, value))
    if trigger in CLICK_INPUTS:
        kind, code = _clicked_code(trigger, *clicks)
        if not code:
            return None
        if kind == "ent":
            return iv.format_search(node, period, code, f)
        tree = rt.queries.tree()
        if tree is None or code not in tree or not tree.children(code):
            return None
        return iv.format_search(code, period, None, iv.drill_filters(tree, f, code))
    return None


def navigate(trigger, search, period_value, filter_values, rank_cell, low_cell, scatter_click, point_click,
             area_click, rt, viewer: Viewer = EVERYONE) -> tuple:
    """→ (URL search, then `controls`). `filter_values`: the street, park, grade and
    industry dropdowns' values. A user action pushes a new URL and the controls show its
    state (options of the new area or period included); a URL from outside or new data
    leaves the URL alone and sets the controls from it."""
    if trigger in FROM_OUTSIDE:
        return (no_update, *controls(rt, viewer, search))
    new = _new_search(trigger, search, period_value, filter_values,
                      (rank_cell, low_cell, scatter_click, point_click, area_click), rt, viewer)
    if new is None or new == (search or ""):
        return (no_update,) * 10
    return (new, *controls(rt, viewer, new))


def data_version(n, current, lang, rt, now_ts: float | None = None) -> tuple:
    """→ (the enterprises data version, or no_update when unchanged; the industry feeds' age chips)."""
    v = iv.data_version(rt.queries)
    health = {k: h for k, h in rt.queries.feed_health().items() if h.get("kind") == "industry"}
    chips = feed_chips(health, time.time() if now_ts is None else now_ts, lang or "zh")
    return (no_update if v == current else v), chips


def _viewport(tree, node: str | None):
    code = node or tree.root.code
    b = tree.bounds(code)
    return None if b is None else {"bounds": [[b[1], b[0]], [b[3], b[2]]], "transition": "flyToBounds"}


def board(trigger, search, version, lang, rt, viewer, drawn_areas_url: str | None = None) -> tuple:
    """Everything on the board for the URL's area, period and filters (see `register` for
    the order). The map flies to the area on the first draw and when the area changed
    (`drawn_areas_url`: the map's area layer now), not when only the filters changed."""
    lang = lang or "zh"
    q, rules = rt.queries, rt.settings.industry
    node, period, _ent, _present = resolve(rt, search)
    tree = q.tree()
    if period is None:
        empty = {"type": "FeatureCollection", "features": []}
        return ([], [], [html.Span(t("industry.no_data", lang), className="warn")], [], [],
                tables.empty_figure(), "", empty, no_update, no_update, [], "", [])
    res = iv.graded(q, period)
    s = iv.board_summary(q, viewer, period, node)
    f, _choices = resolve_filters(rt, viewer, search)
    here = node or (tree.root.code if tree is not None else None)
    crumbs = tables.crumbs(tree.path(here), lambda code: tables.href(code, period, filters=f), lang) if here else []
    areas = iv.by_child_area(q, viewer, period, here) if here else []
    drillable = bool(here and tree.children(here) and any(tree.children(c["code"]) for c in areas))
    area_link = lambda code: tables.href(code, period, filters=iv.drill_filters(tree, f, code))  # noqa: E731
    ranked = iv.ranking(q, viewer, period, node, f)
    fig, not_drawn = tables.scatter(ranked, lang)
    low = iv.low_efficiency_list(q, viewer, period, node, f)
    floor = rules.low_efficiency_tax_per_mu
    rule = (t("industry.low_rule", lang).format(f=f"{floor:g}") if floor is not None else t("industry.low_rule_d", lang))
    low_count = f"{rule} · " + t("industry.low_count", lang).format(n=len(low), land=view.num(low["land_mu"].sum(), 0))
    map_url = f"/api/areas.geojson?parent={here}" if here and tree.children(here) else \
        f"/api/areas.geojson?parent={tree.parent(here).code}" if here and tree.parent(here) else no_update
    moved = trigger is None or (trigger == ids.IND_URL and map_url != drawn_areas_url)
    viewport = _viewport(tree, node) if tree is not None and moved else no_update
    notice = tables.notice(s, lang, rules.land_threshold_mu) + tables.ignored_filters(ignored_filters(search, f), lang)
    return (crumbs, tables.summary_tiles(s, lang), notice, tables.area_table(areas, area_link, lang, drillable),
            tables.grid_rows(ranked, lang, rules.land_threshold_mu), fig,
            t("industry.scatter_note", lang).format(n=not_drawn) if not_drawn else "",
            tables.points_geojson(ranked), map_url, viewport or no_update,
            tables.grid_rows(low, lang, rules.land_threshold_mu), low_count,
            view.formula_block(rules, res.benchmarks, lang))


def what_if_steps(res, row: dict, rules) -> list[tuple[str, float | None, float]]:
    """For each grade better than the row's (next one first): the increase of tax per mu
    that reaches that grade's lowest score (metrics.industry.what_if), None when capped."""
    grade = row.get("grade")
    if grade not in GRADES[1:]:
        return []
    better = [g for g in reversed(GRADES[:GRADES.index(grade)]) if g in res.grade_floors]
    return [(g, what_if(row, res.grade_floors[g], res.benchmarks, rules), res.grade_floors[g]) for g in better]


def detail(search, version, lang, rt, viewer) -> tuple:
    """→ (detail children, detail style, board style)."""
    lang = lang or "zh"
    node, period, ent, _ = resolve(rt, search)
    if not ent:
        return [], {"display": "none"}, {}
    hist = iv.enterprise_history(rt.queries, viewer, ent)
    steps = []
    if len(hist):
        cur = hist[hist["period"] == period]
        row = (cur if len(cur) else hist.tail(1)).iloc[0].to_dict()
        period = row["period"]
        steps = what_if_steps(iv.graded(rt.queries, period), row, rt.settings.industry)
    f, _ = resolve_filters(rt, viewer, search)
    return detail_view.detail(hist, period, steps, rt.settings.industry, node, lang, f), {}, {"display": "none"}


def export(fmt: str, search, lang, rt, viewer) -> dict | None:
    """The low-efficiency list of the URL's area, period and filters: what the screen shows."""
    try:
        out = export_file(fmt, search, lang, rt, viewer)
    except exports.ExportRefused:
        return None
    return None if out is None else dcc.send_bytes(*out)


def export_file(fmt: str, search, lang, rt, viewer) -> tuple[bytes, str] | None:
    """(file bytes, file name) of the low-efficiency list for a page URL's query string
    (`?node=&period=&street=&park=&grade=&industry=`); None when there is no period;
    `exports.ExportRefused` (audited) without the export permission."""
    lang = lang or "zh"
    node, period, _ent, _ = resolve(rt, search)
    if period is None:
        return None
    f, _ = resolve_filters(rt, viewer, search)
    low = iv.low_efficiency_list(rt.queries, viewer, period, node, f)
    low = low.assign(low_reason=low["low_reason"].map(lambda r: t(f"industry.low.{r}", lang)))
    headers = {c: t(f"industry.col.{c}", lang) for c in iv.EXPORT_COLUMNS}
    headers.update({k: f"{t('industry.ind.' + k, lang)}({t('industry.unit.' + k, lang)})"
                    for k in iv.EXPORT_COLUMNS if f"industry.ind.{k}" in TEXT})
    headers.update({"district_name": t("industry.col.district", lang), "street_name": t("industry.col.street", lang),
                    "what_if_grade": t("industry.col.what_if_grade", lang),
                    "what_if_tax_per_mu": f"{t('industry.col.what_if', lang)}({t('industry.unit.tax_per_mu', lang)})",
                    "note": t("industry.col.reason", lang)})
    name = f"{t('industry.low_file', lang)}_{period}" + (f"_{node}" if node else "")
    out = iv.export_frame(low, headers, missing_words=lambda m: missing_text(m, lang),
                          negative_tax_note=t("industry.negative_tax", lang))
    data = exports.export_for(rt.store, viewer, "industry_low_efficiency", out, fmt,
                              {"period": period, "node": node, **{k: v for k, v in asdict(f).items() if v}},
                              masked=True, sheet="low-efficiency")
    return data, f"{name}.{fmt}"


def register(app, rt) -> None:
    from dashboard.queries.access import current_viewer

    def viewer():
        return current_viewer(rt.settings.access)

    def _navigate(search, _version, pv, street, park, grade, industry, rc, lc, sc, pc, ac):
        return navigate(ctx.triggered_id, search, pv, (street, park, grade, industry), rc, lc, sc, pc, ac, rt,
                        viewer())

    app.callback(
        Output(ids.IND_URL, "search"), Output(ids.IND_PERIOD, "options"), Output(ids.IND_PERIOD, "value"),
        Output(ids.IND_STREET, "options"), Output(ids.IND_PARK, "options"), Output(ids.IND_INDUSTRY, "options"),
        Output(ids.IND_STREET, "value"), Output(ids.IND_PARK, "value"), Output(ids.IND_GRADE, "value"),
        Output(ids.IND_INDUSTRY, "value"),
        Input(ids.IND_URL, "search"), Input(ids.IND_VERSION, "data"), Input(ids.IND_PERIOD, "value"),
        Input(ids.IND_STREET, "value"), Input(ids.IND_PARK, "value"), Input(ids.IND_GRADE, "value"),
        Input(ids.IND_INDUSTRY, "value"), Input(ids.IND_RANKING, "cellClicked"),
        Input(ids.IND_LOW, "cellClicked"), Input(ids.IND_SCATTER, "clickData"),
        Input(ids.IND_MAP_POINTS, "clickData"), Input(ids.IND_MAP_AREAS, "clickData"),
    )(_navigate)
    app.callback(Output(ids.IND_VERSION, "data"), Output(ids.IND_FEEDS, "children"), Input(ids.IND_TICK, "n_intervals"),
                 State(ids.IND_VERSION, "data"), State(ids.LANG, "data"))(
        lambda n, cur, lang: data_version(n, cur, lang, rt))
    app.callback(
        Output(ids.IND_CRUMBS, "children"), Output(ids.IND_SUMMARY, "children"), Output(ids.IND_NOTICE, "children"),
        Output(ids.IND_AREAS, "children"), Output(ids.IND_RANKING, "rowData"), Output(ids.IND_SCATTER, "figure"),
        Output(ids.IND_SCATTER_NOTE, "children"), Output(ids.IND_MAP_POINTS, "data"),
        Output(ids.IND_MAP_AREAS, "url"), Output(ids.IND_MAP, "viewport"), Output(ids.IND_LOW, "rowData"),
        Output(ids.IND_LOW_COUNT, "children"), Output(ids.IND_FORMULA, "children"),
        Input(ids.IND_URL, "search"), Input(ids.IND_VERSION, "data"), State(ids.LANG, "data"),
        State(ids.IND_MAP_AREAS, "url"),
    )(lambda search, v, lang, drawn: board(ctx.triggered_id, search, v, lang, rt, viewer(), drawn))
    app.callback(Output(ids.IND_DETAIL, "children"), Output(ids.IND_DETAIL, "style"), Output(ids.IND_BOARD, "style"),
                 Input(ids.IND_URL, "search"), Input(ids.IND_VERSION, "data"), State(ids.LANG, "data"))(
        lambda search, v, lang: detail(search, v, lang, rt, viewer()))
    app.callback(Output(ids.IND_DOWNLOAD, "data"), Input(ids.IND_EXPORT_CSV, "n_clicks"),
                 Input(ids.IND_EXPORT_XLSX, "n_clicks"), State(ids.IND_URL, "search"), State(ids.LANG, "data"),
                 prevent_initial_call=True)(
        lambda a, b, search, lang: export(
            "xlsx" if ctx.triggered_id == ids.IND_EXPORT_XLSX else "csv", search, lang, rt, viewer()))


def page(lang: str, rt):
    bounds = rt.queries.map_bounds()
    return view.layout(lang, bounds, rt.settings.map.tile_url,
                       rt.settings.map.attribution, max(rt.settings.server.refresh_s, 10))

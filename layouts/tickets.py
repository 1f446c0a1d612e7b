"""/tickets (工单考核): leaders drill from the city down to one grid, on a map and a table.

Built once per visit; `callbacks/tickets.py` fills it from the URL and refreshes numbers
in place (grid rows by id, map colours by `hideout`), so nothing is rebuilt on a tick.
The members panel (the tickets behind a number) is in `layouts/tickets_members.py`.
"""

from __future__ import annotations

import dash_ag_grid as dag
import dash_leaflet as dl
import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html
from dash_extensions.javascript import Namespace

from dashboard.queries.ticket_views import PRESETS
from layouts import ids
from layouts.components import grid_options
from layouts.i18n import t
from layouts.tickets_members import members_panel
from metrics.tickets import HANDLING_IDS, METRIC_IDS, RATE_FORMULAS, RATE_IDS

NS = Namespace("cityops", "tickets")
# metrics where a higher value is better (green) / worse (red); the rest are plain volumes
HIGHER_BETTER = {"closed", "on_time", "response_rate", "closure_rate", "on_time_rate", "resolution_rate",
                 "satisfaction_rate", "satisfaction_rate_adjusted", "score"}
LOWER_BETTER = {"overdue", "due_soon", "return_rate", "repeat_rate", "mean_handling_hours",
                "p90_handling_hours"}


def formula(metric: str, lang: str) -> str:
    return RATE_FORMULAS.get(metric, {}).get("en" if lang == "en" else "zh", "")


def metric_kind(metric: str) -> str:
    if metric in RATE_IDS:
        return "rate"
    if metric in HANDLING_IDS:
        return "hours"
    return "score" if metric == "score" else "count"


def _metric_col(metric: str, lang: str, width: int = 104) -> dict:
    kind = metric_kind(metric)
    col = {"field": metric, "headerName": t(f"tickets.m.{metric}", lang), "headerTooltip": formula(metric, lang),
           "width": width, "type": "numericColumn", "cellClass": "tk-num",
           "valueFormatter": {"function": f"tkFormat(params.value, '{kind}')"}}
    if kind == "rate":
        col["tooltipValueGetter"] = {"function": "tkRatio(params)"}
    return col


# the drill table's columns always shown (they fit the table's panel at 1920 px); the other
# metrics open with the group's ▸ (AG Grid columnGroupShow), so nothing hides off-screen
CORE_METRICS = ("received", "closed", "due", "open", "overdue", "on_time_rate", "resolution_rate",
                "satisfaction_rate", "score")


def drill_columns(lang: str) -> list[dict]:
    """The drill table: the area name (click: drill in), the core counts and rates, and the
    other metrics in the same group, opened on demand."""
    name = {"field": "name", "headerName": t("tickets.area", lang), "pinned": "left", "width": 150,
            "cellClass": "tk-name", "tooltipField": "name",
            "cellClassRules": {"tk-name-plain": "params.data.code === null || params.node.rowPinned"}}
    core = [_metric_col(m, lang, 96) for m in CORE_METRICS]
    more = [dict(_metric_col(m, lang, 104), columnGroupShow="open") for m in METRIC_IDS if m not in CORE_METRICS]
    return [name, {"headerName": t("tickets.metrics_more", lang), "groupId": "metrics", "openByDefault": False,
                   "marryChildren": True, "children": core + more}]


def department_columns(lang: str, min_volume: int = 10) -> list[dict]:
    """Ranked departments first; the others show "样本不足" instead of a rank (METRICS.md)."""
    too_few = t("tickets.too_few", lang).replace("'", "\\'")
    return [
        {"field": "rank", "headerName": t("tickets.rank", lang), "width": 92, "type": "numericColumn",
         "headerTooltip": t("tickets.rank_hint", lang).format(n=min_volume),
         "valueFormatter": {"function": f"params.data && params.data.ranked ? params.value : '{too_few}'"},
         "cellClassRules": {"tk-unranked": "params.data && !params.data.ranked"}},
        {"field": "department", "headerName": t("tickets.department", lang), "width": 170,
         "tooltipField": "department"},
        _metric_col("score", lang, 96), _metric_col("volume", lang, 92), _metric_col("received", lang, 92),
        _metric_col("on_time_rate", lang),
        _metric_col("resolution_rate", lang), _metric_col("satisfaction_rate", lang),
        _metric_col("response_rate", lang), _metric_col("overdue", lang, 80),
    ]


def _dark(fig: go.Figure, lang: str) -> go.Figure:
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      margin={"l": 50, "r": 14, "t": 8, "b": 34}, font={"size": 14},
                      legend={"orientation": "h", "y": 1.12, "x": 0}, clickmode="event")
    fig.update_xaxes(gridcolor="#1d2a44")
    fig.update_yaxes(gridcolor="#1d2a44")
    return fig


def trend_figure(rows: list[dict], lang: str) -> go.Figure:
    """Received (bars) and closed (line) per local day; click a day to list its tickets."""
    xs = [r["date"] for r in rows]
    fig = go.Figure()
    fig.add_bar(x=xs, y=[r["received"] for r in rows], name=t("tickets.m.received", lang), marker_color="#3ba7ff")
    fig.add_scatter(x=xs, y=[r["closed"] for r in rows], name=t("tickets.m.closed", lang), mode="lines+markers",
                    line={"color": "#35d07f", "width": 3})
    day_axis(fig, xs)
    return _dark(fig, lang)


def day_axis(fig: go.Figure, days: list[str]) -> go.Figure:
    """One tick per day (at most about 12 labels), each label once, the bars a day wide:
    a short window no longer reads "11-30, 12-01, 12-01, 12-02" around one wide bar."""
    day_ms = 86_400_000
    step = max(1, -(-len(days) // 12))
    fig.update_traces(width=0.8 * day_ms, selector={"type": "bar"})
    axis = {"type": "date", "tickformat": "%m-%d", "dtick": step * day_ms, "ticklabelmode": "instant"}
    if days:
        first, last = pd.Timestamp(days[0]), pd.Timestamp(days[-1])
        axis.update(tick0=days[0], range=[(first - pd.Timedelta(hours=12)).isoformat(),
                                          (last + pd.Timedelta(hours=12)).isoformat()])
    fig.update_xaxes(**axis)
    return fig


def categories_figure(rows: list[dict], lang: str) -> go.Figure:
    rows = list(reversed(rows))  # largest on top
    fig = go.Figure(go.Bar(x=[r["received"] for r in rows], y=[r["category"] for r in rows], orientation="h",
                           marker_color="#ffb020", text=[r["received"] for r in rows], textposition="auto"))
    fig = _dark(fig, lang)
    fig.update_layout(margin={"l": 120, "r": 14, "t": 8, "b": 30})
    return fig


def controls(lang: str) -> html.Div:
    options = [{"label": t(f"tickets.win.{p}", lang), "value": p} for p in PRESETS]
    metrics = [{"label": t(f"tickets.m.{m}", lang), "value": m} for m in METRIC_IDS]
    return html.Div(className="tk-controls", children=[
        html.Span(t("tickets.window", lang), className="tk-label"),
        dcc.RadioItems(id=ids.TK_WINDOW, options=options, inline=True, className="tk-radio"),
        dcc.DatePickerRange(id=ids.TK_DATES, display_format="YYYY-MM-DD", className="tk-dates",
                            first_day_of_week=1, minimum_nights=0, style={"width": "300px"}),
        html.Span(t("tickets.metric", lang), className="tk-label"),
        dcc.Dropdown(id=ids.TK_METRIC, options=metrics, clearable=False, searchable=False,
                     className="dark-dropdown tk-metric"),
        html.Span(id=ids.TK_FORMULA, className="tk-formula"),
    ])


def area_map(bounds, tile_url: str, attribution: str) -> dl.Map:
    layers = [dl.TileLayer(url=tile_url, attribution=attribution)] if tile_url else []
    layers.append(dl.GeoJSON(id=ids.TK_AREAS, url="", style=NS("areaStyle"), onEachFeature=NS("areaTooltip"),
                             hoverStyle=NS("hoverStyle"), hideout={"values": {}, "text": {}}))
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    # center and zoom must be given with bounds: dash-leaflet compares the centre on moves
    return dl.Map(id=ids.TK_MAP, children=layers, bounds=bounds, center=center, zoom=9, zoomSnap=0.25,
                  attributionControl=bool(tile_url), className="tk-map-inner",
                  style={"width": "100%", "height": "100%"})


def layout(lang: str, bounds, tile_url: str = "", attribution: str = "", min_rank_volume: int = 10) -> html.Div:
    return html.Div(id=ids.TK_ROOT, className="tk-page", children=[
        dcc.Location(id=ids.TK_URL, refresh=False),
        dcc.Store(id=ids.TK_ASOF),
        dcc.Store(id=ids.TK_MEMBERS_QUERY),
        html.Div(className="tk-head", children=[
            html.Nav(id=ids.TK_CRUMBS, className="tk-crumbs"),
            html.Span(id=ids.TK_INFO, className="tk-info"),
        ]),
        controls(lang),
        html.Div(id=ids.TK_NOTICE, className="notice"),
        html.Div(className="tk-main", children=[
            html.Section(className="panel tk-map", children=[
                html.Div(area_map(bounds, tile_url, attribution), className="map-box"),
                html.Div(id=ids.TK_LEGEND, className="tk-legend"),
                html.Div(t("tickets.made_up", lang), className="footnote"),
            ]),
            html.Section(className="panel tk-table", children=[
                html.Div(t("tickets.click_hint", lang), className="footnote"),
                dag.AgGrid(id=ids.TK_TABLE, columnDefs=drill_columns(lang), rowData=[],
                           getRowId="params.data.key", defaultColDef={"sortable": True, "resizable": True},
                           dashGridOptions=grid_options(lang, pinnedTopRowData=[], rowHeight=34),
                           style={"height": "100%", "width": "100%"}, className="tk-grid"),
            ]),
        ]),
        html.Div(className="tk-bottom", children=[
            html.Section(className="panel", children=[
                html.H3(t("tickets.trend", lang)),
                dcc.Graph(id=ids.TK_TREND, figure=trend_figure([], lang), config={"displayModeBar": False},
                          className="tk-graph")]),
            html.Section(className="panel", children=[
                html.H3(t("tickets.categories", lang)),
                dcc.Graph(id=ids.TK_CATEGORIES, figure=categories_figure([], lang),
                          config={"displayModeBar": False}, className="tk-graph")]),
            html.Section(className="panel", children=[
                html.H3(t("tickets.departments", lang)),
                dag.AgGrid(id=ids.TK_DEPARTMENTS, columnDefs=department_columns(lang, min_rank_volume), rowData=[],
                           getRowId="params.data.department", defaultColDef={"sortable": True, "resizable": True},
                           dashGridOptions=grid_options(lang, rowHeight=32), style={"height": "100%"},
                           className="tk-grid")]),
        ]),
        members_panel(lang),
    ])


def crumbs(path: list, state_search, lang: str) -> list:
    """city › district › … : every level above the current one is a link up (a shareable URL)."""
    out = []
    for i, node in enumerate(path):
        if i:
            out.append(html.Span("›", className="tk-sep"))
        if i == len(path) - 1:
            out.append(html.Span(node.name, className="tk-crumb current"))
        else:
            out.append(dcc.Link(node.name, href="/tickets" + state_search(None if i == 0 else node.code),
                                className="tk-crumb", id=ids.tk_crumb(node.code)))
    return out

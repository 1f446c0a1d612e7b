"""/alarms: the gas, water and heating alarm map for emergency staff.

Left: the map — sensors clustered in the browser (one layer per network, fetched by URL),
active alarms as level-coloured markers, response teams, street outlines. Right: the
active list (level, then age, with the acknowledgement clock), the selected alarm's
context and actions. Filters (network, level, status) act in the browser on the map
(`hideout`) and on the server for the list. Words from `layouts.i18n`, ids from `ids`.
"""

from __future__ import annotations

import math

import dash_ag_grid as dag
import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace

from layouts import ids
from layouts.i18n import grid_locale, t
from metrics.alarm_rules import LEVELS, NETWORKS

NS = Namespace("cityops", "alarms")
SENSORS_URL = "/api/alarms/sensors.geojson"
LEVEL_CLASS = {1: "lv1", 2: "lv2", 3: "lv3", 4: "lv4"}


def _checklist(cid: str, options: list[tuple], label: str) -> html.Div:
    return html.Div(className="alarm-filter", children=[
        html.Span(label, className="alarm-filter-label"),
        dcc.Checklist(id=cid, options=[{"label": text, "value": v} for v, text in options],
                      value=[v for v, _ in options], inline=True, className="alarm-checklist"),
    ])


def filters(lang: str) -> html.Div:
    return html.Div(className="alarm-filters", children=[
        _checklist(ids.ALARM_F_NETWORK, [(n, t(f"alarms.net.{n}", lang)) for n in NETWORKS], t("alarms.network", lang)),
        _checklist(ids.ALARM_F_LEVEL, [(lv, t(f"alarms.level.{lv}", lang)) for lv in LEVELS], t("alarms.level", lang)),
        html.Div(className="alarm-filter", children=[
            html.Span(t("alarms.status", lang), className="alarm-filter-label"),
            dcc.Checklist(id=ids.ALARM_F_STATUS, options=[{"label": t(f"alarms.st.{s}", lang), "value": s}
                                                          for s in ("active", "acknowledged", "resolved")],
                          value=["active", "acknowledged"], inline=True, className="alarm-checklist")]),
        html.Div(className="alarm-filter", children=[
            html.Span(t("alarms.since", lang), className="alarm-filter-label"),
            dcc.Dropdown(id=ids.ALARM_F_SINCE, options=[{"label": t(f"alarms.since.{k}", lang), "value": k}
                                                        for k in ("24h", "7d", "30d", "all")],
                         value="7d", clearable=False, searchable=False, className="alarm-since")]),
    ])


def alarm_map(bounds, tile_url: str, attribution: str) -> dl.Map:
    layers = [dl.TileLayer(url=tile_url, attribution=attribution)] if tile_url else []
    layers.append(dl.GeoJSON(id=ids.ALARM_AREAS, url="/api/areas.geojson?level=street", style=NS("outline"),
                             interactive=False))
    for net in NETWORKS:
        layers.append(dl.GeoJSON(id=ids.alarm_sensors(net), url=f"{SENSORS_URL}?network={net}", cluster=True,
                                 zoomToBoundsOnClick=True, superClusterOptions={"radius": 70, "maxZoom": 16},
                                 pointToLayer=NS("sensorPoint"), clusterToLayer=NS("sensorCluster"),
                                 hideout={"network": net}))
    layers.append(dl.GeoJSON(id=ids.ALARM_TEAMS, data=None, pointToLayer=NS("teamPoint")))
    layers.append(dl.GeoJSON(id=ids.ALARM_MARKERS, data=None, pointToLayer=NS("alarmPoint"), filter=NS("alarmFilter"),
                             hideout={"networks": list(NETWORKS), "levels": list(LEVELS),
                                      "status": ["active", "acknowledged"], "selected": None}))
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    # center and zoom must be given with bounds: dash-leaflet compares the centre on moves
    return dl.Map(id=ids.ALARM_MAP, children=layers, bounds=bounds, center=center, zoom=fit_zoom(bounds),
                  zoomSnap=0.25,
                  attributionControl=bool(tile_url), preferCanvas=True, className="alarm-leaflet",
                  style={"width": "100%", "height": "100%"})


def fit_zoom(bounds, width_px: int = 1000, height_px: int = 620) -> float:
    """The zoom (in quarter steps) at which `bounds` fill a map of about that size."""
    (s, w), (n, e) = bounds
    y = [math.degrees(math.log(math.tan(math.pi / 4 + math.radians(v) / 2))) for v in (s, n)]
    zx = math.log2(width_px * 360 / (256 * max(e - w, 1e-6)))
    zy = math.log2(height_px * 360 / (256 * max(y[1] - y[0], 1e-6)))
    return math.floor(min(zx, zy) * 4) / 4


def grid(lang: str) -> dag.AgGrid:
    cols = [
        {"field": "level", "headerName": t("alarms.col.level", lang), "width": 70, "minWidth": 70, "maxWidth": 80,
         "valueFormatter": {"function": "['','Ⅰ','Ⅱ','Ⅲ','Ⅳ'][params.value]"},
         "cellClassRules": {f"lvcell lv{lv}": {"function": f"params.value == {lv}"} for lv in LEVELS}},
        {"field": "where", "headerName": t("alarms.col.where", lang), "flex": 1.3, "minWidth": 130},
        {"field": "sensor", "headerName": t("alarms.col.sensor", lang), "flex": 0.8, "minWidth": 80},
        {"field": "reading", "headerName": t("alarms.col.value", lang), "flex": 1.2, "minWidth": 130},
        {"field": "age", "headerName": t("alarms.col.age", lang), "width": 96, "minWidth": 96},
        {"field": "clock", "headerName": t("alarms.col.clock", lang), "width": 120, "minWidth": 120,
         "tooltipField": "status_text",
         "cellClassRules": {"clock-over": {"function": "params.data.overdue"},
                            "clock-warn": {"function": "params.data.used >= 0.8 && !params.data.overdue && "
                                                       "!params.data.acknowledged"},
                            "clock-done": {"function": "params.data.acknowledged"}}},
    ]
    return dag.AgGrid(id=ids.ALARM_GRID, columnDefs=cols, rowData=[], getRowId="params.data.alarm_id",
                      className="ag-theme-alpine-dark alarm-grid", columnSize="responsiveSizeToFit",
                      dashGridOptions={"localeText": grid_locale(lang),
                                       "rowSelection": {"mode": "singleRow", "checkboxes": False,
                                                        "enableClickSelection": True},
                                       "animateRows": False, "rowHeight": 34, "headerHeight": 34},
                      style={"height": "100%", "width": "100%"})


def kpi_table(k: dict, lang: str) -> html.Table:
    """Per network: active, MTTA, MTTR, false-alarm rate, online rate (k from alarm_views.kpis)."""
    def mins(v, p90):
        return "—" if v is None else f"{v / 60:.1f}′ ({(p90 or 0) / 60:.0f}′)"

    def pct(v):
        return "—" if v is None else f"{100 * v:.1f}%"
    head = html.Tr([html.Th("")] + [html.Th(t(f"alarms.kpi.{c}", lang)) for c in
                                     ("active", "mtta", "mttr", "false", "online")])
    rows = [html.Tr([html.Td(t(f"alarms.net.{net}", lang), className="kpi-net"),
                     html.Td(f"{r['active']:,}", className="num"),
                     html.Td(mins(r["mtta_mean_s"], r["mtta_p90_s"]), className="num"),
                     html.Td(mins(r["mttr_mean_s"], r["mttr_p90_s"]), className="num"),
                     html.Td(pct(r["false_alarm_rate"]), className="num"),
                     html.Td(pct(r["online_rate"]), className="num")])
            for net, r in k.items()]
    return html.Table([html.Thead(head), html.Tbody(rows)], className="alarm-kpis",
                      title=t("alarms.kpi.note", lang))


def layout(lang: str, bounds, tile_url: str = "", attribution: str = "") -> html.Div:
    return html.Div(className="alarms-page", children=[
        dcc.Location(id=ids.ALARM_URL, refresh=False),
        dcc.Store(id=ids.ALARM_SELECTED),
        dcc.Store(id=ids.ALARM_DONE, data=0),
        html.Div(id=ids.ALARM_PAGE, className="alarm-own-page hidden"),
        html.Div(id=ids.ALARM_MAIN, className="alarm-main-view", children=main(lang, bounds, tile_url, attribution)),
    ])


def main(lang: str, bounds, tile_url: str, attribution: str) -> list:
    """The map, the list and the selected alarm's context."""
    return [
        html.Div(className="alarms-top", children=[
            filters(lang),
            html.Div(id=ids.ALARM_KPIS, className="alarm-kpis-box"),
        ]),
        html.Div(className="alarms-main", children=[
            html.Section(className="panel alarm-map-panel", children=[
                html.Div(alarm_map(bounds, tile_url, attribution), className="map-box"),
                html.Div(className="alarm-legend", children=[
                    html.Span(t(f"alarms.level.{lv}", lang), className=f"legend-dot {LEVEL_CLASS[lv]}") for lv in LEVELS
                ] + [html.Span(t("alarms.made_up", lang), className="footnote")]),
            ]),
            html.Div(className="alarm-side", children=[
                html.Section(className="panel alarm-list-panel", children=[
                    html.H2(t("alarms.list", lang)), html.Div(grid(lang), className="grid-box")]),
                html.Section(className="panel alarm-detail-panel", children=[
                    html.Div(className="alarm-actions", children=[
                        html.Button(t("alarms.ack", lang), id=ids.ALARM_ACK, n_clicks=0, className="btn btn-ack"),
                        html.Button(t("alarms.fixed", lang), id=ids.ALARM_FIXED, n_clicks=0, className="btn btn-fixed"),
                        html.Button(t("alarms.false", lang), id=ids.ALARM_FALSE, n_clicks=0, className="btn btn-false"),
                        html.Span(id=ids.ALARM_MESSAGE, className="alarm-message"),
                    ]),
                    html.Div(id=ids.ALARM_CONFIRM, className="alarm-confirm", style={"display": "none"}, children=[
                        dcc.Textarea(id=ids.ALARM_NOTE, className="alarm-note", maxLength=200,
                                     placeholder=t("alarms.note", lang)),
                        html.Button(t("alarms.false.confirm", lang), id=ids.ALARM_FALSE_CONFIRM, n_clicks=0,
                                    className="btn btn-false"),
                        html.Button(t("alarms.false.cancel", lang), id=ids.ALARM_FALSE_CANCEL, n_clicks=0,
                                    className="btn"),
                    ]),
                    html.Div(t("alarms.pick", lang), id=ids.ALARM_DETAIL, className="alarm-detail"),
                ]),
            ]),
        ]),
    ]

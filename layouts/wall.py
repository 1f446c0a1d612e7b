"""The wall (大屏): the whole city at a glance, read from five metres on a dark screen.

Tiles are data: one `Tile` per number; `tiles()` lays them out. The map and the trend are
built once here and updated in place by `callbacks/wall.py` (hideout / Patch), so nothing
flickers.
"""

from __future__ import annotations

from dataclasses import dataclass

import dash_leaflet as dl
import plotly.graph_objects as go
from dash import dcc, html
from dash_extensions.javascript import Namespace

from layouts import ids
from layouts.i18n import t
from metrics.tickets import RATE_FORMULAS

NS = Namespace("cityops", "map")
ALARM_NS = Namespace("cityops", "alarms")


@dataclass(frozen=True)
class Tile:
    metric: str            # an id of metrics.tickets (count or rate)
    kind: str              # "count" | "rate"
    tone: str = ""         # "warn" | "alert" for tiles that mean trouble when non-zero


TILES = (
    Tile("received", "count"), Tile("closed", "count"), Tile("open", "count"),
    Tile("overdue", "count", "alert"), Tile("due_soon", "count", "warn"),
    Tile("on_time_rate", "rate"), Tile("satisfaction_rate", "rate"),
)


def _formula(metric: str, lang: str) -> str:
    f = RATE_FORMULAS.get(metric)
    if not f:
        return ""
    return f.get("en" if lang == "en" else "zh", "") if isinstance(f, dict) else str(f)


def tiles(lang: str) -> html.Div:
    return html.Div(className="tiles", children=[
        html.Div(id=ids.kpi_tile(tile.metric), className=f"tile tile-{tile.tone or 'plain'}",
                 title=_formula(tile.metric, lang), children=[
                     html.Div("—", id=ids.kpi(tile.metric), className="tile-value"),
                     html.Div(t(f"kpi.{tile.metric}", lang), className="tile-label"),
                 ])
        for tile in TILES])


def area_map(geojson_url: str, bounds, tile_url: str, attribution: str) -> dl.Map:
    layers = []
    if tile_url:
        layers.append(dl.TileLayer(url=tile_url, attribution=attribution))
    layers.append(dl.GeoJSON(id=ids.WALL_AREAS, url=geojson_url, style=NS("areaStyle"),
                             onEachFeature=NS("areaTooltip"),
                             hideout={"values": {}, "max": 1, "metric": "open"}))
    # the active alarms (level-coloured markers): shown in emergency mode only (CSS)
    layers.append(dl.GeoJSON(id=ids.WALL_ALARM_MARKERS, data=None, pointToLayer=ALARM_NS("alarmPoint")))
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    # center and zoom must be given with bounds: dash-leaflet compares the centre on moves;
    # the view is fitted again once the screen's size is known (callbacks/wall.py scale_view)
    return dl.Map(id=ids.WALL_MAP, children=layers, bounds=bounds, center=center, zoom=9,
                  zoomSnap=0.1, zoomControl=False, scrollWheelZoom=False,
                  attributionControl=bool(tile_url), className="wall-map",
                  style={"width": "100%", "height": "100%"})


def trend_figure(lang: str) -> go.Figure:
    """An empty received-vs-closed figure built from lists, so Patch() can fill it."""
    fig = go.Figure()
    fig.add_bar(x=[], y=[], name=t("wall.received", lang), marker_color="#3ba7ff")
    fig.add_scatter(x=[], y=[], name=t("wall.closed", lang), mode="lines+markers",
                    line={"color": "#35d07f", "width": 4}, marker={"size": 7})
    fig.update_layout(template="plotly_dark", paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
                      margin={"l": 60, "r": 20, "t": 10, "b": 40}, font={"size": 18},
                      legend={"orientation": "h", "y": 1.08, "x": 0}, bargap=0.25,
                      xaxis={"gridcolor": "#1d2a44", "type": "date", "tickformat": "%m-%d"},
                      yaxis={"gridcolor": "#1d2a44"})
    return fig


def alarm_panel(lang: str) -> html.Section:
    """Active network alarms (network × level) and, in emergency mode, the serious ones listed.

    Refreshed by its own 2-second interval (`callbacks/wall.py` alarm part); a new level I/II
    alarm flashes the whole wall (`WALL_FLASH`), with a beep only when sound is switched on.
    """
    return html.Section(className="panel panel-alarms", children=[
        dcc.Interval(id=ids.WALL_ALARM_TICK, interval=2000),
        dcc.Store(id=ids.WALL_ALARM_SEEN),
        dcc.Store(id=ids.WALL_SERIOUS),
        dcc.Store(id=ids.WALL_ALARMS_SIG),
        dcc.Store(id=ids.WALL_MARKERS_SIG),
        dcc.Store(id=ids.WALL_FLASH_DATA),
        dcc.Store(id=ids.WALL_MODE, data="normal"),     # the server's emergency mode, read every tick
        dcc.Store(id=ids.WALL_SOUND, storage_type="local", data=False),
        html.Div(className="panel-head", children=[
            html.H2(t("wall.alarms", lang)),
            html.Div(className="wall-tools", children=[
                html.Button(t("wall.sound", lang), id=ids.WALL_SOUND_BUTTON, n_clicks=0, className="wall-switch"),
                html.Button(t("wall.emergency", lang), id=ids.WALL_EMERGENCY, n_clicks=0, className="wall-switch"),
            ]),
        ]),
        html.Div(id=ids.WALL_ALARMS, className="wall-alarms"),
    ])


def layout(lang: str, geojson_url: str, bounds, tile_url: str = "", attribution: str = "") -> html.Div:
    return html.Div(id=ids.WALL_ROOT, className="wall", children=[
        dcc.Store(id=ids.WALL_SCALE),
        html.Div(id=ids.WALL_FLASH, className="wall-flash"),
        html.Div(id=ids.WALL_FEEDS, className="feed-chips"),
        tiles(lang),
        html.Div(className="wall-main", children=[
            html.Section(className="panel panel-map", children=[
                html.H2(t("wall.map", lang)),
                html.Div(area_map(geojson_url, bounds, tile_url, attribution), className="map-box"),
                html.Div(id=ids.WALL_LEGEND, className="wall-legend"),
                html.Div(t("wall.made_up", lang), className="footnote"),
            ]),
            html.Section(className="panel panel-trend", children=[
                html.H2(t("wall.trend", lang)),
                dcc.Graph(id=ids.WALL_TREND, figure=trend_figure(lang), config={"displayModeBar": False},
                          className="trend-graph", style={"height": "100%"}),
            ]),
            alarm_panel(lang),
        ]),
        html.Div(id=ids.WALL_NOTICE, className="notice"),
    ])

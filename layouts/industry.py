"""/industry (亩均效益): the board for leaders. The shell is built once; callbacks/industry.py
fills it from the URL (`?node=CODE&period=P`, the ranking filters `&street=&park=&grade=&industry=`,
`&ent=CODE` opens an enterprise).

Grade colours are one table here (GRADE_COLOURS) and in assets/industry.css / industry.js.
"""

from __future__ import annotations

import math

import dash_ag_grid as dag
import dash_leaflet as dl
from dash import dcc, html
from dash_extensions.javascript import Namespace

from layouts import ids
from layouts.i18n import TEXT, grid_locale, t
from metrics.industry_rules import GRADES, INDICATORS

NS = Namespace("cityops", "industry")
GRADE_COLOURS = {"A": "#35d07f", "B": "#3ba7ff", "C": "#ffb020", "D": "#ff4d4f", None: "#8ea0c0"}


def num(x, digits: int = 1) -> str:
    """A number for the screen; "—" where it is missing (never a silent zero)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    try:
        if x != x:
            return "—"
    except TypeError:
        return "—"
    return f"{float(x):,.{digits}f}"


def indicator_value(ind: str, x, digits: int = 2) -> str:
    if ind == "rd_intensity":
        return "—" if num(x) == "—" else f"{100 * float(x):.{digits}f}%"
    return num(x, digits)


def reason_text(reason: str | None, lang: str, threshold: float) -> str:
    if not reason:
        return ""
    return t(f"industry.reason.{reason}", lang).format(th=f"{threshold:g}")


def missing_text(missing: str | None, lang: str) -> str:
    """The missing inputs in words (研发强度、综合能耗(吨标煤)), never their internal ids."""
    if not missing:
        return ""

    def word(m: str) -> str:
        for key in (f"industry.ind.{m}", f"industry.col.{m}"):
            if key in TEXT:
                return t(key, lang)
        return m
    return ("、" if lang != "en" else ", ").join(word(m) for m in str(missing).split(",") if m)


# -- the shell --------------------------------------------------------------------------
def _filter(id_, label_key: str, lang: str, options=()) -> html.Div:
    return html.Div(className="ind-filter", children=[
        html.Label(t(label_key, lang)),
        dcc.Dropdown(id=id_, options=list(options), value=None, clearable=True, searchable=True,
                     placeholder=t("industry.all", lang), className="ind-dropdown"),
    ])


def _grid(id_, columns: list[dict], height: str, row_id: str = "params.data.credit_code", lang: str = "zh") -> dag.AgGrid:
    return dag.AgGrid(id=id_, columnDefs=columns, rowData=[], className="ag-theme-alpine-dark ind-grid",
                      style={"height": height}, getRowId=row_id,
                      defaultColDef={"sortable": True, "resizable": True},
                      dashGridOptions={"localeText": grid_locale(lang), "animateRows": False, "rowHeight": 34,
                                       "headerHeight": 38,
                                       "tooltipShowDelay": 300, "suppressCellFocus": True})


def enterprise_map(bounds, tile_url: str, attribution: str) -> dl.Map:
    layers = [dl.TileLayer(url=tile_url, attribution=attribution)] if tile_url else []
    layers += [
        dl.GeoJSON(id=ids.IND_MAP_AREAS, url="/api/areas.geojson?level=district", style=NS("areaStyle"),
                   onEachFeature=NS("areaTooltip"), hoverStyle={"weight": 3, "color": "#ffffff"}),
        dl.GeoJSON(id=ids.IND_MAP_POINTS, data={"type": "FeatureCollection", "features": []},
                   pointToLayer=NS("point"), onEachFeature=NS("pointTooltip")),
    ]
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]
    # center and zoom must be given with bounds: dash-leaflet compares the centre on moves
    return dl.Map(id=ids.IND_MAP, children=layers, bounds=bounds, center=center, zoom=9, zoomSnap=0.25,
                  scrollWheelZoom=False, attributionControl=bool(tile_url), preferCanvas=True,
                  style={"width": "100%", "height": "100%"})


def layout(lang: str, bounds, tile_url: str = "", attribution: str = "", refresh_s: float = 30) -> html.Div:
    from layouts.industry_tables import low_columns, ranking_columns

    return html.Div(className="ind-page", children=[
        dcc.Location(id=ids.IND_URL, refresh=False),
        dcc.Interval(id=ids.IND_TICK, interval=int(refresh_s * 1000)),
        dcc.Store(id=ids.IND_VERSION),
        dcc.Download(id=ids.IND_DOWNLOAD),
        html.Div(className="ind-head", children=[
            html.H2(t("industry.title", lang)),
            html.Nav(id=ids.IND_CRUMBS, className="ind-crumbs"),
            html.Div(id=ids.IND_FEEDS, className="ind-feeds"),
            html.Div(className="ind-filter ind-period", children=[
                html.Label(t("industry.period", lang)),
                dcc.Dropdown(id=ids.IND_PERIOD, options=[], value=None, clearable=False, className="ind-dropdown"),
            ]),
        ]),
        html.Div(id=ids.IND_DETAIL, className="ind-detail", style={"display": "none"}),
        html.Div(id=ids.IND_BOARD, children=[
            html.Div(id=ids.IND_SUMMARY, className="ind-tiles"),
            html.Div(id=ids.IND_NOTICE, className="ind-notice"),
            html.Div(className="ind-row ind-row-main", children=[
                html.Section(className="panel ind-rank-panel", children=[
                    html.Div(className="ind-panel-head", children=[
                        html.H3(t("industry.ranking", lang)),
                        html.Span(t("industry.ranking_hint", lang), className="ind-hint"),
                    ]),
                    html.Div(className="ind-filters", children=[
                        _filter(ids.IND_STREET, "industry.street", lang),
                        _filter(ids.IND_PARK, "industry.park", lang),
                        _filter(ids.IND_GRADE, "industry.grade", lang,
                                [{"label": t("industry.grade_n", lang).format(g=g), "value": g} for g in GRADES]
                                + [{"label": t("industry.not_graded", lang), "value": "none"}]),
                        _filter(ids.IND_INDUSTRY, "industry.industry", lang),
                    ]),
                    _grid(ids.IND_RANKING, ranking_columns(lang), "560px", lang=lang),
                ]),
                html.Section(className="panel ind-map-panel", children=[
                    html.H3(t("industry.map", lang)),
                    html.Div(enterprise_map(bounds, tile_url, attribution), className="ind-map-box"),
                    html.Div(className="ind-legend", children=[
                        html.Span([html.I(className=f"dot grade-{g}"), t("industry.grade_n", lang).format(g=g)])
                        for g in GRADES] + [html.Span([html.I(className="dot grade-none"),
                                                       t("industry.not_graded", lang)])]),
                    html.Div(t("wall.made_up", lang), className="footnote"),
                ]),
            ]),
            html.Div(className="ind-row", children=[
                html.Section(className="panel", children=[
                    html.H3(t("industry.scatter", lang)),
                    dcc.Graph(id=ids.IND_SCATTER, config={"displayModeBar": False}, style={"height": "420px"}),
                    html.Div(id=ids.IND_SCATTER_NOTE, className="footnote"),
                ]),
                html.Section(className="panel", children=[
                    html.Div(className="ind-panel-head", children=[
                        html.H3(t("industry.areas", lang)),
                        html.Span(t("industry.drill_hint", lang), className="ind-hint"),
                    ]),
                    html.Div(id=ids.IND_AREAS),
                ]),
            ]),
            html.Section(className="panel ind-low-panel", children=[
                html.Div(className="ind-panel-head", children=[
                    html.H3(t("industry.low", lang)),
                    html.Span(id=ids.IND_LOW_COUNT, className="ind-hint"),
                    html.Div(className="ind-export", children=[
                        html.Button(t("industry.export_csv", lang), id=ids.IND_EXPORT_CSV, n_clicks=0,
                                    className="ind-button"),
                        html.Button(t("industry.export_xlsx", lang), id=ids.IND_EXPORT_XLSX, n_clicks=0,
                                    className="ind-button"),
                    ]),
                ]),
                _grid(ids.IND_LOW, low_columns(lang), "380px", lang=lang),
            ]),
            html.Details(className="panel ind-formula", open=False, children=[
                html.Summary(t("industry.formula", lang)),
                html.Div(id=ids.IND_FORMULA),
            ]),
        ]),
    ])


def formula_block(rules, bench: dict, lang: str) -> list:
    """The definitions (METRICS.md) with this city's settings filled in."""
    c1, c2, c3 = rules.grade_cutoffs
    items = [html.Li(f"{t('industry.ind.' + k, lang)} = {t('industry.f.' + k, lang)}"
                     f"({t('industry.unit.' + k, lang)})") for k in INDICATORS]
    weights = ", ".join(f"{t('industry.ind.' + k, lang)} {w:g}" for k, w in rules.scored.items())
    benches = ", ".join(f"{t('industry.ind.' + k, lang)} {indicator_value(k, bench.get(k))}"
                        for k in rules.scored)
    return [
        html.Ul(items),
        html.P(t("industry.formula_score", lang).format(
            cap=f"{rules.cap:g}", bench=t(f"industry.bench.{rules.benchmark}", lang), c1=f"{c1:g}",
            c2=f"{c2:g}", c3=f"{c3:g}", th=f"{rules.land_threshold_mu:g}")),
        html.P(f"{t('industry.weights', lang)}: {weights}"),
        html.P(f"{t('industry.benchmarks', lang)}: {benches}"),
    ]

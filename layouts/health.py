"""/health: every feed's health, where tickets were placed, and the latest rejects."""

from __future__ import annotations

import dash_ag_grid as dag
from dash import dcc, html

from layouts import ids
from layouts.components import grid_options
from layouts.i18n import t

HEALTH_COLUMNS = ("health.feed", "health.kind", "health.status", "health.last_success", "health.age",
                  "health.duration", "health.last_run", "health.totals", "health.next_try", "health.error")


def reject_columns(lang: str) -> list[dict]:
    return [
        {"field": "at", "headerName": t("health.at", lang), "width": 110},
        {"field": "index", "headerName": t("health.index", lang), "width": 80},
        {"field": "ticket_id", "headerName": "ID", "width": 170},
        {"field": "reason", "headerName": t("health.reason", lang), "flex": 2, "wrapText": True, "autoHeight": True},
        {"field": "excerpt", "headerName": t("health.excerpt", lang), "flex": 3, "wrapText": True,
         "autoHeight": True, "cellClass": "mono"},
    ]


def health_table(rows: list[list], lang: str) -> html.Table:
    head = html.Thead(html.Tr([html.Th(t(k, lang)) for k in HEALTH_COLUMNS]))
    body = html.Tbody([html.Tr([html.Td(c, className=cls) for c, cls in row]) for row in rows])
    return html.Table([head, body], className="health")


def store_line(status: dict, lang: str) -> list:
    """The store's kind and persistence, and a plain warning when data would not survive."""
    mode = status.get("mode", "unknown")
    out = [html.Span(f"{t('health.store', lang)}: {t('store.kind.' + status.get('kind', 'external'), lang)} · "
                     f"{t('store.mode.' + mode, lang)}", className="store-mode")]
    warn = None
    if mode in ("snapshots", "none", "unknown"):
        warn = t("store.warn." + mode, lang)
    elif status.get("appendfsync") == "no":
        warn = t("store.warn.fsync", lang)
    if warn:
        out.append(html.P(warn, className="store-warning error"))
    return out


def layout(lang: str, feeds: list[str]) -> html.Div:
    return html.Div(className="health-page", children=[
        html.H2(t("health.title", lang)),
        html.Div(id=ids.HEALTH_STORE, className="health-store"),
        html.Div(id=ids.HEALTH_TABLE),
        html.Div(className="health-row", children=[
            html.Section(className="panel", children=[html.H3(t("health.placement", lang)),
                                                      html.Div(id=ids.HEALTH_PLACEMENT)]),
            html.Section(className="panel", children=[html.H3(t("health.areas", lang)),
                                                      html.Div(id=ids.HEALTH_AREAS)]),
        ]),
        html.Section(className="panel", children=[
            html.H3(t("health.rejects", lang)),
            dcc.Dropdown(id=ids.HEALTH_FEED, options=[{"label": f, "value": f} for f in feeds],
                         value=feeds[0] if feeds else None, clearable=False, className="dark-dropdown"),
            dag.AgGrid(id=ids.HEALTH_REJECTS, columnDefs=reject_columns(lang), rowData=[],
                       style={"height": "420px"}, dashGridOptions=grid_options(lang),
                       getRowId="params.data.key"),
        ]),
    ])

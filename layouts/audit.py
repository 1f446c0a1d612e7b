"""/audit (admins): the audit trail with filters and an export."""

from __future__ import annotations

import dash_ag_grid as dag
from dash import dcc, html

from layouts import ids
from layouts.components import grid_options
from layouts.i18n import t

EVENTS = ("login", "logout", "login_failed", "refused", "export", "view_personal_data", "acknowledge", "resolve",
          "emergency_mode", "kiosk_enrol", "token_issue", "token_revoke", "user_add", "user_passwd", "user_disable",
          "settings_reload")
COLUMNS = ("when", "what", "who", "role", "via", "detail")


def columns(lang: str) -> list[dict]:
    widths = {"when": 210, "what": 150, "who": 150, "role": 120, "via": 90}
    return [{"field": c, "headerName": t(f"audit.col.{c}", lang), "width": widths.get(c, 200),
             **({"flex": 1, "wrapText": True, "autoHeight": True, "cellClass": "mono"} if c == "detail" else {})}
            for c in COLUMNS]


def layout(lang: str) -> html.Div:
    return html.Div(className="audit-page", children=[
        html.H2(t("audit.title", lang)),
        html.Div(className="audit-filters", children=[
            dcc.Dropdown(id=ids.AUDIT_WHAT, options=[{"label": e, "value": e} for e in EVENTS], multi=True,
                         placeholder=t("audit.what", lang), className="audit-what"),
            dcc.Input(id=ids.AUDIT_WHO, placeholder=t("audit.who", lang), debounce=True, className="audit-who"),
            html.Button(t("audit.export", lang), id=ids.AUDIT_EXPORT, n_clicks=0, className="btn"),
            dcc.Download(id=ids.AUDIT_DOWNLOAD),
        ]),
        dag.AgGrid(id=ids.AUDIT_GRID, columnDefs=columns(lang), rowData=[], style={"height": "70vh"},
                   dashGridOptions=grid_options(lang)),
    ])

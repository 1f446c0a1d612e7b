"""The members panel of /tickets: the tickets behind a number, numerator or denominator.

Opened by a click on any count or rate (drill table, department ranking, trend, categories);
personal data arrives masked from the query layer unless the viewer's role may see it.
"""

from __future__ import annotations

import dash_ag_grid as dag
from dash import dcc, html

from dashboard.queries.ticket_views import ROW_FIELDS
from layouts import ids
from layouts.components import grid_options
from layouts.i18n import ref_data, t

_WIDTHS = {"ticket_id": 170, "created_at": 150, "deadline_at": 150, "closed_at": 150, "caller_phone": 130}


def member_columns(lang: str) -> list[dict]:
    cols = []
    for f in ROW_FIELDS:
        col = {"field": f, "headerName": t(f"tickets.col.{f}", lang), "width": _WIDTHS.get(f, 110),
               "tooltipField": f, "cellDataType": "text"}
        if ref_data(f, lang):
            col["refData"] = ref_data(f, lang)
        cols.append(col)
    return cols


def part_options(lang: str, num: int | None = None, den: int | None = None) -> list[dict]:
    def label(key, n):
        return t(key, lang) + ("" if n is None else f" · {n:,}")
    return [{"label": label("tickets.numerator", num), "value": "numerator"},
            {"label": label("tickets.denominator", den), "value": "denominator"}]


def members_panel(lang: str) -> html.Div:
    return html.Div(id=ids.TK_MEMBERS, className="tk-members", children=[
        html.Div(className="tk-members-box", children=[
            html.Div(className="tk-members-head", children=[
                html.H3(id=ids.TK_MEMBERS_TITLE),
                dcc.RadioItems(id=ids.TK_MEMBERS_PART, options=part_options(lang), value="numerator",
                               inline=True, className="tk-radio"),
                html.A(t("tickets.members_export", lang), id=ids.TK_MEMBERS_EXPORT, href="", className="tk-button",
                       download=""),
                html.A(t("tickets.members_link", lang), id=ids.TK_MEMBERS_LINK, href="", className="tk-button",
                       title=t("tickets.members_link_hint", lang)),
                html.Button(t("tickets.close", lang), id=ids.TK_MEMBERS_CLOSE, className="tk-button", n_clicks=0),
            ]),
            html.Div(id=ids.TK_MEMBERS_NOTE, className="tk-formula"),
            dag.AgGrid(id=ids.TK_MEMBERS_GRID, columnDefs=member_columns(lang), rowData=[],
                       getRowId="params.data.ticket_id",
                       defaultColDef={"sortable": True, "resizable": True, "filter": True},
                       dashGridOptions=grid_options(lang, rowHeight=30), style={"height": "100%"}, className="tk-grid"),
        ]),
    ])

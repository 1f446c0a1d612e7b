"""/overdue (超期督办): department heads find, sort and export their late tickets.

The grid's columns are built once; refreshes send rows by ticket id, so the user's sort,
filters and scroll position stay where they were.
"""

from __future__ import annotations

import dash_ag_grid as dag
from dash import dcc, html

from layouts import ids
from layouts.components import grid_options
from layouts.i18n import ref_data, t

_WIDTHS = {"ticket_id": 170, "light": 74, "state": 88, "late_h": 120, "deadline_at": 150, "department": 160,
           "street": 130, "community": 130, "grid": 120, "category": 120, "urgency": 96, "status": 100,
           "created_at": 150, "caller_name": 96, "caller_phone": 130}


def late_text(hours, lang: str) -> str:
    """Hours past the deadline in words, as the grid shows them (assets odLate): 35天4小时,
    5小时12分, 剩 3小时20分 (negative: time left)."""
    if hours is None or hours != hours:
        return "—"
    zh = lang != "en"
    h = abs(float(hours))
    d, r, m = int(h // 24), int(h % 24), int((h * 60) % 60)
    if d > 0:
        txt = f"{d}天{r}小时" if zh else f"{d} d {r} h"
    else:
        txt = f"{r}小时{m}分" if zh else f"{r} h {m} min"
    if hours >= 0:
        return txt
    return f"剩 {txt}" if zh else f"{txt} left"


def header(field: str, lang: str) -> str:
    if field == "late_text":
        return t("overdue.late", lang)
    if field in ("light", "late_h"):
        return t("overdue.light" if field == "light" else "overdue.late", lang)
    if field == "state":
        return t("overdue.state", lang)
    return t(f"tickets.col.{field}", lang)


def columns(lang: str, fields) -> list[dict]:
    cols = []
    for f in fields:
        col = {"field": f, "headerName": header(f, lang), "width": _WIDTHS.get(f, 110), "filter": True,
               "cellDataType": "text", "tooltipField": f}
        if f == "light":
            col.update(cellRenderer="odLight", filter=False, sortable=True,
                       comparator={"function": "odLightOrder(valueA, valueB)"})
        elif f == "state":
            col["valueFormatter"] = {"function": "params.value === 'overdue' ? '%s' : '%s'" % (
                t("overdue.overdue", lang), t("overdue.due_soon", lang))}
            col["cellClassRules"] = {"od-late": "params.value === 'overdue'", "od-soon": "params.value === 'due_soon'"}
        elif f == "late_h":
            col.update(type="numericColumn", filter="agNumberColumnFilter", cellDataType="number", tooltipField=None,
                       valueFormatter={"function": f"odLate(params.value, '{lang}')"},
                       cellClassRules={"od-late": "params.value > 0"}, sort="desc")
        elif f == "ticket_id":
            col["pinned"] = "left"
        elif ref_data(f, lang):
            col["refData"] = ref_data(f, lang)
        cols.append(col)
    return cols


def layout(lang: str, fields, departments: list[str], areas: list[tuple[str, str]]) -> html.Div:
    states = [{"label": t("overdue.overdue", lang), "value": "overdue"},
              {"label": t("overdue.due_soon", lang), "value": "due_soon"}]
    return html.Div(id=ids.OD_ROOT, className="od-page", children=[
        dcc.Location(id=ids.OD_URL, refresh=False),
        dcc.Store(id=ids.OD_KEY),
        dcc.Download(id=ids.OD_DOWNLOAD),
        html.Div(className="od-head", children=[
            html.H2(t("overdue.title", lang)),
            html.Span(id=ids.OD_SUMMARY, className="od-summary"),
        ]),
        html.Div(className="tk-controls od-controls", children=[
            dcc.Checklist(id=ids.OD_STATE, options=states, value=["overdue", "due_soon"], inline=True,
                          className="tk-radio"),
            dcc.Dropdown(id=ids.OD_DEPT, options=departments, multi=True, placeholder=t("overdue.departments", lang),
                         className="dark-dropdown od-filter"),
            dcc.Dropdown(id=ids.OD_AREA, options=[{"label": label, "value": code} for code, label in areas],
                         multi=True, placeholder=t("overdue.areas", lang), className="dark-dropdown od-filter"),
            dcc.Input(id=ids.OD_SEARCH, type="search", debounce=0.3, placeholder=t("overdue.search", lang),
                      className="od-search"),
            html.Button(t("overdue.csv", lang), id=ids.OD_CSV, n_clicks=0, className="tk-button"),
            html.Button(t("overdue.xlsx", lang), id=ids.OD_XLSX, n_clicks=0, className="tk-button"),
        ]),
        html.Div(id=ids.OD_NOTICE, className="notice"),
        dag.AgGrid(id=ids.OD_GRID, columnDefs=columns(lang, fields), rowData=[], getRowId="params.data.ticket_id",
                   defaultColDef={"sortable": True, "resizable": True, "floatingFilter": True},
                   dashGridOptions=grid_options(lang, rowHeight=34, quickFilterText=""),
                   className="tk-grid od-grid", style={"height": "calc(100vh - 72px - 190px)"}),
        html.Div(t("overdue.masked", lang), className="footnote"),
    ])

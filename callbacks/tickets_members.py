"""/tickets: a click on a number opens the tickets behind it (numerator or denominator).

The numbers were computed for the instant and window in the `TK_ASOF` store; the list is
computed for the same ones, so its length is the number that was clicked.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd
from dash import Input, Output, State, ctx, no_update

from dashboard.queries import ticket_views as tv
from layouts import ids
from layouts.i18n import t
from layouts.tickets import formula
from layouts.tickets_members import part_options
from metrics.tickets import METRIC_IDS

CLOSED = "tk-members"
OPEN = "tk-members open"


def query_from_click(trigger, table_cell, dept_cell, trend_click, cat_click, asof: dict) -> tv.MemberQuery | None:
    """Which number a click opened, or None when the click was not on a number."""
    node = (asof or {}).get("node")
    if trigger == ids.TK_TABLE and table_cell and table_cell.get("colId") in METRIC_IDS:
        row = table_cell.get("rowId")
        if row is None or str(row).startswith(("t-", "b-")):  # a pinned row: the node itself
            row = tv.TOTAL
        return tv.MemberQuery(node, row, table_cell["colId"])
    if trigger == ids.TK_DEPARTMENTS and dept_cell and dept_cell.get("colId") in METRIC_IDS:
        return tv.MemberQuery(node, tv.TOTAL, dept_cell["colId"], department=dept_cell.get("rowId"))
    if trigger == ids.TK_TREND and trend_click and trend_click.get("points"):
        p = trend_click["points"][0]
        metric = "received" if p.get("curveNumber", 0) == 0 else "closed"
        return tv.MemberQuery(node, tv.TOTAL, metric, day=str(p.get("x"))[:10])
    if trigger == ids.TK_CATEGORIES and cat_click and cat_click.get("points"):
        return tv.MemberQuery(node, tv.TOTAL, "received", category=str(cat_click["points"][0].get("y")))
    return None


def _title(mq: tv.MemberQuery, rt, lang: str) -> str:
    tree = rt.queries.tree()
    where = t("tickets.unplaced", lang) if mq.row == tv.UNPLACED else ""
    code = mq.node if mq.row in (None, tv.TOTAL, tv.UNPLACED) else mq.row
    if not where and tree is not None and code in tree:
        where = " › ".join(n.name for n in tree.path(code))
    bits = [where, t(f"tickets.m.{mq.metric}", lang)]
    bits += [b for b in (mq.department, mq.category, mq.day) if b]
    return " · ".join(bits)


def show(mq: tv.MemberQuery, asof: dict, lang: str, rt, viewer) -> tuple:
    """(title, part options, rows, note) of the members panel for one number."""
    q = rt.queries
    now, start, end = (pd.Timestamp(asof[k]) for k in ("now", "start", "end"))
    df, num, den = tv.member_frame(q, viewer, mq, now, start, end)
    rows = tv.ticket_rows(df, q.tree(), rt.settings.city.timezone, tv.MEMBER_LIMIT)
    note = formula(mq.metric, lang)
    if len(df) > len(rows):
        note += " · " + t("tickets.shown", lang).format(n=len(rows), total=f"{len(df):,}")
    return _title(mq, rt, lang), part_options(lang, num, den), rows, note


def register(app, rt) -> None:
    from dashboard.queries.access import current_viewer

    def _members(table_cell, dept_cell, trend_click, cat_click, part, close, asof, lang, stored):
        trigger = ctx.triggered_id
        if trigger == ids.TK_MEMBERS_CLOSE:
            return CLOSED, no_update, no_update, [], no_update, None, no_update
        if trigger == ids.TK_MEMBERS_PART and stored:
            mq = tv.MemberQuery(**dict(stored, part=part))
        else:
            mq = query_from_click(trigger, table_cell, dept_cell, trend_click, cat_click, asof)
            if mq is None or not asof:
                return (no_update,) * 7
            part = "numerator"
        title, options, rows, note = show(mq, asof, lang or "zh", rt, current_viewer(rt.settings.access))
        return OPEN, title, options, rows, note, asdict(mq), part

    app.callback(
        Output(ids.TK_MEMBERS, "className"), Output(ids.TK_MEMBERS_TITLE, "children"),
        Output(ids.TK_MEMBERS_PART, "options"), Output(ids.TK_MEMBERS_GRID, "rowData"),
        Output(ids.TK_MEMBERS_NOTE, "children"), Output(ids.TK_MEMBERS_QUERY, "data"),
        Output(ids.TK_MEMBERS_PART, "value"),
        Input(ids.TK_TABLE, "cellClicked"), Input(ids.TK_DEPARTMENTS, "cellClicked"),
        Input(ids.TK_TREND, "clickData"), Input(ids.TK_CATEGORIES, "clickData"),
        Input(ids.TK_MEMBERS_PART, "value"), Input(ids.TK_MEMBERS_CLOSE, "n_clicks"),
        State(ids.TK_ASOF, "data"), State(ids.LANG, "data"), State(ids.TK_MEMBERS_QUERY, "data"),
        prevent_initial_call=True)(_members)

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
    if code is None and tree is not None:      # the city itself
        code = tree.root.code
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


EXPORT_URL = "/api/tickets/members.csv"


def links(mq: tv.MemberQuery, search: str | None, lang: str, rt) -> tuple[str, str]:
    """(export href, page link) of an open list: both carry the drill state and the list."""
    state = tv.parse_state(search, rt.queries.tree())
    page = tv.member_search(state, mq)
    return f"{EXPORT_URL}{page}&lang={lang}", f"/tickets{page}"


def asof_for(search: str | None, rt, now=None) -> dict:
    """The instant and window a linked list is computed for: the URL's window, now."""
    from callbacks.tickets import as_of
    state = tv.parse_state(search, rt.queries.tree())
    now = as_of(rt, now)
    start, end = tv.resolve_window(state, now, rt.settings.city.timezone)
    return {"now": now.isoformat(), "start": start.isoformat(), "end": end.isoformat()}


def export_members(search: str | None, lang: str, rt, viewer, now=None) -> tuple[bytes, str] | None:
    """(CSV bytes, file name) of the list a URL opens, personal data always masked, as the
    screen names its columns and coded values; None when the URL opens no list."""
    from zoneinfo import ZoneInfo

    from dashboard.queries import exports
    from layouts.i18n import ref_data
    from metrics.privacy import mask_frame
    q = rt.queries
    mq = tv.member_from_search(search, q.tree())
    if mq is None:
        return None
    asof = asof_for(search, rt, now)
    at, start, end = (pd.Timestamp(asof[k]) for k in ("now", "start", "end"))
    df, _, _ = tv.member_frame(q, viewer, mq, at, start, end)
    rows = pd.DataFrame(tv.ticket_rows(mask_frame(df), q.tree(), rt.settings.city.timezone),
                        columns=list(tv.ROW_FIELDS))
    for f in tv.ROW_FIELDS:
        names = ref_data(f, lang)
        if names:
            rows[f] = rows[f].map(lambda v, n=names: n.get(v, v))
    rows = rows.rename(columns={f: t(f"tickets.col.{f}", lang) for f in tv.ROW_FIELDS})
    data = exports.export_for(rt.store, viewer, "ticket_members", rows, "csv",
                              {k: v for k, v in asdict(mq).items() if v is not None}, masked=True)
    stamp = at.tz_convert(ZoneInfo(rt.settings.city.timezone)).strftime("%Y%m%d-%H%M")
    return data, f"tickets-{mq.metric}-{mq.part}-{stamp}.csv"


def register(app, rt) -> None:
    from flask import Response, request

    from dashboard.queries import exports
    from dashboard.queries.access import current_viewer

    @app.server.get(EXPORT_URL)
    def ticket_members_csv():
        lang = "en" if request.args.get("lang") == "en" else "zh"
        try:
            got = export_members("?" + request.query_string.decode(), lang, rt, current_viewer(rt.settings.access))
        except exports.ExportRefused:
            return Response("export not allowed for this viewer\n", status=403, mimetype="text/plain")
        if got is None:
            return Response("no such list\n", status=404, mimetype="text/plain")
        body, name = got
        resp = Response(body, mimetype="text/csv; charset=utf-8")
        resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return resp

    def _members(table_cell, dept_cell, trend_click, cat_click, part, close, search, asof, lang, stored):
        trigger = ctx.triggered_id
        lang = lang or "zh"
        if trigger == ids.TK_MEMBERS_CLOSE:
            return CLOSED, no_update, no_update, [], no_update, None, no_update, no_update, no_update
        if trigger in (None, ids.TK_URL):   # a link that opens a list (or the page's first load)
            mq = tv.member_from_search(search, rt.queries.tree())
            if mq is None or (stored and asdict(mq) == stored):
                return (no_update,) * 9
            asof, part = asof_for(search, rt), mq.part
        elif trigger == ids.TK_MEMBERS_PART and stored:
            mq = tv.MemberQuery(**dict(stored, part=part))
        else:
            mq = query_from_click(trigger, table_cell, dept_cell, trend_click, cat_click, asof)
            if mq is None or not asof:
                return (no_update,) * 9
            part = "numerator"
        title, options, rows, note = show(mq, asof, lang, rt, current_viewer(rt.settings.access))
        export, link = links(mq, search, lang, rt)
        return OPEN, title, options, rows, note, asdict(mq), part, export, link

    app.callback(
        Output(ids.TK_MEMBERS, "className"), Output(ids.TK_MEMBERS_TITLE, "children"),
        Output(ids.TK_MEMBERS_PART, "options"), Output(ids.TK_MEMBERS_GRID, "rowData"),
        Output(ids.TK_MEMBERS_NOTE, "children"), Output(ids.TK_MEMBERS_QUERY, "data"),
        Output(ids.TK_MEMBERS_PART, "value"), Output(ids.TK_MEMBERS_EXPORT, "href"),
        Output(ids.TK_MEMBERS_LINK, "href"),
        Input(ids.TK_TABLE, "cellClicked"), Input(ids.TK_DEPARTMENTS, "cellClicked"),
        Input(ids.TK_TREND, "clickData"), Input(ids.TK_CATEGORIES, "clickData"),
        Input(ids.TK_MEMBERS_PART, "value"), Input(ids.TK_MEMBERS_CLOSE, "n_clicks"), Input(ids.TK_URL, "search"),
        State(ids.TK_ASOF, "data"), State(ids.LANG, "data"), State(ids.TK_MEMBERS_QUERY, "data"))(_members)

"""/overdue: rows refreshed by ticket id (sort, filters, scroll stay), search, export."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dash import Input, Output, Patch, State, ctx, dcc, no_update

from callbacks.tickets import as_of
from dashboard.queries import exports
from dashboard.queries import overdue_views as ov
from layouts import ids
from layouts import overdue as view
from layouts.i18n import ref_data, t
from metrics.tickets import FALLBACK_NOTICE, fallback_years

PATH = "/overdue"
SCREEN_FIELDS = tuple(f for f in ov.BOARD_FIELDS if f != "status")


def refresh(states, departments, areas, key, lang, rt, viewer, now: datetime | None = None) -> tuple:
    """(rows or no_update, summary, notice, key): rows are sent only when what they are
    built from changed (data version, the minute, filters): a tick costs nothing else."""
    lang = lang or "zh"
    q = rt.queries
    now = as_of(rt, now)
    minute = now.replace(second=0, microsecond=0)
    new_key = [q.versions(), minute.isoformat(), sorted(states or []), sorted(departments or []),
               sorted(areas or []), viewer.role]
    if new_key == key:
        return no_update, no_update, no_update, no_update
    rows = ov.board_rows(q, viewer, minute, departments, areas, states or ())
    s = ov.summary(rows)
    years = fallback_years(q.window_tickets(viewer, minute, minute), rt.settings.city.timezone)
    notice = FALLBACK_NOTICE["en" if lang == "en" else "zh"].format(years=", ".join(map(str, years))) if years else ""
    return rows, t("overdue.summary", lang).format(**s), notice, new_key


def sync_url(trigger, search, states, departments, areas, text, rt, viewer) -> tuple:
    """The one callback between the URL and the filters: the URL (a link, the back button,
    the first load) sets the controls; a control's change writes the URL (a history entry).
    Unknown values in a URL are ignored. Returns (search, states, departments, areas, text)."""
    if trigger in (None, ids.OD_URL):
        depts, area_opts = ov.filter_options(rt.queries, viewer)
        st = ov.parse_search(search, set(depts), {code for code, _ in area_opts})
        return no_update, list(st.states), list(st.departments), list(st.areas), st.search
    st = ov.BoardState(tuple(s for s in ov.STATES if s in (states or [])), tuple(departments or ()),
                       tuple(areas or ()), (text or "").strip())
    new = ov.format_search(st)
    return (new if new != (search or "") else no_update), no_update, no_update, no_update, no_update


def search(text: str | None):
    p = Patch()
    p["quickFilterText"] = text or ""
    return p


def export_file(fmt: str, ticket_ids: list[str] | None, lang, rt, viewer, now: datetime | None = None,
                departments=None, areas=None) -> tuple[bytes, str]:
    """(file bytes, file name): the board's tickets as CSV or XLSX, personal data masked;
    `exports.ExportRefused` (audited) without the export permission.

    `ticket_ids`: the rows on screen in screen order (the page's button); None: every row
    of the board for `departments` / `areas`, in the board's order (`/api/v1/export`).
    """
    lang = lang or "zh"
    now = as_of(rt, now).replace(second=0, microsecond=0)
    if ticket_ids is None:
        ticket_ids = list(ov.board_frame(rt.queries, viewer, now, departments, areas)["ticket_id"])
    headers = {}
    for f in SCREEN_FIELDS:   # overdue by: hours as a number (超期(小时)) and in words (超期时长 35天4小时)
        if f == "late_h":
            headers["late_h"] = t("overdue.late_hours", lang)
            headers["late_text"] = view.header("late_text", lang)
        else:
            headers[f] = view.header(f, lang)
    lights = {c: t(f"overdue.light.{c}", lang) for c in ("red", "yellow", "green")}
    states = {s: t(f"overdue.{s}", lang) for s in ov.STATES}
    values = {f: ref_data(f, lang) for f in SCREEN_FIELDS if ref_data(f, lang)}
    df = ov.export_frame(rt.queries, viewer, now, ticket_ids, headers, lights, states, values,
                         late_text=lambda h: view.late_text(h, lang))
    stamp = now.astimezone(ZoneInfo(rt.settings.city.timezone)).strftime("%Y%m%d-%H%M")   # the city's clock
    data = exports.export_for(rt.store, viewer, "overdue", df, "xlsx" if fmt == "xlsx" else "csv",
                              {"ticket_ids": len(ticket_ids), "departments": list(departments or []),
                               "areas": list(areas or [])}, masked=True, sheet="overdue")
    return data, f"overdue-{stamp}.{'xlsx' if fmt == 'xlsx' else 'csv'}"


def export(fmt: str, virtual_rows, lang, rt, viewer, now: datetime | None = None):
    """The rows on screen, in screen order, as CSV or XLSX bytes with personal data masked."""
    ticket_ids = [r.get("ticket_id") for r in (virtual_rows or []) if r.get("ticket_id")]
    try:
        return dcc.send_bytes(*export_file(fmt, ticket_ids, lang, rt, viewer, now))
    except exports.ExportRefused:
        return None


def register(app, rt) -> None:
    from dashboard.queries.access import current_viewer

    def _refresh(n, _root, states, departments, areas, key, lang, pathname):
        if pathname != PATH:
            return (no_update,) * 4
        return refresh(states, departments, areas, key, lang, rt, current_viewer(rt.settings.access))

    def _url(search, states, departments, areas, text):
        return sync_url(ctx.triggered_id, search, states, departments, areas, text, rt,
                        current_viewer(rt.settings.access))

    app.callback(Output(ids.OD_URL, "search"), Output(ids.OD_STATE, "value"), Output(ids.OD_DEPT, "value"),
                 Output(ids.OD_AREA, "value"), Output(ids.OD_SEARCH, "value"),
                 Input(ids.OD_URL, "search"), Input(ids.OD_STATE, "value"), Input(ids.OD_DEPT, "value"),
                 Input(ids.OD_AREA, "value"), Input(ids.OD_SEARCH, "value"))(_url)

    app.callback(Output(ids.OD_GRID, "rowData"), Output(ids.OD_SUMMARY, "children"),
                 Output(ids.OD_NOTICE, "children"), Output(ids.OD_KEY, "data"),
                 Input(ids.TICK, "n_intervals"), Input(ids.OD_ROOT, "id"), Input(ids.OD_STATE, "value"),
                 Input(ids.OD_DEPT, "value"), Input(ids.OD_AREA, "value"),
                 State(ids.OD_KEY, "data"), State(ids.LANG, "data"), State(ids.URL, "pathname"))(_refresh)
    app.callback(Output(ids.OD_GRID, "dashGridOptions"), Input(ids.OD_SEARCH, "value"),
                 prevent_initial_call=True)(search)

    def _export(n_csv, n_xlsx, virtual_rows, lang):
        fmt = "xlsx" if ctx.triggered_id == ids.OD_XLSX else "csv"
        return export(fmt, virtual_rows, lang, rt, current_viewer(rt.settings.access))

    app.callback(Output(ids.OD_DOWNLOAD, "data"), Input(ids.OD_CSV, "n_clicks"), Input(ids.OD_XLSX, "n_clicks"),
                 State(ids.OD_GRID, "virtualRowData"), State(ids.LANG, "data"), prevent_initial_call=True)(_export)


def page(lang: str, rt):
    from dashboard.queries.access import current_viewer

    depts, areas = ov.filter_options(rt.queries, current_viewer(rt.settings.access))
    return view.layout(lang, SCREEN_FIELDS, depts, areas)

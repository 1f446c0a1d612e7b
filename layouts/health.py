"""/health: every feed's health, where tickets were placed, and the latest rejects."""

from __future__ import annotations

import dash_ag_grid as dag
from dash import dcc, html

from layouts import ids
from layouts.components import grid_options
from layouts.i18n import t

HEALTH_COLUMNS = ("health.feed", "health.kind", "health.status", "health.last_success", "health.age",
                  "health.duration", "health.last_run", "health.totals", "health.coverage", "health.next_try",
                  "health.error")


def reject_columns(lang: str) -> list[dict]:
    return [
        {"field": "at", "headerName": t("health.at", lang), "width": 110},
        {"field": "index", "headerName": t("health.index", lang), "width": 80},
        {"field": "ticket_id", "headerName": "ID", "width": 170},
        {"field": "reason", "headerName": t("health.reason", lang), "flex": 2, "wrapText": True, "autoHeight": True},
        {"field": "excerpt", "headerName": t("health.excerpt", lang), "flex": 3, "wrapText": True,
         "autoHeight": True, "cellClass": "mono"},
    ]


_ERROR_PATTERNS = (   # (kind, regex) — the first match names the error; the full text stays in the tooltip
    ("refused", r"Connection refused|ConnectionRefused|Errno 111"),
    ("timeout", r"timed out|Timeout|ReadTimeout|ConnectTimeout"),
    ("dns", r"Name or service not known|NameResolution|getaddrinfo|nodename nor servname|Temporary failure in name"),
    ("tls", r"SSL|certificate|CERTIFICATE"),
    ("http", r"HTTP (\d{3})|status code (\d{3})|(\d{3}) (?:Client|Server) Error"),
    ("unreachable", r"Max retries exceeded|Connection aborted|RemoteDisconnected|ConnectionError|Network is unreachable"),
    ("file", r"cannot read|No such file|Permission denied"),
    ("format", r"not strict JSON|not valid|expected |JSON|parse|decode|header"),
)


def error_summary(text: str | None, lang: str) -> str:
    """A feed's last error in one short line, in the page's language: what went wrong and
    where ("连接被拒绝 · 127.0.0.1:9"), from the raw library text kept in the health record."""
    import re
    if not text:
        return ""
    kind, code = "other", ""
    for k, pattern in _ERROR_PATTERNS:
        m = re.search(pattern, text)
        if m:
            kind, code = k, next((g for g in m.groups() if g), "") if m.groups() else ""
            break
    words = t(f"health.err.{kind}", lang).format(code=code)
    host = re.search(r"host='([^']+)', port=(\d+)", text) or re.search(r"https?://([^/\s:'\"]+)(?::(\d+))?", text)
    if host:
        words += " · " + host.group(1) + (f":{host.group(2)}" if host.group(2) else "")
    return words


def error_cell(text: str | None, lang: str) -> html.Span:
    """The error's summary on one line; the whole text (one line, whitespace collapsed) on hover."""
    full = " ".join((text or "").split())
    return html.Span(error_summary(full, lang), title=full, className="error-line")


def placement_list(counts: dict[str, int], lang: str) -> html.Ul:
    """How tickets were placed; each unplaced count opens its tickets (/health?placement=REASON)."""
    from metrics.placement import UNPLACED
    items = []
    for k, v in counts.items():
        label = f"{t('health.' + k, lang)}: {v:,}"
        if k in UNPLACED and v:
            items.append(html.Li(dcc.Link(label, href=f"/health?placement={k}", className="placement-link")))
        else:
            items.append(html.Li(label))
    return html.Ul(items)


def unplaced_columns(lang: str) -> list[dict]:
    from layouts.i18n import ref_data
    cols = []
    for f, w in (("ticket_id", 170), ("created_at", 150), ("category", 140), ("status", 96),
                 ("department", 150), ("caller_name", 96), ("caller_phone", 130)):
        col = {"field": f, "headerName": t(f"tickets.col.{f}", lang), "width": w, "tooltipField": f}
        if ref_data(f, lang):            # coded values in words (派遣, not "dispatched")
            col["refData"] = ref_data(f, lang)
        cols.append(col)
    return cols


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
        html.Section(id=ids.HEALTH_UNPLACED, className="panel hidden-empty"),
        html.Section(className="panel", children=[
            html.H3(t("health.rejects", lang)),
            dcc.Dropdown(id=ids.HEALTH_FEED, options=[{"label": f, "value": f} for f in feeds],
                         value=feeds[0] if feeds else None, clearable=False, className="dark-dropdown"),
            dag.AgGrid(id=ids.HEALTH_REJECTS, columnDefs=reject_columns(lang), rowData=[],
                       style={"height": "420px"}, dashGridOptions=grid_options(lang),
                       getRowId="params.data.key"),
        ]),
    ])

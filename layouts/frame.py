"""The page frame: header (title, navigation, clock, language switch) and the page slot."""

from __future__ import annotations

from dash import dcc, html

from layouts import ids
from layouts.i18n import t

PAGES = (("/", "nav.wall"), ("/tickets", "nav.tickets"), ("/overdue", "nav.overdue"),
         ("/alarms", "nav.alarms"), ("/industry", "nav.industry"), ("/health", "nav.health"), ("/audit", "nav.audit"))


def nav(lang: str, pathname: str, available: set[str]) -> list:
    return [dcc.Link(t(key, lang), href=path, className="nav-link" + (" active" if path == pathname else ""))
            for path, key in PAGES if path in available]


def page_unavailable(lang: str, pathname: str) -> html.Div:
    """The page slot while the store is away and the page asked for cannot be built."""
    key = dict(PAGES).get(pathname)
    name = t(key, lang) if key else pathname
    return html.Div(className="panel page-unavailable", role="status", children=[
        html.H2(t("store.page_unavailable", lang).format(page=name)),
        html.P(t("store.page_unavailable.hint", lang)),
    ])


def frame(refresh_s: float, default_lang: str, city_name: str) -> html.Div:
    return html.Div(className="frame", children=[
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.LANG, storage_type="local", data=default_lang),
        dcc.Store(id=ids.PAGE_PENDING, data=None),
        dcc.Interval(id=ids.TICK, interval=int(refresh_s * 1000)),
        html.Header(className="topbar", children=[
            html.Div(className="brand", children=[
                html.Span(city_name, className="city"),
                html.Span(id=ids.TITLE, className="title"),
            ]),
            html.Nav(id=ids.NAV, className="nav"),
            html.Div(className="topbar-right", children=[
                html.Span(id=ids.CLOCK, className="clock"),
                html.Button(id=ids.LANG_BUTTON, className="lang-button", n_clicks=0),
            ]),
        ]),
        # degraded mode: shown while the data store is unreachable (callbacks/frame.py)
        html.Div(id=ids.STORE_BANNER, className="store-banner", hidden=True, role="alert"),
        html.Main(id=ids.PAGE, className="page"),
    ])

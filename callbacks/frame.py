"""The frame: routing by URL, the language switch, the clock."""

from __future__ import annotations

from dash import Input, Output, State, html

from layouts import ids
from layouts.frame import nav
from layouts.i18n import age_text, t

# path → function(lang, runtime) returning the page; pages register themselves here
PAGES: dict = {}


def not_found(lang: str) -> html.Div:
    return html.Div(className="panel", children=html.H2("404"))


def forbidden(lang: str) -> html.Div:
    return html.Div(className="panel", children=[html.H2("403"), html.P(t("access.forbidden", lang))])


def render(pathname: str | None, lang: str | None, rt, viewer=None) -> tuple:
    """The page at `pathname` for `viewer` (a page they may not open shows 403; the
    navigation lists only the pages they may open)."""
    from dashboard.queries.access import current_viewer

    viewer = viewer or current_viewer(rt.settings.access)
    lang = lang or rt.settings.city.language
    path = pathname or "/"
    page = PAGES.get(path)
    allowed = {p for p in PAGES if viewer.may_open(p)}
    if page is None:
        body = not_found(lang)
    elif path not in allowed:
        body = forbidden(lang)
    else:
        body = page(lang, rt)
    links = nav(lang, path, allowed)
    if viewer.via == "anonymous":
        links.append(html.A(t("nav.login", lang), href="/login?next=" + path, className="nav-link nav-login"))
    elif viewer.via == "session":
        links.append(html.A(f"{t('nav.logout', lang)} ({viewer.user})", href="/logout", className="nav-link nav-login"))
    return body, links, t("title", lang), t("lang.switch", lang)


def store_banner(n, lang: str | None, rt, now_ts: float | None = None) -> tuple:
    """(text, hidden) of the degraded-mode banner: asks the store (at most once a second per
    process) so the first successful answer clears it; the age of what the page shows keeps
    counting while the store is away."""
    import time
    from datetime import datetime
    from zoneinfo import ZoneInfo

    lang = lang or rt.settings.city.language
    rt.watch.check(rt.store.ping)
    st = rt.watch.state()
    if st["reachable"]:
        return "", True
    now_ts = time.time() if now_ts is None else now_ts
    since = datetime.fromtimestamp(st["since"], ZoneInfo(rt.settings.city.timezone)).strftime("%H:%M")
    age = age_text(now_ts - st["last_ok"], lang)
    return [html.Strong(t("store.unreachable", lang).format(since=since)), " · ",
            html.Span(t("store.unreachable.age", lang).format(age=age))], False


def toggle(n_clicks: int, lang: str | None) -> str:
    return "en" if (lang or "zh") == "zh" else "zh"


def register(app, rt) -> None:
    app.callback(Output(ids.PAGE, "children"), Output(ids.NAV, "children"), Output(ids.TITLE, "children"),
                 Output(ids.LANG_BUTTON, "children"),
                 Input(ids.URL, "pathname"), Input(ids.LANG, "data"))(
        lambda pathname, lang: render(pathname, lang, rt))
    app.callback(Output(ids.STORE_BANNER, "children"), Output(ids.STORE_BANNER, "hidden"),
                 Input(ids.TICK, "n_intervals"), State(ids.LANG, "data"))(
        lambda n, lang: store_banner(n, lang, rt))
    app.callback(Output(ids.LANG, "data"), Input(ids.LANG_BUTTON, "n_clicks"), State(ids.LANG, "data"),
                 prevent_initial_call=True)(toggle)
    app.clientside_callback(
        "function(n, tz) { return window.cityops.clock(tz); }",
        Output(ids.CLOCK, "children"), Input(ids.TICK, "n_intervals"), State(ids.CITY_TZ, "data"))

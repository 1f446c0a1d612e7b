"""The frame: routing by URL, the language switch, the clock."""

from __future__ import annotations

from dash import Input, Output, State, ctx, html, no_update

from layouts import ids
from layouts.frame import nav, page_unavailable
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
    return body, nav_links(lang, path, viewer), t("title", lang), t("lang.switch", lang)


def nav_links(lang: str, path: str, viewer) -> list:
    """The navigation: the pages `viewer` may open, `path` marked, and log in / out."""
    links = nav(lang, path, {p for p in PAGES if viewer.may_open(p)})
    if viewer.via == "anonymous":
        links.append(html.A(t("nav.login", lang), href="/login?next=" + path, className="nav-link nav-login"))
    elif viewer.via == "session":
        links.append(html.A(f"{t('nav.logout', lang)} ({viewer.user})", href="/logout", className="nav-link nav-login"))
    return links


def route(pathname: str | None, lang: str | None, banner_hidden: bool | None, pending: str | None,
          rt, viewer=None) -> tuple:
    """(page, navigation, title, language button, pending path). Renders on a new URL or
    language; when the store banner clears, renders the page that could not open while the
    store was away (`pending`), and leaves any other page alone."""
    if ctx.triggered_id == ids.STORE_BANNER and not (banner_hidden and pending):
        return (no_update,) * 5
    return (*render(pending if ctx.triggered_id == ids.STORE_BANNER else pathname, lang, rt, viewer), None)


def route_unavailable(pathname: str | None, lang: str | None, banner_hidden, pending: str | None, rt) -> tuple:
    """`route` when building the page met a store error (degraded mode calls this instead
    of answering "no update", which would leave the previous page up under a new URL): the
    page slot says this page cannot open; it opens when the banner clears."""
    from dashboard.queries.access import current_viewer

    viewer = current_viewer(rt.settings.access)     # resolved by the gate: no store call here
    lang = lang or rt.settings.city.language
    path = pending if ctx.triggered_id == ids.STORE_BANNER else (pathname or "/")
    if path not in PAGES or not viewer.may_open(path):
        return (*render(path, lang, rt, viewer), None)   # 404 / 403 need no store
    return page_unavailable(lang, path), nav_links(lang, path, viewer), t("title", lang), t("lang.switch", lang), path


def store_banner(n, lang: str | None, hidden: bool | None, rt, now_ts: float | None = None) -> tuple:
    """(text, hidden) of the degraded-mode banner: asks the store (at most once a second per
    process) so the first successful answer clears it; the age of what the page shows keeps
    counting while the store is away. `hidden` is set only when it changes (the router
    listens to it: the page that could not open opens when it clears)."""
    import time
    from datetime import datetime
    from zoneinfo import ZoneInfo

    lang = lang or rt.settings.city.language
    rt.watch.check(rt.store.ping)
    st = rt.watch.state()
    if st["reachable"]:
        return ("", True) if hidden is False else (no_update, no_update)
    now_ts = time.time() if now_ts is None else now_ts
    since = datetime.fromtimestamp(st["since"], ZoneInfo(rt.settings.city.timezone)).strftime("%H:%M")
    age = age_text(now_ts - st["last_ok"], lang)
    return [html.Strong(t("store.unreachable", lang).format(since=since)), " · ",
            html.Span(t("store.unreachable.age", lang).format(age=age))], (False if hidden is not False else no_update)


def toggle(n_clicks: int, lang: str | None) -> str:
    return "en" if (lang or "zh") == "zh" else "zh"


def register(app, rt) -> None:
    def page(pathname, lang, banner_hidden, pending):
        return route(pathname, lang, banner_hidden, pending, rt)
    page.on_store_error = lambda *args: route_unavailable(*args, rt)
    app.callback(Output(ids.PAGE, "children"), Output(ids.NAV, "children"), Output(ids.TITLE, "children"),
                 Output(ids.LANG_BUTTON, "children"), Output(ids.PAGE_PENDING, "data"),
                 Input(ids.URL, "pathname"), Input(ids.LANG, "data"), Input(ids.STORE_BANNER, "hidden"),
                 State(ids.PAGE_PENDING, "data"))(page)
    app.callback(Output(ids.STORE_BANNER, "children"), Output(ids.STORE_BANNER, "hidden"),
                 Input(ids.TICK, "n_intervals"), State(ids.LANG, "data"), State(ids.STORE_BANNER, "hidden"))(
        lambda n, lang, hidden: store_banner(n, lang, hidden, rt))
    app.callback(Output(ids.LANG, "data"), Input(ids.LANG_BUTTON, "n_clicks"), State(ids.LANG, "data"),
                 prevent_initial_call=True)(toggle)
    app.clientside_callback(
        "function(n, tz) { return window.cityops.clock(tz); }",
        Output(ids.CLOCK, "children"), Input(ids.TICK, "n_intervals"), State(ids.CITY_TZ, "data"))

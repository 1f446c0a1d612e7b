"""The wall: every few seconds, today's numbers, the map colours, the trend, feed ages."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from dash import ALL, Input, Output, Patch, State, callback_context, dcc, html, no_update
from plotly.utils import PlotlyJSONEncoder

from layouts import ids
from layouts import wall as view
from layouts.components import feed_chips, feed_state, fmt_count, fmt_rate
from layouts.i18n import kind_text, t

STATE_RANK = {"ok": 0, "loading": 1, "failing": 1, "incomplete": 1, "stale": 2, "never": 3, "dead": 3}


def tickets_loading(health: dict[str, dict], now_ts: float) -> bool:
    """Some ticket feed has not finished its first load: the tiles say so, not a partial number."""
    return any(feed_state(h, now_ts) == "loading" for h in health.values() if h.get("kind") == "tickets")


def loading_value(n: int, lang: str) -> list:
    return [html.Span(t("wall.loading", lang), className="tile-loading"),
            html.Span(t("feed.loading", lang).split(" · ", 1)[1].format(n=f"{int(n):,}"), className="tile-loading-n")]


def ticket_feeds_state(health: dict[str, dict], now_ts: float) -> str:
    """The worst state among the ticket feeds: the tiles show it (amber stale, red dead)."""
    states = [feed_state(h, now_ts) for h in health.values() if h.get("kind") == "tickets"]
    return max(states, key=STATE_RANK.get) if states else "never"


def update(n_intervals, lang: str | None, rt, viewer, now: datetime | None = None) -> tuple:
    lang = lang or "zh"
    now = now or datetime.now(timezone.utc)
    q = rt.queries
    health = q.feed_health()
    state = ticket_feeds_state(health, now.timestamp())
    numbers = q.wall_numbers(viewer, now)
    loading = tickets_loading(health, now.timestamp())
    if loading:   # 载入中 · 已接收 N 条 on every tile until the first load is done (not a partial number)
        received = sum(int(h.get("records_total") or 0) for h in health.values() if h.get("kind") == "tickets")
        values = [loading_value(received, lang) for _ in view.TILES]
    else:
        values = [fmt_rate(numbers.get(tl.metric)) if tl.kind == "rate" else fmt_count(numbers.get(tl.metric))
                  for tl in view.TILES]
    classes = [f"tile tile-{tl.tone or 'plain'} data-{'loading' if loading else state}"
               + (" lit" if tl.tone and not loading and (numbers.get(tl.metric) or 0) > 0 else "")
               for tl in view.TILES]
    by_street = q.open_by_area(viewer, now, "street")
    hideout = {"values": {k: v["open"] for k, v in by_street.items()},
               "overdue": {k: v["overdue"] for k, v in by_street.items()},
               "max": max([v["open"] for v in by_street.values()] or [1]), "metric": "open",
               "label": t("kpi.open", lang)}
    trend = q.trend(viewer, now)
    fig = Patch()
    xs = [r["date"] for r in trend]
    fig["data"][0]["x"] = xs
    fig["data"][0]["y"] = [r["received"] for r in trend]
    fig["data"][1]["x"] = xs
    fig["data"][1]["y"] = [r["closed"] for r in trend]
    notice = t("wall.loading_note", lang) if loading else "" if numbers.get("total") else t("wall.no_data", lang)
    return values, classes, feed_chips(health, now.timestamp(), lang), hideout, fig, notice


def register(app, rt) -> None:
    from dashboard.queries.access import current_viewer

    app.callback(
        Output(ids.kpi(ALL), "children"), Output(ids.kpi_tile(ALL), "className"),
        Output(ids.WALL_FEEDS, "children"), Output(ids.WALL_AREAS, "hideout"),
        Output(ids.WALL_TREND, "figure"), Output(ids.WALL_NOTICE, "children"),
        Input(ids.TICK, "n_intervals"), Input(ids.WALL_TREND, "id"), State(ids.LANG, "data"),
    )(lambda n, _id, lang: update(n, lang, rt, current_viewer(rt.settings.access)))
    # the shapes' URL carries the tree's version: a tree loaded (or redrawn) after the page
    # opened is fetched again by the browser
    app.callback(Output(ids.WALL_AREAS, "url"), Input(ids.TICK, "n_intervals"))(lambda n: areas_url(rt))
    app.clientside_callback(_SCALE_JS, Output(ids.WALL_SCALE, "data"), Input(ids.WALL_ROOT, "id"))
    # the chart sized once the screen is known (the map fits its panel in the browser:
    # assets/cityops.js map.watch)
    app.callback(Output(ids.WALL_TREND, "figure", allow_duplicate=True), Input(ids.WALL_SCALE, "data"),
                 prevent_initial_call=True)(scale_view)
    app.callback(Output(ids.WALL_LEGEND, "children"), Input(ids.WALL_AREAS, "hideout"), State(ids.LANG, "data"))(
        map_legend)
    register_alarms(app, rt)


# the screen's size unit, as the CSS computes it (var(--s)): 1 at 1920×1080, 2 at 3840×2160
_SCALE_JS = """
function (id) {
  return Math.max(1, Math.min(window.innerWidth / 1920, window.innerHeight / 1080));
}
"""


def scale_view(scale):
    """The trend figure's Patch for the screen's size unit: the chart's axes, legend and
    margins grow with the screen like everything else."""
    s = float(scale or 1)
    fig = Patch()
    fig["layout"]["font"]["size"] = round(18 * s)
    fig["layout"]["margin"] = {"l": round(60 * s), "r": round(20 * s), "t": round(10 * s), "b": round(40 * s)}
    fig["data"][1]["line"]["width"] = round(4 * s)
    fig["data"][1]["marker"]["size"] = round(7 * s)
    return fig


def map_legend(hideout: dict | None, lang: str | None) -> list:
    """What the wall map's colours mean: open tickets from 0 to the largest street (件), a red
    edge for streets with overdue tickets; in emergency mode the alarm levels (CSS)."""
    from metrics.alarm_rules import LEVELS
    lang = lang or "zh"
    top = int((hideout or {}).get("max") or 0)
    return [html.Span(t("wall.legend.open", lang)), html.Span("0"), html.Span(className="ramp"),
            html.Span(f"{top:,}"), html.Span(className="edge"), html.Span(t("wall.legend.overdue", lang)),
            html.Span(className="levels", children=[html.Span(t("wall.legend.alarms", lang))] + [
                html.Span(t(f"alarms.level.{lv}", lang), className=f"legend-dot lv{lv}") for lv in LEVELS])]


def areas_url(rt) -> str:
    return f"/api/areas.geojson?level=street&v={rt.store.areas_version()}"


# ---- the alarm part: network × level, the flash, emergency mode (平战转换) -------------------
def alarm_part(lang: str | None, rt, viewer, now: datetime | None = None) -> tuple:
    """(the network × level table and, for emergency mode, the serious alarms listed;
    the active level I/II alarms the browser compares with those it has seen, to flash)."""
    from dashboard.queries import alarm_views
    from layouts.alarm_page import page_href
    from metrics.alarm_rules import LEVEL_NAMES, LEVELS

    lang = lang or "zh"
    now = now or datetime.now(timezone.utc)
    if not rt.queries.sensor_feeds_configured():      # not the same as "0 alarms"
        return [html.Div(t("wall.no_sensor_feed", lang), className="no-feed")], []
    sensor_health = [h for h in rt.queries.feed_health().values() if h.get("kind") == "sensors"]
    if sensor_health and all(feed_state(h, now.timestamp()) == "loading" for h in sensor_health):
        n = sum(int(h.get("records_total") or 0) for h in sensor_health)
        return [html.Div(f"{t('wall.sensors_loading', lang)} · "
                         f"{t('feed.loading', lang).split(' · ', 1)[1].format(n=f'{n:,}')}", className="no-feed")], []
    counts = alarm_views.counts(rt, viewer)
    head = html.Tr([html.Th("")] + [html.Th(LEVEL_NAMES[lv]) for lv in LEVELS] + [html.Th(t("alarms.net.all", lang))])
    body = [html.Tr([html.Td(t(f"alarms.net.{net}", lang), className="net")]
                    + [html.Td(str(c), className=f"lv{lv}" if c else "zero") for lv, c in row.items()]
                    + [html.Td(str(sum(row.values())), className="total")]) for net, row in counts.items()]
    rows = alarm_views.active_list(rt, viewer, now)
    serious = [{"alarm_id": r["alarm_id"], "level": r["level"], "network": t(f"alarms.net.{r['network']}", lang),
                "kind": kind_text(r["kind"], lang), "sensor": r["sensor_id"]} for r in rows if r["level"] <= 2]
    listed = html.Ul(className="wall-alarm-list", children=[
        html.Li(className=f"lv{r['level']}" + (" over" if r["overdue"] else ""), children=[
            html.Span(LEVEL_NAMES[r["level"]], className=f"badge lv{r['level']}"),
            dcc.Link(f"{t('alarms.net.' + r['network'], lang)} · {kind_text(r['kind'], lang)} · {r['sensor_id']}",
                     href=page_href(r["alarm_id"]), className="wall-alarm-link"),
            html.Span(t("alarms.clock.done", lang) if r["acknowledged"] else
                      f"{int(r['elapsed_s'] // 60)}′ / {int(r['limit_s'] // 60)}′", className="clock"),
        ]) for r in rows[:12]])
    table = html.Table([html.Thead(head), html.Tbody(body)], className="wall-alarm-table")
    return [table, listed], serious


def fingerprint(parts: tuple) -> str:
    """A short digest of callback outputs (Dash components included), as Dash would send them."""
    text = json.dumps(parts, cls=PlotlyJSONEncoder, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def if_changed(parts: tuple, seen: str | None) -> tuple:
    """`parts` and their fingerprint, or nothing (`no_update` for each) when the browser
    already has them (`seen`: the fingerprint it got last): the alarm list and markers are
    asked every 2 s and change far less often."""
    sig = fingerprint(parts)
    if sig == seen:
        return tuple(no_update for _ in parts) + (no_update,)
    return (*parts, sig)


def alarm_markers(rt, viewer, now: datetime | None = None, lang: str | None = None) -> dict:
    """The active alarms as map points for the wall (shown in emergency mode)."""
    from dashboard.queries import alarm_views
    if not rt.queries.sensor_feeds_configured():
        return {"type": "FeatureCollection", "features": []}
    from callbacks.alarms import labelled
    rows = alarm_views.active_list(rt, viewer, now or datetime.now(timezone.utc))
    return labelled(alarm_views.alarm_features(rows, alarm_views.alarms(rt, viewer)), lang or "zh")


_FLASH_SHOW_JS = """
function (data, lang) {
  if (!data || !data.alarm) { return window.dash_clientside.no_update; }
  var a = data.alarm, roman = {1: "Ⅰ", 2: "Ⅱ"}[a.level] || a.level;
  var word = lang === "en" ? "New alarm" : "新报警";
  setTimeout(function () {
    window.dash_clientside.set_props("%s", {className: "wall-flash"});
  }, 30000);
  return ["wall-flash show",
          {props: {className: "flash-text", children: word + " · " + roman + " · " + a.network + " · " + a.kind + " · " + a.sensor},
           type: "Div", namespace: "dash_html_components"}];
}
""" % ids.WALL_FLASH

_MODE_JS = """
function (mode, n_sound, sound) {
  var tr = window.dash_clientside.callback_context.triggered || [];
  var trig = (tr.length && tr[0] && tr[0].prop_id) || "";
  if (trig.indexOf("%s") === 0) { sound = !sound; }
  return [sound, mode === "emergency" ? "wall emergency" : "wall",
          "wall-switch" + (mode === "emergency" ? " on" : ""), "wall-switch" + (sound ? " on" : "")];
}
""" % ids.WALL_SOUND_BUTTON


def emergency_mode(rt) -> dict:
    """The console's emergency mode (平战转换), shared by every process and every wall."""
    state = rt.store.console_state("emergency")
    return {"on": bool(state.get("on")), "by": state.get("by"), "at": state.get("at")}


def switch_emergency(rt, viewer, on: bool | None = None) -> dict:
    """Turn emergency mode on/off (toggle when `on` is None) for a viewer with
    `switch_emergency_mode`; refused and audited for anyone else. Returns the mode now."""
    from dashboard.queries import audit

    now = emergency_mode(rt)
    if not viewer.switch_emergency_mode:
        audit.record(rt.store, {"what": "refused", "action": "emergency_mode", "who": viewer.user, "role": viewer.role,
                                "via": viewer.via, "reason": "no switch_emergency_mode permission"})
        return dict(now, refused=True)
    target = (not now["on"]) if on is None else bool(on)
    at = datetime.now(timezone.utc).isoformat()
    rt.store.put_console_state("emergency", {"on": target, "by": viewer.user, "at": at})
    audit.record(rt.store, {"what": "emergency_mode", "on": target, "who": viewer.user, "role": viewer.role,
                            "via": viewer.via})
    return {"on": target, "by": viewer.user, "at": at}


def mode_update(trigger, rt, viewer, clicks: int | None = 1) -> str:
    """The wall's mode: the button switches it (when allowed), every tick reads it."""
    state = switch_emergency(rt, viewer) if trigger == ids.WALL_EMERGENCY and clicks else emergency_mode(rt)
    return "emergency" if state["on"] else "normal"


def register_alarms(app, rt) -> None:
    from dashboard.queries.access import current_viewer

    app.callback(Output(ids.WALL_ALARMS, "children"), Output(ids.WALL_SERIOUS, "data"),
                 Output(ids.WALL_ALARMS_SIG, "data"),
                 Input(ids.WALL_ALARM_TICK, "n_intervals"), State(ids.LANG, "data"), State(ids.WALL_ALARMS_SIG, "data"))(
        lambda n, lang, seen: if_changed(alarm_part(lang, rt, current_viewer(rt.settings.access)), seen))
    app.callback(Output(ids.WALL_ALARM_MARKERS, "data"), Output(ids.WALL_MARKERS_SIG, "data"),
                 Input(ids.WALL_ALARM_TICK, "n_intervals"), State(ids.LANG, "data"), State(ids.WALL_MARKERS_SIG, "data"))(
        lambda n, lang, seen: if_changed((alarm_markers(rt, current_viewer(rt.settings.access), lang=lang),), seen))
    app.clientside_callback(
        "function (serious, seen, sound) { return window.cityops.wallAlarms.flash(serious, seen, sound); }",
        Output(ids.WALL_ALARM_SEEN, "data"), Output(ids.WALL_FLASH_DATA, "data"),
        Input(ids.WALL_SERIOUS, "data"), State(ids.WALL_ALARM_SEEN, "data"), State(ids.WALL_SOUND, "data"))
    app.clientside_callback(_FLASH_SHOW_JS, Output(ids.WALL_FLASH, "className"), Output(ids.WALL_FLASH, "children"),
                            Input(ids.WALL_FLASH_DATA, "data"), State(ids.LANG, "data"))
    app.callback(Output(ids.WALL_MODE, "data"), Input(ids.WALL_EMERGENCY, "n_clicks"),
                 Input(ids.WALL_ALARM_TICK, "n_intervals"))(
        lambda n, tick: mode_update(callback_context.triggered_id, rt, current_viewer(rt.settings.access), n))
    app.clientside_callback(_MODE_JS, Output(ids.WALL_SOUND, "data"),
                            Output(ids.WALL_ROOT, "className"), Output(ids.WALL_EMERGENCY, "className"),
                            Output(ids.WALL_SOUND_BUTTON, "className"),
                            Input(ids.WALL_MODE, "data"), Input(ids.WALL_SOUND_BUTTON, "n_clicks"),
                            State(ids.WALL_SOUND, "data"))


def page(lang: str, rt):
    bounds = rt.queries.map_bounds()
    return view.layout(lang, areas_url(rt), bounds,
                       rt.settings.map.tile_url, rt.settings.map.attribution)

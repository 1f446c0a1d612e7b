"""An alarm's own page (`/alarms?alarm=ID`): its whole timeline — raised, each level change,
acknowledgement, resolution, people's actions and notes — its readings, the tickets near
it and the teams, with a link back to the map and an export of the timeline."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from dash import dcc, html

from layouts.i18n import TEXT, kind_text, t
from metrics.alarm_rules import LEVEL_NAMES

EXPORT_URL = "/api/alarms/timeline.csv"


def page_href(alarm_id: str) -> str:
    """The alarm's own page (linked from the wall and the alarm map's detail)."""
    return "/alarms?" + urlencode({"alarm": alarm_id})


def _when(iso: str | None, tz: str) -> str:
    if not iso:
        return "—"
    return datetime.fromisoformat(iso).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def _word(key: str, lang: str, fallback: str) -> str:
    return t(key, lang) if key in TEXT else fallback


def event_text(ev: dict, unit: str, lang: str) -> str:
    """One event in words: "级别变为 Ⅱ级 严重 · 31 %LEL", "解除 · 误报 · 备注: …"."""
    if ev["what"] == "action":
        bits = [_word(f"alarms.done.{ev['action']}", lang, ev["action"] or "")]
    else:
        bits = [t(f"alarms.ev.{ev['what']}", lang)]
    if ev["what"] in ("raised", "level") and ev["level"]:
        bits.append(t(f"alarms.level.{ev['level']}", lang))
    if ev["value"] is not None:
        bits.append(f"{ev['value']:g} {unit}".strip())
    if ev["resolution"]:
        bits.append(_word(f"alarms.res.{ev['resolution']}", lang, ev["resolution"]))
    if ev["note"]:
        bits.append(f"{t('alarms.ev.note', lang)}: {ev['note']}")
    return " · ".join(bits)


def view(tl: dict | None, alarm_id: str, lang: str, tz: str, figure, teams: list, tickets: list) -> list:
    """The page's components; `figure`, `teams`, `tickets` come drawn by the alarm map's helpers."""
    back = dcc.Link(t("alarms.page.back", lang), href="/alarms", className="alarm-back")
    if tl is None:
        return [back, html.H2(t("alarms.page", lang)), html.P(t("alarms.page.unknown", lang), className="muted")]
    a = tl["alarm"]
    lv = int(a["level"])
    unit = a.get("unit") or ""
    rows = [html.Tr([html.Th(t("alarms.col.when", lang)), html.Th(t("alarms.col.event", lang)),
                     html.Th(t("alarms.col.who", lang))])]
    for ev in tl["events"]:
        who = ev["who"] or ("" if ev["what"] == "raised" else t("alarms.ev.system", lang))
        rows.append(html.Tr(className=f"ev-{ev['what']}", children=[
            html.Td(_when(ev["at"], tz), className="num"), html.Td(event_text(ev, unit, lang)), html.Td(who)]))
    none = [html.Li(t("alarms.none", lang), className="muted")]
    export = f"{EXPORT_URL}?{urlencode({'alarm': alarm_id, 'lang': lang})}"
    return [
        html.Div(className="alarm-page-head", children=[
            back,
            html.Span(LEVEL_NAMES[lv], className=f"badge lv{lv}"),
            html.H2(f"{t('alarms.net.' + a['network'], lang)} · {kind_text(a['kind'], lang)} · {a['sensor_id']}"),
            html.A(t("alarms.page.export", lang), href=export, className="btn btn-export", download=""),
        ]),
        html.Div(className="alarm-page-body", children=[
            html.Section(className="panel", children=[
                html.H3(t("alarms.page.timeline", lang)),
                html.Table(rows, className="alarm-timeline")]),
            html.Section(className="panel", children=[
                html.H3(t("alarms.readings", lang)),
                dcc.Graph(figure=figure, config={"displayModeBar": False}, className="alarm-page-graph"),
                html.Div(className="detail-cols", children=[
                    html.Div([html.H3(t("alarms.teams", lang)), html.Ul(teams or none)]),
                    html.Div([html.H3(t("alarms.tickets", lang)), html.Ul(tickets or none)]),
                ])]),
        ]),
    ]

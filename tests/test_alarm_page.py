"""An alarm's own page and timeline, the status filter with resolved alarms, local times on
the readings chart, and every status, resolution and refusal in words (no internal codes)."""

from __future__ import annotations

import csv
import re
import io
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from callbacks import alarms as page
from dashboard.queries import alarm_actions as actions
from dashboard.queries import alarm_timeline as timeline
from dashboard.queries import alarm_views as views
from dashboard.queries.access import Viewer
from test_alarms_engine import RULES, T0, rd, run

ME = Viewer(user="值班员乙", act_on_alarms=True)
CHIEF = Viewer(user="值班长丙", act_on_alarms=True)
CODES = ("false_alarm", "'resolved'", "active alarm", "acknowledged'", "expected")


def text_of(components) -> str:
    items = components if isinstance(components, list) else [components]
    return orjson.dumps([c.to_plotly_json() if hasattr(c, "to_plotly_json") else c for c in items],
                        default=str).decode()


def test_apg001_engine_keeps_each_level_taken():
    (a,) = run([rd(1, 12.0), rd(2, 30.0), rd(5, 55.0)])   # III at 08:01, II at 08:02, I at 08:05
    assert [(s["level"], s["at"], s["value"]) for s in a["levels"]] == [
        (3, "2026-11-20T08:01:00+00:00", 12.0), (2, "2026-11-20T08:02:00+00:00", 30.0),
        (1, "2026-11-20T08:05:00+00:00", 55.0)]


def test_apg002_events_in_time_order_with_who_and_notes():
    (a,) = run([rd(1, 12.0), rd(2, 30.0)])
    acked = actions.alarm_engine.acknowledge(a, "王工", T0 + timedelta(minutes=3))
    done = dict(actions.alarm_engine.resolve(acked, "李工", T0 + timedelta(minutes=9), "false_alarm"), resolved_by="李工")
    audit = [  # newest first, as the audit log gives them
        {"who": "李工", "what": "resolve", "alarm_id": a["alarm_id"], "when": "2026-11-20T08:09:00+00:00",
         "resolution": "false_alarm", "note": "现场检测无泄漏"},
        {"who": "王工", "what": "acknowledge", "alarm_id": a["alarm_id"], "when": "2026-11-20T08:03:00+00:00"}]
    ev = timeline.events_of(done, audit)
    assert [(e["what"], e["at"][11:16], e["level"], e["who"]) for e in ev] == [
        ("raised", "08:01", 3, None), ("level", "08:02", 2, None), ("acknowledged", "08:03", None, "王工"),
        ("resolved", "08:09", None, "李工")]
    assert (ev[-1]["resolution"], ev[-1]["note"]) == ("false_alarm", "现场检测无泄漏")
    # a poll clearing an alarm: nobody did it (the page says 系统)
    cleared = dict(a, status="resolved", resolved_at="2026-11-20T08:20:00+00:00", resolution="cleared")
    assert timeline.events_of(cleared, [])[-1] == {"at": "2026-11-20T08:20:00+00:00", "what": "resolved",
                                                   "resolution": "cleared", "who": None, "note": None,
                                                   "level": None, "value": None, "action": None}


def test_apg003_readings_axis_in_the_city_zone():
    fig = page.readings_figure([{"kind": "gas_concentration", "unit": "%LEL",
                                 "points": [["2026-12-01T20:16:00+00:00", 12.5], ["2026-12-01T20:17:00Z", 13.0]]}],
                               "Asia/Shanghai", "zh")
    assert list(fig.data[0].x) == ["2026-12-02 04:16:00", "2026-12-02 04:17:00"]   # 20:16 UTC = 04:16 local
    assert fig.data[0].name == "可燃气体浓度 (%LEL)"


def test_apg004_resolved_alarms_come_back_by_status_filter_and_own_page(demo_runtime):
    rt, now = demo_runtime, datetime.now(timezone.utc)
    open_rows = views.active_list(rt, ME, now)
    target = [r for r in open_rows if not r["acknowledged"]][-1]["alarm_id"]   # the least serious: leave I/II to others
    actions.acknowledge(rt.store, target, ME, now)
    actions.resolve(rt.store, target, CHIEF, "false_alarm", now + timedelta(seconds=5), note="现场复核无异常")
    later = now + timedelta(seconds=10)
    listed = views.alarm_list(rt, ME, later, ("active", "acknowledged"), "all")
    assert target not in {r["alarm_id"] for r in listed}
    listed = views.alarm_list(rt, ME, later, ("active", "acknowledged", "resolved"), "7d")
    row = next(r for r in listed if r["alarm_id"] == target)
    assert (row["status"], row["resolution"]) == ("resolved", "false_alarm")
    assert all(r["raised_at"] >= (later - timedelta(days=7)).isoformat()[:10] for r in listed)
    grid, markers, _, _ = page.refresh(["gas", "water", "heating"], [1, 2, 3, 4], ["resolved"], "zh", rt, ME, later,
                                       since="7d")
    mine = next(r for r in grid if r["alarm_id"] == target)
    assert mine["clock"] == "已解除 · 误报" and mine["status_text"] == "已解除 · 误报"
    assert all(r["status"] == "resolved" for r in grid)
    assert target in {f["properties"]["id"] for f in markers["features"]}

    main_cls, page_cls, body = page.own_page("?" + f"alarm={target}", "zh", rt, ME, later)
    assert "hidden" in main_cls and "hidden" not in page_cls
    text = text_of(body)
    for words in ("报警", "确认接警", "值班员乙", "解除", "误报", "值班长丙", "现场复核无异常", "导出时间线 CSV"):
        assert words in text, words
    assert "false_alarm" not in text.replace("alarm=", "")   # the code shows only in the link
    main_cls, page_cls, _ = page.own_page("", "zh", rt, ME, later)
    assert "hidden" not in main_cls and "hidden" in page_cls
    _, _, body = page.own_page("?alarm=nope", "zh", rt, ME, later)
    assert "没有这条报警" in text_of(body)

    data, name = page.export_timeline(target, "zh", rt, ME, later)
    assert name.startswith("alarm-") and name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["时间", "事件", "级别", "操作人", "说明"]
    events = [r[1] for r in rows[1:]]
    assert events[0] == "报警" and "确认接警" in events and "解除" in events
    resolved = next(r for r in rows if r[1] == "解除")
    assert resolved[3] == "值班长丙" and "误报" in resolved[4] and "现场复核无异常" in resolved[4]
    assert all("+08:00" in r[0] for r in rows[1:])                   # local times, the city's zone
    # over HTTP, as the page's link fetches it
    client = rt.app.server.test_client() if hasattr(rt, "app") else None
    if client is None:
        from dashboard.app.factory import create_app
        client = create_app(rt).server.test_client()
    resp = client.get(f"/api/alarms/timeline.csv?alarm={target}&lang=en")
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    assert resp.data.decode("utf-8-sig").splitlines()[0] == "When,Event,Level,Who,Detail"
    assert client.get("/api/alarms/timeline.csv?alarm=nope").status_code == 404

    # a refusal in words, not the engine's English
    msg, done, _ = page.act(page.ids.ALARM_ACK, target, 1, "zh", rt, ME, later)
    assert msg == "⚠ 该报警已解除，无需再操作" and done is page.no_update
    msg, _, _ = page.act(page.ids.ALARM_FALSE_CONFIRM, views.active_list(rt, ME, later)[-1]["alarm_id"], 1, "zh", rt,
                         ME, later, note="")
    assert msg == "⚠ 误报必须填写原因"
    assert not any(code in msg for code in CODES)


def test_apg005_no_internal_codes_in_the_chinese_detail(demo_runtime):
    rt, now = demo_runtime, datetime.now(timezone.utc)
    rows = views.alarm_list(rt, ME, now, ("active", "acknowledged", "resolved"), "all")
    for r in rows[:5] + [r for r in rows if r["status"] == "resolved"][:5]:
        text = text_of(page.detail(r["alarm_id"], "zh", rt, ME, now)).replace(r["alarm_id"], "")
        text = re.sub(r"""href=['"][^'"]*['"]""", "", text)   # links carry the alarm's id
        assert "gas_concentration" not in text and "'resolved'" not in text
        assert "′" not in text   # ETAs read 约 N 分钟
        for word in ("· active", "· resolved", "· acknowledged", "false_alarm ", "(fixed)", "(false_alarm)"):
            assert word not in text, (word, r["alarm_id"])


def test_apg006_wall_lists_alarms_as_links_to_their_pages(demo_runtime):
    from callbacks import wall
    from layouts.alarm_page import page_href
    (table, listed), _ = wall.alarm_part("zh", demo_runtime, ME)
    links = [li.children[1] for li in listed.children]
    assert links and all(link.href.startswith("/alarms?alarm=") for link in links)
    first = views.active_list(demo_runtime, ME, datetime.now(timezone.utc))[0]["alarm_id"]
    assert links[0].href == page_href(first) and page.alarm_of(links[0].href.split("?", 1)[1]) == first


def test_apg007_map_tooltips_in_words(demo_runtime):
    now = datetime.now(timezone.utc)
    _, markers, teams, _ = page.refresh(["gas", "water", "heating"], [1, 2, 3, 4], ["active", "acknowledged"], "zh",
                                        demo_runtime, ME, now)
    texts = [f["properties"]["text"] for f in markers["features"] + teams["features"]]
    assert texts and all("gas_concentration" not in x and " free" not in x and "on_site" not in x for x in texts)
    assert any("燃气" in x for x in texts) and any(x.endswith(("空闲", "出动中", "在现场")) for x in texts)

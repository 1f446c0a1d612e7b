"""/overdue: filters in the URL (bookmarks, back button), the export's file name on the
city's clock, and the time past the deadline exported as hours and in words."""

from __future__ import annotations

import base64
import io
from datetime import datetime, timezone

import pandas as pd
import pytest

from callbacks import overdue as cb
from dashboard.queries import overdue_views as ov
from dashboard.queries.access import Viewer
from layouts import ids
from layouts.overdue import late_text


def test_odu001_url_round_trip_and_junk_ignored():
    st = ov.BoardState(("overdue",), ("城管局", "住建局"), ("150302001000",), "井盖")
    search = ov.format_search(st)
    assert search == "?state=overdue&dept=%E5%9F%8E%E7%AE%A1%E5%B1%80&dept=%E4%BD%8F%E5%BB%BA%E5%B1%80" \
                     "&area=150302001000&q=%E4%BA%95%E7%9B%96"
    assert ov.parse_search(search) == st
    assert ov.format_search(ov.BoardState()) == "" and ov.parse_search("") == ov.BoardState()
    # values the board does not offer are dropped; a state list may be comma-separated
    got = ov.parse_search("?state=overdue,bogus&dept=城管局&dept=不存在&area=999&q=x", {"城管局"}, {"150302001000"})
    assert got == ov.BoardState(("overdue",), ("城管局",), (), "x")
    assert ov.parse_search("?state=").states == ()       # both unticked: nothing shown, as the page had it


def test_odu002_one_callback_between_url_and_controls(demo_runtime):
    rt, me = demo_runtime, Viewer()
    depts, areas = ov.filter_options(rt.queries, me)
    code = areas[0][0]
    link = ov.format_search(ov.BoardState(("due_soon",), (depts[0],), (code,), ""))
    # a link (or the back button) sets the controls
    out = cb.sync_url(ids.OD_URL, link, ["overdue", "due_soon"], [], [], "", rt, me)
    assert out == (cb.no_update, ["due_soon"], [depts[0]], [code], "")
    # the first load with a hand-edited URL: unknown department ignored
    out = cb.sync_url(None, "?dept=没有这个部门&q=abc", None, None, None, None, rt, me)
    assert out == (cb.no_update, ["overdue", "due_soon"], [], [], "abc")
    # a control's change writes the URL; the same state writes nothing (no extra history entry)
    out = cb.sync_url(ids.OD_DEPT, "", ["overdue", "due_soon"], [depts[1]], [], "", rt, me)
    assert out[0] == ov.format_search(ov.BoardState(ov.STATES, (depts[1],))) and out[1:] == (cb.no_update,) * 4
    assert cb.sync_url(ids.OD_STATE, out[0], ["overdue", "due_soon"], [depts[1]], [], "", rt, me)[0] is cb.no_update


def test_odu003_late_in_words_as_the_grid_shows_it():
    assert late_text(844.42, "zh") == "35天4小时"        # 844.42 h = 35 d 4.42 h
    assert late_text(5.2, "zh") == "5小时12分"
    assert late_text(-3.34, "zh") == "剩 3小时20分"
    assert late_text(844.42, "en") == "35 d 4 h" and late_text(-0.5, "en") == "0 h 30 min left"


def test_odu004_export_name_on_the_city_clock_and_both_durations(demo_runtime):
    rt = demo_runtime
    now = datetime(2026, 12, 1, 20, 25, tzinfo=timezone.utc)       # 04:25 on 12-02 in 乌海 (+08:00)
    now = min(now, cb.as_of(rt, datetime.now(timezone.utc)).replace(second=0, microsecond=0))
    board = ov.board_frame(rt.queries, Viewer(), now)
    shown = board[board["state"] == "overdue"]["ticket_id"].head(3).tolist()
    assert shown, "the demo has overdue tickets"
    sent = cb.export("csv", [{"ticket_id": i} for i in shown], "zh", rt, Viewer(export=True), now)
    local = now.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert sent["filename"] == f"overdue-{local:%Y%m%d-%H%M}.csv"
    df = pd.read_csv(io.StringIO(base64.b64decode(sent["content"]).decode("utf-8-sig")), dtype=str)
    assert "超期(小时)" in df.columns and "超期时长" in df.columns
    for hours, words in zip(df["超期(小时)"], df["超期时长"]):
        assert words == late_text(float(hours), "zh") and ("天" in words or "小时" in words)
    cols = list(df.columns)
    assert cols.index("超期时长") == cols.index("超期(小时)") + 1


def test_odu005_file_name_uses_the_city_zone_not_utc(demo_runtime):
    """At 04:25 local on 12-02 (20:25 UTC on 12-01) the file is named 20261202-0425."""
    from dataclasses import replace
    from types import SimpleNamespace
    rt = demo_runtime
    at = pd.Timestamp("2026-12-01T20:25:00Z").to_pydatetime()
    fake_rt = SimpleNamespace(queries=rt.queries, store=rt.store, settings=rt.settings, poller=None,
                              simulator=getattr(rt, "simulator", None))
    try:
        sent = cb.export("csv", [], "zh", fake_rt, Viewer(export=True), at)
    except ValueError:
        pytest.skip("the demo's clock is before 2026-12-01T20:25Z")
    assert sent["filename"] == "overdue-20261202-0425.csv"


def test_odu006_grids_speak_the_page_language(demo_runtime):
    """AG Grid's own words (its localeText): 没有符合条件的记录, not "No Matching Rows", in zh."""
    from layouts import alarms, health, industry, overdue, tickets
    from layouts.components import grid_options
    assert grid_options("zh")["localeText"]["noMatchingRows"] == "没有符合条件的记录"
    assert grid_options("zh")["localeText"]["noRowsToShow"] == "暂无数据"
    assert grid_options("en")["localeText"] == {}
    grids = []

    def walk(c):
        if getattr(c, "_type", "") == "AgGrid":
            grids.append(c)
        kids = getattr(c, "children", None)
        for k in kids if isinstance(kids, list) else [kids] if kids is not None else []:
            walk(k)
    walk(overdue.layout("zh", ("ticket_id",), [], []))
    walk(tickets.layout("zh", [[39, 106], [40, 107]]))
    walk(alarms.layout("zh", [[39, 106], [40, 107]]))
    walk(health.layout("zh", ["x"]))
    assert len(grids) >= 5
    for g in grids:
        assert g.dashGridOptions["localeText"]["noRowsToShow"] == "暂无数据", g.id

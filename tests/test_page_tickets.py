"""/tickets: view functions and callbacks called as plain functions on the demo runtime."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest

from callbacks import tickets as cb
from callbacks import tickets_members as mcb
from dashboard.queries import ticket_views as tv
from dashboard.queries.access import Viewer
from layouts import ids
from metrics import tickets as tk

@pytest.fixture(scope="module")
def now(demo_runtime):
    return cb.as_of(demo_runtime, datetime.now(timezone.utc))


@pytest.fixture(scope="module")
def window(demo_runtime, now):
    return tv.resolve_window(tv.DrillState(win="last_30_days"), now, demo_runtime.settings.city.timezone)


def test_tkp001_url_round_trip():
    s = tv.DrillState(node="150302001000", win="custom", start=date(2026, 11, 1), end=date(2026, 11, 15),
                      metric="score")
    search = tv.format_search(s)
    assert search == "?node=150302001000&win=custom&from=2026-11-01&to=2026-11-15&metric=score"
    assert tv.parse_state(search) == s
    assert tv.parse_state("?win=today&metric=return_rate") == tv.DrillState(None, "today", None, None, "return_rate")
    # junk falls back to the defaults; dates swap into order; a custom window without dates is the default
    assert tv.parse_state("?win=yesterday&metric=nope&node=") == tv.DrillState()
    assert tv.parse_state("?win=custom&from=2026-11-15&to=2026-11-01").start == date(2026, 11, 1)
    assert tv.parse_state("?win=custom").win == tv.DEFAULT_WINDOW


def test_tkp002_unknown_node_is_the_city(demo_runtime):
    tree = demo_runtime.queries.tree()
    assert tv.parse_state("?node=999", tree).node is None
    assert tv.parse_state(f"?node={tree.root.code}", tree).node is None
    street = tree.codes_at("street")[0]
    assert tv.parse_state(f"?node={street}", tree).node == street


def test_tkp003_custom_window_is_cut_in_local_time():
    s = tv.parse_state("?win=custom&from=2026-11-02&to=2026-11-03")
    now = pd.Timestamp("2026-11-20T00:00:00Z")
    start, end = tv.resolve_window(s, now, "Asia/Shanghai")
    assert start == pd.Timestamp("2026-11-01T16:00:00Z") and end == pd.Timestamp("2026-11-03T16:00:00Z")
    # a window reaching past now ends at now
    start, end = tv.resolve_window(tv.parse_state("?win=custom&from=2026-11-19&to=2026-11-25"), now, "Asia/Shanghai")
    assert end == now


def test_tkp004_city_rows_add_up_to_the_whole_frame(demo_runtime, now, window):
    q, v = demo_runtime.queries, Viewer()
    start, end = window
    drill = tv.drill_table(q, v, None, now, start, end)
    whole = tk.kpis(q.tickets(v), now, start, end, q.settings.tickets)
    tree = q.tree()
    kids = [c.code for c in tree.children(tree.root.code)]
    assert [r["code"] for r in drill["rows"] if r["key"] != tv.UNPLACED] == kids
    for count in tk.COUNT_IDS:
        assert sum(r[count] for r in drill["rows"]) == whole[count] == drill["total"][count], count
    for rate in tk.RATE_IDS:
        assert drill["total"][rate] == whole[rate]
    assert whole["received"] > 0


def test_tkp005_unplaced_row_only_at_the_city(demo_runtime, now, window):
    q, v = demo_runtime.queries, Viewer()
    df = q.tickets(v)
    n_unplaced = int((df["grid"].isna() & tk.members(df, "received", "numerator", now, *window).to_numpy()).sum())
    rows = tv.drill_table(q, v, None, now, *window)["rows"]
    unplaced = [r for r in rows if r["key"] == tv.UNPLACED]
    if n_unplaced:
        assert unplaced and unplaced[0]["received"] == n_unplaced
    district = q.tree().children(q.tree().root.code)[0].code
    assert all(r["key"] != tv.UNPLACED for r in tv.drill_table(q, v, district, now, *window)["rows"])


def test_tkp006_members_give_exactly_the_numerator_and_denominator(demo_runtime, now, window):
    q, v = demo_runtime.queries, Viewer()
    tree = q.tree()
    street = tree.codes_at("street")[0]
    district = tree.parent(street).code
    row = next(r for r in tv.drill_table(q, v, district, now, *window)["rows"] if r["code"] == street)
    for metric in ("on_time_rate", "response_rate", "return_rate", "overdue"):
        mq = tv.MemberQuery(district, street, metric, "numerator")
        df, num, den = tv.member_frame(q, v, mq, now, *window)
        if metric in tk.RATES:
            assert (num, den) == (row[f"{metric}_num"], row[f"{metric}_den"])
        else:
            assert num == den == row[metric]
        assert len(df) == num
        _, _, den2 = tv.member_frame(q, v, tv.MemberQuery(district, street, metric, "denominator"), now, *window)
        assert den2 == den


def test_tkp007_members_are_masked_for_the_default_role(demo_runtime, now, window):
    mq = tv.MemberQuery(None, tv.TOTAL, "received")
    df, num, _ = tv.member_frame(demo_runtime.queries, Viewer(), mq, now, *window)
    phones = df["caller_phone"].dropna()
    assert len(phones) and phones.str.contains(r"\*\*\*\*").all()
    rows = tv.ticket_rows(df, demo_runtime.queries.tree(), "Asia/Shanghai", 50)
    assert len(rows) == min(50, num) and set(rows[0]) == set(tv.ROW_FIELDS)
    assert all("****" in r["caller_phone"] for r in rows if r["caller_phone"])


def test_tkp008_navigate_drills_and_follows_the_url(demo_runtime, now):
    rt = demo_runtime
    tree = rt.queries.tree()
    district = tree.children(tree.root.code)[0].code
    search = "?win=today&metric=score"
    out = cb.navigate(ids.TK_TABLE, search, "today", None, None, "score", None,
                      {"colId": "name", "rowId": district}, rt, now)
    assert out[0] == f"?node={district}&win=today&metric=score"
    # a click on a number does not navigate; a click on the unplaced row neither
    assert cb.navigate(ids.TK_TABLE, search, "today", None, None, "score", None,
                       {"colId": "received", "rowId": district}, rt, now)[0] is cb.no_update
    assert cb.navigate(ids.TK_TABLE, search, "today", None, None, "score", None,
                       {"colId": "name", "rowId": tv.UNPLACED}, rt, now)[0] is cb.no_update
    # the map: a shape's feature
    out = cb.navigate(ids.TK_AREAS, search, "today", None, None, "score", {"properties": {"code": district}},
                      None, rt, now)
    assert "node=" + district in out[0]
    # the URL changed from outside (back button): controls follow it, the URL is left alone
    out = cb.navigate(ids.TK_URL, "?win=custom&from=2026-11-02&to=2026-11-05&metric=overdue", None, None, None,
                      None, None, None, rt, now)
    assert out == (cb.no_update, "custom", "2026-11-02", "2026-11-05", "overdue")
    out = cb.navigate(ids.TK_METRIC, search, "today", None, None, "return_rate", None, None, rt, now)
    assert out[0] == "?win=today&metric=return_rate"


def test_tkp009_render_fills_everything_and_a_tick_keeps_the_map(demo_runtime, now):
    rt = demo_runtime
    tree = rt.queries.tree()
    district = tree.children(tree.root.code)[0].code
    search = f"?node={district}&win=last_30_days&metric=on_time_rate"
    out = cb.render(search, None, "zh", rt, Viewer(), now)
    crumbs, url, viewport, hideout, rows, pinned, trend, cats, depts, info, notice, formula, legend, asof = out
    assert url == f"/api/areas.geojson?parent={district}"
    assert viewport["bounds"] and len(rows) == len(tree.children(district))
    assert set(hideout["values"]) == {c.code for c in tree.children(district)}
    assert formula == tk.RATE_FORMULAS["on_time_rate"]["zh"]
    assert asof["node"] == district and asof["now"] == now.isoformat()
    assert depts and depts[0]["rank"] == 1
    scores = [d["score"] for d in depts if d["ranked"]]   # ranked ones by score; "样本不足" after
    assert scores == sorted(scores, reverse=True)
    tick = cb.render(search, asof, "zh", rt, Viewer(), now)   # a refresh of what is drawn
    assert tick[1] is cb.no_update and tick[2] is cb.no_update and tick[0] is cb.no_update
    assert tick[3] == hideout
    other = cb.render(search.replace("on_time_rate", "score"), asof, "zh", rt, Viewer(), now)
    assert other[1] == url and other[0] is not cb.no_update   # a new URL redraws


def test_tkp010_a_grid_lists_itself_among_its_siblings(demo_runtime, now):
    tree = demo_runtime.queries.tree()
    grid = tree.codes_at(tree.leaf_level)[0]
    out = cb.render(f"?node={grid}", None, "en", demo_runtime, Viewer(), now)
    assert out[1] == f"/api/areas.geojson?parent={tree.parent(grid).code}"
    assert [r["code"] for r in out[4]] == [grid] and out[3]["selected"] == grid


def test_tkp011_a_click_on_a_number_opens_its_tickets(demo_runtime, now, window):
    rt = demo_runtime
    asof = {"now": now.isoformat(), "start": window[0].isoformat(), "end": window[1].isoformat(),
            "node": rt.queries.tree().root.code}
    mq = mcb.query_from_click(ids.TK_TABLE, {"colId": "closure_rate", "rowId": tv.TOTAL}, None, None, None, asof)
    assert mq == tv.MemberQuery(asof["node"], tv.TOTAL, "closure_rate")
    title, options, rows, note = mcb.show(mq, asof, "zh", rt, Viewer())
    total = tv.drill_table(rt.queries, Viewer(), None, now, *window)["total"]
    assert options[0]["label"].endswith(f"{total['closure_rate_num']:,}")
    assert options[1]["label"].endswith(f"{total['closure_rate_den']:,}")
    assert len(rows) == min(total["closure_rate_num"], tv.MEMBER_LIMIT)
    assert "结案率" in note
    # a department's number, a day of the trend, a category bar
    dept = mcb.query_from_click(ids.TK_DEPARTMENTS, None, {"colId": "received", "rowId": "城管局"}, None, None, asof)
    assert dept.department == "城管局"
    day = mcb.query_from_click(ids.TK_TREND, None, None, {"points": [{"x": "2026-11-20", "curveNumber": 1}]},
                               None, asof)
    assert (day.metric, day.day) == ("closed", "2026-11-20")
    assert mcb.query_from_click(ids.TK_TABLE, {"colId": "name", "rowId": "x"}, None, None, None, asof) is None


def test_tkp012_a_category_bar_lists_its_received_tickets(demo_runtime, now, window):
    q, v = demo_runtime.queries, Viewer()
    top = tv.top_categories(q, v, None, now, *window)
    assert top and top[0]["received"] >= top[-1]["received"]
    mq = tv.MemberQuery(None, tv.TOTAL, "received", category=top[0]["category"])
    df, num, den = tv.member_frame(q, v, mq, now, *window)
    assert num == den == top[0]["received"] == len(df)

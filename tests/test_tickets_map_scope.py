"""/tickets for leaders: the map's colours on a fixed scale per metric with a legend in units,
and a leader scoped to one district lands there without the other districts as zeros."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from callbacks import tickets as cb
from dashboard.queries import ticket_views as tv
from dashboard.queries.access import Viewer
from metrics import ticket_scale as sc
from metrics.ticket_rules import TicketRules
from test_health_page import _texts

RED, ORANGE, YELLOW, GREEN = sc.BAND_COLOURS


def test_tms001_rates_on_fixed_bands_equal_values_are_not_the_worst():
    s = sc.scale_for("on_time_rate", [1.0, 1.0, 1.0])
    assert [sc.colour_of(v, s) for v in (1.0, 0.95, 0.9499, 0.90, 0.85, 0.80, 0.5, 0.0)] == \
        [GREEN, GREEN, YELLOW, YELLOW, ORANGE, ORANGE, RED, RED]
    assert sc.colour_of(None, s) is None and sc.colour_of(float("nan"), s) is None
    # lower is better: a return rate of 1 % is green, 12 % red
    low = sc.scale_for("return_rate", [0.01])
    assert [sc.colour_of(v, low) for v in (0.01, 0.02, 0.06, 0.12)] == [GREEN, YELLOW, ORANGE, RED]
    # the score on 0–100, cut at the same settings ×100; the cuts are a setting
    assert sc.colour_of(96.0, sc.scale_for("score", [])) == GREEN
    rules = TicketRules(map_rate_bands=[0.5, 0.6, 0.7])
    assert sc.colour_of(0.65, sc.scale_for("on_time_rate", [], rules)) == YELLOW
    with pytest.raises(ValueError, match="map_rate_bands"):
        TicketRules(map_rate_bands=[0.9, 0.8, 0.95])


def test_tms002_counts_ramp_from_zero_and_legend_with_units():
    s = sc.scale_for("open", [40, 40, 40])         # equal counts: all the top of the ramp, not the bottom
    assert (s["min"], s["max"]) == (0.0, 40.0) and sc.colour_of(40, s) == sc.RAMP_COLOURS[-1]
    assert sc.colour_of(0, s) == sc.RAMP_COLOURS[0]
    assert sc.legend_items(sc.scale_for("on_time_rate", [])) == [
        (RED, "< 80%"), (ORANGE, "80% – 90%"), (YELLOW, "90% – 95%"), (GREEN, "≥ 95%")]
    assert sc.legend_items(sc.scale_for("return_rate", []))[0] == (GREEN, "< 2%")
    h = cb._hideout([{"code": "A", "on_time_rate": 1.0}, {"code": "B", "on_time_rate": 1.0}], "on_time_rate",
                    None, "zh")
    assert h["colours"] == {"A": GREEN, "B": GREEN}
    legend = _texts(cb._legend(h, "on_time_rate", "zh"))
    assert "按期结案率 (%)" in legend and "≥ 95%" in legend and "< 80%" in legend
    counts = cb._hideout([{"code": "A", "open": 12}], "open", None, "zh")
    assert "在办 (件)" in _texts(cb._legend(counts, "open", "zh"))
    assert "(小时)" in _texts(cb._legend(cb._hideout([], "mean_handling_hours", None, "zh"),
                                       "mean_handling_hours", "zh"))


def test_tms003_scoped_leader_lands_on_their_district(demo_runtime):
    rt = demo_runtime
    tree = rt.queries.tree()
    districts = tree.children(tree.root.code)
    mine = districts[1]
    leader = Viewer(user="区领导", role="leader", areas=(mine.code,))
    now = cb.as_of(rt, datetime.now(timezone.utc))
    out = cb.render("?win=last_30_days&metric=on_time_rate", None, "zh", rt, leader, now)
    crumbs, url, viewport, hideout, rows, *_rest, asof = out
    assert asof["node"] == mine.code and url == f"/api/areas.geojson?parent={mine.code}"
    assert {r["code"] for r in rows if r["code"]} == {c.code for c in tree.children(mine.code)}
    # a link to the city (or another district) still shows their district, never the others as zeros
    for node in (tree.root.code, districts[0].code):
        out = cb.render(f"?node={node}&win=last_30_days", None, "zh", rt, leader, now)
        assert out[-1]["node"] == mine.code
    # a street leader: lands on the street; the city-wide viewer still lands on the city
    street = tree.children(mine.code)[0]
    assert tv.home_node(rt.queries, Viewer(areas=(street.code,))) == street.code
    assert tv.home_node(rt.queries, Viewer(areas=tuple(c.code for c in tree.children(mine.code)))) == mine.code
    assert cb.render("?win=today", None, "zh", rt, Viewer(), now)[-1]["node"] == tree.root.code


def test_tms004_two_districts_list_only_theirs(demo_runtime):
    rt = demo_runtime
    tree = rt.queries.tree()
    districts = tree.children(tree.root.code)
    if len(districts) < 3:
        pytest.skip("needs three districts")
    two = Viewer(areas=(districts[0].code, districts[2].code))
    now = cb.as_of(rt, datetime.now(timezone.utc))
    start, end = tv.resolve_window(tv.DrillState(win="last_30_days"), now, rt.settings.city.timezone)
    rows = tv.drill_table(rt.queries, two, None, now, start, end)["rows"]
    assert {r["code"] for r in rows if r["code"]} == {districts[0].code, districts[2].code}
    out = cb.render("?win=last_30_days", None, "zh", rt, two, now)
    assert out[-1]["node"] == tree.root.code and out[3]["scoped"] is True
    assert districts[1].code not in out[3]["values"]


def test_tms005_daily_chart_one_tick_a_day_for_short_windows():
    from layouts.tickets import trend_figure
    fig = trend_figure([{"date": "2026-11-30", "received": 10, "closed": 8},
                        {"date": "2026-12-01", "received": 12, "closed": 9},
                        {"date": "2026-12-02", "received": 3, "closed": 1}], "zh")
    x = fig.layout.xaxis
    assert x.dtick == 86_400_000 and x.tickformat == "%m-%d" and x.tick0 == "2026-11-30"
    assert x.range == ("2026-11-29T12:00:00", "2026-12-02T12:00:00")    # each day once, half a day each side
    assert fig.data[0].width == 0.8 * 86_400_000                       # a bar is a day wide, not the window
    one = trend_figure([{"date": "2026-12-02", "received": 3, "closed": 1}], "zh").layout.xaxis
    assert one.range == ("2026-12-01T12:00:00", "2026-12-02T12:00:00")
    long = trend_figure([{"date": str(d.date()), "received": 1, "closed": 1}
                         for d in __import__("pandas").date_range("2026-09-01", periods=90)], "zh").layout.xaxis
    assert long.dtick == 8 * 86_400_000                                # about 12 labels, never crowded


def test_tms006_drill_columns_core_first_rest_on_demand():
    from layouts.tickets import CORE_METRICS, drill_columns
    from metrics.tickets import METRIC_IDS
    name, group = drill_columns("zh")
    shown = [c["field"] for c in group["children"] if "columnGroupShow" not in c]
    more = [c["field"] for c in group["children"] if c.get("columnGroupShow") == "open"]
    assert tuple(shown) == CORE_METRICS and "satisfaction_rate" in shown
    assert set(shown) | set(more) == set(METRIC_IDS) and name["width"] + 96 * len(shown) <= 1200

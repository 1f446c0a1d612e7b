"""/alarms views, actions and callbacks as plain functions, on real Redis (embedded)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import orjson
import pytest

from callbacks import alarms as page
from callbacks import wall
from dashboard.queries import alarm_actions as actions
from dashboard.queries import alarm_views as views
from dashboard.queries.access import Viewer
from dashboard.queries import Queries
from dashboard.config.settings import load_settings
from layouts import ids

ME = Viewer(user="值班员甲", act_on_alarms=True)


def unacked(rt, now):
    rows = [r for r in views.active_list(rt, ME, now) if not r["acknowledged"]]
    assert rows, "the demo history leaves unacknowledged alarms"
    return rows


def test_pal001_active_list_by_level_then_age_with_clocks(demo_runtime):
    now = demo_runtime.polled_at
    rows = views.active_list(demo_runtime, ME, now)
    assert rows
    keys = [(r["level"], r["raised_at"]) for r in rows]
    assert keys == sorted(keys)
    limits = {1: 300, 2: 600, 3: 1800, 4: 3600}
    for r in rows:
        assert r["limit_s"] == limits[r["level"]]
        assert r["overdue"] == (not r["acknowledged"] and r["elapsed_s"] > r["limit_s"])
    # the level II alarm the history raised two minutes before start: its clock is running
    assert any(r["level"] == 2 and not r["acknowledged"] and r["elapsed_s"] < 600 for r in rows)


def test_pal002_kpis_are_not_empty_on_first_start(demo_runtime):
    k = views.kpis(demo_runtime, ME, demo_runtime.polled_at)
    assert set(k) == {"gas", "water", "heating", "all"}
    assert k["all"]["acknowledged"] > 50 and k["all"]["mtta_mean_s"] > 0 and k["all"]["mttr_mean_s"] > 0
    assert 0 < k["all"]["false_alarm_rate"] < 0.5
    assert k["gas"]["online_rate"] > 0.95 and k["all"]["sensors"] == 3000
    assert k["all"]["active"] == sum(k[n]["active"] for n in ("gas", "water", "heating"))


def test_pal003_acknowledge_then_resolve_is_stored_and_audited(demo_runtime):
    rt, now = demo_runtime, datetime.now(timezone.utc)
    target = unacked(rt, now)[0]["alarm_id"]
    rec = actions.acknowledge(rt.store, target, ME, now)
    assert (rec["status"], rec["acknowledged_by"]) == ("acknowledged", "值班员甲")
    (stored,) = rt.store.dataset("alarms").get([target])
    assert stored["acknowledged_at"] == now.isoformat() and stored["updated_at"] > "2026"
    with pytest.raises(actions.ActionError, match="active alarm"):
        actions.acknowledge(rt.store, target, ME, now)
    row = next(r for r in views.active_list(rt, ME, now) if r["alarm_id"] == target)
    assert row["acknowledged"] and not row["overdue"]

    actions.resolve(rt.store, target, ME, "false_alarm", now + timedelta(minutes=3), note="阀门井积水误报")
    assert target not in {r["alarm_id"] for r in views.active_list(rt, ME, now)}
    trail = actions.history(rt.store, target)
    assert [(e["what"], e["who"]) for e in trail] == [("resolve", "值班员甲"), ("acknowledge", "值班员甲")]
    assert trail[0]["resolution"] == "false_alarm"
    with pytest.raises(actions.ActionError, match="not resolved"):
        actions.resolve(rt.store, target, ME, "fixed")
    with pytest.raises(actions.ActionError, match="no alarm"):
        actions.acknowledge(rt.store, "nope", ME)


def test_pal004_callbacks_filter_select_and_act(demo_runtime):
    rt, now = demo_runtime, datetime.now(timezone.utc)
    every = views.active_list(rt, ME, now)
    rows, markers, teams, kpis = page.refresh(["gas", "water", "heating"], [1, 2], ["active", "acknowledged"],
                                              "zh", rt, ME, now)
    assert len(rows) == sum(r["level"] <= 2 for r in every)
    assert len(markers["features"]) == len(every)        # the map filters in the browser
    assert len(teams["features"]) == 6
    assert rows[0]["clock"].count(":") == 1 or rows[0]["clock"] == "已确认"
    target = unacked(rt, now)[0]["alarm_id"]
    detail = page.detail(target, "zh", rt, ME, now)
    text = orjson.dumps([c.to_plotly_json() for c in detail], default=str).decode()
    assert target.split("/")[0] in text and "最近的空闲抢修队" in text
    for a in every:   # nearby tickets are real tickets within 500 m or in the alarm's grid
        d = views.detail(rt, ME, a["alarm_id"], now)
        assert all(isinstance(x["ticket_id"], str) and x["created_at"] != "NaT" for x in d["tickets"])
        assert all(x["distance_m"] <= 500 or d["alarm"]["grid_code"] for x in d["tickets"])
    msg, done, _ = page.act(ids.ALARM_ACK, target, 3, "zh", rt, Viewer(user="tester", act_on_alarms=True), now)
    assert done == 4 and "已确认" in msg and "tester" in msg
    msg, done, _ = page.act(ids.ALARM_ACK, target, 4, "zh", rt, Viewer(user="tester", act_on_alarms=True), now)
    assert msg.startswith("⚠") and done is page.no_update


def test_pal005_nearest_free_teams_by_distance_hand_checked(embedded_store):
    settings = load_settings(None, env={})
    rt = SimpleNamespace(store=embedded_store, settings=settings, queries=Queries(embedded_store, settings))
    base = {"updated_at": "2026-11-20T08:00:00Z", "job": None, "seen_at": None}
    embedded_store.dataset("responders").upsert([
        dict(base, team_id="W1", name="w1", network="water", status="free", lon=106.8, lat=39.61),   # 1.11 km
        dict(base, team_id="G1", name="g1", network="gas", status="free", lon=106.8, lat=39.62),     # 2.22 km
        dict(base, team_id="G2", name="g2", network="gas", status="on_site", lon=106.8, lat=39.600),
        dict(base, team_id="G3", name="g3", network="gas", status="free", lon=106.8, lat=39.65)])    # 5.56 km
    alarm = SimpleNamespace(lon=106.8, lat=39.6, network="gas")
    got = views.nearest_teams(rt, alarm)
    # the gas alarm's own network's free teams only (the nearer water team is not listed)
    assert [(t["team_id"], t["distance_m"], t["same"]) for t in got] == [("G1", 2223, True), ("G3", 5559, True)]
    assert [t["eta_min"] for t in got] == [4, 11]   # 2.223 km at 30 km/h = 4.4 min; 5.559 km = 11.1 min
    # no free team of its network: the nearest other teams, flagged as another network's
    got = views.nearest_teams(rt, SimpleNamespace(lon=106.8, lat=39.6, network="heating"))
    assert [(t["team_id"], t["same"]) for t in got] == [("W1", False), ("G1", False)]
    text = orjson.dumps([c.to_plotly_json() for c in page.team_items(got, "zh")], default=str).decode()
    assert "约 2 分钟" in text and "′" not in text and "供水" in text


def test_pal006_sensor_geojson_and_wall_alarm_part(demo_runtime):
    gj = orjson.loads(views.sensors_geojson(demo_runtime, "gas"))
    n_gas = int((views.sensors(demo_runtime)["network"] == "gas").sum())
    assert len(gj["features"]) == n_gas > 1000
    assert set(gj["features"][0]["properties"]) == {"id", "n", "k"}
    children, serious = wall.alarm_part("zh", demo_runtime, ME)
    counts = views.counts(demo_runtime, ME)
    assert sum(r["level"] <= 2 for r in views.active_list(demo_runtime, ME, datetime.now(timezone.utc))) == len(serious)
    assert sum(counts[n][lv] for n in counts for lv in (1, 2)) == len(serious)


def test_pal007_wall_alarm_list_and_markers_sent_only_when_changed(demo_runtime):
    """The wall asks for its alarm list and markers every 2 s: the same content is not sent
    again (no_update), a change is (here the running clocks, a minute later; the language)."""
    from dash import no_update

    now = demo_runtime.polled_at
    first = wall.if_changed(wall.alarm_part("zh", demo_runtime, ME, now), None)
    (children, serious), sig = first[:2], first[2]
    assert children and isinstance(sig, str)
    again = wall.if_changed(wall.alarm_part("zh", demo_runtime, ME, now), sig)
    assert again == (no_update, no_update, no_update)
    if any(not r["acknowledged"] for r in views.active_list(demo_runtime, ME, now)[:12]):
        later = wall.if_changed(wall.alarm_part("zh", demo_runtime, ME, now + timedelta(minutes=1)), sig)
        assert later[0] is not no_update and later[2] != sig      # a listed clock moved: sent
    english = wall.if_changed(wall.alarm_part("en", demo_runtime, ME, now), sig)
    assert english[0] is not no_update and english[2] != sig
    markers = wall.if_changed((wall.alarm_markers(demo_runtime, ME, now),), None)
    assert markers[0]["features"]
    assert wall.if_changed((wall.alarm_markers(demo_runtime, ME, now),), markers[1]) == (no_update, no_update)

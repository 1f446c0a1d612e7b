"""The simulator's ticket model: deadlines, places, links and calibration figures."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import shapely
from shapely.geometry import box, mapping

from feeds.demo.tickets import SimulatedCity, accelerated_clock, demo_grids, grids_from_area_files
from feeds.demo.tickets.records import Columns
from feeds.demo.tickets.workdays import workday_deadline

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 21, 15, 30, tzinfo=TZ)


def midnight(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=TZ).timestamp())


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Canonical records of 21 days of the demo grids, as of NOW, with internal deadlines."""
    city = SimulatedCity(demo_grids(), seed=3, clock=lambda: NOW, history_days=21)
    table, v = city.view()
    df = pd.DataFrame(Columns(city.ctx, table, v.rows, v.slot, v.updated, v.now).canonical())
    df["deadline"] = pd.to_datetime(table["deadline"][v.rows], unit="s", utc=True)
    for c in ("created_at", "closed_at", "first_response_at"):
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601")
    return df


def test_sim101_working_day_deadlines():
    # METRICS.md: created Friday 2026-11-20, 1 working day → Tuesday 2026-11-24 00:00 local
    assert workday_deadline(date(2026, 11, 20), 1) == midnight(2026, 11, 24)
    # National Day 2026: 1–7 October off, Saturday 10 October a make-up working day
    assert workday_deadline(date(2026, 9, 30), 5) == midnight(2026, 10, 14)
    # 2027 is unknown to chinesecalendar 1.11: Monday–Friday, never an exception
    assert workday_deadline(date(2027, 1, 1), 5) == midnight(2027, 1, 9)


def test_sim102_places_inside_grids(frame):
    grids = {g.code: g.polygon for g in demo_grids()}
    placed = frame[frame.grid_code.isin(grids)]
    for code, pts in placed.groupby("grid_code"):
        assert shapely.contains_xy(grids[code].buffer(1e-6), pts.lon.to_numpy(), pts.lat.to_numpy()).all()
    no_code = frame.grid_code.isna()
    assert 0.01 < no_code.mean() < 0.03 and frame[no_code].lat.notna().all()
    unknown = frame.grid_code.notna() & ~frame.grid_code.isin(grids)
    assert 0.001 < unknown.mean() < 0.006 and frame[unknown].lat.isna().all()


def test_sim103_repeats_copy_an_earlier_complaint(frame):
    rep = frame[frame.repeat_of.notna()]
    assert 0.05 < len(rep) / len(frame) < 0.09
    by_id = frame.set_index("ticket_id")
    known = rep[rep.repeat_of.isin(by_id.index)]
    assert len(known) > 0.6 * len(rep)  # the rest point before the 21 days served
    orig = by_id.loc[known.repeat_of]
    assert (orig.created_at.to_numpy() < known.created_at.to_numpy()).all()
    assert (orig.category.values == known.category.values).all()
    assert (orig.caller_phone.values == known.caller_phone.values).all()


def test_sim104_calibration(frame):
    days = frame.created_at.dt.tz_convert(TZ).dt.date
    per_day = days[days < NOW.date()].value_counts()
    assert 1450 < per_day.mean() < 1850
    src = frame.source.value_counts(normalize=True)
    assert abs(src["hotline"] - 0.70) < 0.02 and abs(src["app"] - 0.15) < 0.02
    urg = frame.urgency.value_counts(normalize=True)
    assert 0.02 < urg["urgent"] < 0.045 and 0.09 < urg["complex"] < 0.15
    rated = frame[frame.rating.notna()].rating.value_counts()
    sat = (rated["satisfied"] + 0.9 * rated["basic"]) / rated.sum()
    assert 0.955 < sat < 0.985
    closed = frame[frame.status == "closed"]
    assert 0.035 < (closed.return_count > 0).mean() < 0.07
    due = frame[(frame.deadline <= pd.Timestamp(NOW)) & (frame.status != "cancelled")]
    late = due.closed_at.isna() | (due.closed_at > due.deadline)
    assert 0.01 < late.mean() < 0.04
    assert set(frame.status) <= {"reported", "registered", "dispatched", "handling",
                                 "verifying", "closed", "cancelled"}
    assert frame.caller_phone.map(lambda p: bool(re.fullmatch(r"1[3-9]\d{9}", p))).all()


def test_sim105_accelerated_clock():
    real = iter([NOW, NOW + timedelta(seconds=10)])
    clock = accelerated_clock(NOW, 60, real=lambda: next(real))
    assert clock() == NOW + timedelta(minutes=10)


def test_sim106_grids_from_area_files(tmp_path):
    rows = ["code,name,level,parent_code", "1,乌海市,city,", "11,海勃湾区,district,1",
            "111,新华街道,street,11", "1111,和平社区,community,111",
            "11110001,和平社区1号网格,grid,1111", "112,千里山镇,street,11",
            "1121,新地村,community,112", "11210001,新地村1号网格,grid,1121"]
    (tmp_path / "areas.csv").write_text("\n".join(rows), encoding="utf-8")
    feats = [{"type": "Feature", "properties": {"code": c}, "geometry": mapping(box(x, 39, x + 0.01, 39.01))}
             for c, x in (("11110001", 106.8), ("11210001", 106.9))]
    (tmp_path / "areas.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    grids = {g.code: g for g in grids_from_area_files(tmp_path / "areas.csv", tmp_path / "areas.geojson")}
    assert set(grids) == {"11110001", "11210001"}
    assert grids["11110001"].street == "新华街道" and grids["11110001"].weight == 3.0
    assert grids["11210001"].weight == pytest.approx(0.6)
    assert grids["11110001"].address == "海勃湾区新华街道和平社区1号网格"


def test_sim107_life_steps_in_order():
    city = SimulatedCity(demo_grids(), seed=9, clock=lambda: NOW, history_days=5)
    ev = city.table(NOW.date())["events"].astype(float)
    ev[ev >= 2**62] = float("nan")  # steps a ticket never reaches
    # each reached step happens no earlier than every reached step before it
    reached = ~pd.isna(ev)
    assert (pd.DataFrame(ev).cummax(axis=1).to_numpy()[reached] == ev[reached]).all()

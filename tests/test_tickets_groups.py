"""Grouped KPIs (one row per area or department), daily counts and local windows."""

import pandas as pd
import pytest

from metrics.areas import AreaTree
from metrics.tickets import daily_counts, kpi_table, kpis, roll_up, table_records, window
from test_tickets_fixtures import prepared, ts

NOW = ts("2026-11-20T12:00:00+08:00")
START, END = ts("2026-11-01T00:00:00+08:00"), ts("2026-11-16T00:00:00+08:00")
TREE = AreaTree.build([
    {"code": "C", "name": "city", "level": "city", "parent_code": ""},
    {"code": "S1", "name": "street one", "level": "street", "parent_code": "C"},
    {"code": "S2", "name": "street two", "level": "street", "parent_code": "C"},
    {"code": "S3", "name": "street three", "level": "street", "parent_code": "C"},
    {"code": "G1", "name": "grid 1", "level": "grid", "parent_code": "S1"},
    {"code": "G2", "name": "grid 2", "level": "grid", "parent_code": "S1"},
    {"code": "G3", "name": "grid 3", "level": "grid", "parent_code": "S2"},
])


def tickets():
    closed = {"status": "closed", "deadline_at": "2026-11-06T00:00:00+08:00"}
    return prepared(
        # S1: G1 on time, G2 late → on-time 1/2
        {"grid_code": "G1", "created_at": "2026-11-02T09:00:00+08:00", "closed_at": "2026-11-05T09:00:00+08:00", **closed},
        {"grid_code": "G2", "created_at": "2026-11-02T09:00:00+08:00", "closed_at": "2026-11-07T09:00:00+08:00",
         "department": "D2", **closed},
        # S2: one open ticket, overdue at now
        {"grid_code": "G3", "created_at": "2026-11-03T09:00:00+08:00", "deadline_at": "2026-11-10T00:00:00+08:00"},
        # no grid, and a grid the tree does not know: both unplaced
        {"grid_code": None, "created_at": "2026-11-03T09:00:00+08:00", "closed_at": "2026-11-04T09:00:00+08:00",
         "department": None, **closed},
        {"grid_code": "G404", "created_at": "2026-11-04T09:00:00+08:00", "status": "cancelled"},
    )


def test_street_rows_include_streets_without_tickets_and_an_unplaced_row() -> None:
    df = tickets()
    keys = TREE.ancestor_at(df["grid_code"], "street")
    table = kpi_table(df, NOW, START, END, keys=keys, all_keys=TREE.codes_at("street"))
    rows = {r["key"]: r for r in table_records(table)}
    assert list(rows) == ["S1", "S2", "S3", None]
    assert (rows["S1"]["received"], rows["S1"]["due"], rows["S1"]["on_time"]) == (2, 2, 1)
    assert rows["S1"]["on_time_rate"] == 0.5
    assert (rows["S2"]["open"], rows["S2"]["overdue"], rows["S2"]["on_time_rate"]) == (1, 1, 0.0)
    assert rows["S3"]["received"] == 0 and rows["S3"]["on_time_rate"] is None and rows["S3"]["score"] is None
    # unplaced: the grid-less ticket (closed on time) and the cancelled one in grid G404
    assert (rows[None]["received"], rows[None]["due"], rows[None]["on_time"]) == (2, 1, 1)
    # the rows add up to the city
    city = kpis(df, NOW, START, END)
    for count in ("received", "closed", "due", "on_time", "open", "overdue"):
        assert sum(r[count] for r in rows.values()) == city[count], count


def test_department_rows_and_city_row() -> None:
    df = tickets()
    table = kpi_table(df, NOW, START, END, keys=df["department"])
    assert table["key"].tolist() == ["D1", "D2", None]
    assert table["received"].tolist() == [3, 1, 1]  # D1: G1, G3, G404; D2: G2; none: grid-less
    assert kpi_table(df, NOW, START, END)["key"].tolist() == ["all"]


def test_grid_drill_on_a_subset() -> None:
    df = tickets()
    inside = TREE.in_subtree(df["grid_code"], "S1").to_numpy()
    part = df[inside]
    table = kpi_table(part, NOW, START, END, keys=part["grid_code"], all_keys=["G1", "G2"])
    assert table["key"].tolist() == ["G1", "G2"]
    assert table["on_time_rate"].tolist() == [1.0, 0.0]


def test_daily_counts_cut_in_local_days() -> None:
    df = prepared(
        {"created_at": "2026-11-02T23:59:59+08:00"},                     # local 11-02
        {"created_at": "2026-11-02T16:00:00Z"},                          # = 11-03 00:00 local
        {"created_at": "2026-11-03T10:00:00+08:00", "status": "closed",
         "closed_at": "2026-11-04T01:00:00+08:00"},
        {"created_at": "2026-11-03T10:00:00+08:00", "status": "cancelled"},
    )
    out = daily_counts(df, "Asia/Shanghai", ts("2026-11-02T00:00:00+08:00"), ts("2026-11-05T00:00:00+08:00"))
    assert out["date"].astype(str).tolist() == ["2026-11-02", "2026-11-03", "2026-11-04"]
    assert out["received"].tolist() == [1, 3, 0]
    assert out["closed"].tolist() == [0, 0, 1]


@pytest.mark.parametrize("preset, start", [
    ("today", "2026-11-20T00:00:00+08:00"),
    ("this_week", "2026-11-16T00:00:00+08:00"),    # Friday 11-20 → Monday 11-16
    ("this_month", "2026-11-01T00:00:00+08:00"),
    ("last_30_days", "2026-10-22T00:00:00+08:00"),  # 11-20 and the 29 days before
])
def test_window_presets_in_local_time(preset: str, start: str) -> None:
    # 2026-11-19T16:30Z is Friday 11-20 00:30 in Shanghai (still Thursday in UTC)
    now = ts("2026-11-19T16:30:00Z")
    assert window(preset, now, "Asia/Shanghai") == (ts(start), now)


def test_window_refuses_naive_time_and_unknown_preset() -> None:
    with pytest.raises(ValueError, match="^now:"):
        window("today", pd.Timestamp("2026-11-20T10:00"))
    with pytest.raises(ValueError, match="^preset:"):
        window("yesterday", NOW)


def test_roll_up_maps_each_grid_once_and_groups_the_same() -> None:
    df = tickets()  # prepare made grid_code categorical
    keys = roll_up(df["grid_code"], lambda grids: TREE.ancestor_at(grids, "street"))
    assert keys.astype(object).where(keys.notna(), None).tolist() == ["S1", "S1", "S2", None, None]
    direct = kpi_table(df, NOW, START, END, keys=TREE.ancestor_at(df["grid_code"], "street"),
                       all_keys=TREE.codes_at("street"))
    rolled = kpi_table(df, NOW, START, END, keys=keys, all_keys=TREE.codes_at("street"))
    pd.testing.assert_frame_equal(direct, rolled)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tg_table_and_total_from_one_pass_equal_the_table_and_kpis(seed) -> None:
    """The drill's table and its total row from one pass (`kpi_table_and_total`) are the
    very table of `kpi_table` and the very numbers of `kpis` on the same tickets, to the
    bit: random tickets (ratings, verdicts, returns, repeats, handling times, cancellations,
    no grid), random windows, groups with and without tickets."""
    import random

    from metrics.tickets import kpi_table_and_total

    rnd = random.Random(seed)
    rows = []
    base = pd.Timestamp("2026-10-01T00:00:00+08:00")
    for i in range(400):
        created = base + pd.Timedelta(hours=rnd.uniform(0, 24 * 50))
        r = {"grid_code": rnd.choice(["G1", "G2", "G3", None, "G404"]), "created_at": created.isoformat(),
             "department": rnd.choice(["D1", "D2", None]), "urgency": rnd.choice(["urgent", "normal", "complex"]),
             "return_count": rnd.choice([0, 0, 1, 2]), "repeat_of": rnd.choice([None, None, "X-1", ""]),
             "first_response_at": (created + pd.Timedelta(hours=rnd.uniform(0, 5))).isoformat()
             if rnd.random() < 0.7 else None}
        fate = rnd.random()
        if fate < 0.7:
            closed = created + pd.Timedelta(hours=rnd.expovariate(1 / 70))
            r.update(status="closed", closed_at=closed.isoformat(),
                     dispatched_at=(created + pd.Timedelta(minutes=rnd.uniform(1, 90))).isoformat(),
                     rating=rnd.choice(["satisfied", "basic", "dissatisfied", None]),
                     resolved=rnd.choice(["yes", "no", None]), rating_excluded=rnd.random() < 0.1)
        elif fate < 0.75:
            r["status"] = "cancelled"
        rows.append(r)
    df = prepared(*rows)
    keys = roll_up(df["grid_code"], lambda g: TREE.ancestor_at(g, "street"))
    seen = []
    for _ in range(8):
        now = base + pd.Timedelta(hours=rnd.uniform(24 * 20, 24 * 60))
        start = now - pd.Timedelta(hours=rnd.uniform(1, 24 * 40))
        end = start + (now - start) * rnd.uniform(0.3, 1)
        table, total = kpi_table_and_total(df, now, start, end, keys=keys, all_keys=["S1", "S2", "S3"])
        assert table.equals(kpi_table(df, now, start, end, keys=keys, all_keys=["S1", "S2", "S3"]))
        assert total == kpis(df, now, start, end)
        seen.append(total["received"] > 0 and total["p90_handling_hours"] is not None)
    assert any(seen)       # (not only empty windows)

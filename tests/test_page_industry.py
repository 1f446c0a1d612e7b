"""/industry views and callbacks as plain functions, on the simulated enterprises polled
into a real embedded Redis. Each number is checked against `metrics.industry` run on the
same file (what `cityops industry grade` prints), so the page cannot drift from the rules."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pandas as pd
import pytest
from dash import no_update

from callbacks import industry as cb
from dashboard import industry_views as iv
from dashboard.access import Viewer
from dashboard.queries import Queries
from dashboard.runtime import area_feed
from dashboard.settings import FeedSettings, load_settings
from feeds.industry import read_industry_file
from feeds.poller import Poller
from feeds.sim_industry import simulate_industry, to_csv_bytes
from layouts import ids
from layouts import industry_tables as tables
from metrics.industry import grade_period, low_efficiency, summary

EVERYONE = Viewer()


@pytest.fixture
def rt(embedded_store, tmp_path):
    """A console runtime without a web server: the area tree and the simulated enterprises
    (seed 7) polled through the real feed adapter into the store."""
    settings = load_settings(None, env={})
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "enterprises.csv").write_bytes(to_csv_bytes(simulate_industry(seed=7)))
    feeds = [area_feed(settings), FeedSettings(name="industry-demo", kind="industry", format="canonical",
                                               path=str(drop))]
    poller = Poller(settings, embedded_store, feeds)
    for f in feeds:
        poller.run_feed(f, force=True)
    return SimpleNamespace(settings=settings, store=embedded_store, queries=Queries(embedded_store, settings),
                           file=drop / "enterprises.csv", feeds=feeds)


@pytest.fixture
def expected(rt):
    """grade_period on the same file, read independently of the store."""
    df = read_industry_file(rt.file).frame()
    return {p: grade_period(df, p, rt.settings.industry) for p in ("2023", "2024", "2025")}


def test_ind001_periods_latest_first_and_previous(rt):
    assert iv.periods(rt.queries) == ["2025", "2024", "2023"]
    assert cb.resolve(rt, "")[1] == "2025"                  # default: the latest
    assert cb.resolve(rt, "?period=2023")[1] == "2023"
    assert cb.resolve(rt, "?period=1999")[1] == "2025"      # unknown → latest
    assert iv.previous_period("2025", ["2025", "2024"]) == "2024"
    assert iv.previous_period("2025Q1", ["2024Q4"]) == "2024Q4"
    assert iv.previous_period("2025Q3", ["2025Q1"]) is None


def test_ind002_page_numbers_equal_grade_period(rt, expected):
    exp = expected["2025"].rows.set_index("credit_code")
    got = iv.graded(rt.queries, "2025").rows.set_index("credit_code")
    assert sorted(got.index) == sorted(exp.index)
    for col in ("score", "tax_per_mu", "what_if_tax_per_mu"):
        pd.testing.assert_series_equal(got[col].sort_index(), exp[col].sort_index(), check_names=False)
    assert (got["grade"].sort_index().fillna("-") == exp["grade"].sort_index().fillna("-")).all()
    assert (got["rank"].sort_index().fillna(-1) == exp["rank"].sort_index().fillna(-1)).all()
    s = iv.board_summary(rt.queries, EVERYONE, "2025")
    e = summary(expected["2025"])
    assert s["by_grade"] == e["by_grade"] and s["graded"] == e["graded"] and s["not_graded"] == e["not_graded"]
    assert s["tax_per_mu"] == pytest.approx(e["tax_per_mu"])
    assert s["previous_period"] == "2024"
    assert s["previous_tax_per_mu"] == pytest.approx(summary(expected["2024"])["tax_per_mu"])
    # the tile shows the same grade counts
    texts = [t.children[0].children for t in tables.summary_tiles(s, "zh")]
    assert texts[1:5] == [f"{e['by_grade'][g]:,}" for g in "ABCD"]


def test_ind003_ranking_order_and_missing_never_zero(rt, expected):
    rows = iv.ranking(rt.queries, EVERYONE, "2025")
    graded = rows[rows["graded"]]
    assert list(graded["rank"]) == sorted(graded["rank"])            # graded first, by rank
    assert not rows.iloc[len(graded):]["graded"].any()               # then the not graded
    grid = tables.grid_rows(rows, "zh", 3.0)
    by_code = {r["credit_code"]: r for r in grid}
    exp = expected["2025"].rows
    no_rd = exp[exp["graded"] & exp["rd_intensity"].isna()]
    assert len(no_rd)                                               # the simulator leaves some gaps
    for code in no_rd["credit_code"]:
        assert by_code[code]["rd_intensity"] is None                 # shown as "—", not 0
        assert "研发强度" in by_code[code]["reason"]
    for code in exp.loc[~exp["graded"], "credit_code"]:
        assert by_code[code]["grade"] is None and by_code[code]["reason"]


def test_ind004_filters(rt):
    q = rt.queries
    all_rows = iv.ranking(q, EVERYONE, "2025")
    d = iv.ranking(q, EVERYONE, "2025", filters=iv.Filters(grade="D"))
    assert len(d) == (all_rows["grade"] == "D").sum() and (d["grade"] == "D").all()
    none = iv.ranking(q, EVERYONE, "2025", filters=iv.Filters(grade="none"))
    assert len(none) == (~all_rows["graded"]).sum()
    park = all_rows["park"].iloc[0]
    p = iv.ranking(q, EVERYONE, "2025", filters=iv.Filters(park=park))
    assert len(p) == (all_rows["park"] == park).sum() and (p["park"] == park).all()
    opts = iv.filter_options(all_rows)
    street = opts["street"][0][0]
    s = iv.ranking(q, EVERYONE, "2025", filters=iv.Filters(street=street, industry="煤化工"))
    assert len(s) == ((all_rows["street"] == street) & (all_rows["industry"] == "煤化工")).sum()


def test_ind005_drill_and_scope(rt):
    q = rt.queries
    tree = q.tree()
    city = tree.root.code
    areas = iv.by_child_area(q, EVERYONE, "2025", city)
    assert sum(a["enterprises"] for a in areas) == len(iv.graded(q, "2025").rows)
    district = areas[0]["code"]
    in_d = iv.ranking(q, EVERYONE, "2025", node=district)
    assert len(in_d) == areas[0]["enterprises"]
    assert (in_d["district"] == district).all()
    assert sum(a["enterprises"] for a in iv.by_child_area(q, EVERYONE, "2025", district)) == len(in_d)
    # a viewer limited to that district sees only it, even when asking for the city
    local = Viewer(areas=(district,))
    assert set(iv.ranking(q, local, "2025")["credit_code"]) == set(in_d["credit_code"])
    assert iv.board_summary(q, local, "2025")["enterprises"] == len(in_d)


def test_ind006_export_is_exactly_the_low_efficiency_list(rt, expected):
    exp = low_efficiency(expected["2025"], rt.settings.industry)
    out = cb.export("csv", "?period=2025", None, None, None, None, "zh", rt, EVERYONE)
    assert out["filename"].endswith(".csv")
    import base64

    csv = pd.read_csv(io.BytesIO(base64.b64decode(out["content"])), encoding="utf-8-sig", dtype=str)
    assert list(csv["统一社会信用代码"]) == list(exp["credit_code"])
    # low = grade D or tax per mu under the floor (3 万元/亩 by default), and nothing else
    rows = expected["2025"].rows
    want = rows[rows["graded"] & ((rows["grade"] == "D") | (rows["tax_per_mu"] < 3.0))]
    assert set(csv["统一社会信用代码"]) == set(want["credit_code"])
    xlsx = cb.export("xlsx", "?period=2025", None, None, None, None, "en", rt, EVERYONE)
    x = pd.read_excel(io.BytesIO(base64.b64decode(xlsx["content"])), dtype=str)
    assert list(x["Credit code"]) == list(exp["credit_code"])
    # missing inputs stay empty cells, never 0
    missing = exp["energy_tce"].isna()
    if missing.any():
        assert csv.loc[missing.to_numpy(), "综合能耗(吨标煤)"].isna().all()
    # filtered export = filtered list
    d_only = cb.export("csv", "?period=2025", None, None, "D", None, "zh", rt, EVERYONE)
    d = pd.read_csv(io.BytesIO(base64.b64decode(d_only["content"])), encoding="utf-8-sig", dtype=str)
    assert set(d["统一社会信用代码"]) == set(exp.loc[exp["grade"] == "D", "credit_code"])


def test_ind007_enterprise_what_if(rt, expected):
    res = expected["2025"]
    rows = res.rows
    c = rows[(rows["grade"] == "C") & rows["what_if_tax_per_mu"].notna()].iloc[0]
    hist = iv.enterprise_history(rt.queries, EVERYONE, c["credit_code"])
    assert list(hist["period"]) == ["2023", "2024", "2025"]
    steps = cb.what_if_steps(iv.graded(rt.queries, "2025"), hist.iloc[-1].to_dict(), rt.settings.industry)
    assert [g for g, _, _ in steps] == ["B", "A"]
    assert steps[0][1] == pytest.approx(c["what_if_tax_per_mu"])    # the next grade = the rows' what-if
    assert steps[0][2] == pytest.approx(res.grade_floors["B"])
    children, detail_style, board_style = cb.detail(f"?ent={c['credit_code']}", 1, "zh", rt, EVERYONE)
    assert board_style == {"display": "none"} and detail_style == {}
    assert f"{c['what_if_tax_per_mu']:,.2f}" in str(children)
    # unknown code: a message, not an error
    children, _, _ = cb.detail("?ent=91XXXXXXXXXXXXXXXX", 1, "zh", rt, EVERYONE)
    assert "未找到" in str(children)
    assert cb.detail("", 1, "zh", rt, EVERYONE)[1] == {"display": "none"}


def test_ind008_navigate_clicks_and_period(rt):
    code = iv.ranking(rt.queries, EVERYONE, "2025")["credit_code"].iloc[0]
    url, opts, value = cb.navigate(None, "?node=150303000000", None, None, None, None, None, None, rt)
    assert url is no_update and value == "2025" and [o["value"] for o in opts] == ["2025", "2024", "2023"]
    url, *_ = cb.navigate(ids.IND_PERIOD, "?node=150303000000", "2024", None, None, None, None, None, rt)
    assert url == "?node=150303000000&period=2024"
    url, *_ = cb.navigate(ids.IND_RANKING, "?period=2024", "2024", {"rowId": code}, None, None, None, None, rt)
    assert url == f"?period=2024&ent={code}"
    url, *_ = cb.navigate(ids.IND_SCATTER, "", None, None, None, {"points": [{"customdata": code}]}, None, None, rt)
    assert url == f"?period=2025&ent={code}"
    url, *_ = cb.navigate(ids.IND_MAP_AREAS, "", None, None, None, None, None,
                          {"properties": {"code": "150302000000"}}, rt)
    assert url == "?node=150302000000&period=2025"


def test_ind009_board_callback_and_positions(rt, expected):
    out = cb.board(None, "?period=2025", 1, None, None, "A", None, "en", rt, EVERYONE)
    assert len(out) == 16
    rank_rows = out[7]
    assert {r["grade"] for r in rank_rows} == {"A"}
    assert len(rank_rows) == summary(expected["2025"])["by_grade"]["A"]
    points = out[10]["features"]
    assert len(points) == len(rank_rows)                            # every enterprise placed
    # a dot stays put (seeded by the credit code) and lies inside its grid
    tree = rt.queries.tree()
    rows = iv.graded(rt.queries, "2025").rows
    again = iv.place(rows[["credit_code", "grid_code"]], tree)
    pd.testing.assert_series_equal(again["lat"], rows["lat"], check_names=False)
    from shapely.geometry import Point

    r = rows.iloc[0]
    assert tree.shape(r["grid_code"]).covers(Point(r["lon"], r["lat"]))
    # no data at all: the page says so
    empty = SimpleNamespace(settings=rt.settings, queries=Queries(rt.store.__class__(rt.store.r, "empty-ns"),
                                                                  rt.settings))
    out = cb.board(None, "", None, None, None, None, None, "zh", empty, EVERYONE)
    assert "暂无企业数据" in str(out[2])

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
from dashboard.queries import industry_views as iv
from dashboard.queries.access import Viewer
from dashboard.queries import Queries
from dashboard.app.runtime import area_feed
from dashboard.config.settings import FeedSettings, load_settings
from feeds.industry.parse import read_industry_file
from feeds.poller import Poller
from feeds.demo.industry import simulate_industry, to_csv_bytes
from layouts import ids
from layouts import industry_tables as tables
from metrics.industry import grade_period, low_efficiency, summary

EVERYONE = Viewer()
EXPORTER = Viewer(export=True)
# the board callback's outputs, in the order of callbacks/industry.py register()
BOARD = {k: i for i, k in enumerate(("crumbs", "summary", "notice", "areas", "ranking", "scatter", "scatter_note",
                                     "points", "map_url", "viewport", "low", "low_count", "formula"))}
# navigate's outputs after the URL
NAV = {k: i for i, k in enumerate(("url", "period_options", "period", "street_options", "park_options",
                                   "industry_options", "street", "park", "grade", "industry"))}


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
    out = cb.export("csv", "?period=2025", "zh", rt, EXPORTER)
    assert out["filename"].endswith(".csv")
    import base64

    csv = pd.read_csv(io.BytesIO(base64.b64decode(out["content"])), encoding="utf-8-sig", dtype=str)
    assert list(csv["统一社会信用代码"]) == list(exp["credit_code"])
    # low = grade D or tax per mu under the floor (3 万元/亩 by default), and nothing else
    rows = expected["2025"].rows
    want = rows[rows["graded"] & ((rows["grade"] == "D") | (rows["tax_per_mu"] < 3.0))]
    assert set(csv["统一社会信用代码"]) == set(want["credit_code"])
    xlsx = cb.export("xlsx", "?period=2025", "en", rt, EXPORTER)
    x = pd.read_excel(io.BytesIO(base64.b64decode(xlsx["content"])), dtype=str)
    assert list(x["Credit code"]) == list(exp["credit_code"])
    # missing inputs stay empty cells, never 0
    missing = exp["energy_tce"].isna()
    if missing.any():
        assert csv.loc[missing.to_numpy(), "综合能耗(吨标煤)"].isna().all()
    # filtered export = filtered list (the filters come from the URL, as on the screen)
    d_only = cb.export("csv", "?period=2025&grade=D", "zh", rt, EXPORTER)
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
    url, opts, value, *_ = cb.navigate(None, "?node=150303000000", None, None, None, None, None, None, None, rt)
    assert url is no_update and value == "2025" and [o["value"] for o in opts] == ["2025", "2024", "2023"]
    url, *_ = cb.navigate(ids.IND_PERIOD, "?node=150303000000", "2024", None, None, None, None, None, None, rt)
    assert url == "?node=150303000000&period=2024"
    url, *_ = cb.navigate(ids.IND_RANKING, "?period=2024", "2024", None, {"rowId": code}, None, None, None, None, rt)
    assert url == f"?period=2024&ent={code}"
    url, *_ = cb.navigate(ids.IND_SCATTER, "", None, None, None, None, {"points": [{"customdata": code}]}, None,
                          None, rt)
    assert url == f"?period=2025&ent={code}"
    url, *_ = cb.navigate(ids.IND_MAP_AREAS, "", None, None, None, None, None, None,
                          {"properties": {"code": "150302000000"}}, rt)
    assert url == "?node=150302000000&period=2025"


def test_ind009_board_callback_and_positions(rt, expected):
    out = cb.board(None, "?period=2025&grade=A", 1, "en", rt, EVERYONE)
    assert len(out) == len(BOARD)
    rank_rows = out[BOARD["ranking"]]
    assert {r["grade"] for r in rank_rows} == {"A"}
    assert len(rank_rows) == summary(expected["2025"])["by_grade"]["A"]
    points = out[BOARD["points"]]["features"]
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
    out = cb.board(None, "", None, "zh", empty, EVERYONE)
    assert "暂无企业数据" in str(out[BOARD["notice"]])


# -- the ranking filters in the URL ------------------------------------------------------------
def test_ind010_url_parse_and_format_helpers():
    s = iv.parse_search("?node=150303000000&period=2025&street=150303002000&park=%E6%B5%B7%E5%8D%97%E4%BA%A7%E4%B8%9A"
                        "%E5%9B%AD&grade=D&industry=煤化工&ent=91X")
    assert s == {"node": "150303000000", "period": "2025", "street": "150303002000", "park": "海南产业园",
                 "grade": "D", "industry": "煤化工", "ent": "91X"}
    assert iv.filters_from(s) == iv.Filters(street="150303002000", park="海南产业园", grade="D", industry="煤化工")
    # the first of repeated keys; blank, padded, over-long and control-character values
    s = iv.parse_search("grade=B&grade=C&park=%20&industry=%20冶金%20&street=" + "1" * 201 + "&node=a%00b")
    assert s["grade"] == "B" and s["park"] is None and s["industry"] == "冶金"
    assert s["street"] is None and s["node"] is None
    # malformed percent escapes and junk never raise
    assert iv.parse_search("?%zz=%E6%B5&&=&grade=%ZZ")["grade"] == "%ZZ"
    assert iv.parse_search(None) == dict.fromkeys(iv.URL_KEYS)
    # a grade must be A–D or "none"
    for bad in ("E", "d", "%ZZ", "A,B", "None"):
        assert iv.filters_from({"grade": bad}).grade is None
    assert iv.filters_from({"grade": "none"}).grade == "none"
    # format: stable key order, empty values left out, round trip
    f = iv.Filters(street="150303002000", park="海南产业园", grade="D", industry="煤化工")
    q = iv.format_search("150303000000", "2025", None, f)
    assert q.startswith("?node=150303000000&period=2025&street=150303002000&park=")
    assert q.endswith("&grade=D&industry=%E7%85%A4%E5%8C%96%E5%B7%A5")
    assert iv.filters_from(iv.parse_search(q)) == f
    assert iv.format_search("N", "2025", "91X", iv.Filters(grade="A")) == "?node=N&period=2025&grade=A&ent=91X"
    assert iv.format_search() == "" and iv.format_search(filters=iv.Filters()) == ""
    # one control changed; an emptied control clears its filter
    assert iv.with_filter(f, "grade", "A") == iv.Filters(street="150303002000", park="海南产业园", grade="A",
                                                         industry="煤化工")
    assert iv.with_filter(f, "park", None).park is None and iv.with_filter(f, "park", "").park is None
    assert iv.with_filter(f, "grade", "X").grade is None
    # only values the data offers survive
    choices = {"street": [("150303002000", "某街道")], "park": [("海南产业园", "海南产业园")], "industry": []}
    assert iv.valid_filters(f, choices) == iv.Filters(street="150303002000", park="海南产业园", grade="D")
    assert iv.valid_filters(iv.Filters(park="不存在的园区", grade="Z"), choices) == iv.Filters()


def test_ind011_drill_keeps_filters_on_the_same_branch(rt):
    tree = rt.queries.tree()
    f = iv.Filters(street="150303002000", park="海南产业园", grade="D")
    assert iv.drill_filters(tree, f, "150303000000") == f                       # its district
    assert iv.drill_filters(tree, f, "150302000000") == iv.Filters(park="海南产业园", grade="D")
    assert iv.drill_filters(tree, f, None) == f                                 # the city
    inside = tree.children("150303002000")[0].code
    assert iv.drill_filters(tree, f, inside) == f                               # a community of it


def test_ind012_url_filters_drive_the_controls(rt):
    url = "?period=2025&grade=D&park=海南产业园&industry=煤化工&street=150303002000"
    out = cb.navigate(ids.IND_URL, url, "2025", (None, None, None, None), None, None, None, None, None, rt)
    assert out[NAV["url"]] is no_update                                          # a URL from outside stays
    assert (out[NAV["street"]], out[NAV["park"]], out[NAV["grade"]], out[NAV["industry"]]) == \
        ("150303002000", "海南产业园", "D", "煤化工")
    # each value comes with options holding it (a Dash 4 dropdown drops a value its options lack)
    for key in ("street", "park", "industry"):
        assert out[NAV[key]] in [o["value"] for o in out[NAV[key + "_options"]]]
    assert [o["value"] for o in out[NAV["park_options"]]] == ["乌达产业园", "海勃湾产业园", "海南产业园"]
    # unknown or malformed values: the control shows nothing, nothing raises
    out = cb.navigate(None, "?grade=E&park=不存在的园区&street=%ZZ&industry=" + "x" * 500,
                      None, None, None, None, None, None, None, rt)
    assert out[NAV["grade"]] is None and out[NAV["park"]] is None and out[NAV["street"]] is None
    assert out[NAV["industry"]] is None and out[NAV["period"]] == "2025"
    # new data (a version tick) re-reads the URL too
    out = cb.navigate(ids.IND_VERSION, "?grade=B", None, None, None, None, None, None, None, rt)
    assert out[NAV["url"]] is no_update and out[NAV["grade"]] == "B"
    # the street choices are those of the area in the URL
    out = cb.navigate(None, "?node=150302000000", None, None, None, None, None, None, None, rt)
    assert [o["value"] for o in out[NAV["street_options"]]] == ["150302101000", "150302400000"]


def test_ind013_a_filter_change_pushes_the_url(rt):
    code = iv.ranking(rt.queries, EVERYONE, "2025")["credit_code"].iloc[0]
    nav = lambda trigger, url, values=(None, None, None, None), **kw: cb.navigate(  # noqa: E731
        trigger, url, kw.get("period"), values, kw.get("cell"), None, None, None, kw.get("area"), rt)
    out = nav(ids.IND_GRADE, "?node=150303000000", (None, None, "D", None))
    assert out[NAV["url"]] == "?node=150303000000&period=2025&grade=D" and out[NAV["grade"]] == "D"
    out = nav(ids.IND_PARK, "?period=2025&grade=D", (None, "海南产业园", "D", None))
    assert out[NAV["url"]] == "?period=2025&park=%E6%B5%B7%E5%8D%97%E4%BA%A7%E4%B8%9A%E5%9B%AD&grade=D"
    assert iv.filters_from(iv.parse_search(out[NAV["url"]])) == iv.Filters(park="海南产业园", grade="D")
    # cleared: the filter leaves the URL
    assert nav(ids.IND_GRADE, "?period=2025&grade=D")[NAV["url"]] == "?period=2025"
    # the same value again (a dropdown echoing the URL): no history entry, no control touched
    assert nav(ids.IND_GRADE, "?period=2025&grade=D", (None, None, "D", None)) == (no_update,) * len(NAV)
    # the changed control wins; the others come from the URL, not from the dropdowns
    out = nav(ids.IND_INDUSTRY, "?period=2025&grade=A", ("150302101000", None, "C", "冶金"))
    assert out[NAV["url"]] == "?period=2025&grade=A&industry=%E5%86%B6%E9%87%91"
    # period, enterprise and area keep the filters; drilling drops a street of another branch
    out = nav(ids.IND_PERIOD, "?period=2025&grade=D&park=海南产业园", period="2024")
    assert iv.parse_search(out[NAV["url"]])["period"] == "2024" and out[NAV["grade"]] == "D"
    out = nav(ids.IND_RANKING, "?period=2025&grade=D", cell={"rowId": code})
    assert out[NAV["url"]] == f"?period=2025&grade=D&ent={code}"
    out = nav(ids.IND_MAP_AREAS, "?street=150303002000&grade=D", area={"properties": {"code": "150302000000"}})
    assert out[NAV["url"]] == "?node=150302000000&period=2025&grade=D"
    assert [o["value"] for o in out[NAV["street_options"]]] == ["150302101000", "150302400000"]


def test_ind014_board_and_export_follow_the_url_filters(rt, expected):
    rows = expected["2025"].rows
    want = rows[(rows["grade"] == "D") & (rows["park"] == "海南产业园")]
    assert len(want)
    url = "?period=2025&grade=D&park=海南产业园"
    out = cb.board(ids.IND_URL, url, 1, "zh", rt, EVERYONE)
    assert {r["credit_code"] for r in out[BOARD["ranking"]]} == set(want["credit_code"])
    assert {r["park"] for r in out[BOARD["ranking"]]} == {"海南产业园"}
    assert {p["properties"]["code"] for p in out[BOARD["points"]]["features"]} == set(want["credit_code"])
    low = low_efficiency(expected["2025"], rt.settings.industry)
    low_here = low[low["credit_code"].isin(want["credit_code"])]
    assert [r["credit_code"] for r in out[BOARD["low"]]] == list(low_here["credit_code"])
    # the links on the board keep the filters
    assert "grade=D" in str(out[BOARD["crumbs"]]) and "grade=D" in str(out[BOARD["areas"]])
    # the export is the list on the screen
    import base64

    csv = pd.read_csv(io.BytesIO(base64.b64decode(cb.export("csv", url, "zh", rt, EXPORTER)["content"])),
                      encoding="utf-8-sig", dtype=str)
    assert list(csv["统一社会信用代码"]) == list(low_here["credit_code"])
    # an unknown park is ignored (grade D alone) and said so; the export agrees
    bad = "?period=2025&grade=D&park=不存在的园区"
    out = cb.board(ids.IND_URL, bad, 1, "zh", rt, EVERYONE)
    assert {r["credit_code"] for r in out[BOARD["ranking"]]} == set(rows.loc[rows["grade"] == "D", "credit_code"])
    assert "不存在的园区" in str(out[BOARD["notice"]])
    csv = pd.read_csv(io.BytesIO(base64.b64decode(cb.export("csv", bad, "zh", rt, EXPORTER)["content"])),
                      encoding="utf-8-sig", dtype=str)
    assert set(csv["统一社会信用代码"]) == set(low.loc[low["grade"] == "D", "credit_code"])
    # only the filters changed: the map keeps its view; another area: it flies there
    drawn = out[BOARD["map_url"]]
    assert cb.board(ids.IND_URL, "?period=2025&grade=A", 1, "zh", rt, EVERYONE, drawn)[BOARD["viewport"]] is no_update
    moved = cb.board(ids.IND_URL, "?node=150302000000&grade=A", 1, "zh", rt, EVERYONE, drawn)
    assert moved[BOARD["viewport"]]["transition"] == "flyToBounds"


def test_ind015_enterprise_back_link_keeps_the_filters(rt):
    code = iv.ranking(rt.queries, EVERYONE, "2025", filters=iv.Filters(grade="C"))["credit_code"].iloc[0]
    children, _, _ = cb.detail(f"?period=2025&grade=C&park=海南产业园&ent={code}", 1, "zh", rt, EVERYONE)
    back = children.children[0].children[0]
    assert iv.parse_search(back.href.split("?", 1)[1]) == {**dict.fromkeys(iv.URL_KEYS), "period": "2025",
                                                           "grade": "C", "park": "海南产业园"}

"""The enterprise simulator, and the industry feed as the poller runs it."""

from datetime import datetime, timezone

import pytest
import requests

from feeds.base import PollContext
from feeds.industry.parse import parse_industry, records_frame
from feeds.industry.poll import poll
from feeds.demo.industry import DEFAULT_AREAS, simulate_industry, to_csv_bytes, to_xlsx_bytes
from metrics.credit_code import is_valid_credit_code
from metrics.industry import grade_period, summary


@pytest.fixture(scope="module")
def sim():
    return simulate_industry(seed=7)


def test_shape_and_determinism(sim):
    assert len(sim) == 400 * 3 and sim["credit_code"].nunique() == 400
    assert sorted(sim["period"].unique()) == ["2023", "2024", "2025"]
    assert sim.equals(simulate_industry(seed=7))
    assert all(is_valid_credit_code(c, org_check=True) for c in sim["credit_code"].unique())


def test_calibrated_to_published_figures(sim):
    firms = sim[sim["period"] == "2024"]
    assert 2 <= firms["exempt"].sum() <= 20            # a few exempt utilities
    assert 2 <= (firms["land_mu"] < 3).sum() <= 25     # a few plots under the threshold
    s = summary(grade_period(records_frame(sim.to_dict("records")), "2024"))
    assert 11 <= s["tax_per_mu"] <= 18                 # 铜陵 2021: 14.05 万元/亩
    graded = s["graded"]
    assert s["by_grade"]["A"] == pytest.approx(graded * 0.25, abs=3)
    tpm = firms["tax"] / firms["land_mu"]
    assert tpm.quantile(0.95) > 3 * tpm.median()       # a long tail


def test_grids_from_the_area_tree_or_the_list():
    if DEFAULT_AREAS.exists():
        sim = simulate_industry(n=30, years=(2025,))
        park_district = {"海勃湾产业园": "150302", "海南产业园": "150303", "乌达产业园": "150304"}
        assert all(g.startswith(park_district[p]) for g, p in zip(sim["grid_code"], sim["park"]))
    sim = simulate_industry(n=30, years=(2025,), areas_csv=None, grid_codes=["G1", "G2"])
    assert set(sim["grid_code"]) <= {"G1", "G2"}


def test_round_trip_through_the_adapter(sim):
    for data in (to_csv_bytes(sim), to_xlsx_bytes(sim.head(60))):
        res = parse_industry(data)
        assert not res.rejects and not res.replaced
    assert len(parse_industry(to_csv_bytes(sim)).records) == len(sim)


def test_poll_a_drop_folder(tmp_path, sim):
    from dashboard.config.settings import FeedSettings

    (tmp_path / "a_2024.csv").write_bytes(to_csv_bytes(sim[sim["period"] == "2024"].head(10)))
    newer = sim[sim["period"] == "2024"].head(3).assign(tax=1.0, updated_at="2030-01-01T00:00:00+08:00")
    (tmp_path / "b_fix.xlsx").write_bytes(to_xlsx_bytes(newer))
    (tmp_path / "c_broken.csv").write_bytes(b"nothing,here\n1,2\n")
    feed = FeedSettings(name="industry-drop", kind="industry", path=str(tmp_path))
    ctx = PollContext(feed=feed, state={}, now=datetime.now(timezone.utc), session=requests.Session())
    [batch] = poll(ctx)
    assert batch.dataset == "enterprises" and len(batch.records) == 10
    fixed = [r for r in batch.records if r["tax"] == 1.0]
    assert len(fixed) == 3 and all(r["key"] == f"{r['credit_code']}:2024" for r in fixed)
    assert [r.reason for r in batch.rejects] == ["c_broken.csv: file refused: no header row with a credit_code column in the first rows"]
    [again] = poll(ctx)  # nothing changed: nothing read
    assert again.records == [] and again.received == 0


def test_what_if_reaches_the_next_grade(sim):
    from metrics.industry import IndustryRules

    frame = records_frame(sim.to_dict("records"))
    res = grade_period(frame, "2025")
    fixed = IndustryRules(benchmark="fixed", fixed_benchmarks={k: v for k, v in res.benchmarks.items() if v is not None})
    some = res.rows[res.rows["what_if_tax_per_mu"].notna()].head(8)
    assert len(some) == 8
    for _, row in some.iterrows():  # add the increase (× land) to its tax, benchmarks fixed
        raised = frame.copy()
        hit = (raised["credit_code"] == row["credit_code"]) & (raised["period"] == "2025")
        raised.loc[hit, "tax"] += row["what_if_tax_per_mu"] * row["land_mu"]
        after = grade_period(raised, "2025", fixed).rows.set_index("credit_code").loc[row["credit_code"]]
        assert after["grade"] == row["what_if_grade"]

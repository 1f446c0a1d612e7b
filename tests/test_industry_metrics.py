"""Per-mu grading (METRICS.md "Industrial land use") on hand-computed cases."""

import math

import pandas as pd
import pytest

from metrics.industry import IndustryRules, grade_period, indicators, low_efficiency, summary, what_if


def ent(code, land=10.0, tax=None, sales=None, va=None, energy=None, emp=None, rd=None,
        exempt=False, period="2025"):
    return dict(credit_code=code, name=code, period=period, land_mu=land, tax=tax, sales=sales,
                value_added=va, energy_tce=energy, employees=emp, rd_spend=rd, exempt=exempt)


def rows(result):
    return result.rows.set_index("credit_code")


@pytest.fixture
def default_case():
    return pd.DataFrame([
        ent("E1", tax=100, sales=1000, va=300, energy=100, emp=10, rd=30),
        ent("E2", tax=50, sales=500, va=150, energy=100, emp=10, rd=None),   # missing R&D
        ent("E3", tax=-5, sales=0, va=100, energy=0, emp=10, rd=5),          # refund year, zeros
        ent("E4", land=2.0, tax=500, sales=5000, va=900, energy=10, emp=5, rd=50),  # small land
        ent("E5", land=20.0, tax=1, sales=10, va=5, energy=100, emp=3, rd=0, exempt=True),
    ])


def test_indicators_null_on_zero_denominator(default_case):
    ind = indicators(default_case).set_index("credit_code")
    assert ind.loc["E1", "tax_per_mu"] == 10.0          # 100 / 10
    assert ind.loc["E3", "tax_per_mu"] == -0.5          # a negative tax stays visible
    assert math.isnan(ind.loc["E3", "value_added_per_energy"])  # energy 0 -> null
    assert math.isnan(ind.loc["E3", "rd_intensity"])    # sales 0 -> null
    assert math.isnan(ind.loc["E2", "rd_intensity"])    # rd missing -> null
    assert ind.loc["E1", "labour_productivity"] == 30.0  # 300 / 10


def test_default_rules_hand_computed(default_case):
    r = grade_period(default_case, "2025", IndustryRules())
    # graded population E1..E3 (E4 under 3 mu, E5 exempt); medians of three / two values:
    # tax per mu (10, 5, -0.5) -> 5; sales per mu (100, 50, 0) -> 50; VA/energy (3, 1.5) -> 2.25;
    # labour productivity (30, 15, 10) -> 15; R&D (0.03) -> 0.03; VA per mu (30, 15, 10) -> 15
    assert r.benchmarks == pytest.approx({"tax_per_mu": 5.0, "sales_per_mu": 50.0, "value_added_per_mu": 15.0,
                                          "value_added_per_energy": 2.25, "labour_productivity": 15.0,
                                          "rd_intensity": 0.03})
    t = rows(r)
    # E1: 45·min(2,2) + 20·min(2,2) + 15·(3/2.25) + 15·1 + 5·min(2,2) = 90+40+20+15+10 = 175 over 100
    assert t.loc["E1", "score"] == pytest.approx(175.0)
    # E2: 45·1 + 20·1 + 15·(1.5/2.25) + 5·1 = 80 over 85 (R&D missing) -> 94.1176…
    assert t.loc["E2", "score"] == pytest.approx(8000 / 85)
    assert t.loc["E2", "missing"] == "rd_intensity"
    # E3: tax -0.5/5 clamps to 0; sales 0/50 = 0; labour 5·10/15 = 3.333; over 45+20+5 = 70
    assert t.loc["E3", "score"] == pytest.approx(100 * (5 * 10 / 15) / 70)
    assert t.loc["E3", "missing"] == "value_added_per_energy,rd_intensity"
    # n = 3: (rank-1)/n = 0, 1/3, 2/3 -> A, B, B
    assert list(t.loc[["E1", "E2", "E3"], "rank"]) == [1, 2, 3]
    assert list(t.loc[["E1", "E2", "E3"], "grade"]) == ["A", "B", "B"]
    assert t.loc["E4", "not_graded_reason"] == "land below threshold"
    assert t.loc["E5", "not_graded_reason"] == "exempt"
    assert not t.loc["E4", "graded"] and pd.isna(t.loc["E4", "score"]) and pd.isna(t.loc["E4", "grade"])
    # what-if to A's lowest score 175: E2 needs 175·85/100 − (20+10+5) = 113.75 tax points > 45·2 -> null
    assert math.isnan(t.loc["E2", "what_if_tax_per_mu"]) and t.loc["E2", "what_if_grade"] == "A"
    assert math.isnan(t.loc["E1", "what_if_tax_per_mu"])  # grade A: nothing to reach


@pytest.fixture
def tie_case():
    # land 10 everywhere; sales per mu 100 (benchmark 100 -> 50 points) except c8
    taxes = {"c1": 400, "c2": 200, "c3": 200, "c4": 100, "c5": 100, "c6": 80, "c7": 60, "c8": -10}
    return pd.DataFrame([ent(c, tax=t, sales=0 if c == "c8" else 1000) for c, t in taxes.items()])


TWO = IndustryRules(weights={"tax_per_mu": 50, "sales_per_mu": 50})


def test_ties_share_the_better_grade_at_a_cutoff(tie_case):
    r = grade_period(tie_case, "2025", TWO)
    # tax per mu 40,20,20,10,10,8,6,-1 -> median (10+10)/2 = 10; score = 50·clamp(tpm/10, 0, 2) + 50
    # -> 150,150,150,100,100,90,80,0 (c8: tax clamps to 0, sales 0)
    t = rows(r)
    assert list(t["score"]) == pytest.approx([150, 150, 150, 100, 100, 90, 80, 0])
    # ranks 1,1,1,4,4,6,7,8; c3 alone would sit at (3-1)/8 = 0.25 (B) but ties with rank 1 -> A
    assert list(t["rank"]) == [1, 1, 1, 4, 4, 6, 7, 8]
    # q = 0,0,0,.375,.375,.625,.75,.875 -> A A A B B B C C
    assert "".join(t["grade"]) == "AAABBBCC"
    assert r.grade_floors == {"A": 150.0, "B": 90.0, "C": 0.0}


def test_what_if_hand_computed(tie_case):
    t = rows(grade_period(tie_case, "2025", TWO))
    # c4 (100 -> A 150): tax must give 150 − 50 = 100 points = 50·2, the cap exactly: tpm 20, +10
    assert t.loc["c4", "what_if_tax_per_mu"] == pytest.approx(10.0)
    assert t.loc["c6", "what_if_tax_per_mu"] == pytest.approx(12.0)   # 8 -> 20
    # c7 (C, 80 -> B's lowest 90): 40 points -> tpm 8, +2
    assert t.loc["c7", "what_if_tax_per_mu"] == pytest.approx(2.0)
    assert t.loc["c7", "what_if_grade"] == "B"
    # c8 (C, 0 -> 90), no sales points: 90 points -> tpm 18, from -1: +19
    assert t.loc["c8", "what_if_tax_per_mu"] == pytest.approx(19.0)


def test_what_if_null_when_the_cap_forbids():
    bench = {"tax_per_mu": 10.0, "sales_per_mu": 100.0}
    row = {"tax_per_mu": 10.0, "sales_per_mu": 100.0}
    # target 160 needs 160 − 50 = 110 tax points > 50·2
    assert what_if(row, 160.0, bench, TWO) is None
    assert what_if(row, 150.0, bench, TWO) == pytest.approx(10.0)
    assert what_if({"tax_per_mu": None, "sales_per_mu": 100.0}, 120.0, bench, TWO) is None


def test_cutoffs_exactly_at_fractions():
    # 20 enterprises, tax only, distinct scores: (rank-1)/20 = 0.25 at rank 6, 0.70 at 15, 0.95 at 20
    df = pd.DataFrame([ent(f"k{i:02d}", tax=10 * (21 - i)) for i in range(1, 21)])
    t = rows(grade_period(df, "2025", IndustryRules(weights={"tax_per_mu": 1})))
    grades = "".join(t["grade"])
    assert grades == "A" * 5 + "B" * 9 + "C" * 5 + "D"


def test_zero_benchmark_nulls_the_indicator_for_everyone():
    df = pd.DataFrame([ent("z1", tax=0, sales=1000), ent("z2", tax=0, sales=500)])
    r = grade_period(df, "2025", TWO)
    t = rows(r)
    assert r.benchmarks["tax_per_mu"] == 0.0
    # sales only: median 75; z1 50·(100/75) = 66.67 of 50 -> 133.3; z2 50·(50/75) -> 66.7
    assert list(t["score"]) == pytest.approx([400 / 3, 200 / 3])
    assert list(t["missing"]) == ["tax_per_mu", "tax_per_mu"]


def test_mean_and_fixed_benchmarks():
    df = pd.DataFrame([ent("m1", tax=10), ent("m2", tax=20), ent("m3", tax=90)])
    tax = {"tax_per_mu": 1}
    mean = grade_period(df, "2025", IndustryRules(weights=tax, benchmark="mean"))
    assert mean.benchmarks["tax_per_mu"] == pytest.approx(4.0)  # (1 + 2 + 9) / 3
    fixed = grade_period(df, "2025", IndustryRules(weights=tax, benchmark="fixed", fixed_benchmarks={"tax_per_mu": 2.0}))
    # 100·clamp(tpm/2, 0, 2): 1 -> 50; 2 -> 100; 9 -> 200 (cap)
    assert list(rows(fixed)["score"]) == pytest.approx([50, 100, 200])


def test_two_periods_graded_separately():
    df = pd.DataFrame([ent("p1", tax=10, period="2024"), ent("p2", tax=30, period="2024"),
                       ent("p1", tax=40, period="2025"), ent("p2", tax=20, period="2025")])
    r24 = grade_period(df, "2024", IndustryRules(weights={"tax_per_mu": 1}))
    r25 = grade_period(df, "2025", IndustryRules(weights={"tax_per_mu": 1}))
    assert r24.benchmarks["tax_per_mu"] == pytest.approx(2.0)  # median(1, 3)
    assert r25.benchmarks["tax_per_mu"] == pytest.approx(3.0)  # median(4, 2)
    assert list(rows(r24)["grade"]) == ["B", "A"] and list(rows(r25)["grade"]) == ["A", "B"]
    assert grade_period(df, "2023").rows.empty


def test_low_efficiency_and_summary(tie_case):
    rules = IndustryRules(weights={"tax_per_mu": 50, "sales_per_mu": 50}, low_efficiency_tax_per_mu=7.0)
    r = grade_period(tie_case, "2025", rules)
    low = low_efficiency(r, rules)
    assert list(low["credit_code"]) == ["c8", "c7"]  # tpm -1 and 6 < 7; no grade D among 8
    assert set(low["low_reason"]) == {"tax per mu below floor"}
    s = summary(r)
    assert s["by_grade"] == {"A": 3, "B": 3, "C": 2, "D": 0}
    # Σ tax / Σ land = (400+200+200+100+100+80+60−10) / 80 = 1130 / 80
    assert s["tax_per_mu"] == pytest.approx(14.125)


def test_rules_are_checked():
    with pytest.raises(ValueError, match="weights"):
        IndustryRules(weights={"tax": 1})
    with pytest.raises(ValueError, match="grade_cutoffs"):
        IndustryRules(grade_cutoffs=[0.7, 0.25, 0.95])
    with pytest.raises(ValueError, match="fixed_benchmarks"):
        IndustryRules(benchmark="fixed")
    with pytest.raises(ValueError, match="cap"):
        IndustryRules(cap=0)

"""Per-mu industrial land-use assessment (亩均效益): indicators, benchmarks, score,
rank, grade, what-if and the low-efficiency land list, exactly as METRICS.md says.

Input: a frame of canonical enterprise records (`credit_code, name, grid_code, park,
industry, period, land_mu, sales, tax, value_added, energy_tce, employees, rd_spend,
exempt`), money in 万元, land in 亩, energy in tce. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from metrics.industry_rules import (
    GRADES,
    INDICATORS,
    NOT_GRADED_EXEMPT,
    NOT_GRADED_NO_LAND,
    NOT_GRADED_NO_SCORE,
    NOT_GRADED_SMALL_LAND,
    IndustryRules,
)

__all__ = [
    "GRADES", "INDICATORS", "IndustryRules", "GradeResult", "indicators", "benchmarks",
    "grade_period", "what_if", "low_efficiency", "summary",
]

_RANK_DECIMALS = 9  # scores equal to 9 decimals are ties (float noise is not a difference)


@dataclass(frozen=True)
class GradeResult:
    period: str
    benchmarks: dict[str, float | None]
    rows: pd.DataFrame  # one row per enterprise of the period, sorted by credit_code
    grade_floors: dict[str, float] = field(default_factory=dict)  # lowest score per grade

    @property
    def n_graded(self) -> int:
        return int(self.rows["graded"].sum())


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    if col not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[col], errors="coerce").astype(float)


def indicators(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` with the six indicator columns; null where an input is missing
    or the denominator is 0."""
    out = df.copy()
    for ind, (num, den) in INDICATORS.items():
        d = _num(df, den)
        out[ind] = _num(df, num) / d.where(d != 0)
    return out


def benchmarks(graded: pd.DataFrame, rules: IndustryRules) -> dict[str, float | None]:
    """Benchmark per indicator over the graded population (nulls left out)."""
    out: dict[str, float | None] = {}
    for ind in INDICATORS:
        if rules.benchmark == "fixed":
            value = rules.fixed_benchmarks.get(ind)
        else:
            s = _num(graded, ind).dropna()
            value = None if s.empty else float(s.median() if rules.benchmark == "median" else s.mean())
        out[ind] = None if value is None else float(value)
    return out


def _usable(bench: Mapping[str, float | None], rules: IndustryRules) -> dict[str, float]:
    """Scored indicators whose benchmark can divide: a benchmark of 0 or null (or a
    negative one, which would turn the ratio upside down) nulls the indicator."""
    return {k: float(b) for k in rules.scored if (b := bench.get(k)) is not None and b > 0}


def _points(frame: pd.DataFrame, bench: dict[str, float], rules: IndustryRules) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Σ indicator scores, Σ weights of non-null indicators, and the gaps (comma list)."""
    pts = pd.Series(0.0, index=frame.index)
    wsum = pd.Series(0.0, index=frame.index)
    gaps = pd.Series("", index=frame.index, dtype=object)
    for ind, w in rules.scored.items():
        val = _num(frame, ind)
        if ind in bench:
            term = w * (val / bench[ind]).clip(lower=0.0, upper=rules.cap)
        else:
            term = pd.Series(np.nan, index=frame.index)
        ok = term.notna()
        pts += term.where(ok, 0.0)
        wsum += np.where(ok, w, 0.0)
        gaps = gaps.where(ok, gaps + np.where(gaps == "", "", ",") + ind)
    return pts, wsum, gaps


def _grade_of(q: np.ndarray, cutoffs: list[float]) -> np.ndarray:
    idx = np.searchsorted(np.asarray(cutoffs, dtype=float), q, side="right")
    return np.asarray(GRADES, dtype=object)[idx]


def grade_period(df: pd.DataFrame, period: str, rules: IndustryRules | None = None) -> GradeResult:
    """Score, rank and grade the enterprises of one period (a year "2025" or "2025Q3")."""
    rules = rules or IndustryRules()
    frame = indicators(df[df["period"].astype(str) == str(period)])
    frame = frame.sort_values("credit_code", kind="stable").reset_index(drop=True)
    land = _num(frame, "land_mu")
    exempt = frame["exempt"].fillna(False).astype(bool) if "exempt" in frame else pd.Series(False, index=frame.index)
    reason = pd.Series(
        np.select([exempt, land.isna(), land < rules.land_threshold_mu],
                  [NOT_GRADED_EXEMPT, NOT_GRADED_NO_LAND, NOT_GRADED_SMALL_LAND], default=""),
        index=frame.index, dtype=object)
    population = reason == ""
    bench = benchmarks(frame[population], rules)
    usable = _usable(bench, rules)

    pts, wsum, gaps = _points(frame, usable, rules)
    score = (100.0 * pts / wsum.where(wsum > 0)).where(population)
    reason = reason.where(~(population & score.isna()), NOT_GRADED_NO_SCORE)
    graded = population & score.notna()

    frame["graded"] = graded
    frame["not_graded_reason"] = reason.where(~graded, None)
    frame["score"] = score.where(graded)
    frame["missing"] = gaps.where(graded, None)
    frame["rank"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame["grade"] = pd.Series(None, index=frame.index, dtype=object)
    frame["what_if_tax_per_mu"] = np.nan
    frame["what_if_grade"] = pd.Series(None, index=frame.index, dtype=object)

    floors: dict[str, float] = {}
    n = int(graded.sum())
    if n:
        s = frame.loc[graded, "score"].round(_RANK_DECIMALS).to_numpy()
        ordered = np.sort(s)
        rank = 1 + (n - np.searchsorted(ordered, s, side="right"))
        grade = _grade_of((rank - 1) / n, list(rules.grade_cutoffs))
        frame.loc[graded, "rank"] = rank
        frame.loc[graded, "grade"] = grade
        floors = {g: float(frame.loc[graded & (frame["grade"] == g), "score"].min())
                  for g in GRADES if (frame["grade"] == g).any()}
        _fill_what_if(frame, floors, usable, rules, pts, wsum)
    return GradeResult(period=str(period), benchmarks=bench, rows=frame, grade_floors=floors)


def _fill_what_if(frame: pd.DataFrame, floors: dict[str, float], usable: dict[str, float], rules: IndustryRules,
                  pts: pd.Series, wsum: pd.Series) -> None:
    """Vectorised `what_if` for every graded B/C/D enterprise."""
    target_grade = {}
    for g, grade in enumerate(GRADES[1:], start=1):
        better = [h for h in GRADES[:g] if h in floors]
        if better:
            target_grade[grade] = better[-1]  # the next better grade that has members
    frame["what_if_grade"] = frame["grade"].map(target_grade).where(frame["graded"], None)
    w_t, b = rules.scored.get("tax_per_mu"), usable.get("tax_per_mu")
    if w_t is None or b is None:
        return
    v = _num(frame, "tax_per_mu")
    term = w_t * (v / b).clip(lower=0.0, upper=rules.cap)
    target = frame["what_if_grade"].map(floors).astype(float)
    needed = target * wsum / 100.0 - (pts - term)  # points the tax indicator must give
    delta = (needed * b / w_t - v).where(needed > term, 0.0)
    ok = target.notna() & v.notna() & (needed <= w_t * rules.cap * (1 + 1e-12))
    frame["what_if_tax_per_mu"] = delta.where(ok)


def what_if(row: Mapping, target_score: float, bench: Mapping[str, float | None], rules: IndustryRules) -> float | None:
    """Increase of tax per mu (万元/亩; others and benchmarks fixed) that lifts the score
    of `row` (its indicator values) to `target_score`; None when the cap makes that
    impossible, or tax per mu / its benchmark / its weight is missing."""
    use = _usable(bench, rules)
    w_t = rules.scored.get("tax_per_mu")
    v = row.get("tax_per_mu")
    if w_t is None or "tax_per_mu" not in use or v is None or pd.isna(v):
        return None
    b = use["tax_per_mu"]
    pts, wsum = 0.0, w_t
    for ind, w in rules.scored.items():
        x = row.get(ind)
        if ind == "tax_per_mu" or ind not in use or x is None or pd.isna(x):
            continue
        pts += w * min(max(float(x) / use[ind], 0.0), rules.cap)
        wsum += w
    needed = target_score * wsum / 100.0 - pts  # points the tax indicator must give
    if needed > w_t * rules.cap * (1 + 1e-12):
        return None
    current = w_t * min(max(float(v) / b, 0.0), rules.cap)
    if needed <= current:
        return 0.0
    return needed * b / w_t - float(v)


def low_efficiency(result: GradeResult, rules: IndustryRules | None = None) -> pd.DataFrame:
    """Graded enterprises of grade D or with tax per mu under the floor (if set),
    lowest tax per mu first, with `low_reason`."""
    rules = rules or IndustryRules()
    rows = result.rows[result.rows["graded"]]
    is_d = rows["grade"] == GRADES[-1]
    floor = rules.low_efficiency_tax_per_mu
    under = rows["tax_per_mu"] < floor if floor is not None else pd.Series(False, index=rows.index)
    out = rows[is_d | under].copy()
    out["low_reason"] = np.select(
        [is_d[out.index] & under[out.index], is_d[out.index]],
        ["grade D; tax per mu below floor", "grade D"], default="tax per mu below floor")
    return out.sort_values(["tax_per_mu", "credit_code"], na_position="first").reset_index(drop=True)


def summary(result: GradeResult) -> dict:
    """Counts per grade, land and tax per mu (Σ tax / Σ land) of the graded population."""
    rows = result.rows
    g = rows[rows["graded"]]
    land = float(_num(g, "land_mu").sum())
    tax = _num(g, "tax")
    return {
        "period": result.period,
        "enterprises": int(len(rows)),
        "graded": int(len(g)),
        "by_grade": {k: int((g["grade"] == k).sum()) for k in GRADES},
        "not_graded": {str(k): int(v) for k, v in rows.loc[~rows["graded"], "not_graded_reason"].value_counts().items()},
        "land_mu_all": float(_num(rows, "land_mu").sum()),
        "land_mu_graded": land,
        "tax_per_mu": float(tax.sum() / land) if land > 0 and tax.notna().any() else None,
    }

"""Query functions of the /industry page (亩均效益): read the `enterprises` dataset through
the query layer, grade a period once per data version (memoized), and cut the result to
the viewer's scope, the chosen area and the filters.

Grading is always city-wide (benchmarks and ranks are over the whole graded population of
the period, as METRICS.md says); scope and filters only choose which rows are shown.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs, urlencode

import numpy as np
import pandas as pd

from dashboard.queries import exports
from dashboard.queries.access import Viewer
from feeds.industry.parse import records_frame
from feeds.industry.poll import DATASET
from metrics.industry import GRADES, INDICATORS, GradeResult, grade_period, low_efficiency, summary

_PERIOD = re.compile(r"^(\d{4})(?:Q([1-4]))?$")
CITY_WIDE = Viewer(user="industry-grading", role="system")


def _build(records: list[dict]) -> pd.DataFrame:
    """Typed canonical columns plus the dataset's id column (`key`)."""
    df = records_frame(records)
    df["key"] = df["credit_code"].astype(str) + ":" + df["period"].astype(str)
    df["feed"] = pd.Series([r.get("feed") for r in records], dtype=object, index=df.index)
    for col in ("lat", "lon"):  # a feed may one day send positions; keep them if it does
        df[col] = pd.to_numeric(pd.Series([r.get(col) for r in records], dtype=object), errors="coerce") \
            if records else pd.Series(dtype=float)
    return df


def enterprises(q) -> pd.DataFrame:
    """Every enterprise record of every period (internal: unscoped)."""
    return q.frame(DATASET, _build)


def data_version(q) -> int:
    return int(q.store.dataset(DATASET).version())


# -- periods ---------------------------------------------------------------------------
def period_key(p: str) -> tuple[int, int]:
    """Chronological order: quarters of a year, then the year itself (a year is complete last)."""
    m = _PERIOD.match(str(p))
    if not m:
        return (0, 0)
    return (int(m.group(1)), int(m.group(2)) if m.group(2) else 5)


def periods(q) -> list[str]:
    """Periods present in the data, latest first."""
    df = enterprises(q)
    return sorted({str(p) for p in df["period"].dropna()}, key=period_key, reverse=True)


def previous_period(period: str, present: list[str]) -> str | None:
    """The period before `period` of the same kind (year → year, quarter → quarter), if present."""
    y, k = period_key(period)
    prev = str(y - 1) if k == 5 else (f"{y}Q{k - 1}" if k > 1 else f"{y - 1}Q4")
    return prev if prev in present else None


# -- grading (memoized per data version) -------------------------------------------------
def _rules_tag(rules) -> str:
    return hashlib.sha1(repr(rules).encode()).hexdigest()[:12]


def _stable_rng(code: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha1(str(code).encode()).hexdigest()[:12], 16))


def place(rows: pd.DataFrame, tree) -> pd.DataFrame:
    """`lat, lon` for each row: its own when given, else a stable point inside its grid
    (seeded by the credit code, so the dot never moves); `placed` False where neither."""
    lat = pd.to_numeric(rows.get("lat"), errors="coerce") if "lat" in rows else pd.Series(np.nan, index=rows.index)
    lon = pd.to_numeric(rows.get("lon"), errors="coerce") if "lon" in rows else pd.Series(np.nan, index=rows.index)
    lat, lon = lat.astype(float).copy(), lon.astype(float).copy()
    if tree is not None:
        for i in rows.index[lat.isna() | lon.isna()]:
            grid = rows.at[i, "grid_code"]
            if not isinstance(grid, str) or grid not in tree:
                continue
            target = next((n.code for n in reversed(tree.path(grid)) if tree.has_shape(n.code)), None)
            if target is None:
                continue
            (la, lo), = tree.sample_points(target, 1, _stable_rng(rows.at[i, "credit_code"]))
            lat[i], lon[i] = la, lo
    out = rows.copy()
    out["lat"], out["lon"] = lat, lon
    out["placed"] = lat.notna() & lon.notna()
    return out


def _with_areas(rows: pd.DataFrame, tree) -> pd.DataFrame:
    out = rows.copy()
    for level in ("district", "street"):
        if tree is not None and level in tree.levels:
            codes = tree.ancestor_at(out["grid_code"], level)
            out[level] = codes
            out[level + "_name"] = codes.map(lambda c: tree.node(c).name if isinstance(c, str) else None)
        else:
            out[level] = out[level + "_name"] = None
    return out


def graded(q, period: str) -> GradeResult:
    """`grade_period` of the whole city for `period`, with area names and map positions;
    computed once per (enterprises version, areas version, rules) across workers."""
    rules = q.settings.industry

    def compute() -> GradeResult:
        tree = q.tree()
        res = grade_period(enterprises(q), period, rules)
        rows = place(_with_areas(res.rows, tree), tree)
        return GradeResult(period=res.period, benchmarks=res.benchmarks, rows=rows, grade_floors=res.grade_floors)
    return q.memo("industry_grade", CITY_WIDE, (period, data_version(q), _rules_tag(rules)), compute)


# -- scope, area and filters ----------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    street: str | None = None
    park: str | None = None
    grade: str | None = None      # "A".."D" or "none" (not graded)
    industry: str | None = None


def scoped(q, viewer: Viewer, rows: pd.DataFrame, node: str | None = None) -> pd.DataFrame:
    """The rows this viewer may see, within area `node` (its subtree) when given."""
    tree = q.tree()
    if rows.empty:
        return rows
    mask = q.scope_mask(viewer, rows["grid_code"])        # the one scope rule (fails closed)
    if tree is not None and node and node in tree and node != tree.root.code:
        mask &= tree.in_subtree(rows["grid_code"], node)
    return rows[mask]


def apply_filters(rows: pd.DataFrame, f: Filters) -> pd.DataFrame:
    mask = pd.Series(True, index=rows.index)
    if f.street:
        mask &= rows["street"] == f.street
    if f.park:
        mask &= rows["park"] == f.park
    if f.grade == "none":
        mask &= ~rows["graded"]
    elif f.grade:
        mask &= rows["grade"] == f.grade
    if f.industry:
        mask &= rows["industry"] == f.industry
    return rows[mask]


def filter_choices(q, viewer: Viewer, period: str | None, node: str | None = None) -> dict[str, list[tuple[str, str]]]:
    """`filter_options` of the rows in scope for (period, node); none when there is no period."""
    if period is None:
        return {"street": [], "park": [], "industry": []}
    return filter_options(scoped(q, viewer, graded(q, period).rows, node))


def filter_options(rows: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """(value, label) choices present in `rows` for each filter."""
    streets = rows.dropna(subset=["street"]).drop_duplicates("street").sort_values("street")
    return {
        "street": [(c, n) for c, n in zip(streets["street"], streets["street_name"])],
        "park": [(p, p) for p in sorted(rows["park"].dropna().unique())],
        "industry": [(p, p) for p in sorted(rows["industry"].dropna().unique())],
    }


# -- the page's URL ------------------------------------------------------------------------------
URL_KEYS = ("node", "period", "street", "park", "grade", "industry", "ent")
FILTER_KEYS = ("street", "park", "grade", "industry")
GRADE_VALUES = (*GRADES, "none")
_MAX_VALUE = 200


def _clean(value) -> str | None:
    """A query value as text; None when absent, blank, too long or holding control characters."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > _MAX_VALUE or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return None
    return value


def parse_search(search: str | None) -> dict[str, str | None]:
    """`?node=&period=&street=&park=&grade=&industry=&ent=` → each key's first value (None
    when absent or malformed). Whether a value exists in the data is checked later."""
    qs = parse_qs((search or "").lstrip("?"))
    return {k: _clean((qs.get(k) or [None])[0]) for k in URL_KEYS}


def filters_from(values: dict) -> Filters:
    """The filters among `values` (a parsed query or the controls): a grade that is not
    A–D or "none" is dropped; street, park and industry are checked by `valid_filters`."""
    f = {k: _clean(values.get(k)) for k in FILTER_KEYS}
    if f["grade"] not in GRADE_VALUES:
        f["grade"] = None
    return Filters(**f)


def with_filter(f: Filters, key: str, value) -> Filters:
    """`f` with one filter set (a control's new value; empty clears it)."""
    return filters_from({**asdict(f), key: value})


def valid_filters(f: Filters, choices: dict[str, list[tuple[str, str]]]) -> Filters:
    """`f` without the values the data does not offer (an old or hand-edited link): such a
    value is ignored — the page shows all for it — never an error."""
    offered = {k: {v for v, _ in choices.get(k, ())} for k in ("street", "park", "industry")}
    return Filters(street=f.street if f.street in offered["street"] else None,
                   park=f.park if f.park in offered["park"] else None,
                   grade=f.grade if f.grade in GRADE_VALUES else None,
                   industry=f.industry if f.industry in offered["industry"] else None)


def format_search(node: str | None = None, period: str | None = None, ent: str | None = None,
                  filters: Filters = Filters()) -> str:
    """The query string of a page state, keys in a stable order (for sharing); "" when empty."""
    pairs = [("node", node), ("period", period)] + [(k, getattr(filters, k)) for k in FILTER_KEYS] + [("ent", ent)]
    qs = {k: v for k, v in pairs if v}
    return "?" + urlencode(qs) if qs else ""


def drill_filters(tree, f: Filters, node: str | None) -> Filters:
    """The filters kept when moving to area `node`: all of them, but the street only when
    it lies on the same branch (inside `node`, or `node` inside it)."""
    if not f.street or not node or tree is None or node not in tree or f.street not in tree:
        return f
    related = node in {n.code for n in tree.path(f.street)} or f.street in {n.code for n in tree.path(node)}
    return f if related else Filters(park=f.park, grade=f.grade, industry=f.industry)


# -- the views ------------------------------------------------------------------------------
def board_summary(q, viewer: Viewer, period: str, node: str | None = None) -> dict:
    """`metrics.industry.summary` over the rows in scope, with the previous period's tax
    per mu (same scope) for comparison."""
    res = graded(q, period)
    now = summary(GradeResult(period, res.benchmarks, scoped(q, viewer, res.rows, node), res.grade_floors))
    prev = previous_period(period, periods(q))
    now["previous_period"] = prev
    now["previous_tax_per_mu"] = None
    if prev:
        pres = graded(q, prev)
        now["previous_tax_per_mu"] = summary(GradeResult(prev, pres.benchmarks,
                                                         scoped(q, viewer, pres.rows, node)))["tax_per_mu"]
    rows = scoped(q, viewer, res.rows, node)
    now["unplaced"] = int((~rows["placed"]).sum()) if "placed" in rows else 0
    g = rows[rows["graded"]]
    now["missing"] = {k: int(v) for k, v in
                      g["missing"].fillna("").str.split(",").explode().loc[lambda s: s != ""].value_counts().items()}
    return now


def by_child_area(q, viewer: Viewer, period: str, node: str) -> list[dict]:
    """One row per child area of `node`: enterprises, graded, per grade, land, tax per mu."""
    tree = q.tree()
    if tree is None or node not in tree:
        return []
    rows = scoped(q, viewer, graded(q, period).rows, node)
    kids = tree.children(node)
    if not kids:
        return []
    level = kids[0].level
    key = tree.ancestor_at(rows["grid_code"], level)
    out = []
    for kid in kids:
        part = rows[key == kid.code]
        if part.empty:
            continue
        s = summary(GradeResult(period, {}, part))
        out.append({"code": kid.code, "name": kid.name, "enterprises": s["enterprises"], "graded": s["graded"],
                    **s["by_grade"], "land_mu": s["land_mu_all"], "tax_per_mu": s["tax_per_mu"]})
    return out


def ranking(q, viewer: Viewer, period: str, node: str | None = None, filters: Filters = Filters()) -> pd.DataFrame:
    """Rows in scope and filters: graded ones by rank, then the not graded ones."""
    rows = apply_filters(scoped(q, viewer, graded(q, period).rows, node), filters)
    return rows.sort_values(["graded", "rank", "credit_code"], ascending=[False, True, True], na_position="last")


def low_efficiency_list(q, viewer: Viewer, period: str, node: str | None = None,
                        filters: Filters = Filters()) -> pd.DataFrame:
    """`metrics.industry.low_efficiency` (grade D or tax per mu under the floor) in scope."""
    res = graded(q, period)
    low = low_efficiency(res, q.settings.industry)
    keep = apply_filters(scoped(q, viewer, res.rows, node), filters)["credit_code"]
    return low[low["credit_code"].isin(keep)].reset_index(drop=True)


def enterprise_history(q, viewer: Viewer, credit_code: str) -> pd.DataFrame:
    """The enterprise's graded row in every period present (oldest first); empty when the
    viewer may not see it or it is unknown."""
    out = []
    for p in sorted(periods(q), key=period_key):
        rows = graded(q, p).rows
        row = scoped(q, viewer, rows[rows["credit_code"] == credit_code])
        if len(row):
            out.append(row.assign(n_graded=int(rows["graded"].sum())))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


# -- the grading as `cityops industry grade --json` gives it (also `/api/v1/industry/grade`) ---------
GRADE_FIELDS = ("credit_code", "name", "graded", "tax_per_mu", "sales_per_mu", "value_added_per_mu",
                "value_added_per_energy", "labour_productivity", "rd_intensity", "score", "rank",
                "grade", "what_if_tax_per_mu")


def plain(v: object) -> object:
    """JSON-ready: NaN/NA/inf -> None, numpy scalars -> Python."""
    if v is None:
        return None
    try:
        if v != v:  # NaN, and pd.NA raises TypeError
            return None
    except TypeError:
        return None
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isinf(v) else v


def grade_json(result: GradeResult, rows: pd.DataFrame, rejects: list[dict], replaced: list) -> dict:
    """`{"period", "benchmarks", "rows", "rejects", "replaced"}`: one row per enterprise of
    `rows` (a cut of `result.rows`) with GRADE_FIELDS, sorted by credit_code."""
    recs = [{k: plain(r[k]) for k in GRADE_FIELDS} for r in rows.sort_values("credit_code").to_dict("records")]
    for rec in recs:
        rec["graded"] = bool(rec["graded"])
    return {"period": result.period, "benchmarks": {k: plain(result.benchmarks.get(k)) for k in INDICATORS},
            "rows": recs, "rejects": rejects, "replaced": replaced}


def grade_report(q, viewer: Viewer, period: str, rejects_limit: int = 200) -> dict:
    """`grade_json` of the console's enterprises for `period` (graded city-wide, the rows in
    the viewer's scope); `rejects`: those the industry feeds keep; `replaced`: always empty
    (the store keeps one record per enterprise and period, the newest)."""
    res = graded(q, period)
    rejects = [r for name, h in sorted(q.feed_health().items()) if h.get("kind") == "industry"
               for r in q.rejects(name, rejects_limit)]
    return grade_json(res, scoped(q, viewer, res.rows), rejects, [])


# -- export ----------------------------------------------------------------------------------
EXPORT_COLUMNS = ("credit_code", "name", "district_name", "street_name", "park", "industry", "period",
                  "land_mu", "tax", "sales", "value_added", "energy_tce", "employees", "rd_spend",
                  "tax_per_mu", "sales_per_mu", "value_added_per_mu", "value_added_per_energy",
                  "labour_productivity", "rd_intensity", "score", "rank", "grade", "missing",
                  "what_if_grade", "what_if_tax_per_mu", "low_reason", "note")
# decimals of each exported number (what the page shows); rd_intensity is exported in per cent
EXPORT_DIGITS = {"land_mu": 2, "tax": 2, "sales": 2, "value_added": 2, "energy_tce": 2, "rd_spend": 2,
                 "tax_per_mu": 2, "sales_per_mu": 2, "value_added_per_mu": 2, "value_added_per_energy": 2,
                 "labour_productivity": 2, "rd_intensity": 2, "score": 1, "what_if_tax_per_mu": 2}


def export_frame(df: pd.DataFrame, headers: dict[str, str] | None = None, missing_words=None,
                 negative_tax_note: str = "") -> pd.DataFrame:
    """The low-efficiency list as exported: its columns in order, numbers rounded as the page
    shows them (never -0.0), R&D intensity in per cent (0.0156 → 1.56), empty cells where a
    value is missing (never a zero). `missing_words` (ids → words) writes the missing inputs
    as the page names them; `negative_tax_note` goes in the note of a row whose tax is
    negative (a refund year), so a negative number is not read as a mistake. The what-if
    columns give the next better grade and the tax per mu it takes."""
    out = df.reindex(columns=list(EXPORT_COLUMNS))
    out["rd_intensity"] = pd.to_numeric(out["rd_intensity"], errors="coerce") * 100
    for col, digits in EXPORT_DIGITS.items():
        v = pd.to_numeric(out[col], errors="coerce").round(digits)
        out[col] = v.where(v != 0, 0.0)            # -0.0 → 0.0
    out["rank"] = out["rank"].astype("Int64")
    if missing_words is not None:
        out["missing"] = out["missing"].map(lambda m: missing_words(m) if isinstance(m, str) and m else "")
    tax = pd.to_numeric(df.reindex(columns=["tax"])["tax"], errors="coerce")
    out["note"] = [negative_tax_note if negative_tax_note and t < 0 else "" for t in tax.fillna(0)]
    return out.rename(columns=headers) if headers else out


def export_bytes(df: pd.DataFrame, fmt: str, headers: dict[str, str] | None = None) -> bytes:
    """The low-efficiency list as CSV (UTF-8 with BOM, for Excel) or XLSX (`dashboard.queries.exports`)."""
    return exports.export_bytes(export_frame(df, headers), fmt, sheet="low-efficiency")


__all__ = ["GRADES", "GRADE_VALUES", "Filters", "enterprises", "periods", "previous_period", "graded", "scoped",
           "apply_filters", "filter_options", "filter_choices", "parse_search", "filters_from", "with_filter",
           "valid_filters", "format_search", "drill_filters", "board_summary", "by_child_area", "ranking",
           "low_efficiency_list", "enterprise_history", "export_frame", "export_bytes", "data_version", "place"]

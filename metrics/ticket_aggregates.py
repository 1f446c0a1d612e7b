"""Ticket metrics from counters kept per (local day, unit): the arithmetic of the aggregates.

A ticket *contributes* to counters: for the populations of METRICS.md that depend on the
window only through one of the ticket's own times (not on `now`), the ticket adds 1 to
(the local day of that time, a unit, the population) for each of its units: every node on
the path from the city down to the node it is placed in (rolled up the area tree, so a
drill reads children x days, not tickets; an unplaced ticket counts for the city only) and
its department. A unit is (level, code): ("street", "150302001000"), ("dept", "城管局"),
("dept", "") for none. Handling times are kept as values, not sums only, so that p90 stays
exact (linear interpolation between ranks, as `metrics.tickets.kpi_table`). The store keeps the counters up to date as
tickets change (old contribution out, new one in); `kpi_rows` turns the counters of a
window's days into the same numbers `kpi_table` computes by scanning every ticket.

Populations kept here (window W of whole local days): received and repeat by created time;
closed and, among closed(W), verdict, resolved_yes, rated (+ satisfied/basic), rated_adjusted
(+ satisfied/basic), returned and handled (with its handling time) by closed time. The
populations that depend on `now` or on deadlines (due, on time, open, overdue, due soon,
response) are not kept here: they still come from the scan.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from metrics.deadlines import utc_ns
from metrics.ticket_rules import TicketRules

_NAT = np.iinfo(np.int64).min
_HOUR_NS = 3_600_000_000_000
_DAY_NS = 86_400_000_000_000

BY_CREATED = ("received", "repeat")
BY_CLOSED = ("closed", "verdict", "resolved_yes", "rated", "rated:satisfied", "rated:basic", "rated_adjusted",
             "rated_adjusted:satisfied", "rated_adjusted:basic", "returned", "handled")
POPULATIONS = BY_CREATED + BY_CLOSED
# the rates whose populations are all kept here: id -> (numerator, denominator)
AGG_RATES = {
    "resolution_rate": ("resolved_yes", "verdict"),
    "satisfaction_rate": (None, "rated"),
    "satisfaction_rate_adjusted": (None, "rated_adjusted"),
    "return_rate": ("returned", "closed"),
    "repeat_rate": ("repeat", "received"),
}
AGG_COUNTS = ("received", "closed", "rated")
AGG_FIELDS = AGG_COUNTS + tuple(AGG_RATES) + ("mean_handling_hours", "p90_handling_hours")
Unit = tuple[str, str]                         # (level, code)
Contribution = tuple[int, str, str, str, int]  # (local day number, level, code, population, amount)


def local_days(s: pd.Series, tz: str) -> np.ndarray:
    """A tz-aware time column -> its local calendar day as days since 1970-01-01 (NaT: iNaT)."""
    out = np.full(len(s), _NAT, dtype=np.int64)
    ok = s.notna().to_numpy()
    if ok.any():
        local = s[ok].dt.tz_convert(tz).dt.tz_localize(None)
        out[ok] = local.to_numpy().astype("datetime64[D]").astype(np.int64)
    return out


def day_number(day) -> int:
    """A date -> days since 1970-01-01."""
    return int(np.datetime64(pd.Timestamp(day).date(), "D").astype(np.int64))


def contributions(df: pd.DataFrame, units: list[list[Unit]], tz: str) -> list[list[Contribution]]:
    """Each ticket's contributions (aligned with the rows of `df`, a `tickets_frame`).

    `units`: each ticket's units (its area path and its department). A ticket marked
    withdrawn upstream (a `withdrawn` column that is true) or without a created time contributes
    nothing. Handling time ("handled") carries the time in microseconds as its amount;
    every other population carries 1.
    """
    n = len(df)
    if n == 0:
        return []
    created_day, closed_day = local_days(df["created_at"], tz), local_days(df["closed_at"], tz)
    status = df["status"].to_numpy(dtype=object)
    closed = (status == "closed") & (closed_day != _NAT)
    resolved = df["resolved"].to_numpy(dtype=object)
    rating = df["rating"].to_numpy(dtype=object)
    excluded = df["rating_excluded"].to_numpy(dtype=bool) if "rating_excluded" in df else np.zeros(n, bool)
    returned = pd.to_numeric(df["return_count"], errors="coerce").fillna(0).to_numpy() >= 1
    repeat = df["repeat_of"].notna().to_numpy() & (df["repeat_of"].astype(object).to_numpy() != "")
    dispatched, closed_ns = utc_ns(df["dispatched_at"]), utc_ns(df["closed_at"])
    handled = closed & (dispatched != _NAT)
    handling_us = np.where(handled, (closed_ns - np.where(handled, dispatched, 0)) // 1000, 0)
    withdrawn = np.zeros(n, dtype=bool)
    if "withdrawn" in df:
        withdrawn = df["withdrawn"].fillna(False).astype(bool).to_numpy()

    out: list[list[Contribution]] = []
    for i in range(n):
        mine: list[Contribution] = []
        if withdrawn[i] or created_day[i] == _NAT:
            out.append(mine)
            continue
        pops_created = ["received"] + (["repeat"] if repeat[i] else [])
        pops_closed: list[tuple[str, int]] = []
        if closed[i]:
            pops_closed.append(("closed", 1))
            if resolved[i] in ("yes", "no"):
                pops_closed.append(("verdict", 1))
            if resolved[i] == "yes":
                pops_closed.append(("resolved_yes", 1))
            if rating[i] in ("satisfied", "basic", "dissatisfied"):
                pops_closed.append(("rated", 1))
                if rating[i] != "dissatisfied":
                    pops_closed.append((f"rated:{rating[i]}", 1))
                if not excluded[i]:
                    pops_closed.append(("rated_adjusted", 1))
                    if rating[i] != "dissatisfied":
                        pops_closed.append((f"rated_adjusted:{rating[i]}", 1))
            if returned[i]:
                pops_closed.append(("returned", 1))
            if handled[i]:
                pops_closed.append(("handled", int(handling_us[i])))
        cd, xd = int(created_day[i]), int(closed_day[i])
        for level, code in units[i]:
            mine += [(cd, level, code, pop, 1) for pop in pops_created]
            mine += [(xd, level, code, pop, amount) for pop, amount in pops_closed]
        out.append(mine)
    return out


def window_days(start, end, tz: str) -> list[int] | None:
    """The local days making up [start, end), or None when the window does not start and
    end at local midnights (the counters answer whole local days only)."""
    t0, t1 = pd.Timestamp(start).tz_convert(tz), pd.Timestamp(end).tz_convert(tz)
    if t0 != t0.normalize() or t1 != t1.normalize():
        return None
    return list(range(day_number(t0), day_number(t1)))


def kpi_rows(counts: dict[tuple[str, str], int], p90_us: dict[str, tuple[int, int] | None], codes: list[str],
             rules: TicketRules | None = None) -> pd.DataFrame:
    """The kept numbers per unit, as `kpi_table` computes them for the same tickets.

    counts: (code, population) -> count over the window's days ("handled_us": the summed
    handling times, microseconds); p90_us: code -> the two handling times p90 interpolates
    between (`p90_ranks` says which), None when nothing was handled; codes: the units, in
    the table's order. Columns: key, AGG_FIELDS and each rate's _num/_den.
    """
    rules = rules or TicketRules()
    rows = []
    for code in codes:
        total = {pop: counts.get((code, pop), 0) for pop in POPULATIONS + ("handled_us",)}
        row: dict = {"key": code, "received": total["received"], "closed": total["closed"], "rated": total["rated"]}
        for rate, (num, den) in AGG_RATES.items():
            n = total[f"{den}:satisfied"] + rules.w_basic * total[f"{den}:basic"] if num is None else total[num]
            d = total[den]
            row[f"{rate}_num"], row[f"{rate}_den"] = n, d
            row[rate] = n / d if d > 0 else np.nan
        handled = total["handled"]
        row["handled"] = handled
        row["mean_handling_hours"] = total["handled_us"] * 1000 / handled / _HOUR_NS if handled else np.nan
        row["p90_handling_hours"] = p90_from(handled, p90_us.get(code))
        rows.append(row)
    return pd.DataFrame(rows)


def p90_ranks(n: int) -> tuple[int, int]:
    """The 0-based ranks (in ascending order) of the two values p90 of n values lies between."""
    h = (n - 1) * 0.9
    lo = int(np.floor(h))
    return lo, min(lo + 1, n - 1)


def p90_from(n: int, values_us: tuple[int, int] | None) -> float:
    """p90 in hours from the values at `p90_ranks(n)` (microseconds): linear interpolation,
    as pandas' quantile computes it."""
    if not n or values_us is None:
        return np.nan
    lo, _ = p90_ranks(n)
    a, b = (v * 1000 / _HOUR_NS for v in values_us)
    frac = (n - 1) * 0.9 - lo
    return float(a + (b - a) * frac) if frac else float(a)


def handling_hours(values_us: Iterable[int]) -> tuple[float, float]:
    """(mean, p90) handling hours of times in microseconds, as kpi_table computes them
    (hours = ns / 3.6e12; p90 by linear interpolation); NaN when there are none."""
    ns = np.asarray(list(values_us), dtype=np.int64) * 1000
    if not len(ns):
        return np.nan, np.nan
    hours = pd.Series(ns / _HOUR_NS)
    by = pd.Series(np.zeros(len(ns), dtype=np.int64))
    return float(hours.groupby(by).mean().iloc[0]), float(hours.groupby(by).quantile(0.9).iloc[0])

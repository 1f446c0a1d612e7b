"""Effective deadlines of tickets, and the step light of open ones (METRICS.md, Deadlines).

`prepare` runs once per data version (the query layer caches its result): it keeps a
source's own `deadline_at`, fills the others from the SLA table — in calendar hours, or in
working days on the official calendar — and adds `response_due_at`. Working-day deadlines
depend only on (local creation date, N), so they are computed once per distinct pair and
mapped back: a million tickets cost a few hundred calendar look-ups.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from metrics.ticket_rules import URGENCIES, TicketRules

DEFAULT_TZ = "Asia/Shanghai"
# low-cardinality text columns that `prepare` turns into pandas categoricals: comparisons
# and group-bys on them cost codes, not strings (values read the same; empty stays NaN)
CATEGORY_COLUMNS: tuple[str, ...] = ("urgency", "status", "rating", "resolved", "department",
                                     "grid_code", "source", "kind", "category")
_HOUR_NS = 3_600_000_000_000
_EPOCH = date(1970, 1, 1)


def utc_ns(s: pd.Series) -> np.ndarray:
    """A tz-aware time column as int64 nanoseconds since the epoch (UTC); NaT → iNaT."""
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{s.name}: expected a tz-aware datetime column, got {s.dtype}")
    arr = s.array
    return (arr if arr.unit == "ns" else arr.as_unit("ns")).asi8


def from_ns(values: np.ndarray, index: pd.Index) -> pd.Series:
    """UTC nanoseconds (iNaT for empty) back to a datetime64[ns, UTC] column."""
    naive = pd.DatetimeIndex(np.asarray(values, dtype=np.int64).view("datetime64[ns]"))
    return pd.Series(naive.tz_localize("UTC"), index=index)


def _sla_arrays(df: pd.DataFrame, rules: TicketRules) -> tuple[np.ndarray, np.ndarray]:
    """Per ticket: the SLA value and whether its unit is working days."""
    n = len(df)
    value = np.zeros(n, dtype=float)
    workdays = np.zeros(n, dtype=bool)
    urg = df["urgency"] if "urgency" in df else pd.Series(None, index=df.index, dtype=object)
    masks = {u: (urg == u).to_numpy(dtype=bool, na_value=False) for u in URGENCIES}
    masks["normal"] = masks["normal"] | ~urg.isin(URGENCIES).to_numpy(dtype=bool, na_value=False)  # empty = normal
    for u, m in masks.items():
        r = getattr(rules.sla, u)
        value[m], workdays[m] = r.value, r.unit == "workdays"
    if rules.sla.categories and "category" in df:
        cat = df["category"]
        for name, override in rules.sla.categories.items():
            in_cat = (cat == name).to_numpy(dtype=bool, na_value=False)
            for u, m in masks.items():
                r = getattr(override, u)
                if r is not None:
                    both = in_cat & m
                    value[both], workdays[both] = r.value, r.unit == "workdays"
    return value, workdays


def _local_midnights_ns(days: np.ndarray, tz: str) -> np.ndarray:
    """Local midnight of each date (days since 1970-01-01) as UTC nanoseconds."""
    naive = pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))
    aware = naive.tz_localize(tz, ambiguous=np.zeros(len(naive), dtype=bool),
                              nonexistent="shift_forward")
    return aware.as_unit("ns").asi8


def prepare(df: pd.DataFrame, rules: TicketRules | None = None, tz: str = DEFAULT_TZ) -> pd.DataFrame:
    """A copy of the ticket frame with effective deadlines.

    The text columns of CATEGORY_COLUMNS become categoricals (same values). Adds or
    replaces: `deadline_at` (the source's value, else the SLA table's),
    `deadline_from_sla` (bool), `deadline_fallback` (bool: a working-day deadline counted
    on the Monday–Friday fallback, for a year the official calendar does not know) and
    `response_due_at` (created_at + response SLA). Call it on the source frame once:
    a second call would take the filled deadlines for the source's own.
    """
    rules = rules or TicketRules()
    out = df.copy(deep=False)
    for col in CATEGORY_COLUMNS:
        if col in out and not isinstance(out[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype("category")
    df = out
    created = utc_ns(df["created_at"])
    has_created = created != np.iinfo(np.int64).min
    source = utc_ns(df["deadline_at"]) if "deadline_at" in df else np.full(len(df), np.iinfo(np.int64).min)
    has_source = source != np.iinfo(np.int64).min

    value, workdays = _sla_arrays(df, rules)
    computed = np.full(len(df), np.iinfo(np.int64).min, dtype=np.int64)
    fallback = np.zeros(len(df), dtype=bool)

    need_hours = has_created & ~has_source & ~workdays
    computed[need_hours] = created[need_hours] + np.round(value[need_hours] * _HOUR_NS).astype(np.int64)

    need_days = has_created & ~has_source & workdays
    if need_days.any():
        local = df["created_at"][need_days].dt.tz_convert(tz).dt.tz_localize(None)
        day = local.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
        nwd = value[need_days].astype(np.int64)
        inverse, pairs = pd.factorize(day * 100_000 + nwd)  # SLA values are <= 10000
        cal = rules.calendar
        dl_days = np.empty(len(pairs), dtype=np.int64)
        dl_fallback = np.empty(len(pairs), dtype=bool)
        for i, key in enumerate(pairs):
            d, n = divmod(int(key), 100_000)
            dl, fb = cal.deadline_after_workdays_ex(date.fromordinal(_EPOCH.toordinal() + d), n)
            dl_days[i], dl_fallback[i] = (dl - _EPOCH).days, fb
        computed[need_days] = _local_midnights_ns(dl_days, tz)[inverse]
        fallback[need_days] = dl_fallback[inverse]

    nat = np.iinfo(np.int64).min
    effective = np.where(has_source, source, computed)
    out["deadline_at"] = from_ns(effective, df.index)
    out["deadline_from_sla"] = ~has_source & (computed != nat)
    out["deadline_fallback"] = fallback
    response = np.where(has_created, created + int(round(rules.response_sla_hours * _HOUR_NS)), nat)
    out["response_due_at"] = from_ns(response, df.index)
    return out


def sla_horizon_days(rules: TicketRules) -> int:
    """An upper bound of the calendar days from a ticket's creation to the deadline the SLA
    table gives it (`prepare`): the longest rule, a working day counted as 7/5 of a calendar
    day, plus a week, two weeks of public holidays for each year spanned, and every extra
    holiday of the settings. Generous on purpose: a reader that skips tickets created
    longer ago than this only loses the ones that cannot count."""
    import math

    sla = rules.sla
    rules_ = [sla.urgent, sla.normal, sla.complex]
    for o in sla.categories.values():
        rules_ += [r for r in (o.urgent, o.normal, o.complex) if r is not None]
    days = 0
    for r in rules_:
        if r.unit == "hours":
            days = max(days, math.ceil(r.value / 24))
        else:
            n = int(r.value)
            days = max(days, math.ceil(n * 7 / 5) + 7 + 14 * (1 + n // 250))
    return days + len(rules.extra_holidays) + 1


def step_light(df: pd.DataFrame, now: pd.Timestamp) -> pd.Series:
    """Per open ticket (at `now`): "green", "yellow" or "red"; None for the others.

    The time limit is created_at → deadline_at: green while less than 80 % of it has
    passed, yellow from 80 % up to and including 100 %, red past 100 % (= overdue).
    A ticket without a deadline gets no light.
    """
    from metrics.tickets import open_mask  # populations live with the rates

    now_ns = _ts_ns(now)
    created, deadline = utc_ns(df["created_at"]), utc_ns(df["deadline_at"])
    nat = np.iinfo(np.int64).min
    ok = open_mask(df, now).to_numpy() & (deadline != nat) & (created != nat)
    limit = (deadline - created).astype(float)
    passed = float(now_ns) - created.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(limit > 0, passed / limit, np.where(now_ns > deadline, np.inf, 1.0))
    light = np.where(now_ns > deadline, "red", np.where(share >= 0.8, "yellow", "green")).astype(object)
    light[~ok] = None
    return pd.Series(light, index=df.index, name="step_light", dtype=object)


def _ts_ns(t) -> int:
    """A tz-aware instant as UTC nanoseconds; a naive one is refused."""
    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        raise ValueError(f"time: expected a timezone-aware instant, got {t!r}")
    return int(ts.as_unit("ns").value)


def overdue_by(df: pd.DataFrame, now) -> pd.Series:
    """How long each overdue ticket (open, deadline_at < now) is past its deadline; NaT else."""
    from metrics.tickets import open_mask

    late = open_mask(df, now).to_numpy() & (utc_ns(df["deadline_at"]) < _ts_ns(now)) \
        & df["deadline_at"].notna().to_numpy()
    gap = pd.Timestamp(now) - df["deadline_at"]
    return gap.where(late).rename("overdue_by")


FALLBACK_NOTICE = {
    "zh": "{years} 年的法定节假日未知：工作日按周一至周五计（另加设置中的节假日），相关时限可能不准。",
    "en": "The official holidays of {years} are unknown: working days count Monday–Friday (plus the "
          "holidays in the settings), so deadlines there may be off.",
}


def fallback_years(df: pd.DataFrame, tz: str = DEFAULT_TZ) -> list[int]:
    """Years the Monday–Friday fallback was used for, among this frame's SLA deadlines.

    Pages show FALLBACK_NOTICE with these years whenever the list is not empty.
    """
    from metrics.workdays import WorkCalendar

    flagged = df["deadline_fallback"].to_numpy(dtype=bool) if "deadline_fallback" in df else None
    if flagged is None or not flagged.any():
        return []
    first = df["created_at"][flagged].dt.tz_convert(tz).dt.year
    last = df["deadline_at"][flagged].dt.tz_convert(tz).dt.year
    spans = pd.DataFrame({"a": first, "b": last}).drop_duplicates()
    years = {y for a, b in spans.itertuples(index=False) for y in range(int(a), int(b) + 1)}
    return sorted(y for y in years if not WorkCalendar.is_known(y))

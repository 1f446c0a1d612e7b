"""Ticket metrics, exactly as METRICS.md defines them ("Ticket populations", "Ticket rates").

Every metric is a numerator population over a denominator population of tickets; both are
boolean masks built once by `populations` (vectorised over the whole frame) so that

- `kpi_table` sums them per group (area node, department, …) in one pass,
- `kpis` gives the same numbers for one group, and
- `members` returns the tickets behind any number, for checking a rate ticket by ticket.

Input: a ticket frame passed through `prepare` (effective `deadline_at`, `response_due_at`).
`now`, `start`, `end` are tz-aware instants; the window is W = [start, end), end <= now.
A rate whose denominator is 0 is None (NaN inside frames), shown "—".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from metrics.deadlines import (DEFAULT_TZ, FALLBACK_NOTICE, _ts_ns, fallback_years, overdue_by, sla_horizon_days,  # noqa: F401
                               prepare, step_light, utc_ns)
from metrics.ticket_groups import group_codes, roll_up, table_records
from metrics.ticket_ranking import rank_units
from metrics.ticket_rules import ScoreWeights, SlaOverride, SlaRule, SlaTable, TicketRules
from metrics.ticket_windows import RATE_FORMULAS, WINDOW_PRESETS, daily_counts, local_day, window  # noqa: F401

__all__ = [
    "COUNT_IDS", "RATE_IDS", "HANDLING_IDS", "METRIC_IDS", "RATES", "RATE_FORMULAS", "WINDOW_PRESETS",
    "TicketRules", "SlaRule", "SlaOverride", "SlaTable", "ScoreWeights",
    "prepare", "populations", "kpi_table", "kpi_table_and_total", "kpis", "members", "open_mask", "step_light",
    "daily_counts", "window", "roll_up", "table_records", "overdue_by", "fallback_years",
    "FALLBACK_NOTICE", "rank_units", "Backlog", "backlog_split", "with_backlog", "local_day",
]

_NAT = np.iinfo(np.int64).min
_HOUR_NS = 3_600_000_000_000
RATINGS = ("satisfied", "basic", "dissatisfied")

COUNT_IDS: tuple[str, ...] = ("received", "closed", "due", "on_time", "open", "overdue",
                              "due_soon", "rated")
# rate id → (numerator population, denominator population)
RATES: dict[str, tuple[str, str]] = {
    "response_rate": ("responded_in_time", "response_settled"),
    "closure_rate": ("due_closed", "due"),
    "on_time_rate": ("on_time", "due"),
    "resolution_rate": ("resolved_yes", "verdict"),
    "satisfaction_rate": ("satisfied_or_basic", "rated"),
    "satisfaction_rate_adjusted": ("satisfied_or_basic_adjusted", "rated_adjusted"),
    "return_rate": ("returned", "closed"),
    "repeat_rate": ("repeat", "received"),
}
RATE_IDS: tuple[str, ...] = tuple(RATES)
HANDLING_IDS: tuple[str, ...] = ("mean_handling_hours", "p90_handling_hours")
METRIC_IDS: tuple[str, ...] = COUNT_IDS + RATE_IDS + HANDLING_IDS + ("score",)
_SCORE_RATES = {"response": "response_rate", "on_time": "on_time_rate",
                "resolution": "resolution_rate", "satisfaction": "satisfaction_rate"}


def _mask(s: pd.Series) -> np.ndarray:
    return s.to_numpy(dtype=bool, na_value=False)


def _is(df: pd.DataFrame, col: str, values: tuple[str, ...], rows: np.ndarray | None = None) -> np.ndarray:
    """Rows whose text column equals one of `values` (NaN: no); categoricals by code."""
    s = df[col]
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        table = np.zeros(len(cats) + 1, dtype=bool)  # the last entry answers code -1 (NaN)
        table[[cats.get_loc(v) for v in values if v in cats]] = True
        codes = s.cat.codes.to_numpy()
        return table[codes if rows is None else codes[rows]]
    if rows is not None:
        s = s.iloc[rows]
    return _mask(s == values[0]) if len(values) == 1 else _mask(s.isin(values))


def _withdrawn(df: pd.DataFrame) -> np.ndarray:
    """Tickets withdrawn upstream (a `withdrawn` flag column; none when absent)."""
    if "withdrawn" not in df:
        return np.zeros(len(df), dtype=bool)
    return _mask(df["withdrawn"])


def _columns(df: pd.DataFrame, rows: np.ndarray | None = None, base_only: bool = False) -> dict[str, np.ndarray]:
    """What the populations read, as arrays (of `rows` only, if given): times in UTC ns
    (NaT = int64 min) and flags. `base_only`: just what `_base` reads."""
    take = (lambda a: a) if rows is None else (lambda a: a[rows])  # noqa: E731
    c = {"created": take(utc_ns(df["created_at"])), "closed_at": take(utc_ns(df["closed_at"])),
         "deadline": take(utc_ns(df["deadline_at"])),
         "cancelled": _is(df, "status", ("cancelled",), rows),
         "status_closed": _is(df, "status", ("closed",), rows),
         "withdrawn": take(_withdrawn(df))}
    if base_only:
        return c
    returns = df["return_count"]
    if returns.dtype.kind not in "iu":
        returns = pd.to_numeric(returns, errors="coerce").fillna(0)
    excluded = df["rating_excluded"] if "rating_excluded" in df else pd.Series(False, index=df.index)
    c.update({
        "dispatched": take(utc_ns(df["dispatched_at"])),
        "first_resp": take(utc_ns(df["first_response_at"])), "resp_due": take(utc_ns(df["response_due_at"])),
        "verdict": _is(df, "resolved", ("yes", "no"), rows), "yes": _is(df, "resolved", ("yes",), rows),
        "satisfied": _is(df, "rating", ("satisfied",), rows), "basic": _is(df, "rating", ("basic",), rows),
        "rating": _is(df, "rating", RATINGS, rows),
        "excluded": take(_mask(excluded)), "returned": take(returns.to_numpy()) >= 1,
    })
    return c


def _check_window(now, start, end) -> tuple[int, int, int]:
    t_now, t0, t1 = _ts_ns(now), _ts_ns(start), _ts_ns(end)
    if not t0 <= t1 <= t_now:
        raise ValueError(f"window: expected start <= end <= now, got {start}, {end}, {now}")
    return t_now, t0, t1


def _base(c: dict[str, np.ndarray], t_now: int, t0: int, t1: int) -> dict[str, np.ndarray]:
    """received(W), closed(W), due(W), open(now): every other population lies in these."""
    created, closed_at, deadline = c["created"], c["closed_at"], c["deadline"]
    kept = ~c["withdrawn"]          # withdrawn upstream: in no population at all
    return {
        "received": kept & (created >= t0) & (created < t1),
        "closed": kept & c["status_closed"] & (closed_at >= t0) & (closed_at < t1),
        "due": kept & (deadline >= t0) & (deadline < t1) & (deadline <= t_now) & ~c["cancelled"],
        "open": kept & (created != _NAT) & (created <= t_now) & ~c["cancelled"]
                & ((closed_at == _NAT) | (closed_at > t_now)),
    }


def _populations(c: dict[str, np.ndarray], t_now: int, t0: int, t1: int,
                 rules: TicketRules) -> dict[str, np.ndarray]:
    has = lambda a: a != _NAT  # noqa: E731 - NaT is the smallest int64: guard every `<`
    closed_at, deadline = c["closed_at"], c["deadline"]
    p = _base(c, t_now, t0, t1)
    p["overdue"] = p["open"] & has(deadline) & (deadline < t_now)
    p["due_soon"] = p["open"] & (deadline >= t_now) & (deadline < t_now + int(rules.warn_hours * _HOUR_NS))

    first_resp, resp_due = c["first_resp"], c["resp_due"]
    p["response_settled"] = p["received"] & (has(first_resp) | (has(resp_due) & (resp_due <= t_now)))
    p["responded_in_time"] = p["response_settled"] & has(first_resp) & has(resp_due) & (first_resp <= resp_due)
    p["due_closed"] = p["due"] & has(closed_at) & (closed_at <= t_now)
    p["on_time"] = p["due"] & has(closed_at) & (closed_at <= deadline)

    p["verdict"] = p["closed"] & c["verdict"]
    p["resolved_yes"] = p["closed"] & c["yes"]
    p["rated"] = p["closed"] & c["rating"]
    p["rated_adjusted"] = p["rated"] & ~c["excluded"]
    for pop in ("rated", "rated_adjusted"):  # satisfaction numerators: n_satisfied + w_basic · n_basic
        p[f"{pop}:satisfied"], p[f"{pop}:basic"] = p[pop] & c["satisfied"], p[pop] & c["basic"]
    p["satisfied_or_basic"] = p["rated:satisfied"] | p["rated:basic"]
    p["satisfied_or_basic_adjusted"] = p["rated_adjusted:satisfied"] | p["rated_adjusted:basic"]
    p["returned"] = p["closed"] & c["returned"]
    p["handled"] = p["closed"] & has(c["dispatched"])
    return p


def _repeat(df: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """repeat_of set, for the given rows only (high-cardinality text: test few rows; a frame
    that carries the flag already, `is_repeat`, is read instead)."""
    if "is_repeat" in df:
        return df["is_repeat"].to_numpy(dtype=bool, na_value=False)[rows]
    s = df["repeat_of"].iloc[rows]
    return _mask(s.notna() & (s != ""))


def can_count_since(df: pd.DataFrame, since) -> np.ndarray:
    """The rows that can count in some window starting at or after `since`, at any `now`
    at or after it: received, closed or due since then, or not closed (open, or never
    closed) and not cancelled; never a withdrawn one. Every population lies in received(W)
    ∪ closed(W) ∪ due(W) ∪ open(now), so any metric of such a window computed on these rows
    alone equals the one on all rows."""
    t = _ts_ns(since)
    c = _columns(df, base_only=True)
    # a cancelled ticket is never open nor due: only its creation can count; a withdrawn one
    # counts nowhere
    never_closed = (c["closed_at"] == _NAT) & ~c["cancelled"]
    return ~c["withdrawn"] & ((c["created"] >= t) | (c["closed_at"] >= t) | never_closed | (c["deadline"] >= t))


def counting_rows(df: pd.DataFrame, now, start, end) -> np.ndarray:
    """The rows that can count anywhere in window [start, end) at `now`: received, closed
    or due in it, or open at `now` (every population lies in these; `kpi_table` computes
    on them alone). Other rows change no number, only which groups exist."""
    t_now, t0, t1 = _check_window(now, start, end)
    base = _base(_columns(df, base_only=True), t_now, t0, t1)
    return base["received"] | base["closed"] | base["due"] | base["open"]


def populations(df: pd.DataFrame, now, start, end, rules: TicketRules | None = None) -> dict[str, np.ndarray]:
    """Every population of METRICS.md as a boolean array over the rows of `df`.

    Keys: the counts of COUNT_IDS, the numerator/denominator names of RATES, "handled"
    (closed(W) with a dispatch time) and "<rated|rated_adjusted>:<satisfied|basic>".
    """
    rules = rules or TicketRules()
    t_now, t0, t1 = _check_window(now, start, end)
    p = _populations(_columns(df), t_now, t0, t1, rules)
    rows = np.flatnonzero(p["received"])
    p["repeat"] = np.zeros(len(df), dtype=bool)
    p["repeat"][rows] = _repeat(df, rows)
    return p


def kpi_table(df: pd.DataFrame, now, start, end, rules: TicketRules | None = None,
              keys: pd.Series | None = None, all_keys: list | None = None) -> pd.DataFrame:
    """One row per group: every count, rate, handling time and the score.

    keys: the group of each ticket (aligned with df; missing = its own group, key None);
        None = one group "all". all_keys: groups to list even without tickets, in this
        order (others follow, sorted; the None group comes last when present).
    Columns: key, the ids of METRIC_IDS (rates NaN when the denominator is 0), and for
    each rate `<id>_num` / `<id>_den` (satisfaction's numerator is the weighted sum).
    """
    return _kpi_table(df, now, start, end, rules, keys, all_keys, False)[0]


def kpi_table_and_total(df: pd.DataFrame, now, start, end, rules: TicketRules | None = None,
                        keys: pd.Series | None = None, all_keys: list | None = None) -> tuple[pd.DataFrame, dict]:
    """`kpi_table` and, from the same pass, `kpis(df, …)`: the metrics of every ticket
    together (the drill's total row), equal to the bit (counts are sums of the groups'
    counts; handling times are taken over all the groups' tickets the way `kpis` does)."""
    table, total = _kpi_table(df, now, start, end, rules, keys, all_keys, True)
    return table, table_records(total)[0]


def _kpi_table(df: pd.DataFrame, now, start, end, rules: TicketRules | None, keys: pd.Series | None,
               all_keys: list | None, with_total: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    rules = rules or TicketRules()
    t_now, t0, t1 = _check_window(now, start, end)
    codes, labels = group_codes(df.index, keys, all_keys)
    n_groups = len(labels) + 1  # the last slot collects missing keys (code -1)
    order = list(range(len(labels))) + ([len(labels)] if (codes < 0).any() else [])

    # only rows in some base population can count anywhere: compute on those alone
    rows = np.flatnonzero(counting_rows(df, now, start, end))
    c = _columns(df, rows)
    p = _populations(c, t_now, t0, t1, rules)
    p["repeat"] = np.zeros(len(rows), dtype=bool)
    p["repeat"][p["received"]] = _repeat(df, rows[p["received"]])
    slot = np.where(codes < 0, len(labels), codes)[rows]

    counted: dict[str, np.ndarray] = {}

    def count(name: str) -> np.ndarray:  # weights, not slot[mask]: no branchy gather
        if name not in counted:          # (received, closed, due, rated: several rates share them)
            n = np.rint(np.bincount(slot, weights=p[name], minlength=n_groups)).astype(np.int64)
            counted[name] = np.append(n, n.sum()) if with_total else n    # the total: one slot more
        return counted[name].copy()

    cols: dict[str, np.ndarray] = {name: count(name) for name in COUNT_IDS}
    for rate, (num, den) in RATES.items():
        if rate.startswith("satisfaction"):
            cols[f"{rate}_num"] = count(f"{den}:satisfied") + rules.w_basic * count(f"{den}:basic")
        else:
            cols[f"{rate}_num"] = count(num)
        cols[f"{rate}_den"] = count(den)
        with np.errstate(divide="ignore", invalid="ignore"):
            cols[rate] = np.where(cols[f"{rate}_den"] > 0, cols[f"{rate}_num"] / cols[f"{rate}_den"], np.nan)
    handled = p["handled"]
    cols["handled"] = count("handled")
    hours = pd.Series((c["closed_at"][handled] - c["dispatched"][handled]) / _HOUR_NS)
    by = pd.Series(slot[handled])
    cols["mean_handling_hours"] = hours.groupby(by).mean().reindex(range(n_groups)).to_numpy()
    cols["p90_handling_hours"] = hours.groupby(by).quantile(0.9).reindex(range(n_groups)).to_numpy()
    if with_total:    # over every handled ticket, grouped as one (as `kpis` computes it: the same bits)
        one = pd.Series(np.zeros(len(hours), dtype=np.int64))
        for name, stat in (("mean_handling_hours", "mean"), ("p90_handling_hours", "quantile")):
            g = hours.groupby(one)
            v = (g.mean() if stat == "mean" else g.quantile(0.9)).reindex([0]).to_numpy()
            cols[name] = np.append(cols[name], v)
    cols["score"] = _score(cols, rules)
    p["volume"] = p["received"] | p["due"]   # the ranking's sample: received(W) ∪ due(W)
    cols["volume"] = count("volume")

    extra = [c for c in cols if c not in METRIC_IDS]
    table = pd.DataFrame({c: cols[c] for c in list(METRIC_IDS) + extra})
    table.insert(0, "key", pd.Series(list(labels) + [None] + (["all"] if with_total else []), dtype=object))
    total = table.iloc[[n_groups]].reset_index(drop=True) if with_total else None
    return table.iloc[order].reset_index(drop=True), total


def _score(cols: dict[str, np.ndarray], rules: TicketRules) -> np.ndarray:
    """100 · Σ wᵢ·rateᵢ / Σ wᵢ over the rates that are not null (NaN when none is)."""
    w: ScoreWeights = rules.weights
    num = np.zeros_like(cols["received"], dtype=float)
    den = np.zeros_like(num)
    for name, rate in _SCORE_RATES.items():
        if name == "satisfaction" and rules.score_satisfaction == "adjusted":
            rate = "satisfaction_rate_adjusted"
        r, wi = cols[rate], getattr(w, name)
        ok = ~np.isnan(r)
        num += np.where(ok, wi * np.nan_to_num(r), 0.0)
        den += np.where(ok, wi, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 100.0 * num / den, np.nan)


def kpis(df: pd.DataFrame, now, start, end, rules: TicketRules | None = None) -> dict:
    """Every metric of one group (the whole frame), rates None when undefined."""
    return table_records(kpi_table(df, now, start, end, rules))[0]


def members(df: pd.DataFrame, metric: str, part: str, now, start, end,
            rules: TicketRules | None = None) -> pd.Series:
    """The tickets behind a number: part "numerator" or "denominator" of a rate.

    For a count both parts are the counted tickets; for the handling times both are the
    tickets of closed(W) with a dispatch time. Satisfaction's numerator lists the
    satisfied and basic ratings (basic ones weigh w_basic).
    """
    if part not in ("numerator", "denominator"):
        raise ValueError(f"part: expected 'numerator' or 'denominator', got {part!r}")
    p = populations(df, now, start, end, rules)
    if metric in RATES:
        name = RATES[metric][0 if part == "numerator" else 1]
    elif metric in COUNT_IDS:
        name = metric
    elif metric in HANDLING_IDS:
        name = "handled"
    else:
        raise ValueError(f"metric: expected one of {', '.join(METRIC_IDS[:-1])}, got {metric!r}")
    return pd.Series(p[name], index=df.index, name=f"{metric}:{part}")


def open_mask(df: pd.DataFrame, now) -> pd.Series:
    """open(now): created by now, not cancelled, not closed by now."""
    t = _ts_ns(now)
    created, closed_at = utc_ns(df["created_at"]), utc_ns(df["closed_at"])
    ok = (created != _NAT) & (created <= t) & ~_is(df, "status", ("cancelled",)) \
        & ((closed_at == _NAT) | (closed_at > t)) & ~_withdrawn(df)
    return pd.Series(ok, index=df.index, name="open")


# -- the open backlog of a day --------------------------------------------------------------
# On the wall, today's numbers are recomputed every few seconds, and most of the tickets
# that can count today are old open ones (a city's backlog: a few per cent of a year). For
# such a ticket nothing but the clock changes its populations during the day, and the clock
# only moves it into "due soon", so the day's numbers are those of the other rows plus a few
# counts kept from the backlog.

@dataclass(frozen=True)
class Backlog:
    """The backlog of one local day [day_start, day_end): tickets created before the day,
    never closed, not cancelled, not withdrawn, not due during the day. At every `now` of
    the day each is open(now), in no other population of any window starting that day,
    overdue exactly when due before the day, and due soon when due within the warning time."""
    overdue: np.ndarray         # per backlog row (in row order): due before day_start
    later: np.ndarray           # deadlines at or after day_end (UTC ns), sorted
    day_start: int
    day_end: int

    @property
    def n(self) -> int:
        return len(self.overdue)

    @property
    def n_overdue(self) -> int:
        return int(self.overdue.sum())

    def due_soon(self, now, warn_hours: float) -> int:
        t = _ts_ns(now)
        if not self.day_start <= t < self.day_end:
            raise ValueError(f"now: expected an instant of the backlog's day, got {now}")
        hi = t + int(warn_hours * _HOUR_NS)
        return int(np.searchsorted(self.later, hi, side="left") - np.searchsorted(self.later, t, side="left"))


def backlog_split(df: pd.DataFrame, day_start, day_end) -> tuple[np.ndarray, Backlog]:
    """Rows of `df` in the backlog of the day [day_start, day_end) (see `Backlog`), and the
    backlog's counts. For any window starting at or after day_start and any `now` before
    day_end, `with_backlog(kpis(df[~rows], …), backlog, …)` equals `kpis(df, …)`."""
    t0, t1 = _ts_ns(day_start), _ts_ns(day_end)
    if not t0 < t1:
        raise ValueError(f"day: expected day_start < day_end, got {day_start}, {day_end}")
    c = _columns(df, base_only=True)
    created, deadline = c["created"], c["deadline"]
    rows = ((created != _NAT) & (created < t0) & (c["closed_at"] == _NAT) & ~c["cancelled"] & ~c["withdrawn"]
            & ~((deadline >= t0) & (deadline < t1)))       # (NaT, the smallest int64, is before t0)
    d = deadline[rows]
    overdue = (d != _NAT) & (d < t0)
    return rows, Backlog(overdue=overdue, later=np.sort(d[d >= t1]), day_start=t0, day_end=t1)


def with_backlog(numbers: dict, backlog: Backlog, now, rules: TicketRules | None = None) -> dict:
    """`kpis` of the rows outside the backlog (a window of the backlog's day, at `now`)
    with the backlog added: it is in open, overdue and due soon only, which are in no rate
    and no score."""
    rules = rules or TicketRules()
    out = dict(numbers)
    out["open"] += backlog.n
    out["overdue"] += backlog.n_overdue
    out["due_soon"] += backlog.due_soon(now, rules.warn_hours)
    return out

"""The ticket model: each local day's tickets, with their whole life drawn at creation.

A day's tickets depend only on (seed, date): three random streams are derived from them
(attributes, repeat links, life cycle), so the set for any day is the same whichever day
the simulator started. A ticket's life is a row of event times (epoch seconds, `NEVER`
for steps it never reaches), in slot order; its state at any instant is the last slot
reached (see `model.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from . import catalog as cat
from .names import fake_names, fake_phones
from .places import Grid, PointSampler
from .workdays import deadlines, is_holiday, local_midnight

NEVER = np.int64(2**62)
# Event slots: (name, status reached at that event)
SLOTS: tuple[tuple[str, str], ...] = (
    ("created", "reported"), ("registered", "registered"), ("dispatched", "dispatched"),
    ("responded", "handling"), ("returned1", "registered"), ("redispatched1", "dispatched"),
    ("returned2", "registered"), ("redispatched2", "dispatched"),
    ("handling", "handling"), ("verifying", "verifying"), ("closed", "closed"),
    ("rated", "closed"), ("cancelled", "cancelled"),
)
S = {name: i for i, (name, _) in enumerate(SLOTS)}
TICKETS_PER_DAY = 1650.0
REPEAT_LOOKBACK_DAYS = 14


@dataclass
class CityContext:
    """Everything about the city that day generation needs, fixed at construction."""

    seed: int
    grids: list[Grid]
    per_day: float = TICKETS_PER_DAY
    sampler: PointSampler = field(init=False)
    departments: list[str] = field(init=False)  # index space of department columns
    office_of_grid: np.ndarray = field(init=False)  # department index of the grid's street office
    late_of_grid: np.ndarray = field(init=False)  # late factor of the grid's street
    grid_p: np.ndarray = field(init=False)
    staff_name: np.ndarray = field(init=False)  # one patrol staff member per grid
    staff_phone: np.ndarray = field(init=False)
    retired_codes: np.ndarray = field(init=False)  # per grid: a code the area tree does not know

    def __post_init__(self) -> None:
        self.sampler = PointSampler(self.grids)
        w = np.array([max(g.weight, 0.0) for g in self.grids], dtype=float)
        self.grid_p = w / w.sum()
        streets = sorted({g.street for g in self.grids})
        self.departments = [*cat.DEPARTMENTS, cat.HOTLINE_CENTRE,
                            *(f"{s}办事处" if s else cat.STREET_OFFICE for s in streets)]
        base = len(cat.DEPARTMENTS) + 1
        self.office_of_grid = np.array([base + streets.index(g.street) for g in self.grids])
        rng = np.random.default_rng([self.seed, 0xA5])
        slow = set(rng.choice(streets, size=max(1, len(streets) // 8), replace=False))
        self.late_of_grid = np.array([3.0 if g.street in slow else 1.0 for g in self.grids])
        self.staff_name, self.staff_phone = fake_names(rng, len(self.grids)), fake_phones(rng, len(self.grids))
        known = {g.code for g in self.grids}
        self.retired_codes = np.array([g.code + "9" if g.code + "9" not in known else g.code + "-X"
                                       for g in self.grids], dtype=object)


def _rng(ctx: CityContext, day: date, stream: int) -> np.random.Generator:
    return np.random.default_rng([ctx.seed, day.toordinal(), stream])


def _lognormal(rng: np.random.Generator, median_s: float, sigma: float, n: int) -> np.ndarray:
    return median_s * np.exp(sigma * rng.standard_normal(n))


def day_volume_factor(day: date) -> float:
    if is_holiday(day):
        return 0.72
    return 0.80 if day.weekday() >= 5 else 1.08


def draw_attributes(ctx: CityContext, day: date) -> dict[str, np.ndarray]:
    """What a day's tickets are about, where and when they start (no links, no life)."""
    rng = _rng(ctx, day, 1)
    n = int(rng.poisson(ctx.per_day * day_volume_factor(day)))
    src = rng.choice(len(cat.SOURCES), size=n, p=cat.SOURCE_SHARES)
    hours, catg = np.empty(n, int), np.empty(n, int)
    heating = cat.is_heating_season(day.month, day.day)
    for s, name in enumerate(cat.SOURCES):
        m = src == s
        hours[m] = rng.choice(24, size=m.sum(), p=cat.hourly_probs(name))
        catg[m] = rng.choice(len(cat.CATEGORIES), size=m.sum(), p=cat.category_weights(name, heating))
    created = local_midnight(day) + hours * 3600 + rng.integers(0, 3600, n)
    order = np.argsort(created, kind="stable")
    src, catg, created = src[order], catg[order], created[order]
    # scaled so that the whole mix is ~3 % urgent, ~12 % complex
    p_urg = 1.85 * np.array([c.p_urgent for c in cat.CATEGORIES])[catg]
    p_cpx = 1.55 * np.array([c.p_complex for c in cat.CATEGORIES])[catg]
    u = rng.random(n)
    urgency = np.where(u < p_urg, 0, np.where(u < p_urg + p_cpx, 2, 1))
    grid = rng.choice(len(ctx.grids), size=n, p=ctx.grid_p)
    lon, lat = ctx.sampler.sample(rng, grid)
    patrol = src == cat.SOURCES.index("patrol")
    name = np.where(patrol, ctx.staff_name[grid], fake_names(rng, n))
    phone = np.where(patrol, ctx.staff_phone[grid], fake_phones(rng, n))
    place = rng.random(n)  # < 0.02: no grid code (placed by polygon); < 0.023: unknown code
    repeat = (~patrol) & (rng.random(n) < 0.082)
    ids = np.char.add(f"WH{day:%Y%m%d}-", np.char.zfill(np.arange(1, n + 1).astype(str), 5))
    return {"ticket_id": ids.astype(object), "source": src, "category": catg, "urgency": urgency,
            "grid": grid, "lon": lon, "lat": lat, "caller_name": name, "caller_phone": phone,
            "place_draw": place, "is_repeat": repeat, "created": created.astype(np.int64)}


def link_repeats(ctx: CityContext, day: date, a: dict[str, np.ndarray],
                 previous: list[dict[str, np.ndarray]]) -> np.ndarray:
    """Turn the day's repeat-flagged tickets into copies of earlier complaints, in place.

    `previous[k]` holds the attributes of day `day - (k+1)`. Originals are non-repeat,
    non-patrol tickets of class 求助 or 投诉举报; recent days are likelier. Returns repeat_of.
    """
    rng = _rng(ctx, day, 2)
    repeat_of = np.full(len(a["created"]), None, dtype=object)
    rows = np.flatnonzero(a["is_repeat"])
    klass = np.array([c.klass for c in cat.CATEGORIES])
    pools, weights = [], []
    for k, p in enumerate(previous):
        ok = ~p["is_repeat"] & (p["source"] != cat.SOURCES.index("patrol")) & \
            np.isin(klass[p["category"]], ["求助", "投诉举报"])
        pools.append((p, np.flatnonzero(ok)))
        weights.append(0.8 ** k * ok.sum())
    if not len(rows) or sum(weights) == 0:
        return repeat_of
    w = np.array(weights, dtype=float)
    which = rng.choice(len(pools), size=len(rows), p=w / w.sum())
    for k, (p, idx) in enumerate(pools):
        mine = rows[which == k]
        if not len(mine):
            continue
        orig = idx[rng.integers(0, len(idx), len(mine))]
        for col in ("category", "urgency", "grid", "lon", "lat", "caller_name", "caller_phone"):
            a[col][mine] = p[col][orig]
        repeat_of[mine] = p["ticket_id"][orig]
    return repeat_of


def draw_life(ctx: CityContext, day: date, a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every step's time, the deadline, the departments and the callback verdict."""
    rng = _rng(ctx, day, 3)
    n = len(a["created"])
    created, urg, src = a["created"], a["urgency"], a["source"]
    c = cat.CATEGORIES
    urgent = urg == 0
    hotline, patrol = src == 0, src == 1
    direct = hotline & (np.array([x.klass == "咨询" for x in c])[a["category"]]) & (rng.random(n) < 0.75)
    ev = np.full((n, len(SLOTS)), NEVER, dtype=np.int64)
    ev[:, S["created"]] = created
    reg = created + np.where(patrol, _lognormal(rng, 60, 0.5, n),
                             np.where(hotline, _lognormal(rng, 180, 0.6, n), _lognormal(rng, 900, 0.7, n)))
    reg = np.where(urgent, np.minimum(reg, created + 120), reg)
    disp = reg + np.where(urgent, _lognormal(rng, 180, 0.5, n), _lognormal(rng, 600, 0.6, n))
    # first response (签收/联系诉求人): the department starts handling, or pushes the ticket back
    resp = disp + np.where(urgent, _lognormal(rng, 300, 0.5, n), _lognormal(rng, 1200, 0.7, n))
    r = rng.random(n)
    n_ret = np.where(direct, 0, np.where(r < 0.012, 2, np.where(r < 0.075, 1, 0)))
    step = np.where(urgent, 1200, 4 * 3600)
    r1 = resp + step * np.exp(0.7 * rng.standard_normal(n))
    d1 = r1 + step / 4 * np.exp(0.6 * rng.standard_normal(n))
    r2 = d1 + step * np.exp(0.7 * rng.standard_normal(n))
    d2 = r2 + step / 4 * np.exp(0.6 * rng.standard_normal(n))
    last = np.select([n_ret == 2, n_ret == 1], [d2, d1], disp)
    handling = last + np.where(urgent, _lognormal(rng, 300, 0.5, n), _lognormal(rng, 1200, 0.7, n))
    work = np.where(n_ret > 0, handling, resp)  # when the work that closes the ticket starts
    deadline = deadlines(created, urg, day)
    # closing late: a base rate scaled by department, street and trouble on the way
    dep_final = np.array([-1 if x.department == cat.STREET_OFFICE
                          else ctx.departments.index(x.department) for x in c])[a["category"]]
    dep_final = np.where(dep_final < 0, ctx.office_of_grid[a["grid"]], dep_final)
    dep_final = np.where(direct, ctx.departments.index(cat.HOTLINE_CENTRE), dep_final)
    dfac = np.array([cat.LATE_FACTOR.get(d, 1.0) for d in ctx.departments])[dep_final]
    p_late = 0.011 * dfac * ctx.late_of_grid[a["grid"]] * np.where(n_ret > 0, 2.5, 1.0) \
        * np.where(urgent, 1.5, 1.0)
    avail = deadline - work
    late = ~direct & ((rng.random(n) < np.minimum(p_late, 0.5)) | (avail < 600))
    frac = np.where(urgent, rng.beta(2.0, 2.0, n) * 0.95, rng.beta(1.2, 3.0, n) * 0.98)
    on_time = work + np.maximum(avail * frac, 300)
    lateness = np.where(urgent, rng.exponential(3 * 3600, n) + 300, rng.exponential(2.5 * 86400, n) + 3600)
    lateness += np.where(rng.random(n) < 0.06, rng.uniform(10, 45, n) * 86400, 0)
    closed = np.where(late, np.maximum(deadline + lateness, work + 300), on_time)
    verify = work + (closed - work) * rng.uniform(0.75, 0.97, n)
    for slot, t in (("registered", reg), ("dispatched", disp), ("responded", resp),
                    ("verifying", verify), ("closed", closed)):
        ev[:, S[slot]] = t.astype(np.int64)
    for slot, t, k in (("returned1", r1, 1), ("redispatched1", d1, 1),
                       ("returned2", r2, 2), ("redispatched2", d2, 2), ("handling", handling, 1)):
        ev[:, S[slot]] = np.where(n_ret >= k, t.astype(np.int64), NEVER)
    direct_close = (reg + _lognormal(rng, 360, 0.5, n)).astype(np.int64)
    for slot in ("dispatched", "handling", "verifying"):
        ev[direct, S[slot]] = NEVER
    ev[direct, S["responded"]] = direct_close[direct]  # answered on the phone
    ev[direct, S["closed"]] = direct_close[direct]
    # the callback after closing: a rating from the citizen, and whether it was resolved
    rated = ~patrol & (rng.random(n) < np.where(direct, 0.5, 0.65))
    t_rate = ev[:, S["closed"]] + np.where(direct, _lognormal(rng, 7200, 0.5, n), _lognormal(rng, 64800, 0.6, n))
    ev[:, S["rated"]] = np.where(rated, t_rate.astype(np.int64), NEVER)
    unresolved = rated & (rng.random(n) < 0.02 + 0.10 * late)
    p_dis = 0.008 + 0.20 * late + 0.10 * (n_ret > 0) + 0.45 * unresolved
    u = rng.random(n)
    rating = np.where(~rated, 0, np.where(u < p_dis, 3, np.where(u < p_dis + 0.045, 2, 1)))
    excluded = (rating == 3) & (rng.random(n) < 0.3)
    resolved = np.where(~rated, 0, np.where(unresolved, 2, 1))
    # a few are cancelled (duplicates, withdrawn) before they close
    t_c = (reg + rng.uniform(600, 2 * 86400, n)).astype(np.int64)
    cancel = ~direct & (rng.random(n) < 0.008) & (t_c < ev[:, S["closed"]])
    ev[cancel] = np.where(ev[cancel] > t_c[cancel, None], NEVER, ev[cancel])
    ev[cancel, S["cancelled"]] = t_c[cancel]
    dep_first = dep_final.copy()
    wrong = rng.integers(0, len(cat.DEPARTMENTS), n)
    ret = n_ret > 0
    dep_first[ret] = np.where(wrong[ret] == dep_final[ret], (wrong[ret] + 1) % len(cat.DEPARTMENTS), wrong[ret])
    given = np.where(src == 2, True, np.where(patrol, rng.random(n) < 0.6, rng.random(n) < 0.1))
    return {"events": ev, "deadline": deadline, "deadline_given": given, "late": late,
            "dep_first": dep_first, "dep_final": dep_final, "direct": direct,
            "rating": rating, "rating_excluded": excluded, "resolved": resolved}


def previous_days(day: date) -> list[date]:
    return [day - timedelta(days=k) for k in range(1, REPEAT_LOOKBACK_DAYS + 1)]

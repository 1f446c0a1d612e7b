"""Deadlines of simulated tickets, by the console's default SLA (`shared/METRICS.md`).

urgent: 2 calendar hours; normal: 5 working days; complex: 15 working days. "N working
days" ends at local midnight after the N-th working day that follows the day of creation,
on the official Chinese calendar (`chinese_calendar`); for a year the package does not
know (it stops at 2026) the simulator falls back to Monday–Friday, as the console does.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

try:  # the package is a dependency of the console, but the simulator must not need it
    import chinese_calendar
except ImportError:  # pragma: no cover
    chinese_calendar = None

TZ = ZoneInfo("Asia/Shanghai")
URGENT_HOURS = 2
WORKDAYS = {"normal": 5, "complex": 15}


@lru_cache(maxsize=4096)
def is_workday(d: date) -> bool:
    """Official working day; Monday–Friday for years the calendar does not know."""
    if chinese_calendar is not None:
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            pass
    return d.weekday() < 5


@lru_cache(maxsize=4096)
def is_holiday(d: date) -> bool:
    """A rest day that is not a plain weekend (public holiday), for intake volume."""
    return not is_workday(d) and d.weekday() < 5


@lru_cache(maxsize=8192)
def workday_deadline(created: date, n: int) -> int:
    """Epoch seconds of local midnight after the n-th working day following `created`."""
    d, left = created, n
    while left > 0:
        d += timedelta(days=1)
        if is_workday(d):
            left -= 1
    return int(datetime.combine(d + timedelta(days=1), time(), TZ).timestamp())


def local_midnight(d: date) -> int:
    return int(datetime.combine(d, time(), TZ).timestamp())


def deadlines(created: np.ndarray, urgency: np.ndarray, day: date) -> np.ndarray:
    """Deadline (epoch s) of tickets all created on local `day`; urgency codes 0/1/2."""
    out = created + URGENT_HOURS * 3600
    out = np.where(urgency == 1, workday_deadline(day, WORKDAYS["normal"]), out)
    out = np.where(urgency == 2, workday_deadline(day, WORKDAYS["complex"]), out)
    return out.astype(np.int64)

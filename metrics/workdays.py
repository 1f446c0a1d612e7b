"""Working days (工作日) on the official Chinese calendar, with a visible fallback.

The official calendar (public holidays and the make-up working weekends, 调休) comes
from the `chinesecalendar` package, which knows a fixed range of years (1.11: 2004–2026).
For a year it does not know, a day is a working day when it is Monday–Friday — and the
console says so: the calendar remembers every such year it used (`fallback_years_used`),
and `deadline_after_workdays_ex` tells per deadline whether the fallback was involved.
It never raises on an unknown year.

Days listed in the settings override both sources: `extra_holidays` are never working
days, `extra_workdays` always are (a local holiday, or a make-up day the package lacks).

Pure: dates in, dates out; no clock.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable

import chinese_calendar

_MAX_SCAN_DAYS = 3660  # a deadline more than ten years away is a settings error


def _probe_known_years() -> frozenset[int]:
    """Years the installed chinesecalendar covers (it raises NotImplementedError beyond)."""
    known = set()
    for year in range(1990, 2100):
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            continue
        known.add(year)
    return frozenset(known)


_KNOWN_YEARS = _probe_known_years()


class WorkCalendar:
    """Which local dates are working days; deadlines counted in working days."""

    def __init__(self, extra_holidays: Iterable[date] = (),
                 extra_workdays: Iterable[date] = ()) -> None:
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        both = self.extra_holidays & self.extra_workdays
        if both:
            raise ValueError(f"extra_workdays: expected no day that is also an extra holiday, "
                             f"got {sorted(d.isoformat() for d in both)}")
        self._cache: dict[date, bool] = {}
        self._fallback: set[int] = set()

    # --- which years the official calendar covers -----------------------------------
    @staticmethod
    def known_years() -> range:
        """The years the official calendar covers (a contiguous range)."""
        return range(min(_KNOWN_YEARS), max(_KNOWN_YEARS) + 1) if _KNOWN_YEARS else range(0)

    @staticmethod
    def is_known(year: int) -> bool:
        return year in _KNOWN_YEARS

    @property
    def fallback_years_used(self) -> list[int]:
        """Years for which this calendar has answered with the Monday–Friday fallback."""
        return sorted(self._fallback)

    # --- single days -------------------------------------------------------------------
    def is_workday(self, d: date) -> bool:
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if d in self.extra_workdays:
            result = True
        elif d in self.extra_holidays:
            result = False
        elif d.year in _KNOWN_YEARS:
            result = bool(chinese_calendar.is_workday(d))
        else:
            self._fallback.add(d.year)
            result = d.weekday() < 5
        self._cache[d] = result
        return result

    # --- deadlines ---------------------------------------------------------------------
    def deadline_after_workdays_ex(self, created: date, n: int) -> tuple[date, bool]:
        """(deadline date, whether an unknown year's fallback was used on the way).

        "N working days" ends at local midnight after the N-th working day that follows
        the day of creation; the returned date is the one at whose local midnight (00:00)
        the deadline falls. N = 0 means the end of the day of creation.
        """
        if n < 0:
            raise ValueError(f"n: expected a number of working days >= 0, got {n}")
        fallback = created.year not in _KNOWN_YEARS
        d, left = created, n
        for _ in range(_MAX_SCAN_DAYS):
            if left == 0:
                return d + timedelta(days=1), fallback
            d += timedelta(days=1)
            fallback = fallback or d.year not in _KNOWN_YEARS
            if self.is_workday(d):
                left -= 1
        raise ValueError(f"n: no {n} working days within {_MAX_SCAN_DAYS} days after "
                         f"{created.isoformat()} (check extra_holidays)")

    def deadline_after_workdays(self, created_local_date: date, n: int) -> date:
        """The local date at whose midnight an N-working-day deadline falls.

        Created Friday 2026-11-20, N = 1 → 2026-11-24 (Monday 23rd is the first working
        day after the day of creation; the deadline is the midnight that ends it).
        """
        return self.deadline_after_workdays_ex(created_local_date, n)[0]

"""The simulated city: days of tickets generated lazily and cached, and their state now.

`SimulatedCity.view(now)` answers "what does every ticket look like at this instant": the
tickets created in [history start, now], each at the last step it has reached by `now`,
with `updated_at` the time of that step. The same seed and clock give the same answer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable

import numpy as np

from . import tickets as tk
from .places import Grid
from .workdays import TZ, local_midnight

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(TZ)


def accelerated_clock(start: datetime, factor: float, real: Clock = system_clock) -> Clock:
    """A clock that starts at `start` and runs `factor` times faster than `real`."""
    if start.tzinfo is None:
        raise ValueError("start: expected an aware datetime")
    t0 = real()
    return lambda: start + (real() - t0) * factor


@dataclass(frozen=True)
class View:
    """The tickets alive at `now` (row indices into the table) and their current step."""

    now: int  # epoch seconds
    rows: np.ndarray  # indices into the table, in table order (by created)
    slot: np.ndarray  # index of the last event reached, per row
    updated: np.ndarray  # epoch seconds of that event, per row


class SimulatedCity:
    """Seeded ticket generator for one city; thread-safe, days cached once generated."""

    def __init__(self, grids: list[Grid], seed: int = 2024, clock: Clock = system_clock,
                 history_days: int = 90, per_day: float = tk.TICKETS_PER_DAY) -> None:
        if not grids:
            raise ValueError("grids: expected at least one grid")
        self.ctx = tk.CityContext(seed, list(grids), per_day)
        self.clock = clock
        start = self._now_dt()
        self.first_day: date = start.date() - timedelta(days=history_days)
        self.history_start = local_midnight(self.first_day)
        self._attrs: dict[date, dict[str, np.ndarray]] = {}
        self._days: dict[date, dict[str, np.ndarray]] = {}
        self._table: dict[str, np.ndarray] | None = None
        self._table_last: date | None = None
        self._lock = threading.RLock()

    def _now_dt(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("clock: expected an aware datetime")
        return now.astimezone(TZ)

    def now(self) -> datetime:
        return self._now_dt()

    def attributes(self, day: date) -> dict[str, np.ndarray]:
        with self._lock:
            if day not in self._attrs:
                self._attrs[day] = tk.draw_attributes(self.ctx, day)
            return self._attrs[day]

    def day(self, day: date) -> dict[str, np.ndarray]:
        """All columns of one local day's tickets (attributes, links and life)."""
        with self._lock:
            if day not in self._days:
                a = {k: v.copy() for k, v in self.attributes(day).items()}
                prev = [self.attributes(d) for d in tk.previous_days(day)]
                a["repeat_of"] = tk.link_repeats(self.ctx, day, a, prev)
                a.update(tk.draw_life(self.ctx, day, a))
                self._days[day] = a
            return self._days[day]

    def table(self, last_day: date) -> dict[str, np.ndarray]:
        """Columns of every ticket from the first history day to `last_day`, by created."""
        with self._lock:
            if self._table is None or self._table_last is None or last_day > self._table_last:
                n_days = (last_day - self.first_day).days + 1
                days = [self.day(self.first_day + timedelta(days=k)) for k in range(max(n_days, 1))]
                self._table = {k: np.concatenate([d[k] for d in days]) for k in days[0]}
                # rows are in ticket_id order (by day, then by creation): keep the ids
                # as a sorted string array for cursor look-ups
                self._table["id_sorted"] = self._table["ticket_id"].astype(str)
                self._table_last = last_day
            return self._table

    def view(self, now: datetime | None = None) -> tuple[dict[str, np.ndarray], View]:
        """The table and the state of its tickets at `now` (default: the clock)."""
        now_dt = (now or self._now_dt()).astimezone(TZ)
        now_s = int(now_dt.timestamp())
        table = self.table(max(now_dt.date(), self.first_day))
        ev = table["events"]
        created = ev[:, 0]
        rows = np.flatnonzero((created <= now_s) & (created >= self.history_start))
        sub = ev[rows]
        reached = sub <= now_s
        slot = sub.shape[1] - 1 - np.argmax(reached[:, ::-1], axis=1)
        updated = sub[np.arange(len(rows)), slot]
        return table, View(now_s, rows, slot, updated)

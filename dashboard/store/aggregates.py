"""The ticket aggregates: counters per (local day, grid | department), kept at ingest.

The poller writes tickets through `TicketAggregates.upsert`: each record's contribution
(`metrics.ticket_aggregates.contributions`, on the placed grid of the current area tree)
goes into the store's upsert script, which takes the old version's contribution out and
puts the new one in, atomically (`dashboard.store.Dataset.upsert_counted`). A change of the
area tree or of the city's time zone (which cut the days) rebuilds the counters from the
records (`rebuild`, run automatically by `ensure_current` and by `cityops rebuild-aggregates`);
`check` recounts every record and compares (`cityops check-aggregates`).

Counters are rolled up the area tree at ingest (a ticket counts for every node on its
path), so a drill reads children x days counters, not tickets: `table(level, codes, start,
end)` gives the kept numbers (see the metrics module) of those units for whole local days;
p90 comes from the per-day sorted sets of handling times by a rank search in Redis.
"""

from __future__ import annotations

import logging
from collections import Counter

import pandas as pd

from dashboard.store import Store
from feeds.records import tickets_frame
from metrics import ticket_aggregates as ta
from metrics.areas import AreaTree, AreaTreeError
from metrics.placement import effective_grid

log = logging.getLogger(__name__)


class TicketAggregates:
    def __init__(self, store: Store, tz: str, rules=None):
        self.store, self.tz, self.rules = store, tz, rules
        self.ds = store.tickets
        self._tree: AreaTree | None = None
        self._tree_version = -1

    # -- the area tree the contributions are placed on ----------------------------------
    def tree(self) -> AreaTree | None:
        v = self.store.areas_version()
        if v != self._tree_version:
            _, payload = self.store.areas()
            try:
                self._tree = AreaTree.build(payload["rows"], payload.get("geojson")) if payload else None
            except AreaTreeError as exc:   # the poller validates before storing: defensive
                log.error("stored area tree is invalid: %s", exc.errors[:3])
                self._tree = None
            self._tree_version = v
        return self._tree

    def contributions(self, records: list[dict]) -> list[list[tuple]]:
        if not records:
            return []
        df = tickets_frame(records)
        # withdrawn upstream (`withdrawn_at`, set by the poller's sweep): in no population
        df["withdrawn"] = [bool(r.get("withdrawn_at") or r.get("withdrawn")) for r in records]
        tree = self.tree()
        paths: dict = {}
        units = []
        for grid, dept in zip(effective_grid(df, tree).to_numpy(dtype=object), df["department"].to_numpy(dtype=object)):
            if grid not in paths:
                paths[grid] = area_units(tree, grid)
            units.append(paths[grid] + [("dept", dept if isinstance(dept, str) else "")])
        return ta.contributions(df, units, self.tz)

    # -- writing -----------------------------------------------------------------------
    def upsert(self, records: list[dict]):
        """Write tickets keeping the counters (same rules as `Dataset.upsert`)."""
        self.ensure_current()
        return self.ds.upsert_counted(records, self.contributions(records))

    def _meta(self) -> dict[str, str]:
        return {"areas_version": str(self.store.areas_version()), "tz": self.tz}

    def ensure_current(self) -> bool:
        """Rebuild when the counters were placed on another area tree or cut in another
        time zone (or never built while tickets exist). True when it rebuilt."""
        meta = self.ds.agg_meta()
        if meta == self._meta() or (not meta and self.ds.count() == 0):
            if not meta:
                self.ds.put_agg_meta(self._meta())
            return False
        self.rebuild()
        return True

    def rebuild(self) -> int:
        """Recount every record from scratch (bounded memory: a chunk at a time). A record
        the poller changes meanwhile is counted by its own upsert."""
        self.ds.clear_aggregates()
        self.ds.put_agg_meta(self._meta())
        done = 0
        for chunk in self.ds.iter_stamped():
            contrib = self.contributions(chunk)
            done += self.ds.recount([(str(r["ticket_id"]), r.get("updated_at"), c) for r, c in zip(chunk, contrib)])
        log.info("ticket aggregates rebuilt from %d records", done)
        return done

    def check(self) -> list[str]:
        """Recount every record and compare with the stored counters and handling times;
        the differences, one line each (empty: consistent)."""
        want: Counter = Counter()
        want_amounts: dict[tuple[int, str, str], Counter] = {}
        for chunk in self.ds.iter_stamped():
            for contrib in self.contributions(chunk):
                for day, level, code, pop, amount in contrib:
                    if pop == "handled":
                        want[(day, level, code, "handled")] += 1
                        want[(day, level, code, "handled_us")] += amount
                        want_amounts.setdefault((day, level, code), Counter())[amount] += 1
                    else:
                        want[(day, level, code, pop)] += amount
        problems = []
        if self.ds.agg_meta() != self._meta():
            problems.append(f"counters built for {self.ds.agg_meta()}, now {self._meta()}")
        cells = sorted({(d, lv) for d, lv, _, _ in want} | set(self.ds.agg_cells()))
        for day, level in cells:
            have = self.ds.agg_cell(day, level)
            mine = {(c, p): n for (d, lv, c, p), n in want.items() if d == day and lv == level and n}
            for key in sorted(set(have) | set(mine)):
                if have.get(key, 0) != mine.get(key, 0):
                    problems.append(f"day {day} {level} {key[0]} {key[1]}: stored {have.get(key, 0)}, "
                                    f"recount {mine.get(key, 0)}")
        for (day, level, code), amounts in sorted(want_amounts.items()):
            if Counter(self.ds.agg_amounts(day, level, code)) != amounts:
                problems.append(f"day {day} {level} {code}: handling times differ")
        return problems

    # -- reading -----------------------------------------------------------------------
    def table(self, level: str, codes: list[str], start, end) -> pd.DataFrame | None:
        """The kept numbers of the units `codes` of one level (an area level or "dept") over
        [start, end) (whole local days; None otherwise)."""
        days = ta.window_days(start, end, self.tz)
        if days is None:
            return None
        counts = self.ds.agg_counts(days, level, codes, ta.POPULATIONS + ("handled_us",))
        ranks = {c: ta.p90_ranks(counts[(c, "handled")]) for c in codes if counts.get((c, "handled"), 0)}
        p90 = self.ds.agg_ranked(days, level, ranks)
        return ta.kpi_rows(counts, p90, codes, self.rules)


def area_units(tree: AreaTree | None, grid: str | None) -> list[tuple[str, str]]:
    """The area units a ticket placed at `grid` counts in: the path from the root to it (an
    unplaced ticket: the root only)."""
    if tree is None:
        return [("city", "")]
    if grid is None or grid not in tree:
        return [(tree.root.level, tree.root.code)]
    return [(n.level, n.code) for n in tree.path(grid)]



"""The ticket aggregates: counters per (local day, grid | department), kept at ingest.

The poller writes tickets through `TicketAggregates.upsert`: each record's contribution
(`metrics.ticket_aggregates.contributions`, on the placed grid of the current area tree)
goes into the store's upsert script, which takes the old version's contribution out and
puts the new one in, atomically (`dashboard.store.Dataset.upsert_counted`). A change of the
area tree or of the city's time zone (which cut the days) rebuilds the counters from the
records (`rebuild`, run automatically by `ensure_current` and by `cityops rebuild-aggregates`);
`check` recounts every record and compares (`cityops check-aggregates`).

Read side: `table(groups, start, end)` gives the kept numbers (see the metrics module)
for whole local days; the query layer maps area nodes and departments to their units.
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
        df["withdrawn"] = [bool(r.get("withdrawn")) for r in records]
        return ta.contributions(df, effective_grid(df, self.tree()), self.tz)

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
        want_counts: Counter = Counter()
        want_amounts: dict[tuple[int, str], Counter] = {}
        for chunk in self.ds.iter_stamped():
            for contrib in self.contributions(chunk):
                for day, unit, pop, amount in contrib:
                    if pop == "handled":
                        want_counts[(day, unit, "handled")] += 1
                        want_counts[(day, unit, "handled_us")] += amount
                        want_amounts.setdefault((day, unit), Counter())[amount] += 1
                    else:
                        want_counts[(day, unit, pop)] += amount
        days = sorted({d for d, _, _ in want_counts} | set(self.ds.agg_days()))
        problems = []
        if self.ds.agg_meta() != self._meta():
            problems.append(f"counters built for {self.ds.agg_meta()}, now {self._meta()}")
        for day in days:
            have = self.ds.agg_counts([day])
            want = {(u, p): n for (d, u, p), n in want_counts.items() if d == day and n}
            for key in sorted(set(have) | set(want)):
                if have.get(key, 0) != want.get(key, 0):
                    problems.append(f"day {day} {key[0]} {key[1]}: stored {have.get(key, 0)}, recount {want.get(key, 0)}")
            amounts = self.ds.agg_amounts([day])
            units = {u for d, u in want_amounts if d == day} | set(amounts)
            for unit in sorted(units):
                if Counter(amounts.get(unit, [])) != want_amounts.get((day, unit), Counter()):
                    problems.append(f"day {day} {unit}: handling times differ")
        return problems

    # -- reading -----------------------------------------------------------------------
    def table(self, groups: dict[str, list[str]], start, end) -> pd.DataFrame | None:
        """The kept numbers per group over [start, end) (whole local days; None otherwise)."""
        days = ta.window_days(start, end, self.tz)
        if days is None:
            return None
        return ta.kpi_rows(self.ds.agg_counts(days), self.ds.agg_amounts(days), groups, self.rules)


def node_units(tree: AreaTree | None, code: str | None) -> list[str]:
    """The units a node's numbers add up: every node of its subtree (a ticket counts at the
    node its grid code names); the root also gets the unplaced ("g:")."""
    if tree is None:
        return ["g:"]
    units = ["g:" + c for c in tree.subtree_codes(code or tree.root.code)]
    if code is None or code == tree.root.code:
        units.append("g:")
    return units

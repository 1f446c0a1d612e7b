"""The query layer: the one door through which pages read the store.

Each process keeps a copy of the datasets it reads, refreshed incrementally by dataset
version (only the records changed since the version it holds are fetched), and prepared
once per version (effective deadlines, effective grid). Computed views are memoized in the
shared Redis cache (flask-caching) keyed by the dataset versions they read, so several
workers compute a view once and show the same numbers.

Every call takes the `Viewer`: the area and department scope of their role is applied
here, and personal data is masked here unless the role may see it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pandas as pd

from dashboard.queries.access import Viewer
from dashboard.queries.access import scope_mask as access_scope_mask
from dashboard.queries.ticket_frames import (Settled, concat_keeping_categories, counting,
                                             give_back_freed_memory, is_marker, joined, pairs_of, placed)
from dashboard.store import Store
from feeds.records import tickets_frame
from metrics import tickets as tk
from metrics.areas import AreaTree, AreaTreeError
from metrics.placement import placement_counts
from metrics.privacy import mask_frame

LOAD_CHUNK = 20_000          # tickets parsed at a time when a worker loads them all
RECENT_DAYS = 32             # the wall's horizon: its 30-day trend, and a day to spare
LATE_DAYS = 2                # a cut of day D answers requests of days D − 2 … D (their windows start after D − 32)
TRIM_EVERY_S = 15.0          # a refresh gives freed memory back at most this often
FRAME_IDLE_S = 600.0         # the whole frame is let go when nothing asked for it this long
MAX_SPLITS = 32              # viewers' scopes whose split of today's part is kept
MEMO_WAIT_S = 30             # how long a view's computation in another process is waited for

log = logging.getLogger(__name__)


class Queries:
    def __init__(self, store: Store, settings, cache=None):
        self.store, self.settings, self.cache = store, settings, cache
        self.tz = settings.city.timezone
        self._lock = threading.RLock()
        self._tree: AreaTree | None = None
        self._tree_version = -1
        self._frame: pd.DataFrame | None = None
        self._frame_used = 0.0                 # monotonic time the whole frame was last asked for
        self._seq = 0
        self._trimmed = 0.0                    # monotonic time of the last malloc_trim
        self._recent: dict | None = None       # the wall's cut: {"day", "seq" (its version), "rows"}
        self._today: tuple | None = None       # ((cut version, tree version, day), today's part of it)
        self._splits: dict[tuple, dict] = {}   # viewer's scope → today's part split (`_today_split`)
        self._other: dict[str, tuple[int, pd.DataFrame | None]] = {}
        # The feeds this console is configured with (set by the runtime); None = every feed
        # the store has heard of. A feed renamed or removed from the settings keeps its old
        # health record in the store; it is shown apart, not as a dead feed on the wall.
        self.feed_names: set[str] | None = None
        self.feed_kinds: dict[str, str] = {}    # configured feed name → kind (set with feed_names)

    # -- versions and the area tree -------------------------------------------------
    def versions(self) -> dict[str, int]:
        """Every dataset's version (one round trip): cached views key on these."""
        names = list(self.store.DATASETS)
        keys = [self.store.dataset(n).k_seq for n in names] + [self.store.k_areas_version]
        with self.store.r.pipeline(transaction=False) as p:   # GETs, not MGET: keys span cluster slots
            for k in keys:
                p.get(k)
            values = p.execute()
        return dict(zip(names + ["areas"], (int(v or 0) for v in values)))

    def tree(self) -> AreaTree | None:
        with self._lock:
            v = self.store.areas_version()
            if v != self._tree_version:
                _, payload = self.store.areas()
                try:
                    self._tree = AreaTree.build(payload["rows"], payload.get("geojson")) if payload else None
                except AreaTreeError as exc:  # the poller validates before storing: defensive
                    log.error("stored area tree is invalid: %s", exc.errors[:3])
                self._tree_version = v
                for df in (self._frame, self._recent and self._recent["rows"]):
                    if df is not None and not df.empty:
                        df["grid"] = placed(df, self._tree)
                if self._recent is not None:     # the markers moved with the tickets they stand for
                    self._recent["pairs"] = pairs_of(self._recent["rows"][is_marker(self._recent["rows"])])
            return self._tree

    def map_bounds(self) -> list[list[float]]:
        """Leaflet bounds [[south, west], [north, east]] of the whole area tree.

        Before any tree is loaded: China's extent (the map is empty then anyway; pages
        refetch their shapes when the tree arrives).
        """
        tree = self.tree()
        box = tree.bounds(tree.root.code) if tree is not None else None
        if not box:
            return [[18.0, 73.0], [54.0, 135.0]]
        x0, y0, x1, y1 = box
        return [[y0, x0], [y1, x1]]

    # -- tickets ----------------------------------------------------------------------
    def all_tickets(self) -> pd.DataFrame:
        """Every ticket, prepared, with its effective `grid`; unmasked (internal use)."""
        with self._lock:
            frame = self._refresh_all()
            self._frame_used = time.monotonic()    # (after the load: a long load is not idle time)
            return frame

    def _refresh_all(self) -> pd.DataFrame:
        with self._lock:
            tree = self.tree()
            ds = self.store.tickets
            if self._frame is None:
                self._frame, self._seq = self._load_all(ds, tree)
            if ds.version() != self._seq:
                seq, records = ds.changes_since(self._seq)
                if records:
                    new = self._prepare(records, tree)
                    keep = self._frame[~self._frame["ticket_id"].isin(new["ticket_id"])]
                    self._frame = concat_keeping_categories([keep, new]) if len(keep) else new
                    del keep, new
                    self._trim_now_and_then()
                self._seq = seq
            return self._frame

    def _trim_now_and_then(self) -> None:
        """After a refresh the previous frame (or cut) and its copies are freed, but glibc keeps
        the pages (a frame is hundreds of MB): give them back at most every TRIM_EVERY_S, so a
        busy feed does not pay a trim per poll (each trim returns what the refreshes before
        it freed)."""
        now = time.monotonic()
        if now - self._trimmed >= TRIM_EVERY_S:
            self._trimmed = now
            give_back_freed_memory(collect=False)

    def _load_all(self, ds, tree: AreaTree | None) -> tuple[pd.DataFrame, int]:
        """Every ticket, a chunk at a time: the parsed records of one chunk at most are alive
        at once (freed records are not given back to the system: a load of all of them at
        once kept about 1.3 kB per ticket of the worker's memory for good). The version is
        read first; a record changed during the scan has a newer entry in the change log, so
        the refresh that follows reads it again."""
        seq = ds.version()
        parts = [self._prepare(chunk, tree) for chunk in ds.iter_stamped(chunk=LOAD_CHUNK)]
        if not parts:
            return self._prepare([], tree), seq
        frame = concat_keeping_categories(parts) if len(parts) > 1 else parts[0]
        del parts
        give_back_freed_memory()
        return frame, seq

    def _prepare(self, records: list[dict], tree: AreaTree | None) -> pd.DataFrame:
        df = tickets_frame(records)
        df = tk.prepare(df, self.settings.tickets, self.tz)
        df["grid"] = placed(df, tree)
        df["is_repeat"] = (df["repeat_of"].notna() & (df["repeat_of"] != "")).to_numpy(dtype=bool)
        # a fresh copy: the frame built from the records holds its text columns in one 2-D
        # block, and the columns replaced since (times, categoricals) stay views of it, so
        # every parsed string of every record would stay alive (about 1 kB per ticket)
        return df.copy()

    def warm(self, now: datetime) -> None:
        """Refresh what this process holds: the recent cut always (the wall and the pages read
        it), the whole frame only while something that needs it (a window older than the
        cut, the health page's placement) asked for it in the last FRAME_IDLE_S; after that
        it is let go, so such a request does not leave every ticket in the worker for good."""
        with self._lock:
            self._recent_cut(now.astimezone(ZoneInfo(self.tz)).date())
            if self._frame is not None:
                if time.monotonic() - self._frame_used > FRAME_IDLE_S:
                    self._frame, self._seq = None, 0
                    give_back_freed_memory()
                    log.info("tickets: every ticket let go (not asked for in %.0f s); the recent cut stays",
                             FRAME_IDLE_S)
                else:
                    self._refresh_all()

    def recent_tickets(self, viewer: Viewer, now: datetime) -> pd.DataFrame:
        """`tickets(viewer)` cut to those that can count in a window starting within the
        last RECENT_DAYS local days (`metrics.tickets.can_count_since`): the wall's 30-day
        trend (and, narrowed again by `today_tickets`, its today's numbers and open
        tickets), computed on a few per cent of a year's tickets with the same result.

        The cut is kept on its own, beside (not from) the whole frame: made once (from the
        whole frame when this process holds it, else by streaming the store a chunk at a
        time and keeping only the rows that can count), then refreshed from the change log
        like the frame, and narrowed at each local midnight (a later day's cut lies inside
        an earlier one's). For a fixed day a ticket enters or leaves the cut only
        by a change of its record (a closed ticket stays in it; an old one comes back when
        reopened), so the refresh is exact, and it costs the changes, not the frame: a
        process that only serves the wall never holds every ticket."""
        day = now.astimezone(ZoneInfo(self.tz)).date()
        with self._lock:
            recent = self._recent_cut(day)
        return self._scoped(recent, viewer)

    def today_tickets(self, viewer: Viewer, now: datetime) -> pd.DataFrame:
        """`recent_tickets` narrowed to those that can count in a window starting today
        (today's, and every open one): what the wall's numbers and its open tickets per area
        read on every tick (its trend reads the recent cut, once a minute). Derived from the
        recent cut once per change and local day."""
        return self._scoped(self._today_part(now)[1], viewer)

    def _today_part(self, now: datetime) -> tuple[tuple, pd.DataFrame]:
        """(key, rows) of today's part for every viewer; the key (cut version, tree version,
        day) changes with the rows."""
        day = now.astimezone(ZoneInfo(self.tz)).date()
        with self._lock:
            recent = self._recent_cut(day)
            key = (self._recent["seq"], self._tree_version, day)
            if self._today is None or self._today[0] != key:
                self._today = None
                since = pd.Timestamp(day, tz=self.tz)
                keep = tk.can_count_since(recent, since) & ~is_marker(recent)
                self._today = (key, recent[keep].reset_index(drop=True))
            return self._today

    def window_tickets(self, viewer: Viewer, now: datetime, start, area: str | None = None) -> pd.DataFrame:
        """The tickets a view of a window starting at `start` (ending by `now`) reads, in the
        viewer's scope (within `area` when given): the recent cut when the window starts
        within its RECENT_DAYS local days (every preset the pages offer does), else every
        ticket (a longer custom window makes this process load them all).

        On the cut, every number of such a window is the one on every ticket
        (`metrics.tickets.can_count_since`), and the groups a table lists are too: the cut
        keeps a marker row (no times, no personal data: in no population) for each pair of
        (grid, department) that only settled tickets have."""
        day = now.astimezone(ZoneInfo(self.tz)).date()
        with self._lock:
            if pd.Timestamp(start) >= self._since(self._serving_day(day)):
                rows = self._recent_cut(day)
                return self._scoped(rows, viewer, area)
        return self.tickets(viewer, area)

    def _since(self, day) -> pd.Timestamp:
        return pd.Timestamp(day, tz=self.tz) - pd.Timedelta(days=RECENT_DAYS)

    def _serving_day(self, day):
        """The day of the cut that answers a request of local day `day`: the cut held when it
        is of a day at most LATE_DAYS later (a request floored to before midnight, answered
        after the warm-up moved on: the later cut holds every ticket the wall's windows of
        that day need, so it is not made again for the day before), else `day`'s own."""
        held = self._recent["day"] if self._recent is not None else None
        return held if held is not None and day < held <= day + timedelta(days=LATE_DAYS) else day

    def _recent_cut(self, day) -> pd.DataFrame:
        tree = self.tree()
        ds = self.store.tickets
        cut = self._recent
        if cut is not None and self._serving_day(day) != day:
            cut["rows"] = self._refreshed(cut, tree, self._since(cut["day"]))
            return cut["rows"]
        since = self._since(day)
        if cut is not None and cut["day"] < day:
            # a later day's cut lies inside an earlier one's (can_count_since is monotone in
            # `since`): refresh the old cut, then narrow it; no second pass over the store
            rows = self._refreshed(cut, tree, since)
            cut = self._recent = {"day": day, "seq": cut["seq"], "pairs": cut["pairs"],
                                  "rows": counting(rows, since, cut["pairs"])}
        if cut is None or cut["day"] != day:
            self._recent = None                  # the previous day's cut is not kept alive meanwhile
            pairs: set = set()
            if self._frame is not None:
                whole = self._refresh_all()      # (not a use of it: the cut is made from it)
                seq, rows = self._seq, counting(whole, since, pairs)
            else:
                seq = ds.version()               # read first: a change during the scan is refreshed after
                sure = Settled(since, tk.sla_horizon_days(self.settings.tickets))
                parts = [counting(self._prepare(sure.others(chunk), tree), since, pairs)
                         for chunk in ds.iter_stamped(chunk=LOAD_CHUNK)]
                parts.append(counting(self._prepare(sure.representatives(), tree), since, pairs))
                rows = joined(parts, empty=lambda: self._prepare([], tree))
                del parts
                give_back_freed_memory()
            cut = self._recent = {"day": day, "seq": seq, "rows": rows, "pairs": pairs}
        else:
            cut["rows"] = self._refreshed(cut, tree, since)
        return cut["rows"]

    def _refreshed(self, cut: dict, tree: AreaTree | None, since) -> pd.DataFrame:
        """The cut's rows brought up to the store's version (its "seq" moved along)."""
        ds = self.store.tickets
        if ds.version() == cut["seq"]:
            return cut["rows"]
        seq, records = ds.changes_since(cut["seq"])
        rows = cut["rows"]
        if records:
            new = self._prepare(records, tree)
            keep = rows[~rows["ticket_id"].isin(new["ticket_id"])]
            rows = joined([keep, counting(new, since, cut["pairs"])], empty=lambda: keep)
            del keep, new
            self._trim_now_and_then()        # (the caller drops the previous rows right after)
        cut["seq"] = seq
        return rows

    def tickets(self, viewer: Viewer, area: str | None = None) -> pd.DataFrame:
        """The tickets this viewer may see, within `area` (a node code) when given."""
        return self._scoped(self.all_tickets(), viewer, area)

    def _scoped(self, df: pd.DataFrame, viewer: Viewer, area: str | None = None) -> pd.DataFrame:
        tree = self.tree()
        mask = self.scope_mask(viewer, df["grid"])
        if viewer.departments:
            mask &= df["department"].isin(viewer.departments)
        if area and tree is not None and area != tree.root.code and area in tree:
            mask &= tree.in_subtree(df["grid"], area)
        return df[mask] if not mask.all() else df

    # -- the viewer's area scope -------------------------------------------------------
    def scope_mask(self, viewer: Viewer, grid_codes: pd.Series) -> pd.Series:
        """True where a record's grid lies in the viewer's areas (everywhere for a role
        scoped to the whole city). The one area-scope rule of tickets, alarms and actions
        (`dashboard.queries.access.scope_mask`; fails closed without an area tree)."""
        return access_scope_mask(viewer, grid_codes, self.tree())

    def area_visible(self, viewer: Viewer, code: str | None) -> bool:
        """Whether area node `code` lies inside the viewer's scope (its areas' subtrees)."""
        if not viewer.areas:
            return True
        return bool(code is not None and self.scope_mask(viewer, pd.Series([code], dtype=object)).iloc[0])

    def for_display(self, df: pd.DataFrame, viewer: Viewer, view: str = "") -> pd.DataFrame:
        """Personal data masked unless the viewer's role allows it; an unmasked view is
        audited (once per viewer and set of rows in ten minutes: a refresh is not a new view)."""
        if not viewer.see_personal_data:
            return mask_frame(df)
        personal = [c for c in ("caller_name", "caller_phone") if c in df]
        if personal and len(df) and df[personal].notna().any().any():
            self.audit_unmasked(df["ticket_id"].astype(str).tolist() if "ticket_id" in df else [], viewer, view)
        return df

    def audit_unmasked(self, ids: list[str], viewer: Viewer, view: str) -> None:
        """Audit that `viewer` saw the personal data of tickets `ids` unmasked."""

        from dashboard.queries import audit
        key = (viewer.user, view, hashlib.sha1("\n".join(ids).encode()).hexdigest())
        now = time.monotonic()
        seen = self.__dict__.setdefault("_unmasked_seen", {})
        if now - seen.get(key, -1e9) < 600:
            return
        if len(seen) > 10000:
            seen.clear()
        seen[key] = now
        audit.record(self.store, {"what": "view_personal_data", "who": viewer.user, "role": viewer.role,
                                  "via": viewer.via, "view": view, "rows": len(ids), "ticket_ids": ids[:50]})

    def placement(self) -> dict[str, int]:
        df = self.all_tickets()
        if "withdrawn" in df:          # withdrawn upstream: counted apart, in no population
            df = df[~df["withdrawn"].to_numpy(dtype=bool, na_value=False)]
        return placement_counts(df, df["grid"]) if len(df) else {}

    # -- memoized views --------------------------------------------------------------
    def memo(self, name: str, viewer: Viewer, parts: tuple, compute):
        """Compute once per (view, arguments, scope, data versions) across all workers."""
        if self.cache is None:
            return compute()
        raw = orjson.dumps([name, parts, viewer.areas, viewer.departments, viewer.see_personal_data,
                            self.versions()],
                           default=str, option=orjson.OPT_NON_STR_KEYS)
        key = f"view:{name}:{hashlib.sha1(raw).hexdigest()}"
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        # One process computes a view at a time; the others wait for its value. A change of
        # the data makes every viewer's next request miss at once: without this every worker
        # (and every thread of it) would compute the same view together.
        lock = key + ":computing"
        mine = bool(self.cache.add(lock, 1, timeout=MEMO_WAIT_S))
        if not mine:
            deadline = time.monotonic() + MEMO_WAIT_S
            while time.monotonic() < deadline:
                time.sleep(0.02)
                hit = self.cache.get(key)
                if hit is not None:
                    return hit
                if not self.cache.has(lock):      # the one computing it failed: compute here
                    break
        try:
            value = compute()
            self.cache.set(key, value, timeout=600)
        finally:
            if mine:
                self.cache.delete(lock)
        return value

    def _today_split(self, viewer: Viewer, now: datetime) -> dict:
        """`today_tickets` of this viewer split in two (`metrics.tickets.backlog_split`): the
        rows today's events can change ("active") and the day's open backlog, which only the
        clock changes (kept as counts, and per area node of a level on demand: "by_level").
        Made once per change of today's part and scope: a tick then computes on the active
        rows (today's tickets: a few per cent of the backlog in a big city) and adds counts."""
        scope = (tuple(viewer.areas), tuple(viewer.departments))
        with self._lock:
            key = self._today_part(now)[0]
            entry = self._splits.get(scope)
            if entry is not None and entry["key"] == key:
                return entry                   # (before scoping: a scope mask costs ms per tick)
            if any(e["key"] != key for e in self._splits.values()) or len(self._splits) >= MAX_SPLITS:
                self._splits.clear()
            rows = self.today_tickets(viewer, now)
            in_backlog, backlog = tk.backlog_split(rows, *tk.local_day(now, self.tz))
            entry = self._splits[scope] = {
                "key": key, "active": rows[~in_backlog].reset_index(drop=True), "backlog": backlog,
                "grid": rows["grid"][in_backlog].reset_index(drop=True), "by_level": {}}
            return entry

    def wall_numbers(self, viewer: Viewer, now: datetime) -> dict:
        """Today's numbers for the wall (today cut at local midnight of `now`)."""
        start, end = tk.window("today", now, self.tz)
        bucket = int(now.timestamp() // 5)
        rules = self.settings.tickets

        def compute():
            part = self._today_split(viewer, now)
            out = tk.with_backlog(tk.kpis(part["active"], now, start, end, rules), part["backlog"], now, rules)
            # any ticket at all (the wall says "no data" otherwise)
            out["total"] = int(len(part["active"]) + part["backlog"].n) or self.store.tickets.count()
            return out
        return self.memo("wall", viewer, (bucket, str(start)), compute)

    def trend(self, viewer: Viewer, now: datetime, days: int = 30) -> list[dict]:
        start, _ = tk.window("today", now, self.tz)
        start = start - timedelta(days=days - 1)
        day = now.astimezone(ZoneInfo(self.tz)).date().isoformat()

        def compute():
            df = self.recent_tickets(viewer, now) if days < RECENT_DAYS else self.tickets(viewer)
            t = tk.daily_counts(df, self.tz, start, now)
            return [{"date": str(r.date), "received": int(r.received), "closed": int(r.closed)}
                    for r in t.itertuples()]
        return self.memo("trend", viewer, (day, int(now.timestamp() // 60), days), compute)

    def open_by_area(self, viewer: Viewer, now: datetime, level: str) -> dict[str, dict]:
        """Open and overdue tickets per node of `level` (for the wall map): today's active
        rows counted at `now`, plus the day's backlog per node (counted once per change)."""
        tree = self.tree()
        if tree is None or level not in tree.levels:
            return {}

        def per_node(grid: pd.Series, overdue) -> dict[str, list[int]]:
            keys = tree.ancestor_at(grid, level).astype(object)
            g = pd.DataFrame({"k": keys.to_numpy(), "open": 1, "overdue": overdue}).groupby("k").sum()
            return {str(k): [int(r.open), int(r.overdue)] for k, r in g.iterrows()}

        def compute():
            part = self._today_split(viewer, now)
            with self._lock:
                fixed = part["by_level"].get(level)
                if fixed is None:
                    fixed = part["by_level"][level] = per_node(part["grid"], part["backlog"].overdue) if len(part["grid"]) else {}
            df = part["active"]
            df = df[tk.open_mask(df, now).to_numpy()]           # the open ones only: placed, then counted
            overdue = (df["deadline_at"] < now).to_numpy(dtype=bool, na_value=False)
            now_counts = per_node(df["grid"], overdue) if len(df) else {}
            out = {}
            for k in sorted(set(fixed) | set(now_counts)):
                a, b = fixed.get(k, (0, 0)), now_counts.get(k, (0, 0))
                out[k] = {"open": a[0] + b[0], "overdue": a[1] + b[1]}
            return out
        return self.memo("open_by_area", viewer, (level, int(now.timestamp() // 5)), compute)

    # -- other datasets (sensors, alarms, enterprises, responders, readings) ------------
    def frame(self, name: str, build=None) -> pd.DataFrame:
        """Dataset `name` as a frame, refreshed incrementally by version.

        `build(records) -> DataFrame` types the columns (default: `pd.DataFrame`); it must
        keep the dataset's id column. Internal: apply the viewer's scope before display.
        """
        build = build or (lambda recs: pd.DataFrame.from_records(recs))
        ds = self.store.dataset(name)
        with self._lock:
            seq, df = self._other.get(name, (0, None))
            if df is None:
                seq, records = ds.all()
                df = build(records) if records else build([])
            elif ds.version() != seq:
                seq, records = ds.changes_since(seq)
                if records:
                    new = build(records)
                    keep = df[~df[ds.id_field].isin(new[ds.id_field])] if len(df) else df
                    df = pd.concat([keep, new], ignore_index=True) if len(keep) else new
            self._other[name] = (seq, df)
            return df

    # -- feeds -----------------------------------------------------------------------
    def feed_health(self) -> dict[str, dict]:
        """Health of the configured feeds, by name. A configured feed not yet polled has a
        record too ({"name", "kind"}, no `last_success`): the wall shows it as loading
        instead of leaving it out."""
        health = self.store.health()
        if self.feed_names is None:
            return health
        out = {n: h for n, h in health.items() if n in self.feed_names}
        for name in self.feed_names - set(out):
            out[name] = {"name": name, "kind": self.feed_kinds.get(name, "")}
        return out

    def sensor_feeds_configured(self) -> bool:
        """Whether any sensor feed is configured (else the wall says so instead of "0 alarms")."""
        if self.feed_names is None:
            return any(h.get("kind") == "sensors" for h in self.store.health().values())
        return "sensors" in self.feed_kinds.values()

    def retired_feeds(self) -> dict[str, dict]:
        """Health records of feeds no longer in the settings (their last run, for the record)."""
        if self.feed_names is None:
            return {}
        return {n: h for n, h in self.store.health().items() if n not in self.feed_names}

    def rejects(self, feed: str, limit: int = 50) -> list[dict]:
        return self.store.rejects(feed, limit)

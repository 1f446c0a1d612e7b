"""SensorThings: late Observations found by counting, and the feed's coverage.

A poll reads Observations after a cursor (and, in "observations" mode, an overlap before
it), so one that reaches the server later with an older phenomenonTime is never read by
those requests. The feed therefore remembers how many Observations it took per Datastream
and per bucket of `reconcile_bucket_s` seconds (`Held`, kept in the feed state run-length
encoded: a Datastream reporting once a bucket costs a few numbers), and each poll compares
with the server's own `@iot.count` over the trailing window `[W, U)`:
- W = now − `reconcile_window_s` (not before the feed's first read), U = the newest
  time read minus the overlap ("observations" mode), both cut on bucket boundaries;
- one request for all Datastreams (`Observations?$filter=…&$count=true&$top=0`); when the
  server has more, the window is halved (the count of one half, the other's by difference)
  down to the buckets that have more, each re-read for all Datastreams at once (about
  log2(buckets) + 1 GETs a late Observation, found in the same poll); when that does not
  account for the difference (the server also dropped some), the Datastreams are counted
  one by one (`reconcile_per_poll` a poll, rotating); in "datastreams" mode each
  Datastream's window ends at its own cursor, so they are counted one by one from the start;
- a Datastream the server has more of is re-read over the window; in each bucket where
  the server has k more, the k Observations with the highest `@iot.id` are the late ones
  (servers number Observations as they receive them), else — ids that are not numbers —
  those whose time is not among the sensor's stored recent readings. They become readings
  (and alarms) like any other, and the bucket's count is the server's from then on.
The coverage reported on /health is the last window's count against what the feed holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

import requests

from feeds.sensors import records as sr
from feeds.sensors import sensorthings
from feeds.sensors.settings import Datastream, SensorFeedSettings
from metrics.alarm_rules import AlarmRules


def _epoch(key: str) -> float:
    return sensorthings._aware(key).timestamp()


class Held:
    """Observations taken, per Datastream and bucket: `{ds id: {bucket: count}}`."""

    def __init__(self, state: Mapping | None, bucket_s: float):
        self.bucket_s = bucket_s
        self.n: dict[str, dict[int, int]] = {}
        for ds, runs in ((state or {}).get("n") or {}).items():
            d = self.n[ds] = {}
            for start, count, run in runs:
                for b in range(start, start + run):
                    d[b] = count

    def bucket(self, key: str) -> int:
        return math.floor(_epoch(key) / self.bucket_s)

    def add(self, ds_id: str, key: str) -> None:
        d = self.n.setdefault(ds_id, {})
        b = self.bucket(key)
        d[b] = d.get(b, 0) + 1

    def count(self, ds_id: str | None, lo: int, hi: int) -> int:
        """Taken in buckets [lo, hi) of one Datastream, or of all (None)."""
        streams = self.n.values() if ds_id is None else [self.n.get(ds_id, {})]
        return sum(c for d in streams for b, c in d.items() if lo <= b < hi)

    def forget_before(self, lo: int) -> None:
        for ds in list(self.n):
            self.n[ds] = {b: c for b, c in self.n[ds].items() if b >= lo}
            if not self.n[ds]:
                del self.n[ds]

    def to_state(self) -> dict:
        out: dict[str, list] = {}
        for ds, d in self.n.items():
            runs: list[list[int]] = []
            for b in sorted(d):
                if runs and runs[-1][0] + runs[-1][2] == b and runs[-1][1] == d[b]:
                    runs[-1][2] += 1
                else:
                    runs.append([b, d[b], 1])
            out[ds] = runs
        return {"n": out}


def _time_text(epoch_s: float) -> str:
    return sensorthings.time_key(datetime.fromtimestamp(epoch_s, timezone.utc))


def _window_filter(lo_s: float, hi_s: float) -> str:
    return (f"$filter=phenomenonTime%20ge%20{_time_text(lo_s)}%20and%20phenomenonTime%20lt%20"
            f"{_time_text(hi_s)}")


def _ds_path(base_url: str, ds_id: str) -> str:
    ds = ds_id if ds_id.isdigit() else "'" + ds_id.replace("'", "''") + "'"
    return f"{base_url.rstrip('/')}/Datastreams({ds})/Observations"


class NoCount(Exception):
    """The server answered a `$count=true` request without `@iot.count`."""


def upstream_count(http: requests.Session, url: str, timeout_s: float) -> int:
    """The server's `@iot.count` of a collection request (`$count=true&$top=0`); raises
    `NoCount` when the server gives none."""
    resp = http.get(url, timeout=timeout_s, headers={"Accept": "application/json"})
    resp.raise_for_status()
    doc = sr.load_json(resp.content)
    count = doc.get("@iot.count") if isinstance(doc, Mapping) else None
    if isinstance(count, bool) or not isinstance(count, int):
        raise NoCount(url)
    return count


class Reconciler:
    """One poll's reconciliation (see the module's text)."""

    def __init__(self, settings: SensorFeedSettings, rules: AlarmRules, state: dict, held: Held,
                 now: datetime, http: requests.Session, sensors: Mapping[str, Mapping],
                 recent_times=None):
        self.settings, self.rules, self.st, self.held = settings, rules, state, held
        self.cfg = settings.sensorthings
        self.now, self.http, self.sensors = now, http, sensors
        self.recent_times = recent_times or (lambda ds: set())
        self.records: list[dict] = []
        self.rejects: list[dict] = []
        self.found = 0                       # late Observations found this poll

    def lower(self) -> int:
        b = self.held.bucket_s
        since = self.st.get("since")
        lo = (self.now - timedelta(seconds=self.cfg.reconcile_window_s)).timestamp()
        if since:
            lo = max(lo, _epoch(since))
        return math.ceil(lo / b)

    def upper(self, cursor: str | None, overlap_s: float) -> int | None:
        if not cursor:
            return None
        return math.floor((_epoch(cursor) - overlap_s) / self.held.bucket_s)

    def run(self, streams: list[Datastream], cursors: Mapping[str, str] | None, cursor: str | None,
            overlap_s: float) -> dict | None:
        """Reconcile; returns the coverage record (None when there is no window yet). A server
        that gives no `@iot.count` cannot be reconciled: the coverage says so (not complete)."""
        try:
            return self._run(streams, cursors, cursor, overlap_s)
        except NoCount as exc:
            return {"upstream_count": None, "held": None, "missing": None, "complete": False,
                    "at": self.now.isoformat(),
                    "how": f"the server gives no @iot.count ({exc}): completeness cannot be checked"}

    def _run(self, streams: list[Datastream], cursors: Mapping[str, str] | None, cursor: str | None,
             overlap_s: float) -> dict | None:
        b = self.held.bucket_s
        lo = self.lower()
        self.held.forget_before(lo)
        if cursors is None:                  # "observations": one window for all
            hi = self.upper(cursor, overlap_s)
            if hi is None or hi <= lo:
                return None
            url = (f"{self.cfg.base_url.rstrip('/')}/Observations?{_window_filter(lo * b, hi * b)}"
                   f"&$count=true&$top=0")
            total = upstream_count(self.http, url, self.cfg.timeout_s)
            held = self.held.count(None, lo, hi)
            if total == held:
                self.st.pop("upstream", None)
                return self._coverage(total, held, lo, hi)
            if total > held:                 # find the buckets by halving the window, then re-read them
                self._by_buckets(streams, lo, hi, total)
            if self.held.count(None, lo, hi) != total:    # not found so (deletions mask it): one by one
                self._per_datastream(streams, {ds.id: (lo, hi) for ds in streams})
            return self._coverage(total, self.held.count(None, lo, hi), lo, hi)
        else:
            windows = {}
            for ds in streams:
                hi = self.upper(cursors.get(ds.id), 0)
                if hi is not None and hi > lo:
                    windows[ds.id] = (lo, hi)
            if not windows:
                return None
        self._per_datastream(streams, windows)
        up = self.st.get("upstream") or {}
        total = sum(up.get(ds, [0, 0])[0] for ds in windows if ds in up)
        held = sum(self.held.count(ds, *windows[ds]) for ds in windows if ds in up)
        counted = sum(1 for ds in windows if ds in up)
        cov = self._coverage(total, held, lo, max(w[1] for w in windows.values()))
        cov["datastreams_counted"] = f"{counted}/{len(windows)}"
        cov["complete"] = cov["complete"] and counted == len(windows)
        return cov

    def _coverage(self, upstream: int, held: int, lo: int, hi: int) -> dict:
        b = self.held.bucket_s
        missing = max(0, upstream - held)
        return {"upstream_count": upstream, "held": held, "missing": missing, "complete": missing == 0,
                "window": [_time_text(lo * b), _time_text(hi * b)], "at": self.now.isoformat(),
                "how": "@iot.count over the trailing window against the Observations taken"}

    def _per_datastream(self, streams: list[Datastream], windows: dict[str, tuple[int, int]]) -> None:
        order = [ds for ds in streams if ds.id in windows]
        if not order:
            return
        pos = int(self.st.get("pos", 0)) % len(order)
        up = self.st.setdefault("upstream", {})
        n = min(self.cfg.reconcile_per_poll, len(order))
        for ds in (order[(pos + k) % len(order)] for k in range(n)):
            lo, hi = windows[ds.id]
            b = self.held.bucket_s
            flt = _window_filter(lo * b, hi * b)
            count = upstream_count(self.http, f"{_ds_path(self.cfg.base_url, ds.id)}?{flt}&$count=true&$top=0",
                                   self.cfg.timeout_s)
            if count > self.held.count(ds.id, lo, hi):
                self._reread(ds, lo, hi, flt)
            up[ds.id] = [count, self.now.isoformat()]
        self.st["pos"] = (pos + n) % len(order)

    def _by_buckets(self, streams: list[Datastream], lo: int, hi: int, total: int, budget: int = 24) -> None:
        """"observations" mode: the buckets where the server has more than the feed took, found
        by halving the window (the count of one half, the other's by difference: about
        log2(buckets) GETs a late Observation), each then re-read for all Datastreams at once."""
        b = self.held.bucket_s
        base = self.cfg.base_url.rstrip("/")
        stack, found = [(lo, hi, total)], []
        while stack and budget > 0:
            a, z, up = stack.pop()
            if up <= self.held.count(None, a, z):
                continue
            if z - a == 1:
                found.append(a)
                continue
            m = (a + z) // 2
            left = upstream_count(self.http, f"{base}/Observations?{_window_filter(a * b, m * b)}&$count=true&$top=0",
                                  self.cfg.timeout_s)
            budget -= 1
            stack += [(m, z, up - left), (a, m, left)]
        by_id = {ds.id: ds for ds in streams}
        for bucket in found:
            url = (f"{base}/Observations?$expand=Datastream($select=id)&"
                   f"{_window_filter(bucket * b, (bucket + 1) * b)}&$orderby=phenomenonTime%20asc&$top=1000")
            items = self._pages(url, "Observations")
            by_ds: dict[str, list] = {}
            for item in items:
                key = sensorthings.observation_key(item, self.settings)
                if key is not None and key[0] in by_id:
                    by_ds.setdefault(key[0], []).append(item)
            for ds_id, mine in by_ds.items():
                self._take_late(by_id[ds_id], mine)

    def _pages(self, url: str | None, what: str) -> list:
        items: list = []
        for _ in range(self.cfg.page_cap):
            if not url:
                break
            resp = self.http.get(url, timeout=self.cfg.timeout_s, headers={"Accept": "application/json"})
            resp.raise_for_status()
            doc = sr.load_json(resp.content)
            if not isinstance(doc, Mapping) or not isinstance(doc.get("value"), list):
                raise sr.FeedFormatError(f"{what}: expected a collection of Observations")
            items += doc["value"]
            nxt = doc.get("@iot.nextLink")
            url = nxt if isinstance(nxt, str) and nxt else None
        return items

    def _reread(self, ds: Datastream, lo: int, hi: int, flt: str) -> None:
        """The window of one Datastream again: the Observations the feed did not take."""
        url = f"{_ds_path(self.cfg.base_url, ds.id)}?{flt}&$orderby=phenomenonTime%20asc&$top=1000"
        self._take_late(ds, self._pages(url, f"Datastream {ds.id}"))

    def _take_late(self, ds: Datastream, items: list) -> None:
        """Of one Datastream's Observations in some buckets, those the feed did not take."""
        by_bucket: dict[int, list] = {}
        for item in items:
            key = sensorthings.observation_key(item, self.settings, ds)
            if key is not None:
                by_bucket.setdefault(self.held.bucket(key[1]), []).append((key[1], item))
        recent = None
        for bucket, pairs in sorted(by_bucket.items()):
            have = self.held.n.get(ds.id, {}).get(bucket, 0)
            extra = len(pairs) - have
            if extra <= 0:
                continue
            ids = [p[1].get("@iot.id") for p in pairs]
            if all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                late = sorted(pairs, key=lambda p: p[1]["@iot.id"])[-extra:]
            else:
                recent = self.recent_times(ds) if recent is None else recent
                late = [p for p in pairs if p[0] not in recent][:extra]
            for at, item in sorted(late, key=lambda p: p[0]):
                index = len(self.records) + len(self.rejects)
                try:
                    self.records.append(sensorthings.parse_observation(item, ds, self.settings, self.rules,
                                                                       self.sensors))
                except sr.ITEM_ERRORS as exc:
                    self.rejects.append(sr.reject(index, f"{sr.unreadable(exc)} (a late Observation)", item))
                self.found += 1
            self.held.n.setdefault(ds.id, {})[bucket] = len(pairs)

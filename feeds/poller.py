"""The poller: the one writer. Runs every configured feed at its interval (APScheduler).

Exactly one poller works across all processes: each holds a scheduler, but only the
holder of the Redis lease polls; the lease is renewed every few seconds and, when its
holder dies, another process takes it over within the lease time.

A feed that fails keeps its last good data (nothing is deleted), records the error in its
health, and backs off: it retries after 2×, 4×, … its interval, capped by the settings,
and returns to its normal pace after the first success. An upstream that is down (no
connection, a timeout, HTTP 500/502/503/504: `feeds.base.Unreachable`) is meanwhile probed
at the feed's normal interval by one cheap request (`HEAD` of the feed's URL, or the
file's existence): as soon as it answers, the full poll runs, so recovery after an outage
comes within one interval of the upstream's return, not after the backoff.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

import requests
from apscheduler.schedulers.background import BackgroundScheduler

from dashboard.store import Store, UpsertResult, stamp_of
from dashboard.store.store_watch import STORE_ERRORS, StoreWatch
from feeds import registry
from feeds.base import FeedError, PollContext, Stopped, Unreachable, is_down_status
from metrics.privacy import scrub_text

log = logging.getLogger(__name__)
WRITE_SLICE = 5000      # records per write between two looks at the stop flag


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _masked_reject(reject: dict, now, dataset: str) -> dict:
    """A reject as kept for /health: whatever the adapter put in its excerpt and reason, the
    phone numbers, e-mails and ID numbers in them are masked here once more."""
    return dict(reject, reason=scrub_text(reject.get("reason")), excerpt=scrub_text(reject.get("excerpt")),
                at=now.timestamp(), dataset=dataset)


class Poller:
    def __init__(self, settings, store: Store, feeds: list, clock: Callable[[], datetime] = utcnow,
                 owner: str | None = None):
        self.settings, self.store, self.feeds, self.clock = settings, store, feeds, clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = store.lease("poller", self.owner, settings.poller.lease_s)
        self.is_leader = False
        self._session = requests.Session()
        # the counters kept as tickets are written, when the settings ask for them
        self.aggregates = None
        if settings.poller.keep_ticket_aggregates:
            from dashboard.store.aggregates import TicketAggregates
            self.aggregates = TicketAggregates(store, settings.city.timezone, settings.tickets)
        self._locks = {f.name: threading.Lock() for f in feeds}
        self._renew_lock = threading.Lock()
        self._scheduler: BackgroundScheduler | None = None
        # the store's reachability (the runtime shares its own): an outage is logged once
        self.watch = StoreWatch()
        # batches read from upstream whose write failed because the store was away, with the
        # cursor they lead to: written first when the store is back (not read again)
        self._pending: dict[str, tuple[list, dict]] = {}
        # set by stop(): a poll in progress ends before its next request or write
        self._stopping = threading.Event()

    # -- leadership ------------------------------------------------------------------
    def renew(self) -> bool:
        # One renewal at a time: the lease job and a feed job racing here would see one
        # call take the lease and the other fail its SET NX, and log a spurious "lost".
        with self._renew_lock:
            return self._renew()

    def _renew(self) -> bool:
        try:
            leader = self.lease.acquire_or_renew()
            self.watch.ok()
        except STORE_ERRORS as exc:   # the store is away: one line for the outage, not one per renewal
            self.watch.failed(exc)
            leader = False
        except Exception as exc:  # noqa: BLE001 - a Redis hiccup must not kill the scheduler
            log.warning("poller lease: %s", exc)
            leader = False
        if leader != self.is_leader:
            log.info("poller %s %s the lease", self.owner, "took" if leader else "lost")
        self.is_leader = leader
        return leader

    # -- one feed, one run -------------------------------------------------------------
    def run_feed(self, feed, force: bool = False) -> dict | None:
        """Poll `feed` once if this process leads and the feed is not backing off."""
        if not self.is_leader and not self.renew():
            return None
        lock = self._locks.setdefault(feed.name, threading.Lock())
        if not lock.acquire(blocking=False):
            return None
        try:
            out = self._run_feed(feed, force)
            self.watch.ok()
            return out
        except STORE_ERRORS as exc:   # the store is away: the run is retried at the next interval
            self.watch.failed(exc)
            return None
        except Stopped:
            log.info("feed %s: poll interrupted by the stop; its cursor stays at the last write", feed.name)
            return None
        except Exception as exc:  # noqa: BLE001 - the store itself failed (e.g. shutting down)
            log.warning("feed %s: could not record its run: %s", feed.name, exc)
            return None
        finally:
            lock.release()

    def _run_feed(self, feed, force: bool) -> dict | None:
        now = self.clock()
        self._write_pending(feed, now)
        health = self.store.feed_health(feed.name)
        if not force and health.get("next_try") and now.timestamp() < health["next_try"]:
            last = max(float(health.get("last_attempt") or 0), float(health.get("last_probe") or 0))
            if not health.get("unreachable") or now.timestamp() - last < feed.interval_s / 2:
                return None        # backing off; a dead upstream is probed once an interval
            up = self._probe(feed)
            health.update(last_probe=now.timestamp(), last_probe_ok=up)
            if not up:
                self.store.put_health(feed.name, health)
                return None
        state = self.store.feed_state(feed.name)
        t0 = time.perf_counter()
        acc = _Totals()
        ctx = PollContext(feed=feed, state=dict(state), now=now, session=self._session,
                          tz=self.settings.city.timezone, open_ids=lambda: self._open_ids(feed.name),
                          extra=registry.extra_for(self.settings, feed, self.store), owner=self.owner,
                          held_ids=lambda lo, hi: self._ids_between(feed.name, "ids", lo, hi),
                          withdrawn_ids=lambda lo, hi: self._ids_between(feed.name, "withdrawn", lo, hi),
                          held_count=lambda lo, hi: self._held_count(feed.name, lo, hi),
                          stop=self._stopping)

        def emit(batch) -> None:
            # a page as it comes: stored first, then the state that says it was read
            try:
                self._write_batch(feed, batch, now, acc)
                self.store.put_feed_state(feed.name, ctx.state)
            except STORE_ERRORS:
                # the store went away: keep the page read with the cursor it leads to, written
                # first when the store answers (not lost, not read again)
                self._pending[feed.name] = ([batch], dict(ctx.state))
                raise

        ctx.emit = emit
        health.update(name=feed.name, kind=feed.kind, format=feed.format, last_attempt=now.timestamp(),
                      polled_by=self.owner,
                      source=feed.url or feed.path, interval_s=feed.interval_s,
                      stale_after_s=feed.stale_after_s, dead_after_s=feed.dead_after_s)
        try:
            batches = registry.adapter(feed)(ctx)
            try:
                for b in batches:
                    self._write_batch(feed, b, now, acc)
                totals = acc.totals()
            except STORE_ERRORS:
                if isinstance(batches, list):     # keep what was read; cursor not advanced
                    self._pending[feed.name] = (batches, ctx.state)
                raise
        except (*STORE_ERRORS, Stopped):
            raise                 # not the feed's failure: no backoff, no error in its health
        except Exception as exc:  # noqa: BLE001 - any failure is a feed failure, never a crash
            fails = int(health.get("consecutive_failures", 0)) + 1
            delay = min(feed.interval_s * 2 ** fails, self.settings.poller.backoff_max_s)
            health.update(ok=False, last_error=_describe(exc), last_error_at=now.timestamp(),
                          unreachable=_unreachable(exc),
                          consecutive_failures=fails, next_try=now.timestamp() + delay,
                          duration_s=round(time.perf_counter() - t0, 3))
            # what was stored before the failure stays counted
            health["records_total"] = int(health.get("records_total", 0)) + acc.received - acc.rejected
            health["rejected_total"] = int(health.get("rejected_total", 0)) + acc.rejected
            self._report(feed, health, ctx.report)
            log.warning("feed %s failed (%d in a row, retry in %.0f s): %s", feed.name, fails, delay, exc)
            self.store.put_health(feed.name, health)
            return health
        self.store.put_feed_state(feed.name, ctx.state)
        more = bool(ctx.report.pop("more", False))
        was_loaded = health.get("backfilled", health.get("last_success") is not None)
        health.update(ok=True, last_success=now.timestamp(), consecutive_failures=0, next_try=None,
                      unreachable=False,
                      duration_s=round(time.perf_counter() - t0, 3), **totals)
        health["records_total"] = int(health.get("records_total", 0)) + totals["accepted"]
        health["rejected_total"] = int(health.get("rejected_total", 0)) + totals["rejected"]
        self._report(feed, health, ctx.report)
        # loaded once a poll ended with nothing left to read (the first poll's backfill done)
        health["backfilled"] = bool(was_loaded) or not more
        if not was_loaded:
            log.info("feed %s: %s — %d records so far (%d rejected), %.1f s", feed.name,
                     "first load done" if health["backfilled"] else "loading, more to read",
                     health["records_total"], health["rejected_total"], health["duration_s"])
        self.store.put_health(feed.name, health)
        return health

    def _report(self, feed, health: dict, report: dict) -> None:
        health.update(report)
        if feed.kind == "tickets":
            health["withdrawn"] = int(self.store.r.zcard(self._key(feed.name, "withdrawn")))

    def _write_pending(self, feed, now: datetime) -> None:
        """Write the batch held since the store went away, then advance the cursor to it.
        (Upserts are idempotent, so a part already written before the failure is harmless.)"""
        pending = self._pending.pop(feed.name, None)
        if pending is None:
            return
        batches, state = pending
        try:
            totals = self._write(feed, batches, now)
            self.store.put_feed_state(feed.name, state)
        except STORE_ERRORS:
            self._pending[feed.name] = pending
            raise
        log.info("feed %s: wrote the batch held while the store was away (%d records)", feed.name,
                 totals["accepted"])

    def _write(self, feed, batches, now: datetime) -> dict:
        """Write a poll's batches; → its totals."""
        acc = _Totals()
        for b in batches:
            self._write_batch(feed, b, now, acc)
        return acc.totals()

    def _write_batch(self, feed, b, now: datetime, acc: "_Totals") -> None:
        if self._stopping.is_set():
            raise Stopped("the poller is stopping")
        if b.dataset == "areas":
            for payload in b.records:
                self.store.put_areas(payload)
            if b.records and self.aggregates:
                self.aggregates.ensure_current()   # a new tree places tickets anew: recount
            acc.received += b.received
            return
        for rec in b.records:
            rec["feed"] = feed.name
        if b.dataset == "tickets":
            self._reinstate(feed.name, b.records, now)
        written, missed = self._upsert(b) if b.records else (UpsertResult(), [])
        acc.result += written
        acc.received += b.received
        acc.rejected += len(b.rejects)
        acc.notes += b.notes + missed
        if b.rejects:
            self.store.add_rejects(feed.name, [_masked_reject(r.to_dict(), now, b.dataset)
                                               for r in reversed(b.rejects)], self.settings.poller.rejects_keep)
        if b.dataset == "tickets":
            self._track_open(feed.name, b)
            self._track_ids(feed.name, b.records)
            if b.withdraw:
                acc.notes += self._withdraw(feed.name, b.withdraw, now)

    # -- which tickets a feed holds, and which the upstream withdrew ----------------------
    def _key(self, feed_name: str, what: str) -> str:
        return self.store.k_feed(feed_name, what)

    def _track_ids(self, feed_name: str, records: list[dict]) -> None:
        """This feed's tickets by created_at (for the sweep and the coverage)."""
        if not records:
            return
        self.store.r.zadd(self._key(feed_name, "ids"),
                          {r["ticket_id"]: _ts(r["created_at"]) for r in records if r.get("created_at")})

    def _ids_between(self, feed_name: str, what: str, lo: float, hi: float) -> set[str]:
        return {b.decode() for b in self.store.r.zrangebyscore(self._key(feed_name, what), lo, f"({hi}")}

    def _held_count(self, feed_name: str, lo: float, hi: float) -> int:
        r = self.store.r
        return int(r.zcount(self._key(feed_name, "ids"), lo, f"({hi}")) - \
            int(r.zcount(self._key(feed_name, "withdrawn"), lo, f"({hi}"))

    def _withdraw(self, feed_name: str, ids: list[str], now: datetime) -> list[str]:
        """Mark tickets the upstream no longer serves: kept, `withdrawn_at` set (a newer version,
        so the change reaches every reader), out of every population (metrics/)."""
        ds = self.store.tickets
        marked, stamp = [], _utc_text(now)
        for rec in ds.get(list(ids)):
            if rec is None or rec.get("withdrawn_at"):
                continue
            rec = dict(rec, withdrawn_at=stamp, updated_at=_later(rec.get("updated_at"), stamp))
            marked.append(rec)
        if marked:
            # the counters (when kept) take the withdrawn ones out
            (self.aggregates.upsert if self.aggregates else ds.upsert)(marked)
            key = self._key(feed_name, "withdrawn")
            self.store.r.zadd(key, {r["ticket_id"]: _ts(r["created_at"]) for r in marked})
            self.store.r.srem(self._key(feed_name, "open"), *[r["ticket_id"] for r in marked])
        return [f"tickets: {len(marked)} withdrawn upstream (no longer served)"] if marked else []

    def _reinstate(self, feed_name: str, records: list[dict], now: datetime) -> None:
        """A withdrawn ticket served again comes back: its record is written as a newer version
        than the withdrawal mark."""
        if not records:
            return
        key = self._key(feed_name, "withdrawn")
        if not self.store.r.exists(key):
            return
        with self.store.r.pipeline(transaction=False) as p:
            for r in records:
                p.zscore(key, r["ticket_id"])
            scores = p.execute()
        back = [r for r, s in zip(records, scores) if s is not None]
        if not back:
            return
        stored = {s["ticket_id"]: s for s in self.store.tickets.get([r["ticket_id"] for r in back]) if s}
        for r in back:
            mark = (stored.get(r["ticket_id"]) or {}).get("updated_at")
            r["withdrawn_at"] = None
            if mark and stamp_of(r["updated_at"]) <= stamp_of(mark):
                r["updated_at"] = _later(mark, _utc_text(now))
        self.store.r.zrem(key, *[r["ticket_id"] for r in back])

    def _upsert(self, batch) -> tuple[UpsertResult, list[str]]:
        """Write a batch: plain upsert, or compare-and-set when it says what it expects."""
        ds = self.store.dataset(batch.dataset)
        if batch.dataset == "tickets" and batch.expected is None and self.aggregates:
            return self.aggregates.upsert(batch.records), []
        if batch.expected is None:
            total = UpsertResult()
            for i in range(0, len(batch.records), WRITE_SLICE):   # a stop is seen between slices
                if i and self._stopping.is_set():
                    raise Stopped("the poller is stopping")
                total += ds.upsert(batch.records[i:i + WRITE_SLICE])
            return total, []
        written, missed = ds.upsert_rebasing(batch.records, batch.expected, batch.rebase)
        for rid, why in missed.items():
            log.info("%s %s not written: %s", batch.dataset, rid, why)
        return written, [f"{batch.dataset} {rid} not written: {why}" for rid, why in missed.items()]

    # -- a cheap look at a dead upstream ----------------------------------------------------
    def _probe(self, feed) -> bool:
        """Does the upstream answer again? One `HEAD` of the feed's URL (any answer but a
        "down" status counts: 404 or 405 still mean the server is back), or the file exists."""
        if not feed.url:
            return bool(feed.path) and os.path.exists(feed.path)
        params = {"api_key": feed.api_key} if feed.api_key else None
        try:
            resp = self._session.head(feed.url, params=params, timeout=min(float(feed.timeout_s), 5.0),
                                      allow_redirects=False,
                                      headers={"User-Agent": f"cityops-poller/{self.owner}"})
        except requests.RequestException:
            return False
        return not is_down_status(resp.status_code)

    # -- the open records of a feed (for Open311's re-query of older requests) --------
    def _track_open(self, feed_name: str, batch) -> None:
        if batch.dataset != "tickets" or not batch.records:
            return
        key = self._key(feed_name, "open")
        done = [r["ticket_id"] for r in batch.records if r["status"] in ("closed", "cancelled")]
        still = [r["ticket_id"] for r in batch.records if r["status"] not in ("closed", "cancelled")]
        with self.store.r.pipeline(transaction=False) as p:
            if done:
                p.srem(key, *done)
            if still:
                p.sadd(key, *still)
            p.execute()

    def _open_ids(self, feed_name: str) -> list[str]:
        return [b.decode() for b in self.store.r.smembers(self._key(feed_name, "open"))]

    # -- scheduling ----------------------------------------------------------------------
    def start(self) -> None:
        sched = BackgroundScheduler(timezone=timezone.utc, job_defaults={"coalesce": True, "max_instances": 1,
                                                                         "misfire_grace_time": 30})
        sched.add_job(self.renew, "interval", seconds=max(1.0, self.settings.poller.lease_s / 3),
                      id="lease", next_run_time=self.clock())
        for feed in self.feeds:
            sched.add_job(self.run_feed, "interval", seconds=feed.interval_s, args=[feed],
                          id=f"feed:{feed.name}", next_run_time=self.clock())
        sched.start()
        self._scheduler = sched

    def stop(self, timeout_s: float = 3.0) -> None:
        """Stop polling: a poll in progress ends before its next request or write slice (its
        cursor stays at the last completed write); wait for it at most `timeout_s` — a
        request to a slow upstream still in flight then is abandoned (it writes nothing)."""
        self._stopping.set()
        if self._scheduler:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        deadline = time.monotonic() + timeout_s
        for name, lock in list(self._locks.items()):
            if lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                lock.release()
            else:
                log.info("feed %s: a request is still in flight at the stop; abandoned", name)
        if self.is_leader:
            try:
                self.lease.release()
            except Exception:  # noqa: BLE001 - the store may already be gone at exit
                pass
            self.is_leader = False


class _Totals:
    """What one poll wrote, page after page."""

    def __init__(self):
        self.result, self.received, self.rejected, self.notes = UpsertResult(), 0, 0, []

    def totals(self) -> dict:
        r = self.result
        return dict(received=self.received, accepted=self.received - self.rejected, rejected=self.rejected,
                    inserted=r.inserted, updated=r.updated, unchanged=r.unchanged, stale=r.stale,
                    notes=self.notes[-5:])


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _utc_text(t: datetime) -> str:
    # whole seconds: stamps order as text, and "…:00Z" would sort after "…:00.5Z"
    return t.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _later(stamp: str | None, at: str) -> str:
    """`at`, or just after `stamp` when `stamp` is not older (a clock ahead of ours)."""
    if not stamp or stamp_of(at) > stamp_of(stamp):
        return at
    t = datetime.fromisoformat(stamp.replace("Z", "+00:00")) + timedelta(seconds=1)
    return _utc_text(t)


def _unreachable(exc: BaseException) -> bool:
    """Was the failure the upstream being down (so a cheap probe can tell when it is back)?
    Adapters often re-raise requests' errors as a FeedError `from None`: the original stays
    in `__context__`."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (Unreachable, requests.ConnectionError, requests.Timeout)):
            return True
        if isinstance(e, requests.HTTPError) and e.response is not None and is_down_status(e.response.status_code):
            return True
        e = e.__cause__ or e.__context__
    return False


def _describe(exc: Exception) -> str:
    if isinstance(exc, FeedError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"

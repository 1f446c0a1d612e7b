"""The store: versioned datasets, feed health, rejects, the poller lease and the audit log.

Everything lives in Redis. A dataset keeps each record once (by id) with the timestamp of
its version; an upsert replaces a record only when the new one is strictly newer, so the
same data twice changes nothing and an older record never overwrites a newer one. Every
accepted change bumps the dataset's sequence number and logs the record id under it:
readers keep their own copy and fetch only what changed since the sequence they hold.

Records that several writers change (alarms: the poller and people) are written by
compare-and-set instead (`upsert_expecting`, `upsert_rebasing`): a record lands only if the
store still holds the version it was derived from; otherwise the writer re-reads the
record and redoes its change on it. Same script, same change log.

Keys share a hash tag per dataset (``cityops:{tickets}:rec``) so the upsert script also
runs on Redis Cluster: no script, transaction or multi-key command touches keys of two
hash tags (tests run the store on a real 3-master cluster).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable, Iterator, Mapping

import orjson
import redis

from dashboard.store.scripts import KTH, RECOUNT, RELEASE, RENEW, SUM, UPSERT  # the Lua side

BATCH = 2000
# How a compare-and-set writer redoes its change on the record stored meanwhile (None: gone):
# the record to try instead, or a text saying why the change is given up
Rebase = Callable[[dict | None, dict], "dict | str"]
_CANONICAL_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def stamp_of(value) -> str:
    """A version stamp that orders as text: UTC ISO 8601 ending in Z ("" when absent)."""
    if not value:
        return ""
    text = str(value)
    if _CANONICAL_STAMP.match(text):
        return text
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if t.tzinfo is None:
        return text
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class UpsertResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0          # older than what the store holds: ignored

    def __add__(self, other: "UpsertResult") -> "UpsertResult":
        return UpsertResult(self.inserted + other.inserted, self.updated + other.updated,
                            self.unchanged + other.unchanged, self.stale + other.stale)

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


class Dataset:
    """One versioned collection of records keyed by an id field."""

    def __init__(self, r: redis.Redis, ns: str, name: str, id_field: str, stamp_field: str = "updated_at"):
        self.r, self.name, self.id_field, self.stamp_field = r, name, id_field, stamp_field
        base = f"{ns}:{{{name}}}"
        self.k_rec, self.k_stamp, self.k_log, self.k_seq = (f"{base}:rec", f"{base}:stamp",
                                                            f"{base}:log", f"{base}:seq")
        self.k_agg, self.k_contrib = f"{base}:agg", f"{base}:agg:contrib"
        self._upsert = r.register_script(UPSERT)
        self._recount = r.register_script(RECOUNT)
        self._kth = r.register_script(KTH)
        self._sum = r.register_script(SUM)

    def upsert(self, records: Iterable[dict]) -> UpsertResult:
        return self._write(records, None)[0]

    def upsert_expecting(self, records: Iterable[dict],
                         expected: Mapping[str, str | None]) -> tuple[UpsertResult, list[str]]:
        """Compare-and-set: write each record only if the store still holds the version it
        was derived from, `expected[id]` (its `updated_at`; None or no entry: the record must
        not exist yet) and its own stamp is strictly newer. Returns (what was written, the
        ids not written because the stored record differs: read it again and redo)."""
        return self._write(records, expected)

    def upsert_rebasing(self, records: Iterable[dict], expected: Mapping[str, str | None],
                        rebase: Rebase | None, tries: int = 3) -> tuple[UpsertResult, dict[str, str]]:
        """`upsert_expecting`, redoing each conflict on the record stored meanwhile.

        For an id that conflicts, `rebase(stored, attempted)` gets the stored record (None if
        gone) and the record just tried; it returns the record to try instead (derived from
        `stored`, with a newer stamp) or a text saying why the change is given up. A record
        is tried at most `tries` times. Returns (what was written, {id: why not written}).
        """
        total, missed = UpsertResult(), {}
        pending, expect = list(records), dict(expected)
        for attempt in range(1, tries + 1):
            result, conflicts = self.upsert_expecting(pending, expect)
            total += result
            if not conflicts:
                break
            if rebase is None or attempt == tries:
                missed.update(dict.fromkeys(conflicts, f"changed meanwhile by another writer ({attempt} tries)"))
                break
            pending, expect = self._rebased(pending, conflicts, rebase, missed)
        return total, missed

    def _rebased(self, tried: list[dict], conflicts: list[str], rebase: Rebase,
                 missed: dict[str, str]) -> tuple[list[dict], dict[str, str | None]]:
        attempted = {str(rec[self.id_field]): rec for rec in tried}
        again, expect = [], {}
        for rid, stored in zip(conflicts, self.get(conflicts)):
            out = rebase(stored, attempted[rid])
            if isinstance(out, str):
                missed[rid] = out
                continue
            again.append(out)
            expect[rid] = None if stored is None else stamp_of(stored.get(self.stamp_field))
        return again, expect

    def _write(self, records: Iterable[dict], expected: Mapping[str, str | None] | None,
               contributions: Iterable[str] | None = None) -> tuple[UpsertResult, list[str]]:
        """Run the script over `records` in chunks (compare-and-set when `expected` is given;
        keeping the aggregates when `contributions` is, one encoded text per record)."""
        total, conflicts, args = UpsertResult(), [], []
        mode = "1" if expected is not None else ("2" if contributions is not None else "0")
        step = 3 if mode == "0" else 4
        extra = iter(contributions) if contributions is not None else None
        for rec in records:
            rid = str(rec[self.id_field])
            args += [rid, stamp_of(rec.get(self.stamp_field)), orjson.dumps(rec)]
            if expected is not None:
                args.append(_expectation(expected.get(rid)))
            elif extra is not None:
                args.append(next(extra))
            if len(args) >= step * BATCH:
                result, ids = self._run(args, mode)
                total, conflicts, args = total + result, conflicts + ids, []
        if args:
            result, ids = self._run(args, mode)
            total, conflicts = total + result, conflicts + ids
        return total, conflicts

    def _run(self, args: list, mode: str) -> tuple[UpsertResult, list[str]]:
        ins, upd, same, stale, *ids = self._upsert(
            keys=[self.k_rec, self.k_stamp, self.k_log, self.k_seq, self.k_contrib],
            args=[mode, self.k_agg, *args])
        return (UpsertResult(int(ins), int(upd), int(same), int(stale)),
                [i.decode() if isinstance(i, bytes) else str(i) for i in ids])

    # -- aggregates: counters kept with the records (see scripts.APPLY) -----------------------
    def upsert_counted(self, records: list[dict], contributions: list[list[tuple]]) -> UpsertResult:
        """`upsert`, keeping the aggregates: `contributions[i]` is what records[i] adds to the
        counters, as (day, level, code, population, amount) tuples. A record written takes
        its old version's contribution out and puts its own in, atomically; a stale or
        unchanged one changes nothing."""
        return self._write(records, None, [encode_contribution(c) for c in contributions])[0]

    def recount(self, stamped: list[tuple[str, str, list[tuple]]]) -> int:
        """Replace the stored contribution of each (id, stamp, contribution) whose record still
        has that stamp; returns how many were replaced."""
        done, args = 0, []
        for rid, stamp, contrib in stamped:
            args += [rid, stamp_of(stamp), encode_contribution(contrib)]
            if len(args) >= 3 * BATCH:
                done += int(self._recount(keys=[self.k_stamp, self.k_contrib], args=["3", self.k_agg, *args]))
                args = []
        if args:
            done += int(self._recount(keys=[self.k_stamp, self.k_contrib], args=["3", self.k_agg, *args]))
        return done

    def agg_counts(self, days: Iterable[int], level: str, codes: Iterable[str],
                   populations: Iterable[str]) -> dict[tuple[str, str], int]:
        """(code, population) -> count summed over `days`, for the units of one level."""
        days = list(days)
        wanted = [(c, p) for c in codes for p in populations]
        fields = [f"{_escape(c)}|{p}" for c, p in wanted]
        if not days or not fields:
            return {}
        sums = self._sum(keys=[f"{self.k_agg}:c:{d}:{level}" for d in days], args=fields)   # summed in Redis
        return {key: int(n) for key, n in zip(wanted, sums) if n != b"0"}

    def agg_cell(self, day: int, level: str) -> dict[tuple[str, str], int]:
        """Every counter of one (day, level): (code, population) -> count."""
        out = {}
        for field, value in self.r.hgetall(f"{self.k_agg}:c:{day}:{level}").items():
            code, pop = field.decode().rsplit("|", 1)
            if int(value):
                out[(_unescape(code), pop)] = int(value)
        return out

    def agg_amounts(self, day: int, level: str, code: str) -> list[int]:
        """The handling times kept for one unit on one day."""
        return [int(s) for _, s in self.r.zrange(f"{self.k_agg}:h:{day}:{level}:{_escape(code)}", 0, -1,
                                                 withscores=True)]

    def agg_ranked(self, days: Iterable[int], level: str,
                   ranks: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int] | None]:
        """For each code, the handling times at its two adjacent 0-based ranks over `days`
        (None: none kept); one script call for all of them."""
        days = list(days)
        keys, args, codes = [], [], list(ranks)
        for code in codes:
            keys += [f"{self.k_agg}:h:{d}:{level}:{_escape(code)}" for d in days]
            args += [len(days), *ranks[code]]
        got = self._kth(keys=keys, args=args) if codes and days else []
        out = {}
        for i, code in enumerate(codes):
            a, b = got[2 * i], got[2 * i + 1]
            out[code] = (int(a), int(b)) if a not in (b"", "") else None
        return out

    def agg_cells(self) -> list[tuple[int, str]]:
        """The (day, level) pairs that have counters."""
        prefix = f"{self.k_agg}:c:"
        out = []
        for k in self.r.scan_iter(match=prefix + "*", count=1000):
            day, level = k.decode()[len(prefix):].split(":", 1)
            out.append((int(day), level))
        return sorted(out)

    def agg_meta(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.r.hgetall(f"{self.k_agg}:meta").items()}

    def put_agg_meta(self, meta: dict[str, str]) -> None:
        self.r.hset(f"{self.k_agg}:meta", mapping=meta)

    def clear_aggregates(self) -> None:
        """Drop every counter and stored contribution (a rebuild follows)."""
        keys = [self.k_contrib, f"{self.k_agg}:meta"]
        keys += [k for k in self.r.scan_iter(match=f"{self.k_agg}:[ch]:*", count=1000)]
        for chunk in _chunks(keys, 500):
            self.r.delete(*chunk)

    def iter_stamped(self, chunk: int = 5000) -> Iterator[list[dict]]:
        """Every record, a chunk at a time (HSCAN: bounded memory)."""
        batch: list[dict] = []
        for _, body in self.r.hscan_iter(self.k_rec, count=chunk):
            batch.append(orjson.loads(body))
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    def version(self) -> int:
        """The sequence number of the latest accepted change (0 = empty)."""
        return int(self.r.get(self.k_seq) or 0)

    def count(self) -> int:
        return int(self.r.hlen(self.k_rec))

    def get(self, ids: list[str]) -> list[dict | None]:
        if not ids:
            return []
        return [orjson.loads(b) if b else None for b in self.r.hmget(self.k_rec, ids)]

    def all(self) -> tuple[int, list[dict]]:
        """(version, every record), read in one transaction."""
        with self.r.pipeline(transaction=True) as p:
            p.get(self.k_seq)
            p.hvals(self.k_rec)
            seq, vals = p.execute()
        return int(seq or 0), [orjson.loads(v) for v in vals]

    def changes_since(self, seq: int) -> tuple[int, list[dict]]:
        """(new version, records changed after `seq`); a reader's cheap refresh."""
        now_seq = self.version()
        if now_seq <= seq:
            return now_seq, []
        ids = self.r.zrangebyscore(self.k_log, seq + 1, "+inf")
        out: list[dict] = []
        for chunk in _chunks(ids, 10000):
            out += [orjson.loads(b) for b in self.r.hmget(self.k_rec, chunk) if b]
        return now_seq, out

    def clear(self) -> None:
        self.r.delete(self.k_rec, self.k_stamp, self.k_log)
        self.r.incr(self.k_seq)  # readers holding old data must notice


def encode_contribution(entries: Iterable[tuple]) -> str:
    """(day, level, code, population, amount) tuples -> the script's text (see scripts.APPLY):
    units that get the same items share one group."""
    per_unit: dict[tuple[str, str], list[tuple]] = {}
    for day, level, code, pop, amount in entries:
        per_unit.setdefault((level, code), []).append((day, pop, amount))
    by_items: dict[tuple, list[tuple[str, str]]] = {}
    for unit, items in per_unit.items():
        by_items.setdefault(tuple(items), []).append(unit)
    lines = []
    for items, units in by_items.items():
        lines += [f"u\t{level}\t{_escape(code)}" for level, code in units]
        lines += [f"i\t{day}\t{pop}\t{amount}" for day, pop, amount in items]
    return "\n".join(lines)


def _escape(unit: str) -> str:
    """A unit name without the separators of the encoding (tab, newline; and ":" is left
    alone: key parts after the level are the code's)."""
    if "\\" in unit or "\t" in unit or "\n" in unit:
        return unit.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return unit


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"t": "\t", "n": "\n"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _expectation(stamp: str | None) -> str:
    """The script's form of an expected stamp: '' = no record, '=' + stamp = that version."""
    return "" if stamp is None else "=" + stamp_of(stamp)


def _chunks(seq: list, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class Lease:
    """`SET key me NX PX t`, renewed while held: exactly one holder across processes."""

    def __init__(self, r: redis.Redis, key: str, owner: str, ttl_s: float):
        self.r, self.key, self.owner, self.ttl_ms = r, key, owner, int(ttl_s * 1000)
        self._renew = r.register_script(RENEW)
        self._release = r.register_script(RELEASE)

    def acquire_or_renew(self) -> bool:
        if self._renew(keys=[self.key], args=[self.owner, self.ttl_ms]):
            return True
        return bool(self.r.set(self.key, self.owner, nx=True, px=self.ttl_ms))

    def holder(self) -> str | None:
        v = self.r.get(self.key)
        return v.decode() if v else None

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.owner])


class Store:
    """The one door to Redis for feeds (writers) and the query layer (readers)."""

    DATASETS = {"tickets": "ticket_id", "sensors": "sensor_id", "alarms": "alarm_id",
                "enterprises": "key", "responders": "team_id", "readings": "key"}

    def __init__(self, r: redis.Redis, namespace: str = "cityops"):
        self.r, self.ns = r, namespace
        self._datasets = {n: Dataset(r, namespace, n, idf) for n, idf in self.DATASETS.items()}

    def dataset(self, name: str) -> Dataset:
        return self._datasets[name]

    @property
    def tickets(self) -> Dataset:
        return self._datasets["tickets"]

    def ping(self) -> bool:
        return bool(self.r.ping())

    # -- area tree: small, replaced whole, versioned ---------------------------------
    # body and version share a hash tag: read and written together in one transaction
    @property
    def k_areas_body(self) -> str:
        return f"{self.ns}:{{areas}}:body"

    @property
    def k_areas_version(self) -> str:
        return f"{self.ns}:{{areas}}:version"

    def put_areas(self, payload: dict) -> int:
        body = orjson.dumps(payload)
        old = self.r.get(self.k_areas_body)
        if old == body:
            return int(self.r.get(self.k_areas_version) or 0)
        with self.r.pipeline(transaction=True) as p:
            p.set(self.k_areas_body, body)
            p.incr(self.k_areas_version)
            return int(p.execute()[1])

    def areas(self) -> tuple[int, dict | None]:
        with self.r.pipeline(transaction=True) as p:
            p.get(self.k_areas_version)
            p.get(self.k_areas_body)
            v, body = p.execute()
        return int(v or 0), (orjson.loads(body) if body else None)

    def areas_version(self) -> int:
        return int(self.r.get(self.k_areas_version) or 0)

    # -- feed health, rejects and polling state --------------------------------------
    def k_feed(self, feed: str, what: str) -> str:
        """A key of feed `feed` (health, rejects, state; for ticket feeds the poller's ids by
        created time, withdrawn ids and open ids)."""
        return f"{self.ns}:feed:{feed}:{what}"

    def feed_ticket_counts(self, feeds: Iterable[str]) -> dict[str, int]:
        """Tickets each ticket feed has delivered (the poller's ids of the feed): what the
        console holds from it, without reading a ticket."""
        feeds = list(feeds)
        with self.r.pipeline(transaction=False) as p:     # one key per feed: keys span cluster slots
            for f in feeds:
                p.zcard(self.k_feed(f, "ids"))
            return {f: int(n) for f, n in zip(feeds, p.execute()) if n}

    def put_health(self, feed: str, health: dict) -> None:
        with self.r.pipeline(transaction=False) as p:
            p.sadd(f"{self.ns}:feeds", feed)
            p.set(self.k_feed(feed, "health"), orjson.dumps(health))
            p.execute()

    def feed_health(self, feed: str) -> dict:
        raw = self.r.get(self.k_feed(feed, "health"))
        return orjson.loads(raw) if raw else {}

    def health(self) -> dict[str, dict]:
        names = sorted(n.decode() for n in self.r.smembers(f"{self.ns}:feeds"))
        with self.r.pipeline(transaction=False) as p:   # GETs, not MGET: the keys span cluster slots
            for n in names:
                p.get(self.k_feed(n, "health"))
            vals = p.execute() if names else []
        return {n: orjson.loads(v) for n, v in zip(names, vals) if v}

    def add_rejects(self, feed: str, rejects: list[dict], keep: int) -> None:
        if not rejects:
            return
        key = self.k_feed(feed, "rejects")
        with self.r.pipeline(transaction=True) as p:
            p.lpush(key, *[orjson.dumps(x) for x in rejects])
            p.ltrim(key, 0, keep - 1)
            p.execute()

    def rejects(self, feed: str, limit: int = 100) -> list[dict]:
        return [orjson.loads(b) for b in self.r.lrange(self.k_feed(feed, "rejects"), 0, limit - 1)]

    def feed_state(self, feed: str) -> dict:
        raw = self.r.get(self.k_feed(feed, "state"))
        return orjson.loads(raw) if raw else {}

    def put_feed_state(self, feed: str, state: dict) -> None:
        self.r.set(self.k_feed(feed, "state"), orjson.dumps(state))

    # -- coordination and audit ------------------------------------------------------
    def lease(self, name: str, owner: str, ttl_s: float) -> Lease:
        return Lease(self.r, f"{self.ns}:lease:{name}", owner, ttl_s)

    def audit(self, entry: dict, keep: int = 100_000) -> None:
        entry = {"at": time.time(), **entry}
        with self.r.pipeline(transaction=True) as p:
            p.lpush(f"{self.ns}:audit", orjson.dumps(entry))
            p.ltrim(f"{self.ns}:audit", 0, keep - 1)
            p.execute()

    def audit_log(self, limit: int = 100) -> list[dict]:
        return [orjson.loads(b) for b in self.r.lrange(f"{self.ns}:audit", 0, limit - 1)]

    # -- access: accounts, tokens, login failures, shared console state -----------------
    # Small JSON records by kind ("user", "token"), one Redis hash per kind.
    def record(self, kind: str, key: str) -> dict | None:
        raw = self.r.hget(f"{self.ns}:{kind}s", key)
        return orjson.loads(raw) if raw else None

    def records(self, kind: str) -> dict[str, dict]:
        return {k.decode(): orjson.loads(v) for k, v in self.r.hgetall(f"{self.ns}:{kind}s").items()}

    def put_record(self, kind: str, key: str, value: dict) -> None:
        self.r.hset(f"{self.ns}:{kind}s", key, orjson.dumps(value))

    def delete_record(self, kind: str, key: str) -> None:
        self.r.hdel(f"{self.ns}:{kind}s", key)

    def count_failure(self, name: str, ttl_s: float) -> int:
        """One more failure of `name` (failed logins), forgotten `ttl_s` after the last one."""
        key = f"{self.ns}:failures:{name}"
        with self.r.pipeline(transaction=True) as p:
            p.incr(key)
            p.pexpire(key, int(ttl_s * 1000))
            n, _ = p.execute()
        return int(n)

    def failures(self, name: str) -> int:
        return int(self.r.get(f"{self.ns}:failures:{name}") or 0)

    def clear_failures(self, name: str) -> None:
        self.r.delete(f"{self.ns}:failures:{name}")

    def console_state(self, name: str) -> dict:
        """Shared state every process and wall sees (emergency mode)."""
        raw = self.r.get(f"{self.ns}:state:{name}")
        return orjson.loads(raw) if raw else {}

    def put_console_state(self, name: str, value: dict) -> None:
        self.r.set(f"{self.ns}:state:{name}", orjson.dumps(value))

    def audit_count(self) -> int:
        return int(self.r.llen(f"{self.ns}:audit"))

    def audit_restore(self, entries: list[dict], keep: int = 100_000) -> None:
        """Entries (newest first) put back after a Redis loss, in the order they were written."""
        if not entries:
            return
        with self.r.pipeline(transaction=True) as p:
            p.delete(f"{self.ns}:audit")
            p.rpush(f"{self.ns}:audit", *[orjson.dumps(e) for e in entries[:keep]])
            p.execute()


# ---- stamps: the `updated_at` the store orders versions by --------------------------------
def stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_stamp(old: str | None, at: datetime) -> str:
    """`at` as a stamp, or one second after `old` when `at` is not strictly newer."""
    s = stamp(at)
    if old and s <= old:
        s = stamp(datetime.strptime(old, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) + timedelta(seconds=1))
    return s

"""The store: versioned datasets, feed health, rejects, the poller lease and the audit log.

Everything lives in Redis. A dataset keeps each record once (by id) with the timestamp of
its version; an upsert replaces a record only when the new one is strictly newer, so the
same data twice changes nothing and an older record never overwrites a newer one. Every
accepted change bumps the dataset's sequence number and logs the record id under it:
readers keep their own copy and fetch only what changed since the sequence they hold.

Keys share a hash tag per dataset (``cityops:{tickets}:rec``) so the upsert script also
runs on Redis Cluster.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable, Iterator

import orjson
import redis

_UPSERT = """
local ins, upd, same, stale = 0, 0, 0, 0
for i = 1, #ARGV, 3 do
  local id, stamp, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = redis.call('HGET', KEYS[2], id)
  if (not old) or stamp > old then
    redis.call('HSET', KEYS[1], id, body)
    redis.call('HSET', KEYS[2], id, stamp)
    local s = redis.call('INCR', KEYS[4])
    redis.call('ZADD', KEYS[3], s, id)
    if old then upd = upd + 1 else ins = ins + 1 end
  elseif stamp == old then
    same = same + 1
  else
    stale = stale + 1
  end
end
return {ins, upd, same, stale}
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

BATCH = 2000
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
        self._upsert = r.register_script(_UPSERT)

    def upsert(self, records: Iterable[dict]) -> UpsertResult:
        total = UpsertResult()
        args: list = []
        for rec in records:
            args += [str(rec[self.id_field]), stamp_of(rec.get(self.stamp_field)), orjson.dumps(rec)]
            if len(args) >= 3 * BATCH:
                total += self._run(args)
                args = []
        if args:
            total += self._run(args)
        return total

    def _run(self, args: list) -> UpsertResult:
        ins, upd, same, stale = self._upsert(keys=[self.k_rec, self.k_stamp, self.k_log, self.k_seq], args=args)
        return UpsertResult(int(ins), int(upd), int(same), int(stale))

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

    def iter_ids(self) -> Iterator[str]:
        for key in self.r.hscan_iter(self.k_stamp):
            yield key[0].decode()

    def clear(self) -> None:
        self.r.delete(self.k_rec, self.k_stamp, self.k_log)
        self.r.incr(self.k_seq)  # readers holding old data must notice


def _chunks(seq: list, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class Lease:
    """`SET key me NX PX t`, renewed while held: exactly one holder across processes."""

    def __init__(self, r: redis.Redis, key: str, owner: str, ttl_s: float):
        self.r, self.key, self.owner, self.ttl_ms = r, key, owner, int(ttl_s * 1000)
        self._renew = r.register_script(_RENEW)
        self._release = r.register_script(_RELEASE)

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
    def put_areas(self, payload: dict) -> int:
        body = orjson.dumps(payload)
        with self.r.pipeline(transaction=True) as p:
            p.get(f"{self.ns}:areas:body")
            (old,) = p.execute()
        if old == body:
            return int(self.r.get(f"{self.ns}:areas:version") or 0)
        with self.r.pipeline(transaction=True) as p:
            p.set(f"{self.ns}:areas:body", body)
            p.incr(f"{self.ns}:areas:version")
            return int(p.execute()[1])

    def areas(self) -> tuple[int, dict | None]:
        with self.r.pipeline(transaction=True) as p:
            p.get(f"{self.ns}:areas:version")
            p.get(f"{self.ns}:areas:body")
            v, body = p.execute()
        return int(v or 0), (orjson.loads(body) if body else None)

    def areas_version(self) -> int:
        return int(self.r.get(f"{self.ns}:areas:version") or 0)

    # -- feed health, rejects and polling state --------------------------------------
    def put_health(self, feed: str, health: dict) -> None:
        with self.r.pipeline(transaction=False) as p:
            p.sadd(f"{self.ns}:feeds", feed)
            p.set(f"{self.ns}:feed:{feed}:health", orjson.dumps(health))
            p.execute()

    def feed_health(self, feed: str) -> dict:
        raw = self.r.get(f"{self.ns}:feed:{feed}:health")
        return orjson.loads(raw) if raw else {}

    def health(self) -> dict[str, dict]:
        names = sorted(n.decode() for n in self.r.smembers(f"{self.ns}:feeds"))
        vals = self.r.mget([f"{self.ns}:feed:{n}:health" for n in names]) if names else []
        return {n: orjson.loads(v) for n, v in zip(names, vals) if v}

    def add_rejects(self, feed: str, rejects: list[dict], keep: int) -> None:
        if not rejects:
            return
        key = f"{self.ns}:feed:{feed}:rejects"
        with self.r.pipeline(transaction=True) as p:
            p.lpush(key, *[orjson.dumps(x) for x in rejects])
            p.ltrim(key, 0, keep - 1)
            p.execute()

    def rejects(self, feed: str, limit: int = 100) -> list[dict]:
        return [orjson.loads(b) for b in self.r.lrange(f"{self.ns}:feed:{feed}:rejects", 0, limit - 1)]

    def feed_state(self, feed: str) -> dict:
        raw = self.r.get(f"{self.ns}:feed:{feed}:state")
        return orjson.loads(raw) if raw else {}

    def put_feed_state(self, feed: str, state: dict) -> None:
        self.r.set(f"{self.ns}:feed:{feed}:state", orjson.dumps(state))

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

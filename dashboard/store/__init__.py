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

# Counters kept with a dataset (its aggregates). A record's *contribution* says which
# counters it adds to: entries (day, level, code, population, amount), each adding <amount>
# to field "<code>|<population>" of hash <agg>:c:<day>:<level>; a "handled" entry adds 1
# there and <amount> (a handling time) to "<code>|handled_us", and keeps the amount in the
# sorted set <agg>:h:<day>:<level>:<code> (member: the record's id), for exact quantiles.
# As text (compact: a ticket adds the same items to every node of its path), groups of
# lines "u\t<level>\t<code>" (units) then "i\t<day>\t<population>\t<amount>" (items): every
# unit of a group gets every item of it. Applying a contribution with sign -1 takes it out
# again. <agg>:contrib keeps id -> contribution.
_APPLY = r"""
local agg = ARGV[2]
local delta, zops = {}, {}
local function add(level, code, day, pop, amount, id, sign)
  local key = agg .. ':c:' .. day .. ':' .. level
  local t = delta[key]
  if not t then t = {}; delta[key] = t end
  local field = code .. '|' .. pop
  local n = tonumber(amount)
  if pop == 'handled' then
    t[field] = (t[field] or 0) + sign
    t[field .. '_us'] = (t[field .. '_us'] or 0) + sign * n
    zops[#zops + 1] = {sign, agg .. ':h:' .. day .. ':' .. level .. ':' .. code, amount, id}
  else
    t[field] = (t[field] or 0) + sign * n
  end
end
local function apply(contrib, id, sign)
  if not contrib or contrib == '' then return end
  local units, items = {}, {}
  local function emit()
    for _, u in ipairs(units) do
      for _, it in ipairs(items) do add(u[1], u[2], it[1], it[2], it[3], id, sign) end
    end
  end
  for line in string.gmatch(contrib, "[^\n]+") do
    if string.sub(line, 1, 1) == 'u' then
      if #items > 0 then emit(); units, items = {}, {} end
      local level, code = string.match(line, "^u\t([^\t]*)\t(.*)$")
      units[#units + 1] = {level, code}
    else
      local day, pop, amount = string.match(line, "^i\t(%-?%d+)\t([^\t]+)\t(%-?%d+)$")
      items[#items + 1] = {day, pop, amount}
    end
  end
  if #items > 0 then emit() end
end
local function flush()
  for _, op in ipairs(zops) do
    if op[1] > 0 then redis.call('ZADD', op[2], op[3], op[4]) else redis.call('ZREM', op[2], op[4]) end
  end
  for key, t in pairs(delta) do
    for field, v in pairs(t) do
      if v ~= 0 then redis.call('HINCRBY', key, field, string.format('%.0f', v)) end
    end
  end
end
"""

# The fields ARGV of the hashes KEYS, each summed over the hashes (one reply of sums).
_SUM = """
local sums = {}
for i = 1, #ARGV do sums[i] = 0 end
for _, k in ipairs(KEYS) do
  local got = redis.call('HMGET', k, unpack(ARGV))
  for i = 1, #ARGV do if got[i] then sums[i] = sums[i] + tonumber(got[i]) end end
end
for i = 1, #ARGV do sums[i] = string.format('%.0f', sums[i]) end
return sums
"""

# For several units at once (one round trip): ARGV is (number of keys, rank, next rank)
# per unit, KEYS their sorted sets one unit after the other; the reply has two values per
# unit (empty strings: nothing kept): the scores at those 0-based ranks of the union of the
# unit's sets, by a binary search on the (integer) score with ZCOUNT, then the next score.
_KTH = """
local out, base = {}, 0
for u = 1, #ARGV, 3 do
  local nkeys, r1, r2 = tonumber(ARGV[u]), tonumber(ARGV[u + 1]), tonumber(ARGV[u + 2])
  local keys = {}
  for i = 1, nkeys do keys[i] = KEYS[base + i] end
  base = base + nkeys
  local lo, hi
  for _, k in ipairs(keys) do
    local a = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if a[2] then local x = tonumber(a[2]); if not lo or x < lo then lo = x end end
    local b = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
    if b[2] then local x = tonumber(b[2]); if not hi or x > hi then hi = x end end
  end
  if not lo then
    out[#out + 1] = ''; out[#out + 1] = ''
  else
    local function count_le(v)
      local n = 0
      for _, k in ipairs(keys) do n = n + redis.call('ZCOUNT', k, '-inf', string.format('%.0f', v)) end
      return n
    end
    local a, b = lo, hi
    while a < b do
      local mid = math.floor((a + b) / 2)
      if count_le(mid) >= r1 + 1 then b = mid else a = mid + 1 end
    end
    local first, second = a, a
    if r2 ~= r1 and count_le(first) < r2 + 1 then
      second = nil
      for _, k in ipairs(keys) do
        local c = redis.call('ZRANGEBYSCORE', k, '(' .. string.format('%.0f', first), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
        if c[2] then local x = tonumber(c[2]); if not second or x < second then second = x end end
      end
    end
    out[#out + 1] = string.format('%.0f', first); out[#out + 1] = string.format('%.0f', second)
  end
end
return out
"""

_UPSERT = _APPLY + """
-- ARGV[1] '0': plain upsert, then (id, stamp, body) per record.
-- ARGV[1] '1': compare-and-set, then (id, stamp, body, expected) per record: written only
-- when the stored stamp is the expected one ('' = no record, '=' .. stamp = that stamp) and
-- the new stamp is strictly newer; otherwise the id is returned as a conflict.
-- ARGV[1] '2': plain upsert keeping the aggregates, then (id, stamp, body, contribution):
-- a record written takes its old version's contribution out of the counters and puts its
-- own in, in the same script (so out-of-order and repeated deliveries count once).
-- ARGV[2]: the aggregates' key prefix (mode '2').
-- A batch costs a fixed handful of calls, not calls per record: one HMGET of the stored
-- stamps, then one HSET of the bodies, one of the stamps, one ZADD to the change log and one
-- SET of the sequence number (mode '2': an HMGET and HSET of the contributions, and one
-- HINCRBY per counter the batch changed). Records are taken in order; an id met twice in
-- one batch is compared with the version the batch itself wrote.
-- Stamps are UTC ISO texts ending in Z, with or without a fraction ("...:31Z", "...:31.5Z"):
-- they are compared with the fraction padded to six digits, so "...:31.5Z" is newer than
-- "...:31Z" (as texts it would sort before it) and "...:31.500000Z" is the same version.
local function key(s)
  local base, frac = string.match(s, '^(.-:%d%d)%.?(%d*)Z$')
  if not base then return s end
  return base .. '.' .. string.sub(frac .. '000000', 1, 6) .. 'Z'
end
local cas = ARGV[1] == '1'
local keep = ARGV[1] == '2'
local step = (cas or keep) and 4 or 3
local out = {0, 0, 0, 0}   -- inserted, updated, unchanged, stale; then the conflicting ids
local ids = {}
for i = 3, #ARGV, step do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return out end
local stored = redis.call('HMGET', KEYS[2], unpack(ids))
local old_contrib = keep and redis.call('HMGET', KEYS[5], unpack(ids)) or {}
local written = {}         -- id -> stamp written by this batch
local written_contrib = {}
local seq = tonumber(redis.call('GET', KEYS[4]) or '0')
local first = seq
local bodies, stamps, log, contribs = {}, {}, {}, {}
for k = 1, #ids do
  local i = 3 + (k - 1) * step
  local id, stamp, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = written[id]
  if old == nil then old = stored[k] end
  if old == false then old = nil end
  local newer = (not old) or key(stamp) > key(old)
  if cas and not (newer and ARGV[i + 3] == (old and ('=' .. old) or '')) then
    out[#out + 1] = id
  elseif newer then
    seq = seq + 1
    bodies[#bodies + 1] = id; bodies[#bodies + 1] = body
    stamps[#stamps + 1] = id; stamps[#stamps + 1] = stamp
    log[#log + 1] = seq; log[#log + 1] = id
    written[id] = stamp
    if keep then
      local before = written_contrib[id]
      if before == nil then before = old_contrib[k] end
      if before then apply(before, id, -1) end
      apply(ARGV[i + 3], id, 1)
      written_contrib[id] = ARGV[i + 3]
      contribs[#contribs + 1] = id; contribs[#contribs + 1] = ARGV[i + 3]
    end
    if old then out[2] = out[2] + 1 else out[1] = out[1] + 1 end
  elseif key(stamp) == key(old) then
    out[3] = out[3] + 1
  else
    out[4] = out[4] + 1
  end
end
if seq > first then
  redis.call('HSET', KEYS[1], unpack(bodies))
  redis.call('HSET', KEYS[2], unpack(stamps))
  redis.call('ZADD', KEYS[3], unpack(log))
  redis.call('SET', KEYS[4], seq)
  if keep then
    redis.call('HSET', KEYS[5], unpack(contribs))
    flush()
  end
end
return out
"""

# Recount: (id, stamp, contribution) per record: where the stored record still has that
# stamp, its stored contribution is replaced by the given one (a rebuild after the area tree
# changed; a record changed meanwhile was counted by its own upsert and is left alone).
_RECOUNT = _APPLY + """
local ids = {}
for i = 3, #ARGV, 3 do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return 0 end
local stored = redis.call('HMGET', KEYS[1], unpack(ids))
local old_contrib = redis.call('HMGET', KEYS[2], unpack(ids))
local contribs, n = {}, 0
for k = 1, #ids do
  local i = 3 + (k - 1) * 3
  if stored[k] == ARGV[i + 1] then
    if old_contrib[k] then apply(old_contrib[k], ARGV[i], -1) end
    apply(ARGV[i + 2], ARGV[i], 1)
    contribs[#contribs + 1] = ARGV[i]; contribs[#contribs + 1] = ARGV[i + 2]
    n = n + 1
  end
end
if n > 0 then
  redis.call('HSET', KEYS[2], unpack(contribs))
  flush()
end
return n
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
        self._upsert = r.register_script(_UPSERT)
        self._recount = r.register_script(_RECOUNT)
        self._kth = r.register_script(_KTH)
        self._sum = r.register_script(_SUM)

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

    # -- aggregates: counters kept with the records (see _APPLY) -----------------------
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
    """(day, level, code, population, amount) tuples -> the script's text (see _APPLY):
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
        with self.r.pipeline(transaction=False) as p:   # GETs, not MGET: the keys span cluster slots
            for n in names:
                p.get(f"{self.ns}:feed:{n}:health")
            vals = p.execute() if names else []
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

"""The store's Lua scripts: the versioned upsert (plain and compare-and-set) keeping the
aggregates, the recount, quantile search over the handling-time sets, and the lease.

Each script touches only keys of one hash tag, so it also runs on Redis Cluster. The Python
side that calls them is `dashboard/store/__init__.py`.
"""

# Counters kept with a dataset (its aggregates). A record's *contribution* says which
# counters it adds to: entries (day, level, code, population, amount), each adding <amount>
# to field "<code>|<population>" of hash <agg>:c:<day>:<level>; a "handled" entry adds 1
# there and <amount> (a handling time) to "<code>|handled_us", and keeps the amount in the
# sorted set <agg>:h:<day>:<level>:<code> (member: the record's id), for exact quantiles.
# As text (compact: a ticket adds the same items to every node of its path), groups of
# lines "u\t<level>\t<code>" (units) then "i\t<day>\t<population>\t<amount>" (items): every
# unit of a group gets every item of it. Applying a contribution with sign -1 takes it out
# again. <agg>:contrib keeps id -> contribution.
APPLY = r"""
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
SUM = """
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
KTH = """
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

UPSERT = APPLY + """
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
RECOUNT = APPLY + """
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

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

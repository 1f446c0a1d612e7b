"""Sensor and responder feeds for the poller: registry and readings in, alarms out.

Adapters registered in `feeds.registry` for (sensors, json | fiware); (sensors, sensorthings)
is in `feeds.sensors.sensorthings_poll` and (responders, json) in `feeds.sensors.responders`, on the same
registry, readings and alarms steps. One poll of a sensor feed:
1. the sensor registry (`[feeds.sensor] registry_url`, canonical sensor fields), re-read
   every `REGISTRY_EVERY_S`, positions converted to WGS-84 → dataset "sensors";
2. readings (and FIWARE Alert/Anomaly alarms) since the cursor (the latest `observed_at`
   seen, sent as `updated_since_param`, or Orion's `q=dateObserved>…` for FIWARE) →
   dataset "readings" (one record per sensor and kind: the latest value and the last
   `RECENT` values);
3. the alarm engine (`metrics.alarm_engine`) on the store's active alarms: raised,
   escalated, cleared and offline alarms → dataset "alarms".
Every record carries `updated_at` (ISO UTC, seconds) strictly newer than the stored one.
People acknowledge and resolve alarms while a poll runs, so the alarms batch is written by
compare-and-set: each alarm expects the stored version it was derived from (a new one
expects none), and when a person wrote it meanwhile the engine's change is redone on the
person's version (`alarm_engine.reapply`), or dropped if they resolved it.
"""

from __future__ import annotations

import dataclasses
import weakref
from datetime import datetime, timedelta, timezone
from urllib.parse import urljoin

import pandas as pd

from dashboard.store import Rebase, next_stamp, stamp
from feeds.sensors import fiware, json_readings as sensors_json
from feeds.sensors import records as sr
from metrics.alarm_engine import apply_feed_alarms, apply_readings, offline_alarms, reapply
from feeds.base import Batch, FeedError, PollContext, fetch
from feeds.records import Reject
from feeds.sensors.settings import SensorFeedSettings

REGISTRY_EVERY_S = 600
OFFLINE_EVERY_S = 30
RECENT = 30
SENSOR_FIELDS = ("sensor_id", "network", "kind", "lat", "lon", "grid_code", "facility", "offline_after_s")
_cache: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()   # store → (sensors version, registry by id)


# ---- small helpers ----------------------------------------------------------------------------
def _t(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def feed_settings(feed) -> SensorFeedSettings:
    """The feed's sensor options; `coords` and `mapping` of the [[feeds]] entry apply too."""
    s: SensorFeedSettings = getattr(feed, "sensor", None) or SensorFeedSettings()
    coords = getattr(feed, "coords", "wgs84")
    if coords != "wgs84" and s.coord_system not in ("wgs84", coords):
        raise FeedError(f"feed {feed.name}: coords {coords!r} and sensor.coord_system {s.coord_system!r} disagree")
    if coords != "wgs84":
        s = dataclasses.replace(s, coord_system=coords)
    mapping = getattr(feed, "mapping", None) or {}
    if mapping:   # source field → canonical field, on top of the JSON field paths
        fields = {**s.json.fields, **{canon: src for src, canon in mapping.items()}}
        s = dataclasses.replace(s, json=dataclasses.replace(s.json, fields=fields))
    return s


def _rejects(items: list[dict]) -> list[Reject]:
    return [Reject(int(r["index"]), r["reason"], r["excerpt"]) for r in items]


def _store(ctx: PollContext):
    store = ctx.extra.get("store")
    if store is None:
        raise FeedError("the sensor feeds need the store (feeds.registry.extra_for)")
    return store


def registry_of(store) -> dict[str, dict]:
    """The stored sensor registry by id, cached per dataset version."""
    ds = store.dataset("sensors")
    v = ds.version()
    hit = _cache.get(store)
    if hit is None or hit[0] != v:
        v, records = ds.all()
        hit = _cache[store] = (v, {r["sensor_id"]: r for r in records})
    return hit[1]


# ---- the registry -------------------------------------------------------------------------------
def parse_registry(doc: object, settings: SensorFeedSettings, now: datetime) -> tuple[list[dict], list[dict]]:
    """Canonical sensor records (positions → WGS-84) and rejects, from a registry document."""
    items = doc.get("sensors") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise sr.FeedFormatError("a sensor registry must be a list or {\"sensors\": [...]}")
    records, rejects = [], []
    for i, item in enumerate(items):
        try:
            if not isinstance(item, dict) or not str(item.get("sensor_id") or "").strip():
                raise sr.Rejected("sensor_id is missing")
            net = sr.network_of(item.get("network"), None, settings)
            lon, lat = sr.position(item.get("lon"), item.get("lat"), settings)
            limit = item.get("offline_after_s")
            rec = {k: item.get(k) for k in SENSOR_FIELDS}
            rec.update(sensor_id=str(item["sensor_id"]), network=net, lon=lon, lat=lat,
                       offline_after_s=None if limit in (None, "") else sr.number(limit, "offline_after_s"),
                       updated_at=item.get("updated_at") or stamp(now))
            records.append(rec)
        except sr.Rejected as exc:
            rejects.append(sr.reject(i, str(exc), item))
    return records, rejects


def _registry_batch(ctx: PollContext, settings: SensorFeedSettings) -> Batch | None:
    if not settings.registry_url:
        return None
    last = ctx.state.get("registry_at")
    if last and (ctx.now - _t(last)).total_seconds() < REGISTRY_EVERY_S:
        return None
    url = urljoin(ctx.feed.url or "", settings.registry_url)
    try:
        records, rejects = parse_registry(sr.load_json(fetch(ctx, url)), settings, ctx.now)
    except sr.FeedFormatError as exc:
        raise FeedError(f"sensor registry {url}: {exc}") from None
    ctx.state["registry_at"] = ctx.now.isoformat()
    return Batch("sensors", records, _rejects(rejects), len(records) + len(rejects))


# ---- readings → readings dataset and alarms ----------------------------------------------------
def _readings_batch(store, readings: list[dict], now: datetime) -> tuple[list[dict], dict[str, str]]:
    """The readings records to store, and the newest `observed_at` stored before this poll
    for each "sensor/kind" (what tells a late arrival from a new reading)."""
    latest: dict[str, dict] = {}
    for r in sorted(readings, key=lambda r: _t(r["observed_at"])):
        latest.setdefault(f"{r['sensor_id']}/{r['kind']}", []).append(r)
    keys = list(latest)
    old = dict(zip(keys, store.dataset("readings").get(keys)))
    before = {key: prev["observed_at"] for key, prev in old.items() if prev and prev.get("observed_at")}
    out = []
    for key, rs in latest.items():
        prev = old.get(key) or {}
        recent = _in_time_order(prev.get("recent") or [], [[r["observed_at"], r["value"]] for r in rs])
        last = rs[-1]
        if prev.get("observed_at") and _t(prev["observed_at"]) > _t(last["observed_at"]):
            last = prev   # only late arrivals (SensorThings "observations" mode): the newest stays current
        out.append(dict(last, key=key, recent=recent[-RECENT:],
                        updated_at=next_stamp(prev.get("updated_at"), _t(last["observed_at"]))))
    return out, before


def _in_time_order(old: list, new: list) -> list:
    """`old` + `new` [time, value] pairs (each in time order), a late arrival in its place."""
    if old and new and _t(new[0][0]) < _t(old[-1][0]):
        return sorted(old + new, key=lambda pair: _t(pair[0]))
    return old + new


def _active(store) -> dict[str, dict]:
    _, records = store.dataset("alarms").all()
    return {a["alarm_id"]: a for a in records if a.get("status") != "resolved"}


def _alarms(ctx: PollContext, store, settings: SensorFeedSettings, readings: list[dict],
            feed_alarms: list[dict], registry: dict[str, dict], newest: dict[str, str]) -> Batch:
    rules = ctx.extra["settings"].alarms
    active = _active(store)
    bases = dict(active)          # what each change is derived from (the engine copies, never edits)
    changed: dict[str, dict] = {}

    def merge(new: list[dict]) -> None:
        for a in new:
            changed[a["alarm_id"]] = a
            if a.get("status") == "resolved":
                active.pop(a["alarm_id"], None)
            else:
                active[a["alarm_id"]] = a

    merge(apply_readings(active.values(), readings, registry, rules, settings.clear_on_normal, newest))
    merge(apply_feed_alarms(active.values(), feed_alarms, registry))
    last_seen = ctx.state.setdefault("last_seen", {})
    for r in readings:
        if r["observed_at"] > last_seen.get(r["sensor_id"], ""):
            last_seen[r["sensor_id"]] = r["observed_at"]
    checked = ctx.state.get("offline_at")
    if not checked or (ctx.now - _t(checked)).total_seconds() >= OFFLINE_EVERY_S:
        ctx.state["offline_at"] = ctx.now.isoformat()
        since = ctx.state.setdefault("listening_since", ctx.now.isoformat())
        mine = [s for s in registry.values() if s.get("feed") == ctx.feed.name] or \
            [registry[i] for i in last_seen if i in registry]
        if mine:
            df = pd.DataFrame.from_records(mine)
            # Timestamps, not strings: pandas 3 will not parse ISO texts of mixed precision in one go
            seen = pd.Series({sid: pd.Timestamp(_t(last_seen.get(sid, since))) for sid in df["sensor_id"]},
                             dtype="datetime64[ns, UTC]")
            merge(offline_alarms(active.values(), df, seen, ctx.now, rules))
    for a in changed.values():
        base = bases.get(a["alarm_id"]) or {}
        a["updated_at"] = next_stamp(base.get("updated_at") or a.get("updated_at"), ctx.now)
    return _alarm_batch(list(changed.values()), bases, ctx.now)


def _alarm_batch(changed: list[dict], bases: dict[str, dict], now: datetime) -> Batch:
    """The changed alarms, to be written only over the version each was derived from."""
    expected = {a["alarm_id"]: _version(bases.get(a["alarm_id"])) for a in changed}
    return Batch("alarms", changed, [], 0, expected=expected, rebase=_redo_on_stored(changed, bases, now))


def _version(base: dict | None) -> str | None:
    return None if base is None else (base.get("updated_at") or "")


def _redo_on_stored(changed: list[dict], bases: dict[str, dict], now: datetime) -> Rebase:
    """How to redo an alarm's change on the version someone else stored meanwhile."""
    news = {a["alarm_id"]: a for a in changed}

    def rebase(stored: dict | None, attempted: dict) -> dict | str:
        aid = attempted["alarm_id"]
        out, why = reapply(stored, bases.get(aid), news[aid])
        if out is None:
            return why
        out["updated_at"] = next_stamp((stored or {}).get("updated_at"), now)
        return out
    return rebase


def _finish(ctx: PollContext, settings: SensorFeedSettings, records: list[dict], rejects: list[dict],
            reg_batch: Batch | None) -> list[Batch]:
    store = _store(ctx)
    registry = dict(registry_of(store))
    if reg_batch:
        registry.update({r["sensor_id"]: dict(r, feed=ctx.feed.name) for r in reg_batch.records})
    readings = [r for r in records if "observed_at" in r]
    feed_alarms = [r for r in records if "alarm_id" in r]
    if readings:
        ctx.state["cursor"] = max((r["observed_at"] for r in readings), key=_t)
    batches = [reg_batch] if reg_batch else []
    stored, newest = _readings_batch(store, readings, ctx.now)
    batches.append(Batch("readings", stored, _rejects(rejects), len(records) + len(rejects)))
    batches.append(_alarms(ctx, store, settings, readings, feed_alarms, registry, newest))
    return batches


def _lookup(ctx: PollContext, reg_batch: Batch | None) -> dict[str, dict]:
    registry = registry_of(_store(ctx))
    if reg_batch:
        registry = {**registry, **{r["sensor_id"]: r for r in reg_batch.records}}
    return registry


# ---- the adapters ------------------------------------------------------------------------------
def poll_json(ctx: PollContext) -> list[Batch]:
    """A utility's own JSON readings (mapped by `[feeds.sensor.json]`)."""
    settings = feed_settings(ctx.feed)
    reg = _registry_batch(ctx, settings)
    params = {}
    if ctx.feed.updated_since_param and ctx.state.get("cursor"):
        params[ctx.feed.updated_since_param] = ctx.state["cursor"]
    try:
        records, rejects = sensors_json.parse_readings(fetch(ctx, ctx.feed.url, params), settings,
                                                       ctx.extra["settings"].alarms, _lookup(ctx, reg))
    except sr.FeedFormatError as exc:
        raise FeedError(str(exc)) from None
    return _finish(ctx, settings, records, rejects, reg)


def poll_fiware(ctx: PollContext, page_size: int = 1000, page_cap: int = 20) -> list[Batch]:
    """NGSI entities (DeviceMeasurement, Alert, Anomaly) from an Orion-style `/v2/entities` URL."""
    settings = feed_settings(ctx.feed)
    reg = _registry_batch(ctx, settings)
    rules, lookup = ctx.extra["settings"].alarms, _lookup(ctx, reg)
    params: dict = {"limit": page_size}
    if ctx.state.get("cursor"):
        params[ctx.feed.updated_since_param or "q"] = (
            ctx.state["cursor"] if ctx.feed.updated_since_param else f"dateObserved>{ctx.state['cursor']}")
    records, rejects = [], []
    for page in range(page_cap):
        params["offset"] = page * page_size
        data = fetch(ctx, ctx.feed.url, params)
        try:
            n = len(fiware.entities_of(sr.load_json(data)))
            recs, rejs = fiware.parse_entities(data, settings, rules, lookup, now=ctx.now)
        except sr.FeedFormatError as exc:
            raise FeedError(str(exc)) from None
        base = len(records) + len(rejects)
        records += recs
        rejects += [dict(r, index=r["index"] + base) for r in rejs]
        if n < page_size:
            break
    return _finish(ctx, settings, records, rejects, reg)


ADAPTERS = {("sensors", "json"): poll_json, ("sensors", "fiware"): poll_fiware}

"""OGC SensorThings API v1.1: Observations, following `@iot.nextLink`.

`parse_observations` reads one page (a collection `{"value": [...], "@iot.nextLink"}` or
one Observation) and knows nothing of HTTP; `fetch_observations` walks the pages of a
collection up to `page_cap` pages: `{base}/Datastreams({id})/Observations` (one
Datastream, `observations_url`) or `{base}/Observations?$expand=Datastream($select=id)`
(all of them, `collection_url`). The Datastream's meaning (sensor, network, kind, unit)
comes from the settings (`sensorthings.datastreams`); its unit may also come from the
Datastream's own `unitOfMeasurement.symbol` when an Observation is expanded with
`$expand=Datastream`. `result` is the value, `phenomenonTime` (the start of an interval)
the time, `resultTime` if that is missing.

`Taken` remembers the Observations a feed read within a time window, by (Datastream id,
phenomenonTime), so that re-reading the window (for late arrivals) takes none twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import requests

from feeds.sensors import records as sr
from feeds.sensors.settings import Datastream, SensorFeedSettings
from metrics.alarm_rules import AlarmRules

_OTHER_ENTITIES = ("Things", "Locations", "HistoricalLocations", "Datastreams", "Sensors",
                   "ObservedProperties", "FeaturesOfInterest", "MultiDatastreams")


@dataclass
class Page:
    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    next_link: str | None = None
    items: int = 0                    # what the server sent, Observations taken already included
    newest: str | None = None         # the newest time key taken (records and rejects alike)


def _not_observation(item: Mapping) -> str | None:
    """The entity set an item belongs to when it is visibly not an Observation."""
    link = str(item.get("@iot.selfLink", ""))
    for name in _OTHER_ENTITIES:
        if f"/{name}(" in link or link.startswith(f"{name}("):
            return name
    if "result" not in item and ("name" in item or "encodingType" in item):
        return "an entity with a name and no result"
    return None


def _expanded_id(item: Mapping) -> str | None:
    """The id of the Observation's expanded Datastream, if the server expanded it."""
    expanded = item.get("Datastream")
    if isinstance(expanded, Mapping) and expanded.get("@iot.id") is not None:
        return str(expanded["@iot.id"])
    return None


def _stream_of(item: Mapping, stream: Datastream | None, settings: SensorFeedSettings) -> Datastream:
    ds_id = _expanded_id(item)
    if ds_id is not None:
        ds = settings.sensorthings.by_id.get(ds_id)
        if ds is None:
            raise sr.Rejected(f"Datastream {ds_id} is not in the settings (sensorthings.datastreams)")
        return ds
    if stream is None:
        raise sr.Rejected("the Observation's Datastream is unknown: it is not expanded and the settings "
                          "name no single Datastream (sensorthings.datastreams)")
    return stream


def parse_observation(item: object, stream: Datastream | None, settings: SensorFeedSettings,
                      rules: AlarmRules, sensors: Mapping[str, Mapping] | None = None) -> dict:
    """One Observation → a canonical reading; raises `Rejected`."""
    if not isinstance(item, Mapping):
        raise sr.Rejected(f"item is not an object: {type(item).__name__}")
    other = _not_observation(item)
    if other:
        raise sr.Rejected(f"not an Observation ({other})")
    ds = _stream_of(item, stream, settings)
    sensor = (sensors or {}).get(ds.sensor_id)
    kind = sr.kind_of(ds.kind, settings, rules)
    uom = item["Datastream"].get("unitOfMeasurement") if isinstance(item.get("Datastream"), Mapping) else None
    unit = sr.unit_of(ds.unit or (uom.get("symbol") if isinstance(uom, Mapping) else None), kind, settings, rules)
    value = sr.number(item.get("result"), "result")
    observed_at = _observed_at(item, settings)
    return sr.reading(ds.sensor_id, ds.network, kind, value, unit, observed_at, None, sensor, rules)


def _observed_at(item: Mapping, settings: SensorFeedSettings) -> str:
    """phenomenonTime (an interval: its start), else resultTime, as ISO UTC; raises `Rejected`."""
    time = item.get("phenomenonTime") or item.get("resultTime")
    if isinstance(time, str) and "/" in time:
        time = time.split("/", 1)[0]
    return sr.instant(time, settings, "phenomenonTime")


# ---- what a feed took already -------------------------------------------------------------------
def time_key(at: datetime | str) -> str:
    """A time as UTC text with microseconds (`2026-11-20T08:00:01.123000Z`): texts in this
    form sort as the times they stand for, and are valid `$filter` literals."""
    if isinstance(at, str):
        at = _aware(at)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _aware(iso: str) -> datetime:
    return datetime.fromisoformat(iso[:-1] + "+00:00" if iso.endswith(("Z", "z")) else iso)


def window_start(cursor: str, overlap_s: float) -> str:
    """The time key `overlap_s` seconds before the time `cursor`."""
    return time_key(_aware(cursor) - timedelta(seconds=overlap_s))


def observation_key(item: object, settings: SensorFeedSettings,
                    stream: Datastream | None = None) -> tuple[str, str] | None:
    """(Datastream id, time key) of an Observation with its Datastream expanded (or of
    `stream`); None when either is unreadable (such an item is rejected anyway)."""
    if not isinstance(item, Mapping):
        return None
    ds_id = _expanded_id(item) or (stream.id if stream is not None else None)
    if ds_id is None:
        return None
    try:
        return ds_id, time_key(_observed_at(item, settings))
    except sr.ITEM_ERRORS:
        return None


class Taken:
    """The Observations a feed took within its overlap window, by (Datastream id, phenomenonTime).

    Kept in the feed state as `{"at": {time key: [Datastream id, ...]}, "upto": {Datastream
    id: time key}}`: `at` the single Observations taken, `upto` everything of a Datastream up
    to a time (the per-Datastream cursors of "datastreams" mode, when a feed switches mode).
    `forget_until(floor)` drops what a filter `phenomenonTime gt floor` cannot return any
    more, so the memory holds the overlap window only (about 60 bytes an Observation).
    """

    def __init__(self, state: Mapping | None = None):
        state = state or {}
        self.at: dict[str, set[str]] = {t: set(ids) for t, ids in (state.get("at") or {}).items()}
        self.upto: dict[str, str] = dict(state.get("upto") or {})
        self.newest: str | None = None   # the newest time taken since this object was made

    def take(self, ds_id: str, at: str) -> bool:
        """True, and remembered, the first time; False for an Observation taken already."""
        if at <= self.upto.get(ds_id, ""):
            return False
        ids = self.at.setdefault(at, set())
        if ds_id in ids:
            return False
        ids.add(ds_id)
        if self.newest is None or at > self.newest:
            self.newest = at
        return True

    def forget_until(self, floor: str) -> None:
        self.at = {t: ids for t, ids in self.at.items() if t > floor}
        self.upto = {ds: t for ds, t in self.upto.items() if t > floor}

    def to_state(self) -> dict:
        out: dict = {"at": {t: sorted(ids) for t, ids in sorted(self.at.items())}}
        if self.upto:
            out["upto"] = dict(self.upto)
        return out

    def __len__(self) -> int:
        return sum(len(ids) for ids in self.at.values())


def default_stream(settings: SensorFeedSettings) -> Datastream | None:
    """The Datastream a file of bare Observations belongs to: the only one configured."""
    streams = settings.sensorthings.datastreams
    return streams[0] if len(streams) == 1 else None


def parse_observations(doc: object, stream: Datastream | None, settings: SensorFeedSettings,
                       rules: AlarmRules, sensors: Mapping[str, Mapping] | None = None,
                       start_index: int = 0, taken: Taken | None = None, held=None) -> Page:
    """One page: a collection `{"value": [...]}`, an array, or one Observation.

    With `taken`, an Observation taken already is skipped (neither a record nor a reject).
    With `held` (`sensorthings_reconcile.Held`), every Observation taken is counted there."""
    if isinstance(doc, Mapping) and isinstance(doc.get("value"), list):
        items, next_link = doc["value"], doc.get("@iot.nextLink")
    elif isinstance(doc, list):
        items, next_link = doc, None
    elif isinstance(doc, Mapping):
        items, next_link = [doc], None
    else:
        raise sr.FeedFormatError(f"expected an Observation or a collection, got {type(doc).__name__}")
    page = Page(next_link=next_link if isinstance(next_link, str) and next_link else None, items=len(items))
    for i, item in enumerate(items, start=start_index):
        key = observation_key(item, settings, stream)
        if key is not None and taken is not None and not taken.take(*key):
            continue
        if key is not None:
            if held is not None:
                held.add(*key)
            if page.newest is None or key[1] > page.newest:
                page.newest = key[1]
        try:
            page.records.append(parse_observation(item, stream, settings, rules, sensors))
        except sr.ITEM_ERRORS as exc:   # sr.Rejected, and what no check foresaw: a reject, not a crash
            page.rejects.append(sr.reject(i, sr.unreadable(exc), item))
    return page


def observations_url(base_url: str, datastream_id: str, top: int = 1000) -> str:
    """The Observations of one Datastream, oldest first; a text id is an OData string literal
    (in quotes, a quote inside doubled)."""
    ds = datastream_id if datastream_id.isdigit() else "'" + datastream_id.replace("'", "''") + "'"
    return f"{base_url.rstrip('/')}/Datastreams({ds})/Observations?$orderby=phenomenonTime%20asc&$top={top}"


def collection_url(base_url: str, since: str | None = None, top: int = 1000) -> str:
    """Every Datastream's Observations in one collection, oldest first, each with its
    Datastream's id (`$expand=Datastream($select=id)`); only those after `since` (a time
    key) if given."""
    url = (f"{base_url.rstrip('/')}/Observations?$expand=Datastream($select=id)"
           f"&$orderby=phenomenonTime%20asc&$top={top}")
    if since:
        url += f"&$filter=phenomenonTime%20gt%20{since}"
    return url


def fetch_observations(stream: Datastream | None, settings: SensorFeedSettings, rules: AlarmRules,
                       sensors: Mapping[str, Mapping] | None = None, url: str | None = None,
                       session: requests.Session | None = None, taken: Taken | None = None,
                       held=None) -> Page:
    """All pages of a collection of Observations, up to `page_cap` pages: those of `stream`
    unless `url` says which (with no `stream`, each Observation must name its Datastream).

    The returned page's `next_link` is where to continue (None when the server had no
    more). HTTP errors and non-JSON pages raise (the poller keeps its last good data).
    `taken`: see `parse_observations`.
    """
    cfg = settings.sensorthings
    if not url:
        if stream is None:
            raise ValueError("fetch_observations: give a Datastream or a url")
        url = observations_url(cfg.base_url, stream.id)
    http = session or requests.Session()
    total = Page()
    for _ in range(cfg.page_cap):
        resp = http.get(url, timeout=cfg.timeout_s, headers={"Accept": "application/json"})
        resp.raise_for_status()
        page = parse_observations(sr.load_json(resp.content), stream, settings, rules, sensors,
                                  start_index=total.items, taken=taken, held=held)
        if page.newest and (total.newest is None or page.newest > total.newest):
            total.newest = page.newest
        total.records += page.records
        total.rejects += page.rejects
        total.items += page.items
        total.next_link = page.next_link
        if not page.next_link:
            break
        url = page.next_link
    return total


def parse_file(data: bytes, settings: SensorFeedSettings, rules: AlarmRules,
               sensors: Mapping[str, Mapping] | None = None) -> tuple[list[dict], list[dict]]:
    """(records, rejects) of a saved page, for `cityops feed check`."""
    page = parse_observations(sr.load_json(data), default_stream(settings), settings, rules, sensors)
    return page.records, page.rejects

"""OGC SensorThings API v1.1: Observations of a Datastream, following `@iot.nextLink`.

`parse_observations` reads one page (a collection `{"value": [...], "@iot.nextLink"}` or
one Observation) and knows nothing of HTTP; `fetch_observations` walks the pages of
`{base}/Datastreams({id})/Observations` up to `page_cap` pages. The Datastream's meaning
(sensor, network, kind, unit) comes from the settings (`sensorthings.datastreams`); its
unit may also come from the Datastream's own `unitOfMeasurement.symbol` when an
Observation is expanded with `$expand=Datastream`. `result` is the value,
`phenomenonTime` (the start of an interval) the time, `resultTime` if that is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import requests

from feeds import sensor_records as sr
from feeds.sensor_settings import Datastream, SensorFeedSettings
from metrics.alarm_rules import AlarmRules

_OTHER_ENTITIES = ("Things", "Locations", "HistoricalLocations", "Datastreams", "Sensors",
                   "ObservedProperties", "FeaturesOfInterest", "MultiDatastreams")


@dataclass
class Page:
    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    next_link: str | None = None


def _not_observation(item: Mapping) -> str | None:
    """The entity set an item belongs to when it is visibly not an Observation."""
    link = str(item.get("@iot.selfLink", ""))
    for name in _OTHER_ENTITIES:
        if f"/{name}(" in link or link.startswith(f"{name}("):
            return name
    if "result" not in item and ("name" in item or "encodingType" in item):
        return "an entity with a name and no result"
    return None


def _stream_of(item: Mapping, stream: Datastream | None, settings: SensorFeedSettings) -> Datastream:
    expanded = item.get("Datastream")
    if isinstance(expanded, Mapping) and expanded.get("@iot.id") is not None:
        ds_id = str(expanded["@iot.id"])
        for ds in settings.sensorthings.datastreams:
            if ds.id == ds_id:
                return ds
        raise sr.Rejected(f"Datastream {ds_id} is not in the settings (sensorthings.datastreams)")
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
    uom = (item.get("Datastream") or {}).get("unitOfMeasurement") if isinstance(item.get("Datastream"), Mapping) else None
    unit = sr.unit_of(ds.unit or (uom or {}).get("symbol"), kind, settings, rules)
    value = sr.number(item.get("result"), "result")
    time = item.get("phenomenonTime") or item.get("resultTime")
    if isinstance(time, str) and "/" in time:
        time = time.split("/", 1)[0]  # an interval: its start
    observed_at = sr.instant(time, settings, "phenomenonTime")
    return sr.reading(ds.sensor_id, ds.network, kind, value, unit, observed_at, None, sensor, rules)


def default_stream(settings: SensorFeedSettings) -> Datastream | None:
    """The Datastream a file of bare Observations belongs to: the only one configured."""
    streams = settings.sensorthings.datastreams
    return streams[0] if len(streams) == 1 else None


def parse_observations(doc: object, stream: Datastream | None, settings: SensorFeedSettings,
                       rules: AlarmRules, sensors: Mapping[str, Mapping] | None = None,
                       start_index: int = 0) -> Page:
    """One page: a collection `{"value": [...]}`, an array, or one Observation."""
    if isinstance(doc, Mapping) and isinstance(doc.get("value"), list):
        items, next_link = doc["value"], doc.get("@iot.nextLink")
    elif isinstance(doc, list):
        items, next_link = doc, None
    elif isinstance(doc, Mapping):
        items, next_link = [doc], None
    else:
        raise sr.FeedFormatError(f"expected an Observation or a collection, got {type(doc).__name__}")
    page = Page(next_link=next_link if isinstance(next_link, str) and next_link else None)
    for i, item in enumerate(items, start=start_index):
        try:
            page.records.append(parse_observation(item, stream, settings, rules, sensors))
        except sr.Rejected as exc:
            page.rejects.append(sr.reject(i, str(exc), item))
    return page


def observations_url(base_url: str, datastream_id: str, top: int = 1000) -> str:
    """The Observations of one Datastream, oldest first; a text id is an OData string literal
    (in quotes, a quote inside doubled)."""
    ds = datastream_id if datastream_id.isdigit() else "'" + datastream_id.replace("'", "''") + "'"
    return f"{base_url.rstrip('/')}/Datastreams({ds})/Observations?$orderby=phenomenonTime%20asc&$top={top}"


def fetch_observations(stream: Datastream, settings: SensorFeedSettings, rules: AlarmRules,
                       sensors: Mapping[str, Mapping] | None = None, url: str | None = None,
                       session: requests.Session | None = None) -> Page:
    """All pages of one Datastream's Observations, up to `page_cap` pages.

    The returned page's `next_link` is where to continue (None when the server had no
    more). HTTP errors and non-JSON pages raise (the poller keeps its last good data).
    """
    cfg = settings.sensorthings
    url = url or observations_url(cfg.base_url, stream.id)
    http = session or requests.Session()
    total = Page()
    for _ in range(cfg.page_cap):
        resp = http.get(url, timeout=cfg.timeout_s, headers={"Accept": "application/json"})
        resp.raise_for_status()
        page = parse_observations(sr.load_json(resp.content), stream, settings, rules, sensors,
                                  start_index=len(total.records) + len(total.rejects))
        total.records += page.records
        total.rejects += page.rejects
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

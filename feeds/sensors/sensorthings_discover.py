"""SensorThings v1.1: the Datastreams a feed reads, discovered from the server.

`GET {base}/Datastreams?$expand=Thing($expand=Locations),ObservedProperty,Sensor`, paged by
`@iot.nextLink`. Each Datastream becomes, in our terms:
- sensor id = its Thing's `name`;
- position = the Thing's latest Location (the last of `Thing.Locations` with a GeoJSON
  Point, bare or as a Feature), in the feed's coordinate system, checked like any position;
- kind = the ObservedProperty's `name` through `sensorthings.kinds` (exact name), else the
  feed's `kind_map` (names compared without case, spaces, `_` and `-`);
- unit = `unitOfMeasurement.symbol` (else the feed's `units_by_kind`);
- network = the Thing's property `sensorthings.network_property` when set, else the feed's
  `network`.
A Datastream that cannot be read in these terms is a reject with its reason (dataset
"sensors"); one whose Thing has no usable Location is still read (its readings are kept) but
its sensor is a reject ("cannot be placed"), so the gap is visible on /health.
"""

from __future__ import annotations

from collections.abc import Mapping

import requests

from feeds.sensors import records as sr
from feeds.sensors.settings import Datastream, SensorFeedSettings
from metrics.alarm_rules import AlarmRules

DISCOVER_QUERY = "Datastreams?$expand=Thing($expand=Locations),ObservedProperty,Sensor&$top=1000"


def discover_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/{DISCOVER_QUERY}"


def _point(location: object) -> tuple[object, object] | None:
    """(lon, lat) of a Location's GeoJSON Point (bare geometry or a Feature), or None."""
    if not isinstance(location, Mapping):
        return None
    geo = location.get("location")
    if isinstance(geo, Mapping) and geo.get("type") == "Feature":
        geo = geo.get("geometry")
    if not isinstance(geo, Mapping) or geo.get("type") != "Point":
        return None
    coords = geo.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        return None
    return coords[0], coords[1]


def kind_of(name: object, settings: SensorFeedSettings, rules: AlarmRules) -> str:
    """Our kind for an ObservedProperty name: `sensorthings.kinds`, else the feed's kind_map."""
    kinds = settings.sensorthings.kinds
    if isinstance(name, str) and name in kinds:
        return kinds[name]
    try:
        return sr.kind_of(name, settings, rules)
    except sr.Rejected:
        raise sr.Rejected(f"ObservedProperty {name!r} maps to no kind (sensorthings.kinds or kind_map)") from None


def parse_datastream(item: object, settings: SensorFeedSettings, rules: AlarmRules,
                     now_stamp: str) -> tuple[Datastream, dict | None, str | None]:
    """(the Datastream in our terms, its sensor record or None, why the sensor is not placed)."""
    if not isinstance(item, Mapping) or item.get("@iot.id") is None:
        raise sr.Rejected("not a Datastream (no @iot.id)")
    thing = item.get("Thing")
    if not isinstance(thing, Mapping):
        raise sr.Rejected("the Datastream's Thing is not expanded")
    name = thing.get("name")
    if not isinstance(name, (str, int)) or isinstance(name, bool) or not str(name).strip():
        raise sr.Rejected("the Thing has no name (the sensor id)")
    sensor_id = str(name).strip()
    prop = item.get("ObservedProperty")
    kind = kind_of(prop.get("name") if isinstance(prop, Mapping) else None, settings, rules)
    uom = item.get("unitOfMeasurement")
    unit = sr.unit_of((uom or {}).get("symbol") if isinstance(uom, Mapping) else None, kind, settings, rules)
    props = thing.get("properties") if isinstance(thing.get("properties"), Mapping) else {}
    cfg = settings.sensorthings
    given = props.get(cfg.network_property) if cfg.network_property else None
    if cfg.network_property and not given and not settings.network:
        raise sr.Rejected(f"the Thing has no property {cfg.network_property!r} (sensorthings.network_property) "
                          f"and the feed names no network")
    network = sr.network_of(given, None, settings)
    ds = Datastream(id=str(item["@iot.id"]), sensor_id=sensor_id, network=network, kind=kind, unit=unit)
    locations = thing.get("Locations")
    points = [p for p in (_point(loc) for loc in (locations if isinstance(locations, list) else [])) if p]
    if not points:
        return ds, None, "the Thing has no Location with a GeoJSON Point: the sensor cannot be placed"
    try:
        lon, lat = sr.position(points[-1][0], points[-1][1], settings)
    except sr.Rejected as exc:
        return ds, None, f"the Thing's Location: {exc}"
    sensor = {"sensor_id": sensor_id, "network": network, "kind": kind, "lat": lat, "lon": lon,
              "grid_code": props.get("grid_code") or None, "facility": props.get("facility") or None,
              "offline_after_s": None, "updated_at": now_stamp}
    return ds, sensor, None


class Discovered:
    """What a discovery found: Datastreams, sensor records and rejects."""

    def __init__(self):
        self.datastreams: list[Datastream] = []
        self.sensors: dict[str, dict] = {}
        self.rejects: list[dict] = []
        self.items = 0

    def to_state(self) -> list[list[str]]:
        return [[d.id, d.sensor_id, d.network, d.kind, d.unit] for d in self.datastreams]


def streams_from_state(rows: list) -> list[Datastream]:
    return [Datastream(id=r[0], sensor_id=r[1], network=r[2], kind=r[3], unit=r[4]) for r in rows or []]


def discover(settings: SensorFeedSettings, rules: AlarmRules, now_stamp: str,
             session: requests.Session | None = None, page_cap: int = 200) -> Discovered:
    """Every Datastream the server lists, following `@iot.nextLink` (HTTP errors raise)."""
    cfg = settings.sensorthings
    http = session or requests.Session()
    url: str | None = discover_url(cfg.base_url)
    out = Discovered()
    for _ in range(page_cap):
        if not url:
            break
        resp = http.get(url, timeout=cfg.timeout_s, headers={"Accept": "application/json"})
        resp.raise_for_status()
        doc = sr.load_json(resp.content)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("value"), list):
            raise sr.FeedFormatError("Datastreams: expected a collection {\"value\": [...]}")
        for item in doc["value"]:
            index = out.items
            out.items += 1
            try:
                ds, sensor, unplaced = parse_datastream(item, settings, rules, now_stamp)
            except sr.ITEM_ERRORS as exc:   # sr.Rejected, and what no check foresaw
                out.rejects.append(sr.reject(index, f"Datastream: {sr.unreadable(exc)}", item))
                continue
            out.datastreams.append(ds)
            if sensor is not None:
                out.sensors.setdefault(sensor["sensor_id"], sensor)
            elif ds.sensor_id not in out.sensors:
                out.rejects.append(sr.reject(index, f"sensor {ds.sensor_id}: {unplaced}", item))
        nxt = doc.get("@iot.nextLink")
        url = nxt if isinstance(nxt, str) and nxt else None
    else:
        if url:
            raise sr.FeedFormatError(f"Datastreams: more than {page_cap} pages")
    return out

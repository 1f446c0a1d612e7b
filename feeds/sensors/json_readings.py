"""A utility's own JSON readings, read through a field mapping from the settings.

Example (settings `[feeds.sensors.json]`): `items_path = "data.list"`, `fields =
{sensor_id = "devNo", value = "val", unit = "unit", observed_at = "ts", lon = "lng",
lat = "lat"}`, `time_format = "epoch_ms"`. Each item becomes a canonical reading or a
reject with its reason; one bad item never takes the others down.
"""

from __future__ import annotations

from collections.abc import Mapping

import requests

from feeds.sensors import records as sr
from feeds.sensors.settings import SensorFeedSettings
from metrics.alarm_rules import AlarmRules

_MISSING = object()


def _get(item: object, path: str) -> object:
    """The value at a dotted path (`a.b.0.c`), or _MISSING."""
    node = item
    for part in path.split(".") if path else []:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def items_of(doc: object, items_path: str) -> list:
    """The list of items in a document: at `items_path`, or the document (a list or one object)."""
    node = _get(doc, items_path)
    if node is _MISSING:
        raise sr.FeedFormatError(f"items_path {items_path!r} is not in the document")
    if isinstance(node, list):
        return node
    if isinstance(node, Mapping):
        return [node]
    raise sr.FeedFormatError(f"expected a list or an object at {items_path or 'the top level'}, "
                             f"got {type(node).__name__}")


def _field(item: object, settings: SensorFeedSettings, name: str) -> object:
    path = settings.json.fields.get(name)
    if not path:
        return None
    value = _get(item, path)
    return None if value is _MISSING else value


def parse_item(item: object, settings: SensorFeedSettings, rules: AlarmRules,
               sensors: Mapping[str, Mapping] | None = None) -> dict:
    """One mapped JSON item → a canonical reading; raises `Rejected`."""
    if not isinstance(item, Mapping):
        raise sr.Rejected(f"item is not an object: {type(item).__name__}")
    sensor_id = _field(item, settings, "sensor_id")
    sensor = (sensors or {}).get(str(sensor_id)) if sensor_id is not None else None
    raw_kind = _field(item, settings, "kind") or (sensor or {}).get("kind")
    kind = sr.kind_of(raw_kind, settings, rules)
    network = sr.network_of(_field(item, settings, "network"), sensor, settings)
    value = sr.number(_field(item, settings, "value"))
    unit = sr.unit_of(_field(item, settings, "unit"), kind, settings, rules)
    ts = _field(item, settings, "observed_at")
    fmt = settings.json.time_format
    observed_at = sr.instant(ts, settings, "observed_at") if fmt == "iso" \
        else sr.epoch(ts, fmt == "epoch_ms", "observed_at")
    lon, lat = _field(item, settings, "lon"), _field(item, settings, "lat")
    if (lon is None) != (lat is None):
        raise sr.Rejected("position incomplete: lon and lat must come together")
    lonlat = None if lon is None else sr.position(lon, lat, settings)
    return sr.reading(sensor_id, network, kind, value, unit, observed_at, lonlat, sensor, rules)


def parse_readings(data: bytes, settings: SensorFeedSettings, rules: AlarmRules,
                   sensors: Mapping[str, Mapping] | None = None) -> tuple[list[dict], list[dict]]:
    """(readings, rejects) of one JSON document; FeedFormatError if it is not readable at all."""
    records, rejects = [], []
    for i, item in enumerate(items_of(sr.load_json(data), settings.json.items_path)):
        try:
            records.append(parse_item(item, settings, rules, sensors))
        except sr.ITEM_ERRORS as exc:   # sr.Rejected, and what no check foresaw: a reject, not a crash
            rejects.append(sr.reject(i, sr.unreadable(exc), item))
    return records, rejects


def fetch(url: str, timeout_s: float = 10.0, session: requests.Session | None = None) -> bytes:
    """GET the utility's JSON document (raises on HTTP errors)."""
    resp = (session or requests).get(url, timeout=timeout_s, headers={"Accept": "application/json"})
    resp.raise_for_status()
    return resp.content

"""FIWARE Smart Data Models: `DeviceMeasurement` readings, `Alert` and `Anomaly` alarms.

Any NGSI form (v2 key-values, v2 normalized, NGSI-LD normalized or key-values; see
`feeds.sensors.fiware_forms`), one entity, an array, or a notification. What each becomes:
- DeviceMeasurement → a reading: `refDevice` the sensor, `controlledProperty` the kind,
  `numValue` (or a numeric `textValue`) the value, `unit` (or the attribute's
  `unitCode`) the unit, `dateObserved` the time, `location` an optional Point.
- Anomaly → an alarm raised by the feed: `detectedBy` the sensor, `anomalousProperty`
  the kind, `dateDetected` the raise time, the latest `thresholdBreach` its value and
  threshold; its level is our own thresholds' verdict on the value, or
  `feed_alarm_level` when they do not flag it.
- Alert → an alarm: `alertSource` the sensor, `subCategory`/`category` the kind,
  `severity` the level (settings), `dateIssued` the raise time; when `now` is given and
  `validTo` has passed, the alarm is resolved as "cleared" at `validTo`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

from feeds.sensors import records as sr
from feeds.sensors.fiware_forms import TooDeep, entities_of, form_of, observed_at, plain, short_type, unit_code
from feeds.sensors.settings import SensorFeedSettings
from metrics.alarm_rules import AlarmRules
from metrics.alarms import crossed_threshold

TYPES = ("DeviceMeasurement", "Anomaly", "Alert")


def _ref(value: object, settings: SensorFeedSettings, name: str) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        raise sr.Rejected(f"{name} is missing: {value!r}")
    return value.rsplit(":", 1)[-1] if settings.fiware.id_last_segment else value


def _point(loc: object, settings: SensorFeedSettings) -> tuple[float, float] | None:
    if loc is None:
        return None
    if not isinstance(loc, Mapping) or loc.get("type") != "Point":
        kind = loc.get("type") if isinstance(loc, Mapping) else type(loc).__name__
        raise sr.Rejected(f"location is not a GeoJSON Point: {kind!r}")
    coords = loc.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        raise sr.Rejected(f"location coordinates are not [lon, lat]: {coords!r}")
    return sr.position(coords[0], coords[1], settings)


def _device_measurement(raw: Mapping, e: Mapping, settings: SensorFeedSettings, rules: AlarmRules,
                        sensors: Mapping[str, Mapping]) -> dict:
    sensor_id = _ref(e.get("refDevice"), settings, "refDevice")
    sensor = sensors.get(sensor_id)
    prop = e.get("controlledProperty") or e.get("measurementType")
    if isinstance(prop, list):
        if len(prop) != 1:
            raise sr.Rejected(f"controlledProperty names {len(prop)} quantities, expected one: {prop!r}")
        prop = prop[0]
    kind = sr.kind_of(prop, settings, rules)
    network = sr.network_of(None, sensor, settings)
    raw_value = e.get("numValue") if e.get("numValue") is not None else e.get("textValue")
    value = sr.number(raw_value, "numValue")
    unit = sr.unit_of(e.get("unit") or unit_code(raw, "numValue"), kind, settings, rules)
    when = sr.instant(e.get("dateObserved") or observed_at(raw, "numValue"), settings, "dateObserved")
    lonlat = _point(e.get("location"), settings)
    return sr.reading(sensor_id, network, kind, value, unit, when, lonlat, sensor, rules)


def _latest_breach(breaches: object) -> Mapping | None:
    if isinstance(breaches, Mapping):
        breaches = [breaches]
    if not isinstance(breaches, list) or not breaches:
        return None
    items = [b for b in breaches if isinstance(b, Mapping)]
    dated = [b for b in items if isinstance(b.get("dateObserved"), str)]
    return max(dated, key=lambda b: b["dateObserved"]) if dated else (items[-1] if items else None)


def _anomaly(raw: Mapping, e: Mapping, settings: SensorFeedSettings, rules: AlarmRules,
             sensors: Mapping[str, Mapping]) -> dict:
    sensor_id = _ref(e.get("detectedBy"), settings, "detectedBy")
    sensor = sensors.get(sensor_id)
    kind = sr.kind_of(e.get("anomalousProperty"), settings, rules)
    network = sr.network_of(None, sensor, settings)
    raised_at = sr.instant(e.get("dateDetected"), settings, "dateDetected")
    lonlat = _point(e.get("location"), settings) or _sensor_point(sensor)
    level, value, threshold, unit = settings.fiware.feed_alarm_level, None, None, None
    breach = _latest_breach(e.get("thresholdBreach"))
    if breach is not None:
        unit_name = sr.unit_of(breach.get("unit") or e.get("unit"), kind, settings, rules)
        u = rules.units[unit_name]
        value = sr.number(breach.get("measuredValue"), "measuredValue")
        threshold = sr.number(breach.get("thresholdValue"), "thresholdValue") * u.factor + u.offset
        found = crossed_threshold(network, kind, value, unit_name, rules)
        value, unit = value * u.factor + u.offset, u.base
        if not (math.isfinite(value) and math.isfinite(threshold)):
            raise sr.Rejected(f"measuredValue or thresholdValue is out of range: not a finite number in {u.base}")
        if found is not None:
            level = found.level
    return sr.alarm(alarm_id=str(raw.get("id")), sensor_id=sensor_id, network=network, kind=kind,
                    level=level, value=value, threshold=threshold, unit=unit, raised_at=raised_at,
                    status="active", **_where(lonlat, sensor))


def _alert(raw: Mapping, e: Mapping, settings: SensorFeedSettings, sensors: Mapping[str, Mapping],
           now: datetime | None) -> dict:
    sensor_id = _ref(e.get("alertSource"), settings, "alertSource")
    sensor = sensors.get(sensor_id)
    cat, sub = e.get("category"), e.get("subCategory")
    nets = settings.fiware.alert_networks
    given = nets.get(str(sub)) or nets.get(str(cat)) if (sub or cat) else None
    if not (given or sensor or settings.network):
        raise sr.Rejected(f"network unknown: category {cat!r}/subCategory {sub!r} is not mapped to gas, "
                          "water or heating (fiware.alert_networks), and neither the sensor nor the feed says")
    network = sr.network_of(given, sensor, settings)
    severity = e.get("severity")
    if severity not in settings.fiware.severity_levels:
        raise sr.Rejected(f"severity {severity!r} is not mapped to a level (fiware.severity_levels)")
    raised_at = sr.instant(e.get("dateIssued") or e.get("validFrom"), settings, "dateIssued")
    lonlat = _point(e.get("location"), settings) or _sensor_point(sensor)
    status, resolved_at, resolution = "active", None, None
    if now is not None and e.get("validTo"):
        valid_to = sr.instant(e.get("validTo"), settings, "validTo")
        if datetime.fromisoformat(valid_to) <= now:
            status, resolved_at, resolution = "resolved", valid_to, "cleared"
    return sr.alarm(alarm_id=str(raw.get("id")), sensor_id=sensor_id, network=network,
                    kind=str(sub or cat or "alert"), level=settings.fiware.severity_levels[severity],
                    raised_at=raised_at, status=status, resolved_at=resolved_at, resolution=resolution,
                    **_where(lonlat, sensor))


def _sensor_point(sensor: Mapping | None) -> tuple[float, float] | None:
    if sensor and sensor.get("lon") is not None and sensor.get("lat") is not None:
        return float(sensor["lon"]), float(sensor["lat"])
    return None


def _where(lonlat: tuple[float, float] | None, sensor: Mapping | None) -> dict:
    return {"lon": None if lonlat is None else lonlat[0], "lat": None if lonlat is None else lonlat[1],
            "grid_code": (sensor or {}).get("grid_code")}


def parse_entity(raw: object, settings: SensorFeedSettings, rules: AlarmRules,
                 sensors: Mapping[str, Mapping] | None = None, now: datetime | None = None) -> dict:
    """One entity in any NGSI form → a reading or an alarm record; raises `Rejected`."""
    if not isinstance(raw, Mapping):
        raise sr.Rejected(f"entity is not an object: {type(raw).__name__}")
    etype = short_type(raw.get("type"))
    if etype not in TYPES:
        raise sr.Rejected(f"entity type {raw.get('type')!r} is not one of {', '.join(TYPES)}")
    if not raw.get("id"):
        raise sr.Rejected("entity has no id")
    try:
        e = plain({k: v for k, v in raw.items() if k not in ("id", "type", "@context")})
    except TooDeep as exc:
        raise sr.Rejected(str(exc)) from None
    sensors = sensors or {}
    if etype == "DeviceMeasurement":
        return _device_measurement(raw, e, settings, rules, sensors)
    if etype == "Anomaly":
        return _anomaly(raw, e, settings, rules, sensors)
    return _alert(raw, e, settings, sensors, now)


def parse_entities(data: bytes, settings: SensorFeedSettings, rules: AlarmRules,
                   sensors: Mapping[str, Mapping] | None = None,
                   now: datetime | None = None) -> tuple[list[dict], list[dict]]:
    """(records, rejects) of a FIWARE payload; readings and alarms in input order.

    An alarm record has `alarm_id`; a reading has `observed_at`. FeedFormatError if the
    payload is not JSON or not entities at all.
    """
    records, rejects = [], []
    for i, raw in enumerate(entities_of(sr.load_json(data))):
        try:
            records.append(parse_entity(raw, settings, rules, sensors, now))
        except sr.ITEM_ERRORS as exc:   # sr.Rejected, and what no check foresaw: a reject, not a crash
            rejects.append(sr.reject(i, sr.unreadable(exc), raw))
    return records, rejects


def describe_forms(data: bytes) -> list[str]:
    """The NGSI form of each entity of a payload (for `feed check` diagnostics and tests)."""
    return [form_of(e) if isinstance(e, Mapping) else "not an entity" for e in entities_of(sr.load_json(data))]

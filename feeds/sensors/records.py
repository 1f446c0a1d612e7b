"""Checks shared by every sensor feed adapter: numbers, units, times, positions.

Each check returns the clean value or raises `Rejected(reason)`; an adapter turns that
into a reject `{"index", "reason", "excerpt"}` and goes on with the next item. Nothing
is guessed: a value that is not a number, a unit the settings do not know, a time
without an offset (unless the feed declares its zone), a position outside WGS-84's
range or the city's box are all rejected with their reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import orjson

from feeds.sensors.settings import SensorFeedSettings
from metrics.alarm_rules import ALARM_FIELDS, AlarmRules
from metrics.coords import to_wgs84
from metrics.privacy import mask_record, scrub_text

NETWORKS = ("gas", "water", "heating")
_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


class Rejected(ValueError):
    """One item cannot be accepted; the message is the reason shown to people."""


class FeedFormatError(ValueError):
    """The payload as a whole cannot be read (not JSON, wrong shape): nothing to account for."""


# What an item that no check foresaw can raise while it is read: it is a reject with this
# reason, never a crash of the feed (`unreadable`).
ITEM_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError)


def unreadable(exc: BaseException) -> str:
    """The reason for an item that raised one of `ITEM_ERRORS`."""
    if isinstance(exc, Rejected):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "the item is nested too deep to read"
    text = str(exc)
    return f"cannot be read: {type(exc).__name__}: {text if len(text) <= 120 else text[:119] + '…'}"


def _shortened(item: object, cut: int, depth: int = 0) -> object:
    """`item` with every text longer than `cut` cut there (an excerpt shows `limit`
    characters; masking a 100,000-character text first would take seconds)."""
    if depth > 200:
        raise RecursionError
    if isinstance(item, str):
        return item[:cut]
    if isinstance(item, Mapping):
        return {(k[:cut] if isinstance(k, str) else k): _shortened(v, cut, depth + 1) for k, v in item.items()}
    if isinstance(item, list):
        return [_shortened(v, cut, depth + 1) for v in item[:cut]]
    return item


def excerpt(item: object, limit: int = 200) -> str:
    """A short single-line excerpt of an input item, for a reject (any item: one nested too
    deep for the encoder shows as such)."""
    try:
        text = orjson.dumps(mask_record(_shortened(item, limit * 2)), option=orjson.OPT_NON_STR_KEYS).decode()
    except (TypeError, RecursionError):
        try:
            # cut before scrubbing: the scrub's patterns are slow on long texts, and only the
            # first `limit` characters are kept anyway
            text = scrub_text(repr(item)[: limit * 2])
        except RecursionError:
            text = f"<{type(item).__name__} nested too deep to show>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reject(index: int, reason: str, item: object) -> dict:
    return {"index": index, "reason": reason, "excerpt": excerpt(item)}


def load_json(data: bytes) -> object:
    """The document; FeedFormatError when it is not JSON.

    A number too large for a double (`1e999`) is valid JSON that orjson refuses as a whole:
    then the document is read again keeping such a number (and the non-standard `NaN`,
    `Infinity`) as its text, so only the item holding it is rejected (`number`)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "infinity" not in str(exc).lower():
            raise FeedFormatError(f"not valid JSON: {exc}") from None
        first = exc
    try:
        doc = json.loads(data, parse_float=_finite_or_text, parse_int=_int_or_text, parse_constant=str)
        # a lone surrogate (which orjson would refuse when the record is stored) is refused here
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError):
        raise FeedFormatError(f"not valid JSON: {first}") from None
    return doc


def _finite_or_text(text: str) -> float | str:
    x = float(text)
    return x if math.isfinite(x) else text


def _int_or_text(text: str) -> int | str:
    x = int(text)
    return x if -2**63 <= x < 2**64 else text


def number(value: object, name: str = "value") -> float:
    """A finite number, from a JSON number or a plain decimal string; never a bool or null."""
    if isinstance(value, bool) or value is None:
        raise Rejected(f"{name} is not a number: {value!r}")
    if isinstance(value, (int, float)):
        out = float(value)
    elif isinstance(value, str) and _NUMBER.match(value):
        out = float(value)
    else:
        raise Rejected(f"{name} is not a number: {value!r}")
    if not math.isfinite(out):
        raise Rejected(f"{name} is not a finite number: {value!r}")
    return out


def instant(value: object, settings: SensorFeedSettings, name: str = "time") -> str:
    """An ISO 8601 time with offset, normalised to UTC (`...+00:00`)."""
    if not isinstance(value, str) or not value.strip():
        raise Rejected(f"{name} is missing or not a text time: {value!r}")
    text = value.strip()
    try:
        ts = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise Rejected(f"{name} is not an ISO 8601 time: {value!r}") from None
    if ts.tzinfo is None:
        if not settings.assume_tz:
            raise Rejected(f"{name} has no UTC offset and the feed declares no time zone: {value!r}")
        ts = ts.replace(tzinfo=ZoneInfo(settings.assume_tz))
    try:
        return ts.astimezone(timezone.utc).isoformat()
    except OverflowError:   # e.g. 9999-12-31T23:00:00-05:00 is after the last year datetime holds
        raise Rejected(f"{name} is out of range: {value!r}") from None


def epoch(value: object, unit_ms: bool, name: str = "time") -> str:
    seconds = number(value, name) / (1000.0 if unit_ms else 1.0)
    if not 0 < seconds < 32503680000:  # 1970 … 3000
        raise Rejected(f"{name} is not a plausible Unix time: {value!r}")
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def position(lon: object, lat: object, settings: SensorFeedSettings) -> tuple[float, float]:
    """(lon, lat) in the feed's system → WGS-84, checked against the range and the city box."""
    x, y = number(lon, "lon"), number(lat, "lat")
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise Rejected(f"position outside WGS-84 range: lon {x}, lat {y}")
    x, y = to_wgs84(x, y, settings.coord_system)
    if settings.bbox:
        x0, y0, x1, y1 = settings.bbox
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            raise Rejected(f"position outside the city's box {settings.bbox}: lon {x:.6f}, lat {y:.6f}")
    return round(x, 7), round(y, 7)


def kind_of(name: object, settings: SensorFeedSettings, rules: AlarmRules) -> str:
    """Our quantity name for the feed's; unknown names are rejected, not passed through."""
    if not isinstance(name, str) or not name.strip():
        raise Rejected(f"kind is missing: {name!r}")
    key = re.sub(r"[\s_\-]", "", name).lower()
    known = set(settings.kind_map.values()) | {t.kind for t in rules.thresholds}
    if name in known:
        return name
    if key in settings.kind_map:
        return settings.kind_map[key]
    raise Rejected(f"kind {name!r} is not a quantity the settings know (kind_map)")


def unit_of(unit: object, kind: str, settings: SensorFeedSettings, rules: AlarmRules) -> str:
    if unit is None or unit == "":
        unit = settings.units_by_kind.get(kind)
        if not unit:
            raise Rejected(f"no unit in the payload and none declared for {kind!r} (units_by_kind)")
    if not isinstance(unit, str) or unit not in rules.units:
        raise Rejected(f"unit {unit!r} is not one the settings know")
    return unit


def network_of(given: object, sensor: Mapping | None, settings: SensorFeedSettings) -> str:
    """Network from the payload, else the sensor registry, else the feed's setting."""
    net = given or (sensor or {}).get("network") or settings.network
    if net not in NETWORKS:
        raise Rejected(f"network unknown or not gas/water/heating: {net!r}" if net
                       else "network unknown: not in the payload, the sensor registry or the feed settings")
    return str(net)


def reading(sensor_id: object, network: str, kind: str, value: float, unit: str, observed_at: str,
            lonlat: tuple[float, float] | None, sensor: Mapping | None, rules: AlarmRules) -> dict:
    """A canonical reading, its value converted to the base unit of its quantity."""
    if not isinstance(sensor_id, (str, int)) or isinstance(sensor_id, bool) or str(sensor_id).strip() == "":
        raise Rejected(f"sensor_id is missing: {sensor_id!r}")
    u = rules.units[unit]
    base = value * u.factor + u.offset
    # finite in the base unit and in every unit a threshold of its quantity is written in
    # (1e308 MPa is a finite number, and infinite in kPa)
    for to in {u.base} | {t.unit for t in rules.thresholds
                          if t.unit in rules.units and rules.units[t.unit].base == u.base}:
        t_unit = rules.units.get(to)
        there = base if t_unit is None else (base - t_unit.offset) / t_unit.factor
        if not (math.isfinite(base) and math.isfinite(there)):
            raise Rejected(f"value {value!r} {unit} is out of range: not a finite number in {to}")
    if lonlat is None and sensor and sensor.get("lon") is not None:
        lonlat = (sensor["lon"], sensor["lat"])
    return {"sensor_id": str(sensor_id), "network": network, "kind": kind,
            "value": base, "unit": u.base, "observed_at": observed_at,
            "lat": None if lonlat is None else lonlat[1], "lon": None if lonlat is None else lonlat[0]}


def alarm(**fields: object) -> dict:
    """A canonical alarm record with every field present (None where not given)."""
    unknown = set(fields) - set(ALARM_FIELDS)
    if unknown:
        raise TypeError(f"unknown alarm fields {sorted(unknown)}")
    return {name: fields.get(name) for name in ALARM_FIELDS}

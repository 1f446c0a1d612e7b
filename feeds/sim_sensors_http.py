"""The demo city's sensor platform over HTTP, as real utilities serve it (127.0.0.1).

Driven by `SensorSimulator` with an injectable clock: each request first steps the
simulation to `clock()`, so tests move time by hand. Every view serves the same buffered
readings (the last `keep_s` seconds), so a sensor tells one story whichever format reads
it. Routes:
    GET  /utility/sensors.json?network=water,heating&coords=gcj02   the registry (positions
         in GCJ-02 by default, like a utility on an AutoNavi base map; coords=wgs84|bd09 too)
    GET  /utility/readings.json?network=…&since=ISO&limit=N
         {"code": 0, "data": {"list": [{"devNo", "type", "val", "unit", "ts" (epoch ms),
         "lng", "lat"}]}} — water pressure in MPa, GCJ-02 positions; about one reading in
         2,000 says "ERR" (a meter fault: the console rejects it with its reason)
    GET  /ngsi/v2/entities?type=DeviceMeasurement&q=dateObserved>ISO&limit&offset
         gas readings as FIWARE DeviceMeasurement (NGSI v2 key-values, WGS-84)
    GET  /v1.1/…   the heating network (`sta_networks`) as an OGC SensorThings API v1.1 service:
         Things, Locations, FeaturesOfInterest, Sensors, ObservedProperties, Datastreams (one
         per sensor) and Observations, with $top (default 100, at most `sta_top_max`), $skip, $count, $filter
         on phenomenonTime/result/id, $orderby phenomenonTime|id asc|desc, $expand one level,
         and `@iot.nextLink` (see "The SensorThings view" below)
    GET  /responders.json                               response teams (WGS-84)
    GET  /_demo/alarm_history.json?days=N               past alarms (feeds.sim_alarm_history)
    POST /_control/incident?sensor=ID&level=1&minutes=10   start an incident now
    POST /_control/burst?sensor=ID                      a main bursts near that sensor
    GET  /_health

    server, base_url = start_sensor_simulator(seed=1)
    ...
    server.stop()
"""

from __future__ import annotations

import operator
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import numpy as np
import orjson
import pandas as pd
import requests

from feeds.sim_alarm_history import history_alarms
from feeds.sim_network import make_sensors
from feeds.sim_sensors import PROFILES, SensorSimulator, SimSensorsConfig
from metrics.coords import from_wgs84

DEMO_AREAS = Path(__file__).resolve().parents[1] / "dashboard" / "data" / "wuhai"
UTILITY_KIND = {"pressure": "WaterPressure", "flow": "FlowRate", "temperature": "SupplyTemperature"}
FIWARE_KIND = {"gas_concentration": "methane", "pressure": "pressure"}
FIWARE_UNIT = {"%LEL": "%LEL", "kPa": "KPA"}
KEEP_S = 1800   # readings kept for `since` queries and SensorThings Observations
STA_ROOT = "/v1.1"
STA_NETWORKS = ("heating",)   # the networks the SensorThings view serves by default
STA_TOP_DEFAULT, STA_TOP_MAX = 100, 1000
STA_POLL_S = 10   # the demo's SensorThings feed interval


def _utc(now: datetime) -> datetime:
    return now.astimezone(timezone.utc)


class SensorSimServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sim: SensorSimulator, clock: Callable[[], datetime], host: str, port: int, seed: int,
                 sta_networks: Iterable[str] = STA_NETWORKS, sta_top_max: int = STA_TOP_MAX,
                 keep_s: float = KEEP_S):
        super().__init__((host, port), _Handler)
        self.sim, self.clock, self.seed = sim, clock, seed
        self.sensors = sim.sensors
        self.lock = threading.Lock()
        self.chunks: deque = deque()   # (max ts, [readings]) per step, oldest first
        self.keep_s = keep_s
        self.sta = StaView(self.sensors, sta_networks)
        self.sta_top_max = sta_top_max
        self.rng = np.random.default_rng(seed + 9)
        self.thread: threading.Thread | None = None
        self.advance()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def advance(self) -> datetime:
        """Step the simulation to the clock; buffer its readings (times rounded to ms)."""
        with self.lock:
            now = _utc(self.clock())
            if now > self.sim.now:
                out = []
                for r in self.sim.step(now):
                    ts = round(datetime.fromisoformat(r["observed_at"]).timestamp(), 3)
                    out.append(dict(r, ts=ts, ms=int(round(ts * 1000)), bad=bool(self.rng.random() < 0.0005)))
                if out:
                    self.chunks.append((max(r["ts"] for r in out), out))
                    self.sta.add(out)
                while self.chunks and self.chunks[0][0] < now.timestamp() - self.keep_s:
                    self.sta.drop(self.chunks.popleft()[1])
            return now

    def readings(self, networks: set[str], since: datetime | None, limit: int) -> list[dict]:
        cut = since.timestamp() if since else self.sim.now.timestamp() - self.sim.cfg.report_every_s
        with self.lock:
            rows = [r for mx, chunk in self.chunks if mx > cut for r in chunk
                    if r["ts"] > cut and r["network"] in networks]
        rows.sort(key=lambda r: r["ts"])
        if len(rows) > limit:   # never split readings of one instant across pages
            last = rows[limit - 1]["ts"]
            rows = [r for r in rows[:limit] if r["ts"] < last] or rows[:limit]
        return rows

    def incident(self, sensor_id: str, level: int, minutes: float) -> dict:
        with self.lock:
            idx = self.sensors.index[self.sensors["sensor_id"] == sensor_id]
            if not len(idx):
                raise KeyError(sensor_id)
            ok = self.sim._start_incident(int(idx[0]), level, minutes, "incident")
            return {"sensor_id": sensor_id, "level": level, "started": ok, "at": self.sim.now.isoformat()}

    def burst(self, sensor_id: str) -> list[str]:
        with self.lock:
            idx = self.sensors.index[self.sensors["sensor_id"] == sensor_id]
            return self.sim.burst(int(idx[0]) if len(idx) else None)

    def sta_get(self, path: str, params: dict[str, str], base: str) -> dict:
        """A SensorThings response for `path` (after /v1.1); raises StaError."""
        if path in ("", "/"):
            return self.sta.root(base)
        with self.lock:   # a snapshot: the buffers change as the simulation steps
            target = self.sta.resolve(path)
        return self.sta.respond(target, base + path, params, base, self.sta_top_max)

    def handle_error(self, request: object, client_address: object) -> None:
        import sys
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


def _iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utility_item(r: dict) -> dict:
    lng, lat = from_wgs84(r["lon"], r["lat"], "gcj02")
    val, unit = r["value"], r["unit"]
    if r["network"] == "water" and r["kind"] == "pressure":
        val, unit = round(val / 1000.0, 5), "MPa"
    return {"devNo": r["sensor_id"], "type": UTILITY_KIND.get(r["kind"], r["kind"]),
            "val": "ERR" if r.get("bad") else val, "unit": unit, "ts": int(round(r["ts"] * 1000)),
            "lng": round(lng, 7), "lat": round(lat, 7)}


def fiware_entity(r: dict) -> dict:
    return {"id": f"urn:ngsi-ld:DeviceMeasurement:{r['sensor_id']}:{int(round(r['ts'] * 1000))}",
            "type": "DeviceMeasurement", "refDevice": f"urn:ngsi-ld:Device:{r['sensor_id']}",
            "controlledProperty": FIWARE_KIND.get(r["kind"], r["kind"]), "numValue": r["value"],
            "unit": FIWARE_UNIT.get(r["unit"], r["unit"]), "dateObserved": _iso_ms(r["ts"]),
            "location": {"type": "Point", "coordinates": [r["lon"], r["lat"]]}}


# ---- the SensorThings view ----------------------------------------------------------------
# One Thing (with one Location and one FeatureOfInterest, the pipe at that point) and one
# Datastream per sensor of `sta_networks`, all with the sensor's row number + 1 as @iot.id
# (Datastream 2401 is sensor H02401 of the 3,000); one Sensor (device model) per network
# and quantity; one ObservedProperty per quantity. The Observations are the buffered
# readings of those sensors, numbered in phenomenonTime order as they are buffered, so
# ordering by phenomenonTime is ordering by @iot.id. Paging is server-driven: a page holds
# at most $top entities (default 100, at most `sta_top_max`), and its `@iot.nextLink`
# continues after the page's last @iot.id (an opaque `$skiptoken`), so Observations that
# arrive or expire between two pages are neither repeated nor skipped.
STA_SETS = ("Things", "Locations", "FeaturesOfInterest", "Sensors", "ObservedProperties", "Datastreams",
            "Observations")
STA_CONFORMANCE = ("http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
                   "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
                   "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data")
OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
STA_PROPERTY = {   # our kind → ObservedProperty name (read back through a feed's kind_map), definition
    "temperature": ("Supply temperature", "http://qudt.org/vocab/quantitykind/Temperature"),
    "pressure": ("Pressure", "http://qudt.org/vocab/quantitykind/Pressure"),
    "flow": ("Flow rate", "http://qudt.org/vocab/quantitykind/VolumeFlowRate"),
    "gas_concentration": ("Combustible gas", "http://qudt.org/vocab/quantitykind/VolumeFraction"),
}
STA_UNIT = {"°C": ("degree Celsius", "ucum:Cel"), "kPa": ("kilopascal", "ucum:kPa"),
            "m3/h": ("cubic metre per hour", "ucum:m3/h"), "%LEL": ("percent of the lower explosive limit", "")}
STA_EXPAND = {"Observations": {"Datastream"}, "Datastreams": {"Thing", "Sensor", "ObservedProperty"},
              "Things": {"Locations", "Datastreams"}}
STA_OPTIONS = {"$top", "$skip", "$skiptoken", "$count", "$orderby", "$filter", "$expand"}
_STA_PATH = re.compile(r"^/(?P<set>[A-Za-z]+)(?:\((?P<key>\d+)\))?(?:/(?P<nav>[A-Za-z]+))?/?$")
_STA_TERM = re.compile(r"^\(*\s*(phenomenonTime|resultTime|result|id|@iot\.id)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*\)*$")
_STA_OPS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
            "lt": operator.lt, "le": operator.le}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LINK_SAFE = "$,():'"   # left as they are in a nextLink's query, for readability


class StaError(Exception):
    """A request the SensorThings view refuses: `code` is the HTTP status."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StaQuery:
    """The query options of one request, checked."""

    top: int = STA_TOP_DEFAULT
    skip: int = 0
    after: int | None = None          # $skiptoken: the @iot.id the previous page ended with
    count: bool = False
    desc: bool = False
    expand: frozenset = frozenset()
    where: tuple = ()                 # predicates on a buffered reading (Observations only)


def sta_query(params: dict[str, str], entity_set: str, top_max: int = STA_TOP_MAX) -> StaQuery:
    """The query options of a request on `entity_set`; unknown or unsupported ones raise StaError."""
    unknown = sorted(k for k in params if k.startswith("$") and k not in STA_OPTIONS)
    if unknown:
        raise StaError(501, f"query option {unknown[0]} is not implemented by the demo server")
    return StaQuery(top=min(_whole(params, "$top", STA_TOP_DEFAULT), top_max), skip=_whole(params, "$skip", 0),
                    after=_whole(params, "$skiptoken", None), count=_flag(params, "$count"),
                    desc=_descending(params.get("$orderby", ""), entity_set),
                    expand=_expand(params.get("$expand", ""), entity_set),
                    where=_where(params.get("$filter", ""), entity_set))


def _whole(params: dict[str, str], name: str, default: int | None) -> int | None:
    text = params.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise StaError(400, f"{name}: expected a whole number >= 0, got {text!r}")
    return int(text)


def _flag(params: dict[str, str], name: str) -> bool:
    text = params.get(name, "false").strip().lower()
    if text not in ("true", "false"):
        raise StaError(400, f"{name}: expected true or false, got {text!r}")
    return text == "true"


def _descending(text: str, entity_set: str) -> bool:
    keys = {"id", "@iot.id"} | ({"phenomenonTime", "resultTime"} if entity_set == "Observations" else set())
    ways = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, way = part.partition(" ")
        way = way.strip().lower() or "asc"
        if name not in keys or way not in ("asc", "desc"):
            raise StaError(501, f"$orderby {part!r}: the demo server orders {entity_set} by "
                                f"{' or '.join(sorted(keys))}, asc or desc")
        ways.add(way)
    if len(ways) > 1:
        raise StaError(501, "$orderby: mixed directions are not implemented by the demo server")
    return ways == {"desc"}


def _expand(text: str, entity_set: str) -> frozenset:
    names = [n.strip() for n in text.split(",") if n.strip()]
    allowed = STA_EXPAND.get(entity_set, set())
    for name in names:
        if name not in allowed:
            raise StaError(501, f"$expand={name} on {entity_set}: the demo server expands "
                                f"{', '.join(sorted(allowed)) or 'nothing'} there (one level, no options)")
    return frozenset(names)


def _where(text: str, entity_set: str) -> tuple:
    """`$filter` as predicates: comparisons of phenomenonTime, result or id joined by `and`."""
    if not text.strip():
        return ()
    if entity_set != "Observations":
        raise StaError(501, "$filter is implemented on Observations only")
    if re.search(r"\s(or|not)\s|^not\s|\w\(", text):
        raise StaError(501, f"$filter {text!r}: the demo server implements comparisons joined by 'and' only "
                            f"(no or, not or functions)")
    out = []
    for term in re.split(r"\s+and\s+", text.strip()):
        m = _STA_TERM.match(term)
        if not m:
            raise StaError(501, f"$filter {term!r}: the demo server compares phenomenonTime, resultTime, result "
                                f"or id (eq, ne, gt, ge, lt, le), terms joined by 'and'")
        out.append(_predicate(*m.groups()))
    return tuple(out)


def _predicate(name: str, op: str, literal: str) -> Callable[[dict], bool]:
    cmp = _STA_OPS[op]
    if name in ("phenomenonTime", "resultTime"):
        at_us = _time_literal(literal)
        return lambda r: cmp(r["ms"] * 1000, at_us)
    try:
        number = float(literal) if name == "result" else int(literal)
    except ValueError:
        raise StaError(400, f"$filter: {name} needs a number, got {literal!r}") from None
    if name == "result":
        return lambda r: not r["bad"] and cmp(r["value"], number)
    return lambda r: cmp(r["obs_id"], number)


def _time_literal(text: str) -> int:
    """An ISO 8601 time with offset (quoted or not; a '+' sent unencoded arrives as a space) → µs."""
    text = text.strip().strip("'").replace(" ", "+")
    try:
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise StaError(400, f"$filter: not an ISO 8601 time: {text!r}") from None
    if at.tzinfo is None:
        raise StaError(400, f"$filter: the time {text!r} needs a UTC offset")
    return (at - _EPOCH) // timedelta(microseconds=1)


def sta_page(items: list, ident: Callable[[object], int], q: StaQuery) -> tuple[list, int, int | None]:
    """(the page, how many match, the @iot.id to continue after or None) of `items` in ascending id."""
    rows = [it for it in items if all(w(it) for w in q.where)]
    if q.desc:
        rows.reverse()
    count = len(rows)
    if q.after is not None:
        rows = [it for it in rows if (ident(it) < q.after if q.desc else ident(it) > q.after)]
    rows = rows[q.skip:]
    page = rows[:q.top]
    return page, count, ident(page[-1]) if len(rows) > q.top and page else None


def sta_next_link(url: str, params: dict[str, str], top: int, after: int) -> str:
    """The request again, continuing after `after` (no $skip: it applied to the first page)."""
    keep = {k: v for k, v in params.items() if k not in ("$skip", "$skiptoken", "$top")}
    keep.update({"$top": str(top), "$skiptoken": str(after)})
    return f"{url}?{urlencode(keep, quote_via=quote, safe=_LINK_SAFE)}"


class StaView:
    """The SensorThings entities of the sensors of `networks`, and their buffered Observations.

    `add` and `drop` run under the server's lock as the simulation steps; `resolve` takes a
    snapshot under it; the entities are built outside it (readings never change once buffered).
    """

    def __init__(self, sensors: pd.DataFrame, networks: Iterable[str]):
        self.networks = frozenset(networks)
        part = sensors[sensors["network"].isin(self.networks)]
        self.rows = {int(i) + 1: row for i, row in zip(part.index, part.to_dict("records"))}
        self.ds_of = {row["sensor_id"]: n for n, row in self.rows.items()}
        pairs = sorted({(row["network"], row["kind"]) for row in self.rows.values()})
        self.models = {pair: k for k, pair in enumerate(pairs, start=1)}
        self.props = {kind: k for k, kind in enumerate(sorted({kind for _, kind in pairs}), start=1)}
        self.observations: deque = deque()            # buffered readings of our sensors, by @iot.id
        self.by_ds: dict[int, deque] = {n: deque() for n in self.rows}
        self.last_id = 0

    # ---- the buffer -----------------------------------------------------------------------
    def add(self, readings: list[dict]) -> None:
        """Number one step's readings of our sensors as Observations, in phenomenonTime order."""
        for r in sorted((r for r in readings if r["network"] in self.networks),
                        key=lambda r: (r["ms"], r["sensor_id"])):
            self.last_id += 1
            r["obs_id"], r["ds"] = self.last_id, self.ds_of[r["sensor_id"]]
            self.observations.append(r)
            self.by_ds[r["ds"]].append(r)

    def drop(self, readings: list[dict]) -> None:
        """Forget the Observations of a step the server no longer keeps (the oldest)."""
        for _ in range(sum(1 for r in readings if "obs_id" in r)):
            r = self.observations.popleft()
            self.by_ds[r["ds"]].popleft()

    # ---- resource paths ---------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[str, list, bool]:
        """(entity set, its items in ascending @iot.id, one entity?) of a path after /v1.1."""
        m = _STA_PATH.match(path)
        if not m or m["set"] not in STA_SETS:
            raise StaError(404, f"no such resource: {STA_ROOT}{path}")
        entity_set = m["set"]
        if m["key"] is None:
            if m["nav"]:
                raise StaError(404, f"no such resource: {STA_ROOT}{path}")
            return entity_set, self._all(entity_set), False
        item = self._one(entity_set, int(m["key"]))
        if item is None:
            raise StaError(404, f"no such entity: {entity_set}({m['key']})")
        if not m["nav"]:
            return entity_set, [item], True
        related = self._related(entity_set, item, m["nav"])
        if related is None:
            raise StaError(404, f"{entity_set} have no navigation property {m['nav']}")
        return related

    def _all(self, entity_set: str) -> list:
        if entity_set == "Observations":
            return list(self.observations)
        if entity_set == "Sensors":
            return sorted(self.models.values())
        if entity_set == "ObservedProperties":
            return sorted(self.props.values())
        return list(self.rows)   # Things, Locations, FeaturesOfInterest, Datastreams: one per sensor

    def _one(self, entity_set: str, key: int) -> object | None:
        if entity_set == "Observations":
            first = self.observations[0]["obs_id"] if self.observations else 0
            return self.observations[key - first] if 0 <= key - first < len(self.observations) else None
        known = {"Sensors": self.models.values(), "ObservedProperties": self.props.values()}.get(entity_set, self.rows)
        return key if key in known else None

    def _related(self, entity_set: str, item, nav: str) -> tuple[str, list, bool] | None:
        """The target of a navigation property: (entity set, items, one entity?)."""
        if entity_set == "Observations":
            return {"Datastream": ("Datastreams", [item["ds"]], True),
                    "FeatureOfInterest": ("FeaturesOfInterest", [item["ds"]], True)}.get(nav)
        if entity_set == "Datastreams":
            return {"Thing": ("Things", [item], True), "Sensor": ("Sensors", [self._model_of(item)], True),
                    "ObservedProperty": ("ObservedProperties", [self._property_of(item)], True),
                    "Observations": ("Observations", list(self.by_ds[item]), False)}.get(nav)
        if entity_set == "Things":
            return {"Datastreams": ("Datastreams", [item], False), "Locations": ("Locations", [item], False)}.get(nav)
        if (entity_set, nav) == ("Locations", "Things"):
            return "Things", [item], False
        if (entity_set, nav) == ("FeaturesOfInterest", "Observations"):
            return "Observations", list(self.by_ds[item]), False
        if nav == "Datastreams" and entity_set in ("Sensors", "ObservedProperties"):
            owner = self._model_of if entity_set == "Sensors" else self._property_of
            return "Datastreams", [n for n in self.rows if owner(n) == item], False
        return None

    def _model_of(self, n: int) -> int:
        """The Sensor (device model) of Datastream `n`."""
        row = self.rows[n]
        return self.models[(row["network"], row["kind"])]

    def _property_of(self, n: int) -> int:
        return self.props[self.rows[n]["kind"]]

    # ---- responses ----------------------------------------------------------------------------
    def root(self, base: str) -> dict:
        return {"value": [{"name": name, "url": f"{base}/{name}"} for name in STA_SETS],
                "serverSettings": {"conformance": list(STA_CONFORMANCE)}}

    def respond(self, target: tuple[str, list, bool], url: str, params: dict[str, str], base: str,
                top_max: int) -> dict:
        """One entity, or a page of a collection with `@iot.count` and `@iot.nextLink`."""
        entity_set, items, single = target
        q = sta_query(params, entity_set, top_max)
        if single:
            return self.entity(entity_set, items[0], base, q.expand)
        ident = (lambda r: r["obs_id"]) if entity_set == "Observations" else int
        page, count, after = sta_page(items, ident, q)
        out: dict = {"@iot.count": count} if q.count else {}
        if after is not None:
            out["@iot.nextLink"] = sta_next_link(url, params, q.top, after)
        out["value"] = [self.entity(entity_set, it, base, q.expand) for it in page]
        return out

    def entity(self, entity_set: str, item, base: str, expand: frozenset = frozenset()) -> dict:
        build = {"Things": self.thing, "Locations": self.location, "FeaturesOfInterest": self.feature,
                 "Sensors": self.sensor, "ObservedProperties": self.observed_property,
                 "Datastreams": self.datastream, "Observations": self.observation}[entity_set]
        return build(item, base, expand)

    @staticmethod
    def _links(base: str, entity_set: str, key: int, *navs: str) -> dict:
        own = f"{base}/{entity_set}({key})"
        return {"@iot.id": key, "@iot.selfLink": own, **{f"{n}@iot.navigationLink": f"{own}/{n}" for n in navs}}

    def thing(self, n: int, base: str, expand: frozenset = frozenset()) -> dict:
        row = self.rows[n]
        out = {**self._links(base, "Things", n, "Locations", "Datastreams"), "name": row["sensor_id"],
               "description": f"monitoring point {row['sensor_id']} on {row['facility']} (made up for the demo)",
               "properties": {"sensor_id": row["sensor_id"], "network": row["network"], "facility": row["facility"],
                              "main_id": row.get("main_id"), "grid_code": row.get("grid_code")}}
        if "Locations" in expand:
            out["Locations"] = [self.location(n, base)]
        if "Datastreams" in expand:
            out["Datastreams"] = [self.datastream(n, base)]
        return out

    def _point(self, n: int) -> dict:
        row = self.rows[n]
        return {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]}

    def location(self, n: int, base: str, expand: frozenset = frozenset()) -> dict:
        return {**self._links(base, "Locations", n, "Things"), "name": self.rows[n]["sensor_id"],
                "description": "where the sensor sits (WGS-84)", "encodingType": "application/geo+json",
                "location": self._point(n)}

    def feature(self, n: int, base: str, expand: frozenset = frozenset()) -> dict:
        row = self.rows[n]
        return {**self._links(base, "FeaturesOfInterest", n, "Observations"),
                "name": f"{row['facility']} at {row['sensor_id']}", "description": "the pipe at the sensor (WGS-84)",
                "encodingType": "application/geo+json", "feature": self._point(n)}

    def sensor(self, k: int, base: str, expand: frozenset = frozenset()) -> dict:
        network, kind = next(pair for pair, i in self.models.items() if i == k)
        return {**self._links(base, "Sensors", k, "Datastreams"),
                "name": f"{network} {STA_PROPERTY[kind][0].lower()} transmitter",
                "description": "a device model made up for the demo city", "encodingType": "text/plain",
                "metadata": f"demo model {k}: {network} network, {kind}, reports every minute"}

    def observed_property(self, k: int, base: str, expand: frozenset = frozenset()) -> dict:
        kind = next(name for name, i in self.props.items() if i == k)
        name, definition = STA_PROPERTY[kind]
        return {**self._links(base, "ObservedProperties", k, "Datastreams"), "name": name,
                "definition": definition, "description": f"the console's quantity {kind!r}"}

    def datastream(self, n: int, base: str, expand: frozenset = frozenset()) -> dict:
        row = self.rows[n]
        unit = PROFILES[(row["network"], row["kind"])][2]
        unit_name, unit_def = STA_UNIT[unit]
        out = {**self._links(base, "Datastreams", n, "Thing", "Sensor", "ObservedProperty", "Observations"),
               "name": f"{row['sensor_id']} {STA_PROPERTY[row['kind']][0].lower()}",
               "description": f"{STA_PROPERTY[row['kind']][0]} at {row['sensor_id']}, one value a minute",
               "unitOfMeasurement": {"name": unit_name, "symbol": unit, "definition": unit_def},
               "observationType": OM_MEASUREMENT,
               "properties": {"sensor_id": row["sensor_id"], "network": row["network"]}}
        if "Thing" in expand:
            out["Thing"] = self.thing(n, base)
        if "Sensor" in expand:
            out["Sensor"] = self.sensor(self._model_of(n), base)
        if "ObservedProperty" in expand:
            out["ObservedProperty"] = self.observed_property(self._property_of(n), base)
        return out

    def observation(self, r: dict, base: str, expand: frozenset = frozenset()) -> dict:
        """A buffered reading; a meter fault (the utility view's "ERR") has no result."""
        at = _iso_ms(r["ts"])
        out = {**self._links(base, "Observations", r["obs_id"], "Datastream", "FeatureOfInterest"),
               "phenomenonTime": at, "resultTime": at, "result": None if r["bad"] else r["value"]}
        if r["bad"]:
            out["resultQuality"] = "ERR: meter fault"
        if "Datastream" in expand:
            out["Datastream"] = self.datastream(r["ds"], base)
        return out


def sta_datastreams(base_url: str, session: requests.Session | None = None, timeout_s: float = 20.0,
                    page_cap: int = 100) -> list[dict]:
    """The `sensorthings.datastreams` settings of every Datastream a SensorThings service lists.

    Reads `{base_url}/Datastreams?$expand=Thing,ObservedProperty` page by page (following
    `@iot.nextLink`), as an integrator would to fill in a feed's settings.
    """
    http = session or requests.Session()
    url: str | None = f"{base_url.rstrip('/')}/Datastreams?$expand=Thing,ObservedProperty&$top=1000"
    out: list[dict] = []
    for _ in range(page_cap):
        if not url:
            break
        resp = http.get(url, timeout=timeout_s, headers={"Accept": "application/json"})
        resp.raise_for_status()
        doc = resp.json()
        out += [datastream_setting(ds) for ds in doc["value"]]
        url = doc.get("@iot.nextLink")
    return out


def datastream_setting(ds: dict) -> dict:
    """One Datastream (Thing and ObservedProperty expanded) in our terms: the sensor id and
    network from the Thing's properties, the kind from the ObservedProperty's name (mapped by
    the feed's kind_map when Observations are read), the unit from unitOfMeasurement.symbol."""
    thing = ds.get("Thing") or {}
    props = thing.get("properties") or {}
    return {"id": str(ds["@iot.id"]), "sensor_id": str(props.get("sensor_id") or thing.get("name") or ""),
            "network": props.get("network") or (ds.get("properties") or {}).get("network") or "",
            "kind": (ds.get("ObservedProperty") or {}).get("name") or "",
            "unit": (ds.get("unitOfMeasurement") or {}).get("symbol") or ""}


class _Handler(BaseHTTPRequestHandler):
    server: SensorSimServer
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: without TCP_NODELAY a kept-alive connection waits
    # for the client's delayed ACK (~40 ms) on every request — 600 SensorThings GETs a poll
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, code: int, obj: object) -> None:
        body = orjson.dumps(obj)
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _params(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}

    def do_POST(self) -> None:  # noqa: N802
        path, p = self._params()
        try:
            if path == "/_control/incident":
                return self._json(200, self.server.incident(p.get("sensor", ""), int(p.get("level", 1)),
                                                            float(p.get("minutes", 10))))
            if path == "/_control/burst":
                return self._json(200, {"sensors": self.server.burst(p.get("sensor", ""))})
        except (KeyError, ValueError) as exc:
            return self._json(400, {"error": f"bad request: {exc}"})
        self._json(404, {"error": f"no such path: {path}"})

    def _sta(self, path: str, params: dict[str, str]) -> None:
        self.server.advance()
        base = f"http://{self.headers.get('Host') or self.server.base_url.split('//', 1)[1]}{STA_ROOT}"
        try:
            return self._json(200, self.server.sta_get(path, params, base))
        except StaError as exc:
            return self._json(exc.code, {"code": exc.code, "type": "error", "message": str(exc)})

    def do_GET(self) -> None:  # noqa: N802
        path, p = self._params()
        if path == STA_ROOT or path.startswith(STA_ROOT + "/"):
            return self._sta(path[len(STA_ROOT):], p)
        s = self.server
        now = s.advance() if p.get("offset", "0") == "0" else _utc(s.clock())
        nets = set((p.get("network") or "gas,water,heating").split(","))
        try:
            since = datetime.fromisoformat(p["since"].replace("Z", "+00:00")) if p.get("since") else None
            if p.get("q", "").startswith("dateObserved>"):
                since = datetime.fromisoformat(p["q"].split(">", 1)[1].replace("Z", "+00:00"))
            limit = int(p.get("limit", 20000))
        except ValueError as exc:
            return self._json(400, {"error": str(exc)})
        if path == "/_health":
            return self._json(200, {"status": "ok", "now": now.isoformat()})
        if path == "/utility/sensors.json":
            rows, system = [], p.get("coords", "gcj02")
            for r in s.sensors[s.sensors["network"].isin(nets)].itertuples(index=False):
                lng, lat = from_wgs84(r.lon, r.lat, system)
                rows.append({"sensor_id": r.sensor_id, "network": r.network, "kind": r.kind, "lon": round(lng, 7),
                             "lat": round(lat, 7), "grid_code": r.grid_code, "facility": r.facility,
                             "offline_after_s": int(r.offline_after_s), "updated_at": "2026-01-01T00:00:00Z"})
            return self._json(200, {"sensors": rows})
        if path == "/utility/readings.json":
            items = [utility_item(r) for r in s.readings(nets, since, limit)]
            return self._json(200, {"code": 0, "msg": "ok", "data": {"total": len(items), "list": items}})
        if path == "/ngsi/v2/entities":
            rows = s.readings({"gas"}, since, 10**9)
            offset = int(p.get("offset", 0))
            return self._json(200, [fiware_entity(r) for r in rows[offset:offset + min(limit, 1000)]])
        if path == "/responders.json":
            with s.lock:
                return self._json(200, {"teams": s.sim.responders()})
        if path == "/_demo/alarm_history.json":
            days = int(p.get("days", 5))
            return self._json(200, history_alarms(s.sensors, now, days=days, seed=s.seed))
        self._json(404, {"error": f"no such path: {path}"})


def start_sensor_simulator(seed: int = 20261121, clock: Callable[[], datetime] | None = None,
                           n_sensors: int = 3000, areas_dir: Path | None = DEMO_AREAS,
                           config: SimSensorsConfig | None = None, host: str = "127.0.0.1",
                           port: int = 0, sta_networks: Iterable[str] = STA_NETWORKS,
                           sta_top_max: int = STA_TOP_MAX, keep_s: float = KEEP_S) -> tuple[SensorSimServer, str]:
    """Start the sensor platform in a daemon thread; returns (server, base_url).

    The simulation starts two report intervals before `clock()`, so the first poll finds a
    reading of every sensor. `sta_networks` are served as SensorThings (and still as utility
    JSON, for comparison); `sta_top_max` caps a SensorThings page; readings are kept `keep_s`
    seconds. Stop it with `server.stop()`.
    """
    clock = clock or (lambda: datetime.now(timezone.utc))
    cfg = config or SimSensorsConfig(seed=seed, n_sensors=n_sensors, incidents_per_sensor_day=0.03)
    areas = areas_dir if areas_dir and (Path(areas_dir) / "areas.geojson").exists() else None
    sensors = make_sensors(cfg.n_sensors, seed=seed, areas_dir=areas)
    start = _utc(clock()) - timedelta(seconds=2 * cfg.report_every_s)
    server = SensorSimServer(SensorSimulator(sensors, cfg, start), clock, host, port, seed,
                             sta_networks=sta_networks, sta_top_max=sta_top_max, keep_s=keep_s)
    server.thread = threading.Thread(target=server.serve_forever, name="cityops-sensor-sim",
                                     kwargs={"poll_interval": 0.05}, daemon=True)
    server.thread.start()
    return server, server.base_url


def demo_feed_specs(base_url: str) -> list[dict]:
    """The [[feeds]] entries (as keyword arguments of FeedSettings) that read this simulator.

    Each sensor is read by exactly one feed: the networks of the SensorThings view through
    the `sensorthings` adapter (its Datastreams listed from the view itself), gas through
    FIWARE, the other networks through the utility's JSON.
    """
    streams = sta_datastreams(f"{base_url}{STA_ROOT}")
    sta_nets = sorted({s["network"] for s in streams})
    json_nets = [n for n in ("water", "heating") if n not in sta_nets]
    specs = [utility_feed_spec(base_url, json_nets)] if json_nets else []
    if "gas" not in sta_nets:
        specs.append(fiware_feed_spec(base_url))
    if streams:
        specs.append(sensorthings_feed_spec(base_url, sta_nets, streams))
    specs.append(dict(name="responders", kind="responders", format="json", url=f"{base_url}/responders.json",
                      interval_s=5, timeout_s=10, stale_after_s=60, dead_after_s=300))
    return specs


def utility_feed_spec(base_url: str, networks: list[str]) -> dict:
    nets = ",".join(networks)
    return dict(name=f"utility-{'-'.join(networks)}", kind="sensors", format="json", interval_s=5, timeout_s=20,
                url=f"{base_url}/utility/readings.json?network={nets}", updated_since_param="since",
                coords="gcj02", stale_after_s=60, dead_after_s=300,
                sensor={"registry_url": f"sensors.json?network={nets}", "clear_on_normal": True,
                        "json": {"items_path": "data.list", "time_format": "epoch_ms",
                                 "fields": {"sensor_id": "devNo", "value": "val", "unit": "unit",
                                            "observed_at": "ts", "kind": "type", "lon": "lng", "lat": "lat"}}})


def fiware_feed_spec(base_url: str) -> dict:
    return dict(name="gas-fiware", kind="sensors", format="fiware", interval_s=3, timeout_s=20,
                url=f"{base_url}/ngsi/v2/entities?type=DeviceMeasurement&options=keyValues",
                stale_after_s=60, dead_after_s=300,
                sensor={"registry_url": f"{base_url}/utility/sensors.json?network=gas&coords=wgs84",
                        "network": "gas", "fiware": {"id_last_segment": True}})


def sensorthings_feed_spec(base_url: str, networks: list[str], streams: list[dict]) -> dict:
    """One GET per Datastream a poll (the adapter reads each Datastream's Observations)."""
    return dict(name=f"{'-'.join(networks)}-sensorthings", kind="sensors", format="sensorthings",
                interval_s=STA_POLL_S, timeout_s=20, url=f"{base_url}{STA_ROOT}",
                stale_after_s=60, dead_after_s=300,
                sensor={"registry_url": f"{base_url}/utility/sensors.json?network={','.join(networks)}&coords=wgs84",
                        "clear_on_normal": True, "sensorthings": {"datastreams": streams, "timeout_s": 20}})

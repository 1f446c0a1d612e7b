"""The demo sensor platform's SensorThings API v1.1 view, mounted under `/v1.1` by
`feeds/demo/sensors/http.py` (which owns the HTTP server, the clock and the buffer).

Server side: the entities built from the sensor table and the buffered readings
(`StaView`); the query options of a request and paging are in `feeds/demo/sensors/sta_query.py`. Client side, as an integrator fills in a feed's settings:
`sta_datastreams` lists a service's Datastreams as `sensorthings.datastreams` entries.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType

import pandas as pd
import requests

from feeds.demo.sensors.simulator import PROFILES
from feeds.demo.sensors.sta_query import StaError, select_props, sta_next_link, sta_page, sta_query

STA_ROOT = "/v1.1"


def iso_ms(ts: float) -> str:
    """Unix seconds as ISO 8601 UTC with milliseconds (`…Z`)."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- the entities -----------------------------------------------------------------------
# One Thing (with one Location and one FeatureOfInterest, the pipe at that point) and one
# Datastream per sensor of `sta_networks`, all with the sensor's row number + 1 as @iot.id
# (Datastream 2401 is sensor H02401 of the 3,000); one Sensor (device model) per network
# and quantity; one ObservedProperty per quantity. The Observations are the buffered
# readings of those sensors, numbered as they are buffered (each step's in phenomenonTime
# order; a late arrival, `SensorSimServer.late`, gets the next number although its time is
# older). Paging is server-driven: a page holds at most $top entities (default 100, at most
# `sta_top_max`), and its `@iot.nextLink` continues after the page's last entity in the
# requested order (an opaque `$skiptoken`: its (phenomenonTime, @iot.id), or its @iot.id),
# so Observations that arrive or expire between two pages are neither repeated nor skipped
# (one arriving with a time before the page's last is simply not in the rest of the chain).
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
_STA_PATH = re.compile(r"^/(?P<set>[A-Za-z]+)(?:\((?P<key>\d+)\))?(?:/(?P<nav>[A-Za-z]+))?/?$")
_NO_EXPAND: Mapping = MappingProxyType({})


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
        page, count, after = sta_page(items, q.key(entity_set), q)
        out: dict = {"@iot.count": count} if q.count else {}
        if after is not None:
            out["@iot.nextLink"] = sta_next_link(url, params, q.top, after)
        out["value"] = [self.entity(entity_set, it, base, q.expand) for it in page]
        return out

    def entity(self, entity_set: str, item, base: str, expand: Mapping = _NO_EXPAND) -> dict:
        build = {"Things": self.thing, "Locations": self.location, "FeaturesOfInterest": self.feature,
                 "Sensors": self.sensor, "ObservedProperties": self.observed_property,
                 "Datastreams": self.datastream, "Observations": self.observation}[entity_set]
        return build(item, base, expand)

    @staticmethod
    def _links(base: str, entity_set: str, key: int, *navs: str) -> dict:
        own = f"{base}/{entity_set}({key})"
        return {"@iot.id": key, "@iot.selfLink": own, **{f"{n}@iot.navigationLink": f"{own}/{n}" for n in navs}}

    def thing(self, n: int, base: str, expand: Mapping = _NO_EXPAND) -> dict:
        row = self.rows[n]
        out = {**self._links(base, "Things", n, "Locations", "Datastreams"), "name": row["sensor_id"],
               "description": f"monitoring point {row['sensor_id']} on {row['facility']} (made up for the demo)",
               "properties": {"sensor_id": row["sensor_id"], "network": row["network"], "facility": row["facility"],
                              "main_id": row.get("main_id"), "grid_code": row.get("grid_code")}}
        if "Locations" in expand:
            out["Locations"] = [select_props(self.location(n, base), expand["Locations"])]
        if "Datastreams" in expand:
            out["Datastreams"] = [select_props(self.datastream(n, base, expand["Datastreams"].expand),
                                               expand["Datastreams"])]
        return out

    def _point(self, n: int) -> dict:
        row = self.rows[n]
        return {"type": "Point", "coordinates": [float(row["lon"]), float(row["lat"])]}

    def location(self, n: int, base: str, expand: Mapping = _NO_EXPAND) -> dict:
        return {**self._links(base, "Locations", n, "Things"), "name": self.rows[n]["sensor_id"],
                "description": "where the sensor sits (WGS-84)", "encodingType": "application/geo+json",
                "location": self._point(n)}

    def feature(self, n: int, base: str, expand: Mapping = _NO_EXPAND) -> dict:
        row = self.rows[n]
        return {**self._links(base, "FeaturesOfInterest", n, "Observations"),
                "name": f"{row['facility']} at {row['sensor_id']}", "description": "the pipe at the sensor (WGS-84)",
                "encodingType": "application/geo+json", "feature": self._point(n)}

    def sensor(self, k: int, base: str, expand: Mapping = _NO_EXPAND) -> dict:
        network, kind = next(pair for pair, i in self.models.items() if i == k)
        return {**self._links(base, "Sensors", k, "Datastreams"),
                "name": f"{network} {STA_PROPERTY[kind][0].lower()} transmitter",
                "description": "a device model made up for the demo city", "encodingType": "text/plain",
                "metadata": f"demo model {k}: {network} network, {kind}, reports every minute"}

    def observed_property(self, k: int, base: str, expand: Mapping = _NO_EXPAND) -> dict:
        kind = next(name for name, i in self.props.items() if i == k)
        name, definition = STA_PROPERTY[kind]
        return {**self._links(base, "ObservedProperties", k, "Datastreams"), "name": name,
                "definition": definition, "description": f"the console's quantity {kind!r}"}

    def datastream(self, n: int, base: str, expand: Mapping = _NO_EXPAND) -> dict:
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
            out["Thing"] = select_props(self.thing(n, base, expand["Thing"].expand), expand["Thing"])
        if "Sensor" in expand:
            out["Sensor"] = select_props(self.sensor(self._model_of(n), base), expand["Sensor"])
        if "ObservedProperty" in expand:
            out["ObservedProperty"] = select_props(self.observed_property(self._property_of(n), base),
                                              expand["ObservedProperty"])
        return out

    def observation(self, r: dict, base: str, expand: Mapping = _NO_EXPAND) -> dict:
        """A buffered reading; a meter fault (the utility view's "ERR") has no result."""
        at = iso_ms(r["ts"])
        out = {**self._links(base, "Observations", r["obs_id"], "Datastream", "FeatureOfInterest"),
               "phenomenonTime": at, "resultTime": at, "result": None if r["bad"] else r["value"]}
        if r["bad"]:
            out["resultQuality"] = "ERR: meter fault"
        if "Datastream" in expand:
            out["Datastream"] = select_props(self.datastream(r["ds"], base, expand["Datastream"].expand),
                                             expand["Datastream"])
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


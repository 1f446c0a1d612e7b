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
         on phenomenonTime/result/id, $orderby phenomenonTime|id asc|desc, $expand one level
         (with a nested $select), and `@iot.nextLink` (the view: `feeds.demo.sensors.sensorthings`)
    GET  /responders.json                               response teams (WGS-84)
    GET  /_demo/alarm_history.json?days=N               past alarms (feeds.demo.sensors.alarm_history)
    POST /_control/incident?sensor=ID&level=1&minutes=10   start an incident now
    POST /_control/burst?sensor=ID                      a main bursts near that sensor
    POST /_control/late?sensor=ID&age_s=90[&value=V]    a reading taken age_s ago arrives now
    GET  /_health
The server counts the GET requests it answers by path (`hits`), for tests.

    server, base_url = start_sensor_simulator(seed=1)
    ...
    server.stop()
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson

from feeds.demo.sensors.alarm_history import history_alarms
from feeds.demo.sensors.network import make_sensors
from feeds.demo.sensors.simulator import PROFILES, SensorSimulator, SimSensorsConfig
from feeds.demo.sensors.sensorthings import STA_PROPERTY, STA_ROOT, StaView, iso_ms, sta_datastreams
from feeds.demo.sensors.sta_query import STA_TOP_MAX, StaError
from metrics.coords import from_wgs84

DEMO_AREAS = Path(__file__).resolve().parents[1] / "data" / "wuhai"
UTILITY_KIND = {"pressure": "WaterPressure", "flow": "FlowRate", "temperature": "SupplyTemperature"}
FIWARE_KIND = {"gas_concentration": "methane", "pressure": "pressure"}
FIWARE_UNIT = {"%LEL": "%LEL", "kPa": "KPA"}
KEEP_S = 1800   # readings kept for `since` queries and SensorThings Observations
STA_NETWORKS = ("heating",)   # the networks the SensorThings view serves by default
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
        self.hits: Counter = Counter()   # GET requests answered, by path
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

    def late(self, sensor_id: str, age_s: float, value: float | None = None) -> dict:
        """A reading of `sensor_id` taken `age_s` seconds ago that reaches the platform only
        now (a data logger catching up): buffered like any other, so it is numbered after the
        Observations before it although its phenomenonTime is older. `value`: the sensor's
        normal value unless given."""
        if age_s < 0:
            raise ValueError(f"age_s: expected seconds >= 0, got {age_s}")
        now = self.advance()
        with self.lock:
            idx = self.sensors.index[self.sensors["sensor_id"] == sensor_id]
            if not len(idx):
                raise KeyError(sensor_id)
            row = self.sensors.loc[idx[0]]
            normal, _, unit = PROFILES[(row["network"], row["kind"])][:3]
            ts = round(now.timestamp() - age_s, 3)
            r = {"sensor_id": sensor_id, "network": row["network"], "kind": row["kind"],
                 "value": float(normal if value is None else value), "unit": unit,
                 "observed_at": datetime.fromtimestamp(ts, timezone.utc).isoformat(),
                 "lat": float(row["lat"]), "lon": float(row["lon"]), "ts": ts, "ms": int(round(ts * 1000)),
                 "bad": False}
            self.chunks.append((ts, [r]))   # expires in its turn, after the chunks before it
            self.sta.add([r])
            return {"sensor_id": sensor_id, "observed_at": iso_ms(ts), "obs_id": r.get("obs_id")}

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
            "unit": FIWARE_UNIT.get(r["unit"], r["unit"]), "dateObserved": iso_ms(r["ts"]),
            "location": {"type": "Point", "coordinates": [r["lon"], r["lat"]]}}


class _Handler(BaseHTTPRequestHandler):
    server: SensorSimServer
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes: without TCP_NODELAY a kept-alive connection waits
    # for the client's delayed ACK (~40 ms) on every request (one SensorThings GET per
    # Datastream a poll, in "datastreams" mode)
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
            if path == "/_control/late":
                value = float(p["value"]) if p.get("value") else None
                return self._json(200, self.server.late(p.get("sensor", ""), float(p.get("age_s", 60)), value))
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
        with self.server.lock:
            self.server.hits[path] += 1
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
    the `sensorthings` adapter (which discovers its Datastreams, Things and Locations from
    the view itself), gas through FIWARE, the other networks through the utility's JSON.
    """
    streams = sta_datastreams(f"{base_url}{STA_ROOT}")   # which networks the view serves
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


def sensorthings_feed_spec(base_url: str, networks: list[str], streams: list[dict] | None = None) -> dict:
    """All Datastreams' Observations in one paged collection ("observations" mode): a couple
    of GETs a poll instead of one per Datastream; late arrivals within the default overlap
    (`sensorthings.overlap_s`) are read by it, older ones by the count reconciliation over
    the last 20 minutes (the platform keeps 30). The Datastreams, sensors and positions are
    discovered from the view (`Datastreams?$expand=Thing($expand=Locations),…`); `streams`
    is unused (kept for callers that listed them)."""
    return dict(name=f"{'-'.join(networks)}-sensorthings", kind="sensors", format="sensorthings",
                interval_s=STA_POLL_S, timeout_s=20, url=f"{base_url}{STA_ROOT}",
                stale_after_s=60, dead_after_s=300,
                sensor={"clear_on_normal": True,
                        "sensorthings": {"timeout_s": 20, "mode": "observations", "network_property": "network",
                                         "kinds": {name: kind for kind, (name, _) in STA_PROPERTY.items()},
                                         "reconcile_window_s": min(1200.0, KEEP_S * 2 / 3)}})

"""SensorThings (issue 10, item 7): Datastreams discovered from the server, a rejected
Observation recorded once, late Observations found by `@iot.count`, coverage on /health.

`StaServer` is a small SensorThings v1.1 service written here, on 127.0.0.1: Things with
Locations, Datastreams with their ObservedProperty, Sensor and unit, Observations; its own
page sizes (2 Datastreams, 3 Observations a page, whatever `$top` asks more) with absolute
`@iot.nextLink`s, `$count`, `$filter` on phenomenonTime (`gt ge lt le`, joined by `and`),
`$orderby=phenomenonTime asc`, `$expand` of the Datastream (or Thing/Locations,
ObservedProperty, Sensor on Datastreams). Observations are numbered as they arrive, so one
posted late has a higher `@iot.id` than newer ones.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

from dashboard.config.settings import FeedSettings, load_settings, with_changes
from feeds.poller import Poller
from feeds.sensors.settings import Datastream, SensorFeedSettings, SensorThingsFormat
from tests.json_upstream import Clock

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
DS_PAGE, OBS_PAGE = 2, 3


def iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _time(text: str) -> datetime:
    text = text.strip().strip("'")
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


class StaServer:
    def __init__(self):
        # Things: name = the sensor id; gm-1 moved once (two Locations: the last is where it is now)
        self.things = {
            1: {"name": "gm-1", "properties": {"network": "gas", "grid_code": "150302001001"},
                "Locations": [[106.80, 39.60], [106.81, 39.61]]},
            2: {"name": "gm-2", "properties": {"network": "gas"}, "Locations": [[106.82, 39.62]]},
            3: {"name": "gm-3", "properties": {"network": "gas"}, "Locations": []},          # not placed
            4: {"name": "gm-4", "properties": {"network": "gas"}, "Locations": [[106.83, 39.63]]},
        }
        # Datastreams: (thing, ObservedProperty name, unit symbol)
        self.datastreams = {11: (1, "Combustible gas", "%LEL"), 12: (2, "Combustible gas", "%LEL"),
                            13: (3, "Combustible gas", "%LEL"), 14: (4, "Humidity", "%")}
        self.observations: list[dict] = []          # in arrival order: @iot.id = position + 1
        self.hits: list[str] = []
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                owner.hits.append(self.path)
                try:
                    body, code = owner.answer(self.path), 200
                except LookupError as exc:
                    body, code = {"code": 404, "message": str(exc)}, 404
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/v1.1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- data ----------------------------------------------------------------------------
    def post(self, ds: int, at: datetime, result) -> dict:
        obs = {"@iot.id": len(self.observations) + 1, "ds": ds, "at": at, "result": result}
        self.observations.append(obs)
        return obs

    # ---- entities ------------------------------------------------------------------------
    def thing(self, n: int, expand_locations: bool) -> dict:
        t = self.things[n]
        out = {"@iot.id": n, "@iot.selfLink": f"{self.base}/Things({n})", "name": t["name"],
               "description": "gas monitoring point", "properties": t["properties"]}
        if expand_locations:
            out["Locations"] = [{"@iot.id": n * 10 + k, "name": f"{t['name']} #{k}", "encodingType": "application/geo+json",
                                 "location": {"type": "Point", "coordinates": xy}}
                                for k, xy in enumerate(t["Locations"])]
        return out

    def datastream(self, n: int, expand: str) -> dict:
        thing, prop, unit = self.datastreams[n]
        out = {"@iot.id": n, "@iot.selfLink": f"{self.base}/Datastreams({n})", "name": f"ds {n}",
               "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": ""},
               "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"}
        if "Thing" in expand:
            out["Thing"] = self.thing(thing, "Locations" in expand)
        if "ObservedProperty" in expand:
            out["ObservedProperty"] = {"@iot.id": 1, "name": prop, "definition": "", "description": ""}
        if "Sensor" in expand:
            out["Sensor"] = {"@iot.id": 1, "name": "catalytic bead", "encodingType": "text/plain", "metadata": ""}
        return out

    def observation(self, o: dict, expand: str) -> dict:
        out = {"@iot.id": o["@iot.id"], "@iot.selfLink": f"{self.base}/Observations({o['@iot.id']})",
               "phenomenonTime": iso(o["at"]), "resultTime": iso(o["at"]), "result": o["result"]}
        if "Datastream" in expand:
            out["Datastream"] = {"@iot.id": o["ds"]}
        return out

    # ---- requests --------------------------------------------------------------------------
    def answer(self, path: str) -> dict:
        parts = urlsplit(path)
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        route = parts.path[len("/v1.1"):]
        if route == "/Datastreams":
            return self.page(sorted(self.datastreams), q, DS_PAGE, lambda n: self.datastream(n, q.get("$expand", "")),
                             parts.path)
        m = re.fullmatch(r"/Datastreams\((\d+)\)/Observations", route)
        if m:
            rows = [o for o in self.observations if o["ds"] == int(m[1])]
        elif route == "/Observations":
            rows = list(self.observations)
        else:
            raise LookupError(f"no such path {route}")
        for term in filter(None, re.split(r"\s+and\s+", q.get("$filter", "").strip())):
            name, op, literal = term.split(" ", 2)
            assert name == "phenomenonTime", term
            at = _time(literal)
            cmp = {"gt": lambda a: a > at, "ge": lambda a: a >= at, "lt": lambda a: a < at, "le": lambda a: a <= at}[op]
            rows = [o for o in rows if cmp(o["at"])]
        rows.sort(key=lambda o: (o["at"], o["@iot.id"]))
        return self.page(rows, q, OBS_PAGE, lambda o: self.observation(o, q.get("$expand", "")), parts.path)

    def page(self, rows: list, q: dict, size: int, build, path: str) -> dict:
        skip, top = int(q.get("$skip", 0)), min(int(q.get("$top", size)), size)
        out = {}
        if q.get("$count") == "true":
            out["@iot.count"] = len(rows)
        chunk = rows[skip:skip + top]
        if top and skip + top < len(rows):
            nxt = dict(q, **{"$skip": str(skip + top)})
            out["@iot.nextLink"] = f"http://127.0.0.1:{self.httpd.server_port}{path}?" + \
                urlencode(nxt, quote_via=quote, safe="$,():='")
        out["value"] = [build(r) for r in chunk]
        return out


@pytest.fixture
def sta():
    s = StaServer()
    yield s
    s.close()


GAS = {"Combustible gas": "gas_concentration"}


def feed(server: StaServer, listed: bool = False, **options) -> FeedSettings:
    """The feed; `listed`: its Datastreams written in the settings by hand (no discovery)."""
    network = options.pop("network", "")
    if listed:
        options.pop("kinds", None)
        options.pop("reconcile_window_s", None)
        options["datastreams"] = [Datastream(id=str(n), sensor_id=server.things[t]["name"], network="gas",
                                             kind="gas_concentration", unit=unit)
                                  for n, (t, prop, unit) in server.datastreams.items() if prop in GAS]
    sta = SensorThingsFormat(**{"first_lookback_s": 3600, **options})
    return FeedSettings(name="gas-sta", kind="sensors", format="sensorthings", url=server.base, interval_s=10,
                        timeout_s=5, sensor=SensorFeedSettings(network=network, sensorthings=sta))


def poller(store, f: FeedSettings, clock: Clock) -> Poller:
    return Poller(with_changes(load_settings(None, env={}), feeds=[f]), store, [f], clock=clock)


def run(p: Poller, f: FeedSettings) -> dict:
    h = p.run_feed(f, force=True)
    assert h and h["ok"], h and h.get("last_error")
    return h


# ---- (a) discovery ---------------------------------------------------------------------------------
@pytest.mark.parametrize("how", [{"network": "gas"}, {"network_property": "network"}])
def test_datastreams_things_and_locations_are_discovered(sta, embedded_store, how):
    clock = Clock(T0)
    for ds in (11, 12, 13):
        sta.post(ds, T0 - timedelta(minutes=2), 1.0)
    f = feed(sta, kinds={"Combustible gas": "gas_concentration"}, **how)
    p = poller(embedded_store, f, clock)
    h = run(p, f)
    assert any(path.startswith("/v1.1/Datastreams?$expand=Thing($expand=Locations),ObservedProperty,Sensor")
               for path in sta.hits)
    assert sum(1 for path in sta.hits if path.startswith("/v1.1/Datastreams?")) == 2   # two pages (nextLink)
    sensors = {r["sensor_id"]: r for r in embedded_store.dataset("sensors").all()[1]}
    assert set(sensors) == {"gm-1", "gm-2"}
    assert (sensors["gm-1"]["lon"], sensors["gm-1"]["lat"]) == (106.81, 39.61)   # the latest Location
    assert sensors["gm-1"]["grid_code"] == "150302001001" and sensors["gm-1"]["network"] == "gas"
    assert sensors["gm-2"]["kind"] == "gas_concentration"
    reasons = [r["reason"] for r in embedded_store.rejects(f.name)]
    assert any("gm-3" in r and "cannot be placed" in r for r in reasons)          # no Location
    assert any("'Humidity' maps to no kind" in r for r in reasons)               # unknown quantity
    # readings of every discovered Datastream, gm-3's too (it is read, only not placed)
    readings = {r["sensor_id"]: r for r in embedded_store.dataset("readings").all()[1]}
    assert set(readings) == {"gm-1", "gm-2", "gm-3"}
    assert readings["gm-1"]["unit"] == "%LEL" and readings["gm-1"]["lon"] == 106.81
    assert h["rejected"] == 2
    # discovered again (every discover_every_s): the same unreadable Datastreams are not recorded twice
    clock.t = T0 + timedelta(seconds=f.sensor.sensorthings.discover_every_s + 1)
    run(p, f)
    assert sum(1 for path in sta.hits if path.startswith("/v1.1/Datastreams?")) == 4
    assert len(embedded_store.rejects(f.name)) == 2
    assert embedded_store.feed_health(f.name)["rejected_total"] == 2


def test_a_thing_without_the_network_property_is_a_reject(sta, embedded_store):
    sta.things[2]["properties"] = {}
    f = feed(sta, network_property="network", kinds={"Combustible gas": "gas_concentration"})
    run(poller(embedded_store, f, Clock(T0)), f)
    reasons = [r["reason"] for r in embedded_store.rejects(f.name)]
    assert any("no property 'network'" in r for r in reasons)
    assert {r["sensor_id"] for r in embedded_store.dataset("sensors").all()[1]} == {"gm-1"}


# ---- (b) a rejected Observation, once -----------------------------------------------------------------
@pytest.mark.parametrize("listed", [False, True])
@pytest.mark.parametrize("mode", ["datastreams", "observations"])
def test_a_rejected_observation_is_recorded_once_and_the_cursor_moves_on(sta, embedded_store, mode, listed):
    clock = Clock(T0)
    sta.post(11, T0 - timedelta(minutes=3), 2.0)
    sta.post(11, T0 - timedelta(minutes=2), "ERR")
    f = feed(sta, listed, network="gas", kinds=GAS, mode=mode)
    p = poller(embedded_store, f, clock)
    h1 = run(p, f)
    for k in range(1, 4):
        clock.t = T0 + timedelta(seconds=10 * k)
        run(p, f)
    h = embedded_store.feed_health(f.name)
    errs = [r for r in embedded_store.rejects(f.name) if "ERR" in r["excerpt"]]
    assert len(errs) == 1 and "not a number" in errs[0]["reason"]
    # ERR once (and, when discovered, gm-3 that cannot be placed and the Humidity Datastream)
    assert h["rejected_total"] == h1["rejected"] == (1 if listed else 3)
    if mode == "datastreams":
        cursor = embedded_store.feed_state(f.name)["cursors"]["11"]
        assert _time(cursor) == T0 - timedelta(minutes=2)         # past the rejected one


# ---- (c) late Observations, by @iot.count ----------------------------------------------------------------
@pytest.mark.parametrize("listed", [False, True])
@pytest.mark.parametrize("mode", ["datastreams", "observations"])
def test_a_late_observation_arrives_within_a_few_polls_and_raises_its_alarm(sta, embedded_store, mode, listed):
    clock = Clock(T0)
    for k in range(10, 0, -1):                                  # ten minutes of normal readings
        for ds in (11, 12):
            sta.post(ds, T0 - timedelta(minutes=k), 1.0)
    f = feed(sta, listed, network="gas", kinds=GAS, mode=mode, reconcile_window_s=3600, overlap_s=60)
    p = poller(embedded_store, f, clock)
    run(p, f)
    clock.t = T0 + timedelta(seconds=10)
    run(p, f)
    assert not [a for a in embedded_store.dataset("alarms").all()[1] if a["sensor_id"] == "gm-2"]
    # a data logger catches up: a reading of 8 minutes ago, well over the gas threshold
    late_at = T0 - timedelta(minutes=8, seconds=30)
    sta.post(12, late_at, 30.0)
    found = None
    for k in range(2, 6):                                       # within a few polls
        clock.t = T0 + timedelta(seconds=10 * k)
        run(p, f)
        (rec,) = embedded_store.dataset("readings").get(["gm-2/gas_concentration"])
        if any(_time(t) == late_at for t, _ in rec["recent"]):
            found = k
            break
    assert found == 2, f"the late Observation arrived at poll {found}, not at the first poll after it reached the server"
    times = [_time(t) for t, _ in rec["recent"]]
    assert times == sorted(times) and len(times) == len(set(times)) == 11   # in its place, nothing twice
    assert _time(rec["observed_at"]) == T0 - timedelta(minutes=1)          # the newest stays current
    (alarm,) = [a for a in embedded_store.dataset("alarms").all()[1] if a["sensor_id"] == "gm-2"]
    assert alarm["status"] == "active" and _time(alarm["raised_at"]) == late_at and alarm["value"] == 30.0
    cov = embedded_store.feed_health(f.name)["coverage"]
    assert cov["complete"] is True and cov["missing"] == 0 and cov["upstream_count"] >= cov["held"] - 0
    # and it is not read again
    clock.t += timedelta(seconds=10)
    run(p, f)
    (rec2,) = embedded_store.dataset("readings").get(["gm-2/gas_concentration"])
    assert rec2["recent"] == rec["recent"]


def test_coverage_says_incomplete_while_the_server_has_more(sta, embedded_store):
    """With one Datastream counted a poll, the window is not proven complete until every
    Datastream was counted once."""
    clock = Clock(T0)
    for k in range(10, 0, -1):
        for ds in (11, 12):
            sta.post(ds, T0 - timedelta(minutes=k), 1.0)
    f = feed(sta, network="gas", kinds={"Combustible gas": "gas_concentration"}, mode="datastreams",
             reconcile_window_s=3600, reconcile_per_poll=1)
    p = poller(embedded_store, f, clock)
    run(p, f)
    cov = embedded_store.feed_health(f.name)["coverage"]
    assert cov["datastreams_counted"] == "1/2" and cov["complete"] is False
    clock.t = T0 + timedelta(seconds=10)
    run(p, f)
    cov = embedded_store.feed_health(f.name)["coverage"]
    assert cov["datastreams_counted"] == "2/2" and cov["complete"] is True
    assert cov["upstream_count"] == cov["held"] == 18     # 2 x 9: the newest bucket (minute) is still open

"""SensorThings v1.1 Observations: parsing, and paging over real HTTP with @iot.nextLink."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from feeds.sensors import sensorthings
from feeds.sensors.settings import Datastream, SensorFeedSettings, SensorThingsFormat
from metrics.alarms import AlarmRules

PAYLOADS = Path(__file__).parents[2] / "shared" / "data" / "payloads" / "sensorthings"
RULES = AlarmRules()
STREAM = Datastream(id="1", sensor_id="H-0001", network="heating", kind="temperature", unit="°C")


def settings(**over):
    return SensorFeedSettings(sensorthings=SensorThingsFormat(datastreams=[STREAM], **over))


def payload(name):
    path = PAYLOADS / name
    if not path.exists():
        pytest.skip(f"shared payload {path} is absent")
    return path.read_bytes()


def test_shared_observation_example():
    records, rejects = sensorthings.parse_file(payload("bblocks-sta__Observation__Observation.json"), settings(), RULES)
    assert rejects == []
    assert records == [{"sensor_id": "H-0001", "network": "heating", "kind": "temperature", "value": 70.4,
                        "unit": "°C", "observed_at": "2014-12-31T03:59:59+00:00", "lat": None, "lon": None}]


def test_shared_observation_without_datastream_settings_is_rejected():
    records, rejects = sensorthings.parse_file(payload("bblocks-sta__Observation__Observation.json"),
                                               SensorFeedSettings(), RULES)
    assert records == [] and "Datastream is unknown" in rejects[0]["reason"]


@pytest.mark.parametrize("name, entity", [("bblocks-sta__Thing__Thing.json", "Things"),
                                          ("bblocks-sta__Sensor__Sensor.json", "Sensors"),
                                          ("bblocks-sta__FeatureOfInterest__FeatureOfInterest.json", "FeaturesOfInterest")])
def test_other_entities_are_rejected_not_guessed(name, entity):
    records, rejects = sensorthings.parse_file(payload(name), settings(), RULES)
    assert records == [] and rejects[0]["reason"] == f"not an Observation ({entity})"


def test_expanded_datastream_gives_the_unit():
    obs = {"@iot.id": 9, "result": 400, "phenomenonTime": "2026-11-20T00:00:00Z/2026-11-20T00:01:00Z",
           "Datastream": {"@iot.id": 2, "unitOfMeasurement": {"name": "kilopascal", "symbol": "kPa"}}}
    s = SensorFeedSettings(sensorthings=SensorThingsFormat(datastreams=[
        STREAM, Datastream(id="2", sensor_id="W-9", network="water", kind="pressure")]))
    page = sensorthings.parse_observations(obs, None, s, RULES)
    assert page.records[0]["unit"] == "kPa" and page.records[0]["observed_at"] == "2026-11-20T00:00:00+00:00"


class _Server:
    """A SensorThings server on 127.0.0.1 serving 5 observations, 2 a page (one bad)."""

    def __init__(self):
        results = [80.0, 81.5, "n/a", 30.0, 82.0]
        pages = {}
        for p in range(3):
            chunk = results[p * 2:p * 2 + 2]
            page = {"value": [{"@iot.id": p * 2 + i, "result": r,
                               "phenomenonTime": f"2026-11-20T00:0{p * 2 + i}:00Z"} for i, r in enumerate(chunk)]}
            if p < 2:
                page["@iot.nextLink"] = f"{{base}}/Datastreams(1)/Observations?$skip={(p + 1) * 2}"
            pages[p * 2] = page
        self.pages, self.hits = pages, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.hits.append(self.path)
                skip = int(self.path.split("$skip=")[1]) if "$skip=" in self.path else 0
                body = json.dumps(owner.pages[skip]).replace("{base}", owner.base).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_port}/v1.1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_fetch_follows_next_link(server):
    page = sensorthings.fetch_observations(STREAM, settings(base_url=server.base), RULES)
    assert len(server.hits) == 3 and page.next_link is None
    assert [r["value"] for r in page.records] == [80.0, 81.5, 30.0, 82.0]
    assert page.rejects[0]["index"] == 2 and "not a number" in page.rejects[0]["reason"]


def test_fetch_stops_at_page_cap(server):
    page = sensorthings.fetch_observations(STREAM, settings(base_url=server.base, page_cap=2), RULES)
    assert len(server.hits) == 2 and len(page.records) + len(page.rejects) == 4
    assert page.next_link.endswith("$skip=4")  # where the next poll continues


# ---- "observations" mode: one collection, re-read over an overlap --------------------------------
def test_collection_url_expands_only_the_datastream_id():
    url = sensorthings.collection_url("http://x/v1.1/", "2026-11-20T07:58:00.000000Z")
    assert url == ("http://x/v1.1/Observations?$expand=Datastream($select=id)&$orderby=phenomenonTime%20asc"
                   "&$top=1000&$filter=phenomenonTime%20gt%202026-11-20T07:58:00.000000Z")
    assert "$filter" not in sensorthings.collection_url("http://x/v1.1")   # the first poll reads what there is
    assert sensorthings.window_start("2026-11-20T08:00:00.250000Z", 120) == "2026-11-20T07:58:00.250000Z"


def test_taken_drops_observations_read_already_and_forgets_outside_the_window():
    s = SensorFeedSettings(sensorthings=SensorThingsFormat(datastreams=[
        STREAM, Datastream(id="2", sensor_id="H-0002", network="heating", kind="temperature", unit="°C")]))

    def obs(ds, at, result=80.0):
        return {"@iot.id": f"{ds}@{at}", "result": result, "phenomenonTime": at,
                "Datastream": {"@iot.id": ds}}

    doc = {"value": [obs(1, "2026-11-20T08:00:00Z"), obs(2, "2026-11-20T08:00:00Z"),
                     obs(1, "2026-11-20T08:00:10Z", result=None)]}   # a meter fault: rejected once
    taken = sensorthings.Taken()
    first = sensorthings.parse_observations(doc, None, s, RULES, taken=taken)
    assert (len(first.records), len(first.rejects)) == (2, 1)
    again = sensorthings.parse_observations(doc, None, s, RULES, taken=taken)
    assert again.records == [] and again.rejects == []
    # the same instant written with another offset is the same Observation
    same = sensorthings.parse_observations(obs(2, "2026-11-20T16:00:00+08:00"), None, s, RULES, taken=taken)
    assert same.records == []
    assert taken.newest == "2026-11-20T08:00:10.000000Z"
    # kept in the feed state; what a filter `phenomenonTime gt floor` cannot return is forgotten
    kept = sensorthings.Taken(taken.to_state())
    assert len(kept) == 3
    kept.forget_until("2026-11-20T08:00:00.000000Z")
    assert kept.to_state() == {"at": {"2026-11-20T08:00:10.000000Z": ["1"]}}
    # `upto`: everything of a Datastream up to a time (a feed that read per Datastream before)
    switched = sensorthings.Taken({"upto": {"1": "2026-11-20T08:00:05.000000Z"}})
    page = sensorthings.parse_observations(doc, None, s, RULES, taken=switched)
    assert [r["sensor_id"] for r in page.records] == ["H-0002"] and len(page.rejects) == 1

"""The demo sensor platform's SensorThings API v1.1 view (feeds/demo/sensors/sensorthings.py, mounted by
feeds/demo/sensors/http.py), read over real HTTP on 127.0.0.1 by the real adapter and poller into a
real (embedded) Redis.

The clock is moved by hand: every request to the platform steps the simulation to it.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from dashboard.queries import alarm_views
from dashboard.queries.access import Viewer
from dashboard.config.schema import build
from dashboard.store.redis_server import connect
from dashboard.app.runtime import Runtime, sensor_demo_feeds
from dashboard.config.settings import FeedSettings, load_settings, with_changes
from dashboard.store import Store
from feeds.sensors import records as sr
from feeds.sensors import sensorthings
from feeds.poller import Poller
from feeds.sensors.settings import SensorFeedSettings
from feeds.demo.sensors.simulator import PROFILES, SimSensorsConfig
from feeds.demo.sensors.http import start_sensor_simulator, utility_feed_spec
from feeds.demo.sensors.sensorthings import datastream_setting
from metrics.alarm_rules import AlarmRules

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
QUIET = dict(incidents_per_sensor_day=0, bursts_per_day=0, offline_per_sensor_day=0)
STA_FEED = "heating-sensorthings"


class Clock:
    """A hand-moved clock; `tick` is added at every reading (time passing while a poll runs)."""

    def __init__(self, t: datetime):
        self.t, self.tick = t, timedelta(0)

    def __call__(self) -> datetime:
        self.t += self.tick
        return self.t

    def now(self) -> datetime:
        return self.t


@pytest.fixture
def platform():
    """start(n_sensors, **server options) → (server, base_url, clock); stopped after the test."""
    servers = []

    def start(n_sensors: int = 300, seed: int = 3, **options):
        clock = Clock(T0)
        cfg = SimSensorsConfig(seed=seed, n_sensors=n_sensors, **QUIET)
        server, url = start_sensor_simulator(seed=seed, clock=clock, config=cfg, **options)
        servers.append(server)
        return server, url, clock

    yield start
    for server in servers:
        server.stop()


def run_minutes(url: str, clock: Clock, minutes: int) -> None:
    """Let the simulation run: one request a minute steps it (each sensor reports once a minute)."""
    for _ in range(minutes):
        clock.t += timedelta(minutes=1)
        requests.get(f"{url}/_health", timeout=10).raise_for_status()


def get(url: str) -> dict:
    resp = requests.get(url, timeout=20)
    assert resp.status_code == 200, resp.text
    return resp.json()


def walk(url: str, first: dict | None = None) -> list[dict]:
    """Every page of a collection, following `@iot.nextLink`."""
    pages = [first or get(url)]
    while pages[-1].get("@iot.nextLink"):
        pages.append(get(pages[-1]["@iot.nextLink"]))
        assert len(pages) < 500, "the next links do not end"
    return pages


def ids_of(pages: list[dict]) -> list[int]:
    return [o["@iot.id"] for p in pages for o in p["value"]]


def ms(iso: str) -> int:
    return round(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def heating(server):
    return server.sensors[server.sensors["network"] == "heating"]


def served_times(server) -> dict[str, list[int]]:
    """The times (ms) of every Observation the SensorThings view holds, by sensor (meter faults
    have no result: the adapter rejects them, as it rejects the utility view's "ERR")."""
    out: dict[str, list[int]] = {}
    for r in server.sta.observations:
        if not r["bad"]:
            out.setdefault(r["sensor_id"], []).append(r["ms"])
    return out


def poller_for(feeds, store, clock: Clock) -> Poller:
    settings = with_changes(load_settings(None, env={}), feeds=feeds)
    return Poller(settings, store, feeds, clock=clock.now)


def poll(poller: Poller, feeds) -> list[dict]:
    out = [poller.run_feed(f, force=True) for f in feeds]
    assert all(h and h["ok"] for h in out), [h and h.get("last_error") for h in out]
    return out


def sta_feed(url: str, **sensorthings_options) -> FeedSettings:
    (feed,) = [f for f in sensor_demo_feeds(url) if f.format == "sensorthings"]
    sta = dataclasses.replace(feed.sensor.sensorthings, **sensorthings_options)
    return dataclasses.replace(feed, sensor=dataclasses.replace(feed.sensor, sensorthings=sta))


# ---- the entities -------------------------------------------------------------------------------
def test_sta001_datastreams_describe_each_heating_sensor_once(platform):
    server, url, _ = platform()
    heat = heating(server).set_index("sensor_id")
    pages = walk(f"{url}/v1.1/Datastreams?$expand=Thing,ObservedProperty&$top=25&$count=true")
    assert len(pages) >= 3 and {p["@iot.count"] for p in pages} == {len(heat)}
    streams = [ds for p in pages for ds in p["value"]]
    settings = [datastream_setting(ds) for ds in streams]
    assert sorted(s["sensor_id"] for s in settings) == sorted(heat.index)
    rules, feed = AlarmRules(), SensorFeedSettings()
    for s, ds in zip(settings, streams):
        row = heat.loc[s["sensor_id"]]
        assert s["network"] == "heating" and sr.kind_of(s["kind"], feed, rules) == row.kind
        assert s["unit"] == PROFILES[("heating", row.kind)][2] and s["unit"] in rules.units
        assert ds["@iot.selfLink"] == f"{url}/v1.1/Datastreams({ds['@iot.id']})"
    # a Thing's Location is the sensor's position (WGS-84); the Observations hang off the Datastream
    ds = streams[7]
    thing = get(f"{ds['Thing']['@iot.selfLink']}?$expand=Locations")
    row = heat.loc[thing["properties"]["sensor_id"]]
    assert thing["Locations"][0]["location"]["coordinates"] == [row.lon, row.lat]
    assert get(ds["Observations@iot.navigationLink"])["value"], "every sensor reported in the first minute"
    # what the demo server does not implement is refused, not ignored
    for query, code in (("$select=result", 501), ("$filter=result gt 1 or id lt 3", 501),
                        ("$filter=phenomenonTime gt 2026-11-20T08:00:00", 400), ("$top=-1", 400)):
        resp = requests.get(f"{url}/v1.1/Observations?{query}", timeout=10)
        assert resp.status_code == code and resp.json()["message"], (query, resp.text)
    assert requests.get(f"{url}/v1.1/Datastreams(1)", timeout=10).status_code == 404   # a gas sensor


def test_sta002_the_demo_feeds_split_the_networks(platform, embedded_store):
    """The demo's SensorThings feed lists no Datastreams and reads no registry: its sensors
    and their positions come from the view's Datastreams, Things and Locations."""
    server, url, clock = platform()
    feeds = {f.name: f for f in sensor_demo_feeds(url)}
    assert set(feeds) == {"utility-water", "gas-fiware", STA_FEED, "responders"}
    assert feeds["utility-water"].url.endswith("network=water")
    assert feeds["gas-fiware"].sensor.network == "gas"
    sta = feeds[STA_FEED]
    assert sta.sensor.sensorthings.datastreams == [] and sta.sensor.registry_url == ""
    poll(poller_for([sta], embedded_store, clock), [sta])
    heat = heating(server).set_index("sensor_id")
    streams = embedded_store.feed_state(STA_FEED)["discovery"]["streams"]
    assert sorted(row[1] for row in streams) == sorted(heat.index)
    sensors = {r["sensor_id"]: r for r in embedded_store.dataset("sensors").all()[1]}
    assert set(sensors) == set(heat.index)
    for sid, row in heat.iterrows():
        assert (sensors[sid]["lon"], sensors[sid]["lat"]) == (round(float(row["lon"]), 7), round(float(row["lat"]), 7))
        assert sensors[sid]["network"] == "heating" and sensors[sid]["kind"] == row["kind"]


# ---- paging ---------------------------------------------------------------------------------------
def test_sta003_next_links_give_every_observation_exactly_once(platform):
    server, url, clock = platform()
    run_minutes(url, clock, 12)
    served = get(f"{url}/utility/readings.json?network=heating&since=2000-01-01T00:00:00Z")["data"]["list"]
    pages = walk(f"{url}/v1.1/Observations?$orderby=phenomenonTime%20asc&$expand=Datastream&$top=100")
    assert len(pages) >= 5 and all(len(p["value"]) == 100 for p in pages[:-1])
    obs = [o for p in pages for o in p["value"]]
    assert len({o["@iot.id"] for o in obs}) == len(obs)
    assert [ms(o["phenomenonTime"]) for o in obs] == sorted(ms(o["phenomenonTime"]) for o in obs)
    keys = sorted((o["Datastream"]["properties"]["sensor_id"], ms(o["phenomenonTime"])) for o in obs)
    assert keys == sorted((r["devNo"], r["ts"]) for r in served)
    assert len(keys) >= 12 * len(heating(server))
    # one Datastream's Observations, paged by the server's default page size
    ds = obs[0]["Datastream"]["@iot.id"]
    mine = walk(f"{url}/v1.1/Datastreams({ds})/Observations?$top=5")
    assert len(mine) >= 3 and ids_of(mine) == sorted(o["@iot.id"] for o in obs if o["Datastream"]["@iot.id"] == ds)


def test_sta004_pages_neither_repeat_nor_skip_while_observations_arrive_and_expire(platform):
    server, url, clock = platform(keep_s=600)
    run_minutes(url, clock, 5)
    before = set(ids_of(walk(f"{url}/v1.1/Observations?$top=1000")))
    # newest first: observations arriving between two pages do not push older ones onto the next page
    first = get(f"{url}/v1.1/Observations?$orderby=phenomenonTime%20desc&$top=100")
    run_minutes(url, clock, 1)
    seen = ids_of(walk("", first))
    assert len(seen) == len(set(seen)) and set(seen) == before
    # oldest first: observations expiring between two pages do not make the next page skip any
    first = get(f"{url}/v1.1/Observations?$orderby=phenomenonTime%20asc&$top=50")
    run_minutes(url, clock, 8)
    rest = ids_of(walk("", first))[50:]
    now = ids_of(walk(f"{url}/v1.1/Observations?$top=1000"))
    assert min(now) > first["value"][-1]["@iot.id"] + 50, "the oldest expired meanwhile"
    assert rest == [i for i in now if i > first["value"][-1]["@iot.id"]]


def test_sta005_the_adapter_follows_next_links_and_continues_the_next_poll(platform, embedded_store):
    server, url, clock = platform(sta_top_max=4)
    run_minutes(url, clock, 10)
    feed = sta_feed(url, page_cap=2, mode="datastreams")   # per-Datastream next links
    poller = poller_for([feed], embedded_store, clock)
    first = poll(poller, [feed])[0]
    heat = heating(server)
    assert len(embedded_store.feed_state(feed.name)["next_links"]) == len(heat)   # 2 pages of 4, more to come
    second = poll(poller, [feed])[0]
    assert embedded_store.feed_state(feed.name)["next_links"] == {}
    served = served_times(server)
    observations = first["received"] - len(heat)   # the first poll also read the sensor registry
    assert observations == 8 * len(heat) and observations + second["received"] == len(server.sta.observations)
    stored = {r["sensor_id"]: [ms(t) for t, _ in r["recent"]] for r in embedded_store.dataset("readings").all()[1]}
    assert stored == served   # every Observation once, in order


# ---- the same story in both views -------------------------------------------------------------
def test_sta006_both_views_agree_for_the_same_sensor_and_time(platform, embedded_store, embedded_redis):
    server, url, clock = platform()
    run_minutes(url, clock, 5)
    served = get(f"{url}/utility/readings.json?network=heating&since=2000-01-01T00:00:00Z")["data"]["list"]
    as_json = {(r["devNo"], r["ts"]): (None if r["val"] == "ERR" else r["val"], r["unit"]) for r in served}
    obs = [o for p in walk(f"{url}/v1.1/Observations?$expand=Datastream&$top=1000") for o in p["value"]]
    as_sta = {(o["Datastream"]["properties"]["sensor_id"], ms(o["phenomenonTime"])):
              (o["result"], o["Datastream"]["unitOfMeasurement"]["symbol"]) for o in obs}
    assert as_sta == as_json and len(as_sta) >= 5 * len(heating(server))
    # read minute by minute through the real adapters into two stores: the same readings
    other = Store(connect(embedded_redis.url), "t" + uuid.uuid4().hex[:8])
    try:
        by_json = build(FeedSettings, utility_feed_spec(url, ["heating"]), "feeds.heating-json")
        by_sta = sta_feed(url)
        json_poller, sta_poller = poller_for([by_json], other, clock), poller_for([by_sta], embedded_store, clock)
        for _ in range(4):
            clock.t += timedelta(minutes=1)
            poll(json_poller, [by_json])
            poll(sta_poller, [by_sta])
        a = {r["key"]: r for r in embedded_store.dataset("readings").all()[1]}
        b = {r["key"]: r for r in other.dataset("readings").all()[1]}
        assert set(a) == set(b) and len(a) == len(heating(server))
        for key, r in a.items():
            # the SensorThings adapter's first poll reads the whole backlog, the utility view
            # without a cursor only the last minute: from there on, reading for reading the same
            recent = b[key]["recent"]
            assert len(recent) >= 4 and r["recent"][-len(recent):] == recent
            assert (r["kind"], r["unit"], r["observed_at"], r["value"]) == \
                (b[key]["kind"], b[key]["unit"], b[key]["observed_at"], b[key]["value"])
            assert (r["lon"], r["lat"]) == pytest.approx((b[key]["lon"], b[key]["lat"]), abs=1e-5)
    finally:
        for key in other.r.scan_iter(f"{other.ns}:*"):
            other.r.delete(key)
        other.r.close()


# ---- alarms through SensorThings ------------------------------------------------------------------
def test_sta007_a_heating_burst_raises_alarms_through_sensorthings(platform, embedded_store):
    server, url, clock = platform(n_sensors=600)
    feeds = sensor_demo_feeds(url)
    poller = poller_for(feeds, embedded_store, clock)
    poll(poller, feeds)
    assert not [a for a in embedded_store.dataset("alarms").all()[1] if a["status"] != "resolved"]
    heat = heating(server)
    main = heat[heat["main_id"] == heat["main_id"].iloc[0]].sort_values("seq")
    hit = requests.post(f"{url}/_control/burst", params={"sensor": main["sensor_id"].iloc[len(main) // 2]},
                        timeout=10).json()["sensors"]
    assert len(hit) >= 2
    far = heat[(heat["kind"] == "temperature") & ~heat["sensor_id"].isin(hit)]["sensor_id"].iloc[-1]
    assert requests.post(f"{url}/_control/incident", params={"sensor": far, "level": 2, "minutes": 10},
                         timeout=10).json()["started"]
    clock.t += timedelta(seconds=61)
    poll(poller, feeds)
    active = [a for a in embedded_store.dataset("alarms").all()[1] if a["status"] != "resolved"]
    assert sorted(a["sensor_id"] for a in active) == sorted(hit + [far])
    started = {e["sensor_id"]: e["level"] for e in server.sim.events}
    assert all(a["network"] == "heating" and a["level"] <= started[a["sensor_id"]] for a in active)
    readings = {r["sensor_id"]: r for r in embedded_store.dataset("readings").get(
        [f"{a['sensor_id']}/{a['kind']}" for a in active])}
    assert {r["feed"] for r in readings.values()} == {STA_FEED}
    # and the alarm page's list (the map's markers) shows them
    rt = Runtime(poller.settings, embedded_store, None, "")
    rows = alarm_views.active_list(rt, Viewer(), clock.now(), networks=["heating"])
    assert sorted(r["sensor_id"] for r in rows) == sorted(hit + [far])


def test_sta008_the_demo_feeds_cover_all_3000_sensors_each_by_one_feed(platform, embedded_store):
    server, url, clock = platform(n_sensors=3000)
    feeds = sensor_demo_feeds(url)
    poll(poller_for(feeds, embedded_store, clock), feeds)
    network_feed = {"water": "utility-water", "gas": "gas-fiware", "heating": STA_FEED}
    sensors = embedded_store.dataset("sensors").all()[1]
    assert len(sensors) == len(server.sensors) == 3000
    assert all(s["feed"] == network_feed[s["network"]] for s in sensors)
    readings = embedded_store.dataset("readings").all()[1]
    assert len(readings) == 3000 and all(r["feed"] == network_feed[r["network"]] for r in readings)


@pytest.mark.parametrize("mode", ["datastreams", "observations"])
def test_sta009_observations_arriving_while_a_poll_runs_are_not_lost(platform, embedded_store, mode):
    server, url, clock = platform()
    feed = sta_feed(url, mode=mode)
    poller = poller_for([feed], embedded_store, clock)
    clock.tick = timedelta(milliseconds=200)   # real time runs while the poll reads (60 Datastreams)
    for _ in range(8):
        poll(poller, [feed])
        clock.t += timedelta(seconds=5)
    clock.tick = timedelta(0)
    poll(poller, [feed])                        # a last poll with time standing still catches up
    served = served_times(server)
    stored = {r["sensor_id"]: [ms(t) for t, _ in r["recent"]] for r in embedded_store.dataset("readings").all()[1]}
    assert stored == served


def test_sta010_a_text_datastream_id_is_an_odata_string_literal():
    url = sensorthings.observations_url("http://x/v1.1", "O'Brien st. 7")
    assert url.startswith("http://x/v1.1/Datastreams('O''Brien st. 7')/Observations?")
    assert sensorthings.observations_url("http://x/v1.1/", "42").startswith("http://x/v1.1/Datastreams(42)/")


# ---- "observations" mode: every Datastream's Observations in one collection -------------------------
def sta_requests(server) -> int:
    """The GET requests the SensorThings view has answered so far (counted by the server)."""
    return sum(n for path, n in server.hits.items() if path.startswith("/v1.1"))


def stored_times(store) -> dict[str, list[int]]:
    return {r["sensor_id"]: [ms(t) for t, _ in r["recent"]] for r in store.dataset("readings").all()[1]}


def late(url: str, sensor_id: str, age_s: float) -> dict:
    """A reading taken `age_s` seconds ago reaches the platform now."""
    resp = requests.post(f"{url}/_control/late", params={"sensor": sensor_id, "age_s": age_s}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def collection_state(store, feed) -> dict:
    return store.feed_state(feed.name)["observations"]


def test_sta011_a_poll_is_a_couple_of_requests_whatever_the_number_of_datastreams(platform, embedded_store):
    server, url, clock = platform(n_sensors=3000)
    heat = heating(server)
    feed = sta_feed(url)
    assert feed.sensor.sensorthings.mode == "observations" and len(heat) == 600   # the demo's heating feed
    poller = poller_for([feed], embedded_store, clock)
    poll(poller, [feed])                        # the first poll also reads the backlog
    per_poll = []
    for _ in range(6):                          # the demo polls every 10 s
        clock.t += timedelta(seconds=10)
        before = sta_requests(server)
        poll(poller, [feed])
        per_poll.append(sta_requests(server) - before)
    # two pages of Observations and one @iot.count of the trailing window (the reconciliation)
    assert max(per_poll) <= 3, per_poll
    assert not [path for path in server.hits if path.startswith("/v1.1/Datastreams(")]
    # the same feed in "datastreams" mode, for comparison: one GET per Datastream
    by_ds = dataclasses.replace(sta_feed(url, mode="datastreams"), name="heating-by-datastream")
    before = sta_requests(server)
    poll(poller, [by_ds])
    # and the @iot.count of `reconcile_per_poll` Datastreams, rotating
    # (and its first poll discovers the Datastreams: one more GET)
    assert sta_requests(server) - before == len(heat) + by_ds.sensor.sensorthings.reconcile_per_poll + 1


@pytest.mark.parametrize("reconcile", [False, True])
def test_sta012_a_late_observation_within_the_overlap_is_read_an_older_one_by_the_count(platform, embedded_store,
                                                                                        reconcile):
    """An Observation that reaches the server with a phenomenonTime more than `overlap_s`
    before the newest one read is not in the overlap: without the count reconciliation it
    is missed (the old limit of "observations" mode); with it (the default) the trailing
    window's @iot.count differs, and the Datastream is re-read."""
    server, url, clock = platform()
    heat = heating(server)
    feed = sta_feed(url, overlap_s=120, **({} if reconcile else {"reconcile_window_s": 0}))
    poller = poller_for([feed], embedded_store, clock)
    poll(poller, [feed])
    clock.t += timedelta(seconds=30)
    poll(poller, [feed])
    cursor = ms(collection_state(embedded_store, feed)["cursor"])
    within, beyond = heat.iloc[3], heat.iloc[-1]      # the last Datastream: beyond one poll of one-by-one counts
    read = late(url, within.sensor_id, age_s=90)        # within the overlap
    missed = late(url, beyond.sensor_id, age_s=200)     # older than the overlap
    assert ms(read["observed_at"]) < cursor, "older than what the feed read: a plain cursor would skip it"
    assert ms(missed["observed_at"]) < cursor - 120_000
    clock.t += timedelta(seconds=10)
    poll(poller, [feed])
    stored = stored_times(embedded_store)
    assert ms(read["observed_at"]) in stored[within.sensor_id]
    assert stored[within.sensor_id] == sorted(stored[within.sensor_id])   # in its place among the others
    served = {sid: sorted(ts) for sid, ts in served_times(server).items()}
    if reconcile:
        assert ms(missed["observed_at"]) in stored[beyond.sensor_id]
        cov = embedded_store.feed_health(feed.name)["coverage"]
        assert cov["complete"] is True and cov["late_found"] == 1 and cov["missing"] == 0, cov
    else:
        assert ms(missed["observed_at"]) not in stored[beyond.sensor_id]
        served[beyond.sensor_id].remove(ms(missed["observed_at"]))
    assert stored == served                            # everything else once
    (current,) = embedded_store.dataset("readings").get([f"{within.sensor_id}/{within.kind}"])
    assert ms(current["observed_at"]) == max(stored[within.sensor_id])   # still the newest value


@pytest.mark.parametrize("top_max, page_cap", [(1000, 20), (40, 2)])
def test_sta013_overlapping_polls_take_every_observation_once(platform, embedded_store, top_max, page_cap):
    server, url, clock = platform(sta_top_max=top_max)
    heat = heating(server)
    feed = sta_feed(url, page_cap=page_cap, overlap_s=120)
    poller = poller_for([feed], embedded_store, clock)
    received = 0
    for _ in range(30):                         # 5 minutes of 10 s polls: each Observation is re-read ~12 times
        received += poll(poller, [feed])[0]["received"]
        clock.t += timedelta(seconds=10)
    for _ in range(20):                         # time stands still until a chain cut by page_cap is done
        received += poll(poller, [feed])[0]["received"]
        if not collection_state(embedded_store, feed).get("next_link"):
            break
    stored = stored_times(embedded_store)
    assert all(len(times) == len(set(times)) for times in stored.values())
    assert stored == served_times(server)
    # taken once: the polls received every Observation (meter faults too) once, and the registry
    assert received == len(server.sta.observations) + len(heat)
    # what the feed remembers is the overlap window only
    st = collection_state(embedded_store, feed)
    remembered = st["taken"]["at"]
    assert remembered and min(ms(t) for t in remembered) > ms(st["cursor"]) - 120_000
    assert sum(len(ids) for ids in remembered.values()) <= 3 * len(heat)


def test_sta014_a_feed_switching_to_observations_mode_neither_repeats_nor_skips(platform, embedded_store):
    server, url, clock = platform()
    by_ds, by_collection = sta_feed(url, mode="datastreams"), sta_feed(url)
    poller = poller_for([by_ds], embedded_store, clock)
    clock.tick = timedelta(milliseconds=50)     # Datastreams read early in a poll fall behind the others
    for feed in (by_ds, by_ds, by_collection, by_collection):
        poll(poller, [feed])
        clock.t += timedelta(seconds=20)
    clock.tick = timedelta(0)
    poll(poller, [by_collection])
    assert "cursors" not in embedded_store.feed_state(by_ds.name)
    assert stored_times(embedded_store) == served_times(server)


def test_sta015_the_collection_pages_by_time_and_expands_only_the_datastream_id(platform):
    server, url, clock = platform(keep_s=600)
    run_minutes(url, clock, 3)
    query = f"{url}/v1.1/Observations?$expand=Datastream($select=id)&$orderby=phenomenonTime%20asc&$top=50"
    first = get(query)
    assert all(set(o["Datastream"]) == {"@iot.id"} for o in first["value"])
    # between two pages: one reading arrives late but after the page's last, one before it
    sid = heating(server)["sensor_id"].iloc[5]
    page_end = ms(first["value"][-1]["phenomenonTime"])
    after = late(url, sid, age_s=10)
    before = late(url, sid, age_s=(ms(clock.now().isoformat()) - page_end) / 1000 + 5)
    assert ms(before["observed_at"]) < page_end < ms(after["observed_at"])
    obs = [o for p in walk("", first) for o in p["value"]]
    ids = [o["@iot.id"] for o in obs]
    assert len(ids) == len(set(ids)) and after["obs_id"] in ids and before["obs_id"] not in ids
    assert [ms(o["phenomenonTime"]) for o in obs] == sorted(ms(o["phenomenonTime"]) for o in obs)
    # a new request has both, each in its place by time although numbered last
    again = [o for p in walk(query) for o in p["value"]]
    assert {after["obs_id"], before["obs_id"]} <= {o["@iot.id"] for o in again}
    assert [ms(o["phenomenonTime"]) for o in again] == sorted(ms(o["phenomenonTime"]) for o in again)
    # what the demo server does not implement is refused, not ignored
    for bad, code in (("$expand=Datastream($top=1)", 501), ("$expand=Datastream($select=id;$top=1)", 501),
                      ("$expand=Datastream($select=colour)", 400), ("$expand=Datastream($select=id", 400),
                      ("$orderby=phenomenonTime&$skiptoken=12", 400)):
        resp = requests.get(f"{url}/v1.1/Observations?{bad}", timeout=10)
        assert resp.status_code == code and resp.json()["message"], (bad, resp.text)


@pytest.mark.parametrize("mode", ["datastreams", "observations"])
def test_sta016_the_first_poll_reads_only_the_look_back(platform, embedded_store, mode):
    """A server holding a long history: the first poll starts `first_lookback_s` before now."""
    server, url, clock = platform(n_sensors=100)
    run_minutes(url, clock, 20)                 # twenty minutes of history on the server
    feed = sta_feed(url, mode=mode, first_lookback_s=300)
    poll(poller_for([feed], embedded_store, clock), [feed])
    cutoff = ms((clock.now() - timedelta(seconds=300)).isoformat())
    stored = {r["sensor_id"]: [ms(t) for t, _ in r["recent"]] for r in embedded_store.dataset("readings").all()[1]}
    served = served_times(server)
    assert stored and all(t > cutoff for ts in stored.values() for t in ts)
    # everything the server holds after the cutoff was read
    assert stored == {s: [t for t in ts if t > cutoff] for s, ts in served.items() if any(t > cutoff for t in ts)}
    assert any(t <= cutoff for ts in served.values() for t in ts)   # the server did hold older ones

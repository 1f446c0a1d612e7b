"""/api/v1 read endpoints through Flask's test client, on the demo city (real embedded Redis,
real simulated upstreams polled once) and on a canonical tickets file the console reads.

The KPI rows are checked against `cityops kpi --json` on the very file the console loaded,
and against the /tickets page's drill table; the tickets behind a count against that count.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from dashboard.queries import ticket_views as tv
from dashboard.queries.access import Viewer
from dashboard.app.commands.kpi import main as kpi_main
from dashboard.config.settings import AreaSettings, FeedSettings, RoleSettings, StoreSettings, \
    load_settings, with_changes
from tests.api_helpers import SAME_ORIGIN, api_app
from tests.test_kpi_cli import AREAS, COLUMNS, TICKETS

EVERYONE = Viewer()
BAD_WITH_PHONE = {"ticket_id": "K8", "status": "lost", "created_at": "2026-11-05T09:00:00+08:00",
                  "caller_name": "张三", "caller_phone": "13812345678"}


@pytest.fixture(scope="module")
def api(demo_runtime):
    """(client, bearer): the console on the demo city, a role "district" scoped to its first district."""
    first = districts(demo_runtime)[0]
    return api_app(demo_runtime, {"district": RoleSettings(areas=[first], act_on_alarms=True)})


@pytest.fixture(scope="module")
def client(api):
    return api[0]


@pytest.fixture(scope="module")
def tokens(api):
    bearer = api[1]
    return {role: bearer(role) for role in ("supervisor", "admin", "district", "operator")}


def get(client, url, status=200, headers=None):
    r = client.get(url, headers=headers or {})
    assert r.status_code == status, (url, r.status_code, r.get_data()[:300])
    assert r.mimetype == "application/json"
    return r.get_json()


def districts(rt) -> list[str]:
    tree = rt.queries.tree()
    return [c.code for c in tree.children(tree.root.code)]


# -- /kpi ---------------------------------------------------------------------------------------------
def test_api001_kpi_by_children_is_the_drill_table(client, demo_runtime):
    out = get(client, "/api/v1/kpi?by=children&start=2026-11-01T00:00:00%2B08:00")
    tree = demo_runtime.queries.tree()
    assert out["area"] == tree.root.code and out["by"] == "children"
    now, start, end = (datetime.fromisoformat(out[k]) for k in ("now", "start", "end"))
    assert out["start"] == "2026-11-01T00:00:00+08:00" and end == now      # end defaults to now
    assert [r["key"] for r in out["rows"]][:3] == districts(demo_runtime)
    assert set(out["rows"][0]) == set(tv.KPI_FIELDS)
    drill = tv.drill_table(demo_runtime.queries, EVERYONE, None, now, start, end)
    by_key = {r["code"]: r for r in drill["rows"]}
    for row in out["rows"]:
        page = by_key[row["key"]] if row["key"] else next(r for r in drill["rows"] if r["key"] == tv.UNPLACED)
        assert all(row[f] == page[f] for f in tv.KPI_FIELDS[2:]), row["key"]
    whole = get(client, f"/api/v1/kpi?start=2026-11-01T00:00:00%2B08:00&end={out['end'].replace('+', '%2B')}")
    assert [r["key"] for r in whole["rows"]] == ["all"]
    assert whole["rows"][0]["received"] == sum(r["received"] for r in out["rows"]) > 100


def test_api002_kpi_rows_equal_cityops_kpi_on_the_same_file(tmp_path, capsys):
    """The console reads a canonical CSV through its feed; `cityops kpi` reads the same file."""
    from dashboard.app.runtime import Runtime
    from feeds.poller import Poller

    tickets, areas = tmp_path / "tickets.csv", tmp_path / "areas.csv"
    with tickets.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for t in TICKETS + [BAD_WITH_PHONE]:
            w.writerow({c: t.get(c, "") for c in COLUMNS})
    areas.write_text(AREAS, encoding="utf-8")
    settings = with_changes(load_settings(None, env={}), store=StoreSettings(data_dir=str(tmp_path / "var"), namespace="apikpi"),
                            areas=AreaSettings(csv=str(areas)),
                            feeds=[FeedSettings(name="file-tickets", kind="tickets", format="canonical",
                                                path=str(tickets))])
    rt = Runtime.start(settings, poll=False)
    try:
        rt.poller = Poller(settings, rt.store, rt.feeds)
        for feed in rt.feeds:
            rt.poller.run_feed(feed, force=True)
        c, _ = api_app(rt)
        window = "start=2026-11-01T00:00:00%2B08:00&end=2026-11-16T00:00:00%2B08:00"
        for by in ("none", "department", "area:street"):
            api = get(c, f"/api/v1/kpi?by={by}&{window}")
            code = kpi_main(["--tickets", str(tickets), "--areas", str(areas), "--now", api["now"],
                             "--start", api["start"], "--end", api["end"], "--by", by, "--json"])
            assert code == 0
            cli = json.loads(capsys.readouterr().out)
            assert api["rows"] == cli["rows"], by           # every field, same nulls, same order
            assert api["rows"] and all(set(r) == set(tv.KPI_FIELDS) for r in api["rows"])
        # the file's rejects, with their reasons, the caller's phone masked
        rejects = get(c, "/api/v1/feeds/file-tickets/rejects")["rejects"]
        assert {(r["ticket_id"], r["reason"].split(":")[0]) for r in rejects} == {
            ("K6", "created_at"), ("K7", "status"), ("K8", "status")}
        k8 = next(r for r in rejects if r["ticket_id"] == "K8")
        assert "13812345678" not in k8["excerpt"] and "张三" not in k8["excerpt"]
        assert datetime.fromisoformat(k8["at"]).tzinfo is not None
        feed = next(f for f in get(c, "/api/v1/feeds")["feeds"] if f["name"] == "file-tickets")
        assert (feed["received_total"], feed["accepted_total"], feed["rejected_total"], feed["records_held"]) == \
            (8, 5, 3, 5)
        street = get(c, f"/api/v1/kpi?by=area:street&{window}")["rows"]
        assert [r["key"] for r in street] == ["S1", "S2", "S3", None]     # None: the unplaced ticket K5
        assert street[0]["received"] == 2 and street[-1]["name"] == "unplaced"
    finally:
        rt.close()


@pytest.mark.parametrize("query, param", [
    ("by=street", "by"),
    ("by=area:planet", "by"),
    ("area=999999", "area"),
    ("start=2026-11-20T10:00:00%2B08:00&end=2026-11-20T10:00:00%2B08:00", "end"),
    ("start=2026-11-20T10:00:00%2B08:00&end=2026-11-19T10:00:00%2B08:00", "end"),
    ("start=2026-11-20T10:00:00", "start"),
    ("start=yesterday", "start"),
    ("end=2026-02-30T00:00:00Z", "end"),
    ("end=2026-11-20", "end"),
    ("start=2099-01-01T00:00:00Z", "start"),
])
def test_api003_kpi_bad_input_is_a_400_naming_the_parameter(client, query, param):
    err = get(client, "/api/v1/kpi?" + query, 400)["error"]
    assert err["code"] == "bad_parameter" and err["message"].startswith(param + ": expected"), err


# -- /tickets -------------------------------------------------------------------------------------------
def test_api004_tickets_behind_a_count_paged_and_masked(client, demo_runtime, tokens):
    window = "start=2026-11-01T00:00:00%2B08:00"
    kpi = get(client, "/api/v1/kpi?" + window)
    end = kpi["end"].replace("+", "%2B")
    for pop in ("received", "closed", "open", "overdue"):
        out = get(client, f"/api/v1/tickets?population={pop}&{window}&end={end}&page_size=1000")
        assert out["total"] == kpi["rows"][0][pop], pop
        assert len(out["rows"]) == min(1000, out["total"])
    first = get(client, f"/api/v1/tickets?population=received&{window}&end={end}&page_size=7")
    second = get(client, f"/api/v1/tickets?population=received&{window}&end={end}&page_size=7&page=2")
    assert (first["page"], first["page_size"], second["page"]) == (1, 7, 2)
    ids = [r["ticket_id"] for r in first["rows"] + second["rows"]]
    assert len(set(ids)) == 14
    created = [r["created_at"] for r in first["rows"] + second["rows"]]
    assert created == sorted(created, reverse=True) and created[0].endswith("+08:00")
    row = first["rows"][0]
    from feeds.records import TICKET_FIELDS
    assert set(TICKET_FIELDS) | {"grid"} == set(row)
    past = get(client, f"/api/v1/tickets?population=received&{window}&end={end}&page_size=1000&page=99999")
    assert past["rows"] == [] and past["total"] == first["total"]
    everything = get(client, "/api/v1/tickets?page_size=3")
    assert everything["total"] == len(demo_runtime.queries.all_tickets())
    # personal data: masked for the default role, shown to a role that may see it
    masked = get(client, "/api/v1/tickets?page_size=200")["rows"]
    phones = [r["caller_phone"] for r in masked if r["caller_phone"]]
    assert phones and all("****" in p for p in phones)
    clear = get(client, "/api/v1/tickets?page_size=200", headers=tokens["supervisor"])["rows"]
    assert any(r["caller_phone"] and "*" not in r["caller_phone"] for r in clear)


@pytest.mark.parametrize("query, param", [
    ("page_size=1001", "page_size"), ("page_size=0", "page_size"), ("page=0", "page"), ("page=x", "page"),
    ("population=everything", "population"), ("area=nowhere", "area"),
    ("population=due&start=2026-11-20T10:00:00%2B0800x", "start"),
])
def test_api005_tickets_bad_input(client, query, param):
    err = get(client, "/api/v1/tickets?" + query, 400)["error"]
    assert err["message"].startswith(param + ": expected"), err


# -- scope -------------------------------------------------------------------------------------------------
def test_api006_a_district_role_gets_only_its_district(client, demo_runtime, tokens):
    district_role = tokens["district"]
    rt = demo_runtime
    mine, other = districts(rt)[0], districts(rt)[1]
    tree = rt.queries.tree()
    out = get(client, "/api/v1/kpi?by=children&start=2026-11-01T00:00:00%2B08:00", headers=district_role)
    assert out["area"] == mine                  # default: the role's one area, not the city
    assert [r["key"] for r in out["rows"]] == [c.code for c in tree.children(mine)]
    dist = get(client, "/api/v1/kpi?by=area:district&start=2026-11-01T00:00:00%2B08:00", headers=district_role)
    assert [r["key"] for r in dist["rows"]] == [mine]
    end = dist["end"].replace("+", "%2B")
    everyone = get(client, f"/api/v1/kpi?by=area:district&start=2026-11-01T00:00:00%2B08:00&end={end}")
    theirs = next(r for r in everyone["rows"] if r["key"] == mine)
    assert dist["rows"][0] == {k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v
                               for k, v in theirs.items()}     # sums over other subsets: last digit
    # tickets: only the district's, as many as an unscoped viewer sees in that district
    t = get(client, "/api/v1/tickets?page_size=1000", headers=district_role)
    assert t["total"] == get(client, f"/api/v1/tickets?page_size=1&area={mine}")["total"] > 0
    assert all(mine in {n.code for n in tree.path(r["grid"])} for r in t["rows"])
    # an area outside it: 403, the city included
    for area in (other, tree.root.code):
        err = get(client, f"/api/v1/kpi?area={area}", 403, headers=district_role)["error"]
        assert err["code"] == "outside_scope" and area in err["message"]
        get(client, f"/api/v1/tickets?area={area}", 403, headers=district_role)
    # alarms and sensors: the district's only
    alarms = get(client, "/api/v1/alarms?status=all", headers=district_role)["alarms"]
    every = get(client, "/api/v1/alarms?status=all")["alarms"]
    assert 0 < len(alarms) < len(every)
    assert all(a["grid_code"] and mine in {n.code for n in tree.path(a["grid_code"])} for a in alarms)
    sensors = get(client, "/api/v1/sensors", headers=district_role)["sensors"]
    assert 0 < len(sensors) < len(get(client, "/api/v1/sensors")["sensors"])
    outside = next(a for a in every if a["alarm_id"] not in {x["alarm_id"] for x in alarms})
    get(client, "/api/v1/alarms/" + outside["alarm_id"], 404, headers=district_role)


# -- feeds, sensors, alarms, industry ----------------------------------------------------------------
def test_api007_feeds_and_rejects(client, demo_runtime):
    feeds = {f["name"]: f for f in get(client, "/api/v1/feeds")["feeds"]}
    assert set(feeds) == {f.name for f in demo_runtime.feeds}
    hot = feeds["hotline-12345"]
    # the session's runtime was polled once, maybe minutes ago on a busy machine (the whole
    # suite: more than dead_after_s): ok, stale or dead by age
    feed = next(f for f in demo_runtime.feeds if f.name == "hotline-12345")
    age = hot["data_age_s"]
    assert hot["kind"] == "tickets" and age >= 0
    assert hot["state"] == ("dead" if age > feed.dead_after_s else "stale" if age > feed.stale_after_s else "ok")
    assert hot["records_held"] == int((demo_runtime.queries.all_tickets()["feed"] == "hotline-12345").sum()) > 0
    assert hot["last_success"].endswith("+08:00") and hot["coverage"]["complete"] is True and hot["last_error"] is None
    assert feeds["areas"]["records_held"] == len(demo_runtime.queries.tree().codes_at("grid")) + sum(
        len(demo_runtime.queries.tree().codes_at(lv)) for lv in ("city", "district", "street", "community"))
    # coverage: as the feed reports it (the SensorThings feed counts by @iot.count), else null
    health = demo_runtime.queries.feed_health()
    assert all(f["coverage"] == health[n].get("coverage") for n, f in feeds.items())
    cov = feeds["heating-sensorthings"]["coverage"]
    assert {"upstream_count", "held", "complete"} <= set(cov)
    rejects = get(client, "/api/v1/feeds/utility-water/rejects")["rejects"]    # the sensors' "ERR" values
    assert len(rejects) == min(100, feeds["utility-water"]["rejected_total"])
    assert get(client, "/api/v1/feeds/no-such-feed/rejects", 404)["error"]["code"] == "not_found"
    get(client, "/api/v1/feeds/utility-water/rejects?limit=5000", 400)


def test_api008_sensors_and_alarms(client, demo_runtime):
    gas = get(client, "/api/v1/sensors?network=gas")["sensors"]
    assert gas and {s["network"] for s in gas} == {"gas"}
    assert {"sensor_id", "network", "kind", "lat", "lon", "grid_code", "facility", "offline_after_s",
            "last_seen"} == set(gas[0])
    assert any(s["last_seen"] for s in gas)
    get(client, "/api/v1/sensors?network=electricity", 400)
    active = get(client, "/api/v1/alarms")["alarms"]
    assert active and all(a["status"] != "resolved" for a in active)
    levels = [(a["level"], a["raised_at"]) for a in active]
    assert [lv for lv, _ in levels] == sorted(lv for lv, _ in levels)
    resolved = get(client, "/api/v1/alarms?status=resolved&network=gas,water")["alarms"]
    assert resolved and all(a["status"] == "resolved" and a["network"] in ("gas", "water") for a in resolved)
    serious = get(client, "/api/v1/alarms?status=all&level=1,2")["alarms"]
    assert all(a["level"] in (1, 2) for a in serious)
    for q, param in (("status=open", "status"), ("level=5", "level"), ("network=x", "network")):
        assert get(client, "/api/v1/alarms?" + q, 400)["error"]["message"].startswith(param)
    one = get(client, "/api/v1/alarms/" + resolved[0]["alarm_id"])
    assert one["alarm"] == resolved[0] and isinstance(one["history"], list)
    assert get(client, "/api/v1/alarms/NOPE/x", 404)["error"]["code"] == "not_found"


def test_api009_industry_grade_is_cityops_industry_grade(client, demo_runtime, tmp_path):
    from dashboard.app.commands.industry import grade_file
    from feeds.industry.config import feed_config
    rt = demo_runtime
    feed = next(f for f in rt.feeds if f.kind == "industry")
    out = get(client, "/api/v1/industry/grade?period=2025")
    assert set(out) == {"period", "benchmarks", "rows", "rejects", "replaced"}
    cli = grade_file(str(next(__import__("pathlib").Path(feed.path).glob("*.csv"))), "2025",
                     rt.settings.industry, feed_config(feed, rt.settings.city.timezone))
    assert out["rows"] == json.loads(json.dumps(cli["rows"])) and len(out["rows"]) > 100
    assert out["benchmarks"] == cli["benchmarks"]
    err = get(client, "/api/v1/industry/grade?period=1999", 400)["error"]
    assert err["message"].startswith("period: expected")


# -- paths ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/nothing", "/api/v2/kpi", "/api/", "/api/v1/kpi/extra", "/api"])
def test_api010_unknown_api_paths_are_json_404(client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.mimetype == "application/json"
    assert r.get_json()["error"]["code"] == "not_found"


def test_api011_pages_and_map_data_still_served(client):
    assert client.get("/tickets").status_code == 200 and b"<html" in client.get("/tickets").data.lower()
    gj = client.get("/api/areas.geojson?level=district")
    assert gj.status_code == 200 and len(gj.get_json()["features"]) == 3
    r = client.put("/api/v1/kpi", headers=SAME_ORIGIN)
    assert r.status_code == 405 and r.get_json()["error"]["code"] == "method_not_allowed"
    r = client.post("/api/v1/kpi", headers=SAME_ORIGIN)
    assert r.status_code == 405 and "GET" in r.get_json()["error"]["message"]


def test_api012_audit_for_admins_only(client, tokens):
    assert get(client, "/api/v1/audit", 403)["error"]["code"] == "forbidden"
    get(client, "/api/v1/audit", 403, headers=tokens["supervisor"])
    out = get(client, "/api/v1/audit?limit=5", headers=tokens["admin"])
    assert len(out["entries"]) == 5 and all("what" in e for e in out["entries"])
    mine = [e for e in out["entries"] if e["what"] == "refused" and e.get("path") == "/api/v1/audit"]
    assert [e["role"] for e in mine][:2] == ["supervisor", "operator"]          # the refusals above
    assert datetime.fromisoformat(out["entries"][0]["at"]).tzinfo is not None
    get(client, "/api/v1/audit?limit=0", 400, headers=tokens["admin"])


def test_api013a_an_unencoded_plus_in_a_time_is_read_as_the_offset(client):
    a = get(client, "/api/v1/kpi?start=2026-11-20T10:00:00%2B08:00&end=2026-11-21T10:00:00%2B08:00")
    b = get(client, "/api/v1/kpi?start=2026-11-20T10:00:00+08:00&end=2026-11-21T10:00:00+08:00")
    assert (a["start"], a["end"]) == (b["start"], b["end"]) == ("2026-11-20T10:00:00+08:00", "2026-11-21T10:00:00+08:00")


def test_api013_now_is_the_servers(client):
    out = get(client, "/api/v1/kpi")
    now = datetime.fromisoformat(out["now"])
    assert abs((datetime.now(timezone.utc) - now).total_seconds()) < 120 and now.utcoffset().total_seconds() == 8 * 3600
    assert out["start"].endswith("T00:00:00+08:00")


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "America/St_Johns", "UTC"])
def test_api014_ticket_times_are_isoformat_with_offset(tz):
    import pandas as pd
    s = pd.Series(pd.to_datetime(["2026-11-20T01:02:03Z", "2026-11-20T01:02:03.5Z", None,
                                  "1999-01-01T23:59:59.000001Z"], utc=True, format="ISO8601"))
    want = [None if pd.isna(v) else v.tz_convert(tz).isoformat() for v in s]
    assert list(tv.iso_text(s, tz)) == want

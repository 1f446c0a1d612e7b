"""The demo upstream over real HTTP on 127.0.0.1: Open311, canonical JSONL, faults."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
import requests

from feeds.demo.tickets import demo_grids, start_simulator

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 21, 15, 30, tzinfo=TZ)


class Clock:
    """A settable clock for the simulator (no mocks: it is just the time source)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def sim():
    clock = Clock(NOW)
    server, url = start_simulator(grids=demo_grids(), seed=11, clock=clock, history_days=10, hang_s=3)
    yield server, url, clock
    server.stop()


def jsonl(resp: requests.Response) -> list[dict]:
    assert resp.status_code == 200, resp.text
    return [orjson.loads(line) for line in resp.content.splitlines()]


def t(s: str) -> datetime:
    return datetime.fromisoformat(s)


def pull_all(url: str, limit: int, since: str | None = None, after: str | None = None) -> list[dict]:
    out = []
    while True:
        params = {"limit": limit}
        if since:
            params.update(updated_since=since, after_id=after or "")
        page = jsonl(requests.get(f"{url}/canonical/tickets.jsonl", params=params, timeout=30))
        out += page
        if len(page) < limit:
            return out
        since, after = page[-1]["updated_at"], page[-1]["ticket_id"]


def test_sim001_health_and_services(sim):
    _, url, _ = sim
    assert requests.get(f"{url}/_health").status_code == 200
    services = requests.get(f"{url}/open311/v2/services.json").json()
    assert services and all(isinstance(s["service_code"], str) for s in services)


def test_sim002_canonical_records_as_of_now(sim):
    _, url, _ = sim
    recs = pull_all(url, 20000)
    assert len(recs) > 10 * 1000  # ~1,400 hotline + patrol tickets a day
    assert {r["source"] for r in recs} == {"hotline", "patrol"}
    keys = [(t(r["updated_at"]), r["ticket_id"]) for r in recs]
    assert keys == sorted(keys) and len({r["ticket_id"] for r in recs}) == len(recs)
    for r in recs:
        times = [t(r[k]) for k in ("created_at", "dispatched_at", "first_response_at",
                                   "closed_at", "updated_at") if r[k]]
        assert max(times) <= t(r["updated_at"]) <= NOW  # nothing from the future
        if r["status"] == "closed" and r["rating"] is None:
            assert r["closed_at"] == r["updated_at"]  # closing was the last step
        assert (r["status"] == "closed") == (r["closed_at"] is not None)
        assert t(r["created_at"]) >= NOW.replace(hour=0, minute=0, second=0) - timedelta(days=10)
        assert r["updated_at"].endswith("+08:00")


def test_sim003_cursor_paging_equals_one_pull(sim):
    _, url, _ = sim
    whole = pull_all(url, 20000)
    paged = pull_all(url, 2499)
    assert [r["ticket_id"] for r in paged] == [r["ticket_id"] for r in whole]
    cut = whole[len(whole) // 2]
    rest = pull_all(url, 20000, cut["updated_at"], cut["ticket_id"])
    assert rest == whole[len(whole) // 2 + 1:]


def test_sim004_state_advances_with_the_clock(sim):
    _, url, clock = sim
    before = {r["ticket_id"]: r for r in pull_all(url, 20000)}
    cursor = max((r["updated_at"], r["ticket_id"]) for r in before.values())
    later = clock.now = NOW + timedelta(hours=2)
    try:
        changed = pull_all(url, 20000, *cursor)
    finally:
        clock.now = NOW
    assert changed, "two hours of a working afternoon must change something"
    assert all(NOW < t(r["updated_at"]) <= later for r in changed)
    new = [r for r in changed if r["ticket_id"] not in before]
    moved = [r for r in changed if r["ticket_id"] in before]
    assert len(new) > 50 and len(moved) > 50
    assert all(t(r["created_at"]) > NOW for r in new)
    for r in moved:  # a step reached by then stays reached
        old = before[r["ticket_id"]]
        assert r["status"] != old["status"] or r["rating"] != old["rating"] or r["return_count"] != old["return_count"]
        assert old["closed_at"] is None or old["closed_at"] == r["closed_at"]


def test_sim005_open311_window_and_limits(sim):
    _, url, _ = sim
    start, end = NOW - timedelta(days=2), NOW - timedelta(days=1)
    r = requests.get(f"{url}/open311/v2/requests.json",
                     params={"start_date": start.isoformat(), "end_date": end.isoformat()})
    reqs = r.json()
    assert 100 < len(reqs) <= 1000
    assert all(start <= t(x["requested_datetime"]) <= end for x in reqs)
    assert [x["requested_datetime"] for x in reqs] == sorted((x["requested_datetime"] for x in reqs), reverse=True)
    for x in reqs:
        assert x["status"] in ("open", "closed") and isinstance(x["service_code"], str)
        assert x["expected_datetime"] and x["requested_datetime"].endswith("+08:00")
        if x["status"] == "closed":
            assert t(x["updated_datetime"]) >= t(x["requested_datetime"])
    too_long = requests.get(f"{url}/open311/v2/requests.json",
                            params={"start_date": (NOW - timedelta(days=91)).isoformat(),
                                    "end_date": NOW.isoformat()})
    assert too_long.status_code == 400
    err = too_long.json()
    assert err[0]["code"] == 400 and "90 days" in err[0]["description"]
    naive = requests.get(f"{url}/open311/v2/requests.json", params={"start_date": "2026-11-20T00:00:00"})
    assert naive.status_code == 400


def test_sim006_open311_filters(sim):
    _, url, clock = sim
    base = f"{url}/open311/v2/requests.json"
    closed = requests.get(base, params={"status": "closed"}).json()
    opened = requests.get(base, params={"status": "open"}).json()
    assert closed and opened
    assert {x["status"] for x in closed} == {"closed"} and {x["status"] for x in opened} == {"open"}
    ids = [opened[0]["service_request_id"], closed[-1]["service_request_id"]]
    # service_request_id returns those, ignoring other filters (here: status)
    got = requests.get(base, params={"service_request_id": ",".join(ids), "status": "open"}).json()
    assert sorted(x["service_request_id"] for x in got) == sorted(ids)
    one = requests.get(f"{url}/open311/v2/requests/{ids[0]}.json").json()
    assert [x["service_request_id"] for x in one] == ids[:1]
    code = closed[0]["service_code"]
    assert {x["service_code"] for x in requests.get(base, params={"service_code": code}).json()} == {code}
    since = NOW - timedelta(hours=3)
    upd = requests.get(base, params={"updated_after": since.isoformat()}).json()
    assert upd and all(t(x["updated_datetime"]) > since for x in upd)
    assert [x["updated_datetime"] for x in upd] == sorted(x["updated_datetime"] for x in upd)


def test_sim007_same_seed_and_clock_same_bytes():
    clock = Clock(NOW)
    bodies = []
    for _ in range(2):
        server, url = start_simulator(grids=demo_grids(), seed=5, clock=clock, history_days=3)
        try:
            bodies.append((requests.get(f"{url}/canonical/tickets.jsonl?limit=20000").content,
                           requests.get(f"{url}/open311/v2/requests.json").content))
        finally:
            server.stop()
    assert bodies[0] == bodies[1] and len(bodies[0][0]) > 1000


def test_sim008_a_day_does_not_depend_on_the_start_day():
    early, late = Clock(NOW - timedelta(days=3)), Clock(NOW)
    s1, u1 = start_simulator(grids=demo_grids(), seed=5, clock=early, history_days=2)
    s2, u2 = start_simulator(grids=demo_grids(), seed=5, clock=late, history_days=5)
    try:
        early.now = NOW  # both now look at the same instant, after different starts
        day = f"WH{(NOW - timedelta(days=4)):%Y%m%d}-"
        a = [r for r in jsonl(requests.get(f"{u1}/canonical/tickets.jsonl?limit=20000")) if r["ticket_id"].startswith(day)]
        b = [r for r in jsonl(requests.get(f"{u2}/canonical/tickets.jsonl?limit=20000")) if r["ticket_id"].startswith(day)]
        assert len(a) > 500 and a == b
    finally:
        s1.stop(), s2.stop()


def test_sim009_fault_injection(sim):
    _, url, _ = sim
    ticket_url = f"{url}/canonical/tickets.jsonl?limit=5"
    control = f"{url}/_control/fail"
    assert requests.post(control, params={"mode": "500"}).status_code == 200
    assert requests.get(ticket_url).status_code == 500
    assert requests.get(f"{url}/open311/v2/requests.json").status_code == 500
    assert requests.get(f"{url}/_health").status_code == 200
    requests.post(control, params={"mode": "garbage"})
    with pytest.raises(ValueError):
        orjson.loads(requests.get(f"{url}/open311/v2/requests.json").content)
    requests.post(control, params={"mode": "timeout"})
    with pytest.raises(requests.exceptions.Timeout):
        requests.get(ticket_url, timeout=0.3)
    requests.post(control, params={"mode": "off"})
    assert len(jsonl(requests.get(ticket_url))) == 5
    assert requests.post(control, params={"mode": "nonsense"}).status_code == 400

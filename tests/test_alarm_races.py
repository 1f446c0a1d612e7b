"""Two writers on one alarm: the poller (escalate, clear) and people (acknowledge, resolve).

On both real Redis kinds, through the real sensor adapter (readings from an HTTP server on
127.0.0.1), the real poller write path and the real page actions. Each race is played
step by step: one writer reads, the other writes, then the first writes. The poll writes
its stamp at 08:00:10; the person's stamp is parametrised before, equal to and after it,
because the old write path lost a different thing in each case (the acknowledgement, or
the escalation, as "unchanged" or as "stale").

Thresholds are the defaults of metrics.alarm_rules: heating temperature below 35 °C is
level I, below 40 II, below 45 III, below 50 IV.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from dashboard.queries import alarm_actions as actions
from dashboard.queries.access import Viewer
from dashboard.config.schema import build
from dashboard.config.settings import FeedSettings, load_settings, with_changes
from feeds import registry
from feeds.base import PollContext
from feeds.poller import Poller
from tests.json_upstream import Clock

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)
POLL_AT = T0 + timedelta(seconds=10)       # the racing poll's clock: its stamp is 08:00:10Z
PERSON_AT = pytest.mark.parametrize("person_s", [7, 10, 20], ids=["person-older", "person-equal", "person-newer"])
WHO = "值班员甲"
ACTOR = Viewer(user=WHO, act_on_alarms=True)
LEVEL_IV, LEVEL_III, LEVEL_II, LEVEL_I, NORMAL = 48.0, 43.0, 38.0, 30.0, 60.0


def sensor_ids(n: int) -> list[str]:
    return [f"H{i:03d}" for i in range(n)]


def serve(upstream, n: int) -> None:
    upstream.bodies["/sensors"] = {"sensors": [
        {"sensor_id": sid, "network": "heating", "kind": "temperature", "lon": 106.8 + i / 1000, "lat": 39.66,
         "grid_code": "g1", "offline_after_s": 3600} for i, sid in enumerate(sensor_ids(n))]}


def readings(upstream, values: dict[str, float], at: datetime) -> None:
    upstream.bodies["/readings"] = {"data": {"list": [
        {"devNo": sid, "type": "temperature", "val": v, "unit": "°C", "ts": int(at.timestamp() * 1000)}
        for sid, v in values.items()]}}


def poller_for(store, upstream, clock: Clock, clear_on_normal: bool = False) -> tuple[Poller, FeedSettings]:
    spec = {"name": "utility", "kind": "sensors", "format": "json", "url": f"{upstream.url}/readings",
            "sensor": {"registry_url": "sensors", "clear_on_normal": clear_on_normal, "json": {
                "items_path": "data.list", "time_format": "epoch_ms",
                "fields": {"sensor_id": "devNo", "value": "val", "unit": "unit", "observed_at": "ts",
                           "kind": "type"}}}}
    feed = build(FeedSettings, spec, "feeds.test")
    settings = with_changes(load_settings(None, env={}), feeds=[feed])
    return Poller(settings, store, [feed], clock=clock), feed


def poll(poller, feed) -> dict:
    h = poller.run_feed(feed, force=True)
    assert h["ok"], h.get("last_error")
    return h


def poll_with(poller, feed, meanwhile) -> dict:
    """One poll by the real adapter and the real write path, with `meanwhile()` run after
    the poll read the store (and decided) and before it writes. Returns the write's totals."""
    store = poller.store
    ctx = PollContext(feed=feed, state=store.feed_state(feed.name), now=poller.clock(), session=requests.Session(),
                      tz=poller.settings.city.timezone, extra=registry.extra_for(poller.settings, feed, store))
    batches = registry.adapter(feed)(ctx)
    meanwhile()
    totals = poller._write(feed, batches, ctx.now)
    store.put_feed_state(feed.name, ctx.state)
    return totals


def stored(store, alarm_id: str) -> dict:
    (a,) = store.dataset("alarms").get([alarm_id])
    return a


def raised(store, upstream, clear_on_normal: bool = False) -> tuple[Poller, FeedSettings, Clock, str]:
    """Sensor H000 reads 48 °C at 08:00:00: a level IV alarm, stored by a poll at 08:00:05."""
    serve(upstream, 1)
    clock = Clock(T0 + timedelta(seconds=5))
    poller, feed = poller_for(store, upstream, clock, clear_on_normal)
    readings(upstream, {"H000": LEVEL_IV}, T0)
    poll(poller, feed)
    (a,) = store.dataset("alarms").all()[1]
    assert (a["level"], a["status"], a["updated_at"]) == (4, "active", "2026-11-20T08:00:05Z")
    clock.t = POLL_AT
    return poller, feed, clock, a["alarm_id"]


def iso(t: datetime) -> str:
    return t.isoformat()


# ---- the store's compare-and-set ---------------------------------------------------------------
def test_race001_upsert_expecting_writes_only_over_the_expected_version(store):
    ds = store.dataset("alarms")
    a = lambda stamp, level: {"alarm_id": "A", "updated_at": stamp, "level": level}  # noqa: E731
    r, conflicts = ds.upsert_expecting([a("2026-11-20T08:00:05Z", 4)], {"A": None})
    assert (r.inserted, conflicts) == (1, [])
    assert ds.upsert_expecting([a("2026-11-20T08:00:06Z", 3)], {"A": None})[1] == ["A"]     # must not exist
    assert ds.upsert_expecting([a("2026-11-20T08:00:06Z", 3)], {})[1] == ["A"]              # no entry: the same
    assert ds.upsert_expecting([a("2026-11-20T08:00:06Z", 3)],
                               {"A": "2026-11-20T08:00:04Z"})[1] == ["A"]                  # another version
    assert ds.upsert_expecting([a("2026-11-20T08:00:05Z", 3)],
                               {"A": "2026-11-20T08:00:05Z"})[1] == ["A"]                  # not strictly newer
    assert ds.version() == 1 and stored(store, "A")["level"] == 4
    r, conflicts = ds.upsert_expecting([a("2026-11-20T08:00:06Z", 3)],
                                       {"A": "2026-11-20T16:00:05+08:00"})                  # the same instant
    assert (r.updated, conflicts) == (1, [])
    assert ds.changes_since(1) == (2, [a("2026-11-20T08:00:06Z", 3)])                      # logged like upsert


def test_race002_upsert_rebasing_redoes_conflicts_and_says_what_it_gave_up(store):
    ds = store.dataset("alarms")
    ds.upsert([{"alarm_id": "A", "updated_at": "2026-11-20T08:00:07Z", "level": 4, "acknowledged_by": WHO},
               {"alarm_id": "B", "updated_at": "2026-11-20T08:00:07Z", "level": 4, "status": "resolved"}])
    seen = []

    def rebase(now_stored, attempted):
        seen.append((now_stored["alarm_id"], attempted["level"]))
        if now_stored.get("status") == "resolved":
            return "resolved meanwhile"
        return dict(now_stored, level=attempted["level"], updated_at="2026-11-20T08:00:10Z")

    tried = [{"alarm_id": k, "updated_at": "2026-11-20T08:00:10Z", "level": 1} for k in ("A", "B", "C")]
    r, missed = ds.upsert_rebasing(tried, {"A": "2026-11-20T08:00:05Z", "B": "2026-11-20T08:00:05Z", "C": None},
                                   rebase)
    assert (r.inserted, r.updated, missed) == (1, 1, {"B": "resolved meanwhile"})
    assert sorted(seen) == [("A", 1), ("B", 1)]
    assert stored(store, "A") == {"alarm_id": "A", "updated_at": "2026-11-20T08:00:10Z", "level": 1,
                                  "acknowledged_by": WHO}
    assert stored(store, "B")["level"] == 4


# ---- step by step races -------------------------------------------------------------------------
@PERSON_AT
def test_race003_acknowledged_between_the_polls_read_and_write_both_survive(store, upstream, person_s):
    poller, feed, clock, aid = raised(store, upstream)
    readings(upstream, {"H000": LEVEL_I}, T0 + timedelta(seconds=8))
    ack_at = T0 + timedelta(seconds=person_s)
    poll_with(poller, feed, lambda: actions.acknowledge(store, aid, ACTOR, ack_at))
    a = stored(store, aid)
    assert (a["level"], a["value"], a["threshold"], a["unit"]) == (1, LEVEL_I, 35.0, "°C")     # the escalation
    assert (a["status"], a["acknowledged_by"], a["acknowledged_at"]) == ("acknowledged", WHO, iso(ack_at))
    assert a["raised_at"] == iso(T0) and a["updated_at"] >= "2026-11-20T08:00:10Z"
    assert [e["what"] for e in actions.history(store, aid)] == ["acknowledge"]


@PERSON_AT
def test_race004_escalated_between_the_persons_read_and_write_both_survive(store, upstream, person_s):
    poller, feed, clock, aid = raised(store, upstream)
    seen = stored(store, aid)                                   # the person reads (level IV)
    readings(upstream, {"H000": LEVEL_I}, T0 + timedelta(seconds=8))
    poll(poller, feed)                                          # the poll escalates to level I
    ack_at = T0 + timedelta(seconds=person_s)
    rec = actions.acknowledge(store, aid, ACTOR, ack_at, seen=seen)
    a = stored(store, aid)
    assert rec == a
    assert (a["level"], a["value"], a["threshold"]) == (1, LEVEL_I, 35.0)
    assert (a["status"], a["acknowledged_by"], a["acknowledged_at"]) == ("acknowledged", WHO, iso(ack_at))
    (entry,) = actions.history(store, aid)
    assert (entry["what"], entry["who"], entry["level"]) == ("acknowledge", WHO, 1)


@PERSON_AT
def test_race005_resolved_by_a_person_a_poll_does_not_escalate_it_back(store, upstream, person_s):
    poller, feed, clock, aid = raised(store, upstream)
    readings(upstream, {"H000": LEVEL_I}, T0 + timedelta(seconds=8))
    totals = poll_with(poller, feed,
                       lambda: actions.resolve(store, aid, ACTOR, "fixed", T0 + timedelta(seconds=person_s)))
    a = stored(store, aid)
    assert (a["status"], a["resolution"], a["resolved_by"], a["level"]) == ("resolved", "fixed", WHO, 4)
    assert any(aid in n and "resolved meanwhile" in n and "dropped" in n for n in totals["notes"]), totals["notes"]
    assert [e["what"] for e in actions.history(store, aid)] == ["resolve"]
    clock.t += timedelta(seconds=10)
    poll(poller, feed)          # the next poll leaves it alone (a still-low reading raises a new alarm)
    assert stored(store, aid) == a


@PERSON_AT
def test_race006_a_poll_clearing_an_alarm_acknowledged_meanwhile_keeps_the_acknowledgement(store, upstream,
                                                                                          person_s):
    poller, feed, clock, aid = raised(store, upstream, clear_on_normal=True)
    readings(upstream, {"H000": NORMAL}, T0 + timedelta(seconds=8))
    ack_at = T0 + timedelta(seconds=person_s)
    poll_with(poller, feed, lambda: actions.acknowledge(store, aid, ACTOR, ack_at))
    a = stored(store, aid)
    assert (a["status"], a["resolution"], a["resolved_at"]) == ("resolved", "cleared",
                                                                iso(T0 + timedelta(seconds=8)))
    assert (a["acknowledged_by"], a["acknowledged_at"], a["level"]) == (WHO, iso(ack_at), 4)


def test_race007_acknowledging_an_alarm_cleared_meanwhile_says_so_and_audits_nothing(store, upstream):
    poller, feed, clock, aid = raised(store, upstream, clear_on_normal=True)
    seen = stored(store, aid)
    readings(upstream, {"H000": NORMAL}, T0 + timedelta(seconds=8))
    poll(poller, feed)                                          # cleared by the poll
    with pytest.raises(actions.ActionError, match=r"resolved meanwhile \(cleared .*nothing left to acknowledge"):
        actions.acknowledge(store, aid, ACTOR, T0 + timedelta(seconds=20), seen=seen)
    a = stored(store, aid)
    assert (a["status"], a["resolution"], a["acknowledged_by"]) == ("resolved", "cleared", None)
    assert actions.history(store, aid) == []


def test_race008_two_pollers_creating_the_same_alarm_insert_it_once(store, upstream):
    serve(upstream, 1)
    readings(upstream, {"H000": LEVEL_IV}, T0)
    first, feed = poller_for(store, upstream, Clock(T0 + timedelta(seconds=10)))
    second, _ = poller_for(store, upstream, Clock(T0 + timedelta(seconds=5)))   # e.g. a lease handover
    alarms = store.dataset("alarms")
    totals = poll_with(first, feed, lambda: poll(second, feed))  # both read "no alarm"; the second writes first
    (a,) = alarms.all()[1]
    assert alarms.version() == 1 and a["updated_at"] == "2026-11-20T08:00:05Z"     # one insert, the second's
    assert any(a["alarm_id"] in n and "not written" in n for n in totals["notes"]), totals["notes"]


# ---- both writers at full speed ------------------------------------------------------------------
def test_race009_poller_and_person_threads_lose_nothing(store, upstream):
    """100 alarms: a poller thread escalates them IV → III → II → I in three polls (stamps
    08:01, 08:02, 08:03) while a person thread acknowledges each once, in random order, at
    times before, between and after those stamps; neither waits for the other."""
    n = 100
    ids = sensor_ids(n)
    serve(upstream, n)
    clock = Clock(T0 + timedelta(seconds=5))
    poller, feed = poller_for(store, upstream, clock)
    readings(upstream, dict.fromkeys(ids, LEVEL_IV), T0)
    poll(poller, feed)
    alarm_ids = [a["alarm_id"] for a in store.dataset("alarms").all()[1]]
    assert len(alarm_ids) == n
    start, errors, retries = threading.Barrier(2), [], []

    def poll_thread():
        start.wait()
        for k, value in enumerate((LEVEL_III, LEVEL_II, LEVEL_I), start=1):
            readings(upstream, dict.fromkeys(ids, value), T0 + timedelta(seconds=60 * k - 2))
            clock.t = T0 + timedelta(seconds=60 * k)
            poll(poller, feed)

    def person_thread():
        rnd = random.Random(7)
        order = rnd.sample(alarm_ids, n)
        start.wait()
        for aid in order:
            at = T0 + timedelta(seconds=rnd.choice((90, 150, 240)))
            for _ in range(5):
                try:
                    actions.acknowledge(store, aid, ACTOR, at)
                    break
                except actions.ActionError as exc:      # "keeps changing; try again": a person would
                    retries.append(str(exc))
            time.sleep(0.001)                           # spread the acknowledgements over the polls

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(f)) for f in (poll_thread, person_thread)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)                         # interleave the two threads finely
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        sys.setswitchinterval(switch)
    assert not errors, errors
    assert all("keeps changing; try again" in r for r in retries), retries
    final = {a["alarm_id"]: a for a in store.dataset("alarms").all()[1]}
    lost_ack = sorted(k for k, a in final.items() if a["acknowledged_by"] != WHO)
    not_top = sorted(k for k, a in final.items() if a["level"] != 1)
    assert (lost_ack, not_top) == ([], []), f"{len(lost_ack)} acknowledgements and {len(not_top)} escalations lost"
    assert all(a["status"] == "acknowledged" and a["value"] == LEVEL_I for a in final.values())
    acks = [e for e in actions.history(store, limit=1000) if e["what"] == "acknowledge"]
    assert sorted(e["alarm_id"] for e in acks) == sorted(alarm_ids)        # one audit entry per landed write

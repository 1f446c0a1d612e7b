"""The store on both real Redis kinds: versioned upserts, incremental reads, lease, rejects."""

from __future__ import annotations


def rec(tid: str, stamp: str, status: str = "registered") -> dict:
    return {"ticket_id": tid, "updated_at": stamp, "status": status}


def test_sto001_upsert_is_idempotent_and_versioned(store):
    ds = store.tickets
    r1 = ds.upsert([rec("A", "2026-11-20T01:00:00Z"), rec("B", "2026-11-20T01:00:00Z")])
    assert (r1.inserted, r1.updated, r1.unchanged, r1.stale) == (2, 0, 0, 0)
    v1 = ds.version()
    assert v1 == 2
    r2 = ds.upsert([rec("A", "2026-11-20T01:00:00Z"), rec("B", "2026-11-20T01:00:00Z")])
    assert (r2.inserted, r2.updated, r2.unchanged) == (0, 0, 2)
    assert ds.version() == v1            # the same data twice changes nothing


def test_sto002_newer_replaces_older_never_does(store):
    ds = store.tickets
    ds.upsert([rec("A", "2026-11-20T01:00:00Z", "registered")])
    r = ds.upsert([rec("A", "2026-11-20T03:00:00Z", "closed")])
    assert r.updated == 1
    r = ds.upsert([rec("A", "2026-11-20T02:00:00Z", "handling")])   # arrives late, out of order
    assert r.stale == 1
    assert ds.get(["A"])[0]["status"] == "closed"


def test_sto003_changes_since_returns_only_changed(store):
    ds = store.tickets
    ds.upsert([rec(f"T{i}", "2026-11-20T01:00:00Z") for i in range(5)])
    v = ds.version()
    ds.upsert([rec("T3", "2026-11-20T02:00:00Z", "closed"), rec("T9", "2026-11-20T02:00:00Z")])
    v2, changed = ds.changes_since(v)
    assert v2 == v + 2
    assert sorted(r["ticket_id"] for r in changed) == ["T3", "T9"]
    assert ds.changes_since(v2) == (v2, [])
    seq, everything = ds.all()
    assert seq == v2 and len(everything) == 6


def test_sto004_lease_has_one_holder(store):
    a = store.lease("poller", "a", 5)
    b = store.lease("poller", "b", 5)
    assert a.acquire_or_renew() is True
    assert b.acquire_or_renew() is False
    assert a.acquire_or_renew() is True      # renewal by the holder
    a.release()
    assert b.acquire_or_renew() is True
    assert store.lease("poller", "a", 5).holder() == "b"


def test_sto005_rejects_are_bounded_newest_first(store):
    store.add_rejects("f", [{"index": i} for i in range(5)], keep=3)
    store.add_rejects("f", [{"index": 10}], keep=3)
    assert [r["index"] for r in store.rejects("f")] == [10, 4, 3]


def test_sto006_areas_version_bumps_only_on_change(store):
    v1 = store.put_areas({"rows": [1]})
    assert store.put_areas({"rows": [1]}) == v1
    assert store.put_areas({"rows": [2]}) == v1 + 1
    assert store.areas() == (v1 + 1, {"rows": [2]})


def test_sto007_stamps_with_offsets_order_by_instant(store):
    ds = store.tickets
    ds.upsert([rec("A", "2026-11-20T09:00:00+08:00", "registered")])      # 01:00 UTC
    assert ds.upsert([rec("A", "2026-11-20T00:30:00Z", "closed")]).stale == 1   # earlier instant
    assert ds.upsert([rec("A", "2026-11-20T01:00:00Z", "closed")]).unchanged == 1  # same instant
    assert ds.upsert([rec("A", "2026-11-20T09:00:01+08:00", "closed")]).updated == 1


def test_sto008_one_batch_with_an_id_several_times_is_taken_in_order(store):
    ds = store.tickets
    ds.upsert([rec("B", "2026-11-20T05:00:00Z")])
    r = ds.upsert([rec("A", "2026-11-20T01:00:00Z", "registered"), rec("A", "2026-11-20T03:00:00Z", "closed"),
                   rec("A", "2026-11-20T02:00:00Z", "handling"), rec("A", "2026-11-20T03:00:00Z", "closed"),
                   rec("B", "2026-11-20T04:00:00Z"), rec("C", "2026-11-20T01:00:00Z")])
    assert (r.inserted, r.updated, r.unchanged, r.stale) == (2, 1, 1, 2)
    assert ds.get(["A"])[0]["status"] == "closed"
    assert ds.version() == 4                  # one sequence number per accepted change
    _, changed = ds.changes_since(1)
    assert sorted(x["ticket_id"] for x in changed) == ["A", "C"]
    assert ds.upsert([]) == type(r)()


def test_sto009_large_batches_are_written_whole(store):
    from dashboard.store import BATCH

    ds = store.tickets
    n = 2 * BATCH + 17
    r = ds.upsert([rec(f"T{i}", "2026-11-20T01:00:00Z") for i in range(n)])
    assert r.inserted == n and ds.count() == n and ds.version() == n
    r = ds.upsert([rec(f"T{i}", "2026-11-20T02:00:00Z" if i % 2 else "2026-11-20T01:00:00Z") for i in range(n)])
    assert (r.updated, r.unchanged) == (n // 2, n - n // 2)
    v, changed = ds.changes_since(n)
    assert v == n + n // 2 and len(changed) == n // 2

"""The ticket aggregates kept at ingest equal the full scan (`metrics.tickets.kpi_table`).

Random ticket histories — creations, dispatches, closures, reopenings, rating changes,
grid and department moves, cancellations, returns, out-of-order and duplicate deliveries —
go through the real poller (canonical JSON Lines file feed: parse, validate, the store's
upsert script) into real Redis (embedded and a 3-master cluster); withdrawals go through
the same store path. Every kept field of every area node and department is compared with
the scan of the final tickets, over random whole-day windows at random `now`s.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pandas as pd
import pytest

from dashboard.store.aggregates import TicketAggregates
from dashboard.config.settings import FeedSettings, PollerSettings, load_settings, with_changes
from feeds.poller import Poller
from feeds.records import tickets_frame
from metrics import ticket_aggregates as ta
from metrics import tickets as tk
from metrics.areas import AreaTree
from metrics.placement import effective_grid

TZ = "Asia/Shanghai"
ROWS = ([{"code": "C", "name": "city", "level": "city", "parent_code": ""}]
        + [{"code": f"S{s}", "name": f"street {s}", "level": "street", "parent_code": "C"} for s in range(2)]
        + [{"code": f"S{s}K{k}", "name": f"community {s}{k}", "level": "community", "parent_code": f"S{s}"}
           for s in range(2) for k in range(2)]
        + [{"code": f"S{s}K{k}G{g}", "name": f"grid {s}{k}{g}", "level": "grid", "parent_code": f"S{s}K{k}"}
           for s in range(2) for k in range(2) for g in range(3)])
GRIDS = [r["code"] for r in ROWS if r["level"] == "grid"] + ["S1", "NOPE", None]   # a street, unknown, none
DEPTS = ["城管局", "水务局", "交通局", None, "a|b\tc"]
BASE = datetime(2026, 11, 1, tzinfo=timezone.utc)


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def history(rnd: random.Random, tid: str) -> list[dict]:
    """The versions of one ticket, in the order they happened (strictly newer stamps)."""
    created = BASE + timedelta(minutes=rnd.randrange(0, 20 * 24 * 60), seconds=rnd.randrange(60),
                               microseconds=rnd.choice([0, 0, 250000]))
    cur = {"ticket_id": tid, "source": "hotline", "kind": "event", "category": "噪音",
           "urgency": rnd.choice(["urgent", "normal"]), "grid_code": rnd.choice(GRIDS),
           "department": rnd.choice(DEPTS), "status": "registered", "created_at": iso(created),
           "repeat_of": rnd.choice([None, None, None, "T0"]), "return_count": 0}
    t = created
    out = [dict(cur, updated_at=iso(t))]
    for _ in range(rnd.randrange(0, 7)):
        t += timedelta(minutes=rnd.randrange(1, 3 * 24 * 60))
        step = rnd.random()
        nxt = dict(cur)
        if step < 0.25:
            nxt.update(status="dispatched", dispatched_at=iso(t - timedelta(minutes=rnd.randrange(0, 30))))
        elif step < 0.55:
            nxt.update(status="closed", closed_at=iso(t), rating=rnd.choice(["satisfied", "basic", "dissatisfied", None]),
                       resolved=rnd.choice(["yes", "no", None]), rating_excluded=rnd.random() < 0.2)
        elif step < 0.65:                         # reopened
            nxt.update(status="handling", closed_at=None, return_count=cur.get("return_count", 0) + 1)
        elif step < 0.75 and cur["status"] == "closed":
            nxt.update(rating=rnd.choice(["satisfied", "basic", "dissatisfied"]))
        elif step < 0.9:
            nxt.update(grid_code=rnd.choice(GRIDS), department=rnd.choice(DEPTS))
        else:
            nxt.update(status="cancelled")
        nxt["updated_at"] = iso(t)
        cur = nxt
        out.append(dict(cur))
    return out


def deliveries(rnd: random.Random, versions: list[dict], n_polls: int) -> list[list[dict]]:
    """The versions spread over polls out of order, some twice."""
    sent = versions + rnd.sample(versions, len(versions) // 5)
    rnd.shuffle(sent)
    cuts = sorted(rnd.sample(range(1, len(sent)), n_polls - 1))
    return [sent[a:b] for a, b in zip([0] + cuts, cuts + [len(sent)])]


def final(versions: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for v in versions:
        if v["ticket_id"] not in out or v["updated_at"] > out[v["ticket_id"]]["updated_at"]:
            out[v["ticket_id"]] = v
    return out


def scan_tables(records: list[dict], tree: AreaTree, now, start, end, rules) -> dict[str, pd.DataFrame]:
    df = tk.prepare(tickets_frame(records), rules, TZ)
    df["grid"] = effective_grid(df, tree)
    out = {"city": tk.kpi_table(df, now, start, end, rules)}
    for level in ("street", "community", "grid"):
        out[level] = tk.kpi_table(df, now, start, end, rules, keys=tree.ancestor_at(df["grid"], level),
                                  all_keys=tree.codes_at(level))
    out["department"] = tk.kpi_table(df, now, start, end, rules, keys=df["department"])
    return out


def compare(agg: TicketAggregates, tree: AreaTree, records: list[dict], rnd: random.Random, rules, tries: int = 6):
    for _ in range(tries):
        first = BASE.date() + timedelta(days=rnd.randrange(-2, 22))
        days = rnd.choice([1, 1, 7, 30])
        start = pd.Timestamp(first.isoformat(), tz=TZ)
        end = start + pd.Timedelta(days=days)
        now = end + pd.Timedelta(minutes=rnd.randrange(0, 3 * 24 * 60))
        scan = scan_tables(records, tree, now, start, end, rules)
        depts = sorted({r.get("department") for r in records if r.get("department")}) + [None]
        kept = {"city": agg.table("city", [tree.root.code], start, end),
                "department": agg.table("dept", [d or "" for d in depts], start, end)}
        for level in ("street", "community", "grid"):
            kept[level] = agg.table(level, tree.codes_at(level), start, end)
        fields = list(ta.AGG_FIELDS) + [f"{r}_{x}" for r in ta.AGG_RATES for x in ("num", "den")]
        checked = 0
        for level, table in scan.items():
            mine = kept[level].set_index("key")
            for row in table.to_dict("records"):
                if level == "city":
                    key = tree.root.code
                elif level == "department":
                    key = row["key"] or ""
                else:
                    if row["key"] is None:
                        continue           # tickets placed above this level: not a node of it
                    key = row["key"]
                got = mine.loc[key]
                for f in fields:
                    want, have = row[f], got[f]
                    if isinstance(want, float) and np.isnan(want):
                        assert np.isnan(have), (level, key, f, start, end)
                    elif f == "mean_handling_hours":    # a sum in another order: last bits
                        assert have == pytest.approx(want, rel=1e-12), (level, key, f)
                    else:
                        assert have == want, (level, key, f, start, end, have, want)
                checked += 1
        assert checked > 20


@pytest.mark.parametrize("seed", [1, 2])
def test_agg001_random_histories_through_the_poller_equal_the_scan(seed, poll_store, tmp_path):
    rnd = random.Random(seed)
    settings = load_settings(None, env={})
    settings = with_changes(settings, poller=PollerSettings(keep_ticket_aggregates=True))
    poll_store.put_areas({"rows": ROWS})
    feed = FeedSettings(name="hotline", kind="tickets", format="canonical", path=str(tmp_path / "t.jsonl"),
                        interval_s=1)
    poller = Poller(settings, poll_store, [feed])
    versions = [v for i in range(250) for v in history(rnd, f"T{i}")]
    for n, batch in enumerate(deliveries(rnd, versions, 12)):
        (tmp_path / "t.jsonl").write_bytes(b"\n".join(orjson.dumps(v) for v in batch) + b"\n" + b" " * n)
        h = poller.run_feed(feed, force=True)
        assert h["ok"] and h["rejected"] == 0, h.get("last_error")
    records = list(final(versions).values())
    stored = {r["ticket_id"]: r for r in poll_store.tickets.all()[1]}
    assert sorted(stored) == sorted(final(versions))
    agg = poller.aggregates
    assert agg.check() == []
    tree = AreaTree.build(ROWS)
    compare(agg, tree, list(stored.values()), rnd, settings.tickets)

    # withdrawals (`withdrawn_at`, as the poller's sweep marks them): in no population
    gone = rnd.sample(sorted(stored), 30)
    when = iso(BASE + timedelta(days=40))
    withdrawn = [dict(stored[t], withdrawn_at=when, updated_at=when) for t in gone]
    agg.upsert(withdrawn)
    agg.upsert(withdrawn[:10])                       # delivered twice: counted once
    assert agg.check() == []
    compare(agg, tree, [r for t, r in stored.items() if t not in gone], rnd, settings.tickets, tries=3)

    # a redrawn tree places every ticket anew: the counters are rebuilt from the records
    moved = [dict(r, parent_code="S0") if r["code"] == "S1K1" else r for r in ROWS]
    poll_store.put_areas({"rows": moved})
    assert agg.ensure_current() is True
    assert agg.check() == []
    compare(agg, AreaTree.build(moved), [r for t, r in stored.items() if t not in gone], rnd, settings.tickets,
            tries=3)


def test_agg002_check_finds_a_counter_that_drifted(embedded_store):
    agg = TicketAggregates(embedded_store, TZ)
    embedded_store.put_areas({"rows": ROWS})
    rnd = random.Random(9)
    agg.upsert([v for i in range(40) for v in history(rnd, f"T{i}")][::-1])
    assert agg.check() == []
    day, level = embedded_store.tickets.agg_cells()[0]
    key = f"{embedded_store.tickets.k_agg}:c:{day}:{level}"
    field = next(iter(embedded_store.r.hkeys(key)))
    embedded_store.r.hincrby(key, field, 1)
    problems = agg.check()
    assert len(problems) == 1 and "stored" in problems[0]
    agg.rebuild()
    assert agg.check() == []


def test_agg003_cli_rebuild_and_check(external_redis_url, tmp_path):
    import os
    import subprocess
    import sys

    import redis as redis_py

    from dashboard.store.redis_server import connect
    from dashboard.store import Store
    from tests.conftest import REPO

    ns = f"aggcli{os.getpid()}"
    store = Store(connect(external_redis_url), ns)
    try:
        store.put_areas({"rows": ROWS})
        agg = TicketAggregates(store, TZ)
        rnd = random.Random(4)
        agg.upsert([v for i in range(60) for v in history(rnd, f"T{i}")])
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[store]\nnamespace = "{ns}"\n')
        env = dict(os.environ, REDIS_URL=external_redis_url, PYTHONPATH=str(REPO))

        def cli(*args):
            return subprocess.run([sys.executable, "-m", "dashboard.app.cli", *args, "--config", str(cfg), "--json"],
                                  env=env, capture_output=True, text=True, timeout=120)

        done = cli("check-aggregates")
        assert done.returncode == 0 and orjson.loads(done.stdout) == {"tickets": 60, "problems": []}
        day, _ = store.tickets.agg_cells()[0]
        store.r.hincrby(f"{store.tickets.k_agg}:c:{day}:grid", "S0K0G0|received", 5)
        done = cli("check-aggregates")
        assert done.returncode == 1 and len(orjson.loads(done.stdout)["problems"]) == 1
        done = cli("rebuild-aggregates")
        assert done.returncode == 0 and orjson.loads(done.stdout) == {"rebuilt": 60, "problems": []}
    finally:
        r = redis_py.Redis.from_url(external_redis_url)
        for key in r.scan_iter(f"{ns}:*"):
            r.delete(key)
        store.r.close()

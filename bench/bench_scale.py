"""Benchmark of ingest and of the ticket aggregates (issue "scale"), on a real Redis.

Not a test: run it by hand and put the figures in the README (one run, medians).

    python bench/bench_scale.py [--rows 1000000] [--open311 200000] [--repeat 5]

It starts Debian's redis-server on a free loopback port (nothing is left running), loads
the demo city's area tree, and prints:
- ingest through parse + validate + store, the poller's functions (`parse_tickets_records`
  / `parse_requests`, then `TicketAggregates.upsert`: the upsert script keeping the
  counters), canonical JSON Lines pages of 20,000 and Open311 JSON pages of 1,000: tickets/s
  of wall time, and the CPU seconds of this process and of Redis;
- the same canonical ingest without the aggregates (plain upsert), for the cost of keeping them;
- the street table for the whole city, one community's grids and the department table over
  the last 30 whole local days, from the aggregates (fields they keep) against the full
  scan (`metrics.tickets.kpi_table` on the prepared frame) and DuckDB (when installed:
  `pip install -e .[bench]`) computing the same numbers from the same tickets; the
  aggregates' numbers are checked equal to the scan's;
- the refresh after a 50-ticket change: the upsert keeping the counters, the next drill,
  and the scan path's incremental refresh (`changes_since` + prepare);
- Redis memory and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redis  # noqa: E402

from bench_tickets import load_areas, synthetic_tickets  # noqa: E402
from dashboard.store.aggregates import TicketAggregates  # noqa: E402
from dashboard.store import Store  # noqa: E402
from feeds.tickets.canonical_columns import parse_tickets_records  # noqa: E402
from feeds.tickets.open311 import parse_requests  # noqa: E402
from feeds.records import TICKET_FIELDS, TIME_FIELDS, tickets_frame  # noqa: E402
from metrics import ticket_aggregates as ta  # noqa: E402
from metrics import tickets as tk  # noqa: E402
from metrics.areas import AreaTree  # noqa: E402
from metrics.placement import effective_grid  # noqa: E402
from metrics.ticket_rules import TicketRules  # noqa: E402

TZ = "Asia/Shanghai"
PAGE = 20_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(workdir: str) -> tuple[subprocess.Popen, redis.Redis]:
    binary = "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else shutil.which("redis-server")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = redis.Redis(port=port)
    for _ in range(200):
        try:
            r.ping()
            return proc, r
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def canonical_records(df: pd.DataFrame) -> list[dict]:
    """The synthetic frame as raw canonical tickets (times as ISO texts with offsets)."""
    df = df.copy()
    df["updated_at"] = df["closed_at"].fillna(df["dispatched_at"])
    cols = {}
    for name in TICKET_FIELDS:
        s = df[name]
        if name in TIME_FIELDS:
            secs = s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
            texts = np.datetime_as_string(secs, unit="s").astype(object)
            texts = np.char.add(texts.astype(str), "+00:00").astype(object)
            texts[pd.isna(s).to_numpy()] = None
            cols[name] = texts.tolist()
        elif name in ("lat", "lon"):
            cols[name] = [None] * len(df)
        else:
            cols[name] = s.astype(object).where(s.notna(), None).tolist()
    return [dict(zip(TICKET_FIELDS, row)) for row in zip(*cols.values())]


def jsonl_pages(raw: list[dict]) -> list[bytes]:
    return [b"\n".join(orjson.dumps(x) for x in raw[i:i + PAGE]) + b"\n" for i in range(0, len(raw), PAGE)]


def open311_pages(raw: list[dict], size: int = 1000) -> list[bytes]:
    items = [{"service_request_id": x["ticket_id"], "status": "closed" if x["status"] == "closed" else "open",
              "service_name": x["category"], "agency_responsible": x["department"],
              "requested_datetime": x["created_at"], "updated_datetime": x["updated_at"],
              "expected_datetime": x["deadline_at"]} for x in raw]
    return [orjson.dumps(items[i:i + size]) for i in range(0, len(items), size)]


def ingest(pages: list[bytes], parse, write, r: redis.Redis) -> dict:
    n, parse_s, store_s = 0, 0.0, 0.0
    cpu0, rcpu0, wall0 = time.process_time(), redis_cpu(r), time.perf_counter()
    for page in pages:
        t = time.perf_counter()
        records, rejects = parse(page)
        parse_s += time.perf_counter() - t
        assert not rejects, rejects[:3]
        t = time.perf_counter()
        write(records)
        store_s += time.perf_counter() - t
        n += len(records)
    wall = time.perf_counter() - wall0
    return {"tickets": n, "per_s": n / wall, "parse_per_s": n / parse_s, "store_per_s": n / store_s,
            "cpu_s": time.process_time() - cpu0, "redis_cpu_s": redis_cpu(r) - rcpu0, "wall_s": wall}


def median_ms(fn, repeat: int) -> tuple[float, object]:
    runs, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1000, out


FIELDS = list(ta.AGG_FIELDS)


def same(kept: pd.DataFrame, scan: pd.DataFrame, keys: list) -> None:
    """The aggregates' numbers equal the scan's (mean: to 1e-12, a sum in another order)."""
    k, s = kept.set_index("key"), scan.set_index("key")
    for key in keys:
        for f in FIELDS:
            a, b = k.loc[key, f], s.loc[key if key in s.index else None, f]
            if isinstance(b, float) and np.isnan(b):
                assert np.isnan(a), (key, f)
            elif f == "mean_handling_hours":
                assert abs(a - b) <= 1e-12 * max(1.0, abs(b)), (key, f, a, b)
            else:
                assert a == b, (key, f, a, b)


def duckdb_street_table(df: pd.DataFrame, street: pd.Series, t0, t1) -> pd.DataFrame | None:
    try:
        import duckdb
    except ImportError:
        return None
    frame = pd.DataFrame({"street": street.to_numpy(), "created": df["created_at"], "closed_at": df["closed_at"],
                          "dispatched": df["dispatched_at"], "status": df["status"], "rating": df["rating"],
                          "excluded": df["rating_excluded"], "resolved": df["resolved"],
                          "returns": df["return_count"], "repeat_of": df["repeat_of"]})
    con = duckdb.connect()
    con.register("t", frame)
    sql = """
    WITH c AS (SELECT street, status = 'closed' AND closed_at >= $t0 AND closed_at < $t1 AS cl,
                      created >= $t0 AND created < $t1 AS rec, * FROM t)
    SELECT street AS key, count(*) FILTER (WHERE rec) AS received, count(*) FILTER (WHERE cl) AS closed,
           count(*) FILTER (WHERE cl AND rating IS NOT NULL) AS rated,
           count(*) FILTER (WHERE cl AND resolved = 'yes') / nullif(count(*) FILTER (WHERE cl AND resolved IS NOT NULL), 0)
             AS resolution_rate,
           (count(*) FILTER (WHERE cl AND rating = 'satisfied') + 0.9 * count(*) FILTER (WHERE cl AND rating = 'basic'))
             / nullif(count(*) FILTER (WHERE cl AND rating IS NOT NULL), 0) AS satisfaction_rate,
           count(*) FILTER (WHERE cl AND returns >= 1) / nullif(count(*) FILTER (WHERE cl), 0) AS return_rate,
           count(*) FILTER (WHERE rec AND repeat_of IS NOT NULL AND repeat_of <> '')
             / nullif(count(*) FILTER (WHERE rec), 0) AS repeat_rate,
           avg(epoch(closed_at) - epoch(dispatched)) FILTER (WHERE cl AND dispatched IS NOT NULL) / 3600
             AS mean_handling_hours,
           quantile_cont((epoch(closed_at) - epoch(dispatched)) / 3600, 0.9)
             FILTER (WHERE cl AND dispatched IS NOT NULL) AS p90_handling_hours
    FROM c GROUP BY street
    """
    return con.execute(sql, {"t0": t0.to_pydatetime(), "t1": t1.to_pydatetime()}).df()


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))  # run `finally`
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--open311", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    areas = load_areas()
    rows = areas.fillna("").to_dict("records")
    tree = AreaTree.build(rows)
    grids = areas.loc[areas["level"] == "grid", "code"].tolist()
    print(f"synthetic tickets: {args.rows:,} over {len(grids)} grids; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    t = time.perf_counter()
    raw = canonical_records(synthetic_tickets(args.rows, grids))
    pages = jsonl_pages(raw)
    o311 = open311_pages(raw[:args.open311])
    print(f"  payloads made in {time.perf_counter() - t:.0f} s ({sum(map(len, pages)) / 1e6:.0f} MB JSON Lines)")

    workdir = tempfile.mkdtemp(prefix="bench-scale-")
    proc, r = start_redis(workdir)
    try:
        store = Store(r, "bench")
        store.put_areas({"rows": rows})
        agg = TicketAggregates(store, TZ, TicketRules())

        res = ingest(pages, lambda p: parse_tickets_records(p, "jsonl"), agg.upsert, r)
        print(f"ingest canonical JSONL, keeping the aggregates: {res['per_s']:,.0f} tickets/s "
              f"(parse+validate {res['parse_per_s']:,.0f}/s, store {res['store_per_s']:,.0f}/s; "
              f"{res['wall_s']:.1f} s wall, {res['cpu_s']:.1f} s CPU here, {res['redis_cpu_s']:.1f} s CPU in Redis)")
        mem = r.info("memory")
        print(f"  Redis used memory {mem['used_memory'] / 2**20:,.0f} MB, RSS {mem['used_memory_rss'] / 2**20:,.0f} MB")

        plain = Store(r, "bench-plain")
        res = ingest(pages[:max(1, len(pages) // 5)], lambda p: parse_tickets_records(p, "jsonl"),
                     plain.tickets.upsert, r)
        print(f"ingest canonical JSONL, plain upsert (no aggregates), {res['tickets']:,} tickets: "
              f"{res['per_s']:,.0f} tickets/s (store {res['store_per_s']:,.0f}/s)")
        o = Store(r, "bench-o311")
        o.put_areas({"rows": rows})
        oagg = TicketAggregates(o, TZ, TicketRules())
        res = ingest(o311, parse_requests, oagg.upsert, r)
        print(f"ingest Open311 JSON (pages of 1,000), keeping the aggregates, {res['tickets']:,} tickets: "
              f"{res['per_s']:,.0f} tickets/s (parse+validate {res['parse_per_s']:,.0f}/s, "
              f"store {res['store_per_s']:,.0f}/s)")

        # -- drill views: the last 30 whole local days ------------------------------------
        today = pd.Timestamp("2026-11-20T15:00:00+08:00").tz_convert(TZ).normalize()
        t0, t1, now = today - pd.Timedelta(days=30), today, today + pd.Timedelta(hours=15)
        streets = tree.codes_at("street")
        community = next(c for c in tree.codes_at("community") if len(tree.children(c)) > 1)
        grid_codes = [c.code for c in tree.children(community)]
        depts = sorted({x["department"] for x in raw})

        print("drill views over the last 30 whole days, median server time:")
        load_ms, _ = median_ms(lambda: store.tickets.all(), 1)
        t = time.perf_counter()
        seq, records = store.tickets.all()
        df = tk.prepare(tickets_frame(records), TicketRules(), TZ)
        df["grid"] = effective_grid(df, tree)
        prep_ms = (time.perf_counter() - t) * 1000
        del records
        print(f"  (the scan needs every ticket in the process first: read {load_ms:,.0f} ms + prepare, "
              f"in all {prep_ms:,.0f} ms)")
        street = tree.ancestor_at(df["grid"], "street")
        for label, level, codes, keys in (("street table, whole city", "street", streets, street),
                                          (f"grids of community {community}", "grid", grid_codes, None),
                                          ("department table", "dept", depts, df["department"])):
            agg_ms, kept = median_ms(lambda: agg.table(level, codes, t0, t1), args.repeat)
            groups = codes
            if keys is None:
                sub = df[tree.in_subtree(df["grid"], community)]
                scan_fn = lambda: tk.kpi_table(sub, now, t0, t1, TicketRules(), keys=sub["grid"],  # noqa: E731
                                               all_keys=list(grid_codes))
            else:
                scan_fn = lambda: tk.kpi_table(df, now, t0, t1, TicketRules(), keys=keys,  # noqa: E731
                                               all_keys=list(groups))
            scan_ms, scan = median_ms(scan_fn, max(1, args.repeat // 2))
            same(kept, scan, list(groups))
            line = f"  {label}: aggregates {agg_ms:,.1f} ms, scan {scan_ms:,.0f} ms"
            if label.startswith("street"):
                duck_ms, duck = median_ms(lambda: duckdb_street_table(df, street, t0, t1), max(1, args.repeat // 2))
                if duck is not None:
                    d = duck.set_index("key")
                    assert int(d["received"].sum()) == int(scan.set_index("key").loc[streets, "received"].sum()) \
                        + int(scan.set_index("key")["received"].get(None, 0) or 0)
                    line += f", DuckDB {duck_ms:,.0f} ms (same numbers, from an in-process frame)"
            print(line + " — numbers equal")

        # -- refresh after a small change ---------------------------------------------------
        changed = []
        for x in raw[:50]:
            y = dict(x, status="closed", closed_at="2026-11-19T10:00:00+00:00", updated_at="2026-11-19T10:00:00+00:00",
                     rating="satisfied", resolved="yes")
            changed.append(y)
        recs, _ = parse_tickets_records(b"\n".join(orjson.dumps(x) for x in changed), "jsonl")
        up_ms, _ = median_ms(lambda: agg.upsert(recs), 1)
        drill_ms, _ = median_ms(lambda: agg.table("street", streets, t0, t1), args.repeat)
        t = time.perf_counter()
        _, delta = store.tickets.changes_since(seq)
        new = tk.prepare(tickets_frame(delta), TicketRules(), TZ)
        new["grid"] = effective_grid(new, tree)
        keep = df[~df["ticket_id"].isin(new["ticket_id"])]
        df = pd.concat([keep, new], ignore_index=True)
        scan_refresh_ms = (time.perf_counter() - t) * 1000
        print(f"refresh after a 50-ticket change: upsert keeping the counters {up_ms:,.1f} ms, the next street "
              f"table {drill_ms:,.1f} ms; the scan path's incremental refresh {scan_refresh_ms:,.0f} ms per process, "
              f"then its scan")
        problems = agg.check() if args.rows <= 2_000_000 else []
        print(f"check-aggregates: {'consistent' if not problems else problems[:3]}")
    finally:
        r.close()
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")


if __name__ == "__main__":
    main()

"""Benchmark of the wall's tick (issue "scale"): its views computed the way the server does
(`dashboard.queries.Queries`, view cache off) — today's numbers and open tickets per street
on every refresh, on today's cut (`today_tickets`), and the 30-day trend once a minute, on
the recent cut (`recent_tickets`, kept apart and refreshed from the change log) — against
the same views on every ticket (the whole frame, refreshed the same way), on a real Redis.
Not a test: run it by hand.

    python bench/bench_wall.py [--rows 1000000] [--repeat 5] [--change 50]

Synthetic tickets over a year (bench_tickets.synthetic_tickets with `--days 365`, `--closed
0.96`: a real city's 12345 has a few per cent of a year's tickets open at once; `--days 120
--closed 0.8`, the other benchmarks' tickets, leave a fifth open). Prints, for a process
that serves only the wall (a child process: its own RSS) the time to stream its cut from the
store and its RSS; then the median tick on a cache miss and the median refresh + tick after
`--change` tickets changed (a few closed, a few new), on the cut and on every ticket.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scale import canonical_records, start_redis  # noqa: E402
from bench_tickets import NOW, load_areas, synthetic_tickets  # noqa: E402
from dashboard.config.settings import load_settings  # noqa: E402
from dashboard.queries import Queries  # noqa: E402
from dashboard.queries.access import Viewer  # noqa: E402
from dashboard.store import Store  # noqa: E402


def tick(q: Queries, v: Viewer, now) -> None:
    """What the wall computes on each refresh (its 5-second views)."""
    q.wall_numbers(v, now)
    q.open_by_area(v, now, "street")


def trend(q: Queries, v: Viewer, now) -> None:
    """What it computes once a minute (the trend's view is cached by the minute)."""
    q.trend(v, now)


WALL_ONLY = """
import json, sys, time, psutil, redis
sys.path.insert(0, {root!r})
from dashboard.config.settings import load_settings
from dashboard.queries import Queries
from dashboard.queries.access import Viewer
from dashboard.store import Store
import pandas as pd
q = Queries(Store(redis.Redis(port={port}), "benchwall"), load_settings(None, env={{}}))
now = pd.Timestamp({now!r}).to_pydatetime()
rss0 = psutil.Process().memory_info().rss
t = time.perf_counter()
q.recent_tickets(Viewer(), now)
made = time.perf_counter() - t
q.wall_numbers(Viewer(), now); q.trend(Viewer(), now); q.open_by_area(Viewer(), now, "street")
q.today_tickets(Viewer(), now)
print(json.dumps({{"made_s": made, "rows": len(q._recent["rows"]), "whole_loaded": q._frame is not None,
                  "rss0": rss0, "rss": psutil.Process().memory_info().rss}}))
"""


def change(store: Store, raw_sample: list[dict], k: int, n: int, now) -> None:
    """n tickets changed at `now`: half of them closed (taken from `raw_sample`), half new."""
    stamp = now.isoformat()
    out = []
    for r in raw_sample[k * n // 2:(k + 1) * n // 2]:
        out.append(dict(r, status="closed", closed_at=stamp, updated_at=stamp, resolved="yes", rating="satisfied"))
    for i in range(n - len(out)):
        out.append(dict(raw_sample[0], ticket_id=f"NEW-{k}-{i}", status="registered", created_at=stamp,
                        updated_at=stamp, closed_at=None, dispatched_at=None, rating=None))
    store.tickets.upsert(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--closed", type=float, default=0.96)
    ap.add_argument("--change", type=int, default=50)
    args = ap.parse_args()
    areas = load_areas()
    grids = areas.loc[areas["level"] == "grid", "code"].tolist()
    workdir = tempfile.mkdtemp(prefix="bench-wall-")
    proc, r = start_redis(workdir)
    try:
        store = Store(r, "benchwall")
        store.put_areas({"rows": areas.fillna("").to_dict("records")})
        sample: list[dict] = []
        for k, at in enumerate(range(0, args.rows, 1_000_000)):
            df = synthetic_tickets(min(1_000_000, args.rows - at), grids, seed=k + 1, days=args.days,
                                   closed_share=args.closed)
            df["ticket_id"] = f"T{k}-" + df["ticket_id"].str[1:]
            raw = canonical_records(df)
            for i in range(0, len(raw), 20_000):
                store.tickets.upsert(raw[i:i + 20_000])
            if not sample:
                sample = [x for x in raw if x.get("status") not in ("closed", "cancelled")][:args.change * args.repeat * 2]
            del raw, df
        now = NOW.to_pydatetime()
        port = r.connection_pool.connection_kwargs["port"]
        child = subprocess.run([sys.executable, "-c", WALL_ONLY.format(root=str(ROOT), port=port, now=str(NOW))],
                               capture_output=True, text=True, check=True)
        w = json.loads(child.stdout.strip().splitlines()[-1])
        print(f"{args.rows:,} tickets over {args.days} days, {args.closed:.0%} closed; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"a process serving only the wall: its cut ({w['rows']:,} tickets, {w['rows'] / args.rows:.0%}) "
              f"streamed from the store in {w['made_s']:,.1f} s; every ticket loaded: {w['whole_loaded']}; "
              f"RSS {w['rss0'] / 2**20:,.0f} → {w['rss'] / 2**20:,.0f} MB "
              f"({(w['rss'] - w['rss0']) / args.rows:,.0f} bytes per ticket of the store)")
        settings = load_settings(None, env={})
        q = Queries(store, settings)                     # cache None: every call computes
        whole = Queries(store, settings)
        whole.recent_tickets = lambda viewer, now: whole.tickets(viewer)
        whole.today_tickets = whole.recent_tickets
        v = Viewer()
        tick(q, v, now)
        trend(q, v, now)
        whole.all_tickets()
        for name, qq in (("the cuts", q), ("every ticket", whole)):
            for what, fn in (("tick (today's numbers, open per street)", tick), ("trend (30 days)", trend)):
                runs = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    fn(qq, v, now)
                    runs.append(time.perf_counter() - t)
                print(f"wall {what} on a cache miss ({name}): median {statistics.median(runs) * 1000:,.0f} ms "
                      f"(n = {args.repeat})")
        print(f"today's cut: {len(q.today_tickets(v, now)):,} tickets")
        runs = {"the cuts": [], "every ticket": []}
        for k in range(args.repeat):
            at = now + timedelta(seconds=k + 1)
            change(store, sample, k, args.change, at)
            for name, qq in (("the cuts", q), ("every ticket", whole)):
                t = time.perf_counter()
                tick(qq, v, at)
                runs[name].append(time.perf_counter() - t)
        for name, xs in runs.items():
            print(f"after {args.change} tickets changed, refresh + wall tick ({name}; the trend not included): median "
                  f"{statistics.median(xs) * 1000:,.0f} ms (n = {args.repeat})")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()

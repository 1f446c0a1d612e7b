"""Benchmark of the wall's tick on a cache miss (issue "scale"): its three views (today's
numbers, the 30-day trend, open tickets per street) computed the way the server does
(`dashboard.queries.Queries`, view cache off), on the recent cut the wall reads
(`recent_tickets`) against every ticket, on a real Redis. Not a test: run it by hand.

    python bench/bench_wall.py [--rows 1000000] [--repeat 5]

Synthetic tickets over a year (bench_tickets.synthetic_tickets with `--days 365`, `--closed
0.96`: a real city's 12345 has a few per cent of a year's tickets open at once; `--days 120
--closed 0.8`, the other benchmarks' tickets, leave a fifth open). Prints the cut's size and
the median times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
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
    q.wall_numbers(v, now)
    q.trend(v, now)
    q.open_by_area(v, now, "street")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--closed", type=float, default=0.96)
    args = ap.parse_args()
    areas = load_areas()
    grids = areas.loc[areas["level"] == "grid", "code"].tolist()
    workdir = tempfile.mkdtemp(prefix="bench-wall-")
    proc, r = start_redis(workdir)
    try:
        store = Store(r, "benchwall")
        store.put_areas({"rows": areas.fillna("").to_dict("records")})
        for k, at in enumerate(range(0, args.rows, 1_000_000)):
            df = synthetic_tickets(min(1_000_000, args.rows - at), grids, seed=k + 1, days=args.days,
                                   closed_share=args.closed)
            df["ticket_id"] = f"T{k}-" + df["ticket_id"].str[1:]
            raw = canonical_records(df)
            for i in range(0, len(raw), 20_000):
                store.tickets.upsert(raw[i:i + 20_000])
            del raw, df
        settings = load_settings(None, env={})
        q = Queries(store, settings)                     # cache None: every call computes
        whole = Queries(store, settings)
        whole.recent_tickets = lambda viewer, now: whole.tickets(viewer)
        v = Viewer()
        now = NOW.to_pydatetime()
        q.all_tickets()
        whole.all_tickets()
        t = time.perf_counter()
        cut = q.recent_tickets(v, now)
        cut_ms = (time.perf_counter() - t) * 1000
        print(f"{args.rows:,} tickets over {args.days} days, {args.closed:.0%} closed; the wall's cut holds {len(cut):,} ({len(cut) / args.rows:.0%}), "
              f"made in {cut_ms:,.0f} ms once per frame and day; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores")
        for name, qq in (("recent cut", q), ("every ticket", whole)):
            runs = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                tick(qq, v, now)
                runs.append(time.perf_counter() - t)
            print(f"wall tick on a cache miss ({name}): median {statistics.median(runs) * 1000:,.0f} ms "
                  f"(n = {args.repeat})")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()

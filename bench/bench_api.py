"""Benchmark of the HTTP API `/api/v1` on the demo city. Not a test: run it by hand.

    python bench/bench_api.py [--days 30] [--repeat 7]

A console on an embedded Redis with the demo city's feeds polled once (`--days` of ticket
history), served by Flask's test client in this process (no network). Each endpoint is
requested `--repeat` times; printed are the first answer's time (cold: nothing memoized)
and the median of the others (the views memo in Redis answers them), with the body size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.app.factory import create_app  # noqa: E402
from dashboard.app.runtime import Runtime  # noqa: E402
from dashboard.config.settings import DemoSettings, StoreSettings, load_settings, with_changes  # noqa: E402
from feeds.poller import Poller  # noqa: E402

PATHS = ["/kpi", "/kpi?by=children&start=2026-11-01T00:00:00%2B08:00", "/kpi?by=area:street",
         "/kpi?by=department", "/tickets?population=received&page_size=1000",
         "/tickets?page_size=1000", "/feeds", "/sensors", "/alarms?status=all", "/industry/grade",
         "/openapi.json"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = with_changes(load_settings(None, env={}), store=StoreSettings(data_dir=tmp, namespace="bench"),
                                demo=DemoSettings(history_days=args.days))
        rt = Runtime.start(settings, poll=False)
        try:
            rt.poller = Poller(settings, rt.store, rt.feeds)
            for feed in rt.feeds:
                rt.poller.run_feed(feed, force=True)
            client = create_app(rt).server.test_client()
            print(f"demo city, {len(rt.queries.all_tickets()):,} tickets, {args.repeat} requests per path")
            print(f"{'path':58} {'first ms':>9} {'median ms':>10} {'bytes':>10}")
            for path in PATHS:
                times, size = [], 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    r = client.get("/api/v1" + path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, (path, r.status_code, r.data[:200])
                    size = len(r.data)
                print(f"{path:58} {times[0]:9.1f} {statistics.median(times[1:]):10.1f} {size:10,}")
        finally:
            rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

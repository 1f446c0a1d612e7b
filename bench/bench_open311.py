"""Benchmark of Open311 completeness (issue 10). Not a test: run it by hand.

    python bench/bench_open311.py [--requests 20000] [--repeat 3]

A real Open311 server on 127.0.0.1 (tests/open311_upstream.py) holding N requests over 90
days; the feed's first poll through the real poller into an embedded Redis, for each kind of
server: page size 100 or 1,000, silently cut / next-page link / page=N. Prints, per kind,
the HTTP requests the poll needed and the median time of the first poll; then the requests
and time of one later poll including a sweep share.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.config.settings import FeedSettings, load_settings  # noqa: E402
from dashboard.store import Store  # noqa: E402
from dashboard.store.redis_server import EmbeddedRedis, connect  # noqa: E402
from feeds.poller import Poller  # noqa: E402
from tests.open311_upstream import T0, Open311Server, request  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rnd = random.Random(1)
    stamps = [T0 - timedelta(seconds=rnd.randrange(1, 90 * 86400)) for _ in range(args.requests)]
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(Path(tmp))
        try:
            r = connect(redis_server.url)
            print(f"{args.requests:,} requests over 90 days; first poll, median of {args.repeat}")
            print(f"{'server':<24}{'HTTP requests':>14}{'first poll s':>14}{'later poll req':>16}{'later s':>10}")
            for size in (100, 1000):
                for paging in ("cut", "link", "page"):
                    srv = Open311Server(page_size=size, paging=paging)
                    for i, t in enumerate(stamps):
                        srv.add(request(10_000 + i, t))
                    times, reqs, later = [], [], None
                    for _ in range(args.repeat):
                        store = Store(r, "b" + uuid.uuid4().hex[:8])
                        f = FeedSettings(name="app", kind="tickets", format="open311", url=srv.url,
                                         lookback_days=90, interval_s=30)
                        clock = [T0]
                        p = Poller(load_settings(None, env={}), store, [f], clock=lambda: clock[0])
                        srv.queries.clear()
                        t0 = time.perf_counter()
                        h = p.run_feed(f)
                        times.append(time.perf_counter() - t0)
                        reqs.append(len(srv.queries))
                        assert h["ok"] and store.tickets.count() == args.requests, h
                        clock[0] = T0 + timedelta(seconds=30)
                        srv.queries.clear()
                        t0 = time.perf_counter()
                        p.run_feed(f, force=True)
                        later = (len(srv.queries), time.perf_counter() - t0)
                        p.stop()
                        for key in r.scan_iter(f"{store.ns}:*"):
                            r.delete(key)
                    srv.close()
                    print(f"{f'{paging} at {size}':<24}{statistics.median(reqs):>14,.0f}"
                          f"{statistics.median(times):>14.2f}{later[0]:>16}{later[1]:>10.2f}")
        finally:
            redis_server.close()


if __name__ == "__main__":
    main()

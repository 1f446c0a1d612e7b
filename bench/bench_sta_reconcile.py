"""Benchmark of the SensorThings feed with discovery and count reconciliation (issue 10,
item 7). Not a test: run it by hand.

    python bench/bench_sta_reconcile.py [--sensors 3000] [--polls 12] [--late 5]

The demo sensor platform (its heating network as a SensorThings v1.1 view, 1 in 5 sensors)
on 127.0.0.1, read by the demo's SensorThings feed through a real poller on an embedded
Redis, with a clock moved 10 s a poll. Printed: the first poll (discovery + backlog), then
per poll the GET requests to the view, the poll's duration, the size of the feed state;
then `--late` readings delivered late (older than the overlap) and how many polls until
each is stored.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sensors", type=int, default=3000)
    ap.add_argument("--polls", type=int, default=12)
    ap.add_argument("--late", type=int, default=5)
    args = ap.parse_args()

    from dashboard.store.redis_server import EmbeddedRedis, connect
    from dashboard.app.runtime import sensor_demo_feeds
    from dashboard.config.settings import load_settings, with_changes
    from dashboard.store import Store
    from feeds.poller import Poller
    from feeds.demo.sensors.simulator import SimSensorsConfig
    from feeds.demo.sensors.http import start_sensor_simulator

    clock = Clock(datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc))
    cfg = SimSensorsConfig(seed=3, n_sensors=args.sensors, incidents_per_sensor_day=0, bursts_per_day=0,
                           offline_per_sensor_day=0)
    server, url = start_sensor_simulator(seed=3, n_sensors=args.sensors, clock=clock, config=cfg)
    with tempfile.TemporaryDirectory() as tmp:
        redis_server = EmbeddedRedis(Path(tmp))
        try:
            store = Store(connect(redis_server.url), "bench")
            (feed,) = [f for f in sensor_demo_feeds(url) if f.format == "sensorthings"]
            poller = Poller(with_changes(load_settings(None, env={}), feeds=[feed]), store, [feed], clock=clock)

            def hits() -> int:
                return sum(n for path, n in server.hits.items() if path.startswith("/v1.1"))

            def poll() -> tuple[int, float]:
                before, t0 = hits(), time.perf_counter()
                h = poller.run_feed(feed, force=True)
                assert h and h["ok"], h and h.get("last_error")
                return hits() - before, time.perf_counter() - t0

            n, s = poll()
            print(f"first poll (discovery + backlog): {n} GETs, {s:.2f} s, "
                  f"{store.dataset('sensors').count()} sensors placed from their Locations")
            gets, secs = [], []
            for _ in range(args.polls):
                clock.t += timedelta(seconds=10)
                n, s = poll()
                gets.append(n)
                secs.append(s)
            state = orjson.dumps(store.feed_state(feed.name))
            held = orjson.dumps(store.feed_state(feed.name).get("reconcile", {}).get("held", {}))
            print(f"steady polls: median {statistics.median(gets):.0f} GETs (max {max(gets)}), "
                  f"median {statistics.median(secs):.3f} s a poll; feed state {len(state) / 1024:.0f} KB "
                  f"(held counts {len(held) / 1024:.0f} KB)")
            cov = store.feed_health(feed.name).get("coverage") or {}
            print(f"coverage: upstream {cov.get('upstream_count')} held {cov.get('held')} "
                  f"complete {cov.get('complete')}")
            streams = store.feed_state(feed.name)["discovery"]["streams"]
            waited = []
            for k in range(args.late):
                sid = streams[(k * 37) % len(streams)][1]
                resp = requests.post(f"{url}/_control/late", params={"sensor": sid, "age_s": 400}, timeout=10)
                resp.raise_for_status()
                at = _t(resp.json()["observed_at"])
                for polls in range(1, 30):
                    clock.t += timedelta(seconds=10)
                    poll()
                    rec = next(r for r in store.dataset("readings").all()[1] if r["sensor_id"] == sid)
                    if any(_t(t) == at for t, _ in rec["recent"]):
                        waited.append(polls)
                        break
                else:
                    waited.append(None)
            print(f"late readings (400 s old, overlap 120 s): stored after {waited} polls")
        finally:
            redis_server.close()
            server.stop()


if __name__ == "__main__":
    main()

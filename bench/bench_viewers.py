"""Benchmark of many viewers on the wall (issue "scale"): the documented production command
(`gunicorn app:server -k gthread -w N --threads 8`) on a real Redis holding `--rows`
tickets, `--viewers` HTTP clients replaying the wall's own callback requests (recorded from
a headless Chromium) every refresh, while a writer changes `--change` tickets every
`--every` seconds as a poller would (so the view cache and the workers' cuts keep moving).
Not a test: run it by hand, put the figures in the README (one run).

    python bench/bench_viewers.py [--rows 1000000] [--workers 4] [--viewers 50] [--seconds 120]

The tickets are bench_tickets.synthetic_tickets over a year (96 % closed), moved so that
the last of them is now (the wall shows today). Prints the time until the wall first
answers (each worker makes its cut of the store on its first request), then, after
`--warmup-s`, the viewers' requests, errors and latency p50/p95, each worker's RSS and
Redis's memory. Nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scale import start_redis  # noqa: E402
from bench_tickets import load_areas  # noqa: E402
from bench_wall import change  # noqa: E402
from bench_workers import load, start_gunicorn, workers_of  # noqa: E402
from soak import PROBE_JS, RECORDER_JS, Viewers, pct  # noqa: E402
from dashboard.store import Store  # noqa: E402

NS = "benchv"


def open_wall(url: str, profile: Path):
    """Headless Chromium on the wall, waiting as long as the first page takes (at 10 M the
    workers are still making their cuts: longer than Chromium's default wait)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1920,1080", f"--user-data-dir={profile}"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.set_page_load_timeout(600)
    d.get(url)
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--viewers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--warmup-s", type=float, default=30)
    ap.add_argument("--refresh-s", type=float, default=5)
    ap.add_argument("--change", type=int, default=50)
    ap.add_argument("--every", type=float, default=5)
    args = ap.parse_args()

    areas = load_areas()
    grids = areas.loc[areas["level"] == "grid", "code"].tolist()
    workdir = tempfile.mkdtemp(prefix="bench-viewers-")
    proc, r = start_redis(workdir)
    web = driver = None
    stop = threading.Event()
    try:
        store = Store(r, NS)
        store.put_areas({"rows": areas.fillna("").to_dict("records")})
        t = time.perf_counter()
        sample = load(store, args.rows, grids)
        print(f"{args.rows:,} tickets stored in {time.perf_counter() - t:.0f} s; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

        web, base = start_gunicorn(workdir, r.connection_pool.connection_kwargs["port"], NS, args.workers,
                                   timeout_s=900, server_toml=f"refresh_s = {args.refresh_s}")
        master = psutil.Process(web.pid)
        time.sleep(2)
        before = {p.pid: p.memory_info().rss for p in workers_of(master)}

        t = time.perf_counter()
        # each worker's warm-up makes its cut as it starts: wait until they are idle
        # (Chromium's first page would otherwise wait for a worker busy streaming the store)
        workers = workers_of(master)
        seen_busy = False
        for p in workers:
            p.cpu_percent(interval=None)
        while time.perf_counter() - t < 3600:
            time.sleep(5)
            busy = sum(p.cpu_percent(interval=None) for p in workers)   # % of a core over the 5 s
            if busy >= 20:
                seen_busy = True
            elif seen_busy or time.perf_counter() - t > 60:
                break
        cuts_s = time.perf_counter() - t
        driver = open_wall(base + "/", Path(workdir) / "profile")
        while True:
            got = driver.execute_script(PROBE_JS)
            if got["received"] not in (None, "—", ""):
                break
            if time.perf_counter() - t > 1800:
                raise SystemExit("the wall did not show its numbers")
            time.sleep(1)
        first_s = time.perf_counter() - t
        driver.execute_script(RECORDER_JS)
        time.sleep(args.refresh_s * 2.5)
        latest = {json.loads(b).get("output", ""): b for b in driver.execute_script("return window.__cbBodies")}
        bodies = list(latest.values())
        driver.quit()
        driver = None
        print(f"the workers made their cuts in {cuts_s:.0f} s; the wall first showed its numbers "
              f"{first_s:.1f} s after gunicorn was up (today's received: {got['received']}); "
              f"{len(bodies)} callbacks recorded", flush=True)

        def writer():
            k = 0
            while not stop.wait(args.every):
                change(store, sample, k % (len(sample) * 2 // max(args.change, 1)), args.change,
                       datetime.now(timezone.utc))
                k += 1
        threading.Thread(target=writer, daemon=True).start()
        viewers = Viewers(base, bodies, args.viewers, args.refresh_s)
        viewers.start()
        time.sleep(args.warmup_s)
        warm = viewers.take()
        time.sleep(args.seconds)
        samples = viewers.take()
        viewers.stop.set()
        stop.set()
        lat = [s[1] * 1000 for s in samples if s[2] == "ok"]
        bad = [s[2] for s in samples if s[2] != "ok"]
        after = {p.pid: p.memory_info().rss for p in workers_of(master)}
        mem = r.info("memory")
        print(f"warm-up ({args.warmup_s:.0f} s): {len(warm):,} requests, "
              f"p95 {pct([s[1] * 1000 for s in warm if s[2] == 'ok'], 0.95) or 0:,.0f} ms")
        print(f"{args.viewers} viewers for {args.seconds:.0f} s, {args.change} tickets changed every {args.every:.0f} s: "
              f"{len(samples):,} requests ({len(samples) / args.seconds:,.0f}/s), {len(bad)} not 2xx "
              f"{sorted(set(bad))[:5]}; latency p50 {pct(lat, 0.5) or 0:,.0f} ms, p95 {pct(lat, 0.95) or 0:,.0f} ms")
        print("RSS per worker: " + ", ".join(f"{before.get(p, 0) / 2**20:,.0f} → {v / 2**20:,.0f} MB"
                                             for p, v in after.items())
              + f" (total {sum(after.values()) / 2**30:.2f} GB); Redis used {mem['used_memory'] / 2**20:,.0f} MB; "
              f"load average {os.getloadavg()[0]:.1f}")
    finally:
        stop.set()
        if driver is not None:
            driver.quit()
        if web is not None:
            web.terminate()
            try:
                web.wait(30)
            except subprocess.TimeoutExpired:
                web.kill()
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()

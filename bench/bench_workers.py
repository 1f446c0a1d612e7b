"""Benchmark of the web workers (issue "scale"): what each gunicorn worker holds once it
has served the pages' views, and what those views cost, on a real Redis. Not a test: run it
by hand, put the figures in the README (one run).

    python bench/bench_workers.py [--rows 1000000] [--workers 4] [--repeat 5] [--old-window]

It starts Debian's redis-server on a free loopback port, loads the demo city's area tree
and `--rows` synthetic tickets over a year, 96 % closed, moved so that they end now
(`load`, shared with bench_viewers), through the store's upsert, then the documented
production command (`gunicorn app:server -k gthread -w N`) on that store, and asks
`/api/v1/kpi?by=children` until every worker has answered (each makes its recent cut on its
first request). It prints each worker's RSS and its growth per ticket, Redis's memory, the
first requests' time, and the median time over HTTP of the drill views the pages show —
the city's children, the street table, a community's grids, the department table — on
windows within the last 30 days, each on a cache miss (a window not asked before) and on
a hit; with `--old-window`, a window starting 90 days back (the worker that answers loads
every ticket). Nothing is left running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scale import canonical_records, free_port, start_redis  # noqa: E402
from bench_tickets import NOW, load_areas, synthetic_tickets  # noqa: E402
from dashboard.store import Store  # noqa: E402

NS = "benchw"
CHUNK = 1_000_000


def load(store: Store, rows: int, grids: list[str]) -> list[dict]:
    """`rows` synthetic tickets moved to end now; returns some open ones (for the writer)."""
    shift = pd.Timestamp.now(tz="UTC") - NOW
    sample: list[dict] = []
    for k, at in enumerate(range(0, rows, CHUNK)):
        df = synthetic_tickets(min(CHUNK, rows - at), grids, seed=k + 1, days=365, closed_share=0.96)
        df["ticket_id"] = f"T{k}-" + df["ticket_id"].str[1:]
        for c in df.columns:
            if isinstance(df[c].dtype, pd.DatetimeTZDtype):
                df[c] = df[c] + shift
        raw = canonical_records(df)
        del df
        for i in range(0, len(raw), 20_000):
            store.tickets.upsert(raw[i:i + 20_000])
        if not sample:
            sample = [x for x in raw if x.get("status") not in ("closed", "cancelled")][:20_000]
        del raw
    return sample


def workers_of(master: psutil.Process) -> list[psutil.Process]:
    return [p for p in master.children() if "gunicorn" in " ".join(p.cmdline())]


def start_gunicorn(workdir: str, redis_port: int, namespace: str, workers: int, timeout_s: int = 600,
                   server_toml: str = "") -> tuple[subprocess.Popen, str]:
    """The documented production command (`gunicorn app:server -k gthread -w N --threads 8`)
    on the store at `redis_port`/`namespace`, up (its /healthz answers): (process, base URL)."""
    port = free_port()
    cfg = Path(workdir) / "console.toml"
    cfg.write_text(f'[store]\nredis_url = "redis://127.0.0.1:{redis_port}/0"\n'
                   f'namespace = "{namespace}"\ndata_dir = "{workdir}/var"\n'
                   + (f"[server]\n{server_toml}\n" if server_toml else ""))
    env = dict(os.environ, CITYOPS_CONFIG=str(cfg), PYTHONPATH=str(ROOT))
    env.pop("REDIS_URL", None)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "app:server", "-k", "gthread", "-w", str(workers),
                            "--threads", "8", "-b", f"127.0.0.1:{port}", "--timeout", str(timeout_s)],
                           env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(base + "/healthz", timeout=5).status_code < 500:
                return web, base
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            web.terminate()
            raise SystemExit("gunicorn did not come up")
        time.sleep(0.5)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--old-window", action="store_true", help="also ask a window older than the cut")
    args = ap.parse_args()

    areas = load_areas()
    rows = areas.fillna("").to_dict("records")
    grids = areas.loc[areas["level"] == "grid", "code"].tolist()
    workdir = tempfile.mkdtemp(prefix="bench-workers-")
    proc, r = start_redis(workdir)
    web = None
    try:
        store = Store(r, NS)
        store.put_areas({"rows": rows})
        t = time.perf_counter()
        load(store, args.rows, grids)
        mem = r.info("memory")
        print(f"{args.rows:,} tickets stored in {time.perf_counter() - t:.0f} s; Redis used memory "
              f"{mem['used_memory'] / 2**20:,.0f} MB, RSS {mem['used_memory_rss'] / 2**20:,.0f} MB; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

        web, base = start_gunicorn(workdir, r.connection_pool.connection_kwargs["port"], NS, args.workers, timeout_s=600)
        master = psutil.Process(web.pid)
        time.sleep(2)
        before = {p.pid: p.memory_info().rss for p in workers_of(master)}
        print(f"{len(before)} workers up, RSS before any ticket is read: "
              f"{', '.join(f'{v / 2**20:,.0f}' for v in before.values())} MB")

        url = base + "/api/v1/kpi?by=children"
        t = time.perf_counter()
        # enough requests at once that every worker takes some (each makes its cut on its first)
        with ThreadPoolExecutor(args.workers * 8) as pool:
            codes = list(pool.map(lambda _: requests.get(url, timeout=1800).status_code, range(args.workers * 8)))
        first_s = time.perf_counter() - t
        assert all(c == 200 for c in codes), codes
        after = {p.pid: p.memory_info().rss for p in workers_of(master)}
        grew = [after[p] - before.get(p, after[p]) for p in after]
        print(f"first requests (every worker making its recent cut): {first_s:.1f} s")
        print("RSS per worker after serving: " + ", ".join(f"{v / 2**20:,.0f} MB" for v in after.values())
              + f" (total {sum(after.values()) / 2**30:.2f} GB); growth "
              + ", ".join(f"{g / args.rows:,.0f}" for g in grew) + " bytes per ticket")

        # the pages' views on windows within the last 30 days (what the pages offer: they
        # read the recent cut), each on a cache miss (a start not asked before, a fixed end:
        # the default, now, would make every request a new view) and then on a hit
        community = next(c for c in areas.loc[areas["level"] == "community", "code"])
        views = {"city children": "by=children", "street table": "by=area:street",
                 "a community's grids": f"by=children&area={community}", "departments": "by=department"}
        end = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
        for name, query in views.items():
            miss, hit = [], []
            for i in range(args.repeat):
                start = (end - timedelta(days=29 - i - 10 * list(views).index(name) % 20)).strftime("%Y-%m-%dT%H:00:00Z")
                ask = f"{base}/api/v1/kpi?{query}&start={start}&end={end.strftime('%Y-%m-%dT%H:%M:%SZ')}"
                t = time.perf_counter()
                assert requests.get(ask, timeout=600).status_code == 200
                miss.append(time.perf_counter() - t)
                t = time.perf_counter()
                assert requests.get(ask, timeout=600).status_code == 200
                hit.append(time.perf_counter() - t)
            print(f"{name} ({query}) over HTTP: median {statistics.median(miss) * 1000:,.0f} ms on a cache miss, "
                  f"{statistics.median(hit) * 1000:,.0f} ms on a hit (n = {args.repeat})")
        after = {p.pid: p.memory_info().rss for p in workers_of(master)}
        print("RSS per worker after the views: " + ", ".join(f"{v / 2**20:,.0f} MB" for v in after.values())
              + f" (total {sum(after.values()) / 2**30:.2f} GB)")
        if args.old_window:
            start = (end - timedelta(days=90)).strftime("%Y-%m-%dT%H:00:00Z")
            t = time.perf_counter()
            assert requests.get(f"{url}&start={start}&end={end.strftime('%Y-%m-%dT%H:%M:%SZ')}",
                                timeout=1800).status_code == 200
            print(f"a window starting 90 days back (its worker loads every ticket): {time.perf_counter() - t:.1f} s; "
                  "RSS per worker: " + ", ".join(f"{p.memory_info().rss / 2**20:,.0f} MB" for p in workers_of(master)))
    finally:
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

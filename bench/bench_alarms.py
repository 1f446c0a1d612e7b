"""Benchmark of the alarm map (issue 4, item 7). Not a test: run it by hand.

    python bench/bench_alarms.py [--sensors 50000] [--alarms 5] [--skip-latency]

1. Map at N sensors: a console on an embedded Redis holding N sensors of the demo city,
   served on 127.0.0.1; headless Chromium (selenium) opens /alarms. Prints the bytes the
   page transferred (all resources, and the sensors GeoJSON alone) and the time to first
   render (navigation start → the first sensor cluster drawn on the map).
2. Latency: the simulated sensor platform (3,000 sensors) read by the demo feeds through a
   running poller; an incident is started on a gas sensor; printed are the delays from the
   simulator raising the alarm (the out-of-range reading's time) to the browser listing it,
   and from the incident's start (which waits for the sensor's next report, every 60 s).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dashboard.app.factory import create_app  # noqa: E402
from dashboard.app.runtime import Runtime, sensor_demo_feeds  # noqa: E402
from dashboard.config.settings import DemoSettings, StoreSettings, load_settings, with_changes  # noqa: E402
from feeds.demo.sensors.network import make_sensors  # noqa: E402
from feeds.demo.sensors.http import DEMO_AREAS, start_sensor_simulator  # noqa: E402

ROWS = ".alarm-grid .ag-center-cols-container .ag-row"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(rt) -> tuple[str, object]:
    import logging

    from werkzeug.serving import make_server
    logging.getLogger("werkzeug").setLevel(logging.WARNING)   # no line per request
    port = free_port()
    srv = make_server("127.0.0.1", port, create_app(rt).server, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", srv


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    o = Options()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1920,1080"):
        o.add_argument(a)
    o.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def wait_for(d, css: str, timeout: float = 120.0) -> float:
    t0 = time.monotonic()
    while not d.execute_script(f"return document.querySelector('{css}') !== null"):
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(css)
        time.sleep(0.02)
    return time.monotonic()


def bench_map(n: int, data_dir: str) -> None:
    settings = with_changes(load_settings(None, env={}), store=StoreSettings(data_dir=data_dir),
                            demo=DemoSettings(enabled=False))
    rt = Runtime.start(settings, poll=False)
    try:
        from feeds.poller import Poller
        Poller(settings, rt.store, rt.feeds).run_feed(rt.feeds[0], force=True)   # the area tree
        t = time.perf_counter()
        sensors = make_sensors(n, seed=1, areas_dir=DEMO_AREAS if (DEMO_AREAS / "areas.geojson").exists() else None)
        recs = [dict(r, updated_at="2026-01-01T00:00:00Z") for r in sensors.drop(columns=["main_id", "seq"])
                .to_dict("records")]
        rt.store.dataset("sensors").upsert(recs)
        print(f"{n:,} sensors generated and stored in {time.perf_counter() - t:.1f} s")
        base, srv = serve(rt)
        got = [requests.get(f"{base}/api/alarms/sensors.geojson?network={net}", stream=True)
               for net in ("gas", "water", "heating")]
        geo = sum(len(r.raw.read()) for r in got)                      # bytes on the wire (gzip)
        raw = sum(len(requests.get(r.url).content) for r in got)      # decoded
        d = browser()
        try:
            d.get(base + "/alarms")
            wait_for(d, ".sensor-cluster")
            first = d.execute_script(
                "return performance.now() - 0")  # ms since navigation start, when the first cluster is drawn
            time.sleep(2)
            sent = d.execute_script(
                "var n = performance.getEntriesByType('navigation')[0];"
                "return (n ? n.transferSize : 0) + performance.getEntriesByType('resource')"
                ".reduce(function (s, e) { return s + (e.transferSize || e.encodedBodySize || 0); }, 0);")
            print(f"map at {n:,} sensors: time to first render {first / 1000:.2f} s; page transferred "
                  f"{sent / 1e6:.2f} MB, of which sensors GeoJSON {geo / 1e6:.2f} MB ({raw / 1e6:.2f} MB decoded)")
        finally:
            d.quit()
            srv.shutdown()
    finally:
        rt.close()


def bench_latency(n_alarms: int, data_dir: str) -> None:
    server, url = start_sensor_simulator(seed=5)
    feeds = sensor_demo_feeds(url)
    settings = with_changes(load_settings(None, env={}), store=StoreSettings(data_dir=data_dir), feeds=feeds)
    rt = Runtime.start(settings, poll=True)
    base, srv = serve(rt)
    d = browser()
    raised, started = [], []
    try:
        d.get(base + "/alarms")
        wait_for(d, ".alarm-grid", 60)
        gas = server.sensors[(server.sensors["network"] == "gas") & (server.sensors["kind"] == "gas_concentration")]
        for sid in gas["sensor_id"].iloc[10:10 + n_alarms]:
            t_start = time.time()
            requests.post(f"{url}/_control/incident", params={"sensor": sid, "level": 1, "minutes": 30})
            wait_for(d, f'{ROWS}[row-id^="{sid}/"]', 180)
            shown = time.time()
            alarm = next(a for a in rt.store.dataset("alarms").all()[1] if a["sensor_id"] == sid)
            at = datetime.fromisoformat(alarm["raised_at"]).timestamp()
            raised.append(shown - at)
            started.append(shown - t_start)
            print(f"  {sid}: raised → shown {shown - at:.1f} s (incident start → shown {shown - t_start:.1f} s)")
        print(f"median delay simulator raising an alarm → browser showing it: {statistics.median(raised):.1f} s "
              f"(incident start → shown {statistics.median(started):.1f} s; n={len(raised)})")
    finally:
        d.quit()
        srv.shutdown()
        rt.close()
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=50_000)
    ap.add_argument("--alarms", type=int, default=5)
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_map(args.sensors, str(Path(tmp) / "map"))
        if not args.skip_latency:
            bench_latency(args.alarms, str(Path(tmp) / "latency"))


if __name__ == "__main__":
    main()

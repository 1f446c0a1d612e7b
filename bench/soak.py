"""Soak: the console left running with viewers on it, and the night's faults. Not a test: a
script that prints figures (run it by hand; nothing here is asserted).

    python bench/soak.py --minutes 15 [--viewers 20] [--speed 10] [--out soak.json]

What runs, all on 127.0.0.1:
- Debian's `redis-server` with AOF (`appendfsync everysec`), the console's store;
- the demo upstream (`cityops simulate --sensor-port`) at `--speed` × real time, as its own
  process so it can go down: tickets (Open311 + canonical JSON Lines) and the sensor platform
  (utility JSON, FIWARE, SensorThings, responders) whose out-of-range readings raise alarms;
- the console (`cityops run`) reading it through the same feeds as the demo mode;
- headless Chromium with the wall open (1920×1080), left alone for the whole run;
- `--viewers` simulated viewers: HTTP clients replaying the wall's own callback requests
  (recorded from the browser) every page refresh, like more walls and desks.

The console and the upstream run with their clocks shifted (`bench/soak_clock.py`) so the
city's local midnight falls at `--midnight-at` of the run: "today" rolls over on the open
wall. At `--redis-restart-at` the Redis is killed (SIGKILL) and started again on its AOF;
at `--outage-at` the upstream stops for `--outage-s` seconds.

Each minute it samples: the browser's JS heap and DOM nodes (CDP `Performance.getMetrics`
and `performance.memory`), the RSS and open file descriptors of every process (console,
upstream, redis-server, Chromium's processes), Redis `used_memory`, the viewers' request
errors (HTTP ≥ 500, other non-2xx, exceptions) and callback latencies (p50/p95), the
browser console's errors, whether the wall shows the store banner, the open alarms and the
feeds not "ok" (`/api/v1/alarms`, `/api/v1/feeds`). It prints one line a
minute, then the growth from the end of the warm-up to the end, latency drift (first vs
last third) and what was seen at each fault. `--out` writes every sample as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
RECORDER_JS = """
if (!window.__cbBodies) {
  window.__cbBodies = [];
  const orig = window.fetch;
  window.fetch = function (url, opts) {
    if (String(url).indexOf('_dash-update-component') >= 0 && opts && opts.body) {
      window.__cbBodies.push(opts.body);
    }
    return orig.apply(this, arguments);
  };
}
"""
PROBE_JS = """
var b = document.getElementById('store-banner');
var tile = document.querySelector('[id*="\\\\"metric\\\\":\\\\"received\\\\""][class*="tile-value"]');
return {banner: !!(b && !b.hidden), banner_text: b ? b.innerText : '', received: tile ? tile.innerText : null,
        nodes: document.getElementsByTagName('*').length,
        heap: (performance.memory || {}).usedJSHeapSize || null};
"""


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {type(v).__name__}")


def toml_table(d: dict) -> str:
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in d.items() if v is not None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float, ok=lambda r: r.status_code < 500) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ok(requests.get(url, timeout=5)):
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"soak: {url} did not come up in {timeout_s:.0f} s")


class RedisServer:
    def __init__(self, workdir: Path):
        self.port, self.dir = free_port(), workdir
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "everysec"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                time.sleep(0.1)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


class Viewers:
    """N threads, each replaying the wall's callback requests once a refresh."""

    def __init__(self, base: str, bodies: list[str], n: int, refresh_s: float):
        self.base, self.bodies, self.refresh_s = base, bodies, refresh_s
        self.lock = threading.Lock()
        self.samples: list[tuple[float, float, str]] = []    # (t, latency s, outcome)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(n)]

    def start(self) -> None:
        for i, t in enumerate(self.threads):
            t.start()
            time.sleep(self.refresh_s / len(self.threads))   # spread over a refresh

    def run(self, i: int) -> None:
        s = requests.Session()
        headers = {"Content-Type": "application/json", "Origin": self.base}
        while not self.stop.is_set():
            t_round = time.monotonic()
            for body in self.bodies:
                t0 = time.monotonic()
                try:
                    r = s.post(f"{self.base}/_dash-update-component", data=body.encode("utf-8"),
                               headers=headers, timeout=60)
                    outcome = "ok" if r.status_code in (200, 204) else \
                        ("5xx" if r.status_code >= 500 else f"http{r.status_code}")
                except Exception as exc:  # noqa: BLE001 - counted, the viewer goes on
                    outcome = "exc:" + type(exc).__name__
                with self.lock:
                    self.samples.append((time.time(), time.monotonic() - t0, outcome))
            self.stop.wait(max(0.0, self.refresh_s - (time.monotonic() - t_round)))

    def take(self) -> list[tuple[float, float, str]]:
        with self.lock:
            out, self.samples = self.samples, []
        return out


def tree_rss_fds(proc: psutil.Process) -> tuple[int, int]:
    rss = fds = 0
    for p in [proc] + proc.children(recursive=True):
        try:
            rss += p.memory_info().rss
            fds += p.num_fds()
        except psutil.Error:
            pass
    return rss, fds


def chromium_rss() -> int:
    total = 0
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            if "chromium" in (p.info["name"] or "") and "--soak-marker" in cmd:
                total += p.memory_info().rss
            elif "chrom" in (p.info["name"] or "") and "soak-profile" in cmd:
                total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def browser(url: str, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1920,1080", "--enable-precise-memory-info", f"--user-data-dir={profile}",
              "--soak-marker"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    d.get(url)
    d.execute_cdp_cmd("Performance.enable", {})
    return d


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--speed", type=float, default=10)
    ap.add_argument("--history-days", type=int, default=30)
    ap.add_argument("--refresh-s", type=float, default=5)
    ap.add_argument("--timezone", default="Asia/Shanghai")
    ap.add_argument("--midnight-at", type=float, default=0.3, help="fraction of the run")
    ap.add_argument("--redis-restart-at", type=float, default=0.5)
    ap.add_argument("--redis-down-s", type=float, default=5)
    ap.add_argument("--outage-at", type=float, default=0.7)
    ap.add_argument("--outage-s", type=float, default=60)
    ap.add_argument("--warmup-min", type=float, default=3)
    ap.add_argument("--out", help="write every sample as JSON here")
    args = ap.parse_args()
    # SIGTERM (and SIGINT, which a shell's background job ignores) stop it through `finally`:
    # nothing is left running
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))

    work = Path(tempfile.mkdtemp(prefix="cityops-soak-"))
    duration = args.minutes * 60
    procs: list[subprocess.Popen] = []
    log_files = []
    driver = None
    viewers = None
    rs = RedisServer(work)
    try:
        # clocks shifted so the city's local midnight falls at --midnight-at of the run
        tz = ZoneInfo(args.timezone)
        t_mid_real = datetime.now(timezone.utc) + timedelta(seconds=60 + duration * args.midnight_at)
        local = t_mid_real.astimezone(tz)
        next_midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        offset_s = (next_midnight - local).total_seconds()
        env = dict(os.environ, PYTHONPATH=str(ROOT), SOAK_CLOCK_OFFSET_S=str(offset_s),
                   CITYOPS_LOG_LEVEL="INFO")
        env.pop("REDIS_URL", None)
        env.pop("CITYOPS_CONFIG", None)
        sim_port, sensor_port, port = free_port(), free_port(), free_port()
        (work / "sim.toml").write_text(f"[demo]\nspeed = {args.speed}\nhistory_days = {args.history_days}\n"
                                       f"[city]\ntimezone = \"{args.timezone}\"\n")
        base_sim = f"http://127.0.0.1:{sim_port}"
        base_sensors = f"http://127.0.0.1:{sensor_port}"

        def start_sim() -> subprocess.Popen:
            f = open(work / "sim.log", "a")
            log_files.append(f)
            p = subprocess.Popen([PY, str(ROOT / "bench" / "soak_clock.py"), "simulate", "--port", str(sim_port),
                                  "--sensor-port", str(sensor_port), "--config", str(work / "sim.toml")],
                                 env=env, stdout=f, stderr=subprocess.STDOUT)
            wait_http(f"{base_sim}/open311/v2/services.json", 120)
            wait_http(f"{base_sensors}/responders.json", 120)
            return p
        sim = start_sim()
        procs.append(sim)
        # the sensor platform's feeds exactly as the demo mode reads them (utility JSON, FIWARE,
        # SensorThings, responders)
        sys.path.insert(0, str(ROOT))
        from feeds.demo.sensors.http import demo_feed_specs
        sensor_feeds = "".join(f"[[feeds]]\n{toml_table(spec)}\n" for spec in demo_feed_specs(base_sensors))
        (work / "console.toml").write_text(f"""
[city]
timezone = "{args.timezone}"
[server]
port = {port}
refresh_s = {args.refresh_s}
[store]
redis_url = "redis://127.0.0.1:{rs.port}/0"
data_dir = "{work / 'var'}"
[[feeds]]
name = "hotline-12345"
kind = "tickets"
format = "canonical"
url = "{base_sim}/canonical/tickets.jsonl"
updated_since_param = "updated_since"
page_limit = 20000
interval_s = 3
timeout_s = 30
[[feeds]]
name = "city-app-open311"
kind = "tickets"
format = "open311"
url = "{base_sim}/open311/v2"
interval_s = 5
timeout_s = 30
lookback_days = {min(args.history_days, 30)}
{sensor_feeds}""")
        clog = open(work / "console.log", "w")
        log_files.append(clog)
        console = subprocess.Popen([PY, str(ROOT / "bench" / "soak_clock.py"), "run", "--config",
                                    str(work / "console.toml")], env=env, stdout=clog, stderr=subprocess.STDOUT)
        procs.append(console)
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/healthz", 300,
                  ok=lambda r: r.status_code == 200 and r.json().get("versions", {}).get("tickets", 0) > 0)
        print(f"soak: console {base}, upstream {base_sim}, redis :{rs.port}, clock +{offset_s / 3600:.2f} h "
              f"(local midnight at {args.midnight_at:.0%} of the run), work dir {work}", flush=True)

        driver = browser(base + "/", work / "soak-profile")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r = driver.execute_script(PROBE_JS)
            if r["received"] not in (None, "—", ""):
                break
            time.sleep(1)
        driver.execute_script(RECORDER_JS)
        time.sleep(args.refresh_s * 2.5)
        # the latest request of each callback: what one wall sends per refresh
        latest = {json.loads(b).get("output", ""): b for b in driver.execute_script("return window.__cbBodies")}
        bodies = list(latest.values())
        print(f"soak: the wall's {len(bodies)} callbacks recorded for the viewers: "
              f"{sorted(k[:50] for k in latest)}", flush=True)
        viewers = Viewers(base, bodies, args.viewers, args.refresh_s)
        viewers.start()

        t0 = time.monotonic()
        # the city's local midnight on the shifted clocks: the real instant t_mid_real
        events = {"midnight": t0 + (t_mid_real - datetime.now(timezone.utc)).total_seconds(),
                  "redis_restart": t0 + duration * args.redis_restart_at,
                  "outage": t0 + duration * args.outage_at}
        done: dict[str, float] = {}
        seen: list[dict] = []            # banner / tile transitions, with times
        last_probe: dict = {}
        samples: list[dict] = []
        next_sample = t0 + 60
        outage_end = redis_back = None
        cons = psutil.Process(console.pid)
        rclient = redis.Redis(port=rs.port, socket_timeout=2)
        console_errors_total = 0
        print(f"{'min':>4} {'cons RSS':>9} {'sim RSS':>8} {'redis RSS':>9} {'redis mem':>9} {'chrome':>8} "
              f"{'heap':>7} {'nodes':>6} {'fds':>5} {'reqs':>6} {'5xx':>4} {'other':>5} {'exc':>4} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'brw err':>7} banner   today alarms  feeds not ok", flush=True)
        while time.monotonic() - t0 < duration:
            now = time.monotonic()
            for name, at in events.items():
                if name not in done and now >= at:
                    done[name] = now - t0
                    if name == "redis_restart":
                        rs.kill()
                        redis_back = time.monotonic() + args.redis_down_s
                        seen.append({"t": now - t0, "event": "redis killed (SIGKILL)"})
                    elif name == "outage":
                        sim.terminate()
                        sim.wait(30)
                        outage_end = time.monotonic() + args.outage_s
                        seen.append({"t": now - t0, "event": "upstream stopped"})
                    else:
                        seen.append({"t": now - t0, "event": "local midnight (shifted clock)"})
            if redis_back and time.monotonic() >= redis_back:
                rs.start()
                redis_back = None
                seen.append({"t": time.monotonic() - t0, "event": "redis started again on its AOF"})
            if outage_end and time.monotonic() >= outage_end:
                sim = start_sim()
                procs.append(sim)
                outage_end = None
                seen.append({"t": time.monotonic() - t0, "event": "upstream back"})
            try:
                probe = driver.execute_script(PROBE_JS)
            except Exception as exc:  # noqa: BLE001 - record, keep soaking
                probe = {"error": str(exc)[:100]}
            for k in ("banner", "received"):
                if probe.get(k) != last_probe.get(k):
                    seen.append({"t": round(time.monotonic() - t0, 1), k: probe.get(k),
                                 **({"text": probe.get("banner_text")} if k == "banner" else {})})
            last_probe = probe
            if time.monotonic() >= next_sample:
                next_sample += 60
                reqs = viewers.take()
                lat = [x[1] * 1000 for x in reqs if x[2] == "ok"]
                try:
                    metrics = {m["name"]: m["value"] for m in
                               driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
                    logs = driver.get_log("browser")
                except Exception:  # noqa: BLE001
                    metrics, logs = {}, []
                brw_err = [e for e in logs if e.get("level") == "SEVERE"]
                crss, cfds = tree_rss_fds(cons)
                try:
                    srss = psutil.Process(sim.pid).memory_info().rss
                except psutil.Error:
                    srss = 0
                try:
                    rproc = psutil.Process(rs.proc.pid)
                    rrss, rfds = rproc.memory_info().rss, rproc.num_fds()
                    rmem = int(rclient.info("memory")["used_memory"])
                except (psutil.Error, redis.RedisError):
                    rrss = rfds = rmem = 0
                try:
                    alarms = len(requests.get(f"{base}/api/v1/alarms", timeout=30).json()["alarms"])
                    feeds = requests.get(f"{base}/api/v1/feeds", timeout=30).json()["feeds"]
                    feeds_not_ok = sorted(f"{f.get('name')}:{f.get('state')}" for f in feeds
                                          if f.get("state") not in ("ok",))
                except (requests.RequestException, ValueError, KeyError):
                    alarms, feeds_not_ok = None, ["api unreachable"]
                text = (work / "console.log").read_text(errors="replace")
                console_errors = text.count("Traceback") + text.count(" ERROR ")
                s = {"minute": round((time.monotonic() - t0) / 60, 1), "console_rss": crss, "console_fds": cfds,
                     "sim_rss": srss, "redis_rss": rrss, "redis_fds": rfds, "redis_used_memory": rmem,
                     "chromium_rss": chromium_rss(), "js_heap": metrics.get("JSHeapUsedSize") or probe.get("heap"),
                     "dom_nodes": metrics.get("Nodes"), "dom_elements": probe.get("nodes"),
                     "requests": len(reqs), "http_5xx": sum(x[2] == "5xx" for x in reqs),
                     "http_other": sum(x[2].startswith("http") for x in reqs),
                     "exceptions": sum(x[2].startswith("exc") for x in reqs),
                     "p50_ms": pct(lat, 0.5), "p95_ms": pct(lat, 0.95), "browser_errors": len(brw_err),
                     "browser_error_samples": [e.get("message", "")[:200] for e in brw_err[:3]],
                     "console_log_errors": console_errors - console_errors_total,
                     "banner": probe.get("banner"), "today_received": probe.get("received"),
                     "open_alarms": alarms, "feeds_not_ok": feeds_not_ok}
                console_errors_total = console_errors
                samples.append(s)
                mb = lambda b: f"{(b or 0) / 2**20:7.0f}M"  # noqa: E731
                print(f"{s['minute']:4.0f} {mb(s['console_rss']):>9} {mb(s['sim_rss']):>8} {mb(s['redis_rss']):>9} "
                      f"{mb(s['redis_used_memory']):>9} {mb(s['chromium_rss']):>8} {mb(s['js_heap']):>7} "
                      f"{s['dom_nodes'] or 0:6.0f} {s['console_fds']:5d} {s['requests']:6d} {s['http_5xx']:4d} "
                      f"{s['http_other']:5d} {s['exceptions']:4d} {s['p50_ms'] or 0:7.0f} {s['p95_ms'] or 0:7.0f} "
                      f"{s['browser_errors']:7d} {'yes' if s['banner'] else 'no ':>6}  {s['today_received']:>6} "
                      f"{s['open_alarms'] if s['open_alarms'] is not None else '—':>6}  {','.join(feeds_not_ok)}",
                      flush=True)
            time.sleep(1)
        report(samples, seen, args)
        t_stop = time.monotonic()
        console.send_signal(signal.SIGTERM)
        console.wait(60)
        print(f"console stopped {time.monotonic() - t_stop:.1f} s after SIGTERM (exit {console.returncode})")
        if args.out:
            Path(args.out).write_text(json.dumps({"args": vars(args), "samples": samples, "seen": seen}, indent=1))
    finally:
        if viewers:
            viewers.stop.set()
        if driver:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                pass
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
        rs.stop()
        for f in log_files:
            f.close()
    return 0


def report(samples: list[dict], seen: list[dict], args) -> None:
    if not samples:
        print("no samples")
        return
    warm = [s for s in samples if s["minute"] >= args.warmup_min] or samples
    first, last = warm[0], samples[-1]

    def growth(key: str) -> str:
        a, b = first.get(key) or 0, last.get(key) or 0
        return f"{a / 2**20:.0f} → {b / 2**20:.0f} MB ({(b - a) / a * 100:+.1f} %)" if a else "—"

    def count_growth(key: str) -> str:
        a, b = first.get(key) or 0, last.get(key) or 0
        return f"{a:.0f} → {b:.0f} ({(b - a) / a * 100:+.1f} %)" if a else "—"
    print(f"\ngrowth from minute {first['minute']:.0f} (after warm-up) to minute {last['minute']:.0f}:")
    for key in ("console_rss", "sim_rss", "redis_rss", "redis_used_memory", "chromium_rss", "js_heap"):
        print(f"  {key:18} {growth(key)}")
    for key in ("dom_nodes", "dom_elements", "console_fds", "redis_fds"):
        print(f"  {key:18} {count_growth(key)}")
    third = max(1, len(warm) // 3)
    p50a = statistics.median([s["p50_ms"] for s in warm[:third] if s["p50_ms"]] or [0])
    p50b = statistics.median([s["p50_ms"] for s in warm[-third:] if s["p50_ms"]] or [0])
    p95a = statistics.median([s["p95_ms"] for s in warm[:third] if s["p95_ms"]] or [0])
    p95b = statistics.median([s["p95_ms"] for s in warm[-third:] if s["p95_ms"]] or [0])
    print(f"  callback latency   p50 {p50a:.0f} → {p50b:.0f} ms, p95 {p95a:.0f} → {p95b:.0f} ms "
          f"(median of the first vs last third of the minutes after warm-up)")
    tot = lambda k: sum(s[k] for s in samples)  # noqa: E731
    print(f"  requests {tot('requests')}, HTTP 5xx {tot('http_5xx')}, other non-2xx {tot('http_other')}, "
          f"exceptions {tot('exceptions')}, browser console errors {tot('browser_errors')}, "
          f"console log errors/tracebacks {tot('console_log_errors')}")
    print("seen on the wall (t in s from the start of the soak):")
    for e in seen:
        print("  ", json.dumps(e, ensure_ascii=False))


if __name__ == "__main__":
    sys.exit(main())

"""Everything one console process owns: the store connection, the poller, the demo city.

`Runtime.start(settings)` opens the store (external `REDIS_URL`, or an embedded Redis
owned by this process), starts the demo upstream when no real feed is configured, and
starts the poller (which polls only while it holds the lease). `close()` stops all of it
in reverse order and shuts the embedded Redis down: nothing is left running.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from datetime import datetime, timezone

from dashboard.queries import Queries
from dashboard.store.redis_server import EmbeddedRedis, connect, persistence
from dashboard.config.settings import FeedSettings, Settings
from dashboard.store import Store
from dashboard.store.store_watch import STORE_ERRORS, StoreWatch
from feeds.poller import Poller

log = logging.getLogger(__name__)


def area_feed(settings: Settings) -> FeedSettings:
    from feeds.areas.feed import area_paths

    csv_path, _ = area_paths(settings.areas)
    return FeedSettings(name="areas", kind="areas", format="files", path=str(csv_path),
                        interval_s=30, stale_after_s=86400 * 30, dead_after_s=86400 * 60)


def demo_feeds(base_url: str) -> list[FeedSettings]:
    """The feeds of the simulated city, read through the same adapters as real ones."""
    return [
        FeedSettings(name="hotline-12345", kind="tickets", format="canonical",
                     url=f"{base_url}/canonical/tickets.jsonl", updated_since_param="updated_since",
                     page_limit=20000, interval_s=3, timeout_s=30, stale_after_s=60, dead_after_s=300),
        FeedSettings(name="city-app-open311", kind="tickets", format="open311",
                     url=f"{base_url}/open311/v2", interval_s=5, timeout_s=30,
                     stale_after_s=60, dead_after_s=300),
    ]


def demo_industry_feed(settings: Settings) -> FeedSettings:
    """The demo's enterprises: the simulator's CSV in a drop folder, read like a real one."""
    from pathlib import Path

    from feeds.demo.industry import simulate_industry, to_csv_bytes

    folder = Path(settings.store.data_dir) / "demo" / "industry-drop"
    target = folder / "enterprises.csv"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(to_csv_bytes(simulate_industry(seed=settings.demo.seed)))
        tmp.rename(target)
    return FeedSettings(name="industry-demo", kind="industry", format="canonical", path=str(folder),
                        interval_s=60, stale_after_s=86400 * 120, dead_after_s=86400 * 400)


class Runtime:
    def __init__(self, settings: Settings, store: Store, embedded: EmbeddedRedis | None,
                 redis_url: str, simulator=None, poller: Poller | None = None, feeds=()):
        self.settings, self.store, self.embedded, self.redis_url = settings, store, embedded, redis_url
        self.simulator, self.poller, self.feeds = simulator, poller, list(feeds)
        self.sensor_simulator = None   # the demo sensor platform (alarms), see _start_sensor_simulator
        self.queries = Queries(store, settings)
        self._closed = False
        self._stop = threading.Event()
        self._warmer: threading.Thread | None = None
        self._store_status: tuple[float, dict] | None = None
        self.watch = StoreWatch()      # is the store reachable (pages, API, poller of this process)

    def store_status(self, max_age_s: float = 30.0) -> dict:
        """The store's kind and persistence (`redis_server.persistence`), read at most every
        `max_age_s`: for the start log, `/healthz`, `/health` and the API's feed health."""
        import time

        now = time.monotonic()
        if self._store_status and now - self._store_status[0] < max_age_s and self.watch.reachable:
            return dict(self._store_status[1], **self._reachability())
        try:
            status = {"kind": "embedded" if self.embedded else "external", **persistence(self.store.r)}
        except STORE_ERRORS as exc:
            self.watch.failed(exc)
            last = self._store_status[1] if self._store_status else {
                "kind": "embedded" if self.embedded else "external", "mode": "unknown", "durable": None,
                "warning": None}
            return dict(last, **self._reachability())
        self.watch.ok()
        self._store_status = (now, status)
        return dict(status, **self._reachability())

    def _reachability(self) -> dict:
        from datetime import datetime, timezone

        st = self.watch.state()
        since = st["since"]
        return {"reachable": st["reachable"],
                "unreachable_since": None if since is None else
                datetime.fromtimestamp(since, timezone.utc).isoformat(timespec="microseconds")}

    def check_persistence(self) -> dict:
        """Read the store's persistence now and say plainly in the log if data is at risk."""
        status = self.store_status(max_age_s=0)
        if status["warning"]:
            log.warning("store: %s", status["warning"])
        else:
            log.info("store: %s Redis persists every write (appendonly %s, appendfsync %s, save '%s')",
                     status["kind"], status["appendonly"], status["appendfsync"], status["save"])
        return status

    def keep_warm(self, every_s: float = 2.0) -> None:
        """Refresh what this process holds of the tickets in the background (the wall's cut;
        the whole frame once a page has loaded it), so a page callback never waits for a
        large delta (each refresh is one GET when idle)."""
        def loop():
            while not self._stop.wait(every_s):
                try:
                    self.queries.warm(datetime.now(timezone.utc))
                    self.watch.ok()
                except STORE_ERRORS as exc:   # the store is away: logged once by the watch
                    self.watch.failed(exc)
                except Exception as exc:  # noqa: BLE001 - keep warming
                    log.debug("warm-up: %s", exc)
        self._warmer = threading.Thread(target=loop, name="cityops-warm", daemon=True)
        self._warmer.start()

    @classmethod
    def start(cls, settings: Settings, poll: bool = True, upstreams: bool = True) -> "Runtime":
        """Open the store; with `upstreams`, start the demo city's simulated upstreams (demo
        mode); with `poll`, the poller. A web worker under gunicorn starts neither: it only
        reads the store (the demo's upstreams and poller run in `cityops poll`)."""
        embedded = None
        url = settings.store.redis_url
        if not url:
            embedded = EmbeddedRedis(settings.store.data_dir)
            url = embedded.url
        rt = cls(settings, Store(connect(url, cluster=settings.store.cluster), settings.store.namespace), embedded, url)
        try:
            rt.store.ping()
            rt.check_persistence()
            feeds = [area_feed(settings)] + list(settings.feeds)
            if settings.demo_mode and upstreams:
                rt.simulator = _start_simulator(settings)
                feeds += demo_feeds(rt.simulator.base_url)
                rt.sensor_simulator = _start_sensor_simulator(settings, rt.store)
                feeds += sensor_demo_feeds(rt.sensor_simulator.base_url)
                feeds.append(demo_industry_feed(settings))
            rt.feeds = feeds
            # a web worker in demo mode does not know the demo feeds (`cityops poll` makes
            # them): it shows every feed the store has heard of
            rt.queries.feed_names = {f.name for f in feeds} if upstreams or not settings.demo_mode else None
            rt.queries.feed_kinds = {f.name: f.kind for f in feeds}
            if poll:
                rt.poller = Poller(settings, rt.store, feeds)
                rt.poller.watch = rt.watch
                rt.poller.start()
        except BaseException:
            rt.close()
            raise
        return rt

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        log.info("stopping: poller, upstreams, store")
        self._stop.set()
        if self._warmer:
            self._warmer.join(timeout=2)
        for step in (self._stop_poller, self._stop_simulator, self._stop_redis):
            try:
                step()
                log.debug("stopped: %s", step.__name__)
            except Exception as exc:  # noqa: BLE001 - keep closing the rest
                log.warning("shutdown step %s: %s", step.__name__, exc)

    def _stop_poller(self) -> None:
        if self.poller:
            self.poller.stop()

    def _stop_simulator(self) -> None:
        if self.simulator:
            self.simulator.stop()
        if self.sensor_simulator:
            self.sensor_simulator.stop()

    def _stop_redis(self) -> None:
        try:
            self.store.r.close()
        finally:
            if self.embedded:
                self.embedded.close()


def start_demo_tickets(settings: Settings, port: int = 0):
    """The demo ticket upstream (`cityops simulate`, and the demo mode): (server, base URL)."""
    from feeds.demo.tickets import start_simulator

    return start_simulator(seed=settings.demo.seed, history_days=settings.demo.history_days,
                           speed=settings.demo.speed, port=port)


def _start_simulator(settings: Settings):
    server, _url = start_demo_tickets(settings)
    return server


# ---- the demo sensor platform (issue 4: the alarm map) ------------------------------------
def sensor_demo_feeds(base_url: str) -> list[FeedSettings]:
    """The demo sensor feeds, validated like [[feeds]] entries: water as the utility's JSON,
    gas as FIWARE, heating as SensorThings (its Datastreams, sensors and positions discovered
    by the feed from the platform's Datastreams, Things and Locations), so every sensor is read
    by exactly one feed; and the responders."""
    from dashboard.config.schema import build
    from feeds.demo.sensors.http import demo_feed_specs

    return [build(FeedSettings, spec, f"feeds.{spec['name']}") for spec in demo_feed_specs(base_url)]


def start_demo_sensors(settings: Settings, port: int = 0):
    """The demo sensor platform at the demo's speed (`cityops simulate --sensor-port`, and the
    demo mode): (server, base URL)."""
    from feeds.demo.sensors.http import start_sensor_simulator
    from feeds.demo.tickets import accelerated_clock, system_clock

    clock = system_clock if settings.demo.speed == 1 else \
        accelerated_clock(system_clock(), settings.demo.speed, real=system_clock)
    return start_sensor_simulator(seed=settings.demo.seed, clock=clock, port=port)


def _start_sensor_simulator(settings: Settings, store: Store):
    """Start the simulated sensor platform; on an empty store, write a few days of past alarms."""
    from feeds.demo.sensors.alarm_history import history_alarms

    server, _url = start_demo_sensors(settings)
    if store.dataset("alarms").count() == 0:
        past = history_alarms(server.sensors, server.clock(), days=5, seed=settings.demo.seed, rules=settings.alarms)
        store.dataset("alarms").upsert(past)
        for a in past:   # the sensors of still-active past alarms keep reading out of range
            if a["status"] != "resolved":
                server.incident(a["sensor_id"], a["level"], minutes=240)
    return server


def install_signal_handlers() -> None:
    """SIGTERM behaves like Ctrl-C, so `finally` blocks run and nothing is left behind."""
    if threading.current_thread() is not threading.main_thread():
        return

    def _again(signum, frame):     # a second signal must not cut the shutdown short
        log.info("signal %s: already stopping", signum)

    def _raise(signum, frame):
        signal.signal(signal.SIGTERM, _again)
        signal.signal(signal.SIGINT, _again)
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _raise)
    # a shell starts background jobs with SIGINT ignored; Ctrl-C must always stop us
    signal.signal(signal.SIGINT, _raise)


def exit_after_close(code: int = 0) -> None:
    """After `Runtime.close()`: exit now if a worker thread is still blocked (a request to a
    slow upstream in flight, abandoned by the poller) — the interpreter would otherwise wait
    for it at exit. Everything that writes is stopped by then; logs are flushed first."""
    import os
    import sys

    import time
    from concurrent.futures import thread as pool_threads

    def blocked() -> list[str]:
        # non-daemon threads, and pool workers (the scheduler's; daemon threads that
        # concurrent.futures still joins at exit)
        pool = set(getattr(pool_threads, "_threads_queues", {}))
        return [t.name for t in threading.enumerate()
                if t is not threading.current_thread() and t.is_alive() and (not t.daemon or t in pool)]
    deadline = time.monotonic() + 0.5          # idle pool workers leave as soon as they are told
    while blocked() and time.monotonic() < deadline:
        time.sleep(0.05)
    stuck = blocked()
    if not stuck:
        return
    log.info("exiting without waiting for %d blocked thread(s): %s", len(stuck), ", ".join(stuck[:5]))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


__all__ = ["Runtime", "demo_feeds", "exit_after_close", "install_signal_handlers", "replace"]

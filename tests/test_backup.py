"""`cityops backup` / `cityops restore`: a consistent copy of the store and the audit files,
round trip on both real Redis kinds (embedded Redis 6 and Debian's Redis 7), counts equal."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.store.backup import snapshot, store_counts
from dashboard.store.redis_server import EmbeddedRedis, connect
from dashboard.store import Store
from tests.conftest import REPO
from tests.redis_procs import AOF_ON, redis_proc, servers_on  # noqa: F401 - fixture

NS = "cityops"


def cli(*args: str, redis_url: str = "", data_dir: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    base = dict(os.environ, PYTHONPATH=str(REPO), CITYOPS_DATA_DIR=str(data_dir))
    base.pop("CITYOPS_CONFIG", None)
    base.pop("REDIS_URL", None)
    if redis_url:
        base["REDIS_URL"] = redis_url
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "dashboard.app.cli", *args], env=base, capture_output=True,
                          text=True, timeout=120)


def fill(store: Store, data_dir: Path) -> None:
    """A store as a console leaves it: tickets, alarms acknowledged, audit, health, rejects."""
    tickets = [{"ticket_id": f"T{i:05d}", "updated_at": f"2026-12-01T{i % 24:02d}:00:00.{i:06d}Z",
                "status": "registered", "title": "路灯不亮 · \u00e9"} for i in range(3000)]
    store.tickets.upsert(tickets)
    store.tickets.upsert([dict(tickets[0], updated_at="2026-12-02T00:00:00Z", status="closed")])
    store.dataset("alarms").upsert([{"alarm_id": f"A{i}", "updated_at": "2026-12-01T10:00:00Z",
                                     "status": "acknowledged", "acknowledged_by": "王工"} for i in range(208)])
    for i in range(5):
        store.audit({"who": "王工", "what": "acknowledge", "alarm_id": f"A{i}"})
    store.put_health("hotline-12345", {"ok": True, "last_success": 1.5})
    store.add_rejects("hotline-12345", [{"reason": "bad", "excerpt": "{…}"}], keep=10)
    store.put_feed_state("hotline-12345", {"cursor": ["2026-12-01T00:00:00Z", "T1"]})
    store.r.sadd(f"{NS}:feed:hotline-12345:open", "T00001", "T00002")
    store.r.set(f"{NS}:binary", bytes(range(256)))
    store.r.set(f"{NS}:expiring", "x", px=600_000)
    store.r.set(f"{NS}:cache:view:abc", "derived")         # left out: recomputed on demand
    (data_dir / "audit.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(7)))
    (data_dir / "audit").mkdir(exist_ok=True)
    (data_dir / "audit" / "audit-2026-11.jsonl.gz").write_bytes(gzip.compress(b'{"n":-1}\n'))


def contents(r) -> dict:
    return {e["k"]: (e["t"], e["v"]) for e in snapshot(r, NS)}   # NS: read when called


@pytest.fixture
def embedded_console(tmp_path):
    """An embedded Redis owned by 'the console' (this process) on its own data dir."""
    data_dir = tmp_path / "var-embedded"
    server = EmbeddedRedis(data_dir)
    yield server, data_dir
    server.close()


@pytest.mark.parametrize("direction", ["embedded_to_external", "external_to_embedded"])
def test_bak001_round_trip_between_the_two_real_redis_kinds(tmp_path, redis_proc, embedded_console, direction):
    embedded, emb_dir = embedded_console
    external = redis_proc(*AOF_ON)
    ext_dir = tmp_path / "var-external"
    ext_dir.mkdir()
    kinds = {"embedded": ("", emb_dir, connect(embedded.url)), "external": (external.url, ext_dir, connect(external.url))}
    src, dst = direction.split("_to_")
    s_url, s_dir, s_r = kinds[src]
    d_url, d_dir, d_r = kinds[dst]
    fill(Store(s_r, NS), s_dir)
    before = store_counts(s_r, NS)
    assert before["records"] == {"alarms": 208, "tickets": 3000} and before["audit_entries_in_store"] == 5

    out = cli("backup", str(tmp_path / "bk"), redis_url=s_url, data_dir=s_dir)
    assert out.returncode == 0, out.stderr
    manifest = json.loads(out.stdout)
    assert manifest["records"] == before["records"] and manifest["keys"] == before["keys"]
    assert set(manifest["files"]) == {"store.jsonl.gz", "audit/audit.jsonl", "audit/audit/audit-2026-11.jsonl.gz"}
    assert not any(":cache:" in json.loads(line)["k"] for line in gzip.open(tmp_path / "bk" / "store.jsonl.gz", "rt"))

    out = cli("restore", str(tmp_path / "bk"), redis_url=d_url, data_dir=d_dir)
    assert out.returncode == 0, out.stderr + out.stdout
    report = json.loads(out.stdout)
    assert report["restored"] == report["backup"] == before
    assert contents(d_r) == contents(s_r)                     # every key, every value, byte for byte
    assert 0 < d_r.pttl(f"{NS}:expiring") <= 600_000          # TTLs kept
    assert d_r.get(f"{NS}:binary") == bytes(range(256))
    assert Store(d_r, NS).dataset("alarms").get(["A7"])[0]["acknowledged_by"] == "王工"
    assert (d_dir / "audit.jsonl").read_text() == (s_dir / "audit.jsonl").read_text()
    assert (d_dir / "audit" / "audit-2026-11.jsonl.gz").read_bytes() == \
        (s_dir / "audit" / "audit-2026-11.jsonl.gz").read_bytes()
    # the datasets work after the restore: versions and change logs came along
    assert Store(d_r, NS).tickets.version() == Store(s_r, NS).tickets.version()
    assert Store(d_r, NS).tickets.changes_since(3000)[1][0]["status"] == "closed"


def test_bak002_restore_refuses_a_non_empty_store_without_force(tmp_path, redis_proc, embedded_console):
    _, emb_dir = embedded_console
    external = redis_proc(*AOF_ON)
    r = connect(external.url)
    fill(Store(r, NS), emb_dir)
    assert cli("backup", str(tmp_path / "bk"), redis_url=external.url, data_dir=emb_dir).returncode == 0
    assert cli("backup", str(tmp_path / "bk"), redis_url=external.url, data_dir=emb_dir).returncode == 2  # not empty
    Store(r, NS).dataset("alarms").upsert([{"alarm_id": "NEW", "updated_at": "2026-12-03T00:00:00Z"}])
    (emb_dir / "audit.jsonl").write_text('{"n": "later"}\n')
    out = cli("restore", str(tmp_path / "bk"), redis_url=external.url, data_dir=emb_dir)
    assert out.returncode == 2 and "already holds" in out.stderr
    assert Store(r, NS).dataset("alarms").count() == 209      # untouched
    out = cli("restore", str(tmp_path / "bk"), "--force", redis_url=external.url, data_dir=emb_dir)
    assert out.returncode == 0, out.stderr
    assert Store(r, NS).dataset("alarms").count() == 208
    kept = list(emb_dir.glob("audit.jsonl.before-restore-*"))  # the newer audit file is not destroyed
    assert len(kept) == 1 and "later" in kept[0].read_text()
    r.set(f"{NS}:lease:poller", "host:1:abc")                 # a console is polling this store
    r.delete(*[k for k in r.scan_iter(f"{NS}:*") if b"lease" not in k])
    out = cli("restore", str(tmp_path / "bk"), redis_url=external.url, data_dir=tmp_path / "other")
    assert out.returncode == 2 and "stop it first" in out.stderr


def test_bak003_a_damaged_backup_is_refused(tmp_path, redis_proc, embedded_console):
    _, emb_dir = embedded_console
    external = redis_proc(*AOF_ON)
    fill(Store(connect(external.url), NS), emb_dir)
    assert cli("backup", str(tmp_path / "bk"), redis_url=external.url, data_dir=emb_dir).returncode == 0
    other = redis_proc(*AOF_ON)
    f = tmp_path / "bk" / "store.jsonl.gz"
    f.write_bytes(f.read_bytes()[:-10])
    out = cli("restore", str(tmp_path / "bk"), redis_url=other.url, data_dir=tmp_path / "o")
    assert out.returncode == 2 and "does not match the manifest" in out.stderr
    assert store_counts(connect(other.url), NS)["keys"] == 0


def test_bak004_backup_of_a_stopped_embedded_store(tmp_path):
    """No console running: the command starts the embedded Redis on the data dir itself,
    and stops it afterwards."""
    data_dir = tmp_path / "var"
    server = EmbeddedRedis(data_dir)
    r = connect(server.url)
    fill(Store(r, NS), data_dir)
    r.close()
    assert servers_on(data_dir) == [server.pid]
    server.close()
    assert not servers_on(data_dir)
    out = cli("backup", str(tmp_path / "bk"), data_dir=data_dir)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["records"] == {"alarms": 208, "tickets": 3000}
    assert not servers_on(data_dir), "the backup left its embedded redis-server running"



def test_bak005_round_trip_through_a_redis_cluster(tmp_path, redis_proc, redis_cluster_url):
    """A 3-master cluster backed up (read a hash tag at a time: each dataset consistent in
    itself) and restored into a standalone Redis, and back into the emptied cluster."""
    from tests.conftest import _fresh_store

    ns_dir, ext_dir = tmp_path / "var-cluster", tmp_path / "var-external"
    ns_dir.mkdir()
    ext_dir.mkdir()
    with _fresh_store(redis_cluster_url) as cluster_store:
        ns = cluster_store.ns
        c = cluster_store.r
        global NS
        saved, NS = NS, ns
        try:
            fill(cluster_store, ns_dir)
            before = store_counts(c, ns)
            assert before["records"] == {"alarms": 208, "tickets": 3000}
            (tmp_path / "ns.toml").write_text(f'[store]\nnamespace = "{ns}"\n')
            env_ns = {"CITYOPS_CONFIG": str(tmp_path / "ns.toml")}
            out = cli("backup", str(tmp_path / "bk"), redis_url=redis_cluster_url, data_dir=ns_dir, env=env_ns)
            assert out.returncode == 0, out.stderr
            assert json.loads(out.stdout)["records"] == before["records"]
            external = redis_proc(*AOF_ON)
            out = cli("restore", str(tmp_path / "bk"), redis_url=external.url, data_dir=ext_dir, env=env_ns)
            assert out.returncode == 0, out.stderr + out.stdout
            e = connect(external.url)
            assert contents(e) == contents(c)
            # back into the cluster, replacing what it holds
            Store(c, ns).dataset("alarms").upsert([{"alarm_id": "NEW", "updated_at": "2026-12-03T00:00:00Z"}])
            out = cli("restore", str(tmp_path / "bk"), "--force", redis_url=redis_cluster_url, data_dir=ns_dir,
                      env=env_ns)
            assert out.returncode == 0, out.stderr + out.stdout
            assert contents(c) == contents(e)
            assert Store(c, ns).dataset("alarms").count() == 208
        finally:
            NS = saved

"""The console on a real 3-master Redis Cluster (Debian's redis-server, `redis+cluster://`):
the store's keys spread over several nodes, and a whole demo runtime polls into it and
serves the wall from it (the store, poller and views tests also run on it: `store` and
`poll_store` fixtures)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from redis.cluster import RedisCluster

from dashboard.queries.access import Viewer
from dashboard.store.redis_server import connect
from dashboard.config.settings import StoreSettings


def test_clu001_the_cluster_is_three_masters_and_the_datasets_live_on_several(redis_cluster_url):
    from tests.conftest import _fresh_store

    with _fresh_store(redis_cluster_url) as store:
        _spread(store)


def _spread(store):
    assert isinstance(store.r, RedisCluster)
    masters = [n for n in store.r.get_nodes() if n.server_type == "primary"]
    assert len(masters) == 3
    homes = {store.r.get_node_from_key(store.dataset(n).k_rec).name for n in store.DATASETS}
    homes.add(store.r.get_node_from_key(store.k_areas_body).name)
    assert len(homes) >= 2, "every key on one node proves nothing about cross-slot commands"


def test_clu002_feed_health_areas_and_datasets_on_the_cluster(redis_cluster_url):
    # health of several feeds: their keys hash to different slots (an MGET across them fails)
    from tests.conftest import _fresh_store

    with _fresh_store(redis_cluster_url) as st:
        for name in ("hotline", "city-app", "water", "gas", "heating"):
            st.put_health(name, {"ok": True, "name": name})
        assert sorted(st.health()) == ["city-app", "gas", "heating", "hotline", "water"]
        v = st.put_areas({"rows": [1]})
        assert st.areas() == (v, {"rows": [1]})
        st.tickets.upsert([{"ticket_id": "A", "updated_at": "2026-11-20T01:00:00Z"}])
        seq, records = st.tickets.all()
        assert seq == 1 and records[0]["ticket_id"] == "A"


def test_clu003_settings_name_a_cluster_by_scheme_or_flag():
    assert StoreSettings(redis_url="redis+cluster://10.0.0.5:7000").redis_url.startswith("redis+cluster")
    assert StoreSettings(redis_url="redis://10.0.0.5:7000", cluster=True).cluster
    with pytest.raises(ValueError, match="cluster"):
        StoreSettings(redis_url="unix:///tmp/r.sock", cluster=True)


def test_clu004_demo_runtime_polls_into_the_cluster_and_the_wall_reads_it(redis_cluster_url, tmp_path):
    import uuid

    from callbacks import wall
    from dashboard.app.factory import create_app
    from dashboard.app.runtime import Runtime
    from dashboard.config.settings import DemoSettings, load_settings, with_changes
    from feeds.poller import Poller

    ns = "c" + uuid.uuid4().hex[:8]
    settings = with_changes(load_settings(None, env={}),
                            store=StoreSettings(redis_url=redis_cluster_url, data_dir=str(tmp_path), namespace=ns),
                            demo=DemoSettings(history_days=2))
    rt = Runtime.start(settings, poll=False)
    try:
        assert isinstance(rt.store.r, RedisCluster)
        assert rt.store_status()["mode"] == "none"      # the test cluster keeps nothing: said so
        rt.poller = Poller(settings, rt.store, rt.feeds)
        for feed in rt.feeds:
            h = rt.poller.run_feed(feed, force=True)
            assert h["ok"], (feed.name, h.get("last_error"))
        assert rt.store.tickets.count() > 100
        create_app(rt)                        # the views memo on the cluster (RedisClusterCache)
        last = max(h["last_success"] for h in rt.queries.feed_health().values() if h.get("last_success"))
        now = datetime.fromtimestamp(last + 1, timezone.utc)
        values, classes, *_ = wall.update(1, "zh", rt, Viewer(), now)
        again, *_ = wall.update(1, "zh", rt, Viewer(), now)          # second time from the memo
        assert values == again and any(v not in ("—", "0") for v in values)
        assert all("data-ok" in c for c in classes)
        r = connect(redis_cluster_url)
        assert any(True for _ in r.scan_iter(f"{ns}:cache:*")), "views were not memoised in the cluster"
        r.close()
    finally:
        rt.close()
        r = connect(redis_cluster_url)
        for key in r.scan_iter(f"{ns}:*"):
            r.delete(key)
        r.close()

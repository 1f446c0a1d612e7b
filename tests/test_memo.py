"""The views memo (`Queries.memo`) on a real Redis: a view is computed once across processes
and threads, the others wait for its value; a computation that fails lets the next one try."""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from flask_caching import Cache

from dashboard.app.factory import cache_config
from dashboard.config.settings import load_settings
from dashboard.queries import Queries
from dashboard.queries.access import Viewer


def queries(store, url: str) -> Queries:
    """A Queries with its own cache client, as each web worker has."""
    cache = Cache(Flask(__name__), config=cache_config(url, load_settings(None, env={}).store)
                  | {"CACHE_KEY_PREFIX": f"{store.ns}:cache:"})
    return Queries(store, load_settings(None, env={}), cache)


def test_memo001_a_view_is_computed_once_while_the_others_wait(embedded_store, embedded_redis):
    workers = [queries(embedded_store, embedded_redis.url) for _ in range(6)]
    calls, got = [], []

    def compute():
        calls.append(1)
        time.sleep(0.5)                  # a slow view: the others ask meanwhile
        return {"n": 42}

    def ask(q):
        got.append(q.memo("slow", Viewer(), ("a",), compute))

    threads = [threading.Thread(target=ask, args=(q,)) for q in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert got == [{"n": 42}] * 6
    assert len(calls) == 1


def test_memo002_a_failed_computation_lets_a_waiting_one_compute(embedded_store, embedded_redis):
    first, second = (queries(embedded_store, embedded_redis.url) for _ in range(2))
    started = threading.Event()

    def failing():
        started.set()
        time.sleep(0.3)
        raise RuntimeError("store went away")

    def ask_first():
        with pytest.raises(RuntimeError):
            first.memo("flaky", Viewer(), ("b",), failing)

    t = threading.Thread(target=ask_first)
    t.start()
    started.wait(5)
    t0 = time.monotonic()
    assert second.memo("flaky", Viewer(), ("b",), lambda: "fine") == "fine"
    assert time.monotonic() - t0 < 5          # not the whole wait: the lock went with the failure
    t.join(5)

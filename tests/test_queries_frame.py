"""The tickets frame a web worker keeps (`dashboard.queries.Queries.all_tickets`), on real
Redis (embedded): loaded a chunk at a time and refreshed from the change log, it holds
exactly what a frame built from every record at once holds, its categorical columns stay
categorical, and every number computed on it is the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import dashboard.queries as dq
from dashboard.config.settings import load_settings
from dashboard.queries import Queries, concat_keeping_categories
from feeds.records import tickets_frame
from metrics import tickets as tk
from metrics.deadlines import CATEGORY_COLUMNS

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def record(i: int, **kw) -> dict:
    t = T0 + timedelta(minutes=i)
    stamp = t.isoformat().replace("+00:00", "Z")
    r = {"ticket_id": f"Q-{i:05d}", "status": "registered", "created_at": stamp, "updated_at": stamp,
         "category": "市容环境", "department": "城管局", "grid_code": None, "source": "12345", "kind": "complaint"}
    r.update(kw)
    return r


def history() -> list[dict]:
    """Chunks of 50 that differ: no rating at all in the first, ratings and another
    department later, urgencies only in the last."""
    out = [record(i) for i in range(50)]
    closed = (T0 + timedelta(hours=30)).isoformat().replace("+00:00", "Z")
    out += [record(i, status="closed", closed_at=closed, updated_at=closed, dispatched_at=closed,
                   rating=("satisfied", "basic", "dissatisfied")[i % 3], resolved="yes",
                   department="水务局" if i % 2 else "城管局") for i in range(50, 100)]
    out += [record(i, urgency=("urgent", "normal")[i % 2], category="供水") for i in range(100, 150)]
    return out


def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a = a.sort_values("ticket_id").reset_index(drop=True)
    b = b.sort_values("ticket_id").reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        assert a[c].astype(object).where(a[c].notna(), None).tolist() == \
            b[c].astype(object).where(b[c].notna(), None).tolist(), c


@pytest.fixture
def queries(embedded_store, monkeypatch):
    monkeypatch.setattr(dq, "LOAD_CHUNK", 50)
    return Queries(embedded_store, load_settings(None, env={}))


def test_qf001_chunked_load_and_refresh_equal_one_frame(queries, embedded_store):
    recs = history()
    embedded_store.tickets.upsert(recs)
    got = queries.all_tickets()
    want = queries._prepare(recs, queries.tree())
    same_frames(got, want)
    for c in CATEGORY_COLUMNS:
        assert isinstance(got[c].dtype, pd.CategoricalDtype), c
    now, start, end = T0 + timedelta(days=3), T0 - timedelta(days=1), T0 + timedelta(days=3)
    assert tk.kpis(got, now, start, end) == tk.kpis(want, now, start, end)

    # a refresh bringing values no chunk had (a new department, category, status) and
    # changing old tickets: still categorical, still the same as one frame of everything
    closed = (T0 + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    changed = [dict(r, status="closed", closed_at=closed, updated_at=closed, rating="satisfied",
                    department="住建局", category="房屋安全") for r in recs[:5]]
    changed.append(record(500, status="cancelled", department="交通局", kind="consultation"))
    embedded_store.tickets.upsert(changed)
    got = queries.all_tickets()
    latest = {r["ticket_id"]: r for r in recs + changed}
    want = queries._prepare(list(latest.values()), queries.tree())
    same_frames(got, want)
    for c in CATEGORY_COLUMNS:
        assert isinstance(got[c].dtype, pd.CategoricalDtype), c
    assert tk.kpis(got, now, start, end) == tk.kpis(want, now, start, end)
    assert len(got) == 151 and set(got["department"].dropna()) == {"城管局", "水务局", "住建局", "交通局"}


def test_qf002_concat_keeping_categories_with_an_empty_column():
    a = tk.prepare(tickets_frame([record(1), record(2)]))                       # no rating at all
    b = tk.prepare(tickets_frame([record(3, rating="basic", status="closed")]))
    out = concat_keeping_categories([a, b])
    assert isinstance(out["rating"].dtype, pd.CategoricalDtype)
    assert out["rating"].astype(object).where(out["rating"].notna(), None).tolist() == [None, None, "basic"]
    assert out["status"].tolist() == ["registered", "registered", "closed"]

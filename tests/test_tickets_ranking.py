"""Department ranking (METRICS.md "ranking"): minimum volume, shared ranks, too-few listed after.

Window W = [2026-11-01, 2026-11-16) local, now 2026-11-20 12:00 (+08:00). Every ticket is
created 11-02 09:00, due 11-05 18:00, dispatched and responded at 10:00 (within the 2 h
response limit), rated satisfied, resolved yes — so every rate is 1 — except that some of
department Q's tickets close late (11-06) instead of on time (11-04). Each ticket is both
received and due in W, so a department's volume is its number of tickets.

| dept | tickets | late | on-time rate | score (0.1·1 + 0.3·on_time + 0.3 + 0.3) × 100 | rank (min 10) |
|------|---------|------|--------------|----------------------------------------------|---------------|
| P    | 12      | 0    | 1            | 100                                          | 1             |
| R    | 10      | 0    | 1            | 100                                          | 1 (tie)       |
| Q    | 10      | 5    | 0.5          | 85                                           | 3             |
| T    | 9       | 0    | 1            | 100                                          | — too few     |
| S    | 2       | 0    | 1            | 100                                          | — too few     |
"""

from __future__ import annotations

import pandas as pd
import pytest

from metrics.tickets import kpi_table, rank_units
from test_tickets_fixtures import prepared, ts

NOW, START, END = ts("2026-11-20T12:00:00+08:00"), ts("2026-11-01T00:00:00+08:00"), ts("2026-11-16T00:00:00+08:00")


def _ticket(dept: str, i: int, late: bool = False) -> dict:
    return {"ticket_id": f"{dept}{i}", "department": dept, "created_at": "2026-11-02T09:00:00+08:00",
            "deadline_at": "2026-11-05T18:00:00+08:00", "dispatched_at": "2026-11-02T10:00:00+08:00",
            "first_response_at": "2026-11-02T10:00:00+08:00", "status": "closed",
            "closed_at": "2026-11-06T09:00:00+08:00" if late else "2026-11-04T09:00:00+08:00",
            "rating": "satisfied", "resolved": "yes"}


def departments() -> pd.DataFrame:
    rows = [_ticket("P", i) for i in range(12)] + [_ticket("R", i) for i in range(10)]
    rows += [_ticket("Q", i, late=i < 5) for i in range(10)]
    rows += [_ticket("T", i) for i in range(9)] + [_ticket("S", i) for i in range(2)]
    return prepared(*rows)


def ranking(min_volume: int) -> pd.DataFrame:
    df = departments()
    return rank_units(kpi_table(df, NOW, START, END, keys=df["department"].astype(object)), min_volume)


def test_rnk001_minimum_volume_ties_and_too_few_after():
    r = ranking(10)
    assert r["key"].tolist() == ["P", "R", "Q", "T", "S"]
    assert r["score"].tolist() == pytest.approx([100.0, 100.0, 85.0, 100.0, 100.0])
    assert r["rank"].tolist()[:3] == [1, 1, 3]          # P and R tie: the better rank, then 3
    assert r["rank"].isna().tolist() == [False, False, False, True, True]
    assert r["ranked"].tolist() == [True, True, True, False, False]
    assert r["volume"].tolist() == [12, 10, 10, 9, 2]   # too-few units keep their numbers, most tickets first


def test_rnk002_the_threshold_is_inclusive_and_a_setting():
    r = ranking(9)        # T has exactly 9: ranked now, tied with P and R
    assert dict(zip(r["key"], r["rank"].astype(object))) == {"P": 1, "R": 1, "T": 1, "Q": 4, "S": pd.NA}
    r = ranking(0)        # no minimum: everyone ranked, S too
    assert r["ranked"].all() and r.set_index("key")["rank"]["Q"] == 5
    r = ranking(13)       # nobody has 13: nobody ranked, all listed by volume
    assert not r["ranked"].any() and r["key"].tolist() == ["P", "Q", "R", "T", "S"]


def test_rnk003_volume_is_received_union_due():
    """On the nine hand-made tickets of test_tickets_rates: received 7, due 6, union 8."""
    from test_tickets_rates import END as E, NOW as N, START as S, tickets
    t = kpi_table(tickets(), N, S, E)
    # received T1 T2 T3 T4 T5 T7 T9; due T1 T2 T4 T6 T7 T9 → union adds T6: 8 (T8 neither)
    assert (int(t["received"][0]), int(t["due"][0]), int(t["volume"][0])) == (7, 6, 8)


def test_rnk004_department_view_marks_too_few(demo_runtime):
    """The page's ranking (view function on the demo) ranks only units with enough tickets."""
    from datetime import datetime, timezone
    from callbacks import tickets as cb
    from dashboard.queries import ticket_views as tv
    from dashboard.queries.access import Viewer
    rt = demo_runtime
    now = cb.as_of(rt, datetime.now(timezone.utc))
    start, end = tv.resolve_window(tv.DrillState(win="today"), now, rt.settings.city.timezone)
    rows = tv.department_ranking(rt.queries, Viewer(), None, now, start, end)
    minimum = rt.settings.tickets.min_rank_volume
    seen_unranked = False
    for r in rows:
        assert r["ranked"] == (r["volume"] >= minimum and r["score"] is not None)
        assert (r["rank"] is None) == (not r["ranked"])
        seen_unranked |= not r["ranked"]
        if r["ranked"]:
            assert not seen_unranked   # every unranked one comes after the ranked ones
    ranked = [r for r in rows if r["ranked"]]
    for r in ranked:
        assert r["rank"] == 1 + sum(1 for o in ranked if o["score"] > r["score"])

"""The open backlog of a day (`metrics.tickets.backlog_split`, `with_backlog`): today's numbers
computed on the other rows, with the backlog's counts added, are `kpis` on every row — for
random tickets with times on and around the day's edges, every window starting in the day,
and random instants of the day. A hand-made case checks the counts themselves."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from metrics.tickets import TicketRules, backlog_split, kpis, local_day, with_backlog
from test_tickets_fixtures import prepared

TZ = "Asia/Shanghai"
DAY_START = pd.Timestamp("2026-11-20T00:00:00+08:00")
DAY_END = pd.Timestamp("2026-11-21T00:00:00+08:00")


def random_rows(rnd: random.Random, n: int) -> list[dict]:
    """Old and new tickets; open, closed (some with no closing time), cancelled, withdrawn;
    deadlines before, on the edges of, inside and after the day, or none."""
    edges = [DAY_START, DAY_END, DAY_START - pd.Timedelta(microseconds=1), DAY_END - pd.Timedelta(microseconds=1)]
    rows = []
    for _ in range(n):
        created = DAY_START - pd.Timedelta(hours=rnd.uniform(-20, 24 * 40))
        r = {"grid_code": rnd.choice(["G1", "G2", None]), "created_at": created.isoformat(),
             "department": rnd.choice(["D1", "D2"]), "repeat_of": rnd.choice([None, "X-1"])}
        if rnd.random() < 0.6:
            r["first_response_at"] = (created + pd.Timedelta(hours=rnd.uniform(0, 30))).isoformat()
        pick = rnd.random()
        if pick < 0.3:
            r["deadline_at"] = rnd.choice(edges).isoformat()
        elif pick < 0.8:
            r["deadline_at"] = (DAY_START + pd.Timedelta(hours=rnd.uniform(-24 * 10, 24 * 4))).isoformat()
        fate = rnd.random()
        if fate < 0.4:
            closed = created + pd.Timedelta(hours=rnd.expovariate(1 / 40))
            r.update(status="closed", closed_at=closed.isoformat(),
                     dispatched_at=(created + pd.Timedelta(minutes=rnd.uniform(1, 60))).isoformat(),
                     rating=rnd.choice(["satisfied", "basic", None]), resolved=rnd.choice(["yes", "no", None]))
        elif fate < 0.45:
            r["status"] = "closed"                                   # closed, with no closing time
        elif fate < 0.52:
            r["status"] = "cancelled"
        else:
            r["status"] = rnd.choice(["registered", "processing"])
        r["withdrawn"] = rnd.random() < 0.05
        rows.append(r)
    return rows


def test_tb001_local_day_bounds() -> None:
    now = pd.Timestamp("2026-11-20T23:59:59.999999+08:00")
    assert local_day(now, TZ) == (DAY_START, DAY_END)
    assert local_day(DAY_END, TZ) == (DAY_END, DAY_END + pd.Timedelta(days=1))


def test_tb002_backlog_counts_by_hand() -> None:
    day = DAY_START
    rows = [
        {"created_at": (day - pd.Timedelta(days=3)).isoformat(), "status": "processing",      # overdue
         "deadline_at": (day - pd.Timedelta(hours=1)).isoformat()},
        {"created_at": (day - pd.Timedelta(days=3)).isoformat(), "status": "processing",      # due tomorrow 02:00
         "deadline_at": (DAY_END + pd.Timedelta(hours=2)).isoformat()},
        {"created_at": (day - pd.Timedelta(days=3)).isoformat(), "status": "processing",      # due today: not backlog
         "deadline_at": (day + pd.Timedelta(hours=12)).isoformat()},
        {"created_at": (day + pd.Timedelta(hours=1)).isoformat(), "status": "registered"},    # created today
        {"created_at": (day - pd.Timedelta(days=1)).isoformat(), "status": "cancelled"},
        {"created_at": (day - pd.Timedelta(days=2)).isoformat(), "status": "closed",          # closed today
         "closed_at": (day + pd.Timedelta(hours=2)).isoformat()},
    ]
    df = prepared(*rows)
    df["deadline_at"] = pd.to_datetime([r.get("deadline_at") for r in rows], utc=True)   # as given, not the SLA's
    in_backlog, b = backlog_split(df, DAY_START, DAY_END)
    assert in_backlog.tolist() == [True, True, False, False, False, False]
    assert (b.n, b.n_overdue) == (2, 1)
    rules = TicketRules()
    late = DAY_END - pd.Timedelta(hours=1)                     # the warning time reaches 02:00 tomorrow
    assert b.due_soon(late, rules.warn_hours) == (1 if rules.warn_hours > 3 else 0)
    assert b.due_soon(DAY_START, 1.0) == 0
    with pytest.raises(ValueError):
        b.due_soon(DAY_END, 1.0)                               # another day's instant


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_tb003_today_on_the_rest_plus_the_backlog_equals_every_row(seed) -> None:
    rnd = random.Random(seed)
    rules = TicketRules(warn_hours=rnd.choice([2.0, 24.0, 72.0]))
    df = prepared(*random_rows(rnd, 600), rules=rules)
    df.loc[df.sample(frac=0.1, random_state=seed).index, "deadline_at"] = pd.NaT   # no deadline at all
    in_backlog, backlog = backlog_split(df, DAY_START, DAY_END)
    assert 0 < backlog.n < len(df) and backlog.n_overdue and len(backlog.later)
    rest = df[~in_backlog].reset_index(drop=True)
    for _ in range(12):
        now = DAY_START + pd.Timedelta(microseconds=rnd.randrange(int(24 * 3600 * 1e6)))
        for start in (DAY_START, DAY_START + (now - DAY_START) * rnd.random()):
            want = kpis(df, now, start, now, rules)
            got = with_backlog(kpis(rest, now, start, now, rules), backlog, now, rules)
            assert got == want, (now, start, {k: (got[k], want[k]) for k in want if got[k] != want[k]})

"""Every count and rate of METRICS.md on nine hand-made tickets, computed by hand.

Window W = [2026-11-01 00:00, 2026-11-16 00:00) local (+08:00), now = 2026-11-20 12:00.
Deadlines are given by the source, except T8 (urgent: SLA 2 h). Response limit: 2 h.

| id | created    | deadline     | status / closed        | notes                                   |
|----|------------|--------------|------------------------|-----------------------------------------|
| T1 | 11-02 09:00| 11-05 18:00  | closed 11-05 18:00     | closed exactly at the deadline; resp 10:30; satisfied; yes |
| T2 | 11-02 09:00| 11-05 18:00  | closed 11-05 18:00:01  | one second late; resp 11:00:01 (late); basic; no; returned |
| T3 | 11-03 09:00| 11-10 18:00  | cancelled              | repeat of T1; no response                |
| T4 | 11-04 09:00| 11-12 18:00  | handling (open)        | overdue at now; no response              |
| T5 | 11-05 09:00| 11-21 10:00  | handling (open)        | due soon; repeat of T1; resp 09:30       |
| T6 | 10-25 09:00| 11-03 18:00  | closed 11-10 09:00     | created before W; dissatisfied, excluded; yes |
| T7 | 11-06 09:00| 11-09 18:00  | closed 11-17 09:00     | closed after W (but before now); resp at 11:00 sharp |
| T8 | 11-20 11:59| (13:59 SLA)  | handling (open)        | created after W; due soon                |
| T9 | 11-07 09:00| 11-09 18:00  | closed 11-08 09:00     | no dispatch time; basic, excluded        |
"""

import math

import pytest

from metrics.tickets import TicketRules, kpis, members, populations
from test_tickets_fixtures import prepared, ts

NOW, START, END = ts("2026-11-20T12:00:00+08:00"), ts("2026-11-01T00:00:00+08:00"), ts("2026-11-16T00:00:00+08:00")


def tickets():
    c = "closed"
    return prepared(
        {"ticket_id": "T1", "created_at": "2026-11-02T09:00:00+08:00", "deadline_at": "2026-11-05T18:00:00+08:00",
         "status": c, "closed_at": "2026-11-05T18:00:00+08:00", "dispatched_at": "2026-11-02T10:00:00+08:00",
         "first_response_at": "2026-11-02T10:30:00+08:00", "rating": "satisfied", "resolved": "yes"},
        {"ticket_id": "T2", "created_at": "2026-11-02T01:00:00Z", "deadline_at": "2026-11-05T10:00:00Z",
         "status": c, "closed_at": "2026-11-05T10:00:01Z", "dispatched_at": "2026-11-03T01:00:00Z",
         "first_response_at": "2026-11-02T03:00:01Z", "rating": "basic", "resolved": "no", "return_count": 1},
        {"ticket_id": "T3", "created_at": "2026-11-03T09:00:00+08:00", "deadline_at": "2026-11-10T18:00:00+08:00",
         "status": "cancelled", "repeat_of": "T1"},
        {"ticket_id": "T4", "created_at": "2026-11-04T09:00:00+08:00", "deadline_at": "2026-11-12T18:00:00+08:00"},
        {"ticket_id": "T5", "created_at": "2026-11-05T09:00:00+08:00", "deadline_at": "2026-11-21T10:00:00+08:00",
         "first_response_at": "2026-11-05T09:30:00+08:00", "repeat_of": "T1"},
        {"ticket_id": "T6", "created_at": "2026-10-25T09:00:00+08:00", "deadline_at": "2026-11-03T18:00:00+08:00",
         "status": c, "closed_at": "2026-11-10T09:00:00+08:00", "dispatched_at": "2026-10-25T10:00:00+08:00",
         "rating": "dissatisfied", "rating_excluded": True, "resolved": "yes", "repeat_of": "T0"},
        {"ticket_id": "T7", "created_at": "2026-11-06T09:00:00+08:00", "deadline_at": "2026-11-09T18:00:00+08:00",
         "status": c, "closed_at": "2026-11-17T09:00:00+08:00", "first_response_at": "2026-11-06T11:00:00+08:00",
         "rating": "satisfied", "return_count": 2},
        {"ticket_id": "T8", "created_at": "2026-11-20T11:59:00+08:00", "urgency": "urgent"},
        {"ticket_id": "T9", "created_at": "2026-11-07T09:00:00+08:00", "deadline_at": "2026-11-09T18:00:00+08:00",
         "status": c, "closed_at": "2026-11-08T09:00:00+08:00", "first_response_at": "2026-11-07T09:00:00+08:00",
         "rating": "basic", "rating_excluded": True},
    )


def ids(mask) -> list[str]:
    df = tickets()
    return df["ticket_id"][mask.to_numpy()].tolist()


def test_counts() -> None:
    k = kpis(tickets(), NOW, START, END)
    assert k["received"] == 7   # T1 T2 T3 T4 T5 T7 T9 (cancelled T3 included; T6 before, T8 after W)
    assert k["closed"] == 4     # T1 T2 T6 T9 (T7 closed after W)
    assert k["due"] == 6        # T1 T2 T4 T6 T7 T9 (T3 cancelled; T5, T8 due later)
    assert k["on_time"] == 2    # T1 exactly at the deadline, T9; T2 one second late
    assert k["open"] == 3       # T4 T5 T8
    assert k["overdue"] == 1    # T4
    assert k["due_soon"] == 2   # T5 (11-21 10:00 < now + 24 h), T8 (13:59)
    assert k["rated"] == 4      # T1 T2 T6 T9


def test_rates() -> None:
    k = kpis(tickets(), NOW, START, END)
    # response: all 7 received are settled (limits passed); in time: T1, T5, T7 (sharp), T9
    assert k["response_rate"] == pytest.approx(4 / 7)
    assert k["closure_rate"] == pytest.approx(5 / 6)       # T1 T2 T6 T7 T9 closed by now; T4 not
    assert k["on_time_rate"] == pytest.approx(2 / 6)
    assert k["resolution_rate"] == pytest.approx(2 / 3)    # T1 yes, T2 no, T6 yes; T9 no verdict
    assert k["satisfaction_rate"] == pytest.approx((1 + 0.9 * 2) / 4)  # T1 sat; T2, T9 basic; T6 dis
    assert k["satisfaction_rate_adjusted"] == pytest.approx((1 + 0.9) / 2)  # T6, T9 excluded
    assert k["return_rate"] == pytest.approx(1 / 4)        # T2 (T7 closed after W)
    assert k["repeat_rate"] == pytest.approx(2 / 7)        # T3 (cancelled, still received), T5


def test_handling_times() -> None:
    k = kpis(tickets(), NOW, START, END)
    # T1 11-02 10:00 → 11-05 18:00 = 80 h; T2 11-03 09:00 → 11-05 18:00:01 = 57 h 1 s;
    # T6 10-25 10:00 → 11-10 09:00 = 383 h; T9 has no dispatch time
    hours = [80, 57 + 1 / 3600, 383]
    assert k["mean_handling_hours"] == pytest.approx(sum(hours) / 3)
    # p90, linear: rank 0.9 · (3 − 1) = 1.8 between 80 and 383 → 80 + 0.8 · 303 = 322.4
    assert k["p90_handling_hours"] == pytest.approx(322.4)


def test_composite_score() -> None:
    k = kpis(tickets(), NOW, START, END)
    # 100 · (0.1 · 4/7 + 0.3 · 2/6 + 0.3 · 2/3 + 0.3 · 0.7) / (0.1 + 0.3 + 0.3 + 0.3)
    assert k["score"] == pytest.approx(100 * (0.1 * 4 / 7 + 0.1 + 0.2 + 0.21))
    adjusted = kpis(tickets(), NOW, START, END, TicketRules(score_satisfaction="adjusted"))
    assert adjusted["score"] == pytest.approx(100 * (0.1 * 4 / 7 + 0.1 + 0.2 + 0.3 * 0.95))


def test_w_basic_is_a_setting() -> None:
    k = kpis(tickets(), NOW, START, END, TicketRules(w_basic=0.5))
    assert k["satisfaction_rate"] == pytest.approx((1 + 0.5 * 2) / 4)


def test_zero_denominators_are_none_and_score_skips_them() -> None:
    empty = kpis(tickets(), ts("2026-12-31T00:00:00+08:00"), ts("2026-12-01T00:00:00+08:00"),
                 ts("2026-12-02T00:00:00+08:00"))
    for rate in ("response_rate", "closure_rate", "on_time_rate", "resolution_rate", "satisfaction_rate",
                 "satisfaction_rate_adjusted", "return_rate", "repeat_rate", "mean_handling_hours",
                 "p90_handling_hours", "score"):
        assert empty[rate] is None, rate
    assert empty["received"] == 0 and empty["open"] == 3  # T4, T5, T8 are still open on 12-31


def test_score_over_the_rates_that_exist() -> None:
    # W = 11-20 00:00 .. 12:00: only T8 received (response not settled: due 13:59, none yet);
    # due: nothing; closed: nothing → every rate None, score None
    k = kpis(tickets(), NOW, ts("2026-11-20T00:00:00+08:00"), NOW)
    assert k["received"] == 1 and k["response_rate"] is None and k["score"] is None
    # W = 11-02 only: received T1 T2 → response 1/2; nothing closed or due → score = 100 · 0.5
    k = kpis(tickets(), NOW, ts("2026-11-02T00:00:00+08:00"), ts("2026-11-03T00:00:00+08:00"))
    assert (k["response_rate"], k["on_time_rate"]) == (0.5, None)
    assert k["score"] == pytest.approx(50.0)


def test_members_are_the_tickets_behind_each_number() -> None:
    df = tickets()
    m = lambda metric, part: df["ticket_id"][members(df, metric, part, NOW, START, END).to_numpy()].tolist()  # noqa: E731
    assert m("on_time_rate", "numerator") == ["T1", "T9"]
    assert m("on_time_rate", "denominator") == ["T1", "T2", "T4", "T6", "T7", "T9"]
    assert m("closure_rate", "numerator") == ["T1", "T2", "T6", "T7", "T9"]
    assert m("response_rate", "numerator") == ["T1", "T5", "T7", "T9"]
    assert m("satisfaction_rate", "numerator") == ["T1", "T2", "T9"]  # basic ones weigh 0.9
    assert m("satisfaction_rate_adjusted", "denominator") == ["T1", "T2"]
    assert m("repeat_rate", "numerator") == ["T3", "T5"]
    assert m("overdue", "numerator") == m("overdue", "denominator") == ["T4"]
    assert m("mean_handling_hours", "denominator") == ["T1", "T2", "T6"]
    with pytest.raises(ValueError, match="^metric: expected"):
        members(df, "score", "numerator", NOW, START, END)


def test_members_agree_with_the_table() -> None:
    df = tickets()
    k = kpis(df, NOW, START, END)
    for rate in ("response_rate", "closure_rate", "on_time_rate", "resolution_rate", "return_rate", "repeat_rate"):
        num = members(df, rate, "numerator", NOW, START, END).sum()
        den = members(df, rate, "denominator", NOW, START, END).sum()
        assert math.isclose(k[rate], num / den), rate
    assert populations(df, NOW, START, END)["received"].sum() == k["received"]


def test_window_must_end_by_now() -> None:
    with pytest.raises(ValueError, match="^window: expected start <= end <= now"):
        kpis(tickets(), START, START, END)

"""Effective deadlines (`prepare`) and step lights, hand-computed. Local time is +08:00."""

import pandas as pd
import pytest

from metrics.tickets import (SlaOverride, SlaRule, SlaTable, TicketRules, fallback_years, overdue_by, prepare,
                             step_light)
from test_tickets_fixtures import frame, prepared, ts


def deadline(df: pd.DataFrame, i: int) -> pd.Timestamp:
    return df["deadline_at"].iloc[i]


def test_source_deadline_is_kept_and_sla_fills_the_rest() -> None:
    df = prepared(
        {"created_at": "2026-11-20T10:00:00+08:00", "deadline_at": "2026-11-21T09:00:00+08:00"},
        {"created_at": "2026-11-20T10:00:00+08:00"},                        # normal: 5 working days
        {"created_at": "2026-11-20T10:00:00+08:00", "urgency": "urgent"},   # 2 calendar hours
        {"created_at": "2026-11-20T10:00:00+08:00", "urgency": "complex"},  # 15 working days
        {"created_at": "2026-11-20T10:00:00+08:00", "urgency": None},       # empty = normal
    )
    assert deadline(df, 0) == ts("2026-11-21T09:00:00+08:00")
    # Fri 11-20 + 5 WD: Mon 23 (1) Tue 24 (2) Wed 25 (3) Thu 26 (4) Fri 27 (5) → Sat 28 00:00
    assert deadline(df, 1) == ts("2026-11-28T00:00:00+08:00")
    assert deadline(df, 2) == ts("2026-11-20T12:00:00+08:00")
    # 15 WD: 11-23..27 (5), 11-30..12-04 (10), 12-07..12-11 (15) → Sat 12-12 00:00
    assert deadline(df, 3) == ts("2026-12-12T00:00:00+08:00")
    assert deadline(df, 4) == deadline(df, 1)
    assert df["deadline_from_sla"].tolist() == [False, True, True, True, True]
    assert df["response_due_at"].iloc[0] == ts("2026-11-20T12:00:00+08:00")  # + 2 h
    assert str(df["deadline_at"].dtype) == "datetime64[ns, UTC]"


def test_working_day_deadline_across_national_day_2026() -> None:
    # created Wed 09-30 18:00 local; 10-01..07 off; 10-08 (1) 10-09 (2) Sat 10-10 make-up (3)
    # Mon 10-12 (4) Tue 10-13 (5) → Wed 10-14 00:00 local = 10-13 16:00 UTC
    df = prepared({"created_at": "2026-09-30T10:00:00Z"})
    assert deadline(df, 0) == ts("2026-10-13T16:00:00Z")
    assert not df["deadline_fallback"].iloc[0]


def test_local_day_of_creation_one_second_before_midnight() -> None:
    rules = TicketRules(sla=SlaTable(normal=SlaRule(1, "workdays")))
    df = prepared(
        {"created_at": "2026-11-19T23:59:59+08:00"},  # Thu local: Fri 11-20 is WD 1 → Sat 00:00
        {"created_at": "2026-11-20T00:00:00+08:00"},  # Fri local: Mon 11-23 is WD 1 → Tue 00:00
        {"created_at": "2026-11-19T16:00:00Z"},       # = Fri 00:00 local though Thu in UTC
        rules=rules)
    assert deadline(df, 0) == ts("2026-11-21T00:00:00+08:00")
    assert deadline(df, 1) == ts("2026-11-24T00:00:00+08:00")
    assert deadline(df, 2) == deadline(df, 1)


def test_times_in_utc_and_in_plus_eight_are_the_same_instants() -> None:
    df = prepared({"created_at": "2026-11-20T02:00:00Z", "urgency": "urgent"},
                  {"created_at": "2026-11-20T10:00:00+08:00", "urgency": "urgent"})
    assert deadline(df, 0) == deadline(df, 1) == ts("2026-11-20T04:00:00Z")


def test_category_override_by_urgency() -> None:
    sla = SlaTable(categories={"consult": SlaOverride(normal=SlaRule(3, "workdays"))})
    df = prepared({"created_at": "2026-11-20T10:00:00+08:00", "category": "consult"},
                  {"created_at": "2026-11-20T10:00:00+08:00", "category": "consult", "urgency": "urgent"},
                  rules=TicketRules(sla=sla))
    # Fri + 3 WD: Mon 23, Tue 24, Wed 25 → Thu 11-26 00:00; urgent keeps 2 h
    assert deadline(df, 0) == ts("2026-11-26T00:00:00+08:00")
    assert deadline(df, 1) == ts("2026-11-20T12:00:00+08:00")


def test_2027_deadline_uses_the_fallback_and_is_flagged() -> None:
    rules = TicketRules(sla=SlaTable(normal=SlaRule(2, "workdays")))
    df = prepared({"created_at": "2026-12-31T10:00:00+08:00"},
                  {"created_at": "2026-12-30T10:00:00+08:00", "deadline_at": "2027-01-08T00:00:00+08:00"},
                  rules=rules)
    # fallback: Fri 2027-01-01 counts (1), Mon 01-04 (2) → Tue 01-05 00:00 local
    assert deadline(df, 0) == ts("2027-01-05T00:00:00+08:00")
    assert df["deadline_fallback"].tolist() == [True, False]  # the source's own is no fallback
    assert rules.calendar.fallback_years_used == [2027]
    with_holiday = TicketRules(sla=rules.sla, extra_holidays=["2027-01-01"])
    assert deadline(prepared({"created_at": "2026-12-31T10:00:00+08:00"}, rules=with_holiday), 0) \
        == ts("2027-01-06T00:00:00+08:00")


def test_prepare_keeps_the_input_and_types_text_as_categories() -> None:
    raw = frame({"created_at": "2026-11-20T10:00:00+08:00"})
    out = prepare(raw, TicketRules())
    assert raw["deadline_at"].isna().all() and "deadline_from_sla" not in raw
    assert out["status"].iloc[0] == "handling"


def test_rules_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="^w_basic: expected"):
        TicketRules(w_basic=1.5)
    with pytest.raises(ValueError, match="^extra_holidays: expected ISO dates"):
        TicketRules(extra_holidays=["1 Jan"])
    with pytest.raises(ValueError, match="^value: expected a whole number"):
        SlaRule(1.5, "workdays")
    with pytest.raises(ValueError, match="^unit: expected"):
        SlaRule(2, "days")


def test_step_light_thresholds() -> None:
    # limit created 00:00 → deadline 10:00 local (10 h, given by the source)
    base = {"created_at": "2026-11-20T00:00:00+08:00", "deadline_at": "2026-11-20T10:00:00+08:00"}
    df = prepared(base, {**base, "status": "closed", "closed_at": "2026-11-20T01:00:00+08:00"},
                  {**base, "status": "cancelled"}, {**base, "created_at": "2026-11-20T09:00:00+08:00",
                                                    "deadline_at": None, "urgency": "urgent"})
    light = lambda t: step_light(df, ts(t)).tolist()  # noqa: E731
    # ticket 1: 7h59m59s of 10 h = 79.99 % → green; 8 h = 80 % → yellow; 10 h = 100 % → yellow;
    # one second more → red. Closed (at 01:00) and cancelled tickets: no light. Ticket 4
    # (urgent, 09:00 → 11:00): not yet created before 09:00; 1 h = 50 % green; 1h36m = 80 %.
    assert light("2026-11-20T07:59:59+08:00") == ["green", None, None, None]
    assert light("2026-11-20T08:00:00+08:00") == ["yellow", None, None, None]
    assert light("2026-11-20T10:00:00+08:00") == ["yellow", None, None, "green"]
    assert light("2026-11-20T10:00:01+08:00") == ["red", None, None, "green"]
    assert light("2026-11-20T10:36:00+08:00") == ["red", None, None, "yellow"]
    assert light("2026-11-20T11:00:01+08:00") == ["red", None, None, "red"]


def test_fallback_years_for_the_page_warning() -> None:
    rules = TicketRules(sla=SlaTable(normal=SlaRule(2, "workdays")))
    df = prepared({"created_at": "2026-12-31T10:00:00+08:00"}, {"created_at": "2026-11-02T10:00:00+08:00"},
                  rules=rules)
    assert fallback_years(df) == [2027]  # created 2026 (known), deadline 2027-01-05 (fallback)
    assert fallback_years(df.iloc[1:]) == []


def test_overdue_by() -> None:
    df = prepared({"created_at": "2026-11-20T00:00:00+08:00", "deadline_at": "2026-11-20T10:00:00+08:00"},
                  {"created_at": "2026-11-20T00:00:00+08:00", "deadline_at": "2026-11-20T14:00:00+08:00"})
    late = overdue_by(df, ts("2026-11-20T12:30:00+08:00"))
    assert late.iloc[0] == pd.Timedelta(hours=2, minutes=30) and pd.isna(late.iloc[1])

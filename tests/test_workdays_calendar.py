"""Working days on the official 2026 calendar, and the fallback for 2027 (hand-checked).

2026 official dates used below (chinesecalendar 1.11, State Council notice for 2026):
Mid-Autumn Fri 09-25 … Sun 09-27 off; National Day Thu 10-01 … Wed 10-07 off;
make-up working days Sun 09-20 and Sat 10-10.
"""

from datetime import date

from metrics.workdays import WorkCalendar


def test_metrics_md_example_friday_plus_one_working_day() -> None:
    # created Fri 2026-11-20; the 1st working day after it is Mon 11-23; midnight after → 11-24
    assert WorkCalendar().deadline_after_workdays(date(2026, 11, 20), 1) == date(2026, 11, 24)


def test_official_2026_national_day_days() -> None:
    cal = WorkCalendar()
    assert [cal.is_workday(date(2026, 10, d)) for d in range(1, 8)] == [False] * 7
    assert cal.is_workday(date(2026, 10, 10))      # Saturday, make-up working day
    assert cal.is_workday(date(2026, 9, 20))       # Sunday, make-up working day
    assert not cal.is_workday(date(2026, 10, 11))  # ordinary Sunday
    assert not cal.is_workday(date(2026, 9, 25))   # Mid-Autumn, a Friday


def test_five_working_days_across_national_day_and_make_up_saturday() -> None:
    # created Wed 09-30; 10-01..10-07 off; 10-08 Thu (1), 10-09 Fri (2), 10-10 Sat make-up (3),
    # 10-11 Sun off, 10-12 Mon (4), 10-13 Tue (5) → deadline at midnight starting 10-14
    assert WorkCalendar().deadline_after_workdays(date(2026, 9, 30), 5) == date(2026, 10, 14)


def test_make_up_sunday_counts_and_day_of_creation_never_counts() -> None:
    cal = WorkCalendar()
    # created Sat 09-19: Sun 09-20 is a make-up working day (1) → midnight starting 09-21
    assert cal.deadline_after_workdays(date(2026, 9, 19), 1) == date(2026, 9, 21)
    # created on the make-up Saturday 10-10 itself: it does not count; Sun off; Mon 10-12 (1)
    assert cal.deadline_after_workdays(date(2026, 10, 10), 1) == date(2026, 10, 13)


def test_zero_working_days_is_end_of_day_of_creation() -> None:
    assert WorkCalendar().deadline_after_workdays(date(2026, 10, 3), 0) == date(2026, 10, 4)


def test_2027_falls_back_to_monday_to_friday_without_raising_and_says_so() -> None:
    cal = WorkCalendar()
    assert cal.is_known(2026) and not cal.is_known(2027)
    assert 2026 in cal.known_years() and 2027 not in cal.known_years()
    assert cal.fallback_years_used == []
    # created Thu 2026-12-31, 2 working days: fallback makes Fri 2027-01-01 a working day (1),
    # Sat/Sun off, Mon 01-04 (2) → midnight starting 2027-01-05
    deadline, fallback = cal.deadline_after_workdays_ex(date(2026, 12, 31), 2)
    assert (deadline, fallback) == (date(2027, 1, 5), True)
    assert cal.fallback_years_used == [2027]
    assert not cal.is_workday(date(2027, 1, 2))  # a Saturday


def test_settings_holidays_fill_the_unknown_year() -> None:
    cal = WorkCalendar(extra_holidays=[date(2027, 1, 1)])
    # 01-01 off (settings), Sat/Sun off, Mon 01-04 (1), Tue 01-05 (2) → 2027-01-06
    assert cal.deadline_after_workdays(date(2026, 12, 31), 2) == date(2027, 1, 6)


def test_settings_override_the_official_calendar() -> None:
    cal = WorkCalendar(extra_holidays=[date(2026, 11, 23)], extra_workdays=[date(2026, 11, 21)])
    assert cal.is_workday(date(2026, 11, 21)) and not cal.is_workday(date(2026, 11, 23))
    # created Fri 11-20: Sat 11-21 now a working day (1) → midnight starting 11-22
    assert cal.deadline_after_workdays(date(2026, 11, 20), 1) == date(2026, 11, 22)
    # 2 days: Sat 11-21 (1), Sun off, Mon 11-23 off (settings), Tue 11-24 (2) → 11-25
    assert cal.deadline_after_workdays(date(2026, 11, 20), 2) == date(2026, 11, 25)
    assert cal.fallback_years_used == []

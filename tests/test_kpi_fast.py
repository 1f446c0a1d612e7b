"""The column-by-column ticket reader (`parse_tickets_frame`) against the per-row one.

The per-row path — `parse_tickets` (csv.DictReader / JSON lines, `validate_ticket` row by
row) then `tickets_frame` — is the reference: for the same bytes the fast path must give
the same frame (values and dtypes), the same rejects (index, reason, masked excerpt,
ticket id) and, through `cityops kpi`, the same output, stderr and exit status.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pandas as pd
import pytest

import feeds.tickets.canonical_columns as canonical_columns
import feeds.tickets.iso_times as iso_times
import feeds.tickets.records_fast as records_fast
from feeds.tickets.canonical import PayloadError, parse_tickets
from feeds.tickets.canonical_columns import parse_tickets_frame, parse_tickets_records
from feeds.records import TICKET_FIELDS, RecordError, tickets_frame

REPO = Path(__file__).resolve().parents[1]
COLUMNS = list(TICKET_FIELDS)
AREAS = "code,name,level,parent_code\nC,city,city,\nS1,street one,street,C\nS2,street two,street,C\n" \
        "G1,grid 1,grid,S1\nG2,grid 2,grid,S1\nG3,grid 3,grid,S2\n"
WINDOW = ["--now", "2026-11-20T12:00:00+08:00", "--start", "2026-11-01T00:00:00+08:00",
          "--end", "2026-11-16T00:00:00+08:00"]
# `cityops kpi` with the per-row reader in place of the fast one: the reference output
SLOW_KPI = """
import sys
import feeds.tickets.canonical as canonical
import feeds.tickets.canonical_columns as canonical_columns
from feeds.records import tickets_frame

def per_row(data, fmt):
    records, rejects = canonical.parse_tickets(data, fmt)
    return tickets_frame(records), rejects

def refuse(raw):
    raise AssertionError("the reference run took the column-by-column path")

canonical_columns.parse_tickets_frame = per_row
canonical_columns.validate_columns = refuse
from dashboard.app.cli import main
sys.exit(main(sys.argv[1:]))
"""


def ticket(tid: str, **fields: str) -> dict:
    base = {"ticket_id": tid, "source": "hotline", "status": "handling", "grid_code": "G1",
            "department": "D1", "created_at": "2026-11-03T09:00:00+08:00"}
    return {**base, **fields}


CLOSED = {"status": "closed", "closed_at": "2026-11-05T09:00:00+08:00"}
# Good rows, edge cases that are still good, and every kind of bad row.
MIXED = [
    ticket("K01", **CLOSED, dispatched_at="2026-11-03T01:30:00Z", first_response_at="2026-11-03T01:10:00Z",
           rating="satisfied", resolved="yes", caller_name="张三丰", caller_phone="13812345678"),
    ticket("K02", created_at="2026-11-02T01:00:00Z", deadline_at="2026-11-06T00:00:00+08:00"),   # UTC "Z"
    ticket("K03", created_at="2026-11-03T09:00:00.5+08:00", first_response_at="2026-11-03T09:59:59.999999+08:00"),
    ticket("K04", created_at="2026-11-02T20:30:00-03:30", dispatched_at="2026-11-03 09:00:00+08:00"),
    ticket("K05", created_at="2026-11-03T01:00:00z", updated_at="2026-11-01T00:00:00+00:00"),
    ticket("K06", status="Closed", source=" HOTLINE ", urgency="URGENT", kind="Event",
           closed_at="2026-11-03T11:00:00+08:00", rating="Basic", resolved="NO"),
    ticket("K07", lat="39.65", lon="106.82", rating_excluded="Yes", return_count="2.0"),
    ticket("K08", lat="nan", lon="NaN", rating_excluded="t", return_count=" 3 "),
    ticket("K09", lat="-0.0", lon="0", rating_excluded="0", return_count="0"),
    ticket("K10", source="", kind="", urgency="", grid_code="", department="", rating="", resolved=""),
    ticket("K01", status="registered", created_at="2026-11-04T09:00:00+08:00"),          # same id again
    ticket("K12", created_at="2026-11-03T09:00:00.1234567+08:00"),     # 7 digits: only parse_time reads it
    ticket("K13", created_at="20261103T090000+0800"),
    ticket("K14", created_at="2026-W45-2T09:00:00+08:00"),
    ticket("K15", created_at=" 2026-11-03T09:00:00+08:00 ", closed_at=" ", status="handling"),
    ticket("K16", category="噪音扰民", department="城管局", grid_code=" G2 ", repeat_of="K01"),
    ticket("K17", **{**CLOSED, "closed_at": "2026-11-03T01:00:00Z"}),            # closed at creation
    ticket("K18", created_at="2024-02-29T12:00:00Z", status="cancelled"),
    ticket("K19", created_at="1900-01-01T00:00:00Z", dispatched_at="2199-12-31T23:59:59Z"),   # the first and last years
    ticket("K20", created_at="2026-11-03T09:00+08:00", deadline_at="2026-11-03T09:00:00+08"),
    ticket("K21", lat="1_0", lon="+2e1", return_count="7"),              # float() reads both
    ticket("K22", created_at="2026-11-03T09:00:00+00:00", updated_at="2026-11-03T09:00:00-00:00"),
    ticket("K23", created_at="2026-11-03T09:00:00.+08:00"),              # parse_time takes a bare "."
    ticket("K24", category="噪音\x0c扰民\u2028", department="\u3000城管\x85局\x1c "),   # no line ends in CSV
    # bad rows
    ticket("B40", return_count="1e30"),                                     # a count no ticket has
    ticket("B41", return_count="inf"),
    ticket("B42", created_at="0001-01-01T00:00:00+08:00"),                  # leaves datetime's range in UTC
    ticket("B43", created_at="1899-12-31T23:59:59+00:00"),
    ticket("B44", created_at="2200-01-01T00:00:00+00:00"),
    ticket("B45", created_at="1900-01-01T07:59:59+08:00"),                  # 1899 in UTC
    ticket("B01", created_at="2026-13-01T09:00:00+08:00"),
    ticket("B02", created_at="yesterday"),
    ticket("B03", created_at="2026-11-03T09:00:00"),                      # no offset
    ticket("B04", created_at="2026-02-29T09:00:00Z"),
    ticket("B05", created_at="2026-11-03T24:00:00Z"),
    ticket("B06", created_at="2026-11-03T09:00:00+24:00"),
    ticket("B07", created_at="２０２６-11-03T09:00:00Z"),
    ticket("B08", created_at=""),
    ticket("B09", status="lost", caller_name="王小明", caller_phone="13912345678"),
    ticket("B10", status=""),
    ticket("B11", source="fax"),
    ticket("B12", kind="thing"),
    ticket("B13", urgency="sometime"),
    ticket("B14", rating="great"),
    ticket("B15", resolved="maybe"),
    ticket("B16", lat="abc", lon="106.8"),
    ticket("B17", lat="91", lon="106.8"),
    ticket("B18", lat="39.6", lon="-181"),
    ticket("B19", lat="39.6"),
    ticket("B20", lat="39.6", lon="inf"),
    ticket("", status="registered"),
    ticket("   ", status="registered"),
    ticket("B23", status="closed"),
    ticket("B24", **{**CLOSED, "closed_at": "2026-11-03T00:59:59.9Z"}),      # a moment before creation
    ticket("B25", rating_excluded="maybe"),
    ticket("B26", rating_excluded="  "),
    ticket("B27", return_count="-1"),
    ticket("B28", return_count="1.5"),
    ticket("B29", return_count="abc"),
    ticket("B30", return_count="  "),
    ticket("B32", dispatched_at="2026-11-03T09:00:00ZZ"),
]
GOOD = 24       # the first rows of MIXED are good, the others bad


def csv_text(rows: list[dict], columns: list[str] = COLUMNS, newline: str = "\n",
             quoting: int = csv.QUOTE_MINIMAL) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator=newline, quoting=quoting)
    w.writerow(columns)
    for r in rows:
        w.writerow([r.get(c, "") for c in columns])
    return out.getvalue()


def jsonl_text(rows: list[dict]) -> str:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"


def assert_same(data: bytes, fmt: str):
    """The fast path gives exactly what the per-row path gives; returns (frame, rejects)."""
    records, slow_rejects = parse_tickets(data, fmt)
    slow = tickets_frame(records)
    before = len(_USED)
    fast, fast_rejects = parse_tickets_frame(data, fmt)
    after = len(_USED)
    assert list(fast.dtypes) == list(slow.dtypes)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    # NaN == NaN above; the sign of a zero and the type of each text value too
    assert [repr(v) for v in fast.itertuples(index=False)] == [repr(v) for v in slow.itertuples(index=False)]
    assert fast_rejects == slow_rejects
    # the poller's column-wise path: the very records (keys in order, value types) and rejects
    fast_records, record_rejects = parse_tickets_records(data, fmt)
    assert _USED[after:] == _USED[before:after]     # the same CSV reader
    del _USED[after:]
    assert [orjson.dumps(r) for r in fast_records] == [orjson.dumps(r) for r in records]
    assert [[type(v) for v in r.values()] for r in fast_records] == [[type(v) for v in r.values()] for r in records]
    assert record_rejects == slow_rejects
    return fast, fast_rejects


_USED: list[str] = []      # the readers fixture's list (assert_same reads the CSV twice)


@pytest.fixture
def readers(monkeypatch) -> list[str]:
    """Which CSV reader the fast path used: "plain" (numpy + pandas) or "csv" (csv.reader)."""
    used = _USED
    used.clear()
    tokenize, split_rows = canonical_columns._tokenize, canonical_columns._split_rows
    monkeypatch.setattr(canonical_columns, "_tokenize", lambda *a: used.append("plain") or tokenize(*a))
    monkeypatch.setattr(canonical_columns, "_split_rows", lambda *a: used.append("csv") or split_rows(*a))
    return used


# -- equivalence on hand-written files -----------------------------------------------

def test_kpf001_mixed_csv_same_frame_and_rejects(readers) -> None:
    frame, rejects = assert_same(csv_text(MIXED).encode(), "csv")
    assert readers == ["plain"]     # the numpy + pandas reader, not csv.reader
    # the file does exercise what it should
    assert len(frame) == GOOD and len(rejects) == len(MIXED) - GOOD
    assert set(frame["ticket_id"]) >= {"K01", "K07", "K21"} and (frame["ticket_id"] == "K01").sum() == 2
    reasons = {r.ticket_id: r.reason for r in rejects}
    assert reasons["B01"].startswith("created_at: not an ISO 8601 time")
    assert reasons["B03"].startswith("created_at: time without a UTC offset")
    assert reasons["B09"].startswith("status: expected one of")
    assert reasons["B16"] == "lat: expected a number, got 'abc'"
    assert reasons["B17"] == "lat: expected -90..90, got '91'"
    assert reasons["B24"].startswith("closed_at: 2026-11-03T00:59:59.900000Z is before created_at")
    assert [r.reason for r in rejects if r.ticket_id is None] == ["ticket_id: missing"] * 2
    narrow = ["ticket_id", "status", "created_at", "caller_name", "caller_phone"]    # excerpts are cut short
    _, (b09,) = assert_same(csv_text([r for r in MIXED if r["ticket_id"] == "B09"], narrow).encode(), "csv")
    assert "王**" in b09.excerpt and "139****5678" in b09.excerpt and "13912345678" not in b09.excerpt
    k21 = frame[frame["ticket_id"] == "K21"].iloc[0]
    assert (k21["lat"], k21["lon"]) == (10.0, 20.0)


@pytest.mark.parametrize("variant", ["crlf", "crlf_narrow", "quoted", "blank_short_long",
                                     "extra_and_repeated_columns"])
def test_kpf002_csv_variants(variant, readers) -> None:
    if variant == "crlf":
        text, reader = csv_text(MIXED, newline="\r\n"), "plain"
    elif variant == "crlf_narrow":      # whole excerpts: no "\r" in the last cell
        text, reader = csv_text(MIXED, ["ticket_id", "status", "closed_at", "created_at"], newline="\r\n"), "plain"
    elif variant == "quoted":
        text, reader = csv_text(MIXED, quoting=csv.QUOTE_ALL), "csv"
    elif variant == "blank_short_long":
        lines = csv_text(MIXED).split("\n")
        lines[3] = lines[3].rsplit(",", 4)[0]                  # a short row
        lines[5] += ",surplus,cells"                           # long rows
        lines[6] += ","
        lines[8:8] = ["", " ", ""]                              # blank lines, a blank-looking row
        text, reader = "\n\n".join(lines[:2]) + "\n" + "\n".join(lines[2:]) + "\n\n", "plain"
    else:
        columns = COLUMNS + ["note", "status"]                 # a repeated name: the last one counts
        rows = [{**r, "note": f"备注 {i}"} for i, r in enumerate(MIXED)]
        text = csv_text(rows, columns).replace(",handling\n", ",lost\n", 3)
        reader = "plain"
    frame, rejects = assert_same(text.encode(), "csv")
    assert readers == [reader] and len(frame) > 10 and len(rejects) > 10
    if variant == "blank_short_long":
        assert [r.index for r in rejects if "cells more than the header" in r.reason] == [4, 5]


def test_kpf003_jsonl_strings_and_json_types() -> None:
    assert_same(jsonl_text(MIXED).encode(), "jsonl")
    typed = [dict(r) for r in MIXED[:12]] + [
        {"ticket_id": 7, "status": "registered", "created_at": "2026-11-03T09:00:00Z", "lat": 39.5, "lon": 106},
        {"ticket_id": "J1", "status": "registered", "created_at": "2026-11-03T09:00:00Z", "lat": None,
         "lon": None, "rating_excluded": True, "return_count": 2, "caller_phone": 13812345678},
        {"ticket_id": "J2", "status": "registered", "created_at": "2026-11-03T09:00:00Z",
         "rating_excluded": 1, "return_count": 1.0},
        {"ticket_id": "J3", "status": "registered", "created_at": "2026-11-03T09:00:00Z", "rating_excluded": 1.0},
        {"ticket_id": "J4", "status": "registered", "created_at": 20261103, "return_count": True},
        {"ticket_id": "J5", "status": ["closed"], "created_at": "2026-11-03T09:00:00Z"},
        {"ticket_id": "J6", "status": "registered", "created_at": "2026-11-03T09:00:00Z", "lat": True,
         "lon": False, "category": {"a": 1}},
        {"ticket_id": "J7", "status": "registered", "created_at": "2026-11-03T09:00:00Z", "return_count": -0.0},
    ]
    text = jsonl_text(typed) + "{not json\n\n[1, 2]\n"
    frame, rejects = assert_same(text.encode(), "jsonl")
    assert "7" in set(frame["ticket_id"]) and any(r.reason.startswith("line") for r in rejects)
    mixed_types = [{"ticket_id": f"M{i}", "status": "registered", "created_at": "2026-11-03T09:00:00Z",
                    "rating_excluded": flag, "return_count": count, "lat": lat, "lon": 1}
                   for i, (flag, count, lat) in enumerate([(True, 1, 1), (1, True, 1.0), (1.0, 1.0, -0.0),
                                                           (False, 0, 0), (0, False, 0.0), (0.0, -0.0, 0.5)])]
    assert_same(jsonl_text(mixed_types).encode(), "jsonl")
    # each column of one JSON type, as a feed would send them
    rnd = random.Random(7)
    rows = []
    for i, r in enumerate(generated(1500, 7)):
        r = {k: v for k, v in r.items() if v != ""}
        r["lat"], r["lon"] = rnd.choice([(39.5 + i / 1e4, 106.8), (-0.0, 0.0), (91.0, 100.0), (None, None), (1.0, None)])
        r["return_count"] = rnd.choice([0, 1, 2, -1, 2**63, None])       # 2**63: still an int for orjson
        r["rating_excluded"] = rnd.choice([True, False, None])
        rows.append(r)
    assert_same(jsonl_text(rows).encode(), "jsonl")


def test_kpf004_nothing_good_and_whole_file_errors() -> None:
    frame, rejects = assert_same(csv_text(MIXED[GOOD:]).encode(), "csv")       # only bad rows
    assert frame.empty and len(rejects) == len(MIXED) - GOOD
    for text in ("ticket_id,status\n", "ticket_id,status", "ticket_id\nA\n \n\nB\n", "x,ticket_id\n\n\n"):
        assert_same(text.encode(), "csv")
    for data, fmt in ((b"a,b\n1,2\n", "csv"), (b"\nticket_id,status\n", "csv"), (b"\xff\xfe", "csv"),
                      (b"x", "xml")):
        with pytest.raises(PayloadError) as slow:
            parse_tickets(data, fmt)
        with pytest.raises(PayloadError) as fast:
            parse_tickets_frame(data, fmt)
        assert str(fast.value) == str(slow.value)


def test_kpf005_times_outside_the_plausible_years_are_rejects_with_a_reason_on_both_paths() -> None:
    rows = [ticket("X1", created_at="0001-01-01T00:00:00+08:00"), ticket("X2", created_at="2199-12-31T23:59:59Z"),
            ticket("X3", created_at="2200-01-01T07:59:59+08:00"), ticket("X4", created_at="9999-12-31T23:59:59-08:00")]
    frame, rejects = assert_same(csv_text(rows).encode(), "csv")
    assert list(frame["ticket_id"]) == ["X2", "X3"]             # X3 is 2199 in UTC
    assert [r.ticket_id for r in rejects] == ["X1", "X4"]
    assert all("expected a time in the years 1900..2199" in r.reason for r in rejects)


# -- equivalence on a generated file -------------------------------------------------

def _time(rnd: random.Random, day: int) -> str:
    """A time on 2026-11-{day} in one of the shapes feeds send."""
    h, m, s = rnd.randrange(24), rnd.randrange(60), rnd.randrange(60)
    zone = rnd.choice(["Z", "+08:00", "+08:00", "-05:00", "+05:45", "z", "+00:00"])
    frac = rnd.choice(["", "", "", ".5", ".123456"])
    sep = rnd.choice("TTTT ")
    return f"2026-11-{day:02d}{sep}{h:02d}:{m:02d}:{s:02d}{frac}{zone}"


FAULTS = [
    ("created_at", "2026-11-31T10:00:00Z"), ("created_at", "not a time"), ("created_at", "2026-11-03T10:00:00"),
    ("created_at", ""), ("closed_at", "2026-10-01T00:00:00Z"), ("status", "teleported"), ("status", ""),
    ("status", "closed"), ("lat", "north"), ("lat", "95.5"), ("lon", ""), ("source", "pigeon"),
    ("urgency", "asap"), ("rating", "ok"), ("resolved", "perhaps"), ("rating_excluded", "sometimes"),
    ("return_count", "-2"), ("return_count", "0.5"), ("ticket_id", ""), ("dispatched_at", "2026-11-03T25:00:00Z"),
    ("deadline_at", "2026-11-03T10:00:00+0800"), ("first_response_at", "2026-11-03T10:00:00.1234567Z"),
    ("source", "Patrol"), ("status", " Verifying "), ("lat", " 39.5 "), ("updated_at", " "),
]


def generated(n: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        day = rnd.randrange(1, 20)
        pick = rnd.choice
        r = {"ticket_id": f"T{rnd.randrange(n * 2)}", "source": pick(["hotline", "patrol", "app", "open311"]),
             "kind": pick(["event", "component", ""]), "category": pick(["noise", "road", "噪音", ""]),
             "urgency": pick(["urgent", "normal", "complex", ""]), "grid_code": pick(["G1", "G2", "G3", "G9", ""]),
             "department": pick(["D1", "D2", ""]), "status": pick(["registered", "handling", "closed", "cancelled"]),
             "created_at": _time(rnd, day), "rating_excluded": pick(["", "true", "false", "1"]),
             "return_count": pick(["", "0", "1", "2"]), "caller_name": pick(["", "李四", "王小明"]),
             "caller_phone": pick(["", "13812345678", "010-1234"])}
        if rnd.random() < 0.5:
            r["dispatched_at"] = _time(rnd, day + 1)
        if rnd.random() < 0.3:
            r["lat"], r["lon"] = f"{rnd.uniform(39, 40):.6f}", f"{rnd.uniform(106, 107):.6f}"
        if r["status"] == "closed":
            r["closed_at"] = _time(rnd, day + 2)
            r["rating"] = rnd.choice(["satisfied", "basic", "dissatisfied", ""])
            r["resolved"] = rnd.choice(["yes", "no", ""])
        if rnd.random() < 0.12:
            name, value = rnd.choice(FAULTS)
            r[name] = value
        rows.append(r)
    return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_kpf006_generated_file_with_faults(seed, readers) -> None:
    rows = generated(3000, seed)
    frame, rejects = assert_same(csv_text(rows).encode(), "csv")
    assert readers == ["plain"] and len(rejects) > 100 and len(frame) > 2500
    assert_same(csv_text(rows, newline="\r\n", quoting=csv.QUOTE_NONNUMERIC).encode(), "csv")
    lines = csv_text(rows).split("\n")
    for at in (7, 500, 501, 1200, 2999):
        lines[at] = lines[at].rsplit(",", 3)[0] if at % 2 else lines[at] + ","
    assert_same(("\n".join(lines) + "\n\n").encode(), "csv")
    assert_same(jsonl_text(rows).encode(), "jsonl")
    assert readers == ["plain", "csv", "plain"]


def test_kpf009_columns_of_many_distinct_values() -> None:
    """Ids, free texts and positions mostly distinct: checked vectorised, not per value."""
    rnd = random.Random(5)
    rows = []
    for i in range(3000):
        lat, lon = f"{rnd.uniform(-95, 95):.7f}", f"{rnd.uniform(-185, 185):.7f}"
        r = ticket(f"T{i:05d}", lat=lat, lon=lon, caller_phone=f"138 {i:08d}", repeat_of=f"T{i // 2}",
                   created_at=_time(rnd, 1 + i % 20))
        if i % 7 == 0:
            r["ticket_id"] = rnd.choice(["  ", f" T{i} ", "", f"T{i}\t"])
        if i % 11 == 0:
            r["lat"], r["lon"] = rnd.choice([("", ""), ("nan", "1"), ("inf", "0"), ("-0.0", "0.0"), (" 1.5 ", "2"),
                                             ("1e1", "-1E2"), ("", "3")])
        rows.append(r)
    assert_same(csv_text(rows).encode(), "csv")
    assert_same(jsonl_text(rows).encode(), "jsonl")
    rows[2000]["lat"] = "north"                 # one text that is no number: checked per value then
    assert_same(csv_text(rows).encode(), "csv")


def test_kpf010_rows_left_to_the_per_row_path_keep_their_values(monkeypatch) -> None:
    """A fast check may refuse more than validate_ticket: the row then comes out as the
    per-row path makes it. Here every row takes that way."""
    count = records_fast.CHECKS["return_count"]

    def stricter_than_count(value):
        if str(value).strip() == "7":
            raise RecordError("return_count: a check stricter than _count")
        return count(value)

    monkeypatch.setitem(records_fast.CHECKS, "return_count", stricter_than_count)
    frame, _ = assert_same(csv_text(MIXED).encode(), "csv")
    assert 7 in set(frame["return_count"])      # the per-row path accepted what the fast check refused
    monkeypatch.setattr(records_fast, "_row_rules", lambda values: records_fast.np.zeros(len(values["lat"]), bool))
    frame, _ = assert_same(csv_text(MIXED + generated(300, 6)).encode(), "csv")
    assert len(frame) > 250
    assert_same(jsonl_text(MIXED).encode(), "jsonl")


# -- the comparison itself would see a difference ----------------------------------------

@pytest.mark.parametrize("sabotage", ["time_off_by_a_second", "choice_not_lowercased", "updated_at_not_filled",
                                      "excerpt_unmasked"])
def test_kpf007_a_deliberate_difference_is_caught(sabotage, monkeypatch) -> None:
    data = csv_text(MIXED).encode()
    assert_same(data, "csv")
    if sabotage == "time_off_by_a_second":
        parse = iso_times._parse_chars
        monkeypatch.setattr(iso_times, "_parse_chars", lambda c: (parse(c)[0] + 1, parse(c)[1]))
    elif sabotage == "choice_not_lowercased":
        monkeypatch.setitem(records_fast.CHECKS, "source", lambda v: (v.strip() or None) if v else "other")
    elif sabotage == "updated_at_not_filled":
        monkeypatch.setattr(records_fast, "_fill_updated_at", lambda values: None)
    else:
        monkeypatch.setattr(records_fast, "validate_many", _unmasked_validate_many)
    with pytest.raises(AssertionError):
        assert_same(data, "csv")


def _unmasked_validate_many(items, start_index=0):
    from feeds.records import RecordError, Reject, validate_ticket
    try:
        return [validate_ticket(items[0])], []
    except RecordError as exc:
        return [], [Reject(start_index, str(exc), json.dumps(items[0], ensure_ascii=False), items[0].get("ticket_id"))]


# -- cityops kpi end to end ----------------------------------------------------------

def run_kpi(*args: str, slow: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CITYOPS_CONFIG", None)
    head = [sys.executable, "-c", SLOW_KPI] if slow else [sys.executable, "-m", "dashboard.app.cli"]
    return subprocess.run([*head, "kpi", *args], capture_output=True, text=True, env=env, cwd=REPO)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"csv": tmp_path / "tickets.csv", "jsonl": tmp_path / "tickets.jsonl", "areas": tmp_path / "areas.csv",
             "bad": tmp_path / "bad.csv"}
    mixed = list(MIXED)                                          # K19: the first and last years, end to end
    lines = csv_text(mixed + generated(400, 3)).split("\n")
    lines[40] += ",one too many"
    paths["csv"].write_text("\n".join(lines[:100] + [""] + lines[100:]), encoding="utf-8")   # and a blank line
    paths["jsonl"].write_text(jsonl_text(mixed + generated(400, 4)), encoding="utf-8")
    paths["areas"].write_text(AREAS, encoding="utf-8")
    paths["bad"].write_text(csv_text(MIXED[GOOD:]), encoding="utf-8")
    return paths


@pytest.mark.parametrize("case", ["csv_by_street", "jsonl_by_department", "csv_text_table", "nothing_usable"])
def test_kpf008_cityops_kpi_output_is_identical(files, case) -> None:
    if case == "csv_by_street":
        args = ["--tickets", str(files["csv"]), "--areas", str(files["areas"]), *WINDOW, "--by", "area:street",
                "--json"]
    elif case == "jsonl_by_department":
        args = ["--tickets", str(files["jsonl"]), *WINDOW, "--by", "department", "--json"]
    elif case == "csv_text_table":
        args = ["--tickets", str(files["csv"]), *WINDOW]
    else:
        args = ["--tickets", str(files["bad"]), *WINDOW, "--json"]
    fast, slow = run_kpi(*args), run_kpi(*args, slow=True)
    assert (fast.returncode, fast.stdout, fast.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    if case == "nothing_usable":
        assert fast.returncode == 1 and "no usable tickets" in fast.stderr
    else:
        assert fast.returncode == 0, fast.stderr
        assert "tickets rejected" in fast.stderr and "ticket B09: status" in fast.stderr
        if case.startswith("csv"):
            assert "row 40 (line 41), ticket ?: row 41: 1 cells more than the header" in fast.stderr
        if case != "csv_text_table":
            assert json.loads(fast.stdout)["rows"][0]["received"] > 0


def test_kpf011_jsonl_read_in_one_call_only_when_every_line_is_one_object(monkeypatch) -> None:
    """The poller's JSON Lines reader parses the payload as one array; a line that is not
    exactly one object (two on a line, a value split over lines, not JSON, not an object),
    other line ends, a byte order mark, blank lines: the same records and rejects as the
    per-line reader, line numbers included."""
    calls: list[bool] = []
    one_call = canonical_columns._jsonl_objects
    monkeypatch.setattr(canonical_columns, "_jsonl_objects", lambda d: calls.append(True) or one_call(d))
    good = [json.dumps(ticket(f"J{i}"), ensure_ascii=False) for i in range(6)]
    cases = {
        "plain": "\n".join(good) + "\n",
        "blank lines and bom": "\ufeff" + "\n \n".join(good) + "\n\n",
        "two on a line": good[0] + "," + good[1] + "\n" + "\n".join(good[2:]),
        "split over lines": good[0][:-1] + "\n}\n" + "\n".join(good[1:]),
        "not json": "\n".join(good[:3]) + "\n{nope\n" + "\n".join(good[3:]),
        "not an object": "\n".join(good[:3]) + "\n[1, 2]\n5\n" + "\n".join(good[3:]),
        "crlf": "\r\n".join(good) + "\r\n",
        "line separator in a text": "\n".join(good[:3]) + "\n" + good[3].replace('"J3"', '"J\u20283"') + "\n",
    }
    for name, text in cases.items():
        calls.clear()
        frame, rejects = assert_same(text.encode(), "jsonl")
        assert calls, name
    fast_ok = canonical_columns._jsonl_objects
    assert fast_ok(cases["plain"].encode()) is not None
    assert fast_ok(cases["blank lines and bom"].encode("utf-8")) is not None
    for name in ("two on a line", "split over lines", "not json", "not an object", "crlf",
                 "line separator in a text"):
        assert fast_ok(cases[name].encode()) is None, name
    assert parse_tickets_records(b"", "jsonl") == ([], [])


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_kpf012_a_large_file_read_a_chunk_at_a_time_gives_the_same_report(fmt, tmp_path, monkeypatch, capsys) -> None:
    """Streaming (files over STREAM_BYTES, here forced with chunks of 4 kB): the same JSON
    and the same rejects, numbered as in the whole file, for every grouping; a whole-file
    read of the same file is the reference."""
    import dashboard.app.commands.kpi as kpi
    from dashboard.app.commands.kpi import main

    rows = generated(3000, 7)
    # a department and a grid whose tickets cannot count in the window: listed all the same
    for i in range(5):
        rows.insert(400 * i, {"ticket_id": f"OLD{i}", "source": "hotline", "department": "D-old", "grid_code": "G9",
                              "status": "closed", "created_at": "2026-06-01T09:00:00+08:00",
                              "closed_at": "2026-06-02T09:00:00+08:00"})
    if fmt == "csv":
        lines = csv_text(rows).split("\n")
        lines[1500] = lines[1500] + ","                          # a row with a cell too many
        text = "\n".join(lines[:700] + [""] + lines[700:])       # and a blank line
    else:
        text = jsonl_text(rows[:900]) + "\n\n" + "{not json\n" + jsonl_text(rows[900:])
    path = tmp_path / f"big.{fmt}"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "areas.csv").write_text(AREAS, encoding="utf-8")
    chunks = []
    real_chunks = kpi._chunks
    monkeypatch.setattr(kpi, "_chunks", lambda *a: (chunks.append(1) or c for c in real_chunks(*a)))
    monkeypatch.setattr(kpi, "CHUNK_BYTES", 4096)
    for by in ("area:street", "department", "none"):
        args = ["--tickets", str(path), "--areas", str(tmp_path / "areas.csv"), *WINDOW, "--by", by, "--json"]
        monkeypatch.setattr(kpi, "STREAM_BYTES", 10**12)
        assert main(args) == 0
        whole = capsys.readouterr()
        monkeypatch.setattr(kpi, "STREAM_BYTES", 0)
        assert main(args) == 0
        streamed = capsys.readouterr()
        assert len(chunks) > 20
        assert streamed.out == whole.out, by
        assert streamed.err == whole.err, by
        assert "tickets rejected" in whole.err
        if by == "department":
            assert any(r["name"] == "D-old" and r["received"] == 0 for r in json.loads(whole.out)["rows"])
        chunks.clear()

"""Sub-second times are kept end to end (issue 10, item 11): the per-row and the column-wise
ticket paths, the store's version stamps, the frames and `cityops kpi`.

A closure at 16:21:31.212428 (+08:00) stays 08:21:31.212428Z; mean handling hours equal an
exact computation (fractions of microseconds, no float rounding of the inputs).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pandas as pd
import pytest

from dashboard.app.commands.kpi import main as kpi_main
from feeds.tickets.canonical import parse_tickets
from feeds.records import parse_time, tickets_frame, validate_many, validate_ticket
from tests.test_kpi_fast import assert_same

CLOSED = "2026-11-20T16:21:31.212428+08:00"
FIELDS = ["ticket_id", "status", "created_at", "dispatched_at", "closed_at", "department"]
# dispatched → closed with fractions of a second of every width the formats allow
TICKETS = [
    ("M1", "2026-11-20T08:00:00+08:00", "2026-11-20T08:00:00.5+08:00", CLOSED),
    ("M2", "2026-11-19T23:59:59.999999Z", "2026-11-20T00:00:00.000001Z", "2026-11-20T03:14:15.926535Z"),
    ("M3", "2026-11-18T10:00:00.1Z", "2026-11-18T10:00:00.12Z", "2026-11-18T12:34:56.789Z"),
    ("M4", "2026-11-17T10:00:00Z", "2026-11-17T10:00:00.000999-01:30", "2026-11-18T00:00:00.0001Z"),
]


def _rows():
    return [{"ticket_id": tid, "status": "closed", "created_at": c, "dispatched_at": d, "closed_at": x,
             "department": "D1"} for tid, c, d, x in TICKETS]


def _csv() -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, FIELDS)
    w.writeheader()
    w.writerows(_rows())
    return buf.getvalue().encode()


def test_a_closure_keeps_its_microseconds():
    rec = validate_ticket({"ticket_id": "M1", "status": "closed", "created_at": "2026-11-20T08:00:00+08:00",
                           "closed_at": CLOSED})
    assert rec["closed_at"] == "2026-11-20T08:21:31.212428Z"
    assert parse_time("2026-11-20T08:00:00.5+08:00", "t") == "2026-11-20T00:00:00.500000Z"
    assert parse_time("2026-11-20T08:00:00.000+08:00", "t") == "2026-11-20T00:00:00Z"   # whole seconds as before
    df = tickets_frame([rec])
    assert df["closed_at"][0] == pd.Timestamp("2026-11-20T08:21:31.212428Z")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_both_ticket_paths_keep_microseconds_and_agree(fmt):
    data = _csv() if fmt == "csv" else "\n".join(json.dumps(r) for r in _rows()).encode() + b"\n"
    frame, rejects = assert_same(data, fmt)        # the column-wise frame equals the per-row one
    assert rejects == []
    closed = dict(zip(frame["ticket_id"], frame["closed_at"]))
    assert closed["M1"] == pd.Timestamp("2026-11-20T08:21:31.212428Z")
    assert closed["M2"].microsecond == 926535 and closed["M4"].microsecond == 100
    dispatched = dict(zip(frame["ticket_id"], frame["dispatched_at"]))
    assert dispatched["M2"] == pd.Timestamp("2026-11-20T00:00:00.000001Z")
    assert dispatched["M4"] == pd.Timestamp("2026-11-17T11:30:00.000999Z")
    records, _ = parse_tickets(data, fmt)
    assert {r["ticket_id"]: r["closed_at"] for r in records}["M1"] == "2026-11-20T08:21:31.212428Z"


def test_the_store_orders_stamps_with_and_without_fractions(embedded_store):
    ds = embedded_store.dataset("tickets")
    base = {"ticket_id": "S1", "status": "registered", "created_at": "2026-11-20T08:00:00Z"}
    assert ds.upsert([dict(base, updated_at="2026-11-20T08:21:31Z")]).inserted == 1
    r = ds.upsert([dict(base, status="closed", updated_at="2026-11-20T08:21:31.212428Z")])
    assert r.updated == 1                                        # a fraction later is newer
    assert ds.upsert([dict(base, updated_at="2026-11-20T08:21:31.2124280Z")]).unchanged == 1
    assert ds.upsert([dict(base, updated_at="2026-11-20T08:21:31.2Z")]).stale == 1
    assert ds.upsert([dict(base, updated_at="2026-11-20T08:21:31Z")]).stale == 1
    (stored,) = ds.get(["S1"])
    assert stored["status"] == "closed" and stored["updated_at"] == "2026-11-20T08:21:31.212428Z"


def _exact_hours(d: str, c: str) -> Fraction:
    def us(text):
        t = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
        return (t - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    return Fraction(us(c) - us(d), 3_600_000_000)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_cityops_kpi_mean_handling_hours_is_exact(tmp_path, capsys, suffix):
    path = tmp_path / f"tickets.{suffix}"
    path.write_bytes(_csv() if suffix == "csv" else "\n".join(json.dumps(r) for r in _rows()).encode() + b"\n")
    code = kpi_main(["--tickets", str(path), "--now", "2026-11-21T00:00:00+08:00", "--start",
                     "2026-11-01T00:00:00+08:00", "--end", "2026-11-21T00:00:00+08:00", "--by", "department",
                     "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (row,) = [r for r in json.loads(out)["rows"] if r["key"] == "D1"]
    exact = sum(_exact_hours(d, c) for _, _, d, c in TICKETS) / len(TICKETS)
    assert row["closed"] == 4
    assert abs(row["mean_handling_hours"] - float(exact)) <= 1e-12 * float(exact)

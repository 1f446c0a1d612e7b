"""Ticket adapters on valid and invalid payloads, including the Open311 spec's own examples."""

from __future__ import annotations

import json

import pytest

from feeds.base import FeedError
from feeds.tickets.canonical import PayloadError, parse_tickets
from feeds.tickets.open311 import parse_requests
from tests.conftest import SHARED

SPEC = SHARED / "data" / "payloads" / "open311"


def test_fdt001_spec_examples_are_not_json_and_are_refused_clearly():
    for name in ("georeport_v2_spec__requests.json", "georeport_v2_spec__request.json"):
        data = (SPEC / name).read_bytes()
        with pytest.raises(FeedError, match="not strict JSON.*leading zeros"):
            parse_requests(data)


def test_fdt002_spec_examples_made_strict_are_mapped():
    data = (SPEC / "georeport_v2_spec__requests.json").read_text().replace(":006", ':"006"')
    records, rejects = parse_requests(data.encode())
    assert rejects == []
    closed, open_ = records
    assert closed["ticket_id"] == "638344" and closed["status"] == "closed"
    # a closed request's updated_datetime is its closing time; -08:00 → UTC
    assert closed["closed_at"] == "2010-04-14T14:37:38Z"
    assert closed["deadline_at"] == "2010-04-15T14:37:38Z"
    assert closed["lat"] == pytest.approx(37.762221815) and closed["lon"] == pytest.approx(-122.4651145)
    assert open_["status"] == "registered" and open_["closed_at"] is None   # no agency: not dispatched


def test_fdt003_bad_items_are_rejected_the_rest_kept():
    items = [
        {"service_request_id": "1", "status": "open", "requested_datetime": "2026-11-20T10:00:00+08:00",
         "updated_datetime": "2026-11-20T10:00:00+08:00", "agency_responsible": "城管局"},
        {"service_request_id": "2", "status": "pending", "requested_datetime": "2026-11-20T10:00:00+08:00"},
        {"service_request_id": "3", "status": "open", "requested_datetime": "yesterday"},
        {"status": "open", "requested_datetime": "2026-11-20T10:00:00+08:00"},
        {"service_request_id": "5", "status": "closed", "requested_datetime": "2026-11-20T10:00:00+08:00"},
        "not an object",
    ]
    records, rejects = parse_requests(json.dumps(items).encode())
    assert [r["ticket_id"] for r in records] == ["1"]
    assert records[0]["status"] == "dispatched" and records[0]["department"] == "城管局"
    reasons = {r.index: r.reason for r in rejects}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "status: expected open or closed" in reasons[1]
    assert "requested" not in reasons[2] and "created_at: not an ISO 8601 time" in reasons[2]
    assert "service_request_id: missing" in reasons[3]
    assert "closing time" in reasons[4]


def test_fdt004_open311_error_array_is_not_a_list_of_requests():
    with pytest.raises(FeedError):
        parse_requests(b'{"x": 1')


CSV = (
    "ticket_id,source,status,created_at,closed_at,urgency,rating,caller_name,caller_phone\n"
    "A1,hotline,closed,2026-11-20T02:00:00Z,2026-11-20T12:00:00+08:00,normal,satisfied,张三丰,13812345678\n"
    "A2,hotline,teleported,2026-11-20T02:00:00Z,,normal,,,\n"
    "A3,hotline,registered,2026-11-20 10:00:00,,normal,,,\n"
    "A4,hotline,closed,2026-11-20T02:00:00Z,2026-11-19T02:00:00Z,normal,,,\n"
    ",hotline,registered,2026-11-20T02:00:00Z,,normal,,,\n"
    "A6,hotline,registered,2026-11-20T02:00:00Z,,sometime,,,\n"
)


def test_fdt005_canonical_csv_keeps_good_rows_rejects_bad_with_reasons():
    records, rejects = parse_tickets(CSV.encode(), "csv")
    assert [r["ticket_id"] for r in records] == ["A1"]
    # 12:00 at +08:00 is 04:00 UTC
    assert records[0]["closed_at"] == "2026-11-20T04:00:00Z"
    assert records[0]["updated_at"] == "2026-11-20T04:00:00Z"   # no updated_at: the newest time
    reasons = {r.index: r.reason for r in rejects}
    assert sorted(reasons) == [1, 2, 3, 4, 5]
    assert "status: expected one of" in reasons[1] and "teleported" in reasons[1]
    assert "without a UTC offset" in reasons[2]
    assert "before created_at" in reasons[3]
    assert "ticket_id: missing" in reasons[4]
    assert "urgency: expected one of urgent, normal, complex" in reasons[5]
    assert {r.ticket_id for r in rejects} == {"A2", "A3", "A4", None, "A6"}


def test_fdt006_jsonl_bad_line_does_not_take_the_batch_down():
    lines = [
        json.dumps({"ticket_id": "J1", "status": "registered", "created_at": "2026-11-20T10:00:00+08:00"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"ticket_id": "J2", "status": "closed", "created_at": "2026-11-20T10:00:00+08:00",
                    "closed_at": "2026-11-20T12:00:00+08:00", "caller_phone": "13812345678"}),
    ]
    records, rejects = parse_tickets("\n".join(lines).encode(), "jsonl")
    assert [r["ticket_id"] for r in records] == ["J1", "J2"]
    assert records[1]["closed_at"] == "2026-11-20T04:00:00Z"
    assert [(r.index, r.reason.split(":")[0]) for r in rejects] == [(1, "line 2"), (2, "line 3")]


def test_fdt007_reject_excerpts_mask_personal_data():
    bad = json.dumps({"ticket_id": "P1", "status": "nope", "created_at": "2026-11-20T10:00:00+08:00",
                      "caller_name": "王小明", "caller_phone": "13812345678"})
    _, rejects = parse_tickets(bad.encode(), "jsonl")
    assert "王**" in rejects[0].excerpt and "138****5678" in rejects[0].excerpt
    assert "13812345678" not in rejects[0].excerpt and "王小明" not in rejects[0].excerpt


def test_fdt008_unreadable_payloads_raise():
    with pytest.raises(PayloadError, match="no header row with a ticket_id"):
        parse_tickets(b"a,b\n1,2\n", "csv")
    with pytest.raises(PayloadError, match="not UTF-8"):
        parse_tickets(b"\xff\xfe\x00garbage", "jsonl")


def _per_item(items: list, source: str = "open311"):
    """The reference: each request through to_canonical on its own."""
    from feeds.tickets.open311 import to_canonical
    from feeds.records import RecordError, Reject, excerpt

    records, rejects = [], []
    for i, item in enumerate(items):
        try:
            records.append(to_canonical(item, source))
        except RecordError as exc:
            sid = item.get("service_request_id") if isinstance(item, dict) else None
            rejects.append(Reject(i, str(exc), excerpt(item), None if sid is None else str(sid)))
    return records, rejects


def test_fdt005_open311_checked_column_by_column_gives_the_per_item_result():
    import random

    import orjson

    rnd = random.Random(3)
    times = ["2026-11-20T10:00:00+08:00", "2026-11-20T02:00:00Z", "2026-11-20 10:00:00+08:00", "yesterday",
             "2026-11-20T10:00:00", "", None, "2026-11-21T09:30:00.25-05:00", "1800-01-01T00:00:00Z"]
    items = []

    def pick(values):     # mostly the first (good) value, now and then any of them
        return values[0] if rnd.random() < 0.8 else rnd.choice(values)

    for i in range(600):
        position = pick([(39.6, 106.8), ("39.61", "106.8"), (None, None), (95, 106.8), ("x", 106.8), (40, None)])
        item = {"service_request_id": pick([f"R{i}", f" {i} ", i, None, ""]),
                "status": pick(["open", "closed", "Open", "CLOSED", "pending"]),
                "requested_datetime": pick(times), "updated_datetime": pick(times),
                "expected_datetime": pick(times[::-1]), "service_name": pick(["路灯", " 噪音 ", None, 5]),
                "agency_responsible": pick(["城管局", None, ""]), "lat": position[0], "long": position[1]}
        items.append(item if rnd.random() > 0.02 else rnd.choice(["text", 7, [1]]))
    fast, fast_rejects = parse_requests(orjson.dumps(items))
    slow, slow_rejects = _per_item(items)
    assert len(fast) > 50 and len(fast_rejects) > 100      # both kinds well represented
    assert [orjson.dumps(r) for r in fast] == [orjson.dumps(r) for r in slow]
    assert fast_rejects == slow_rejects

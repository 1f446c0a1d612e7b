"""Fuzzing the ticket adapters (Open311 JSON and XML, canonical JSON Lines and CSV): 2,000
mutated payloads each — flipped and inserted bytes, lone surrogates, bytes that are not
UTF-8, oversized fields, deep nesting, non-finite numbers. No payload crashes an adapter:
it is refused whole with a clear error, or every item ends as a record or a reject."""

from __future__ import annotations

import json
import random

import pytest

from feeds.base import FeedError
from feeds.tickets.canonical import FIELD_LIMIT, PayloadError, parse_tickets
from feeds.tickets.canonical_columns import parse_tickets_records
from feeds.tickets.open311 import parse_items, parse_requests
from tests.open311_upstream import Open311Server

N = 2000


def _open311_items(rnd: random.Random, n: int) -> list[dict]:
    return [{"service_request_id": str(1000 + i), "status": rnd.choice(["open", "closed"]),
             "service_name": "路灯", "agency_responsible": "城管局",
             "requested_datetime": "2026-11-20T10:00:00+08:00", "updated_datetime": "2026-11-20T12:00:00+08:00",
             "lat": 39.67, "long": 106.82} for i in range(n)]


def _canonical_items(n: int) -> list[dict]:
    return [{"ticket_id": f"T{i}", "status": "registered", "created_at": "2026-11-20T10:00:00+08:00",
             "category": "噪音", "department": "环保局"} for i in range(n)]


NASTY = [b"\\ud800", b"\\udfff", b"\xff", b"\xc3", b"\xed\xa0\x80", b"NaN", b"Infinity", b"1e999", b"-0",
         b"\x00", b'"', b"<", b"&amp;", b"]]>", b"\n", b"\r", b"\\", b"{" * 700, b"[" * 700,
         b"x" * (FIELD_LIMIT + 5), b"006", b"\xef\xbb\xbf"]


def mutate(rnd: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        pos = rnd.randrange(len(out) + 1)
        what = rnd.random()
        if what < 0.45:
            out[pos:pos] = rnd.choice(NASTY)
        elif what < 0.7 and out:
            out[min(pos, len(out) - 1)] = rnd.randrange(256)
        elif what < 0.85:
            del out[pos:pos + rnd.randint(1, 20)]
        else:
            out[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
    return bytes(out)


def _accounted_open311(data: bytes, fmt: str) -> None:
    try:
        items = parse_items(data, fmt)
    except FeedError:
        with pytest.raises(FeedError):
            parse_requests(data, fmt=fmt)
        return
    records, rejects = parse_requests(data, fmt=fmt)
    assert len(records) + len(rejects) == len(items)
    assert all(r.reason for r in rejects)
    for r in rejects:            # stored and shown: must be encodable text
        r.reason.encode("utf-8"), r.excerpt.encode("utf-8"), (r.ticket_id or "").encode("utf-8")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_fuz001_open311_payloads_never_crash(fmt):
    rnd = random.Random(311 if fmt == "json" else 312)
    for k in range(N):
        items = _open311_items(rnd, rnd.randint(1, 6))
        seed = json.dumps(items, ensure_ascii=False).encode() if fmt == "json" else Open311Server.to_xml(items)
        _accounted_open311(mutate(rnd, seed), fmt)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_fuz002_canonical_payloads_never_crash(fmt):
    rnd = random.Random(77 if fmt == "jsonl" else 78)
    for k in range(N):
        items = _canonical_items(rnd.randint(1, 6))
        if fmt == "jsonl":
            seed = b"".join(json.dumps(it, ensure_ascii=False).encode() + b"\n" for it in items)
        else:
            cols = list(items[0])
            seed = (",".join(cols) + "\n" + "".join(",".join(str(it[c]) for c in cols) + "\n"
                                                    for it in items)).encode()
        data = mutate(rnd, seed)
        outcomes = []
        for parse in (parse_tickets, parse_tickets_records):
            try:
                records, rejects = parse(data, fmt)
            except PayloadError as exc:
                outcomes.append(("refused", str(exc)))
                continue
            assert all(r.reason for r in rejects)
            if fmt == "jsonl":
                lines = [ln for ln in data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "surrogateescape")
                         .splitlines() if ln.strip()]
                assert len(records) + len(rejects) == len(lines)
            outcomes.append((len(records), [r.reason for r in rejects]))
        assert outcomes[0] == outcomes[1], data[:200]      # the poller's path and the per-row path agree


def test_fuz003_one_bad_item_of_a_hundred():
    """The issue's cases exactly: a lone surrogate escape in one of 100 Open311 items; one
    invalid byte in one of 100 JSON Lines lines; one oversized cell in one of 100 CSV rows."""
    rnd = random.Random(5)
    items = _open311_items(rnd, 100)
    text = json.dumps(items).replace('"agency_responsible": "\\u57ce\\u7ba1\\u5c40"',
                                     '"agency_responsible": "\\ud800"', 1)
    recs, rej = parse_requests(text.encode())
    assert (len(recs), len(rej)) == (99, 1) and "surrogate" in rej[0].reason
    lines = [json.dumps(it, ensure_ascii=False).encode() for it in _canonical_items(100)]
    lines[40] = lines[40].replace("噪音".encode(), b"\x80\x80")
    recs, rej = parse_tickets_records(b"\n".join(lines), "jsonl")
    assert (len(recs), len(rej)) == (99, 1) and rej[0].index == 40
    rows = ["ticket_id,status,created_at,category"] + [
        f"T{i},registered,2026-11-20T10:00:00+08:00,{'z' * (FIELD_LIMIT + 1) if i == 7 else '噪音'}" for i in range(100)]
    recs, rej = parse_tickets_records("\n".join(rows).encode(), "csv")
    assert (len(recs), len(rej)) == (99, 1) and rej[0].index == 7

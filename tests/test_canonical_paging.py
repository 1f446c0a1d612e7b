"""The canonical feed over HTTP against a real server on 127.0.0.1 that pages with
`X-Has-More` (and optionally `X-Total-Count`): every page read whatever the cursor
setting, each page stored before the next is asked for, coverage reported; one bad line or
an oversized CSV cell rejected alone, never a crash."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest

from dashboard.config.settings import FeedSettings, load_settings
from feeds.tickets.canonical import FIELD_LIMIT, parse_tickets
from feeds.tickets.canonical_columns import parse_tickets_frame, parse_tickets_records
from feeds.poller import Poller

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


def ticket(i: int) -> dict:
    t = (T0 + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    return {"ticket_id": f"K-{i:06d}", "status": "registered", "created_at": t, "updated_at": t,
            "category": "市容环境", "department": "城管局"}


class Paging:
    """JSON Lines ordered by (updated_at, ticket_id); pages of at most `cap`, `X-Has-More`."""

    def __init__(self, n: int, cap: int = 5000, total: bool = False):
        self.rows = [ticket(i) for i in range(n)]
        self.cap, self.total = cap, total
        self.queries: list[dict] = []
        self.on_request = None
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802
                q = dict(parse_qsl(urlsplit(self.path).query))
                srv.queries.append(q)
                if srv.on_request:
                    srv.on_request()
                key = (q.get("updated_since", ""), q.get("after_id", ""))
                rows = [r for r in srv.rows if (r["updated_at"], r["ticket_id"]) > key] if key[0] else srv.rows
                n = min(int(q.get("limit", srv.cap)), srv.cap)
                body = b"".join(orjson.dumps(r) + b"\n" for r in rows[:n])
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Has-More", "true" if len(rows) > n else "false")
                if srv.total:
                    self.send_header("X-Total-Count", str(len(srv.rows)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/export/tickets.jsonl"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def paging():
    made = []

    def make(*a, **kw):
        s = Paging(*a, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.mark.parametrize("param", ["", "updated_since"])
def test_cnp001_every_page_the_server_says_follows_is_read(paging, embedded_store, param):
    srv = paging(12_345, cap=5000, total=True)
    feed = FeedSettings(name="hotline", kind="tickets", format="canonical", url=srv.url,
                        updated_since_param=param, interval_s=10)
    clock = [T0 + timedelta(days=1)]
    p = Poller(load_settings(None, env={}), embedded_store, [feed], clock=lambda: clock[0])
    seen = []
    srv.on_request = lambda: seen.append(embedded_store.tickets.count())
    h = p.run_feed(feed)
    assert h["ok"], h.get("last_error")
    assert embedded_store.tickets.count() == 12_345 and h["accepted"] == 12_345
    # each page was stored before the next was asked for
    assert seen == sorted(seen) and seen[0] == 0 and seen[1] > 0 and len(set(seen)) == len(seen)
    cov = h["coverage"]
    assert (cov["upstream_count"], cov["held"], cov["missing"], cov["complete"]) == (12_345, 12_345, 0, True)
    # later polls read only what is new, by the cursor
    srv.rows += [ticket(20_000 + i) for i in range(7)]
    srv.queries.clear()
    clock[0] += timedelta(seconds=10)
    h = p.run_feed(feed, force=True)
    assert h["received"] == 7 and embedded_store.tickets.count() == 12_352
    assert srv.queries[0]["after_id"] == "K-012344"
    assert h["coverage"]["complete"] is True


def test_cnp002_a_server_that_never_says_more_is_read_whole_each_poll(paging, embedded_store):
    srv = paging(300, cap=10_000)
    feed = FeedSettings(name="plain", kind="tickets", format="canonical", url=srv.url, interval_s=10)
    p = Poller(load_settings(None, env={}), embedded_store, [feed], clock=lambda: T0)
    h = p.run_feed(feed)
    assert h["ok"] and embedded_store.tickets.count() == 300 and h["coverage"]["complete"]


def test_cnp003_one_bad_byte_rejects_one_line():
    lines = [orjson.dumps(ticket(i)) for i in range(5)]
    lines[2] = lines[2].replace("市容".encode(), b"\xff\xfe")
    data = b"\n".join(lines) + b"\n"
    for parse in (parse_tickets, parse_tickets_records):
        recs, rej = parse(data, "jsonl")
        assert [r["ticket_id"] for r in recs] == ["K-000000", "K-000001", "K-000003", "K-000004"]
        assert len(rej) == 1 and rej[0].index == 2 and "not UTF-8" in rej[0].reason and "line 3" in rej[0].reason
    frame, rej = parse_tickets_frame(data, "jsonl")
    assert len(frame) == 4 and len(rej) == 1


@pytest.mark.parametrize("quoted", [False, True])
def test_cnp004_an_oversized_cell_is_a_reject_never_a_crash(quoted):
    big = "x" * (FIELD_LIMIT + 10)
    cell = f'"{big}\nstill the same cell,status,closed"' if quoted else big
    text = ("ticket_id,status,created_at,category\n"
            "A,registered,2026-11-20T10:00:00+08:00,路灯\n"
            f"B,registered,2026-11-20T10:00:00+08:00,{cell}\n"
            "C,registered,2026-11-20T10:00:00+08:00,噪音\n")
    for parse in (parse_tickets, parse_tickets_records):
        recs, rej = parse(text.encode(), "csv")
        assert [r["ticket_id"] for r in recs] == ["A", "C"]
        assert len(rej) == 1 and rej[0].index == 1 and "more than the 131,072" in rej[0].reason
        assert len(rej[0].excerpt) < 400
    frame, rej = parse_tickets_frame(text.encode(), "csv")
    assert list(frame["ticket_id"]) == ["A", "C"] and len(rej) == 1


def test_cnp005_the_poller_survives_an_oversized_cell(tmp_path, embedded_store):
    f = tmp_path / "tickets.csv"
    f.write_text("ticket_id,status,created_at,category\n"
                 f"A,registered,2026-11-20T10:00:00+08:00,{'y' * (FIELD_LIMIT + 1)}\n"
                 "B,registered,2026-11-20T10:00:00+08:00,噪音\n", encoding="utf-8")
    feed = FeedSettings(name="drop", kind="tickets", format="canonical", path=str(f), interval_s=10)
    h = Poller(load_settings(None, env={}), embedded_store, [feed], clock=lambda: T0).run_feed(feed)
    assert h["ok"] and h["accepted"] == 1 and h["rejected"] == 1
    assert embedded_store.rejects("drop")[0]["reason"].startswith("row 2: cell 4 holds")

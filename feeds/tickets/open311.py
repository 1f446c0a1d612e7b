"""Open311 GeoReport v2 `requests.json` → canonical tickets.

Parsing is strict JSON: the specification's own examples (`"service_code":006`) are not
JSON and are rejected with a clear error, never guessed at.

Polling within the spec's limits: `start_date`/`end_date` filter on `requested_datetime`,
one query spans at most 90 days and returns at most `page_limit` (1,000 by default)
requests. So the first poll walks the look-back period in windows, splitting any window
that comes back full; later polls ask for the window since the last one (with an overlap);
and because the base spec has no "updated since", changes to older requests are caught by
re-querying the still-open ones by `service_request_id`, a slice per poll — or, when the
settings name the server's extension (`updated_since_param`), by that.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

from feeds.base import Batch, FeedError, PollContext, fetch
from feeds.records import RecordError, Reject, excerpt, validate_ticket
from feeds.tickets.records_fast import validate_items

OVERLAP = timedelta(hours=1)      # re-read the end of the last window: clocks differ
MIN_WINDOW = timedelta(minutes=1)
IDS_PER_QUERY = 50                # service_request_id lists, kept short for URL length
ID_QUERIES_PER_POLL = 10


def parse_requests(data: bytes, source: str = "open311") -> tuple[list[dict], list[Reject]]:
    """A `requests.json` payload → (canonical records, rejects). Raises FeedError if not JSON."""
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"Open311 payload is not strict JSON ({exc}); "
                        "note: numbers with leading zeros such as 006 are not JSON") from None
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise FeedError(f"Open311 payload: expected a list of service requests, got {type(body).__name__}")
    raws, positions, rejects = [], [], []
    for i, item in enumerate(body):
        try:
            raws.append(to_raw(item, source))
            positions.append(i)
        except RecordError as exc:
            rejects.append(_reject(i, str(exc), item))
    # the canonical checks column by column: the records and reasons of validate_ticket
    records, invalid = validate_items(raws, positions)
    rejects += [_reject(r.index, r.reason, body[r.index]) for r in invalid]
    return records, sorted(rejects, key=lambda r: r.index)


def _reject(i: int, reason: str, item) -> Reject:
    sid = item.get("service_request_id") if isinstance(item, dict) else None
    return Reject(i, reason, excerpt(item), None if sid is None else str(sid))


def to_canonical(item: dict, source: str = "open311") -> dict:
    return validate_ticket(to_raw(item, source))


def to_raw(item: dict, source: str = "open311") -> dict:
    """A service request -> a raw ticket in the canonical field names (not yet validated)."""
    if not isinstance(item, dict):
        raise RecordError(f"expected a service request object, got {type(item).__name__}")
    sid = item.get("service_request_id")
    if sid is None or str(sid).strip() == "":
        raise RecordError("service_request_id: missing")
    status = str(item.get("status") or "").strip().lower()
    if status not in ("open", "closed"):
        raise RecordError(f"status: expected open or closed, got {item.get('status')!r}")
    agency = item.get("agency_responsible")
    raw = {
        "ticket_id": str(sid),
        "source": source,
        "category": item.get("service_name") or item.get("service_code"),
        "department": agency,
        "status": "closed" if status == "closed" else ("dispatched" if agency else "registered"),
        "created_at": item.get("requested_datetime"),
        "updated_at": item.get("updated_datetime"),
        "deadline_at": item.get("expected_datetime"),
        # the spec: for a closed request updated_datetime is when it closed
        "closed_at": item.get("updated_datetime") if status == "closed" else None,
        "lat": item.get("lat"),
        "lon": item.get("long"),
    }
    if status == "closed" and not raw["closed_at"]:
        raise RecordError("updated_datetime: missing for a closed request (it is the closing time)")
    return raw


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _window(ctx: PollContext, url: str, start: datetime, end: datetime, out: Batch) -> None:
    """Fetch [start, end); split it while a response comes back full (truncated)."""
    data = fetch(ctx, url, {"start_date": _iso(start), "end_date": _iso(end)})
    records, rejects = parse_requests(data)
    if len(records) + len(rejects) >= ctx.feed.page_limit and end - start > MIN_WINDOW:
        mid = start + (end - start) / 2
        _window(ctx, url, start, mid, out)
        _window(ctx, url, mid, end, out)
        return
    if len(records) + len(rejects) >= ctx.feed.page_limit:
        out.notes.append(f"{_iso(start)}..{_iso(end)}: a full page even at {MIN_WINDOW}: some may be missed")
    _add(out, records, rejects)


def _add(out: Batch, records: list[dict], rejects: list[Reject]) -> None:
    base = out.received
    out.records += records
    out.rejects += [Reject(base + r.index, r.reason, r.excerpt, r.ticket_id) for r in rejects]
    out.received += len(records) + len(rejects)


def poll(ctx: PollContext) -> list[Batch]:
    feed, now, state = ctx.feed, ctx.now, ctx.state
    url = feed.url.rstrip("/")
    if not url.endswith(".json"):
        url += "/requests.json"
    out = Batch("tickets", [], [], 0)
    last_end = datetime.fromisoformat(state["window_end"]) if state.get("window_end") else None
    start = (last_end - OVERLAP) if last_end else now - timedelta(days=feed.lookback_days)
    step = timedelta(days=feed.window_days)
    while start < now:
        end = min(start + step, now + timedelta(seconds=1))
        _window(ctx, url, start, end, out)
        start = end
    if last_end is not None:
        _refresh_older(ctx, url, out, last_end)
    state["window_end"] = now.isoformat()
    return [out]


def _refresh_older(ctx: PollContext, url: str, out: Batch, since: datetime) -> None:
    """Catch changes to requests made before the current window."""
    param = ctx.feed.updated_since_param
    if param:
        data = fetch(ctx, url, {param: _iso(since - OVERLAP)})
        _add(out, *parse_requests(data))
        return
    ids = sorted(ctx.open_ids() if ctx.open_ids else [])
    if not ids:
        return
    cursor = int(ctx.state.get("open_cursor", 0)) % len(ids)
    span = IDS_PER_QUERY * ID_QUERIES_PER_POLL
    chosen = (ids + ids)[cursor: cursor + min(span, len(ids))]
    for i in range(0, len(chosen), IDS_PER_QUERY):
        data = fetch(ctx, url, {"service_request_id": ",".join(chosen[i:i + IDS_PER_QUERY])})
        _add(out, *parse_requests(data))
    ctx.state["open_cursor"] = (cursor + len(chosen)) % len(ids)

"""The simulator's two ticket APIs as plain functions: query parameters in, records out.

- canonical JSON Lines (sources hotline and patrol): a cursor on (updated_at, ticket_id);
- Open311 GeoReport v2 `requests.json` (source app): a window on requested_datetime.

Errors in the parameters raise `QueryError` with the message served to the client.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np

from . import catalog as cat
from .model import SimulatedCity
from .records import Columns
from .tickets import S

CANONICAL_SOURCES = ("hotline", "patrol")
OPEN311_SOURCE = "app"
DEFAULT_LIMIT, MAX_LIMIT = 5000, 20000
OPEN311_MAX = 1000
MAX_SPAN = timedelta(days=90)


class QueryError(ValueError):
    """A bad query parameter; the message names it."""


def parse_instant(value: str, name: str) -> datetime:
    """W3C/ISO 8601 datetime with an offset ('Z' allowed). A '+' decoded to ' ' is repaired."""
    text = re.sub(r" (\d\d:?\d\d)$", r"+\1", value.strip())
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(f"{name}: expected an ISO 8601 datetime with offset, got {value!r}") from None
    if dt.tzinfo is None:
        raise QueryError(f"{name}: expected a datetime with a UTC offset, got {value!r}")
    return dt


def _source_code(name: str) -> int:
    return cat.SOURCES.index(name)


def canonical_page(city: SimulatedCity, now: datetime, updated_since: str | None = None,
                   after_id: str | None = None, limit: str | int | None = None) -> tuple[list[dict], bool]:
    """Records with (updated_at, ticket_id) > (updated_since, after_id), in that order.

    Returns (records, has_more). Without updated_since: from the beginning.
    """
    try:
        n = DEFAULT_LIMIT if limit in (None, "") else int(limit)
    except ValueError:
        raise QueryError(f"limit: expected an integer 1..{MAX_LIMIT}, got {limit!r}") from None
    if n < 1:
        raise QueryError(f"limit: expected an integer 1..{MAX_LIMIT}, got {limit!r}")
    n = min(n, MAX_LIMIT)
    since = parse_instant(updated_since, "updated_since").timestamp() if updated_since else -np.inf
    table, v = city.view(now)
    src = table["source"][v.rows]
    keep = np.isin(src, [_source_code(s) for s in CANONICAL_SOURCES])
    rows, upd, slot = v.rows[keep], v.updated[keep], v.slot[keep]
    # table order is ticket_id order, so row position stands in for ticket_id
    first_after = np.searchsorted(table["id_sorted"], after_id or "", side="right")
    take = (upd > since) | ((upd == since) & (rows >= first_after))
    rows, upd, slot = rows[take], upd[take], slot[take]
    order = np.lexsort((rows, upd))
    more = len(order) > n
    order = order[:n]
    cols = Columns(city.ctx, table, rows[order], slot[order], upd[order], v.now)
    return cols.canonical(), more


def _open311_columns(city: SimulatedCity, now: datetime) -> tuple[Columns, np.ndarray]:
    """Columns of every app ticket alive at now, and their Open311 updated_datetime."""
    table, v = city.view(now)
    keep = table["source"][v.rows] == _source_code(OPEN311_SOURCE)
    cols = Columns(city.ctx, table, v.rows[keep], v.slot[keep], v.updated[keep], v.now)
    done_at = np.where(cols.status == "cancelled", cols.ev[:, S["cancelled"]], cols.ev[:, S["closed"]])
    updated = np.where(np.isin(cols.status, ["closed", "cancelled"]), done_at, cols.updated)
    return cols, updated


def _split(value: str | None) -> list[str]:
    return [x.strip() for x in (value or "").split(",") if x.strip()]


def open311_requests(city: SimulatedCity, now: datetime, params: dict[str, str]) -> list[dict]:
    """GeoReport v2 GET requests.json.

    service_request_id (comma list) returns those requests and ignores every other filter.
    Otherwise: start_date/end_date filter requested_datetime (inclusive); without both the
    window is the last 90 days (one given: the 90 days from/to it, capped at now); a span
    over 90 days is an error. status (open|closed, comma list), service_code (comma list).
    Extension updated_after: updated_datetime > that instant; without dates it searches all
    requests. At most 1,000 are returned: newest requested first, or, with updated_after,
    oldest updated first (page by passing the last updated_datetime seen).
    """
    cols, updated = _open311_columns(city, now)
    created = cols.ev[:, S["created"]]
    ids = _split(params.get("service_request_id"))
    if ids:
        sel = np.flatnonzero(np.isin(cols.t["ticket_id"], ids))
        return cols.take(sel).open311()
    keep = np.ones(len(created), dtype=bool)
    after = params.get("updated_after")
    start_s, end_s = params.get("start_date"), params.get("end_date")
    if start_s or end_s or not after:
        start = parse_instant(start_s, "start_date") if start_s else None
        end = parse_instant(end_s, "end_date") if end_s else None
        if start is None:
            start = (end or now) - MAX_SPAN
        if end is None:
            end = min(start + MAX_SPAN, now)
        if end < start:
            raise QueryError("end_date: expected a datetime after start_date")
        if end - start > MAX_SPAN:
            raise QueryError("start_date/end_date: the span may be at most 90 days")
        keep &= (created >= start.timestamp()) & (created <= end.timestamp())
    statuses = _split(params.get("status"))
    if any(s not in ("open", "closed") for s in statuses):
        raise QueryError(f"status: expected open and/or closed, got {params.get('status')!r}")
    if statuses:
        closed = np.isin(cols.status, ["closed", "cancelled"])
        keep &= closed if statuses == ["closed"] else ~closed if statuses == ["open"] else True
    codes = _split(params.get("service_code"))
    if codes:
        keep &= np.isin(np.array([c.code for c in cat.CATEGORIES])[cols.t["category"]], codes)
    if after:
        keep &= updated > parse_instant(after, "updated_after").timestamp()
        sel = np.flatnonzero(keep)
        sel = sel[np.lexsort((sel, updated[sel]))][:OPEN311_MAX]
    else:
        sel = np.flatnonzero(keep)[::-1][:OPEN311_MAX]  # table order is requested order
    return cols.take(sel).open311()


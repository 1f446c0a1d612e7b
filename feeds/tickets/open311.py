"""Open311 GeoReport v2 `requests.json` / `requests.xml` → canonical tickets.

Parsing is strict: the specification's own JSON examples (`"service_code":006`) are not
JSON and are refused with a clear error, never guessed at; XML is read by
`feeds.tickets.open311_xml`. One bad item (a lone surrogate escape, an invalid UTF-8 byte, a
failed check) is rejected alone, with its reason.

Completeness. A query spans at most 90 days (`start_date`/`end_date` filter on
`requested_datetime`) and the server answers with its own page size (the spec says 1,000;
100, 50 and 200 are common), so every query is read until the feed can prove nothing was
cut (`read_window`):
1. a next-page link (`Link: <…>; rel="next"` or `X-Next-Page-URL`) is followed to the end;
2. else a response that may be truncated — as many items as the largest response this
   server ever sent (`state["page_max"]`), or fewer than its `X-Total-Count` /
   `X-Result-Count` — is continued with `page=2, 3, …` if the server pages that way (found
   once: a server that ignores `page` sends page 1 again), else the window is cut in two
   and each half read the same way, down to one second;
3. a total header, when given, is compared with what arrived.
A window that still cannot be proven complete is reported (notes and coverage).

Polls. The first poll reads the whole look-back; later polls read from the last window's
end (minus an hour: clocks differ), then the changes to older requests: through the
server's "updated since" extension when `updated_since_param` names it (read with the
same rules), else by re-querying the still-open ones by `service_request_id`. A **sweep**
re-reads the whole look-back every `sweep_s` (a day-long window or more a poll, so that it
ends in time): changes, reopenings, and requests the server no longer serves (hidden,
moderated, deleted) — those are handed to the poller to be marked withdrawn upstream,
never deleted, only when their window was read completely. The sweep's totals are the
feed's coverage: what the upstream counts against what the console holds.

Every page is handed to the poller as it arrives (`PollContext.emit`); the state
(`window_end`, the sweep's position) advances only after the records are stored.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import orjson
import requests

from feeds.tickets.open311_xml import NotARequest
from feeds.base import Batch, FeedError, PollContext, emit, fetch_response
from feeds.records import RecordError, Reject, excerpt, validate_ticket
from feeds.tickets.records_fast import validate_items

OVERLAP = timedelta(hours=1)      # re-read the end of the last window: clocks differ
MIN_WINDOW = timedelta(seconds=1)  # the spec's times have seconds: no finer cut is possible
IDS_PER_QUERY = 50                # service_request_id lists, kept short for URL length
ID_QUERIES_PER_POLL = 10
SWEEP_CHUNK = timedelta(days=1)   # the sweep reads the look-back in windows of a day
MAX_PAGES = 10_000                # one query's pages (a loop guard, reported when reached)


# -- parsing -----------------------------------------------------------------------------
def parse_requests(data: bytes, source: str = "open311", fmt: str = "json") -> tuple[list[dict], list[Reject]]:
    """A `requests.json` / `requests.xml` payload → (canonical records, rejects).
    Raises FeedError if the document as a whole cannot be read."""
    return convert(parse_items(data, fmt), source)


def parse_items(data: bytes, fmt: str = "json") -> list:
    """The payload's list of service requests (dicts; for XML, a string saying why an
    element is not a request). Raises FeedError."""
    if fmt == "xml":
        from feeds.tickets.open311_xml import XmlError, parse_requests_xml
        try:
            return parse_requests_xml(data)
        except XmlError as exc:
            raise FeedError(f"Open311 XML payload: {exc}") from None
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        body = _lenient_json(data, exc)
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        raise FeedError(f"Open311 payload: expected a list of service requests, got {type(body).__name__}")
    return body


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _lenient_json(data: bytes, exc: Exception):
    """orjson refuses a whole document for one lone surrogate escape or one invalid UTF-8
    byte. Read it again with the standard library (as strict otherwise: no NaN/Infinity),
    keeping the bad text as surrogates so that only the items carrying it are rejected."""
    text = data.decode("utf-8", "surrogateescape")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        pass
    hint = ("; note: numbers with leading zeros such as 006 are not JSON"
            if re.search(r"[:\[,]\s*-?0\d", text) else "")
    raise FeedError(f"Open311 payload is not strict JSON ({exc}){hint}") from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad_text(value, path: str = "") -> str | None:
    """The field holding text that is not valid Unicode (a lone surrogate, or a byte that
    was not UTF-8), or None."""
    if isinstance(value, str):
        return (path or "(value)") if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            where = _bad_text(k, f"{path}.{k!r}".lstrip(".")) or _bad_text(v, f"{path}.{_clean(k)}".lstrip("."))
            if where:
                return where
    if isinstance(value, list):
        for i, v in enumerate(value):
            where = _bad_text(v, f"{path}[{i}]")
            if where:
                return where
    return None


def _clean(value) -> str:
    """Text safe to store and show: bad surrogates written as escapes."""
    return str(value).encode("utf-8", "backslashreplace").decode("utf-8")


def _sid(item) -> str | None:
    sid = item.get("service_request_id") if isinstance(item, dict) else None
    return None if sid is None or str(sid).strip() == "" else _clean(sid).strip()


def convert(items: list, source: str = "open311") -> tuple[list[dict], list[Reject]]:
    raws, positions, rejects = [], [], []
    for i, item in enumerate(items):
        try:
            if isinstance(item, NotARequest):
                raise RecordError(item)
            where = _bad_text(item)
            if where:
                raise RecordError(f"{_clean(where)}: not valid Unicode text (a lone surrogate escape "
                                  "such as \\ud800, or a byte that is not UTF-8)")
            raws.append(to_raw(item, source))
            positions.append(i)
        except RecordError as exc:
            rejects.append(_reject(i, str(exc), item))
    # the canonical checks column by column: the records and reasons of validate_ticket
    records, invalid = validate_items(raws, positions)
    rejects += [_reject(r.index, r.reason, items[r.index]) for r in invalid]
    return records, sorted(rejects, key=lambda r: r.index)


def _reject(i: int, reason: str, item) -> Reject:
    sid = item.get("service_request_id") if isinstance(item, dict) else None
    return Reject(i, _clean(reason), _clean(excerpt(item)), None if sid is None else _clean(sid))


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


# -- the endpoint ------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    url: str          # scheme://host/path/requests.json|xml, without a query
    params: dict      # sent on every call: the URL's own query, jurisdiction_id
    fmt: str          # json | xml


def endpoint(feed) -> Endpoint:
    """The feed's URL → the requests endpoint. A query string in the URL is kept and sent on
    every call (never glued before `/requests.json`); `jurisdiction_id` is added from the
    settings; the format is the setting's, else the URL's `.xml`/`.json`, else JSON."""
    parts = urlsplit(feed.url)
    path = parts.path.rstrip("/")
    named = "xml" if path.lower().endswith(".xml") else "json" if path.lower().endswith(".json") else ""
    fmt = getattr(feed, "open311_format", "") or named or "json"
    if named and named != fmt:
        path = path[: -len(named)] + fmt
    elif not named:
        path += f"/requests.{fmt}"
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if getattr(feed, "jurisdiction_id", ""):
        params["jurisdiction_id"] = feed.jurisdiction_id
    return Endpoint(urlunsplit((parts.scheme, parts.netloc, path, "", "")), params, fmt)


def _second(t: datetime) -> datetime:
    """`t` cut to the whole second (what `_iso` sends)."""
    return t.replace(microsecond=0)


def _at_or_after(item, end: datetime) -> bool:
    """Whether a served request was requested at or after `end` (unreadable times: no; the
    record's own check rejects them)."""
    text = item.get("requested_datetime") if isinstance(item, dict) else None
    if not isinstance(text, str):
        return False
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return t.tzinfo is not None and t >= end


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _total(resp: requests.Response) -> int | None:
    for name in ("X-Total-Count", "X-Result-Count"):
        v = resp.headers.get(name)
        if v is not None and v.strip().isdigit():
            return int(v)
    return None


def _next_url(resp: requests.Response) -> str | None:
    link = (resp.links.get("next") or {}).get("url") or resp.headers.get("X-Next-Page-URL")
    return urljoin(resp.url, link.strip()) if link and link.strip() else None


# -- reading -----------------------------------------------------------------------------
@dataclass
class Tally:
    """What a run of queries found: counts for the coverage, whether it is proven complete."""
    upstream: int = 0             # the upstream's count (its total header, else the items sent)
    items: int = 0
    rejected: int = 0
    complete: bool = True
    ids: set | None = None        # the ids served (kept for a sweep window only)
    gaps: list = field(default_factory=list)

    def gap(self, text: str) -> None:
        self.complete = False
        self.gaps.append(text)


class Reader:
    def __init__(self, ctx: PollContext, ep: Endpoint, kept: list[Batch]):
        self.ctx, self.ep, self.kept, self.st = ctx, ep, kept, ctx.state
        self.requests = 0
        # the window being read: its end_date as sent (whole seconds) and how many items the
        # server sent at or after it (a server that counts end_date in sends the next
        # window's first second too: taken there, not here, so nothing counts twice)
        self._end: datetime | None = None
        self._dropped = 0

    # one GET
    def _get(self, params: dict, url: str | None = None) -> tuple[list, requests.Response]:
        if url is None:
            url, params = self.ep.url, {**self.ep.params, **params}
        else:                          # a next-page link: its own query, plus the jurisdiction
            parts = urlsplit(url)
            params = {**{k: v for k, v in self.ep.params.items() if k == "jurisdiction_id"},
                      **dict(parse_qsl(parts.query, keep_blank_values=True))}
            url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        accept = "application/xml, text/xml" if self.ep.fmt == "xml" else "application/json"
        resp = fetch_response(self.ctx, url, params, accept=accept)
        self.requests += 1
        return parse_items(resp.content, self.ep.fmt), resp

    def _take(self, items: list, tally: Tally) -> None:
        """Hand one page to the poller (written before the poll goes on)."""
        if not items:
            return
        if self._end is not None:
            kept = [it for it in items if not _at_or_after(it, self._end)]
            self._dropped += len(items) - len(kept)
            items = kept
            if not items:
                return
        records, rejects = convert(items)
        tally.items += len(items)
        tally.rejected += len(rejects)
        if tally.ids is not None:
            tally.ids.update(filter(None, map(_sid, items)))
        emit(self.ctx, Batch("tickets", records, rejects, len(items)), self.kept)

    def _seen(self, n: int) -> int:
        """Remember the largest response; → the largest before this one."""
        prior = int(self.st.get("page_max", 0))
        if n > prior:
            self.st["page_max"] = n
        return prior

    # a window
    def read_window(self, start: datetime, end: datetime, extra: dict, tally: Tally) -> None:
        """Read every request of [start, end) (with `extra` params), proving it complete.

        The server is asked in whole seconds (`_iso`); requests it sends from the end second
        on are left to the window that starts there (servers differ on whether end_date is
        counted in)."""
        outer = self._end, self._dropped
        self._end, self._dropped = _second(end), 0
        try:
            self._read_window(start, end, extra, tally)
        finally:
            self._end, self._dropped = outer

    def _read_window(self, start: datetime, end: datetime, extra: dict, tally: Tally) -> None:
        label = f"{_iso(start)}..{_iso(end)}"
        params = {**extra, "start_date": _iso(start), "end_date": _iso(end)}
        items, resp = self._get(params)
        n, total, nxt = len(items), _total(resp), _next_url(resp)
        prior = self._seen(n)
        if nxt:
            self._take(items, tally)
            got = n + self._follow(nxt, tally, label)
            self._counted(tally, total, got, label)
            return
        if total is not None and n >= total:
            truncated = False
        else:
            truncated = n > 0 and (n >= prior or (total is not None and n < total))
        if not truncated:
            self._take(items, tally)
            self._counted(tally, total, n, label)
            return
        if self.st.get("paging") != "none" and self._pages(params, items, total, tally, label):
            return
        if end - start > MIN_WINDOW:
            mid = start + (end - start) / 2
            mid = mid.replace(microsecond=0) if mid.replace(microsecond=0) > start else mid
            self.read_window(start, mid, extra, tally)
            self.read_window(mid, end, extra, tally)
            return
        self._take(items, tally)
        tally.upstream += max(n, total or 0) - self._dropped
        tally.gap(f"{label}: {n} requests in one second fill a page and the server has no paging: "
                  "some may be missing")

    def _counted(self, tally: Tally, total: int | None, got: int, label: str) -> None:
        got, total = got - self._dropped, None if total is None else total - self._dropped
        tally.upstream += got if total is None else total
        if total is not None and got < total:
            tally.gap(f"{label}: the server counts {total} requests, sent {got}")

    def _follow(self, url: str, tally: Tally, label: str) -> int:
        got, seen = 0, set()
        for _ in range(MAX_PAGES):
            if url in seen:
                tally.gap(f"{label}: the next-page link repeats itself")
                return got
            seen.add(url)
            items, resp = self._get({}, url)
            self._seen(len(items))
            self._take(items, tally)
            got += len(items)
            url = _next_url(resp)
            if not url:
                return got
        tally.gap(f"{label}: more than {MAX_PAGES} pages")
        return got

    def _pages(self, params: dict, first: list, total: int | None, tally: Tally, label: str) -> bool:
        """Continue a full first page with `page=2, 3, …`; False when the server does not
        page that way (it sent page 1 again): then the window is cut instead."""
        ids = set(filter(None, map(_sid, first)))
        items, _ = self._get({**params, "page": 2})
        new = set(filter(None, map(_sid, items)))
        if items and new <= ids:
            self.st["paging"] = "none"
            return False
        self.st["paging"] = "page"
        size = len(first)
        self._take(first, tally)
        got = size
        page = 2
        while True:
            self._take(items, tally)
            got += len(items)
            ids |= new
            if len(items) < size or (total is not None and got >= total):
                break
            page += 1
            if page > MAX_PAGES:
                tally.gap(f"{label}: more than {MAX_PAGES} pages")
                break
            items, _ = self._get({**params, "page": page})
            new = set(filter(None, map(_sid, items)))
            if not items or new <= ids:
                break
        self._counted(tally, total, got, label)
        return True

    def walk(self, start: datetime, end: datetime, extra: dict, tally: Tally,
             after_each=None) -> None:
        """[start, end) in windows of `window_days` (the spec: at most 90 days a query)."""
        step = timedelta(days=self.ctx.feed.window_days)
        while start < end:
            stop = min(start + step, end)
            self.read_window(start, stop, extra, tally)
            start = stop
            if after_each:
                after_each(stop)


# -- polling -----------------------------------------------------------------------------
def poll(ctx: PollContext) -> list[Batch]:
    feed, now, state = ctx.feed, ctx.now, ctx.state
    ep = endpoint(feed)
    kept: list[Batch] = []
    rd = Reader(ctx, ep, kept)
    notes: list[str] = []
    horizon = now + timedelta(seconds=1)
    last_end = datetime.fromisoformat(state["window_end"]) if state.get("window_end") else None
    if last_end is None:
        # the first poll reads the whole look-back; it counts as a completed sweep
        _sweep(ctx, rd, notes, start_over="sweep" not in state, everything=True)
    else:
        new = Tally()
        start = max(last_end - OVERLAP, now - timedelta(days=feed.lookback_days))

        def advance(stop: datetime) -> None:       # after each window is stored
            state["window_end"] = min(stop, now).isoformat()
            emit(ctx, Batch("tickets", [], [], 0), kept)

        rd.walk(start, horizon, {}, new, advance)
        notes += new.gaps
        _refresh_older(ctx, rd, last_end, notes)
        _sweep(ctx, rd, notes)
    state["window_end"] = now.isoformat()
    state["requests_last_poll"] = rd.requests
    emit(ctx, Batch("tickets", [], [], 0, notes=notes[-5:]), kept)
    return kept


def _refresh_older(ctx: PollContext, rd: Reader, since: datetime, notes: list[str]) -> None:
    """Catch changes to requests made before the current window."""
    param = ctx.feed.updated_since_param
    if param:
        tally = Tally()
        rd.walk(ctx.now - timedelta(days=ctx.feed.lookback_days), ctx.now + timedelta(seconds=1),
                {param: _iso(since - OVERLAP)}, tally)
        notes += tally.gaps
        return
    ids = sorted(ctx.open_ids() if ctx.open_ids else [])
    if not ids:
        return
    cursor = int(ctx.state.get("open_cursor", 0)) % len(ids)
    span = IDS_PER_QUERY * ID_QUERIES_PER_POLL
    chosen = (ids + ids)[cursor: cursor + min(span, len(ids))]
    for i in range(0, len(chosen), IDS_PER_QUERY):
        items, _ = rd._get({"service_request_id": ",".join(chosen[i:i + IDS_PER_QUERY])})
        rd._take(items, Tally())
    ctx.state["open_cursor"] = (cursor + len(chosen)) % len(ids)


def _sweep(ctx: PollContext, rd: Reader, notes: list[str], start_over: bool = False,
           everything: bool = False) -> None:
    """Advance the sweep of the whole look-back by this poll's share (all of it at the first
    poll); at its end, the coverage is computed and reported."""
    feed, now, state = ctx.feed, ctx.now, ctx.state
    sw = state.get("sweep")
    if sw is None or start_over:
        last = state.get("sweep_done_at")
        if not start_over and last and (now - datetime.fromisoformat(last)).total_seconds() < feed.sweep_s:
            return
        # whole seconds, as the server is asked: what is held is counted over the same span
        sw = {"from": _second(now - timedelta(days=feed.lookback_days)).isoformat(),
              "to": (_second(now) + timedelta(seconds=1)).isoformat(), "upstream": 0, "rejected": 0,
              "complete": True, "withdrawn": 0, "gaps": []}
        sw["pos"] = sw["from"]
        state["sweep"] = sw
    lo, hi = datetime.fromisoformat(sw["from"]), datetime.fromisoformat(sw["to"])
    pos = datetime.fromisoformat(sw["pos"])
    # the first poll reads in the largest windows; a sweep in day-long ones, a share a poll
    chunk = timedelta(days=feed.window_days) if everything else min(SWEEP_CHUNK, timedelta(days=feed.window_days))
    n_chunks = max(1, math.ceil((hi - lo) / chunk))
    per_poll = n_chunks if everything else max(1, math.ceil(n_chunks * feed.interval_s / max(feed.sweep_s, 1)))
    for _ in range(per_poll):
        if pos >= hi:
            break
        stop = min(pos + chunk, hi)
        tally = Tally(ids=set())
        rd.read_window(pos, stop, {}, tally)
        gone: list[str] = []
        if tally.complete and ctx.held_ids is not None:
            held = ctx.held_ids(pos.timestamp(), stop.timestamp())
            already = ctx.withdrawn_ids(pos.timestamp(), stop.timestamp()) if ctx.withdrawn_ids else set()
            gone = sorted(held - tally.ids - already)
        sw["upstream"] += tally.upstream
        sw["rejected"] += tally.rejected
        sw["withdrawn"] += len(gone)
        sw["complete"] = sw["complete"] and tally.complete
        sw["gaps"] = (sw["gaps"] + tally.gaps)[-5:]
        notes += tally.gaps
        if gone:
            notes.append(f"{len(gone)} requests of {_iso(pos)}..{_iso(stop)} no longer served: marked withdrawn")
        pos = stop
        sw["pos"] = pos.isoformat()
        emit(ctx, Batch("tickets", [], [], 0, withdraw=gone), rd.kept)   # stored, then the position
    if pos < hi:
        return
    held = ctx.held_count(lo.timestamp(), hi.timestamp()) if ctx.held_count else None
    missing = None if held is None else max(0, sw["upstream"] - held - sw["rejected"])
    ctx.report["coverage"] = {
        "upstream_count": sw["upstream"], "held": held, "rejected": sw["rejected"],
        "missing": missing, "complete": bool(sw["complete"] and missing == 0),
        "window": [lo.isoformat(), hi.isoformat()], "at": now.isoformat(),
        "withdrawn_found": sw["withdrawn"], "gaps": sw["gaps"],
        "how": "sweep of the look-back: the server's total headers where given, else the requests it sent"}
    state.pop("sweep", None)
    state["sweep_done_at"] = now.isoformat()


# the (kind, format) this adapter reads, for feeds.registry (every adapter module exports ADAPTERS)
ADAPTERS = {("tickets", "open311"): poll}

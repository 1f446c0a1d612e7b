"""The canonical ticket format: CSV or JSON Lines with exactly the canonical columns.

`parse_tickets` turns a payload into canonical records plus rejects; a line that is not
JSON, or a row that fails validation, is rejected with its reason and the rest are kept.
`feeds.tickets.canonical_columns.parse_tickets_frame` reads the same payloads column by column,
for large files (`cityops kpi`).
"""

from __future__ import annotations

import csv
import io
import re

import orjson

from feeds.records import Reject, excerpt, validate_many


class PayloadError(ValueError):
    """The payload as a whole cannot be read (not the format it claims to be)."""


def detect_format(name: str) -> str:
    low = name.lower()
    if low.endswith(".csv"):
        return "csv"
    if low.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    raise PayloadError(f"cannot tell the format of {name!r}: expected a .csv or .jsonl file")


# A cell may hold at most this many characters (the csv module's own default limit). The
# module's limit is raised once, process-wide, so that csv.reader reads an oversized cell
# whole — never stopping inside it and taking the rest of a quoted cell for new rows — and
# the row holding it is rejected with its reason instead (canonical tickets, both paths).
FIELD_LIMIT = 131_072
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))


def oversized(row) -> str | None:
    """Why a row read by csv.reader cannot be kept (a cell over FIELD_LIMIT), or None."""
    for j, cell in enumerate(row):
        if cell is not None and not isinstance(cell, list) and len(cell) > FIELD_LIMIT:
            return f"cell {j + 1} holds {len(cell):,} characters, more than the {FIELD_LIMIT:,} a cell may hold"
    return None


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_BAD_BYTE = re.compile("[\udc80-\udcff]")


def _decode(data: bytes, lines: bool = False) -> str:
    """UTF-8 text. `lines` (JSON Lines): a byte that is not UTF-8 spoils only its line — it is
    kept as a lone surrogate (surrogateescape) for `_jsonl_items` to reject that line; a
    UTF-16 file is still refused whole."""
    if lines and not data.startswith(_UTF16_BOMS):
        return data.decode("utf-8-sig", "surrogateescape")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8 text (byte {exc.start})") from None


def parse_tickets(data: bytes, fmt: str) -> tuple[list[dict], list[Reject]]:
    """CSV or JSON Lines bytes → (canonical records, rejects)."""
    text = _decode(data, lines=fmt == "jsonl")
    if fmt == "csv":
        return _parse_csv(text)
    if fmt == "jsonl":
        return _parse_jsonl(text)
    raise PayloadError(f"unknown canonical format {fmt!r}: expected csv or jsonl")


def _parse_csv(text: str) -> tuple[list[dict], list[Reject]]:
    try:
        return _parse_csv_rows(text)
    except csv.Error as exc:      # the file cannot be cut into rows: refused whole, with the reason
        raise PayloadError(f"CSV cannot be read: {exc}") from None


def _parse_csv_rows(text: str) -> tuple[list[dict], list[Reject]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))   # csv's own line ends (\r too)
    if not reader.fieldnames or "ticket_id" not in reader.fieldnames:
        raise PayloadError("CSV has no header row with a ticket_id column")
    items, bad = [], []
    if oversized(reader.fieldnames):
        raise PayloadError(f"CSV header: {oversized(reader.fieldnames)}")
    for i, row in enumerate(reader):
        big = oversized(row.values())
        if big:
            bad.append(Reject(i, f"row {i + 2}: {big}", excerpt({k: v for k, v in row.items()
                                                                  if k is None or len(v or "") <= 200})))
            items.append(None)
        elif None in row:  # more cells than header columns
            bad.append(Reject(i, f"row {i + 2}: {len(row[None])} cells more than the header", excerpt(row)))
            items.append(None)
        else:
            items.append(row)
    return _validate_positions(items, bad)


def _parse_jsonl(text: str) -> tuple[list[dict], list[Reject]]:
    return _validate_positions(*_jsonl_items(text))


def _jsonl_items(text: str) -> tuple[list[dict | None], list[Reject]]:
    """(one object per non-blank line, None for a bad line; the bad lines' rejects)."""
    items, bad = [], []
    index = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        byte = _BAD_BYTE.search(line)
        if byte:
            bad.append(Reject(index, f"line {lineno}: a byte that is not UTF-8 (0x{ord(byte.group()) - 0xDC00:02X} "
                                     f"at character {byte.start() + 1})",
                              excerpt(line.encode("utf-8", "surrogateescape"))))
            items.append(None)
            index += 1
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            bad.append(Reject(index, f"line {lineno}: not JSON ({exc})", excerpt(line)))
            items.append(None)
        else:
            if not isinstance(obj, dict):
                bad.append(Reject(index, f"line {lineno}: expected a JSON object", excerpt(line)))
                items.append(None)
            else:
                items.append(obj)
        index += 1
    return items, bad


def _validate_positions(items: list, bad: list[Reject]) -> tuple[list[dict], list[Reject]]:
    good_items = [(i, it) for i, it in enumerate(items) if it is not None]
    records: list[dict] = []
    rejects = list(bad)
    for i, it in good_items:
        recs, rej = validate_many([it], start_index=i)
        records += recs
        rejects += rej
    rejects.sort(key=lambda r: r.index)
    return records, rejects


# -- polling ------------------------------------------------------------------------
MAX_PAGES = 200              # pages a poll reads; the rest at the next poll (the feed says "more")
CURSOR_PARAMS = ("updated_since", "after_id", "limit")   # the canonical paging protocol


def _has_more(resp) -> bool | None:
    v = resp.headers.get("X-Has-More")
    return None if v is None else v.strip().lower() in ("true", "1", "yes")


def _total(resp) -> int | None:
    v = resp.headers.get("X-Total-Count")
    return int(v) if v is not None and v.strip().isdigit() else None


def poll(ctx):
    """Read the feed: a file (whole, when it changed) or a URL, page by page.

    Over HTTP the canonical paging protocol (docs/FORMATS.md) is followed whenever the
    server speaks it: records ordered by (updated_at, ticket_id); `updated_since` +
    `after_id` give the last pair read, `limit` the page size; `X-Has-More: true` says
    another page follows. The cursor is used when `updated_since_param` names it, and also
    — under its standard name — as soon as a server sends `X-Has-More`, so a server that
    pages is read to its end whatever the setting. Each page is handed to the poller as it
    arrives and the cursor advances only after it is stored. Without the protocol the whole
    payload is read each poll (upserts make that idempotent).
    """
    from pathlib import Path

    from feeds.base import Batch, FeedError, emit, fetch_response
    from feeds.tickets.canonical_columns import parse_tickets_records as parse_tickets   # column-wise, same result

    feed, state = ctx.feed, ctx.state
    kept: list = []
    if feed.path:
        p = Path(feed.path)
        try:
            stat = p.stat()
            if state.get("mtime") == stat.st_mtime_ns and state.get("size") == stat.st_size:
                return []
            data = p.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read {p}: {exc.strerror or exc}") from None
        try:
            records, rejects = parse_tickets(data, detect_format(p.name))
        except PayloadError as exc:
            raise FeedError(f"{p}: {exc}") from None
        state.update(mtime=stat.st_mtime_ns, size=stat.st_size)
        n = len(records) + len(rejects)
        ctx.report["coverage"] = _coverage(ctx, n, len(rejects), True, "the whole file, every line a record or a reject")
        return [Batch("tickets", records, rejects, n)]
    fmt = "csv" if feed.url.lower().split("?")[0].endswith(".csv") else "jsonl"
    param = feed.updated_since_param or ("updated_since" if state.get("protocol") else "")
    cursor_mode = bool(param)
    received = rejected = 0
    total = None
    done = False
    for page in range(MAX_PAGES):
        params = {}
        if cursor_mode:
            params = {"limit": feed.page_limit}
            if state.get("since"):
                params[param] = state["since"]
                params["after_id"] = state.get("after_id", "")
        resp = fetch_response(ctx, feed.url, params)
        try:
            records, rejects = parse_tickets(resp.content, fmt)
        except PayloadError as exc:
            raise FeedError(f"{feed.url}: {exc}") from None
        more, total = _has_more(resp), _total(resp) if _total(resp) is not None else total
        n = len(records) + len(rejects)
        received, rejected = received + n, rejected + len(rejects)
        moved = False
        if records and (more is not None or cursor_mode):
            last = max(records, key=lambda r: (r["updated_at"], r["ticket_id"]))
            moved = (last["updated_at"], last["ticket_id"]) != (state.get("since"), state.get("after_id"))
            state["since"], state["after_id"] = last["updated_at"], last["ticket_id"]
        if more is not None and not state.get("protocol"):
            state["protocol"] = True          # the server pages: from now on read by the cursor
            if not cursor_mode:
                param, cursor_mode = "updated_since", True
        emit(ctx, Batch("tickets", records, rejects, n), kept)      # stored, then the cursor saved
        if more is False or (more is None and (not cursor_mode or n < feed.page_limit)):
            done = True
            break
        if not moved:
            kept_note = (f"{feed.url}: the server says more follows, but its page moved the cursor "
                         f"no further (a page of rejects, or a cursor it ignores): stopped here")
            emit(ctx, Batch("tickets", [], [], 0, notes=[kept_note]), kept)
            break
    else:
        ctx.report["more"] = True   # the upstream has more than one poll reads: still loading
    how = ("X-Total-Count against the tickets this feed holds" if total is not None
           else "read to the server's last page" if done else "not read to the end")
    if cursor_mode:               # each line is read once: its rejects add up over the polls
        state["rejected_seen"] = int(state.get("rejected_seen", 0)) + rejected
        rejected = state["rejected_seen"]
    ctx.report["coverage"] = _coverage(ctx, total, rejected, done, how, received if not cursor_mode else None)
    return kept


def _coverage(ctx, upstream: int | None, rejected: int, done: bool, how: str, whole: int | None = None) -> dict:
    """The feed's coverage: the upstream's count (its total header; for a whole payload, its
    items) against the tickets the feed holds."""
    held = ctx.held_count(float("-inf"), float("inf")) if ctx.held_count else None
    if whole is not None and upstream is None:
        upstream = whole
        held_now = whole - rejected
    else:
        held_now = held
    missing = None if upstream is None or held_now is None else max(0, upstream - held_now - rejected)
    complete = bool(done and (missing == 0 if missing is not None else True))
    return {"upstream_count": upstream, "held": held, "rejected": rejected, "missing": missing,
            "complete": complete, "at": ctx.now.isoformat(), "how": how}


# the (kind, format) this adapter reads, for feeds.registry (every adapter module exports ADAPTERS)
ADAPTERS = {("tickets", "canonical"): poll}

"""The canonical ticket format: CSV or JSON Lines with exactly the canonical columns.

`parse_tickets` turns a payload into canonical records plus rejects; a line that is not
JSON, or a row that fails validation, is rejected with its reason and the rest are kept.
`feeds.tickets.canonical_columns.parse_tickets_frame` reads the same payloads column by column,
for large files (`cityops kpi`).
"""

from __future__ import annotations

import csv
import io

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


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError(f"not UTF-8 text (byte {exc.start})") from None


def parse_tickets(data: bytes, fmt: str) -> tuple[list[dict], list[Reject]]:
    """CSV or JSON Lines bytes → (canonical records, rejects)."""
    text = _decode(data)
    if fmt == "csv":
        return _parse_csv(text)
    if fmt == "jsonl":
        return _parse_jsonl(text)
    raise PayloadError(f"unknown canonical format {fmt!r}: expected csv or jsonl")


def _parse_csv(text: str) -> tuple[list[dict], list[Reject]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "ticket_id" not in reader.fieldnames:
        raise PayloadError("CSV has no header row with a ticket_id column")
    items, bad = [], []
    for i, row in enumerate(reader):
        if None in row:  # more cells than header columns
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
MAX_PAGES = 200


def poll(ctx):
    """Read the feed: a file (whole, when it changed) or a URL.

    A URL whose server supports the cursor (`updated_since_param` set, e.g.
    "updated_since") is read incrementally: records ordered by (updated_at, ticket_id)
    after the last pair seen, `after_id` breaking ties, page by page. Otherwise the whole
    payload is read each time (upserts make that idempotent).
    """
    from pathlib import Path

    from feeds.base import Batch, FeedError, fetch
    from feeds.tickets.canonical_columns import parse_tickets_records as parse_tickets   # column-wise, same result

    feed, state = ctx.feed, ctx.state
    out = Batch("tickets", [], [], 0)
    if feed.path:
        p = Path(feed.path)
        try:
            stat = p.stat()
            if state.get("mtime") == stat.st_mtime_ns and state.get("size") == stat.st_size:
                return [out]
            data = p.read_bytes()
        except OSError as exc:
            raise FeedError(f"cannot read {p}: {exc.strerror or exc}") from None
        try:
            records, rejects = parse_tickets(data, detect_format(p.name))
        except PayloadError as exc:
            raise FeedError(f"{p}: {exc}") from None
        state.update(mtime=stat.st_mtime_ns, size=stat.st_size)
        _append(out, records, rejects)
        return [out]
    fmt = "csv" if feed.url.lower().split("?")[0].endswith(".csv") else "jsonl"
    param = feed.updated_since_param
    for page in range(MAX_PAGES):
        params = {}
        if param:
            params = {"limit": feed.page_limit}
            if state.get("since"):
                params[param] = state["since"]
                params["after_id"] = state.get("after_id", "")
        try:
            records, rejects = parse_tickets(fetch(ctx, feed.url, params), fmt)
        except PayloadError as exc:
            raise FeedError(f"{feed.url}: {exc}") from None
        _append(out, records, rejects)
        if not param:
            break
        if records:
            last = max(records, key=lambda r: (r["updated_at"], r["ticket_id"]))
            state["since"], state["after_id"] = last["updated_at"], last["ticket_id"]
        if len(records) + len(rejects) < feed.page_limit:
            break
        if page == MAX_PAGES - 1:
            ctx.report["more"] = True   # the upstream has more than one poll reads: still loading
    return [out]


def _append(out, records, rejects) -> None:
    base = out.received
    out.records += records
    out.rejects += [Reject(base + r.index, r.reason, r.excerpt, r.ticket_id) for r in rejects]
    out.received += len(records) + len(rejects)

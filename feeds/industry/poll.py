"""The industry feed for the poller: a file, a drop folder or a URL of CSV/XLSX files ->
one batch of the `enterprises` dataset (keyed by `credit_code:period`)."""

from __future__ import annotations

from pathlib import Path

from feeds.base import Batch, FeedError, PollContext, fetch
from feeds.industry.parse import IndustryFeedError, IndustryParseResult, parse_industry
from feeds.industry.config import feed_config
from feeds.records import Reject

DATASET = "enterprises"


def record_key(rec: dict) -> str:
    return f"{rec['credit_code']}:{rec['period']}"


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir()
                      if p.suffix.lower() in (".csv", ".xlsx") and not p.name.startswith("~$"))
    return [path]


def _iso(ts: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def to_batch(parsed: list[tuple[str, IndustryParseResult]], stamps: dict[str, str] | None = None) -> Batch:
    """Files in order; a later file's row for the same enterprise and period follows the
    same rule as a later row (newer `updated_at` wins, else the later one).

    A row without `updated_at` takes its file's time (`stamps[label]`), so a corrected file
    dropped later replaces what an older file said; the store keeps the newer record.
    """
    stamps = stamps or {}
    latest: dict[str, dict] = {}
    rejects: list[Reject] = []
    notes: list[str] = []
    received = 0
    for label, res in parsed:
        received += res.rows_in
        rejects += [Reject(r["index"], f"{label}: {r['reason']}", r["excerpt"]) for r in res.rejects]
        notes += [f"{label}: {n['credit_code']} {n['period']}: row {n['kept_index']} kept, "
                  f"row {n['dropped_index']} dropped ({n['reason']})" for n in res.replaced]
        for rec in res.records:
            if not rec.get("updated_at") and label in stamps:
                rec = dict(rec, updated_at=stamps[label])
            key = record_key(rec)
            old = latest.get(key)
            if old and old.get("updated_at") and (not rec.get("updated_at") or rec["updated_at"] < old["updated_at"]):
                notes.append(f"{label}: {key} older than the row already read; kept the other")
                continue
            latest[key] = dict(rec, key=key)
    return Batch(DATASET, list(latest.values()), rejects, received, notes)


def poll(ctx: PollContext) -> list[Batch]:
    config = feed_config(ctx.feed, ctx.tz)
    if ctx.feed.url:
        try:
            return [to_batch([(ctx.feed.url, parse_industry(fetch(ctx, ctx.feed.url), config))],
                             {ctx.feed.url: _iso(ctx.now.timestamp())})]
        except IndustryFeedError as exc:
            raise FeedError(f"{ctx.feed.url}: {exc}") from None
    try:
        files = _files(Path(ctx.feed.path))
        stamp = [[str(p), p.stat().st_mtime_ns, p.stat().st_size] for p in files]
    except OSError as exc:
        raise FeedError(f"cannot read {ctx.feed.path}: {exc.strerror or exc}") from None
    if ctx.state.get("stamp") == stamp:
        return [Batch(DATASET, [], [], 0)]
    parsed = []
    for p in files:
        try:
            parsed.append((p.name, parse_industry(p.read_bytes(), config, p.suffix.lower().lstrip("."))))
        except (OSError, IndustryFeedError) as exc:
            if len(files) == 1:
                raise FeedError(f"{p}: {exc}") from None
            # one unreadable file of a drop folder does not take the others down
            parsed.append((p.name, IndustryParseResult(rejects=[
                {"index": 0, "credit_code": None, "reason": f"file refused: {exc}", "excerpt": ""}])))
    ctx.state["stamp"] = stamp
    return [to_batch(parsed, {p.name: _iso(p.stat().st_mtime) for p in files})]


# the (kind, format) this adapter reads, for feeds.registry (every adapter module exports ADAPTERS)
ADAPTERS = {("industry", "canonical"): poll}

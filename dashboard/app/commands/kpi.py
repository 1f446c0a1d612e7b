"""`cityops kpi`: the ticket metrics of the pages, computed from files (reports, checks).

    cityops kpi --tickets TICKETS.(csv|jsonl) --areas AREAS.csv [--config FILE]
                --now ISO --start ISO --end ISO --by none|department|area:LEVEL --json

One implementation with the pages: the same format and rules (`feeds.tickets.canonical`, read column
by column by `feeds.tickets.canonical_columns`), the same
`metrics.tickets.prepare` and `kpi_table`. Bad ticket rows are reported on stderr by row
and ticket id; the exit status is non-zero only when nothing usable remains (1), or when
the arguments, the areas or the settings cannot be used (2).

A large file (over 64 MB) is read a chunk of about 32 MB at a time: each chunk is parsed,
validated, prepared and placed, and only the tickets that can count in the window (in
received, closed, due or open: `metrics.tickets.counting_rows`) are kept, with the columns
the metrics read, plus one ticket of each (grid, department) so that every group is listed
as before; `kpi_table` then runs once on what was kept, in file order, so the numbers are
the same to the bit (`tests/test_kpi_cli.py`). Files the chunks cannot be cut from safely
(CSV with quotes, other line ends) are read whole, as small files are.
"""

from __future__ import annotations

import argparse
import json
import mmap
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from dashboard.queries.ticket_views import KPI_FIELDS, GroupingError, kpi_records
from metrics.placement import effective_grid
from metrics.tickets import counting_rows, prepare

STREAM_BYTES = 64 << 20     # files larger than this are read a chunk at a time
CHUNK_BYTES = 32 << 20
# what the metrics and the grouping read of a ticket (the rest is dropped when streaming)
KEPT_COLUMNS = ("ticket_id", "created_at", "closed_at", "deadline_at", "dispatched_at", "first_response_at",
                "response_due_at", "status", "resolved", "rating", "rating_excluded", "return_count", "repeat_of",
                "department", "withdrawn", "deadline_from_sla", "deadline_fallback")

ROW_FIELDS: list[str] = KPI_FIELDS     # the rows of /api/v1/kpi too (one implementation)


class UsageError(Exception):
    """An argument or input file that cannot be used at all (exit status 2)."""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("kpi", help="ticket KPIs from files (same numbers as the pages)",
                              description=__doc__.splitlines()[0])
    _add_arguments(p)
    p.set_defaults(func=run)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tickets", required=True, help="canonical tickets, .csv or .jsonl")
    p.add_argument("--areas", help="area tree CSV (code,name,level,parent_code); needed for --by area:LEVEL")
    p.add_argument("--config", help="settings TOML (default: built-in defaults / $CITYOPS_CONFIG)")
    p.add_argument("--now", required=True, help="evaluation instant, ISO 8601 with offset")
    p.add_argument("--start", required=True, help="window start (inclusive), ISO 8601 with offset")
    p.add_argument("--end", required=True, help="window end (exclusive, <= now), ISO 8601 with offset")
    p.add_argument("--by", default="none", help="none | department | area:LEVEL (default none)")
    p.add_argument("--json", action="store_true", help="print JSON (default: a text table)")


def _instant(text: str, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except (TypeError, ValueError):
        raise UsageError(f"--{name}: not an ISO 8601 time: {text!r}") from None
    if ts.tzinfo is None:
        raise UsageError(f"--{name}: time without a UTC offset (ambiguous): {text!r}")
    return ts


def _settings(path: str | None):
    from dashboard.config.settings import load_settings
    try:
        s = load_settings(path)
    except ValueError as exc:  # SettingsError is a ValueError
        raise UsageError(str(exc)) from None
    return s.tickets, s.city.timezone


def _read_tickets(path: str) -> pd.DataFrame:
    # column by column: the same frame and rejects as parse_tickets + tickets_frame, faster
    from feeds.tickets.canonical import PayloadError, detect_format
    from feeds.tickets.canonical_columns import parse_tickets_frame
    try:
        fmt = detect_format(path)
        data = Path(path).read_bytes()
        df, rejects = parse_tickets_frame(data, fmt)
    except OSError as exc:
        raise UsageError(f"--tickets: cannot read {path}: {exc.strerror or exc}") from None
    except PayloadError as exc:
        raise UsageError(f"--tickets: {path}: {exc}") from None
    _report_rejects(path, fmt, rejects, len(df) + len(rejects))
    return df


def _report_rejects(path: str, fmt: str, rejects: list, total: int) -> None:
    for r in rejects:
        where = f"row {r.index + 1} (line {r.index + 2})" if fmt == "csv" else f"record {r.index + 1}"
        print(f"kpi: {path}: {where}, ticket {r.ticket_id or '?'}: {r.reason}", file=sys.stderr)
    if rejects:
        print(f"kpi: {len(rejects)} of {total} tickets rejected", file=sys.stderr)


def _streamable(path: str, fmt: str) -> bool:
    """Whether the file is large and can be cut at line ends into chunks that read as the
    whole file reads (no quoted CSV cell can hold a line end; one line end kind)."""
    from feeds.tickets.canonical_columns import _OTHER_LINE_ENDS
    p = Path(path)
    if p.stat().st_size <= STREAM_BYTES:
        return False
    with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m.find(b"\x00") >= 0:
            return False
        if fmt == "csv":
            return m.find(b'"') < 0 and m.find(b"\r") < 0
        return not any(m.find(end) >= 0 for end in _OTHER_LINE_ENDS)


_AT = {"csv": re.compile(r"^row (\d+)"), "jsonl": re.compile(r"^line (\d+)")}


def _chunks(path: str, fmt: str) -> Iterator[tuple[bytes, int, int]]:
    """(a chunk the column-wise reader reads alone, items before it, lines before it): cut
    at line ends; a CSV chunk carries the header line. Items are non-empty lines (what the
    readers number their rejects by)."""
    with open(path, "rb") as f:
        header = f.readline() if fmt == "csv" else b""
        items = 0
        lines = 1 if fmt == "csv" else 0
        rest = b""
        while True:
            block = f.read(CHUNK_BYTES)
            data = rest + block
            if not block:
                if data.strip():
                    yield header + data, items, lines
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                rest = data
                continue
            body, rest = data[:cut], data[cut:]
            yield header + body, items, lines
            items += sum(1 for line in body.split(b"\n") if line.strip())
            lines += body.count(b"\n")


def _streamed(path: str, tree, now, start, end, rules, tz):
    """(the tickets that can count, their effective grids) of a large file read a chunk at a
    time (see the module doc), or None when the file is read whole."""
    from dashboard.queries import concat_keeping_categories
    from feeds.tickets.canonical import PayloadError, detect_format
    from feeds.tickets.canonical_columns import parse_tickets_frame
    try:
        fmt = detect_format(path)
        if not _streamable(path, fmt):
            return None
        parts, grids, seen, rejected, total = [], [], set(), [], 0
        for data, items_before, lines_before in _chunks(path, fmt):
            df, rejects = parse_tickets_frame(data, fmt)
            total += len(df) + len(rejects)
            rejected += [_shifted(r, fmt, items_before, lines_before) for r in rejects]
            if df.empty:
                continue
            df = prepare(df, rules, tz)
            g = effective_grid(df, tree) if tree is not None else pd.Series(None, index=df.index, dtype=object)
            keep = counting_rows(df, now, start, end)
            pairs = pd.Series(list(zip(g.astype(object), df["department"].astype(object))), index=df.index)
            first = ~pairs.duplicated().to_numpy() & ~pairs.isin(seen).to_numpy()
            seen.update(pairs[first])
            rows = np.flatnonzero(keep | first)        # every group still listed, counting nothing more
            parts.append(df.iloc[rows][[c for c in KEPT_COLUMNS if c in df]].reset_index(drop=True))
            grids.append(g.iloc[rows].reset_index(drop=True))
            del df, g
    except OSError as exc:
        raise UsageError(f"--tickets: cannot read {path}: {exc.strerror or exc}") from None
    except PayloadError as exc:
        raise UsageError(f"--tickets: {path}: {exc}") from None
    _report_rejects(path, fmt, rejected, total)
    if not parts:
        return pd.DataFrame(), None
    df = concat_keeping_categories(parts) if len(parts) > 1 else parts[0]
    return df, (pd.concat(grids, ignore_index=True) if tree is not None else None)


def _shifted(r, fmt: str, items_before: int, lines_before: int):
    """A chunk's reject numbered as in the whole file."""
    at = _AT[fmt].match(r.reason)
    reason = r.reason
    if at:
        n = int(at.group(1)) + (items_before if fmt == "csv" else lines_before)
        reason = f"{reason[:at.start(1)]}{n}{reason[at.end(1):]}"
    return replace(r, index=r.index + items_before, reason=reason)


def _read_areas(path: str):
    from feeds.areas.files import read_area_files
    from metrics.areas import AreaTreeError
    # polygons beside the CSV (AREAS.geojson) let tickets with only a position be placed,
    # as the pages place them
    geo = Path(path).with_suffix(".geojson")
    try:
        return read_area_files(path, geo if geo.exists() else None)
    except AreaTreeError as exc:
        raise UsageError(f"--areas: {exc}") from None


def _tree(by: str, areas: str | None):
    """The area tree when `by` needs one (area:LEVEL), else None."""
    if not by.startswith("area:"):
        return None
    if not areas:
        raise UsageError("--by area:LEVEL needs --areas")
    return _read_areas(areas)


def compute(args: argparse.Namespace) -> dict:
    """The report as a dict (raises UsageError; exits 1 through run() when no tickets)."""
    now, start, end = (_instant(getattr(args, n), n) for n in ("now", "start", "end"))
    if not start <= end <= now:
        raise UsageError(f"--start/--end/--now: expected start <= end <= now, got "
                         f"{start.isoformat()}, {end.isoformat()}, {now.isoformat()}")
    rules, tz = _settings(args.config)
    tree = _tree(args.by, args.areas)
    streamed = _streamed(args.tickets, tree, now, start, end, rules, tz)
    if streamed is not None:
        df, grids = streamed
    else:
        df = _read_tickets(args.tickets)
        if not df.empty:
            df = prepare(df, rules, tz)
            # the pages' placement: known codes, else the grid containing the position
            grids = effective_grid(df, tree) if tree is not None else None
    if df.empty:
        raise LookupError(f"kpi: no usable tickets in {args.tickets}")
    try:
        rows = kpi_records(df, grids, tree, args.by, now, start, end, rules, children=False)
    except GroupingError as exc:
        raise UsageError(f"--by: {exc}") from None
    return {"now": now.isoformat(), "start": start.isoformat(), "end": end.isoformat(),
            "by": args.by, "rows": rows}


def run(args: argparse.Namespace) -> int:
    try:
        report = compute(args)
    except UsageError as exc:
        print(f"kpi: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(_text_table(report))
    return 0


def _text_table(report: dict) -> str:
    cols = ["name", "received", "closed", "due", "open", "overdue", "response_rate", "closure_rate",
            "on_time_rate", "resolution_rate", "satisfaction_rate", "score"]
    fmt = lambda c, v: "—" if v is None else (f"{v:.1%}" if c.endswith("_rate") else  # noqa: E731
                                               f"{v:.1f}" if isinstance(v, float) else str(v))
    lines = [[c for c in cols]] + [[fmt(c, r[c]) for c in cols] for r in report["rows"]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(cols))]
    head = f"window [{report['start']}, {report['end']}), now {report['now']}, by {report['by']}"
    return "\n".join([head] + ["  ".join(v.ljust(w) for v, w in zip(line, widths)) for line in lines])


def main(argv: list[str] | None = None) -> int:
    """Run the command on its own (`python -m dashboard.app.commands.kpi ...`)."""
    p = argparse.ArgumentParser(prog="cityops kpi", description=__doc__.splitlines()[0])
    _add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""`cityops kpi`: the ticket metrics of the pages, computed from files (reports, checks).

    cityops kpi --tickets TICKETS.(csv|jsonl) --areas AREAS.csv [--config FILE]
                --now ISO --start ISO --end ISO --by none|department|area:LEVEL --json

One implementation with the pages: the same format and rules (`feeds.tickets.canonical`, read column
by column by `feeds.tickets.canonical_columns`), the same
`metrics.tickets.prepare` and `kpi_table`. Bad ticket rows are reported on stderr by row
and ticket id; the exit status is non-zero only when nothing usable remains (1), or when
the arguments, the areas or the settings cannot be used (2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from dashboard.queries.ticket_views import KPI_FIELDS, GroupingError, kpi_records
from metrics.placement import effective_grid
from metrics.tickets import prepare

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
    for r in rejects:
        where = f"row {r.index + 1} (line {r.index + 2})" if fmt == "csv" else f"record {r.index + 1}"
        print(f"kpi: {path}: {where}, ticket {r.ticket_id or '?'}: {r.reason}", file=sys.stderr)
    if rejects:
        print(f"kpi: {len(rejects)} of {len(df) + len(rejects)} tickets rejected", file=sys.stderr)
    return df


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
    df = _read_tickets(args.tickets)
    if df.empty:
        raise LookupError(f"kpi: no usable tickets in {args.tickets}")
    df = prepare(df, rules, tz)
    tree = _tree(args.by, args.areas)
    # the pages' placement: known codes, else the grid containing the position
    grids = effective_grid(df, tree) if tree is not None else None
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

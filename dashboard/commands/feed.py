"""`cityops feed check`: a dry run of a feed adapter against a saved payload.

    cityops feed check --kind tickets|sensors|industry --format FORMAT FILE [--config FILE] --json

Formats: tickets `open311`, `canonical` (CSV or JSON Lines, by file name); sensors
`json` (a utility's own JSON, mapped by the settings), `fiware` (any NGSI form),
`sensorthings`; industry `canonical` (CSV or XLSX, headers mapped by the settings).
Prints `{"records": [...], "rejects": [{"index", "reason", "excerpt"}]}`: every input
item is in exactly one list. Exit 0 when the file was read, whatever was rejected; 2,
with a message on stderr, when the file cannot be read or parsed at all, or the options
or settings are wrong.

`--config` is a settings TOML; this command reads its `[alarms]` (units, thresholds),
`[sensor_feed]` (feeds.sensor_settings.SensorFeedSettings) and `[industry_feed]`
(feeds.industry_config.IndustryFeedConfig) tables and ignores the rest.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import orjson

FORMATS = {"tickets": ("open311", "canonical"), "sensors": ("json", "fiware", "sensorthings"),
           "industry": ("canonical",)}


class CheckError(Exception):
    """The file, its format or the settings cannot be used at all (exit 2)."""


def _reject(r: object) -> dict:
    d = r.to_dict() if hasattr(r, "to_dict") else dict(r)  # type: ignore[arg-type]
    return {"index": d["index"], "reason": d["reason"], "excerpt": d["excerpt"]}


def _tables(config: str | None) -> dict:
    if not config:
        return {}
    try:
        return tomllib.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CheckError(f"cannot read settings {config}: {exc}") from None


def _build(cls: type, tables: dict, name: str):
    from dashboard.config_schema import SettingsError, build
    try:
        return build(cls, tables.get(name, {}), name)
    except SettingsError as exc:
        raise CheckError(str(exc)) from None


def _tickets(fmt: str, data: bytes, path: Path) -> tuple[list, list]:
    from feeds import canonical, open311
    if fmt == "open311":
        return open311.parse_requests(data)
    return canonical.parse_tickets(data, canonical.detect_format(path.name))


def _sensors(fmt: str, data: bytes, tables: dict) -> tuple[list, list]:
    from feeds import fiware, sensors_json, sensorthings
    from feeds.sensor_settings import SensorFeedSettings
    from metrics.alarms import AlarmRules
    rules = _build(AlarmRules, tables, "alarms")
    settings = _build(SensorFeedSettings, tables, "sensor_feed")
    if fmt == "json":
        return sensors_json.parse_readings(data, settings, rules)
    if fmt == "fiware":
        return fiware.parse_entities(data, settings, rules, now=datetime.now(timezone.utc))
    return sensorthings.parse_file(data, settings, rules)


def _industry(data: bytes, path: Path, tables: dict) -> tuple[list, list]:
    from feeds.industry import parse_industry
    from feeds.industry_config import IndustryFeedConfig
    config = _build(IndustryFeedConfig, tables, "industry_feed")
    fmt = {".xlsx": "xlsx", ".csv": "csv"}.get(path.suffix.lower())
    result = parse_industry(data, config, fmt)
    rejects = [_reject(r) for r in result.rejects]
    # a row replaced by a newer row for the same enterprise and period is accounted for here
    for note in result.replaced:
        rejects.append({"index": note["dropped_index"],
                        "reason": f"replaced by row {note['kept_index']} for {note['credit_code']} "
                                  f"{note['period']} ({note['reason']})", "excerpt": ""})
    return result.records, sorted(rejects, key=lambda r: r["index"])


def check(kind: str, fmt: str, path: str | Path, config: str | None = None) -> dict:
    """Run the adapter on one file: `{"records": [...], "rejects": [...]}`; CheckError if unusable."""
    if kind not in FORMATS:
        raise CheckError(f"--kind: expected one of {', '.join(FORMATS)}, got {kind!r}")
    if fmt not in FORMATS[kind]:
        raise CheckError(f"--format: expected one of {', '.join(FORMATS[kind])} for {kind}, got {fmt!r}")
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckError(f"cannot read {path}: {exc.strerror or exc}") from None
    tables = _tables(config)
    from feeds.base import FeedError
    try:
        if kind == "tickets":
            records, rejects = _tickets(fmt, data, path)
        elif kind == "sensors":
            records, rejects = _sensors(fmt, data, tables)
        else:
            records, rejects = _industry(data, path, tables)
    except CheckError:
        raise
    except (FeedError, ValueError, LookupError, OSError) as exc:
        # FeedError, PayloadError, FeedFormatError, IndustryFeedError …: the file as a whole
        raise CheckError(f"cannot parse {path} as {kind}/{fmt}: {exc}") from None
    return {"records": records, "rejects": [_reject(r) for r in rejects]}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `feed check` to the `cityops` command line."""
    feed = subparsers.add_parser("feed", help="feed tools")
    sub = feed.add_subparsers(dest="feed_command", required=True)
    chk = sub.add_parser("check", help="dry-run a feed adapter against a saved payload")
    chk.add_argument("--kind", required=True, choices=list(FORMATS))
    chk.add_argument("--format", required=True, dest="fmt",
                     help="tickets: open311|canonical; sensors: json|fiware|sensorthings; industry: canonical")
    chk.add_argument("file")
    chk.add_argument("--config", default=None, help="settings TOML ([alarms], [sensor_feed], [industry_feed])")
    chk.add_argument("--json", action="store_true", help="print the records and rejects as JSON")
    chk.set_defaults(func=run)
    return chk


def _summary(out: dict) -> str:
    lines = [f"{len(out['records'])} records, {len(out['rejects'])} rejects"]
    lines += [f"  #{r['index']}: {r['reason']}" for r in out["rejects"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        out = check(args.kind, args.fmt, args.file, args.config)
    except CheckError as exc:
        print(f"cityops feed check: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(orjson.dumps(out, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(_summary(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cityops")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())

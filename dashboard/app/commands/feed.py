"""`cityops feed check`: a dry run of a feed adapter against a saved payload.

    cityops feed check --kind tickets|sensors|industry --format FORMAT FILE [--config FILE] --json

Formats: tickets `open311`, `canonical` (CSV or JSON Lines, by file name); sensors
`json` (a utility's own JSON, mapped by the settings), `fiware` (any NGSI form),
`sensorthings`; industry `canonical` (CSV or XLSX, headers mapped by the settings).
Prints `{"records": [...], "rejects": [{"index", "reason", "excerpt"}]}`: every input
item is in exactly one list. For tickets also `"page": {"more": yes|possibly|no|unknown,
"why", "items", "total"}`: whether the file is one page of more — from its headers when
saved with them (`curl -i`: `Link rel=next`, `X-Next-Page-URL`, `X-Has-More`,
`X-Total-Count`/`X-Result-Count`), else "possibly" when it holds exactly a common page size. Exit 0 when the file was read, whatever was rejected; 2,
with a message on stderr, when the file cannot be read or parsed at all, or the options
or settings are wrong.

`--config` is the console's settings TOML, validated as a whole: units and thresholds
come from its `[alarms]`, the feed's options from one `[[feeds]]` entry — the one named by
`--feed NAME`, or the only entry of that kind. Sensor feeds read its `[feeds.sensor]`
sub-table (feeds.sensors.settings.SensorFeedSettings) plus `coords` and `mapping`; industry
feeds its `mapping`, `land_unit`, `money_unit`, `sheet` (feeds.industry.config.feed_config).
Without `--config` (or without an entry of that kind) the defaults apply.
"""

from __future__ import annotations

import argparse
import sys
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


def _settings(config: str | None):
    """The whole settings file, validated like at start (defaults without a file)."""
    from dashboard.config.schema import SettingsError
    from dashboard.config.settings import load_settings
    try:
        return load_settings(config, env={}) if config else load_settings(None, env={})
    except SettingsError as exc:
        raise CheckError(str(exc)) from None


def _feed(settings, kind: str, name: str | None):
    """The `[[feeds]]` entry to dry-run: named by --feed, or the only one of `kind`, or None."""
    if name:
        for f in settings.feeds:
            if f.name == name:
                if f.kind != kind:
                    raise CheckError(f"--feed {name}: that feed is of kind {f.kind!r}, not {kind!r}")
                return f
        raise CheckError(f"--feed: no [[feeds]] entry named {name!r} in the settings")
    same = [f for f in settings.feeds if f.kind == kind]
    if len(same) > 1:
        raise CheckError(f"--feed: the settings have {len(same)} {kind} feeds "
                         f"({', '.join(f.name for f in same)}); name one")
    return same[0] if same else None


def _tickets(fmt: str, data: bytes, path: Path) -> tuple[list, list]:
    from feeds.tickets import canonical, open311
    if fmt == "open311":
        xml = path.suffix.lower() == ".xml" or data.lstrip()[:1] == b"<"
        return open311.parse_requests(data, fmt="xml" if xml else "json")
    return canonical.parse_tickets(data, canonical.detect_format(path.name))


# page sizes servers use: a response holding exactly this many items is probably one page of more
COMMON_PAGE_SIZES = (20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000)


def split_http(data: bytes) -> tuple[dict[str, str], bytes]:
    """A response saved with its headers (`curl -i`, `curl -D -`) → (headers, body); a bare
    body → ({}, body)."""
    headers: dict[str, str] = {}
    while data.startswith(b"HTTP/"):
        cut = min((i for i in (data.find(b"\r\n\r\n"), data.find(b"\n\n")) if i >= 0), default=-1)
        if cut < 0:
            break
        head, data = data[:cut], data[cut:].lstrip(b"\r\n")
        headers = {}
        for line in head.decode("latin-1").splitlines()[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
    return headers, data


def page_info(kind: str, headers: dict[str, str], items: int) -> dict:
    """Is the saved response one page of more? From its headers when saved with them
    (`Link: rel="next"`, `X-Next-Page-URL`, `X-Has-More`, a total header), else from its size."""
    total = next((int(headers[h]) for h in ("x-total-count", "x-result-count")
                  if headers.get(h, "").strip().isdigit()), None)
    if 'rel="next"' in headers.get("link", "") or "rel=next" in headers.get("link", "") \
            or headers.get("x-next-page-url"):
        return {"more": "yes", "items": items, "total": total,
                "why": "the response links a next page: this file is one page of more"}
    has_more = headers.get("x-has-more", "").lower()
    if has_more in ("true", "1", "yes"):
        return {"more": "yes", "items": items, "total": total,
                "why": "X-Has-More: true — this file is one page of more"}
    if total is not None and items < total:
        return {"more": "yes", "items": items, "total": total,
                "why": f"the server counts {total} items, the file holds {items}: one page of more"}
    if headers:
        return {"more": "no", "items": items, "total": total, "why": "the headers say this is all"}
    if items in COMMON_PAGE_SIZES:
        return {"more": "possibly", "items": items, "total": None,
                "why": f"exactly {items} items, a common page size: probably one page of more "
                       "(save the response with its headers, curl -i, to know; the feed pages on its own)"}
    return {"more": "unknown", "items": items, "total": None, "why": "saved without headers"}


def _sensors(fmt: str, data: bytes, settings_all, feed) -> tuple[list, list]:
    from feeds.sensors import fiware, json_readings as sensors_json, sensorthings
    from feeds.base import FeedError
    from feeds.sensors.poll import feed_settings
    from feeds.sensors.settings import SensorFeedSettings
    rules = settings_all.alarms
    try:
        settings = feed_settings(feed) if feed is not None else SensorFeedSettings()
    except FeedError as exc:
        raise CheckError(str(exc)) from None
    if fmt == "json":
        return sensors_json.parse_readings(data, settings, rules)
    if fmt == "fiware":
        return fiware.parse_entities(data, settings, rules, now=datetime.now(timezone.utc))
    return sensorthings.parse_file(data, settings, rules)


def _industry(data: bytes, path: Path, settings_all, feed) -> tuple[list, list]:
    from feeds.industry.parse import parse_industry
    from feeds.industry.config import IndustryFeedConfig, feed_config
    tz = settings_all.city.timezone
    config = feed_config(feed, tz) if feed is not None else IndustryFeedConfig(timezone=tz)
    fmt = {".xlsx": "xlsx", ".csv": "csv"}.get(path.suffix.lower())
    result = parse_industry(data, config, fmt)
    rejects = [_reject(r) for r in result.rejects]
    # a row replaced by a newer row for the same enterprise and period is accounted for here
    for note in result.replaced:
        rejects.append({"index": note["dropped_index"],
                        "reason": f"replaced by row {note['kept_index']} for {note['credit_code']} "
                                  f"{note['period']} ({note['reason']})", "excerpt": ""})
    return result.records, sorted(rejects, key=lambda r: r["index"])


def check(kind: str, fmt: str, path: str | Path, config: str | None = None, feed: str | None = None) -> dict:
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
    settings = _settings(config)
    entry = _feed(settings, kind, feed) if kind != "tickets" else None
    headers, data = split_http(data)
    from feeds.base import FeedError
    try:
        if kind == "tickets":
            records, rejects = _tickets(fmt, data, path)
        elif kind == "sensors":
            records, rejects = _sensors(fmt, data, settings, entry)
        else:
            records, rejects = _industry(data, path, settings, entry)
    except CheckError:
        raise
    except (FeedError, ValueError, LookupError, OSError) as exc:
        # FeedError, PayloadError, FeedFormatError, IndustryFeedError …: the file as a whole
        raise CheckError(f"cannot parse {path} as {kind}/{fmt}: {exc}") from None
    out = {"records": records, "rejects": [_reject(r) for r in rejects]}
    if kind == "tickets":
        out["page"] = page_info(kind, headers, len(records) + len(rejects))
    return out


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `feed check` to the `cityops` command line."""
    feed = subparsers.add_parser("feed", help="feed tools")
    sub = feed.add_subparsers(dest="feed_command", required=True)
    chk = sub.add_parser("check", help="dry-run a feed adapter against a saved payload")
    chk.add_argument("--kind", required=True, choices=list(FORMATS))
    chk.add_argument("--format", required=True, dest="fmt",
                     help="tickets: open311|canonical; sensors: json|fiware|sensorthings; industry: canonical")
    chk.add_argument("file")
    chk.add_argument("--config", default=None, help="settings TOML ([alarms] and the [[feeds]] entry)")
    chk.add_argument("--feed", default=None, help="which [[feeds]] entry of the settings (by name)")
    chk.add_argument("--json", action="store_true", help="print the records and rejects as JSON")
    chk.set_defaults(func=run)
    return chk


def _summary(out: dict) -> str:
    lines = [f"{len(out['records'])} records, {len(out['rejects'])} rejects"]
    lines += [f"  #{r['index']}: {r['reason']}" for r in out["rejects"]]
    page = out.get("page")
    if page and page["more"] in ("yes", "possibly"):
        lines.append(f"page: {page['why']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        out = check(args.kind, args.fmt, args.file, args.config, getattr(args, "feed", None))
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

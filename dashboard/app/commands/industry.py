"""`cityops industry grade`: grade the enterprises of one period from a CSV/XLSX file.

    cityops industry grade FILE.(csv|xlsx) --period P [--config FILE] [--feed NAME] --json

Prints `{"period", "benchmarks", "rows", "rejects", "replaced"}`: one row per valid
enterprise of that period, sorted by credit_code, with the numbers the /industry page
shows (null where not applicable); every reject of the file with its reason. The rules
are `[industry]` of the settings file (defaults without --config); header mapping and
units come from the `[[feeds]]` entry of kind "industry" named by --feed (or the first
one), else the default headers in 万元 and 亩. Exit 0 when the file was read, 2 when the
file or the settings cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys

from dashboard.queries.industry_views import GRADE_FIELDS, grade_json
from feeds.industry.parse import IndustryFeedError, normalize_period, read_industry_file
from feeds.industry.config import IndustryFeedConfig, feed_config
from metrics.industry import IndustryRules, grade_period

ROW_FIELDS = GRADE_FIELDS     # the rows of /api/v1/industry/grade too (one implementation)


class _Unusable(Exception):
    pass


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `industry grade` to the `cityops` command line."""
    ind = subparsers.add_parser("industry", help="per-mu industrial land-use assessment (亩均效益)")
    sub = ind.add_subparsers(dest="industry_command", required=True)
    g = sub.add_parser("grade", help="score, rank and grade one period of an enterprise file")
    g.add_argument("file", help="CSV or XLSX of enterprise indicators")
    g.add_argument("--period", required=True, help='a year "2025" or a quarter "2025Q3"')
    g.add_argument("--config", default=None, help="settings TOML ([industry], [[feeds]])")
    g.add_argument("--feed", default=None, help="the [[feeds]] entry whose header mapping and units apply")
    g.add_argument("--json", action="store_true", help="print the result as JSON")
    g.set_defaults(func=run)
    return g


def _settings(config: str | None, feed_name: str | None) -> tuple[IndustryRules, IndustryFeedConfig]:
    if not config:
        if feed_name:
            raise _Unusable("--feed needs --config")
        return IndustryRules(), IndustryFeedConfig()
    from dashboard.config.settings import load_settings

    try:
        settings = load_settings(config, env={})
    except ValueError as exc:  # SettingsError
        raise _Unusable(str(exc)) from None
    feeds = [f for f in settings.feeds if f.kind == "industry" and (feed_name is None or f.name == feed_name)]
    if feed_name and not feeds:
        raise _Unusable(f"no [[feeds]] entry of kind 'industry' named {feed_name!r} in {config}")
    feed = feed_config(feeds[0], settings.city.timezone) if feeds else IndustryFeedConfig(timezone=settings.city.timezone)
    return settings.industry, feed


def grade_file(path: str, period: str, rules: IndustryRules, config: IndustryFeedConfig) -> dict:
    """The command's result as a dict (also used by tests)."""
    parsed = read_industry_file(path, config)
    result = grade_period(parsed.frame(), period, rules)
    return grade_json(result, result.rows, [dict(r) for r in parsed.rejects], parsed.replaced)


def _table(out: dict) -> str:
    lines = [f"period {out['period']}: {len(out['rows'])} enterprises, {len(out['rejects'])} rejects"]
    for r in sorted(out["rows"], key=lambda r: (r["rank"] is None, r["rank"] or 0, r["credit_code"])):
        score = "—" if r["score"] is None else f"{r['score']:.1f}"
        tpm = "—" if r["tax_per_mu"] is None else f"{r['tax_per_mu']:.2f}"
        lines.append(f"  {r['rank'] or '-':>4} {r['grade'] or '-'} {score:>6} {tpm:>9}  {r['credit_code']}  {r['name'] or ''}")
    lines += [f"  reject #{r['index']} {r['credit_code'] or ''}: {r['reason']}" for r in out["rejects"]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    period = normalize_period(args.period)
    try:
        if period is None:
            raise _Unusable(f"--period: expected YYYY or YYYYQn, got {args.period!r}")
        rules, config = _settings(args.config, args.feed)
        out = grade_file(args.file, period, rules, config)
    except (_Unusable, IndustryFeedError, OSError) as exc:
        print(f"cityops industry grade: {exc}", file=sys.stderr)
        return 2
    if not out["rows"]:
        print(f"cityops industry grade: no valid records for period {period} in {args.file}", file=sys.stderr)
    if args.json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False, allow_nan=False, indent=1) + "\n")
    else:
        print(_table(out))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cityops")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())

"""`cityops rebuild-aggregates` and `cityops check-aggregates`: the ticket counters kept at
ingest, recounted from the records in the store (see `dashboard/store/aggregates.py`)."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    for name, help_ in (("rebuild-aggregates", "recount the ticket aggregates from the stored tickets"),
                        ("check-aggregates", "recount the stored tickets and compare with the aggregates")):
        sp = subparsers.add_parser(name, help=help_)
        sp.add_argument("--config", help="settings TOML file (default: $CITYOPS_CONFIG, else the demo)")
        sp.add_argument("--json", action="store_true", help="print the result as JSON")
        sp.set_defaults(func=run, aggregates_command=name)


def run(args) -> int:
    from dashboard.store.aggregates import TicketAggregates
    from dashboard.store.redis_server import EmbeddedRedis, connect
    from dashboard.app.server import settings_or_exit
    from dashboard.store import Store

    settings = settings_or_exit(args.config)
    embedded = None
    url = settings.store.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.store.data_dir)
        url = embedded.url
    store = Store(connect(url, cluster=settings.store.cluster), settings.store.namespace)
    try:
        agg = TicketAggregates(store, settings.city.timezone, settings.tickets)
        if args.aggregates_command == "rebuild-aggregates":
            n = agg.rebuild()
            out = {"rebuilt": n, "problems": agg.check()}
        else:
            out = {"tickets": store.tickets.count(), "problems": agg.check()}
        if args.json:
            print(json.dumps(out, ensure_ascii=False))
        else:
            if "rebuilt" in out:
                print(f"cityops: ticket aggregates rebuilt from {out['rebuilt']} tickets")
            for line in out["problems"][:50]:
                print(line)
            print("cityops: aggregates consistent with the tickets" if not out["problems"]
                  else f"cityops: {len(out['problems'])} differences")
        return 0 if not out["problems"] else 1
    finally:
        store.r.close()
        if embedded:
            embedded.close()

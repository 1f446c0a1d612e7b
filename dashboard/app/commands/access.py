"""`cityops user …`, `cityops token …`, `cityops kiosk …`: accounts and tokens by hand.

    cityops user add NAME --role ROLE [--department D] [--area CODE …]   (password asked, or $CITYOPS_PASSWORD)
    cityops user passwd NAME
    cityops user disable NAME | enable NAME
    cityops user list
    cityops token add NAME --role ROLE      an API token for a machine client (printed once)
    cityops token revoke NAME | list
    cityops kiosk add NAME                  a display token for a wall (printed once; open /?kiosk=TOKEN)
    cityops kiosk revoke NAME | list

Accounts go to `[access] users_file` when set, else to Redis (`REDIS_URL`); tokens always to
Redis. With the embedded Redis (no `REDIS_URL`), stop the console first: one process owns it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    for group, help_ in (("user", "built-in accounts"), ("token", "API tokens for machine clients"),
                         ("kiosk", "display tokens for walls")):
        p = subparsers.add_parser(group, help=help_)
        sub = p.add_subparsers(dest="access_command", required=True)
        verbs = {"user": ("add", "passwd", "disable", "enable", "list"), "token": ("add", "revoke", "list"),
                 "kiosk": ("add", "revoke", "list")}[group]
        for verb in verbs:
            v = sub.add_parser(verb)
            if verb != "list":
                v.add_argument("name")
            if verb == "add" and group in ("user", "token"):
                v.add_argument("--role", required=True)
            if verb == "add" and group == "user":
                v.add_argument("--department", default="")
                v.add_argument("--area", action="append", default=[])
            v.add_argument("--config", default=None, help="settings TOML (default: $CITYOPS_CONFIG)")
            v.set_defaults(func=run, access_group=group, access_verb=verb)


def _password(confirm: bool = True) -> str:
    if os.environ.get("CITYOPS_PASSWORD"):
        return os.environ["CITYOPS_PASSWORD"]
    pw = getpass.getpass("password: ")
    if confirm and getpass.getpass("again: ") != pw:
        raise SystemExit("cityops: the passwords differ")
    return pw


def run(args) -> int:
    from dashboard.queries import audit
    from dashboard.queries.accounts import AccountError, Accounts, Tokens
    from dashboard.store.redis_server import EmbeddedRedis, connect
    from dashboard.app.server import settings_or_exit
    from dashboard.store import Store

    s = settings_or_exit(args.config)
    a = s.access
    embedded = None
    needs_redis = args.access_group != "user" or not a.users_file
    store = None
    if needs_redis:
        url = s.store.redis_url
        if not url:
            embedded = EmbeddedRedis(s.store.data_dir)
            url = embedded.url
        store = Store(connect(url), s.store.namespace)
        from pathlib import Path
        audit.register(audit.AuditTrail(store, Path(s.store.data_dir) / "audit"))
    try:
        group, verb = args.access_group, args.access_verb
        if group == "user":
            acc = Accounts(store, a.users_file)
            if verb == "list":
                for name, u in sorted(acc.all().items()):
                    print(f"{name}\t{u['role']}\t{u.get('department') or '-'}\t{'disabled' if u.get('disabled') else 'active'}")
            elif verb == "add":
                acc.add(args.name, _password(), args.role, a.roles, args.department, args.area)
                print(f"cityops: user {args.name} added ({args.role})")
            elif verb == "passwd":
                acc.set_password(args.name, _password())
                print(f"cityops: password of {args.name} changed; their open sessions are closed")
            else:
                acc.disable(args.name, verb == "disable")
                print(f"cityops: user {args.name} {verb}d")
            if store is not None and verb != "list":
                audit.record(store, {"what": f"user_{verb}", "who": "cli", "user": args.name})
        else:
            tokens = Tokens(store)
            if verb == "list":
                for t in tokens.list():
                    if t["kind"] == ("api" if group == "token" else "kiosk"):
                        print(f"{t['name']}\t{t.get('role') or '-'}\t{'revoked' if t.get('revoked') else 'live'}")
            elif verb == "add":
                tok = tokens.issue(args.name, "api" if group == "token" else "kiosk", getattr(args, "role", ""), a.roles)
                audit.record(store, {"what": "token_issue", "who": "cli", "token": args.name, "kind": group})
                print(tok)
                print(f"cityops: {group} token {args.name!r} issued; it is shown only now", file=sys.stderr)
            else:
                n = tokens.revoke(args.name)
                audit.record(store, {"what": "token_revoke", "who": "cli", "token": args.name, "kind": group})
                print(f"cityops: {n} token(s) named {args.name} revoked")
        return 0
    except AccountError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.r.close()
        if embedded is not None:
            embedded.close()

"""`cityops backup DIR` and `cityops restore DIR [--force]`: the store and the audit files.

    cityops backup /srv/backup/cityops-20261201 [--config F]
    cityops restore /srv/backup/cityops-20261201 [--force] [--config F]

The store is the settings' `REDIS_URL`, or the embedded Redis of the data directory: the
running console's when one runs (reached through its socket), else one started for the job
and stopped after it. Prints the manifest (backup) or the counts restored beside the
backup's (restore) as JSON. Exit 0 on success, 2 when refused or the backup is unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    b = subparsers.add_parser("backup", help="copy the store and the audit files to a new folder")
    b.add_argument("dir", help="the backup folder (new or empty)")
    r = subparsers.add_parser("restore", help="write a backup into an empty store")
    r.add_argument("dir", help="a folder written by `cityops backup`")
    r.add_argument("--force", action="store_true",
                   help="replace what the store holds (and keep differing audit files beside)")
    for sp, fn in ((b, _backup), (r, _restore)):
        sp.add_argument("--config", help="settings TOML file (default: $CITYOPS_CONFIG, else the demo)")
        sp.set_defaults(func=fn)


@contextmanager
def _store_client(settings):
    from dashboard.store.redis_server import EmbeddedRedis, connect, running_embedded

    url = settings.store.redis_url or running_embedded(settings.store.data_dir)
    own = None
    if not url:
        own = EmbeddedRedis(settings.store.data_dir)
        url = own.url
    r = connect(url)
    try:
        yield r
    finally:
        r.close()
        if own:
            own.close()


def _backup(args) -> int:
    from dashboard.store.backup import BackupError, backup
    from dashboard.app.server import settings_or_exit

    s = settings_or_exit(args.config)
    try:
        with _store_client(s) as r:
            manifest = backup(r, s.store.namespace, Path(args.dir), Path(s.store.data_dir))
    except BackupError as exc:
        print(f"cityops backup: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, ensure_ascii=False, indent=2))
    return 0


def _restore(args) -> int:
    from dashboard.store.backup import BackupError, restore
    from dashboard.app.server import settings_or_exit

    s = settings_or_exit(args.config)
    try:
        with _store_client(s) as r:
            out = restore(r, s.store.namespace, Path(args.dir), force=args.force, data_dir=Path(s.store.data_dir))
    except BackupError as exc:
        print(f"cityops restore: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0 if out["restored"] == out["backup"] else 1

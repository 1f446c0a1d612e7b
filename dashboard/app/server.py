"""Wire settings → runtime → Dash app; used by app.py, `cityops run` and tests."""

from __future__ import annotations

import logging
import os
import sys

from dashboard.config.settings import Settings, SettingsError, load_settings


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("CITYOPS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def settings_or_exit(path: str | None = None) -> Settings:
    """Validated settings, or a clear message naming the key and exit status 2."""
    try:
        return load_settings(path)
    except SettingsError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def build(path: str | None = None, settings: Settings | None = None, poll: bool = True):
    """(runtime, app) for the settings at `path` ($CITYOPS_CONFIG, or the demo)."""
    from dashboard.app.factory import create_app
    from dashboard.app.runtime import Runtime

    setup_logging()
    settings = settings or settings_or_exit(path)
    web_worker = "gunicorn" in os.environ.get("SERVER_SOFTWARE", "")
    if not settings.store.redis_url and web_worker:
        print("cityops: under gunicorn set REDIS_URL (workers cannot share an embedded Redis); "
              "for one process use `python app.py` or `cityops run`", file=sys.stderr)
        raise SystemExit(2)
    if web_worker:   # a web worker only serves: the poller (and the demo's upstreams) run in `cityops poll`
        runtime = Runtime.start(settings, poll=False, upstreams=False)
    else:
        runtime = Runtime.start(settings, poll=poll)
    try:
        app = create_app(runtime)
        runtime.keep_warm()
    except BaseException:
        runtime.close()
        raise
    return runtime, app

"""Wire settings → runtime → Dash app; used by app.py, `cityops run` and tests."""

from __future__ import annotations

import logging
import os
import sys

from dashboard.config.settings import Settings, SettingsError, load_settings


class MaskPersonalData(logging.Filter):
    """Every log line with the phone numbers, e-mail addresses and resident ID numbers in it
    masked (`metrics.privacy.scrub_text`), whatever a message or an exception carried."""

    def filter(self, record: logging.LogRecord) -> bool:
        from metrics.privacy import scrub_text
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is logged as it is
            return True
        masked = scrub_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
        return True


def setup_logging() -> None:
    logging.basicConfig(level=os.environ.get("CITYOPS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, MaskPersonalData) for f in handler.filters):
            handler.addFilter(MaskPersonalData())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def settings_or_exit(path: str | None = None) -> Settings:
    """Validated settings, or a clear message naming the key and exit status 2."""
    try:
        return load_settings(path)
    except SettingsError as exc:
        print(f"cityops: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> None:
    """Cap glibc's malloc arenas (as `MALLOC_ARENA_MAX` does) before any thread starts.

    By default glibc gives threads up to 8 arenas per core, and an arena keeps what was
    freed in it. The web server answers each request in a thread, so every peak of
    concurrent requests (viewers retrying together after a store outage) can open another
    arena that then holds its share of a refresh's freed frames for good: memory that grows
    in steps. `MALLOC_ARENA_MAX` in the environment wins; a no-op off glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").mallopt(-8, int(arenas))    # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def build(path: str | None = None, settings: Settings | None = None, poll: bool = True):
    """(runtime, app) for the settings at `path` ($CITYOPS_CONFIG, or the demo)."""
    from dashboard.app.factory import create_app
    from dashboard.app.runtime import Runtime

    limit_malloc_arenas()
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

"""Degraded mode: the store is away, the console stays calm.

Applied once, where the app is built (`dashboard/app/factory.py`), not in each callback:
- `guard_callbacks(app, watch)` wraps every server-side callback as it is registered: a
  store error (`STORE_ERRORS`) becomes `PreventUpdate` — the browser gets "no update" (HTTP
  204), the page keeps what it last showed — and is recorded by the watch (one log line
  when the outage starts, one when it ends; no traceback per request). The router is the
  exception: a page asked for while the store is away says it cannot open, and opens by
  itself when the banner clears (`callbacks/frame.py`);
- `register_store_errors(server, rt)` answers any other route that meets a store error with
  HTTP 503: `/api/…` as the API's JSON error `{"error": {"code": "store_unavailable", …}}`,
  with `Retry-After`;
- the frame's banner (`callbacks/frame.py`) shows "数据存储不可达" and since when, from the
  same watch, and clears on the first successful call.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone

from dash.exceptions import PreventUpdate
from flask import jsonify, request

from dashboard.store.store_watch import STORE_ERRORS, StoreWatch

RETRY_AFTER_S = 5


def guarded(fn, watch: StoreWatch):
    """`fn`, with a store error recorded by `watch` and turned into "no update" — or into
    what `fn.on_store_error(*args)` returns, for a callback that has something better to
    show than what it showed before (the router: a page that cannot open says so)."""
    fallback = getattr(fn, "on_store_error", None)

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except STORE_ERRORS as exc:
            watch.failed(exc)
            if fallback is not None:
                return fallback(*args, **kwargs)
            raise PreventUpdate from None
    return call


def guard_callbacks(app, watch: StoreWatch) -> None:
    """Every callback registered through `app.callback` from now on is `guarded`."""
    register = app.callback

    @functools.wraps(register)
    def callback(*args, **kwargs):
        decorator = register(*args, **kwargs)
        return lambda fn: decorator(guarded(fn, watch))
    app.callback = callback


def unavailable_message(watch: StoreWatch) -> str:
    since = watch.state()["since"]
    when = "" if since is None else " since " + datetime.fromtimestamp(since, timezone.utc).isoformat(
        timespec="seconds")
    return f"data store unreachable{when}; retry shortly"


def register_store_errors(server, watch: StoreWatch) -> None:
    def handler(exc):
        watch.failed(exc)
        if request.path.startswith("/api/"):
            resp = jsonify(error={"code": "store_unavailable", "message": unavailable_message(watch)})
        else:
            resp = server.response_class(unavailable_message(watch) + "\n", mimetype="text/plain")
        resp.status_code = 503
        resp.headers["Retry-After"] = str(RETRY_AFTER_S)
        return resp
    for error in STORE_ERRORS:
        server.register_error_handler(error, handler)

"""Build the Dash app for a runtime: frame, pages, callbacks, cache, map data routes."""

from __future__ import annotations

from pathlib import Path

import orjson
from dash import Dash, dcc, html
from flask import Response, jsonify, request
from flask_caching import Cache

from callbacks import alarms as alarms_cb
from callbacks import audit as audit_cb
from callbacks import frame as frame_cb
from callbacks import health as health_cb
from callbacks import industry as industry_cb
from callbacks import overdue as overdue_cb
from callbacks import tickets as tickets_cb
from callbacks import wall as wall_cb
from dashboard.app import web_security
from dashboard.app.degraded import guard_callbacks, register_store_errors
from dashboard.store.store_watch import STORE_ERRORS
from layouts import ids
from layouts.frame import frame

ASSETS = Path(__file__).resolve().parents[2] / "assets"

# page path → its callbacks module (each has page(lang, rt) and register(app, rt))
PAGE_MODULES = {"/": wall_cb, "/health": health_cb, "/industry": industry_cb, "/tickets": tickets_cb, "/overdue": overdue_cb,
                "/alarms": alarms_cb, "/audit": audit_cb}


def cache_config(redis_url: str, store) -> dict:
    """flask-caching's settings for the views memo: the store's Redis (a cluster too)."""
    from dashboard.store.redis_server import is_cluster, plain_url

    cluster = is_cluster(redis_url, store.cluster)
    return {"CACHE_TYPE": "RedisClusterCache" if cluster else "RedisCache",
            "CACHE_REDIS_URL": plain_url(redis_url), "CACHE_KEY_PREFIX": f"{store.namespace}:cache:",
            "CACHE_DEFAULT_TIMEOUT": 600}


def create_app(rt) -> Dash:
    s = rt.settings
    app = Dash(__name__, assets_folder=str(ASSETS), title=s.city.name + " · 城运中心",
               suppress_callback_exceptions=True, update_title=None, serve_locally=True,
               compress=True)    # gzip (flask-compress): callbacks' JSON and assets
    app.layout = html.Div([dcc.Store(id=ids.CITY_TZ, data=s.city.timezone),
                           frame(s.server.refresh_s, s.city.language, s.city.name)])
    cache = Cache(app.server, config=cache_config(rt.redis_url, s.store))
    rt.queries.cache = cache
    gate = web_security.install(app, rt)
    guard_callbacks(app, rt.watch)        # degraded mode: store errors → no update + banner
    frame_cb.register(app, rt)
    for path, module in PAGE_MODULES.items():
        frame_cb.PAGES[path] = module.page
        before = set(app.callback_map)
        module.register(app, rt)
        web_security.remember_callback_pages(app, before, path, gate.callback_pages)
    _routes(app, rt)
    return app


def _routes(app: Dash, rt) -> None:
    from dashboard.app import api

    server = app.server
    register_store_errors(server, rt.watch)
    alarms_cb.register_routes(server, rt)
    api.register(server, rt)          # /api/v1, and a JSON 404 for any other /api/… path

    @server.get("/api/areas.geojson")
    def areas_geojson():
        """Area shapes by URL (cached by the browser), not inside callback payloads."""
        tree = rt.queries.tree()
        if tree is None:
            return Response(b'{"type":"FeatureCollection","features":[]}', mimetype="application/geo+json")
        level = request.args.get("level")
        parent = request.args.get("parent")
        if parent and parent in tree:
            gj = tree.children_geojson(parent)
        else:
            gj = tree.geojson(tree.codes_at(level) if level in tree.levels else [tree.root.code])
        resp = Response(orjson.dumps(gj), mimetype="application/geo+json")
        resp.headers["Cache-Control"] = "max-age=60"
        return resp

    @server.get("/healthz")
    def healthz():
        leader = bool(rt.poller and rt.poller.is_leader)
        try:
            ok = rt.store.ping()
            versions = rt.queries.versions()
        except STORE_ERRORS as exc:
            rt.watch.failed(exc)
            resp = jsonify(ok=False, error="data store unreachable", leader=leader, store=rt.store_status(),
                           access_mode=rt.settings.access.mode)
            resp.status_code = 503
            return resp
        rt.watch.ok()
        return jsonify(ok=ok, versions=versions, leader=leader, store=rt.store_status(),
                       access_mode=rt.settings.access.mode, anonymous_read=rt.settings.access.mode == "open")

"""The HTTP API `/api/v1`: JSON for the systems around the console.

Every route takes the viewer the gate resolved (`access.current_viewer`, as the pages do:
SSO headers from a trusted proxy, a session, an API token or JWT) and answers
through the query layer's functions the pages call (`ticket_views`, `overdue_views`,
`alarm_views`, `industry_views`, `alarm_actions`): no number is computed here.
What this module does is HTTP: read and check parameters (`api_http.py`: each error names the
parameter and what was expected), call the query, write JSON (orjson, UTF-8).

Errors are one shape, `{"error": {"code", "message"}}`, made by `error_response` only:
`ApiError` raised by a route, Flask's HTTP errors on any `/api/` path (an unknown path is
a JSON 404, never the page), and anything unexpected (500, logged by Flask) all end there;
a store that cannot be reached is answered 503 in the same shape by `dashboard/app/degraded.py`. The
OpenAPI document is `dashboard/app/api_spec.py`, served at `/api/v1/openapi.json`.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
from flask import Blueprint, Flask, request
from werkzeug.exceptions import HTTPException, InternalServerError

from dashboard.app.api_http import (FORMATS, ApiError, area_param, attachment, bad, choice_param, error_response,
                                    int_param, is_api_path, json_body, json_response, list_param, local_text,
                                    param, refused, window_params)
from dashboard.queries import alarm_actions as actions
from dashboard.queries import alarm_views as av
from dashboard.queries import exports
from dashboard.queries import feed_views as fv
from dashboard.queries import industry_views as iv
from dashboard.queries import overdue_views as ov
from dashboard.queries import ticket_views as tv
from dashboard.queries.access import Viewer, current_viewer
from metrics.alarm_rules import NETWORKS


PREFIX = "/api/v1"
ALARM_FIELDS = ("alarm_id", "sensor_id", "network", "kind", "level", "value", "threshold", "unit", "raised_at",
                "acknowledged_at", "acknowledged_by", "resolved_at", "resolution", "status", "lat", "lon",
                "grid_code")
ALARM_STATUSES = ("active", "acknowledged", "resolved")
SENSOR_FIELDS = ("sensor_id", "network", "kind", "lat", "lon", "grid_code", "facility", "offline_after_s")
MAX_LIMIT = 1000


_epoch = fv.epoch_text


# -- views as JSON ---------------------------------------------------------------------------------
def alarm_rows(df: pd.DataFrame, tz: str) -> list[dict]:
    out = []
    for rec in df.to_dict("records"):
        row = {}
        for f in ALARM_FIELDS:
            v = rec.get(f)
            if f in av.TIME_COLS:
                row[f] = local_text(v, tz)
            elif f == "level":
                row[f] = int(v)
            else:
                row[f] = None if v is None or (not isinstance(v, str) and pd.isna(v)) else v
        out.append(row)
    return out


# -- the routes ------------------------------------------------------------------------------------
def register(server: Flask, rt) -> None:
    """Mount `/api/v1` on the Flask server, ahead of Dash's catch-all page route."""
    from callbacks import industry as industry_cb
    from callbacks import overdue as overdue_cb
    from callbacks.tickets import as_of
    from dashboard.app.api_spec import openapi

    bp = Blueprint("api_v1", __name__, url_prefix=PREFIX)
    q = rt.queries
    tz = rt.settings.city.timezone

    def viewer() -> Viewer:
        return current_viewer(rt.settings.access)      # as the gate resolved it, for pages and API alike

    def now() -> pd.Timestamp:
        return pd.Timestamp(as_of(rt)).tz_convert(tz)

    @bp.get("/openapi.json")
    def api_openapi():
        return json_response(openapi(rt.settings))

    @bp.get("/kpi")
    def api_kpi():
        v, t = viewer(), now()
        by = param("by") or "none"
        if not (by in ("none", "department", "children") or by.startswith("area:")):
            raise bad("by", "none, department, children or area:LEVEL", by)
        area = area_param(rt, v)
        start, end = window_params(rt, t)
        try:
            rows = tv.kpi_report(q, v, by, area, t, start, end)
        except tv.GroupingError as exc:
            raise bad("by", str(exc).removeprefix("expected ")) from None
        return json_response({"now": t.isoformat(), "start": local_text(start, tz), "end": local_text(end, tz), "by": by,
                              "area": area, "rows": rows})

    @bp.get("/tickets")
    def api_tickets():
        v, t = viewer(), now()
        area = area_param(rt, v)
        population = choice_param("population", tv.POPULATIONS)
        page = int_param("page", 1, 1, 10**9)
        size = int_param("page_size", 100, 1, tv.MAX_PAGE_SIZE)
        start, end = window_params(rt, t)
        out = tv.ticket_page(q, v, area, population, t, start, end, page, size)
        out.update(area=area, population=population, now=t.isoformat(),
                   start=local_text(start, tz) if population else None, end=local_text(end, tz) if population else None)
        return json_response(out)

    @bp.get("/feeds")
    def api_feeds():
        viewer()
        from layouts.components import feed_state      # the state the health page and the wall show
        # the store's persistence beside the feeds: alarms, acknowledgements and the audit
        # trail survive a Redis restart only if it keeps them (`Runtime.store_status`)
        return json_response({"feeds": fv.feed_items(rt, datetime.now(timezone.utc).timestamp(), feed_state),
                              "store": rt.store_status()})

    @bp.get("/feeds/<name>/rejects")
    def api_rejects(name: str):
        viewer()
        if name not in q.feed_health():
            raise ApiError(404, "not_found", f"no feed {name!r} (see /api/v1/feeds)")
        limit = int_param("limit", 100, 1, MAX_LIMIT)
        rows = [dict(r, at=_epoch(r.get("at"), tz)) for r in q.rejects(name, limit)]
        return json_response({"feed": name, "rejects": rows})

    @bp.get("/sensors")
    def api_sensors():
        v = viewer()
        nets = list_param("network", NETWORKS)
        df = av.sensors(rt, v)
        if nets is not None:
            df = df[df["network"].isin(nets)]
        seen = av.last_seen(rt)
        rows = []
        for rec in df.sort_values("sensor_id").to_dict("records"):
            row = {f: (None if not isinstance(rec.get(f), str) and pd.isna(rec.get(f)) else rec.get(f))
                   for f in SENSOR_FIELDS}
            row["last_seen"] = local_text(seen.get(rec["sensor_id"]), tz) if len(seen) else None
            rows.append(row)
        return json_response({"sensors": rows})

    @bp.get("/alarms")
    def api_alarms():
        v = viewer()
        status = choice_param("status", (*ALARM_STATUSES, "all"))
        nets = list_param("network", NETWORKS)
        levels = list_param("level", ("1", "2", "3", "4"))
        df = av.alarms(rt, v)
        if status is None:        # what the page lists: every alarm not resolved
            df = df[df["status"] != "resolved"]
        elif status != "all":
            df = df[df["status"] == status]
        if nets is not None:
            df = df[df["network"].isin(nets)]
        if levels is not None:
            df = df[df["level"].isin([int(x) for x in levels])]
        df = df.sort_values(["level", "raised_at", "alarm_id"], kind="stable")
        return json_response({"alarms": alarm_rows(df, tz)})

    def _alarm(v: Viewer, alarm_id: str) -> dict:
        df = av.alarms(rt, v)
        hit = df[df["alarm_id"] == alarm_id]
        if hit.empty:
            raise ApiError(404, "not_found", f"no alarm {alarm_id!r} in the areas of role {v.role!r}")
        return alarm_rows(hit, tz)[0]

    def _history(alarm_id: str) -> list[dict]:
        return [dict(e, at=_epoch(e.get("at"), tz)) for e in actions.history(rt.store, alarm_id)]

    @bp.get("/alarms/<path:alarm_id>")
    def api_alarm(alarm_id: str):
        v = viewer()
        return json_response({"alarm": _alarm(v, alarm_id), "history": _history(alarm_id)})

    def _act(alarm_id: str, what: str):
        v = viewer()
        body = json_body()
        note = body.get("note") or ""
        if not isinstance(note, str):
            raise bad("note", "text")
        resolution = None
        if what == "resolve":
            resolution = body.get("resolution")
            if resolution not in actions.RESOLUTIONS:
                raise bad("resolution", "one of " + ", ".join(actions.RESOLUTIONS), resolution)
            if resolution == "false_alarm" and not note.strip():
                raise bad("note", "a note saying why it was a false alarm")
        try:     # the page's action code: permission and the alarm's area checked there (and audited)
            if what == "acknowledge":
                actions.acknowledge(rt.store, alarm_id, v, tree=q.tree(), note=note)
            else:
                actions.resolve(rt.store, alarm_id, v, resolution, note=note, tree=q.tree())
        except actions.ActionRefused as exc:
            raise ApiError(403, "forbidden", str(exc)) from None
        except actions.NoSuchAlarm as exc:
            raise ApiError(404, "not_found", str(exc)) from None
        except actions.ActionError as exc:      # the alarm's state forbids it
            raise ApiError(409, "conflict", str(exc)) from None
        return json_response({"alarm": _alarm(v, alarm_id), "history": _history(alarm_id)})

    # POST routes are matched before the GET of one alarm: ids hold "/" (G00144/gas_concentration/…)
    @bp.post("/alarms/<path:alarm_id>/acknowledge")
    def api_acknowledge(alarm_id: str):
        return _act(alarm_id, "acknowledge")

    @bp.post("/alarms/<path:alarm_id>/resolve")
    def api_resolve(alarm_id: str):
        return _act(alarm_id, "resolve")

    @bp.get("/industry/grade")
    def api_industry_grade():
        v = viewer()
        return json_response(iv.grade_report(q, v, _period()))

    def _period() -> str:
        present = iv.periods(q)
        raw = param("period")
        if raw is None:
            if not present:
                raise ApiError(404, "not_found", "no enterprise data yet")
            return present[0]
        if raw not in present:
            raise bad("period", "a period present in the data (" + ", ".join(present[:12]) + ")", raw)
        return raw

    def _lang() -> str:
        return choice_param("lang", ("zh", "en"), rt.settings.city.language)

    @bp.get("/export/overdue.<fmt>")
    def api_export_overdue(fmt: str):
        v = viewer()
        if fmt not in FORMATS:
            raise ApiError(404, "not_found", f"no export overdue.{fmt} (csv or xlsx)")
        area = area_param(rt, v) if param("area") else None
        depts = [d.strip() for d in request.args.getlist("department") if d.strip()] or None
        known, _ = ov.filter_options(q, v)
        for d in depts or ():
            if d not in known:
                raise bad("department", "a department of the tickets in your scope (" + ", ".join(known[:20]) + ")", d)
        try:
            data, name = overdue_cb.export_file(fmt, None, _lang(), rt, v, departments=depts,
                                                areas=[area] if area else None)
        except exports.ExportRefused as exc:
            raise ApiError(403, "forbidden", str(exc)) from None
        return attachment(data, name, fmt)

    @bp.get("/export/industry_low_efficiency.<fmt>")
    def api_export_industry(fmt: str):
        v = viewer()
        if fmt not in FORMATS:
            raise ApiError(404, "not_found", f"no export industry_low_efficiency.{fmt} (csv or xlsx)")
        period = _period()
        area = area_param(rt, v) if param("area") else None
        tree = q.tree()
        node = None if tree is None or area == tree.root.code else area
        choices = iv.filter_choices(q, v, period, node)
        wanted = {k: param(k) for k in iv.FILTER_KEYS}
        for k in ("street", "park", "industry"):
            offered = [c for c, _ in choices[k]]
            if wanted[k] is not None and wanted[k] not in offered:
                raise bad(k, f"one of the values of period {period} in this area ({', '.join(offered[:20])})",
                          wanted[k])
        if wanted["grade"] is not None and wanted["grade"] not in iv.GRADE_VALUES:
            raise bad("grade", "one of " + ", ".join(iv.GRADE_VALUES), wanted["grade"])
        search = iv.format_search(node, period, None, iv.filters_from(wanted))
        try:
            data, name = industry_cb.export_file(fmt, search, _lang(), rt, v)
        except exports.ExportRefused as exc:
            raise ApiError(403, "forbidden", str(exc)) from None
        return attachment(data, name, fmt)

    @bp.get("/audit")
    def api_audit():
        v = viewer()
        if not v.admin:
            raise refused(rt, v, "forbidden", f"role {v.role!r} may not read the audit log (admin is off)")
        limit = int_param("limit", 100, 1, MAX_LIMIT)
        return json_response({"entries": [dict(e, at=_epoch(e.get("at"), tz)) for e in rt.store.audit_log(limit)]})

    @bp.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    server.register_blueprint(bp)

    # any other /api/… path: a JSON 404, ahead of Dash's catch-all that serves the page
    @server.route("/api", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @server.route("/api/", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @server.route("/api/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def api_unknown(rest: str = ""):
        adapter = server.url_map.bind_to_environ(request.environ)
        allowed = []
        for method in ("GET", "POST"):
            try:
                endpoint, _ = adapter.match(method=method)
            except HTTPException:
                continue
            if endpoint != "api_unknown":
                allowed.append(method)
        if allowed:   # the path exists, for other methods: this catch-all took the request
            resp = error_response(405, "method_not_allowed", f"{request.method} {request.path}: expected "
                                                             + " or ".join(allowed))
            resp.headers["Allow"] = ", ".join(allowed)
            return resp
        return error_response(404, "not_found", f"no API path {request.path} (see {PREFIX}/openapi.json)")

    def http_error(exc: HTTPException):
        """Flask's HTTP errors on /api/… in the API's shape; an unexpected exception reaches
        here as a 500 (Flask logs it). Store errors have their own handler (503,
        `dashboard/app/degraded.py`), found first because it is registered for their classes."""
        if not is_api_path():
            return exc
        if isinstance(exc, InternalServerError):
            original = getattr(exc, "original_exception", None)
            what = type(original).__name__ if original is not None else "error"
            return error_response(500, "internal", f"{what} while answering {request.path}")
        code = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}.get(exc.code or 500, "http_error")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    server.register_error_handler(HTTPException, http_error)

"""The OpenAPI 3 document of `/api/v1` (served at `/api/v1/openapi.json`), written by hand.

`tests/test_api_openapi.py` requests every path of it on the demo city and checks each
answer has the documented top-level fields: change this file with `dashboard/app/api.py`.
"""

from __future__ import annotations

from dashboard.queries.ticket_views import KPI_FIELDS, MAX_PAGE_SIZE, POPULATIONS
from feeds.records import TICKET_FIELDS

VERSION = "1.0.0"

_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with offset (the city's zone)"}
_TIME_N = {"type": ["string", "null"], "format": "date-time"}
_NUM_N = {"type": ["number", "null"]}
_STR_N = {"type": ["string", "null"]}


# what the store keeps across a Redis restart (dashboard/store/redis_server.py `persistence`)
STORE = {"type": "object", "required": ["kind", "mode", "durable", "reachable"], "properties": {
    "kind": {"type": "string", "enum": ["embedded", "external"]},
    "mode": {"type": "string", "enum": ["aof", "snapshots", "none", "unknown"]},
    "appendonly": {"type": "string"}, "appendfsync": {"type": "string"}, "save": {"type": "string"},
    "durable": {"type": ["boolean", "null"]}, "warning": {"type": ["string", "null"]},
    "reachable": {"type": "boolean"}, "unreachable_since": {"type": ["string", "null"], "format": "date-time"}}}


def _obj(required: list[str], props: dict, **extra) -> dict:
    return {"type": "object", "required": required, "properties": props, **extra}


def _param(name: str, description: str, schema: dict | None = None, where: str = "query",
           required: bool = False) -> dict:
    return {"name": name, "in": where, "required": required or where == "path", "description": description,
            "schema": schema or {"type": "string"}}


_AREA = _param("area", "an area code of the tree (default: the root, or the viewer's one scope area); "
                       "400 if unknown, 403 outside the viewer's areas")
_START = _param("start", "window start, inclusive (ISO 8601 with offset; default: today's local midnight)",
                {"type": "string", "format": "date-time"})
_END = _param("end", "window end, exclusive (ISO 8601 with offset; default and at most: now); must be after start",
              {"type": "string", "format": "date-time"})
_LIMIT = _param("limit", f"at most this many (1–1000, default 100)", {"type": "integer", "minimum": 1,
                                                                       "maximum": 1000})
_LANG = _param("lang", "column headers' language (default: the city's)", {"type": "string", "enum": ["zh", "en"]})
_ALARM_ID = _param("alarm_id", "the alarm's id (it may hold '/')", where="path")

ERROR = _obj(["error"], {"error": _obj(["code", "message"], {
    "code": {"type": "string", "examples": ["bad_parameter", "forbidden", "not_found", "conflict"]},
    "message": {"type": "string", "description": "names the parameter and what was expected"}})})

KPI_ROW = _obj(KPI_FIELDS, {
    "key": {"type": ["string", "null"], "description": "area code, department, 'all'; null: unplaced / no department"},
    "name": {"type": "string"},
    **{f: {"type": "integer"} for f in POPULATIONS},
    **{f: _NUM_N for f in KPI_FIELDS[2 + len(POPULATIONS):]}},
    description="exactly a row of `cityops kpi --json` (docs: METRICS.md); rates null when their denominator is 0")

TICKET = _obj(["ticket_id", "status", "created_at"], {
    **{f: {"type": ["string", "number", "boolean", "integer", "null"]} for f in TICKET_FIELDS},
    "grid": {**_STR_N, "description": "the grid the ticket counts in"}},
    description="canonical ticket fields (docs/FORMATS.md); caller_name / caller_phone masked unless the role may see them")

FEED = _obj(["name", "kind", "format", "state", "last_attempt", "last_success", "data_age_s", "records_held",
             "received", "accepted", "rejected", "received_total", "accepted_total", "rejected_total",
             "last_error", "coverage"], {
    "name": {"type": "string"}, "kind": {"type": "string"}, "format": {"type": "string"},
    "state": {"type": "string", "enum": ["ok", "loading", "stale", "dead", "failing", "incomplete",
                                                   "never"],
              "description": "as the health page and the wall show it (layouts.components.feed_state)"},
    "ok": {"type": ["boolean", "null"]},
    "last_attempt": _TIME_N, "last_success": _TIME_N, "data_age_s": _NUM_N,
    "records_held": {"type": ["integer", "null"], "description": "records the console holds from this feed"},
    "received": {"type": ["integer", "null"], "description": "last poll"},
    "accepted": {"type": ["integer", "null"]}, "rejected": {"type": ["integer", "null"]},
    "received_total": {"type": ["integer", "null"]}, "accepted_total": {"type": ["integer", "null"]},
    "rejected_total": {"type": ["integer", "null"]}, "last_error": _STR_N,
    "coverage": {"type": ["object", "null"], "description": "the upstream's own count against what the console "
                 "holds (`upstream_count`, `held`, `complete`), when the feed reports it; else null"}})

REJECT = _obj(["reason", "excerpt", "at"], {"reason": {"type": "string"}, "excerpt": _STR_N, "at": _TIME_N,
                                            "index": {"type": ["integer", "null"]}, "dataset": _STR_N},
              description="personal data in the excerpt is masked")

SENSOR = _obj(["sensor_id", "network", "kind", "lat", "lon", "grid_code", "facility", "offline_after_s",
               "last_seen"], {"sensor_id": {"type": "string"}, "network": {"type": "string", "enum":
                              ["gas", "water", "heating"]}, "kind": {"type": "string"}, "lat": _NUM_N,
                              "lon": _NUM_N, "grid_code": _STR_N, "facility": _STR_N, "offline_after_s": _NUM_N,
                              "last_seen": _TIME_N})

ALARM = _obj(["alarm_id", "sensor_id", "network", "kind", "level", "value", "threshold", "unit", "raised_at",
              "acknowledged_at", "acknowledged_by", "resolved_at", "resolution", "status"], {
    "alarm_id": {"type": "string"}, "sensor_id": {"type": "string"}, "network": {"type": "string"},
    "kind": {"type": "string"}, "level": {"type": "integer", "minimum": 1, "maximum": 4, "description": "I–IV"},
    "value": _NUM_N, "threshold": _NUM_N, "unit": _STR_N, "raised_at": _TIME, "acknowledged_at": _TIME_N,
    "acknowledged_by": _STR_N, "resolved_at": _TIME_N, "resolution": _STR_N,
    "status": {"type": "string", "enum": ["active", "acknowledged", "resolved"]},
    "lat": _NUM_N, "lon": _NUM_N, "grid_code": _STR_N})

ALARM_DETAIL = _obj(["alarm", "history"], {"alarm": ALARM, "history": {"type": "array", "items": _obj(
    ["who", "what", "alarm_id", "when"], {"who": {"type": "string"}, "what": {"type": "string"},
                                          "alarm_id": {"type": "string"}, "when": _TIME, "at": _TIME_N})}})


def _ok(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _file(description: str) -> dict:
    return {"description": description, "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}}}}


def _errors(*codes: int) -> dict:
    words = {400: "a bad parameter (the message names it)", 403: "the viewer's role may not",
             404: "not found", 409: "the alarm's state forbids the action"}
    return {str(c): {"description": words[c], "content": {"application/json": {"schema": {"$ref":
            "#/components/schemas/Error"}}}} for c in codes}


def _get(summary: str, params: list, ok: dict, *errors: int) -> dict:
    return {"get": {"summary": summary, "parameters": params, "responses": {"200": ok, **_errors(*errors)}}}


def _post(summary: str, params: list, body: dict, ok: dict, *errors: int) -> dict:
    return {"post": {"summary": summary, "parameters": params, "requestBody": {
        "required": False, "content": {"application/json": {"schema": body}}},
        "responses": {"200": ok, **_errors(*errors)}}}


def openapi(settings=None) -> dict:
    """The document (the city's name in the title when settings are given)."""
    city = getattr(getattr(settings, "city", None), "name", "")
    return {
        "openapi": "3.1.0",
        "info": {"title": f"cityops API {city}".strip(), "version": VERSION,
                 "description": "The console's numbers through the same query layer and viewer rules as its "
                                "pages. Times ISO 8601 with offset; windows [start, end). The viewer comes from "
                                "the single sign-on proxy's headers (see [access]); without them, the default "
                                "role: personal data masked, may not act on alarms."},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": {"Error": ERROR}},
        "paths": {
            "/openapi.json": _get("this document", [], _ok({"type": "object", "required": ["openapi", "paths"]})),
            "/kpi": _get("ticket KPIs, rows exactly as `cityops kpi --json`", [
                _param("by", "none (one row 'all') | department | children (the drill table of area) | area:LEVEL"),
                _AREA, _START, _END],
                _ok(_obj(["now", "start", "end", "by", "area", "rows"], {
                    "now": _TIME, "start": _TIME, "end": _TIME, "by": {"type": "string"}, "area": _STR_N,
                    "rows": {"type": "array", "items": KPI_ROW}})), 400, 403),
            "/tickets": _get("the tickets behind a number (or every ticket of the area), newest first", [
                _AREA, _START, _END,
                _param("population", "a count: " + ", ".join(POPULATIONS) + " (omitted: every ticket held)",
                       {"type": "string", "enum": list(POPULATIONS)}),
                _param("page", "1-based (default 1); past the end: empty rows, the right total",
                       {"type": "integer", "minimum": 1}),
                _param("page_size", f"default 100, at most {MAX_PAGE_SIZE}",
                       {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE})],
                _ok(_obj(["total", "page", "page_size", "rows"], {
                    "total": {"type": "integer"}, "page": {"type": "integer"}, "page_size": {"type": "integer"},
                    "area": _STR_N, "population": _STR_N, "now": _TIME, "start": _TIME_N, "end": _TIME_N,
                    "rows": {"type": "array", "items": TICKET}})), 400, 403),
            "/feeds": _get("every feed's health, and the store's persistence", [], _ok(_obj(["feeds", "store"], {
                "feeds": {"type": "array", "items": FEED}, "store": STORE}))),
            "/feeds/{name}/rejects": _get("a feed's kept rejects, newest first", [
                _param("name", "the feed's name", where="path"), _LIMIT],
                _ok(_obj(["feed", "rejects"], {"feed": {"type": "string"},
                                               "rejects": {"type": "array", "items": REJECT}})), 400, 404),
            "/sensors": _get("registered sensors in the viewer's areas", [
                _param("network", "gas, water, heating (comma list)")],
                _ok(_obj(["sensors"], {"sensors": {"type": "array", "items": SENSOR}})), 400),
            "/alarms": _get("alarms in the viewer's areas, level I first then oldest", [
                _param("status", "active | acknowledged | resolved | all (default: every alarm not resolved)",
                       {"type": "string", "enum": ["active", "acknowledged", "resolved", "all"]}),
                _param("network", "gas, water, heating (comma list)"),
                _param("level", "1–4 (comma list)")],
                _ok(_obj(["alarms"], {"alarms": {"type": "array", "items": ALARM}})), 400),
            "/alarms/{alarm_id}": _get("one alarm with its history (audit entries, newest first)", [_ALARM_ID],
                                       _ok(ALARM_DETAIL), 404),
            "/alarms/{alarm_id}/acknowledge": _post(
                "acknowledge (the page's button: compare-and-set, audited); needs act_on_alarms", [_ALARM_ID],
                _obj([], {"note": {"type": "string"}}), _ok(ALARM_DETAIL), 400, 403, 404, 409),
            "/alarms/{alarm_id}/resolve": _post(
                "resolve (acknowledging too if nobody had); needs act_on_alarms", [_ALARM_ID],
                _obj(["resolution"], {"resolution": {"type": "string", "enum": ["fixed", "false_alarm"]},
                                      "note": {"type": "string"}}), _ok(ALARM_DETAIL), 400, 403, 404, 409),
            "/industry/grade": _get("the grading of a period, as `cityops industry grade --json`", [
                _param("period", "2025 or 2025Q3, present in the data (default: the latest)")],
                _ok(_obj(["period", "benchmarks", "rows", "rejects", "replaced"], {
                    "period": {"type": "string"}, "benchmarks": {"type": "object"},
                    "rows": {"type": "array", "items": {"type": "object"}},
                    "rejects": {"type": "array", "items": {"type": "object"}},
                    "replaced": {"type": "array"}})), 400, 404),
            "/export/overdue.{fmt}": _get("the overdue board's export (the page's button), personal data masked", [
                _param("fmt", "csv or xlsx", {"type": "string", "enum": ["csv", "xlsx"]}, where="path"),
                _param("department", "a department (repeatable)"), _AREA, _LANG],
                _file("the file"), 400, 403, 404),
            "/export/industry_low_efficiency.{fmt}": _get("the low-efficiency list's export (the page's button)", [
                _param("fmt", "csv or xlsx", {"type": "string", "enum": ["csv", "xlsx"]}, where="path"),
                _param("period", "as /industry/grade"), _AREA, _param("street", "a street code"),
                _param("park", "an industrial park"), _param("grade", "A, B, C, D or none"),
                _param("industry", "an industry"), _LANG],
                _file("the file"), 400, 403, 404),
            "/audit": _get("the audit log, newest first (admin roles only)", [_LIMIT],
                           _ok(_obj(["entries"], {"entries": {"type": "array", "items": {"type": "object"}}})),
                           400, 403),
        },
    }

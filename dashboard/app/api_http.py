"""The HTTP side of `/api/v1`: the one error shape, JSON responses, and the request's
parameters read and checked (each error names the parameter and what was expected).
The routes are `dashboard/app/api.py`."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote

import orjson
import pandas as pd
from flask import Response, request

from dashboard.queries.access import Viewer
from metrics import tickets as tk

FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


class ApiError(Exception):
    """An answer other than 200: HTTP status, a short code and a message naming the parameter."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad(param: str, expected: str, got=None) -> ApiError:
    """400 naming the parameter, what was expected and (when given) what arrived."""
    tail = "" if got is None else f", got {str(got)[:100]!r}"
    return ApiError(400, "bad_parameter", f"{param}: expected {expected}{tail}")


def refused(rt, viewer: Viewer, code: str, message: str) -> ApiError:
    """403, in the audit trail like every refusal."""
    from dashboard.queries import audit
    audit.record(rt.store, {"what": "refused", "who": viewer.user, "role": viewer.role, "via": viewer.via,
                            "code": code, "method": request.method, "path": request.path[:200],
                            "reason": message[:300]})
    return ApiError(403, code, message)


def error_response(status: int, code: str, message: str) -> Response:
    """The one error shape of the API."""
    return Response(orjson.dumps({"error": {"code": code, "message": message}}), status=status,
                    mimetype="application/json")


def _default(v):
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.isoformat()
    if hasattr(v, "item"):
        return v.item()
    if v is pd.NaT or v is pd.NA:
        return None
    raise TypeError(f"not JSON: {type(v).__name__}")


def json_response(obj, status: int = 200) -> Response:
    body = orjson.dumps(obj, default=_default, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status=status, mimetype="application/json")


def is_api_path() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


# -- parameters ------------------------------------------------------------------------------------
def param(name: str) -> str | None:
    v = request.args.get(name)
    return v.strip() if v is not None and v.strip() != "" else None


def int_param(name: str, default: int, lo: int, hi: int) -> int:
    raw = param(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise bad(name, f"a whole number from {lo} to {hi}", raw) from None
    if not lo <= v <= hi:
        raise bad(name, f"a whole number from {lo} to {hi}", raw)
    return v


def choice_param(name: str, choices, default=None):
    raw = param(name)
    if raw is None:
        return default
    if raw not in choices:
        raise bad(name, "one of " + ", ".join(map(str, choices)), raw)
    return raw


def list_param(name: str, choices) -> list[str] | None:
    """A comma list (or repeated parameter) of values from `choices`; None when absent."""
    raw = [p.strip() for v in request.args.getlist(name) for p in v.split(",") if p.strip()]
    if not raw:
        return None
    for v in raw:
        if v not in choices:
            raise bad(name, "one or more (comma separated) of " + ", ".join(map(str, choices)), v)
    return raw


def time_param(name: str) -> pd.Timestamp | None:
    raw = param(name)
    if raw is None:
        return None
    if re.search(r"T[\d:.]+ \d{2}:?\d{2}$", raw):   # an unencoded "+08:00" arrives as " 08:00"
        raw = raw[:raw.rindex(" ")] + "+" + raw[raw.rindex(" ") + 1:]
    try:
        ts = pd.Timestamp(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise bad(name, "an ISO 8601 time with a UTC offset (2026-11-20T08:00:00+08:00)", raw) from None
    if ts.tzinfo is None:
        raise bad(name, "an ISO 8601 time with a UTC offset (a time without one is ambiguous)", raw)
    return ts


def area_param(rt, viewer: Viewer, name: str = "area") -> str | None:
    """The area node asked for: a known code inside the viewer's scope (403 outside it).
    Absent: the viewer's one scope area when they have exactly one, else the root."""
    q = rt.queries
    tree = q.tree()
    raw = param(name)
    if raw is None:
        if len(viewer.areas) == 1 and tree is not None and viewer.areas[0] in tree:
            return viewer.areas[0]
        return tree.root.code if tree is not None else None
    if tree is None or raw not in tree:
        raise bad(name, "a code of the area tree (see /api/areas.geojson)", raw)
    if not q.area_visible(viewer, raw):
        raise refused(rt, viewer, "outside_scope", f"{name}: area {raw} lies outside the areas of role {viewer.role!r}")
    return raw


def window_params(rt, now: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end): default today (local midnight) until now; `end` after now is cut to now."""
    start, end = time_param("start"), time_param("end")
    today, _ = tk.window("today", now, rt.settings.city.timezone)
    start = today if start is None else start
    if end is not None and end <= start:
        raise bad("end", f"a time after start ({start.isoformat()})", end.isoformat())
    end = now if end is None or end > now else end
    if start >= end:
        raise bad("start", f"a time before now ({now.isoformat()})", start.isoformat())
    return start, end


def local_text(ts, tz: str) -> str | None:
    if ts is None or pd.isna(ts):
        return None
    return pd.Timestamp(ts).tz_convert(tz).isoformat()




def json_body() -> dict:
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise bad("body", "a JSON object")
    return body


def attachment(data: bytes, name: str, fmt: str) -> Response:
    resp = Response(data, mimetype=FORMATS[fmt])
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_")
    resp.headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return resp

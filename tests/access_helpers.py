"""Helpers for the access tests: a console app with given [access] settings on the shared
demo runtime, and Dash callback payloads built from the app's own callback map."""

from __future__ import annotations

import copy
import json

from dashboard.app.factory import create_app
from dashboard.config.settings import AccessSettings, with_changes


def app_with(rt, **access):
    """(runtime view, Dash app) with `[access]` = `access`, sharing `rt`'s store and frames."""
    r2 = copy.copy(rt)
    r2.settings = with_changes(rt.settings, access=AccessSettings(**access))
    app = create_app(r2)
    return r2, app


def outputs_of(key: str) -> list[dict]:
    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    out = []
    for p in parts:
        cid, prop = p.rsplit(".", 1)
        out.append({"id": cid, "property": prop})
    return out


def payload(app, key: str, values: dict | None = None, changed: list[str] | None = None) -> dict:
    """The body the browser would POST to `/_dash-update-component` for the callback `key`;
    `values` by "id.property" (others None)."""
    cb = app.callback_map[key]
    values = values or {}

    def dep(d):
        k = f"{d['id']}.{d['property']}"
        return {"id": d["id"], "property": d["property"], "value": values.get(k)}
    outs = outputs_of(key)
    return {"output": key, "outputs": outs if key.startswith("..") else outs[0],
            "inputs": [dep(d) for d in cb["inputs"]], "state": [dep(d) for d in cb["state"]],
            "changedPropIds": changed if changed is not None else [k for k in values if values[k] is not None][:1]}


def server_callbacks(app) -> list[str]:
    """Every server-side callback (pattern-matching ones left out: none carries data)."""
    return [k for k, v in app.callback_map.items() if v.get("callback") and "{" not in k
            and not any(isinstance(d["id"], dict) for d in v["inputs"] + v["state"])]


def key_for(app, output: str) -> str:
    return next(k for k in app.callback_map if output in k)


def post(client, app, key, values=None, changed=None, origin="http://localhost", **kw):
    headers = dict(kw.pop("headers", {}) or {})
    if origin:
        headers.setdefault("Origin", origin)
    return client.post("/_dash-update-component", data=json.dumps(payload(app, key, values, changed)),
                       content_type="application/json", headers=headers, **kw)

"""/audit: the audit trail for admins (the gate refuses this page's callbacks to anyone else;
each function checks `viewer.admin` again, so a direct call cannot bypass it)."""

from __future__ import annotations

import orjson
import pandas as pd
from dash import Input, Output, State, dcc

from dashboard.queries import audit
from dashboard.queries import exports
from layouts import audit as view
from layouts import ids

MAIN = ("at", "when", "what", "who", "role", "via")


def rows(what, who, rt, viewer, limit: int = 2000) -> list[dict]:
    if not viewer.admin:
        return []
    wanted = set(what or [])
    out = []
    for e in audit.entries(rt.store, limit=limit * 4 if wanted else limit, who=(who or "").strip() or None):
        if wanted and e.get("what") not in wanted:
            continue
        detail = {k: v for k, v in e.items() if k not in MAIN}
        out.append({"when": e.get("when"), "what": e.get("what"), "who": e.get("who"), "role": e.get("role"),
                    "via": e.get("via"), "detail": orjson.dumps(detail, default=str).decode()[:600]})
        if len(out) >= limit:
            break
    return out


def export(what, who, rt, viewer):
    if not viewer.admin:
        return None
    df = pd.DataFrame(rows(what, who, rt, viewer, limit=100_000), columns=list(view.COLUMNS))
    try:
        data = exports.export_for(rt.store, viewer, "audit", df, "csv", {"what": what or [], "who": who or ""},
                                  masked=False)
    except exports.ExportRefused:
        return None
    return dcc.send_bytes(data, "audit.csv")


def register(app, rt) -> None:
    from dashboard.queries.access import current_viewer

    app.callback(Output(ids.AUDIT_GRID, "rowData"), Input(ids.TICK, "n_intervals"), Input(ids.AUDIT_WHAT, "value"),
                 Input(ids.AUDIT_WHO, "value"))(
        lambda n, what, who: rows(what, who, rt, current_viewer(rt.settings.access)))
    app.callback(Output(ids.AUDIT_DOWNLOAD, "data"), Input(ids.AUDIT_EXPORT, "n_clicks"), State(ids.AUDIT_WHAT, "value"),
                 State(ids.AUDIT_WHO, "value"), prevent_initial_call=True)(
        lambda n, what, who: export(what, who, rt, current_viewer(rt.settings.access)))


def page(lang: str, rt):
    return view.layout(lang)

"""The role × callback matrix, through HTTP as a browser behind the SSO proxy sends it
(`POST /_dash-update-component` with the callback's payload): each built-in role, a role
scoped to one district, a department head from the identity, crafted filters and alarm ids
outside the scope. 0 out-of-scope rows, 0 unmasked fields without the permission; every
refused write leaves the alarm unchanged and is audited."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pandas as pd
import pytest

from dashboard.queries import audit
from dashboard.config.settings import BUILTIN_ROLES, RoleSettings
from tests.access_helpers import app_with, key_for, post

ROLES = list(BUILTIN_ROLES) + ["district", "district_actor"]


@pytest.fixture(scope="module")
def own_runtime(tmp_path_factory):
    """A runtime of its own: these tests acknowledge and resolve alarms."""
    from tests.conftest import polled_demo_runtime
    rt = polled_demo_runtime(tmp_path_factory.mktemp("matrix-rt"), history_days=7)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def setup(own_runtime):
    rt0 = own_runtime
    tree = rt0.queries.tree()
    district = tree.codes_at("district")[0]
    other = tree.codes_at("district")[1]
    rt, app = app_with(rt0, mode="proxy", trusted_proxies=["127.0.0.1/32"], roles={
        "district": RoleSettings(export=True, areas=[district]),
        "district_actor": RoleSettings(act_on_alarms=True, areas=[district])})
    raw = rt.queries.all_tickets().set_index("ticket_id")
    return rt, app, tree, district, other, raw


def headers(role, user=None, dept=None):
    h = {"X-Cityops-Role": role, "X-Cityops-User": user or f"u.{role}"}
    if dept:
        h["X-Cityops-Department"] = dept
    return h


def in_area(tree, grid, code) -> bool:
    return bool(grid) and grid in tree and (grid == code or any(a.code == code for a in tree.ancestors(grid)))


def board(c, app, hdr, dept=None, area=None):
    key = key_for(app, "od-grid.rowData")
    r = post(c, app, key, {"tick.n_intervals": 1, "od-root.id": "od-root", "od-state.value": ["overdue", "due_soon"],
                           "od-dept.value": dept, "od-area.value": area, "lang.data": "zh", "url.pathname": "/overdue"},
             headers=hdr)
    assert r.status_code == 200, r.data[:300]
    return r.json["response"]["od-grid"]["rowData"]


@pytest.mark.parametrize("role", ROLES)
def test_mx001_overdue_board_scope_and_masking(setup, role):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    depts = pd.Series([x["department"] for x in board(c, app, headers("operator"))]).value_counts().index
    dept = depts[0] if role == "department_head" else None
    rows = board(c, app, headers(role, dept=dept))
    r = rt.settings.access.roles[role]
    assert rows or role == "department_head"
    phones = [x["caller_phone"] for x in rows if x["caller_phone"]]
    raw_phones = {str(raw.loc[x["ticket_id"], "caller_phone"]) for x in rows if x["caller_phone"]}
    if r.see_personal_data:
        assert set(phones) & raw_phones                           # the role sees them
    else:
        assert phones and all("****" in p for p in phones) and not set(phones) & raw_phones
        assert all(len(x["caller_name"]) <= 1 or set(x["caller_name"][1:]) == {"*"} for x in rows if x["caller_name"])
    grids = raw.loc[[x["ticket_id"] for x in rows], "grid"]
    if r.areas:
        assert all(in_area(tree, g, district) for g in grids)     # 0 out-of-scope rows
        # a crafted filter naming an area outside the scope: nothing, not that area's tickets
        assert board(c, app, headers(role), area=[other]) == []
    if role == "department_head":
        assert rows and set(raw.loc[[x["ticket_id"] for x in rows], "department"]) == {dept}
        another = depts[1]
        assert board(c, app, headers(role, dept=dept), dept=[another]) == []
        assert board(c, app, headers(role)) == []                # no department in the identity: none


def alarm_rows(c, app, hdr):
    key = key_for(app, "alarm-grid.rowData")
    r = post(c, app, key, {"tick.n_intervals": 1, "alarm-f-network.value": ["gas", "water", "heating"],
                           "alarm-f-level.value": [1, 2, 3, 4], "alarm-f-status.value": ["active", "acknowledged"],
                           "lang.data": "zh"}, headers=hdr)
    assert r.status_code == 200
    return r.json["response"]["alarm-grid"]["rowData"]


def act(c, app, hdr, button, alarm_id, note=None):
    key = key_for(app, "alarm-message.children")
    return post(c, app, key, {f"{button}.n_clicks": 1, "alarm-selected.data": alarm_id, "alarm-done.data": 0,
                              "lang.data": "zh", "alarm-note.value": note}, changed=[f"{button}.n_clicks"], headers=hdr)


def stored(rt, alarm_id):
    return rt.store.dataset("alarms").get([alarm_id])[0]


def test_mx002_alarm_list_scope(setup):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    every = alarm_rows(c, app, headers("operator"))
    mine = alarm_rows(c, app, headers("district"))
    assert len(mine) < len(every)
    assert all(in_area(tree, stored(rt, a["alarm_id"]).get("grid_code"), district) for a in mine)


@pytest.mark.parametrize("role", ["operator", "leader", "department_head"])
def test_mx003_roles_that_may_not_act_leave_the_alarm_unchanged(setup, role):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    target = next(a for a in alarm_rows(c, app, headers("operator")) if not a["acknowledged"])["alarm_id"]
    before = stored(rt, target)
    t0 = time.time()
    for button in ("alarm-ack", "alarm-fixed", "alarm-false-confirm"):
        r = act(c, app, headers(role), button, target, note="试图误报")
        assert r.status_code == 200
        assert stored(rt, target) == before
    refused = [e for e in audit.entries(rt.store, 100, what="refused") if e["at"] >= t0 and e.get("alarm_id") == target]
    assert len(refused) == 3 and all(e["who"] == f"u.{role}" for e in refused)


def test_mx004_acting_outside_the_scope_is_refused_inside_it_works(setup):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    every = alarm_rows(c, app, headers("operator"))
    outside = next(a["alarm_id"] for a in every if not in_area(tree, stored(rt, a["alarm_id"]).get("grid_code"), district))
    inside = next(a["alarm_id"] for a in every if in_area(tree, stored(rt, a["alarm_id"]).get("grid_code"), district))
    before = stored(rt, outside)
    t0 = time.time()
    r = act(c, app, headers("district_actor"), "alarm-fixed", outside)      # an id from outside, crafted
    assert "⚠" in str(r.json["response"]["alarm-message"]["children"])
    assert stored(rt, outside) == before
    assert [e for e in audit.entries(rt.store, 50, what="refused") if e["at"] >= t0 and e.get("alarm_id") == outside]
    r = act(c, app, headers("district_actor", "district.duty"), "alarm-fixed", inside)
    assert (stored(rt, inside)["status"], stored(rt, inside)["resolved_by"]) == ("resolved", "district.duty")
    assert r.json["response"]["alarm-done"]["data"] == 1


def test_mx005_false_alarm_needs_confirmation_and_a_note(setup):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    target = next(a for a in alarm_rows(c, app, headers("operator")) if not a["acknowledged"])["alarm_id"]
    before = stored(rt, target)
    r = act(c, app, headers("emergency"), "alarm-false", target)             # step 1: asks, writes nothing
    assert r.json["response"]["alarm-confirm"]["style"] == {"display": "flex"} and stored(rt, target) == before
    act(c, app, headers("emergency"), "alarm-false-confirm", target, note="")  # no note: refused
    assert stored(rt, target) == before
    act(c, app, headers("emergency", "li.si"), "alarm-false-confirm", target, note="施工误触")
    after = stored(rt, target)
    assert (after["status"], after["resolution"]) == ("resolved", "false_alarm")
    e = next(e for e in audit.entries(rt.store, 50, what="resolve") if e["alarm_id"] == target)
    assert (e["who"], e["note"], e["resolution"]) == ("li.si", "施工误触", "false_alarm")
    # an unknown alarm id
    r = act(c, app, headers("emergency"), "alarm-ack", "no-such-alarm")
    msg = str(r.json["response"]["alarm-message"]["children"])
    assert "没有这条报警" in msg and "no-such-alarm" in msg


@pytest.mark.parametrize("role", ROLES)
def test_mx006_export_needs_the_permission_and_is_audited(setup, role):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    rows = board(c, app, headers("operator"))[:5]
    key = key_for(app, "od-download.data")
    t0 = time.time()
    r = post(c, app, key, {"od-csv.n_clicks": 1, "od-grid.virtualRowData": [{"ticket_id": x["ticket_id"]} for x in rows],
                           "lang.data": "zh"}, changed=["od-csv.n_clicks"], headers=headers(role, dept=None))
    allowed = rt.settings.access.roles[role].export
    if allowed:
        assert r.status_code == 200 and r.json["response"]["od-download"]["data"]["content"]
        e = [e for e in audit.entries(rt.store, 50, what="export") if e["at"] >= t0][0]
        assert (e["export"], e["masked"], e["who"]) == ("overdue", True, f"u.{role}")
    else:
        assert r.status_code == 204 or r.json["response"]["od-download"]["data"] is None
        assert [e for e in audit.entries(rt.store, 50, what="refused") if e["at"] >= t0 and e.get("action") == "export"]


@pytest.mark.parametrize("role", ROLES)
def test_mx007_emergency_mode_is_server_side_and_needs_the_permission(setup, role):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    key = key_for(app, "wall-mode.data")
    before = rt.store.console_state("emergency").get("on", False)
    t0 = time.time()
    r = post(c, app, key, {"wall-emergency.n_clicks": 1}, changed=["wall-emergency.n_clicks"], headers=headers(role))
    assert r.status_code == 200
    now = rt.store.console_state("emergency").get("on", False)
    if rt.settings.access.roles[role].switch_emergency_mode:
        assert now is (not before)
        assert [e for e in audit.entries(rt.store, 20, what="emergency_mode") if e["at"] >= t0][0]["on"] is now
        # every wall sees it on its next tick, whoever looks
        r = post(c, app, key, {"wall-alarm-tick.n_intervals": 5}, changed=["wall-alarm-tick.n_intervals"],
                 headers=headers("operator"))
        assert r.json["response"]["wall-mode"]["data"] == ("emergency" if now else "normal")
        post(c, app, key, {"wall-emergency.n_clicks": 2}, changed=["wall-emergency.n_clicks"], headers=headers(role))
    else:
        assert now == before
        assert [e for e in audit.entries(rt.store, 20, what="refused") if e["at"] >= t0
                and e.get("action") == "emergency_mode"]


@pytest.mark.parametrize("role", ROLES)
def test_mx008_pages_each_role_may_open(setup, role):
    rt, app, *_ = setup
    c = app.server.test_client()
    key = key_for(app, "page.children")
    r = post(c, app, key, {"url.pathname": "/audit", "lang.data": "zh"}, headers=headers(role))
    text = str(r.json["response"]["page"]["children"])
    assert ("403" in text) is (not rt.settings.access.roles[role].admin)
    grid = key_for(app, "audit-grid.rowData")
    r = post(c, app, grid, {"tick.n_intervals": 1}, headers=headers(role))
    if rt.settings.access.roles[role].admin:
        assert r.status_code == 200 and r.json["response"]["audit-grid"]["rowData"]
    else:
        assert r.status_code == 403


def test_mx009_unmasked_views_are_audited(setup):
    rt, app, *_ = setup
    c = app.server.test_client()
    t0 = time.time()
    board(c, app, headers("supervisor", "sup.one"))
    board(c, app, headers("operator", "op.one"))
    seen = [e for e in audit.entries(rt.store, 100, what="view_personal_data") if e["at"] >= t0]
    assert any(e["who"] == "sup.one" and e["view"] == "overdue" and e["rows"] > 0 for e in seen)
    assert not any(e["who"] == "op.one" for e in seen)


# -- /api/v1: every route, each role, forged and missing identity ----------------------------------
def api_paths(app):
    """Every GET route of the OpenAPI document with its path parameters filled."""
    c = app.server.test_client()
    doc = c.get("/api/v1/openapi.json", headers=headers("admin")).json
    out = []
    for path, ops in doc["paths"].items():
        for method in ops:
            out.append((method.upper(), path))
    return out


def _fill(path, alarm_id, feed):
    return ("/api/v1" + path).replace("{alarm_id}", alarm_id).replace("{id}", alarm_id) \
        .replace("{name}", feed).replace("{fmt}", "csv").replace("{ID}", alarm_id).replace("{NAME}", feed)


def test_mx010_every_api_route_refuses_forged_and_missing_identity(setup):
    rt, app, *_ = setup
    c = app.server.test_client()
    routes = api_paths(app)
    assert len(routes) >= 12
    aid = stored_any(rt)
    for method, path in routes:
        url = _fill(path, aid, "hotline-12345")
        send = c.get if method == "GET" else (lambda u, headers=None, **kw: c.post(
            u, json={"note": "x"}, headers={"Origin": "http://localhost", **(headers or {})}, **kw))
        assert send(url).status_code == 401, url                                 # proxy mode: no identity
        r = send(url, headers={"X-Cityops-Role": "admin", "X-Cityops-User": "mayor.wang"},
                 environ_overrides={"REMOTE_ADDR": "192.0.2.10"})
        assert r.status_code == 401, url


def stored_any(rt):
    return next(iter(rt.store.dataset("alarms").all()[1]))["alarm_id"]


@pytest.mark.parametrize("role", ROLES)
def test_mx011_every_api_route_each_role_scope_and_masking(setup, role):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    r = rt.settings.access.roles[role]
    real_phones = {p for p in raw["caller_phone"].dropna().astype(str) if len(p) >= 7}
    aid = stored_any(rt)
    for method, path in api_paths(app):
        if method != "GET":
            continue
        url = _fill(path, aid, "hotline-12345")
        resp = c.get(url, headers=headers(role, dept="城管局"))
        assert resp.status_code in (200, 400, 403, 404), (url, resp.status_code)
        if resp.status_code != 200:
            continue
        body = resp.get_data(as_text=True) if "json" in (resp.mimetype or "") or "csv" in (resp.mimetype or "") else ""
        if not r.see_personal_data and body:
            leaked = [p for p in real_phones if p in body]
            assert not leaked, (url, leaked[:3])                                 # 0 unmasked fields
        if path == "/tickets" and r.areas:
            rows = resp.json["rows"]
            assert all(in_area(tree, raw.loc[x["ticket_id"], "grid"], district) for x in rows)
    if r.areas:   # crafted: an area outside the scope
        assert c.get(f"/api/v1/kpi?area={other}", headers=headers(role)).status_code == 403
        assert c.get(f"/api/v1/tickets?area={other}", headers=headers(role)).status_code == 403
    # writes: refused ones leave the alarm unchanged
    active = [a for a in rt.store.dataset("alarms").all()[1] if a.get("status") == "active"]
    if active and not r.act_on_alarms:
        a = active[0]
        resp = c.post(f"/api/v1/alarms/{a['alarm_id']}/acknowledge", json={"note": "x"},
                      headers={**headers(role), "Origin": "http://localhost"})
        assert resp.status_code == 403 and stored(rt, a["alarm_id"]) == a


def test_mx012_sensor_points_and_scope_without_a_tree(setup):
    rt, app, tree, district, other, raw = setup
    c = app.server.test_client()
    from layouts.alarms import SENSORS_URL
    every = c.get(SENSORS_URL, headers=headers("operator")).json["features"]
    mine = c.get(SENSORS_URL, headers=headers("district")).json["features"]
    grid = {s["sensor_id"]: s.get("grid_code") for s in rt.store.dataset("sensors").all()[1]}
    assert 0 < len(mine) < len(every)
    assert all(in_area(tree, grid[f["properties"]["id"]], district) for f in mine)
    # the one scope rule fails closed: a scoped viewer and no area tree sees nothing
    from dashboard.queries.access import Viewer, scope_mask
    codes = pd.Series(list(grid.values())[:50], dtype=object)
    assert not scope_mask(Viewer(areas=(district,)), codes, None).any()
    assert scope_mask(Viewer(), codes, None).all()

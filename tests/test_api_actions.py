"""/api/v1 alarm actions: the page's action code (compare-and-set, audit), refused without
`act_on_alarms` (403) or outside the viewer's areas (403), 409 when the state forbids it.
On a demo city of its own (real embedded Redis, simulators polled once), through Flask's
test client."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from callbacks import alarms as page
from dashboard import alarm_actions as actions
from dashboard.access import Viewer
from dashboard.app_factory import create_app
from dashboard.settings import RoleSettings
from layouts import ids
from tests.conftest import polled_demo_runtime

SUPERVISOR = {"X-Cityops-Role": "supervisor", "X-Cityops-User": "值班长乙"}


@pytest.fixture(scope="module")
def demo_runtime(tmp_path_factory):
    """A demo console of this module's own: its actions change alarms the other tests count."""
    rt = polled_demo_runtime(tmp_path_factory.mktemp("api-actions"), history_days=2)
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def client(demo_runtime):
    return create_app(demo_runtime).server.test_client()


def unacked(client, n: int = 1, **headers) -> list[dict]:
    rows = [a for a in client.get("/api/v1/alarms?status=active", headers=headers).get_json()["alarms"]
            if a["acknowledged_at"] is None]
    assert len(rows) >= n, "the demo leaves unacknowledged alarms"
    return rows


def post(client, path, body=None, status=200, **headers):
    r = client.post(path, json=body, headers=headers) if body is not None else client.post(path, headers=headers)
    assert r.status_code == status, (path, r.status_code, r.get_data()[:300])
    assert r.mimetype == "application/json"
    return r.get_json()


def test_apa001_acknowledge_then_resolve_with_notes_and_audit(client, demo_runtime):
    target = unacked(client)[0]["alarm_id"]
    out = post(client, f"/api/v1/alarms/{target}/acknowledge", {"note": "接警, 派燃气抢修一队"}, **SUPERVISOR)
    assert out["alarm"]["status"] == "acknowledged" and out["alarm"]["acknowledged_by"] == "值班长乙"
    assert datetime.fromisoformat(out["alarm"]["acknowledged_at"]).tzinfo is not None
    assert [(e["what"], e["who"], e.get("note")) for e in out["history"]] == \
        [("acknowledge", "值班长乙", "接警, 派燃气抢修一队")]
    (stored,) = demo_runtime.store.dataset("alarms").get([target])
    assert stored["status"] == "acknowledged"
    # a second acknowledgement: the state forbids it
    err = post(client, f"/api/v1/alarms/{target}/acknowledge", {}, 409, **SUPERVISOR)["error"]
    assert err["code"] == "conflict" and "acknowledged" in err["message"]
    out = post(client, f"/api/v1/alarms/{target}/resolve", {"resolution": "false_alarm", "note": "传感器漂移"},
               **SUPERVISOR)
    assert (out["alarm"]["status"], out["alarm"]["resolution"]) == ("resolved", "false_alarm")
    assert [e["what"] for e in out["history"]] == ["resolve", "acknowledge"]
    assert out["history"][0]["note"] == "传感器漂移"
    err = post(client, f"/api/v1/alarms/{target}/resolve", {"resolution": "fixed"}, 409, **SUPERVISOR)["error"]
    assert "not resolved" in err["message"] or "resolved" in err["message"]
    # what the page shows for it is the same record
    detail = client.get(f"/api/v1/alarms/{target}").get_json()
    assert detail["alarm"] == out["alarm"] and detail["history"] == out["history"]


def test_apa002_without_act_on_alarms_the_api_and_the_page_refuse(client, demo_runtime):
    target = unacked(client)[0]["alarm_id"]
    before = demo_runtime.store.dataset("alarms").get([target])
    audit = len(demo_runtime.store.audit_log(1000))
    for role in ({}, {"X-Cityops-Role": "operator"}, {"X-Cityops-Role": "leader"}, {"X-Cityops-Role": "made-up"}):
        err = post(client, f"/api/v1/alarms/{target}/acknowledge", {}, 403, **role)["error"]
        assert err["code"] == "forbidden" and "act_on_alarms" in err["message"]
        post(client, f"/api/v1/alarms/{target}/resolve", {"resolution": "fixed"}, 403, **role)
    msg, done = page.act(ids.ALARM_FIXED, target, 0, "en", demo_runtime, Viewer(), datetime.now(timezone.utc))
    assert msg == "⚠ Your role may not acknowledge or resolve this alarm" and done is page.no_update
    assert demo_runtime.store.dataset("alarms").get([target]) == before
    assert len(demo_runtime.store.audit_log(1000)) == audit


def test_apa003_an_alarm_outside_the_viewers_areas_is_refused(client, demo_runtime):
    rt = demo_runtime
    tree = rt.queries.tree()
    mine = tree.children(tree.root.code)[0].code
    old = rt.settings
    roles = dict(old.access.roles, district=RoleSettings(areas=[mine], act_on_alarms=True))
    rt.settings = dataclasses.replace(old, access=dataclasses.replace(old.access, roles=roles))
    try:
        district = {"X-Cityops-Role": "district"}
        every = client.get("/api/v1/alarms?status=all").get_json()["alarms"]
        mine_all = client.get("/api/v1/alarms?status=all", headers=district).get_json()["alarms"]
        inside = {a["alarm_id"] for a in mine_all}
        outside = [a for a in every if a["alarm_id"] not in inside]
        assert inside and outside
        for a in outside[:5]:     # whatever its state: the scope is checked first
            err = post(client, f"/api/v1/alarms/{a['alarm_id']}/acknowledge", {}, 403, **district)
            assert "outside the areas" in err["error"]["message"]
        target = outside[0]["alarm_id"]
        with pytest.raises(actions.Forbidden):   # the same check for any caller of the one action door
            actions.perform(rt.queries, Viewer(role="district", areas=(mine,), act_on_alarms=True), target,
                            "acknowledge")
        own = next(a for a in mine_all if a["status"] == "resolved")["alarm_id"]
        err = post(client, f"/api/v1/alarms/{own}/acknowledge", {}, 409, **district)   # in scope: its state speaks
        assert err["error"]["code"] == "conflict"
    finally:
        rt.settings = old


@pytest.mark.parametrize("path, body, status, needle", [
    ("/api/v1/alarms/NO-SUCH/acknowledge", {}, 404, "no alarm"),
    ("/api/v1/alarms/NO-SUCH/resolve", {"resolution": "fixed"}, 404, "no alarm"),
    ("RESOLVE", {"resolution": "ignored"}, 400, "resolution: expected one of fixed, false_alarm"),
    ("RESOLVE", {}, 400, "resolution: expected"),
    ("RESOLVE", ["fixed"], 400, "body: expected a JSON object"),
    ("ACK", {"note": 5}, 400, "note: expected text"),
])
def test_apa004_bad_actions(client, path, body, status, needle):
    target = unacked(client)[0]["alarm_id"]
    path = {"RESOLVE": f"/api/v1/alarms/{target}/resolve", "ACK": f"/api/v1/alarms/{target}/acknowledge"}.get(
        path, path)
    err = post(client, path, body, status, **SUPERVISOR)["error"]
    assert needle in err["message"], err


def test_apa005_default_roles(demo_runtime):
    roles = demo_runtime.settings.access.roles
    assert roles[demo_runtime.settings.access.default_role].act_on_alarms is False
    assert not roles["leader"].act_on_alarms and roles["supervisor"].act_on_alarms and roles["admin"].admin

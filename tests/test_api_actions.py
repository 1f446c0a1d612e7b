"""/api/v1 alarm actions: the page's action code (compare-and-set, audit), refused without
`act_on_alarms` (403) or outside the viewer's areas (403), 409 when the state forbids it.
On a demo city of its own (real embedded Redis, simulators polled once), through Flask's
test client."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from callbacks import alarms as page
from dashboard.queries import alarm_actions as actions
from dashboard.queries.access import Viewer
from dashboard.config.settings import RoleSettings
from layouts import ids
from tests.api_helpers import SAME_ORIGIN, api_app, own_demo_runtime



@pytest.fixture(scope="module")
def demo_runtime(tmp_path_factory):
    """A demo console of this module's own: its actions change alarms the other tests count."""
    rt = own_demo_runtime(tmp_path_factory.mktemp("api-actions"), "apiactions")
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def api(demo_runtime):
    tree = demo_runtime.queries.tree()
    mine = tree.children(tree.root.code)[0].code
    return api_app(demo_runtime, {"district": RoleSettings(areas=[mine], act_on_alarms=True)})


@pytest.fixture(scope="module")
def client(api):
    return api[0]


@pytest.fixture(scope="module")
def tokens(api):
    return {role: api[1](role) for role in ("supervisor", "district", "operator", "leader")}


def unacked(client, n: int = 1, headers=None) -> list[dict]:
    rows = [a for a in client.get("/api/v1/alarms?status=active", headers=headers or {}).get_json()["alarms"]
            if a["acknowledged_at"] is None]
    assert len(rows) >= n, "the demo leaves unacknowledged alarms"
    return rows


def post(client, path, body=None, status=200, headers=None):
    headers = headers or {}
    r = client.post(path, json=body, headers=headers) if body is not None else client.post(path, headers=headers)
    assert r.status_code == status, (path, r.status_code, r.get_data()[:300])
    assert r.mimetype == "application/json"
    return r.get_json()


def test_apa001_acknowledge_then_resolve_with_notes_and_audit(client, demo_runtime, tokens):
    SUPERVISOR = tokens["supervisor"]
    target = unacked(client)[0]["alarm_id"]
    out = post(client, f"/api/v1/alarms/{target}/acknowledge", {"note": "接警, 派燃气抢修一队"}, headers=SUPERVISOR)
    who = out["alarm"]["acknowledged_by"]
    assert out["alarm"]["status"] == "acknowledged" and who.startswith("token:test-supervisor-")
    assert datetime.fromisoformat(out["alarm"]["acknowledged_at"]).tzinfo is not None
    assert [(e["what"], e["who"], e.get("note")) for e in out["history"]] == \
        [("acknowledge", who, "接警, 派燃气抢修一队")]
    (stored,) = demo_runtime.store.dataset("alarms").get([target])
    assert stored["status"] == "acknowledged"
    # a second acknowledgement: the state forbids it
    err = post(client, f"/api/v1/alarms/{target}/acknowledge", {}, 409, headers=SUPERVISOR)["error"]
    assert err["code"] == "conflict" and "acknowledged" in err["message"]
    out = post(client, f"/api/v1/alarms/{target}/resolve", {"resolution": "false_alarm", "note": "传感器漂移"}, headers=SUPERVISOR)
    assert (out["alarm"]["status"], out["alarm"]["resolution"]) == ("resolved", "false_alarm")
    assert [e["what"] for e in out["history"]] == ["resolve", "acknowledge"]
    assert out["history"][0]["note"] == "传感器漂移"
    err = post(client, f"/api/v1/alarms/{target}/resolve", {"resolution": "fixed"}, 409, headers=SUPERVISOR)["error"]
    assert "not resolved" in err["message"] or "resolved" in err["message"]
    # what the page shows for it is the same record
    detail = client.get(f"/api/v1/alarms/{target}").get_json()
    assert detail["alarm"] == out["alarm"] and detail["history"] == out["history"]


def test_apa002_without_act_on_alarms_the_api_and_the_page_refuse(client, demo_runtime, tokens):
    target = unacked(client)[0]["alarm_id"]
    before = demo_runtime.store.dataset("alarms").get([target])
    for who in (SAME_ORIGIN, tokens["operator"], tokens["leader"]):     # anonymous (the default role), …
        err = post(client, f"/api/v1/alarms/{target}/acknowledge", {}, 403, headers=who)["error"]
        assert err["code"] == "forbidden" and "act_on_alarms" in err["message"]
        post(client, f"/api/v1/alarms/{target}/resolve", {"resolution": "fixed"}, 403, headers=who)
    msg, done, _ = page.act(ids.ALARM_FIXED, target, 0, "en", demo_runtime, Viewer(), datetime.now(timezone.utc))
    assert msg.startswith("⚠") and done is page.no_update
    assert demo_runtime.store.dataset("alarms").get([target]) == before
    refused = [e for e in demo_runtime.store.audit_log(50) if e.get("what") == "refused" and e.get("alarm_id") == target]
    assert len(refused) >= 6          # each refusal is in the audit trail


def test_apa003_an_alarm_outside_the_viewers_areas_is_refused(client, demo_runtime, tokens):
    rt = demo_runtime
    tree = rt.queries.tree()
    mine = tree.children(tree.root.code)[0].code
    district = tokens["district"]
    every = client.get("/api/v1/alarms?status=all").get_json()["alarms"]
    mine_all = client.get("/api/v1/alarms?status=all", headers=district).get_json()["alarms"]
    inside = {a["alarm_id"] for a in mine_all}
    outside = [a for a in every if a["alarm_id"] not in inside]
    assert inside and outside
    for a in outside[:5]:     # whatever its state: the scope is checked first
        err = post(client, f"/api/v1/alarms/{a['alarm_id']}/acknowledge", {}, 403, headers=district)
        assert "outside the viewer's areas" in err["error"]["message"]
    with pytest.raises(actions.ActionRefused):   # the same check for any caller of the action code
        actions.acknowledge(rt.store, outside[0]["alarm_id"], Viewer(role="district", areas=(mine,),
                                                                     act_on_alarms=True), tree=tree)
    own = next(a for a in mine_all if a["status"] == "resolved")["alarm_id"]
    err = post(client, f"/api/v1/alarms/{own}/acknowledge", {}, 409, headers=district)   # in scope: its state speaks
    assert err["error"]["code"] == "conflict"


@pytest.mark.parametrize("path, body, status, needle", [
    ("/api/v1/alarms/NO-SUCH/acknowledge", {}, 404, "no alarm"),
    ("/api/v1/alarms/NO-SUCH/resolve", {"resolution": "fixed"}, 404, "no alarm"),
    ("RESOLVE", {"resolution": "ignored"}, 400, "resolution: expected one of fixed, false_alarm"),
    ("RESOLVE", {}, 400, "resolution: expected"),
    ("RESOLVE", {"resolution": "false_alarm"}, 400, "note: expected a note"),
    ("RESOLVE", ["fixed"], 400, "body: expected a JSON object"),
    ("ACK", {"note": 5}, 400, "note: expected text"),
])
def test_apa004_bad_actions(client, tokens, path, body, status, needle):
    target = unacked(client)[0]["alarm_id"]
    path = {"RESOLVE": f"/api/v1/alarms/{target}/resolve", "ACK": f"/api/v1/alarms/{target}/acknowledge"}.get(
        path, path)
    err = post(client, path, body, status, headers=tokens["supervisor"])["error"]
    assert needle in err["message"], err


def test_apa005_default_roles(demo_runtime):
    access = demo_runtime.settings.access
    assert access.roles[access.default_role].act_on_alarms is False
    assert not access.roles["leader"].act_on_alarms and access.roles["supervisor"].act_on_alarms

"""The OpenAPI document of /api/v1 against what the console serves (demo city, real Redis):
every documented path answers, with the documented top-level fields (and the first item
of each documented list its item's required fields); every /api/v1 route
is documented; the exports are the files the pages' buttons give."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from callbacks import industry as industry_cb
from callbacks import overdue as overdue_cb
from dashboard.queries import overdue_views as ov
from dashboard.app.api import PREFIX
from tests.api_helpers import api_app, own_demo_runtime


@pytest.fixture(scope="module")
def demo_runtime(tmp_path_factory):
    """The demo city of this module (its POSTs change alarms others count)."""
    rt = own_demo_runtime(tmp_path_factory.mktemp("api-openapi"), "apiopenapi")
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def api(demo_runtime):
    return api_app(demo_runtime)


@pytest.fixture(scope="module")
def client(api):
    return api[0]


@pytest.fixture(scope="module")
def doc(client):
    r = client.get(PREFIX + "/openapi.json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    return r.get_json()


def _fill(path: str, client) -> str:
    """A documented path with real values for its parameters."""
    alarms = client.get(PREFIX + "/alarms?status=all").get_json()["alarms"]
    active = [a for a in alarms if a["status"] == "active"]
    values = {"name": "hotline-12345", "fmt": "csv",
              "alarm_id": (active or alarms)[0]["alarm_id"]}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_apo001_every_documented_path_answers_as_documented(client, api, doc):
    assert doc["openapi"].startswith("3.") and doc["servers"] == [{"url": PREFIX}]
    bearer = api[1]
    supervisor = bearer("supervisor")
    admin = bearer("admin")
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            url = PREFIX + _fill(path, client)
            ok = op["responses"]["200"]
            headers = admin if path == "/audit" else supervisor
            if method == "get":
                r = client.get(url, headers=headers)
            else:
                body = {"resolution": "fixed", "note": "checked"} if url.endswith("/resolve") else {"note": "ok"}
                r = client.post(url, json=body, headers=headers)
            assert r.status_code == 200, (method, url, r.get_data()[:300])
            (mime, content), = ok["content"].items() if len(ok["content"]) == 1 else \
                [(m, c) for m, c in ok["content"].items() if r.mimetype == m]
            assert r.mimetype == mime, url
            if mime == "application/json":
                body = r.get_json()
                schema = content["schema"]
                missing = [f for f in schema.get("required", []) if f not in body]
                assert not missing, (url, missing)
                for field, prop in schema.get("properties", {}).items():
                    if prop.get("type") == "array" and body.get(field):
                        item = prop["items"]
                        for row in body[field]:
                            lacking = [f for f in item.get("required", []) if f not in row]
                            assert not lacking, (url, field, lacking)
                            for k, p in item.get("properties", {}).items():     # documented enums hold
                                if "enum" in p and k in row:
                                    assert row[k] in p["enum"], (url, field, k, row[k])
            checked += 1
            # each documented error answers in the one error shape (spot check: a bad parameter)
            if method == "get" and "400" in op["responses"] and op["parameters"]:
                q = next(p for p in op["parameters"] if p["in"] == "query")
                bad = client.get(url.split("?")[0] + f"?{q['name']}=%00bad", headers=headers)
                if bad.status_code == 400:
                    assert set(bad.get_json()["error"]) == {"code", "message"}
                    assert bad.get_json()["error"]["message"].startswith(q["name"])
    assert checked == sum(len(v) for v in doc["paths"].values()) == 14


def test_apo002_every_route_is_documented(client, doc):
    app = client.application
    documented = {PREFIX + re.sub(r"\{(\w+)\}", r"<\1>", p) for p in doc["paths"]}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api_v1."):
            shape = re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
            assert shape in documented, shape


def test_apo003_exports_are_the_page_buttons_files(client, api, demo_runtime):
    rt = demo_runtime
    leader = api[1]("leader")        # may export, masked
    r = client.get(PREFIX + "/export/overdue.csv?lang=en", headers=leader)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"] and "overdue-" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))
    from dashboard.queries.access import viewer_for_role
    viewer = viewer_for_role(rt.settings.access, "leader", "page-user", "session")
    ids = list(ov.board_frame(rt.queries, viewer, overdue_cb.as_of(rt).replace(second=0, microsecond=0))["ticket_id"])
    page_bytes, _ = overdue_cb.export_file("csv", ids, "en", rt, viewer)
    assert r.data == page_bytes and len(rows) == len(ids) + 1
    assert all("****" in cell or cell == "" for cell in (row[-1] for row in rows[1:]))   # phones masked
    # filters: one department
    dept = next((row[rows[0].index("Department")] for row in rows[1:] if row[rows[0].index("Department")]), None)
    if dept:
        one = client.get(PREFIX + f"/export/overdue.csv?lang=en&department={dept}", headers=leader)
        got = list(csv.reader(io.StringIO(one.data.decode("utf-8-sig"))))
        assert 1 < len(got) <= len(rows) and {g[rows[0].index("Department")] for g in got[1:]} == {dept}
    # the industry low-efficiency list: the page's export for the same URL
    x = client.get(PREFIX + "/export/industry_low_efficiency.xlsx?period=2025&grade=D&lang=zh", headers=leader)
    assert x.status_code == 200 and x.mimetype.endswith("spreadsheetml.sheet")
    page_x, name = industry_cb.export_file("xlsx", "?period=2025&grade=D", "zh", rt, viewer)
    sheet = lambda data: [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(data)).active.rows]  # noqa: E731
    assert sheet(x.data) == sheet(page_x) and len(sheet(x.data)) > 1
    assert name.endswith("_2025.xlsx")
    # refused without the export permission (the default role), and bad filters named
    assert client.get(PREFIX + "/export/overdue.csv").status_code == 403
    for q, param in (("grade=E", "grade"), ("street=nowhere", "street"), ("period=1990", "period"),
                     ("area=xyz", "area"), ("lang=fr", "lang")):
        err = client.get(PREFIX + f"/export/industry_low_efficiency.csv?{q}", headers=leader)
        assert err.status_code == 400 and err.get_json()["error"]["message"].startswith(param), q
    assert client.get(PREFIX + "/export/overdue.pdf", headers=leader).status_code == 404
    err = client.get(PREFIX + "/export/overdue.csv?department=no-such-bureau", headers=leader)
    assert err.status_code == 400 and err.get_json()["error"]["message"].startswith("department: expected")


def test_apo004_store_away_is_a_json_503_not_a_500(client, demo_runtime):
    """Last in this module: it stops the module's Redis. Every /api/v1 read then answers 503
    in the API's error shape (dashboard/app/degraded.py), through the same error path."""
    demo_runtime.embedded.close()
    for path in ("/kpi", "/tickets", "/alarms", "/feeds"):
        r = client.get(PREFIX + path)
        assert r.status_code == 503 and r.mimetype == "application/json", (path, r.status_code, r.data[:200])
        assert r.get_json()["error"]["code"] == "store_unavailable" and r.headers["Retry-After"]

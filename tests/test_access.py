"""Who is looking: the three modes, sessions, tokens, kiosk displays, the gate's refusals,
web hardening. Real Redis (the demo runtime's embedded server), Flask's test client."""

from __future__ import annotations

import json
import re
import time

import pytest

from dashboard.queries import audit
from dashboard.queries.accounts import Accounts, Tokens
from tests.access_helpers import app_with, key_for, post, server_callbacks

UNTRUSTED = {"REMOTE_ADDR": "192.0.2.10"}      # an address outside trusted_proxies (TEST-NET-1, never contacted)


def audited(rt, what, since, **match):
    return [e for e in audit.entries(rt.store, limit=500, what=what)
            if e["at"] >= since and all(e.get(k) == v for k, v in match.items())]


@pytest.fixture(scope="module")
def open_app(demo_runtime):
    return app_with(demo_runtime)


@pytest.fixture(scope="module")
def proxy_app(demo_runtime):
    return app_with(demo_runtime, mode="proxy", trusted_proxies=["127.0.0.1/32"])


@pytest.fixture(scope="module")
def accounts_app(demo_runtime):
    return app_with(demo_runtime, mode="accounts", lockout_failures=3, lockout_s=60)


# -- open mode -----------------------------------------------------------------------------------
def test_acc001_open_mode_reads_anonymously_and_says_so(open_app):
    rt, app = open_app
    c = app.server.test_client()
    assert c.get("/").status_code == 200
    h = c.get("/healthz").json
    assert h["access_mode"] == "open" and h["anonymous_read"] is True
    assert rt.settings.server.host == "127.0.0.1"


def test_acc002_forged_role_header_is_refused_and_audited_in_open_mode(open_app):
    rt, app = open_app
    c = app.server.test_client()
    t0 = time.time()
    for path in ("/", "/overdue", "/api/areas.geojson"):
        r = c.get(path, headers={"X-Cityops-Role": "supervisor", "X-Cityops-User": "mayor.wang"})
        assert r.status_code == 401, path
    got = audited(rt, "refused", t0, code="untrusted_identity")
    assert len(got) >= 3 and got[0]["claimed_role"] == "supervisor" and got[0]["claimed_user"] == "mayor.wang"


def test_acc003_demo_accounts_exist_one_per_builtin_role(open_app):
    from dashboard.config.settings import BUILTIN_ROLES
    rt, app = open_app
    users = Accounts(rt.store).all()
    assert set(BUILTIN_ROLES) <= set(users)
    assert all(users[r]["role"] == r and users[r]["hash"].startswith("scrypt:") for r in BUILTIN_ROLES)


# -- proxy mode ----------------------------------------------------------------------------------
def test_acc010_proxy_headers_only_from_trusted_addresses(proxy_app):
    rt, app = proxy_app
    c = app.server.test_client()
    hdr = {"X-Cityops-Role": "supervisor", "X-Cityops-User": "zhang.san"}
    assert c.get("/", headers=hdr).status_code == 200                          # from 127.0.0.1: the proxy
    t0 = time.time()
    r = c.get("/", headers=hdr, environ_overrides=UNTRUSTED)
    assert r.status_code == 401
    assert audited(rt, "refused", t0, code="untrusted_identity", addr="192.0.2.10")
    # no identity at all in proxy mode: 401 as well (no anonymous reading)
    assert c.get("/overdue").status_code == 401


def test_acc011_proxy_shared_secret(demo_runtime):
    rt, app = app_with(demo_runtime, mode="proxy", trusted_proxies=["127.0.0.1/32"], proxy_secret="s3cret-xyz")
    c = app.server.test_client()
    hdr = {"X-Cityops-Role": "admin", "X-Cityops-User": "li"}
    assert c.get("/", headers=hdr).status_code == 401
    assert c.get("/", headers={**hdr, "X-Cityops-Proxy-Secret": "wrong"}).status_code == 401
    assert c.get("/", headers={**hdr, "X-Cityops-Proxy-Secret": "s3cret-xyz"}).status_code == 200


def test_acc012_department_and_areas_from_the_identity(proxy_app):
    from dashboard.queries.access import viewer_from_headers
    rt, _ = proxy_app
    a = rt.settings.access
    v = viewer_from_headers({"X-Cityops-Role": "department_head", "X-Cityops-Department": "城管局"}, a)
    assert v.departments == ("城管局",) and v.export and not v.see_personal_data
    assert viewer_from_headers({"X-Cityops-Role": "department_head"}, a).departments == ("(none)",)
    assert viewer_from_headers({"X-Cityops-Role": "nonsense"}, a).role == "operator"


# -- accounts mode -------------------------------------------------------------------------------
def _login(c, user, password, nxt="/"):
    return c.post("/login", data={"user": user, "password": password, "next": nxt},
                  headers={"Origin": "http://localhost"})


def test_acc020_accounts_login_session_cookie_rotation_logout(accounts_app):
    rt, app = accounts_app
    acc = Accounts(rt.store)
    if acc.get("wang.wu") is None:
        acc.add("wang.wu", "correct horse battery", "supervisor", rt.settings.access.roles)
    c = app.server.test_client()
    r = c.get("/overdue")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    assert c.post("/_dash-update-component", json={}, headers={"Origin": "http://localhost"}).status_code == 401
    page = c.get("/login?lang=en")
    assert b"Log in" in page.data and c.get("/login").data.count("登录".encode()) >= 1
    t0 = time.time()
    r = _login(c, "wang.wu", "correct horse battery", "/overdue")
    assert r.status_code == 302 and r.headers["Location"] == "/overdue"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert c.get("/overdue").status_code == 200
    assert audited(rt, "login", t0, who="wang.wu")
    first = c.get_cookie("cityops_session").value
    # a second login in the same browser gets a new session id; the old one is dead
    _login(c, "wang.wu", "correct horse battery")
    second = c.get_cookie("cityops_session").value
    assert first != second
    c2 = app.server.test_client()
    c2.set_cookie("cityops_session", first)
    assert c2.get("/overdue").status_code == 302
    # logout ends the session server-side: the cookie replayed is worth nothing
    assert c.post("/logout", headers={"Origin": "http://localhost"}).status_code == 302
    c3 = app.server.test_client()
    c3.set_cookie("cityops_session", second)
    assert c3.get("/overdue").status_code == 302
    assert audited(rt, "logout", t0, who="wang.wu")


def test_acc021_secure_cookie_behind_tls(accounts_app):
    rt, app = accounts_app
    acc = Accounts(rt.store)
    if acc.get("tls.user") is None:
        acc.add("tls.user", "another long password", "leader", rt.settings.access.roles)
    c = app.server.test_client()
    r = c.post("/login", data={"user": "tls.user", "password": "another long password"},
               headers={"Origin": "https://localhost"}, base_url="https://localhost")
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


def test_acc022_lockout_after_repeated_failures(accounts_app):
    rt, app = accounts_app
    acc = Accounts(rt.store)
    if acc.get("zhao.liu") is None:
        acc.add("zhao.liu", "the right password", "leader", rt.settings.access.roles)
    c = app.server.test_client()
    t0 = time.time()
    for _ in range(3):
        assert _login(c, "zhao.liu", "wrong password!").status_code == 401
    r = _login(c, "zhao.liu", "the right password")         # right, but locked now
    assert r.status_code == 401 and "锁定".encode() in r.data
    fails = audited(rt, "login_failed", t0, who="zhao.liu")
    assert len(fails) == 4 and fails[0]["reason"] == "locked"
    rt.store.clear_failures("login:zhao.liu")
    assert _login(c, "zhao.liu", "the right password").status_code == 302


def test_acc023_no_open_redirect_after_login(accounts_app):
    rt, app = accounts_app
    acc = Accounts(rt.store)
    if acc.get("sun.qi") is None:
        acc.add("sun.qi", "a fine password 1", "operator", rt.settings.access.roles)
    for evil in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "\\\\evil"):
        c = app.server.test_client()
        r = _login(c, "sun.qi", "a fine password 1", evil)
        assert r.status_code == 302 and r.headers["Location"] == "/", evil


def test_acc024_password_change_and_disable_end_sessions(accounts_app):
    rt, app = accounts_app
    acc = Accounts(rt.store)
    if acc.get("qian.ba") is None:
        acc.add("qian.ba", "first password 11", "leader", rt.settings.access.roles)
    c = app.server.test_client()
    assert _login(c, "qian.ba", "first password 11").status_code == 302
    assert c.get("/tickets").status_code == 200
    acc.set_password("qian.ba", "second password 22")
    assert c.get("/tickets").status_code == 302
    assert _login(c, "qian.ba", "second password 22").status_code == 302
    acc.disable("qian.ba")
    assert c.get("/tickets").status_code == 302
    assert _login(c, "qian.ba", "second password 22").status_code == 401


def test_acc025_cli_user_add_passwd_disable(tmp_path, monkeypatch, capsys):
    from dashboard.app.cli import main
    users = tmp_path / "users.json"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[access]\nmode = "accounts"\nusers_file = "{users}"\n[store]\ndata_dir = "{tmp_path}"\n',
                   encoding="utf-8")
    monkeypatch.setenv("CITYOPS_PASSWORD", "a long password 123")
    assert main(["user", "add", "ma.jiu", "--role", "department_head", "--department", "水务局", "--config", str(cfg)]) == 0
    data = json.loads(users.read_text())
    assert data["ma.jiu"]["role"] == "department_head" and data["ma.jiu"]["hash"].startswith("scrypt:")
    assert "a long password" not in users.read_text()
    assert main(["user", "add", "ma.jiu", "--role", "leader", "--config", str(cfg)]) == 2
    assert main(["user", "add", "x", "--role", "king", "--config", str(cfg)]) == 2
    gen = data["ma.jiu"]["generation"]
    monkeypatch.setenv("CITYOPS_PASSWORD", "another long one 456")
    assert main(["user", "passwd", "ma.jiu", "--config", str(cfg)]) == 0
    assert main(["user", "disable", "ma.jiu", "--config", str(cfg)]) == 0
    data = json.loads(users.read_text())
    assert data["ma.jiu"]["disabled"] is True and data["ma.jiu"]["generation"] == gen + 2
    capsys.readouterr()
    assert main(["user", "list", "--config", str(cfg)]) == 0
    assert "ma.jiu\tdepartment_head\t水务局\tdisabled" in capsys.readouterr().out


# -- tokens ------------------------------------------------------------------------------------
def test_acc030_api_tokens_are_hashed_named_revocable(accounts_app):
    rt, app = accounts_app
    tokens = Tokens(rt.store)
    tok = tokens.issue("gas-dispatch-1", "api", "emergency", rt.settings.access.roles)
    assert tok.startswith("cot_") and all(tok not in json.dumps(v) for v in rt.store.records("token").values())
    c = app.server.test_client()
    assert c.get("/healthz", headers={"Authorization": f"Bearer {tok}"}).status_code == 200
    r = c.get("/alarms", headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200
    tokens.revoke("gas-dispatch-1")
    t0 = time.time()
    assert c.get("/alarms", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    assert c.get("/alarms", headers={"Authorization": "Bearer cot_made-up"}).status_code == 401
    assert c.get("/alarms", headers={"Authorization": "Basic YTpi"}).status_code == 401
    assert len(audited(rt, "refused", t0)) >= 3


def test_acc031_kiosk_token_wall_and_alarms_only(accounts_app):
    rt, app = accounts_app
    tok = Tokens(rt.store).issue("wall-hall-a", "kiosk")
    c = app.server.test_client()
    r = c.get(f"/?kiosk={tok}")
    assert r.status_code == 302 and r.headers["Location"] == "/" and tok not in r.headers["Location"]
    assert c.get("/").status_code == 200 and c.get("/alarms").status_code == 200
    assert c.get("/overdue").status_code == 302          # sent back to the wall
    wall = key_for(app, "wall-alarms.children")
    assert post(c, app, wall, {"wall-alarm-tick.n_intervals": 1, "lang.data": "zh"}).status_code == 200
    t0 = time.time()
    od = key_for(app, "od-grid.rowData")
    r = post(c, app, od, {"tick.n_intervals": 1, "od-state.value": ["overdue"], "url.pathname": "/overdue"})
    assert r.status_code == 403 and audited(rt, "refused", t0, who="kiosk:wall-hall-a")
    # a wall may not switch emergency mode or act (read-only)
    mode = key_for(app, "wall-mode.data")
    before = rt.store.console_state("emergency")
    r = post(c, app, mode, {"wall-emergency.n_clicks": 1}, changed=["wall-emergency.n_clicks"])
    assert r.status_code == 200 and rt.store.console_state("emergency") == before
    assert c.get("/api/v1/tickets").status_code == 403    # a display is no API client
    assert c.get("/api/v1/alarms", headers={"Authorization": f"Bearer {tok}"}).status_code == 403
    Tokens(rt.store).revoke("wall-hall-a")
    assert c.get("/").status_code == 302                  # revoked: to the login page


# -- web hardening ---------------------------------------------------------------------------------
def test_acc040_cross_site_posts_refused_for_every_callback(open_app):
    rt, app = open_app
    c = app.server.test_client()
    t0 = time.time()
    keys = server_callbacks(app)
    assert len(keys) >= 20
    for key in keys:
        assert post(c, app, key, origin="http://evil.example").status_code == 403, key
        assert post(c, app, key, origin=None).status_code == 403, key           # neither Origin nor Referer
        r = post(c, app, key, origin=None, headers={"Referer": "http://evil.example/x"})
        assert r.status_code == 403, key
    assert len(audited(rt, "refused", t0, code="cross_origin")) >= 3 * len(keys)
    ok = post(c, app, key_for(app, "wall-alarms.children"), {"wall-alarm-tick.n_intervals": 1, "lang.data": "zh"},
              origin=None, headers={"Referer": "http://localhost/"})
    assert ok.status_code == 200


def test_acc041_security_headers(open_app):
    rt, app = open_app
    r = app.server.test_client().get("/")
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "default-src 'self'" in csp
    script = re.search(r"script-src ([^;]*)", csp).group(1)
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script and "'sha256-" in script
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_acc042_every_callback_refused_without_identity_and_with_forged_headers(accounts_app, proxy_app):
    for rt, app in (accounts_app, proxy_app):
        c = app.server.test_client()
        for key in server_callbacks(app):
            assert post(c, app, key).status_code == 401, key
            r = post(c, app, key, headers={"X-Cityops-Role": "admin"}, environ_overrides=UNTRUSTED)
            assert r.status_code == 401, key

"""The web gate: every request to the console passes here before Dash or the API sees it.

- resolves the one `Viewer` (`dashboard.queries.access`) and keeps it in `flask.g` for
  `current_viewer()`; refuses (401/403, audited) forged identity headers, bad or revoked
  tokens, pages and callbacks the viewer may not open;
- POSTs (Dash's `_dash-update-component` included) must come from the console's own
  origin (`Origin`, else `Referer`): Dash has no CSRF token, so this is the CSRF defence;
  a request carrying an `Authorization: Bearer` token (machine clients) is exempt, since
  a browser never sends one cross-site by itself;
- the login page (zh-CN / English), logout, kiosk enrolment (`/?kiosk=cok_…`);
- security headers on every response (CSP, frame-ancestors / X-Frame-Options,
  X-Content-Type-Options, Referrer-Policy).
"""

from __future__ import annotations

import html as _html
import logging
import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from flask import Response, g, jsonify, redirect, request, session

from dashboard.queries import audit
from dashboard.queries.access import (NOBODY, Refused, Viewer, default_viewer, identity_headers, in_networks,
                              kiosk_viewer, viewer_for_role, viewer_from_headers)
from dashboard.queries.accounts import Accounts, Tokens

log = logging.getLogger(__name__)

STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/", "/_favicon.ico", "/favicon.ico")
OPEN_PATHS = ("/login", "/logout", "/healthz")
SESSION_KEY = "cityops"
KIOSK_DAYS = 3650


class Gate:
    def __init__(self, rt):
        self.rt = rt
        self.access = rt.settings.access
        self.accounts = Accounts(rt.store, self.access.users_file)
        self.tokens = Tokens(rt.store)
        self.jwt = None
        if self.access.jwt.enabled:
            from dashboard.queries.jwt_auth import JwtVerifier
            self.jwt = JwtVerifier(self.access.jwt)
        self.callback_pages: dict[str, str] = {}     # Dash callback output → page path

    # -- who is asking ------------------------------------------------------------------
    def resolve(self, req) -> Viewer | None:
        """The viewer of `req`; None when nobody is identified and anonymous reading is off.
        Raises `Refused` for an identity that is offered but not acceptable."""
        a = self.access
        tree = self._tree()
        auth = req.headers.get("Authorization", "")
        if auth:
            scheme, _, cred = auth.partition(" ")
            if scheme.lower() != "bearer" or not cred.strip():
                raise Refused(401, "unauthorized", "expected Authorization: Bearer <token>",
                              {"reason": "malformed Authorization header"})
            return self._bearer(cred.strip(), tree)
        forged = identity_headers(req.headers, a)
        if forged:
            trusted = a.mode == "proxy" and in_networks(req.remote_addr, a.trusted_proxies)
            if trusted and a.proxy_secret:
                trusted = secrets.compare_digest(req.headers.get(a.proxy_secret_header, ""), a.proxy_secret)
            if not trusted:
                raise Refused(401, "untrusted_identity", "identity headers are accepted only from the SSO proxy",
                              {"reason": "identity header from an untrusted address", "headers": forged,
                               "claimed_user": (req.headers.get(a.user_header) or "")[:64],
                               "claimed_role": (req.headers.get(a.role_header) or "")[:32]})
            return viewer_from_headers(req.headers, a, tree)
        data = session.get(SESSION_KEY) or {}
        if data.get("kiosk"):
            rec = self.tokens.store.record("token", data["kiosk"])
            if rec and rec.get("kind") == "kiosk" and not rec.get("revoked"):
                return kiosk_viewer(a, rec["name"])
            session.pop(SESSION_KEY, None)
        elif data.get("sid"):
            viewer = self._session_viewer(data, tree)
            if viewer is not None:
                return viewer
            session.pop(SESSION_KEY, None)
        if a.mode == "open":
            return default_viewer(a)
        return None

    def _bearer(self, cred: str, tree) -> Viewer:
        a = self.access
        rec = self.tokens.lookup(cred) if cred.startswith(("cot_", "cok_")) else None
        if rec is not None:
            if rec["kind"] == "kiosk":
                return kiosk_viewer(a, rec["name"])
            return viewer_for_role(a, rec["role"], f"token:{rec['name']}", "token", tree=tree)
        if cred.startswith(("cot_", "cok_")):
            raise Refused(401, "unauthorized", "unknown or revoked token", {"reason": "unknown or revoked token"})
        if self.jwt is None:
            raise Refused(401, "unauthorized", "bearer token not accepted", {"reason": "JWT offered, none configured"})
        from dashboard.queries.jwt_auth import TokenRejected
        try:
            ident = self.jwt.identity(self.jwt.claims(cred))
        except TokenRejected as exc:
            raise Refused(401, "unauthorized", "bearer token not accepted", {"reason": f"JWT: {exc}"[:300]}) from None
        role = next((r for r in ident["roles"] if r in a.roles), a.default_role)
        return viewer_for_role(a, role, ident["user"], "jwt", ident["department"], ident["areas"], tree,
                               scopes=ident["scopes"])

    def _session_viewer(self, data: dict, tree) -> Viewer | None:
        rec = self.rt.store.record("session", data["sid"])
        if rec is None or rec.get("exp", 0) < time.time():
            return None
        user = self.accounts.get(rec["user"])
        if user is None or user.get("disabled") or int(user.get("generation", 1)) != rec.get("generation"):
            return None
        return viewer_for_role(self.access, user["role"], rec["user"], "session", user.get("department", ""),
                               user.get("areas") or [], tree)

    def _tree(self):
        try:
            return self.rt.queries.tree()
        except Exception:  # noqa: BLE001 - the store may be away; scopes then use codes as given
            return None

    # -- login sessions -------------------------------------------------------------------
    def open_session(self, name: str, user: dict) -> None:
        """A fresh session for `name`: whatever session the browser had is dropped first and
        a new random id is issued (no fixation)."""
        old = (session.get(SESSION_KEY) or {}).get("sid")
        if old:
            self.rt.store.delete_record("session", old)
        session.clear()
        sid = secrets.token_urlsafe(32)
        self.rt.store.put_record("session", sid, {"user": name, "generation": int(user.get("generation", 1)),
                                                  "exp": time.time() + self.access.session_hours * 3600,
                                                  "at": time.time()})
        session[SESSION_KEY] = {"sid": sid}
        session.permanent = True

    def close_session(self) -> str | None:
        data = session.get(SESSION_KEY) or {}
        user = None
        if data.get("sid"):
            rec = self.rt.store.record("session", data["sid"])
            user = rec and rec.get("user")
            self.rt.store.delete_record("session", data["sid"])
        session.clear()
        return user


# -- helpers -----------------------------------------------------------------------------------
def same_origin(req) -> bool:
    """The POST came from a page of this console (scheme://host[:port] of the request)."""
    mine = f"{req.scheme}://{req.host}".lower()
    origin = req.headers.get("Origin")
    if origin and origin != "null":
        return origin.rstrip("/").lower() == mine
    ref = req.headers.get("Referer")
    if ref:
        p = urlsplit(ref)
        return f"{p.scheme}://{p.netloc}".lower() == mine
    return False


def safe_next(target: str | None) -> str:
    """Only a path of this console: no scheme, no host, no `//` or `\\` tricks (open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return "/"
    p = urlsplit(target)
    if p.scheme or p.netloc or any(ord(c) < 32 for c in target):
        return "/"
    return target


def content_security_policy(tile_url: str = "") -> str:
    """As strict as Dash allows: scripts from this origin only plus the hashes of Dash's own
    inline scripts (its renderer start and the clientside callbacks) — no 'unsafe-inline',
    no 'unsafe-eval' (checked in Chromium: every page, map and grid works without it; grid
    formatters and map functions are looked up by name, never evaluated from strings);
    inline styles are allowed (React sets style attributes)."""
    img = "'self' data: blob:"
    if tile_url:
        p = urlsplit(tile_url.replace("{s}", "a").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
        if p.scheme and p.netloc:
            img += f" {p.scheme}://{p.netloc.replace('a.', '*.', 1) if p.netloc.startswith('a.') else p.netloc}"
    return "; ".join([
        "default-src 'self'", "script-src 'self' {hashes}", "style-src 'self' 'unsafe-inline'",
        f"img-src {img}", "font-src 'self' data:", "connect-src 'self'", "worker-src 'self' blob:",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'", "frame-ancestors 'none'"])


def _wants_json(path: str) -> bool:
    return path.startswith(("/api/", "/_dash-")) or request.accept_mimetypes.best == "application/json"


def _refuse(rt, status: int, code: str, message: str, details: dict | None, viewer: Viewer | None = None):
    audit.record(rt.store, {"what": "refused", "who": (viewer.user if viewer else "anonymous"),
                            "role": viewer.role if viewer else None, "status": status, "code": code,
                            "method": request.method, "path": request.path[:200], "addr": request.remote_addr,
                            **(details or {})})
    if _wants_json(request.path):
        resp = jsonify(error={"code": code, "message": message})
        resp.status_code = status
    else:
        resp = Response(_page("403" if status == 403 else "401", f"<p>{_html.escape(message)}</p>"
                              '<p><a href="/login">登录 / Log in</a></p>'), status=status, mimetype="text/html")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="cityops"'
    return resp


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>"
            f"{_html.escape(title)}</title><link rel=\"stylesheet\" href=\"/assets/cityops.css\"></head>"
            f"<body class=\"login-body\"><main class=\"login-box\">{body}</main></body></html>")


# -- the login page ------------------------------------------------------------------------------
WORDS = {
    "zh": {"title": "城运中心 · 登录", "user": "用户名", "password": "密码", "submit": "登录", "other": "English",
           "bad": "用户名或密码错误", "locked": "失败次数过多，账户已临时锁定，请稍后再试", "disabled": "账户已停用",
           "anon": "未登录也可只读浏览（个人信息已脱敏）", "back": "返回首页"},
    "en": {"title": "City operations · Log in", "user": "User", "password": "Password", "submit": "Log in",
           "other": "中文", "bad": "Wrong user name or password",
           "locked": "Too many failed attempts: the account is locked for a while", "disabled": "Account disabled",
           "anon": "You can also read without logging in (personal data masked)", "back": "Back to the console"},
}


def login_page(lang: str, nxt: str, message: str = "", anonymous_read: bool = False) -> str:
    w = WORDS["en" if lang == "en" else "zh"]
    other = "zh" if lang == "en" else "en"
    msg = f'<p class="login-error" role="alert">{_html.escape(message)}</p>' if message else ""
    anon = (f'<p class="login-note">{w["anon"]} · <a href="/">{w["back"]}</a></p>') if anonymous_read else ""
    return _page(w["title"], (
        f'<h1>{_html.escape(w["title"])}</h1>{msg}'
        f'<form method="post" action="/login?{urlencode({"lang": lang})}">'
        f'<input type="hidden" name="next" value="{_html.escape(nxt, quote=True)}">'
        f'<label>{w["user"]}<input name="user" id="login-user" autocomplete="username" required maxlength="64"></label>'
        f'<label>{w["password"]}<input name="password" id="login-password" type="password" '
        f'autocomplete="current-password" required maxlength="256"></label>'
        f'<button type="submit" id="login-submit">{w["submit"]}</button></form>{anon}'
        f'<p class="login-lang"><a href="/login?{urlencode({"lang": other, "next": nxt})}">{w["other"]}</a></p>'))


def _lang() -> str:
    if request.args.get("lang") in ("zh", "en"):
        return request.args["lang"]
    best = request.accept_languages.best_match(["zh", "en"])
    return best or "zh"


# -- wiring ---------------------------------------------------------------------------------------
def session_secret(settings) -> bytes:
    """The key that signs session cookies: the setting, else a random key kept in the data dir
    (so every worker and every restart signs the same way)."""
    if settings.access.session_secret:
        return settings.access.session_secret.encode()
    path = Path(settings.store.data_dir) / "session.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    except FileExistsError:
        pass
    return path.read_bytes()


def install(app, rt) -> Gate:
    """Put the gate in front of the Dash app's Flask server; returns it (`rt.gate`)."""
    server = app.server
    s = rt.settings
    trail = audit.AuditTrail(rt.store, Path(s.store.data_dir) / "audit")
    audit.register(trail)
    try:
        trail.restore()
    except Exception as exc:  # noqa: BLE001 - the store may be away at start; the files keep everything
        log.warning("audit: could not compare Redis with the audit files: %s", exc)
    gate = Gate(rt)
    rt.gate = gate
    announce(rt, gate)
    server.secret_key = session_secret(s)
    server.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_NAME="cityops_session",
                         PERMANENT_SESSION_LIFETIME=timedelta(days=KIOSK_DAYS))
    csp = content_security_policy(s.map.tile_url)
    hashes = {"value": None}

    @server.before_request
    def _gate():
        path = request.path
        if path.startswith(STATIC_PREFIXES):
            return None
        # Secure cookies behind TLS (directly or through a proxy that says so)
        server.config["SESSION_COOKIE_SECURE"] = request.is_secure or \
            request.headers.get("X-Forwarded-Proto", "") == "https" and \
            in_networks(request.remote_addr, s.access.trusted_proxies)
        bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
        if request.method not in ("GET", "HEAD", "OPTIONS") and not bearer and not same_origin(request):
            return _refuse(rt, 403, "cross_origin", "POST from another origin refused",
                           {"origin": (request.headers.get("Origin") or request.headers.get("Referer") or "")[:200]})
        if path in OPEN_PATHS:
            return None
        try:
            viewer = gate.resolve(request)
        except Refused as exc:
            return _refuse(rt, exc.status, exc.code, exc.message, exc.audit)
        kiosk = request.args.get("kiosk") if request.method == "GET" else None
        if kiosk:
            rec = gate.tokens.lookup(kiosk)
            if rec is None or rec["kind"] != "kiosk":
                return _refuse(rt, 401, "unauthorized", "unknown or revoked display token", {"reason": "bad kiosk token"})
            session.clear()
            session[SESSION_KEY] = {"kiosk": rec["id"]}
            session.permanent = True
            audit.record(rt.store, {"what": "kiosk_enrol", "who": f"kiosk:{rec['name']}", "addr": request.remote_addr})
            return redirect(path if path in s.access.kiosk_pages else s.access.kiosk_pages[0])
        if viewer is None:
            if path.startswith(("/api/", "/_dash-")) or s.access.mode == "proxy":
                return _refuse(rt, 401, "unauthorized", "log in first", {"reason": "no identity"})
            return redirect("/login?" + urlencode({"next": safe_next(request.full_path.rstrip("?"))}))
        g.cityops_viewer = viewer
        if viewer.via == "kiosk" and path.startswith("/api/v1"):
            return _refuse(rt, 403, "forbidden", "a display token opens the wall and the alarm board only", {}, viewer)
        if path == "/_dash-update-component":
            body = request.get_json(silent=True) or {}
            page = gate.callback_pages.get(str(body.get("output", "")))
            if page and not viewer.may_open(page):
                return _refuse(rt, 403, "forbidden", f"this viewer may not use {page}",
                               {"callback": str(body.get("output", ""))[:200]}, viewer)
        elif request.method == "GET" and not path.startswith(("/api/", "/_dash-")) and "." not in path.rsplit("/", 1)[-1]:
            if not viewer.may_open(path):
                if viewer.via == "kiosk":
                    return redirect(s.access.kiosk_pages[0])
        return None

    @server.after_request
    def _headers(resp):
        if hashes["value"] is None:
            try:
                hashes["value"] = " ".join(app.csp_hashes())
            except Exception:  # noqa: BLE001 - before the layout exists
                hashes["value"] = ""
        resp.headers.setdefault("Content-Security-Policy", csp.format(hashes=hashes["value"]))
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.path.startswith(("/api/", "/login", "/_dash-update-component")):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    @server.route("/login", methods=["GET", "POST"])
    def login():
        lang = _lang()
        nxt = safe_next(request.values.get("next"))
        anon = s.access.mode == "open"
        if request.method == "GET":
            return Response(login_page(lang, nxt, anonymous_read=anon), mimetype="text/html")
        name = (request.form.get("user") or "").strip()[:64]
        user, why = gate.accounts.check(name, request.form.get("password") or "", s.access.lockout_failures,
                                        s.access.lockout_s)
        if user is None:
            audit.record(rt.store, {"what": "login_failed", "who": name, "reason": why, "addr": request.remote_addr})
            w = WORDS["en" if lang == "en" else "zh"]
            return Response(login_page(lang, nxt, w.get(why, w["bad"]) if why != "disabled" else w["bad"],
                                       anonymous_read=anon), status=401, mimetype="text/html")
        gate.open_session(name, user)
        audit.record(rt.store, {"what": "login", "who": name, "role": user["role"], "addr": request.remote_addr})
        return redirect(nxt)

    @server.route("/logout", methods=["POST", "GET"])
    def logout():
        if request.method == "GET":       # a link cannot log anyone out (CSRF): a button posts
            return Response(_page("logout", '<form method="post" action="/logout"><button id="logout-submit">'
                                            '退出登录 / Log out</button></form>'), mimetype="text/html")
        user = gate.close_session()
        if user:
            audit.record(rt.store, {"what": "logout", "who": user, "addr": request.remote_addr})
        return redirect("/login" if s.access.mode != "open" else "/")

    return gate


def announce(rt, gate: Gate) -> None:
    """Say in the start log how people are identified; in the demo (no settings file), make
    one account per built-in role with a random password and print them."""
    from dashboard.config.settings import BUILTIN_ROLES
    a = rt.settings.access
    if a.mode == "open":
        log.warning("access: mode open: ANONYMOUS READING IS ON (anyone who reaches %s:%s reads as role %r: "
                    "whole city, personal data masked, read-only); log in to act",
                    rt.settings.server.host, rt.settings.server.port, a.default_role)
    elif a.mode == "proxy":
        log.info("access: mode proxy: identity headers honoured only from %s%s", ", ".join(a.trusted_proxies),
                 " with the shared secret" if a.proxy_secret else "")
    else:
        log.info("access: mode accounts: every page needs a login%s", " (JWT bearer accepted)" if gate.jwt else "")
    if not rt.settings.source and rt.settings.demo_mode and not a.users_file:
        lines = []
        for role in BUILTIN_ROLES:
            password = secrets.token_urlsafe(12)
            gate.accounts.upsert_demo(role, password, role)
            lines.append(f"    {role:<16} {password}")
        log.warning("access: demo accounts (user = role; passwords new at every start):\n%s", "\n".join(lines))


def remember_callback_pages(app, before: set[str], path: str, gate_pages: dict[str, str]) -> None:
    """The callbacks a page module registered (its outputs), so the gate knows which page a
    `_dash-update-component` request belongs to."""
    for key in app.callback_map:
        if key not in before:
            gate_pages[key] = path


__all__ = ["Gate", "install", "same_origin", "safe_next", "login_page", "content_security_policy",
           "remember_callback_pages", "NOBODY"]

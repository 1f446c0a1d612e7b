"""OIDC/JWT bearer tokens against a JWKS file and a JWKS URL (a real HTTP server on
127.0.0.1), with key pairs generated in the test."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from dashboard.config.settings import JwtSettings
from tests.access_helpers import app_with

ISS, AUD = "https://sso.city.example/realms/cityops", "cityops-console"


def _jwk(public_key, kid: str, alg: str) -> dict:
    d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key) if alg.startswith("RS")
                   else jwt.algorithms.ECAlgorithm.to_jwk(public_key))
    return dict(d, kid=kid, alg=alg, use="sig")


@pytest.fixture(scope="module")
def keys():
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    eck = ec.generate_private_key(ec.SECP256R1())
    return {"good": good, "other": other, "ec": eck,
            "jwks": {"keys": [_jwk(good.public_key(), "k1", "RS256"), _jwk(eck.public_key(), "k2", "ES256")]}}


def token(key, kid="k1", alg="RS256", **claims):
    now = int(time.time())
    body = {"iss": ISS, "aud": AUD, "sub": "u-1", "preferred_username": "zhou.shi", "iat": now, "exp": now + 600,
            "cityops_role": "emergency", **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture(scope="module")
def jwt_app(demo_runtime, keys, tmp_path_factory):
    path = tmp_path_factory.mktemp("jwks") / "jwks.json"
    path.write_text(json.dumps(keys["jwks"]))
    return app_with(demo_runtime, mode="accounts", jwt=JwtSettings(jwks_file=str(path), issuer=ISS, audience=AUD))


def _get(app, tok, path="/alarms"):
    return app.server.test_client().get(path, headers={"Authorization": f"Bearer {tok}"})


def _viewer(rt, app, tok):
    with app.server.test_request_context("/", headers={"Authorization": f"Bearer {tok}"}):
        from flask import request
        return rt.gate.resolve(request)


def test_jwt001_valid_token_gives_role_and_scope(jwt_app, keys):
    rt, app = jwt_app
    assert _get(app, token(keys["good"])).status_code == 200
    v = _viewer(rt, app, token(keys["good"], department="燃气公司", cityops_areas=["150302"]))
    assert (v.user, v.role, v.via, v.act_on_alarms, v.see_personal_data) == ("zhou.shi", "emergency", "jwt", True, False)
    assert v.areas == ("150302",)
    assert _get(app, token(keys["ec"], kid="k2", alg="ES256")).status_code == 200
    # role as a list: the first known one; scopes can only take permissions away
    v = _viewer(rt, app, token(keys["good"], cityops_role=["nobody", "supervisor"], scope="cityops.read"))
    assert v.role == "supervisor" and not v.act_on_alarms and not v.see_personal_data and not v.export
    v = _viewer(rt, app, token(keys["good"], cityops_role="supervisor", scope="cityops.read cityops.act"))
    assert v.act_on_alarms and not v.export


@pytest.mark.parametrize("case", ["expired", "wrong_audience", "wrong_issuer", "wrong_signature", "alg_none",
                                  "hs256_with_public_key", "no_exp", "unknown_kid", "garbage"])
def test_jwt002_bad_tokens_are_refused_and_audited(jwt_app, keys, case):
    from dashboard.queries import audit
    rt, app = jwt_app
    now = int(time.time())
    if case == "expired":
        tok = token(keys["good"], iat=now - 7200, exp=now - 3600)
    elif case == "wrong_audience":
        tok = token(keys["good"], aud="another-app")
    elif case == "wrong_issuer":
        tok = token(keys["good"], iss="https://evil.example/")
    elif case == "wrong_signature":
        tok = token(keys["other"])                     # same kid, another private key
    elif case == "alg_none":
        import base64
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
        tok = enc({"alg": "none", "typ": "JWT", "kid": "k1"}) + "." + enc(
            {"iss": ISS, "aud": AUD, "sub": "x", "exp": now + 600, "cityops_role": "admin"}) + "."
    elif case == "hs256_with_public_key":
        from cryptography.hazmat.primitives import serialization
        pem = keys["good"].public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)
        import hashlib
        import hmac
        import base64
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
        head = enc({"alg": "HS256", "typ": "JWT", "kid": "k1"}) + "." + enc(
            {"iss": ISS, "aud": AUD, "sub": "x", "exp": now + 600, "cityops_role": "admin"})
        sig = base64.urlsafe_b64encode(hmac.new(pem, head.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
        tok = head + "." + sig
    elif case == "no_exp":
        tok = token(keys["good"], exp=None)
    elif case == "unknown_kid":
        tok = token(keys["good"], kid="k9")
    else:
        tok = "not.a.jwt"
    t0 = time.time()
    r = _get(app, tok)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    got = [e for e in audit.entries(rt.store, 50, what="refused") if e["at"] >= t0]
    assert got and got[0]["reason"].startswith("JWT")


def test_jwt003_jwks_from_a_url(demo_runtime, keys):
    body = json.dumps(keys["jwks"]).encode()

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/realms/cityops/protocol/openid-connect/certs"
        rt, app = app_with(demo_runtime, mode="accounts", jwt=JwtSettings(jwks_url=url, issuer=ISS, audience=AUD))
        assert _get(app, token(keys["good"])).status_code == 200
        assert _get(app, token(keys["other"])).status_code == 401
    finally:
        srv.shutdown()
        srv.server_close()


def test_jwt004_settings_refuse_symmetric_and_none_algorithms():
    with pytest.raises(ValueError, match="asymmetric"):
        JwtSettings(jwks_file="x.json", issuer=ISS, audience=AUD, algorithms=["RS256", "none"])
    with pytest.raises(ValueError, match="asymmetric"):
        JwtSettings(jwks_file="x.json", issuer=ISS, audience=AUD, algorithms=["HS256"])
    with pytest.raises(ValueError, match="issuer"):
        JwtSettings(jwks_file="x.json")

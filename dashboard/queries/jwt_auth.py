"""OIDC / JWT bearer tokens, verified with PyJWT against a JWKS file or URL.

The signature must verify with a key of the JWKS (chosen by `kid`), with one of the
configured asymmetric algorithms — `alg: none` and HMAC are never accepted — and `iss`,
`aud` and `exp` must all be present and right. The role, department, areas and scopes
come from configurable claims.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import jwt
import orjson


class TokenRejected(ValueError):
    """The bearer token is not acceptable; the message says why (for the audit, not the caller)."""


class JwtVerifier:
    def __init__(self, settings, refresh_s: float = 300.0):
        self.s, self.refresh_s = settings, refresh_s
        self._lock = threading.Lock()
        self._keys: dict[str, object] = {}
        self._loaded = 0.0
        self._client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=int(refresh_s)) \
            if settings.jwks_url else None

    def _file_keys(self) -> dict[str, object]:
        with self._lock:
            if not self._keys or time.monotonic() - self._loaded > self.refresh_s:
                jwks = jwt.PyJWKSet.from_dict(orjson.loads(Path(self.s.jwks_file).read_bytes()))
                self._keys = {k.key_id or "": k for k in jwks.keys}
                self._loaded = time.monotonic()
            return self._keys

    def _key(self, token: str, header: dict):
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token)
        keys = self._file_keys()
        kid = header.get("kid") or ""
        if kid in keys:
            return keys[kid]
        if not kid and len(keys) == 1:
            return next(iter(keys.values()))
        raise TokenRejected(f"no key {kid!r} in the JWKS")

    def claims(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenRejected(f"not a JWT: {exc}") from None
        alg = header.get("alg")
        if alg not in self.s.algorithms:      # "none", HS256 …: refused before any key is looked at
            raise TokenRejected(f"algorithm {alg!r} not accepted")
        try:
            key = self._key(token, header)
            return jwt.decode(token, key.key, algorithms=list(self.s.algorithms), audience=self.s.audience,
                              issuer=self.s.issuer, leeway=self.s.leeway_s,
                              options={"require": ["exp", "iss", "aud"], "verify_signature": True})
        except TokenRejected:
            raise
        except (jwt.PyJWTError, OSError, ValueError) as exc:
            raise TokenRejected(f"{type(exc).__name__}: {exc}") from None

    def identity(self, claims: dict) -> dict:
        """user, role, department, areas and scopes from the configured claims."""
        s = self.s
        role = claims.get(s.role_claim)
        roles = role if isinstance(role, list) else [role] if role else []
        areas = claims.get(s.areas_claim) or []
        scope = claims.get(s.scope_claim)
        scopes = set(scope.split() if isinstance(scope, str) else scope or []) if s.scope_claim in claims else None
        return {"user": str(claims.get(s.user_claim) or claims.get("sub") or "jwt")[:64],
                "roles": [str(r) for r in roles], "department": str(claims.get(s.department_claim) or "")[:64],
                "areas": [str(a) for a in areas] if isinstance(areas, list) else [str(areas)],
                "scopes": scopes}

"""Built-in accounts, API tokens and kiosk display tokens.

Accounts live in Redis (`store.records("user")`) or, when `[access] users_file` is set, in a
JSON file written by `cityops user add|passwd|disable` (so they outlive a Redis loss and can be
kept under configuration management). Passwords are hashed with werkzeug's scrypt (a
standard memory-hard KDF); the clear password is never stored or logged.

Each account carries a `generation`, bumped by a password change or a disable: a session
remembers the generation it was opened with, so changing the password or disabling the
account ends every session already open.

Tokens for machine clients (`cot_…`) and for wall displays (`cok_…`) are random 32-byte
secrets shown once; only their SHA-256 is kept, under a name, and a revoked token is refused
at its next request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

import orjson
from werkzeug.security import check_password_hash, generate_password_hash

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
API_PREFIX, KIOSK_PREFIX = "cot_", "cok_"
MIN_PASSWORD = 10
# a hash to compare against when the account does not exist, so timing does not tell
_DUMMY_HASH = generate_password_hash("not-a-password-" + secrets.token_hex(8), method="scrypt")


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: expected at least {MIN_PASSWORD} characters")
    return generate_password_hash(password, method="scrypt")


class Accounts:
    def __init__(self, store, users_file: str = ""):
        self.store, self.users_file = store, Path(users_file) if users_file else None

    # -- storage --------------------------------------------------------------------
    def _file_users(self) -> dict[str, dict]:
        if self.users_file is None or not self.users_file.exists():
            return {}
        return orjson.loads(self.users_file.read_bytes() or b"{}")

    def _write_file(self, users: dict[str, dict]) -> None:
        self.users_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.users_file.parent, prefix=".users.")
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(users, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.users_file)

    def get(self, name: str) -> dict | None:
        if self.users_file is not None:
            return self._file_users().get(name)
        return self.store.record("user", name)

    def all(self) -> dict[str, dict]:
        return self._file_users() if self.users_file is not None else self.store.records("user")

    def _put(self, name: str, user: dict) -> None:
        if self.users_file is not None:
            users = self._file_users()
            users[name] = user
            self._write_file(users)
        else:
            self.store.put_record("user", name, user)

    # -- commands -------------------------------------------------------------------
    def add(self, name: str, password: str, role: str, roles, department: str = "",
            areas: list[str] | None = None) -> dict:
        if not NAME.fullmatch(name or ""):
            raise AccountError(f"user: expected letters, digits, '.', '_', '@', '-' (up to 64), got {name!r}")
        if role not in roles:
            raise AccountError(f"role: expected one of {', '.join(roles)}, got {role!r}")
        if self.get(name) is not None:
            raise AccountError(f"user {name!r} exists (use `cityops user passwd`)")
        user = {"role": role, "hash": hash_password(password), "department": department, "areas": list(areas or []),
                "disabled": False, "generation": 1, "created": time.time()}
        self._put(name, user)
        return user

    def set_password(self, name: str, password: str) -> None:
        user = self._existing(name)
        user.update(hash=hash_password(password), generation=int(user.get("generation", 1)) + 1)
        self._put(name, user)

    def disable(self, name: str, disabled: bool = True) -> None:
        user = self._existing(name)
        user.update(disabled=disabled, generation=int(user.get("generation", 1)) + 1)
        self._put(name, user)

    def _existing(self, name: str) -> dict:
        user = self.get(name)
        if user is None:
            raise AccountError(f"no user {name!r}")
        return user

    def upsert_demo(self, name: str, password: str, role: str) -> None:
        """The demo's accounts: replaced at every start with fresh random passwords."""
        self._put(name, {"role": role, "hash": generate_password_hash(password, method="scrypt"), "department": "",
                         "areas": [], "disabled": False, "generation": int(time.time()), "created": time.time(),
                         "demo": True})

    # -- login ----------------------------------------------------------------------
    def check(self, name: str, password: str, failures_allowed: int, lockout_s: float) -> tuple[dict | None, str]:
        """(user, "") when the password is right; else (None, why): "locked", "disabled", "bad"."""
        key = f"login:{name.lower()[:64]}"
        if self.store.failures(key) >= failures_allowed:
            return None, "locked"
        user = self.get(name) if NAME.fullmatch(name or "") else None
        ok = check_password_hash(user["hash"] if user else _DUMMY_HASH, password or "")
        if not ok or user is None:
            n = self.store.count_failure(key, lockout_s)
            return None, "locked" if n >= failures_allowed else "bad"
        if user.get("disabled"):
            return None, "disabled"
        self.store.clear_failures(key)
        return user, ""


# -- tokens ------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Named tokens (API: `cot_…`, kiosk: `cok_…`), stored as hashes."""

    def __init__(self, store):
        self.store = store

    def issue(self, name: str, kind: str, role: str = "", roles=None) -> str:
        if not NAME.fullmatch(name or ""):
            raise AccountError(f"token name: expected letters, digits, '.', '_', '@', '-', got {name!r}")
        if kind not in ("api", "kiosk"):
            raise AccountError(f"token kind: expected api or kiosk, got {kind!r}")
        if kind == "api" and (roles is None or role not in roles):
            raise AccountError(f"role: expected one of {', '.join(roles or ())}, got {role!r}")
        if any(t["name"] == name and not t.get("revoked") for t in self.store.records("token").values()):
            raise AccountError(f"a token named {name!r} exists (revoke it first)")
        token = (API_PREFIX if kind == "api" else KIOSK_PREFIX) + secrets.token_urlsafe(32)
        self.store.put_record("token", token_hash(token), {"name": name, "kind": kind, "role": role if kind == "api" else "",
                                                           "created": time.time(), "revoked": False})
        return token

    def lookup(self, token: str) -> dict | None:
        if not token.startswith((API_PREFIX, KIOSK_PREFIX)) or len(token) > 128:
            return None
        h = token_hash(token)
        rec = self.store.record("token", h)
        if rec is None or rec.get("revoked") or not hmac.compare_digest(h, token_hash(token)):
            return None
        if (rec["kind"] == "kiosk") != token.startswith(KIOSK_PREFIX):
            return None
        return dict(rec, id=h)

    def revoke(self, name: str) -> int:
        n = 0
        for h, rec in self.store.records("token").items():
            if rec["name"] == name and not rec.get("revoked"):
                self.store.put_record("token", h, dict(rec, revoked=True, revoked_at=time.time()))
                n += 1
        if not n:
            raise AccountError(f"no live token named {name!r}")
        return n

    def list(self) -> list[dict]:
        return sorted(({k: v for k, v in rec.items()} for rec in self.store.records("token").values()),
                      key=lambda r: r["created"])

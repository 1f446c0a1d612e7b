"""Who is looking: one `Viewer` for the pages, the API and the actions.

`resolve(request)` on the `Gate` is the one place a request becomes a viewer, whatever the
mode (`[access] mode`):

- a bearer token: an API token (`cot_…`) or a kiosk display token (`cok_…`) by its hash,
  else an OIDC/JWT access token checked against the JWKS (`dashboard/queries/jwt_auth.py`);
- a kiosk cookie set by opening `/?kiosk=cok_…` once on the wall's browser;
- the SSO proxy's headers — in `proxy` mode only, and only from an address in
  `trusted_proxies` (with the shared secret when one is set). Such a header from anywhere else
  is refused (401) and audited, in every mode;
- a login session (built-in accounts), in every mode;
- nobody: in `open` mode the default viewer (whole city, masked, read-only); in `proxy` and
  `accounts` mode no viewer (401, or the login page).

`current_viewer(access)` is what callbacks and API handlers call: the viewer the gate
resolved for the request being served (the default viewer outside a request).
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

PERMISSIONS = ("see_personal_data", "act_on_alarms", "export", "switch_emergency_mode", "admin")
NO_DEPARTMENT = "(none)"      # a department head whose identity names no department sees none


@dataclass(frozen=True)
class Viewer:
    user: str = "anonymous"
    role: str = "operator"
    see_personal_data: bool = False
    areas: tuple[str, ...] = field(default_factory=tuple)        # empty = the whole city
    departments: tuple[str, ...] = field(default_factory=tuple)  # empty = every department
    act_on_alarms: bool = False
    export: bool = False
    switch_emergency_mode: bool = False
    admin: bool = False
    via: str = "anonymous"      # anonymous | proxy | session | jwt | token | kiosk | internal
    pages: tuple[str, ...] = field(default_factory=tuple)        # empty = every page (kiosk: the wall, alarms)

    @property
    def anonymous(self) -> bool:
        return self.via == "anonymous"

    def may(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        return bool(getattr(self, permission))

    def may_open(self, path: str) -> bool:
        if path in ("/audit",) and not self.admin:
            return False
        return not self.pages or path in self.pages


class Refused(Exception):
    """A request refused by the gate: `status` 401 (who are you) or 403 (not allowed)."""

    def __init__(self, status: int, code: str, message: str, audit: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.audit = status, code, message, audit


def viewer_for_role(access, role: str, user: str, via: str, department: str = "", areas=(), tree=None,
                    scopes: set[str] | None = None, pages=()) -> Viewer:
    """The viewer of `user` in `role`: the role's permissions and scope, the identity's
    department (for roles that take it from the identity) and areas (only ever narrowing the
    role's areas). `scopes` (from a JWT) can only take permissions away."""
    r = access.roles.get(role)
    if r is None:
        role, r = access.default_role, access.roles[access.default_role]
    departments = tuple(r.departments)
    if r.department_from_identity:
        departments = (department,) if department else (NO_DEPARTMENT,)
    role_areas = tuple(r.areas)
    asked = tuple(a for a in (areas or ()) if a)
    if asked:
        if role_areas:
            asked = tuple(a for a in asked if _within(a, role_areas, tree))
            areas_out = asked or role_areas[:0] + ("(none)",)
        else:
            areas_out = asked
    else:
        areas_out = role_areas
    perms = {p: bool(getattr(r, p)) for p in PERMISSIONS}
    if scopes is not None:
        need = {"act_on_alarms": "cityops.act", "export": "cityops.export", "see_personal_data": "cityops.personal",
                "switch_emergency_mode": "cityops.emergency", "admin": "cityops.admin"}
        perms = {p: v and need[p] in scopes for p, v in perms.items()}
    return Viewer(user=(user or "anonymous")[:64], role=role, areas=areas_out, departments=departments,
                  via=via, pages=tuple(pages), **perms)


def _within(code: str, allowed: tuple[str, ...], tree) -> bool:
    if code in allowed:
        return True
    if tree is None or code not in tree:
        return False
    return any(a.code in allowed for a in tree.ancestors(code))


def scope_mask(viewer: Viewer, grid_codes, tree):
    """True where a record's grid lies in the viewer's areas (everywhere for a role scoped to
    the whole city): the one area-scope rule of every view, export, API call and action
    (`Queries.scope_mask` calls it). Fails closed: a scoped viewer sees nothing while no area
    tree is loaded, and nothing unplaced."""
    import pandas as pd

    if not viewer.areas:
        return pd.Series(True, index=grid_codes.index)
    allowed = pd.Series(False, index=grid_codes.index)
    if tree is None:
        return allowed
    for code in viewer.areas:
        if code in tree:
            allowed |= tree.in_subtree(grid_codes, code)
    return allowed


def area_in_scope(viewer: Viewer, grid_code: str | None, tree) -> bool:
    """`scope_mask` for one record (an action's alarm)."""
    import pandas as pd

    return bool(scope_mask(viewer, pd.Series([grid_code], dtype=object), tree).iloc[0])


def default_viewer(access) -> Viewer:
    return viewer_for_role(access, access.default_role, "anonymous", "anonymous")


def kiosk_viewer(access, name: str) -> Viewer:
    """A wall display: whole city, masked, read-only, the wall and the alarm board only."""
    return Viewer(user=f"kiosk:{name}"[:64], role="kiosk", via="kiosk", pages=tuple(access.kiosk_pages))


def in_networks(addr: str | None, cidrs) -> bool:
    try:
        ip = ipaddress.ip_address((addr or "").split("%")[0])
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(c, strict=False) for c in cidrs)


def identity_headers(headers, access) -> list[str]:
    """The SSO identity headers present on a request."""
    names = (access.user_header, access.role_header, access.department_header, access.areas_header)
    return [h for h in names if h and headers.get(h) is not None]


def header_text(value: str | None) -> str:
    """A header value as text: percent-encoded UTF-8 (`%E5%9F%8E…`, what proxies should send
    for Chinese names) or raw UTF-8 bytes, which WSGI hands over as Latin-1."""
    from urllib.parse import unquote
    if not value:
        return ""
    if "%" in value:
        return unquote(value, errors="replace").strip()
    try:
        return value.encode("latin-1").decode("utf-8").strip()
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value.strip()


def viewer_from_headers(headers, access, tree=None) -> Viewer:
    """The viewer the SSO proxy's headers name. Only for a request the gate has established
    came from a trusted proxy; an unknown role falls back to the default role."""
    user = header_text(headers.get(access.user_header))[:64]
    role = header_text(headers.get(access.role_header)) or access.default_role
    dept = header_text(headers.get(access.department_header))[:64] if access.department_header else ""
    areas = [a.strip() for a in header_text(headers.get(access.areas_header)).split(",") if a.strip()] \
        if access.areas_header else []
    return viewer_for_role(access, role, user or "anonymous", "proxy", dept, areas, tree)


def current_viewer(access) -> Viewer:
    """The viewer of the Flask request being served, as the gate resolved it (the default
    viewer outside a request, or where no gate runs)."""
    from flask import g, has_request_context

    if not has_request_context():
        return default_viewer(access)
    viewer = g.get("cityops_viewer")
    if viewer is not None:
        return viewer
    return default_viewer(access) if access.mode == "open" else NOBODY


# what a request the gate did not resolve sees outside open mode: nothing at all
NOBODY = Viewer(user="nobody", role="nobody", areas=("(none)",), departments=(NO_DEPARTMENT,), via="nobody",
                pages=("/login",))

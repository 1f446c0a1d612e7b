"""Who is looking: the viewer, from the headers the centre's single sign-on proxy sets.

The query layer takes a `Viewer` on every call, so what a role may see (areas,
departments, unmasked personal data) is enforced in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Viewer:
    user: str = "anonymous"
    role: str = "operator"
    see_personal_data: bool = False
    areas: tuple[str, ...] = field(default_factory=tuple)        # empty = the whole city
    departments: tuple[str, ...] = field(default_factory=tuple)  # empty = every department
    act_on_alarms: bool = False      # may acknowledge / resolve alarms
    admin: bool = False              # may read the audit log


def viewer_from_headers(headers, access) -> Viewer:
    """Build the viewer from request headers; an unknown role falls back to the default."""
    user = (headers.get(access.user_header) or "anonymous").strip()[:64]
    role = (headers.get(access.role_header) or access.default_role).strip()
    if role not in access.roles:
        role = access.default_role
    r = access.roles[role]
    return Viewer(user=user, role=role, see_personal_data=r.see_personal_data,
                  areas=tuple(r.areas), departments=tuple(r.departments),
                  act_on_alarms=r.act_on_alarms, admin=r.admin)


def viewer_for(request, access) -> Viewer:
    """The viewer of an HTTP request: the one function pages and the API (`/api/v1`) use.

    `request` is a Flask request, or None outside a request (the default role).
    """
    return viewer_from_headers({} if request is None else request.headers, access)


def current_viewer(access) -> Viewer:
    """The viewer of the Flask request being served (the default role outside a request)."""
    from flask import has_request_context, request

    return viewer_for(request if has_request_context() else None, access)

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


def viewer_from_headers(headers, access) -> Viewer:
    """Build the viewer from request headers; an unknown role falls back to the default."""
    user = (headers.get(access.user_header) or "anonymous").strip()[:64]
    role = (headers.get(access.role_header) or access.default_role).strip()
    if role not in access.roles:
        role = access.default_role
    r = access.roles[role]
    return Viewer(user=user, role=role, see_personal_data=r.see_personal_data,
                  areas=tuple(r.areas), departments=tuple(r.departments))


def current_viewer(access) -> Viewer:
    """The viewer of the Flask request being served (the default role outside a request)."""
    from flask import has_request_context, request

    if not has_request_context():
        return viewer_from_headers({}, access)
    return viewer_from_headers(request.headers, access)

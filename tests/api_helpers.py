"""Helpers of the /api/v1 tests: the console's Flask app on a runtime, and API tokens
(`Authorization: Bearer cot_…`, the way machine clients identify) for any role."""

from __future__ import annotations

import dataclasses
import uuid

from dashboard.app.factory import create_app

SAME_ORIGIN = {"Origin": "http://localhost"}     # a browser's POST from the console's own page


def api_app(rt, extra_roles: dict | None = None):
    """`create_app(rt)` with `extra_roles` ({name: RoleSettings}) added to the settings the
    app's gate is built with; returns (Flask test client, bearer(role) -> headers)."""
    old = rt.settings
    if extra_roles:
        roles = dict(old.access.roles, **extra_roles)
        rt.settings = dataclasses.replace(old, access=dataclasses.replace(old.access, roles=roles))
    try:
        app = create_app(rt)
    finally:
        rt.settings = old
    gate = rt.gate

    def bearer(role: str) -> dict:
        name = f"test-{role}-{uuid.uuid4().hex[:8]}"
        return {"Authorization": "Bearer " + gate.tokens.issue(name, "api", role, roles=gate.access.roles)}
    return app.server.test_client(), bearer


def own_demo_runtime(data_dir, namespace: str, history_days: int = 2):
    """A demo runtime every feed polled once, on a key namespace of its own: for tests that
    change alarms (others count them) — and the audit trail of a process is per namespace."""
    from dashboard.app.runtime import Runtime
    from dashboard.config.settings import DemoSettings, StoreSettings, load_settings, with_changes
    from feeds.poller import Poller

    settings = with_changes(load_settings(None, env={}), demo=DemoSettings(history_days=history_days),
                            store=StoreSettings(data_dir=str(data_dir), namespace=namespace))
    rt = Runtime.start(settings, poll=False)
    rt.poller = Poller(settings, rt.store, rt.feeds)
    for feed in rt.feeds:
        rt.poller.run_feed(feed, force=True)
    return rt

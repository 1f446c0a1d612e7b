"""/alarms in a real headless Chromium (run with `pytest --headless`): the active alarms are
listed, one is acknowledged from the page, and who did it is in Redis's audit log."""

from __future__ import annotations

import dataclasses
import time

import pytest

from dashboard.app.factory import create_app
from tests.conftest import polled_demo_runtime

pytestmark = pytest.mark.browser


@pytest.fixture
def alarm_runtime(tmp_path):
    rt = polled_demo_runtime(tmp_path / "var", history_days=2)
    # anonymous reading may not act on alarms: this console's default role may (the app's
    # gate is built from the settings as they are at create_app)
    rt.settings = dataclasses.replace(rt.settings, access=dataclasses.replace(rt.settings.access,
                                                                              default_role="supervisor"))
    yield rt
    rt.close()


def test_bal001_list_acknowledge_and_audit(dash_duo, alarm_runtime):
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(create_app(alarm_runtime))
    dash_duo.wait_for_page(url=dash_duo.server_url + "/alarms")
    dash_duo.wait_for_element(".alarm-grid .ag-center-cols-container .ag-row", timeout=30)
    deadline, target = time.monotonic() + 30, None
    while target is None and time.monotonic() < deadline:
        for row in dash_duo.find_elements(".alarm-grid .ag-center-cols-container .ag-row"):
            clock = row.find_element("css selector", '[col-id="clock"]').text
            if ":" in clock:            # not yet acknowledged: its clock is running
                target = row
                break
        else:
            time.sleep(0.5)
    assert target is not None, "an unacknowledged alarm is listed"
    alarm_id = target.get_attribute("row-id")
    target.find_element("css selector", '[col-id="sensor"]').click()
    dash_duo.wait_for_contains_text(".alarm-detail", alarm_id.split("/")[0], timeout=15)
    dash_duo.find_element("#alarm-ack").click()
    dash_duo.wait_for_contains_text("#alarm-message", "已确认", timeout=15)
    (rec,) = alarm_runtime.store.dataset("alarms").get([alarm_id])
    assert rec["status"] == "acknowledged" and rec["acknowledged_by"] == "anonymous"
    entry = next(e for e in alarm_runtime.store.audit_log(20) if e.get("alarm_id") == alarm_id)
    assert (entry["who"], entry["what"]) == ("anonymous", "acknowledge")
    dash_duo.wait_for_contains_text(".alarm-detail .audit", "anonymous", timeout=15)
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"
                and "alarm" in e.get("message", "")]


def test_bal002_resolved_alarm_listed_and_its_own_page(dash_duo, alarm_runtime, tmp_path):
    """A resolved alarm comes back with the 已解除 filter; its link opens its own page with
    the whole timeline (raised, acknowledged, resolved with who and the note)."""
    from datetime import datetime, timezone

    from dashboard.queries import alarm_actions as actions
    from dashboard.queries import alarm_views as views
    from dashboard.queries.access import Viewer

    rt = alarm_runtime
    now = datetime.now(timezone.utc)
    target = [r for r in views.active_list(rt, Viewer(), now) if not r["acknowledged"]][-1]["alarm_id"]
    actions.acknowledge(rt.store, target, Viewer(user="值班员甲", act_on_alarms=True), now)
    actions.resolve(rt.store, target, Viewer(user="值班长乙", act_on_alarms=True), "false_alarm", now,
                    note="现场复核无泄漏")
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(create_app(rt))
    dash_duo.wait_for_page(url=dash_duo.server_url + "/alarms")
    dash_duo.wait_for_element(".alarm-grid .ag-center-cols-container .ag-row", timeout=30)
    # the status filter: tick 已解除 → the resolved alarm is listed again
    box = next(lbl for lbl in dash_duo.find_elements(f"#alarm-f-status label") if "已解除" in lbl.text)
    box.click()
    row_css = f'.alarm-grid .ag-row[row-id="{target}"]'
    dash_duo.wait_for_element(row_css, timeout=20)
    dash_duo.wait_for_contains_text(row_css + ' [col-id="clock"]', "已解除 · 误报", timeout=15)
    dash_duo.find_element(row_css + ' [col-id="sensor"]').click()
    dash_duo.wait_for_element(".alarm-detail .detail-link", timeout=15)
    deadline = time.monotonic() + 15
    while "?alarm=" not in dash_duo.driver.current_url and time.monotonic() < deadline:
        try:   # the detail redraws on each refresh: click the link as it is now
            dash_duo.find_element(".alarm-detail .detail-link").click()
        except Exception:  # noqa: BLE001 - a stale element: try the new one
            time.sleep(0.2)
    dash_duo.wait_for_contains_text(".alarm-timeline", "现场复核无泄漏", timeout=20)
    text = dash_duo.find_element(".alarm-own-page").text
    for words in ("报警", "确认接警", "值班员甲", "解除 · 误报", "值班长乙", "导出时间线 CSV"):
        assert words in text, words
    assert "?alarm=" in dash_duo.driver.current_url
    dash_duo.driver.save_screenshot(str(tmp_path / "alarm_page.png"))
    import shutil
    shutil.copy(tmp_path / "alarm_page.png", "/tmp/people_alarm_page.png")
    deadline = time.monotonic() + 15
    while "?alarm=" in dash_duo.driver.current_url and time.monotonic() < deadline:
        try:   # the page redraws on each refresh: click the link as it is now
            dash_duo.find_element(".alarm-back").click()
        except Exception:  # noqa: BLE001 - a stale element: try the new one
            time.sleep(0.2)
    dash_duo.wait_for_element(".alarm-main-view:not(.hidden) .alarm-grid", timeout=15)

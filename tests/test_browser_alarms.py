"""/alarms in a real headless Chromium (run with `pytest --headless`): the active alarms are
listed, one is acknowledged from the page, and who did it is in Redis's audit log."""

from __future__ import annotations

import time

import pytest

from dashboard.app.factory import create_app
from tests.conftest import polled_demo_runtime

pytestmark = pytest.mark.browser


@pytest.fixture
def alarm_runtime(tmp_path):
    rt = polled_demo_runtime(tmp_path / "var", history_days=2)
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

"""/overdue in a real headless Chromium: a filter goes into the URL, a bookmarked URL opens
with its filters set, and the back button undoes a filter (run with `pytest --headless`)."""

from __future__ import annotations

import time

import pytest

from dashboard.queries import overdue_views as ov
from dashboard.queries.access import Viewer

pytestmark = pytest.mark.browser


def rows(dash_duo) -> int:
    return len(dash_duo.find_elements("#od-grid .ag-center-cols-container .ag-row"))


def test_odb001_filters_in_the_url_and_back(dash_duo, demo_runtime):
    from dashboard.app.factory import create_app

    rt = demo_runtime
    dash_duo.start_server(create_app(rt))
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.wait_for_page(url=dash_duo.server_url + "/overdue?state=overdue", timeout=60)
    dash_duo.wait_for_element("#od-grid .ag-center-cols-container .ag-row", timeout=60)
    # the bookmarked state: only 已超期 ticked
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ticked = [i.get_attribute("value") for i in dash_duo.find_elements("#od-state input") if i.is_selected()]
        if ticked == ["overdue"]:
            break
        time.sleep(0.3)
    assert ticked == ["overdue"]
    dash_duo.wait_for_contains_text("#od-summary", "已超期", timeout=20)
    # a search typed in the box goes into the URL
    dept = ov.filter_options(rt.queries, Viewer())[0][0]
    box = dash_duo.find_element("#od-search")
    box.send_keys(dept)
    deadline = time.monotonic() + 20
    while "q=" not in dash_duo.driver.current_url and time.monotonic() < deadline:
        time.sleep(0.3)
    assert "state=overdue" in dash_duo.driver.current_url and "q=" in dash_duo.driver.current_url
    dash_duo.driver.save_screenshot("/tmp/people_overdue.png")
    # back: the search is gone from the URL and from the box
    dash_duo.driver.back()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (dash_duo.find_element("#od-search").get_attribute("value") or ""):
        time.sleep(0.3)
    assert "q=" not in dash_duo.driver.current_url
    assert (dash_duo.find_element("#od-search").get_attribute("value") or "") == ""

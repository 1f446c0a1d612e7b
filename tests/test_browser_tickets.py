"""/tickets in a real headless Chromium: a click on a district drills in; back comes back.

Run: python -m pytest tests/test_browser_tickets.py --headless
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_tkb001_click_a_district_row_then_go_back(dash_duo, demo_runtime):
    from dashboard.app.factory import create_app

    tree = demo_runtime.queries.tree()
    district = tree.children(tree.root.code)[0]
    app = create_app(demo_runtime)
    dash_duo.start_server(app)
    dash_duo.driver.set_window_size(1920, 1080)  # the page's size; a tiny window hides the text
    dash_duo.wait_for_page(url=dash_duo.server_url + "/tickets?win=last_30_days&metric=on_time_rate", timeout=60)

    dash_duo.wait_for_text_to_equal("#tk-crumbs .current", tree.root.name, timeout=60)
    # settled: drawn for the URL's window (the first draw, before the URL is read, is the default)
    dash_duo.wait_for_contains_text("#tk-info", "近30天", timeout=60)
    cell = f'#tk-table .ag-row[row-id="{district.code}"] .ag-cell[col-id="name"]'
    dash_duo.wait_for_text_to_equal(cell, district.name, timeout=60)
    dash_duo.find_element(cell).click()

    dash_duo.wait_for_text_to_equal("#tk-crumbs .current", district.name, timeout=30)
    assert f"node={district.code}" in dash_duo.driver.current_url
    assert "win=last_30_days" in dash_duo.driver.current_url
    first_street = tree.children(district.code)[0]
    dash_duo.wait_for_element(f'#tk-table .ag-row[row-id="{first_street.code}"]', timeout=30)

    dash_duo.driver.back()   # the browser's back button returns to the city
    dash_duo.wait_for_text_to_equal("#tk-crumbs .current", tree.root.name, timeout=30)
    assert "node=" not in dash_duo.driver.current_url
    dash_duo.wait_for_element(f'#tk-table .ag-row[row-id="{district.code}"]', timeout=30)
    assert not [e for e in dash_duo.get_logs() or [] if e.get("level") == "SEVERE"]


def test_tkb002_table_fits_1920_and_the_legend_has_units(dash_duo, demo_runtime):
    """At 1920×1080 the drill table's core columns (satisfaction included) are on screen,
    the map legend names the unit, and a short window's chart labels each day once."""
    from dashboard.app.factory import create_app

    dash_duo.start_server(create_app(demo_runtime))
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.wait_for_page(url=dash_duo.server_url + "/tickets?win=this_week&metric=satisfaction_rate", timeout=60)
    dash_duo.wait_for_contains_text("#tk-info", "本周", timeout=60)
    dash_duo.wait_for_element('#tk-table .ag-header-cell[col-id="score"]', timeout=30)
    grid = dash_duo.find_element("#tk-table .ag-body-viewport").rect
    for col in ("satisfaction_rate", "score"):
        cell = dash_duo.find_element(f'#tk-table .ag-header-cell[col-id="{col}"]').rect
        assert cell["x"] + cell["width"] <= grid["x"] + grid["width"] + 1, col
    dash_duo.wait_for_contains_text("#tk-legend", "满意率 (%)", timeout=20)
    assert "≥ 95%" in dash_duo.find_element("#tk-legend").text
    ticks = [t.text for t in dash_duo.find_elements("#tk-trend .xtick text")]
    assert ticks and len(ticks) == len(set(ticks)), ticks
    dash_duo.driver.save_screenshot("/tmp/people_tickets.png")


def test_tkb003_a_link_opens_the_list_behind_a_number(dash_duo, demo_runtime):
    from dashboard.queries import ticket_views as tv
    from dashboard.app.factory import create_app

    dash_duo.start_server(create_app(demo_runtime))
    dash_duo.driver.set_window_size(1920, 1080)
    link = f"/tickets?win=last_30_days&metric=received&list=overdue&part=numerator&row={tv.TOTAL}"
    dash_duo.wait_for_page(url=dash_duo.server_url + link, timeout=60)
    dash_duo.wait_for_element(".tk-members.open #tk-members-grid .ag-row", timeout=60)
    dash_duo.wait_for_contains_text("#tk-members-title", "超期", timeout=20)
    export = dash_duo.find_element("#tk-members-export").get_attribute("href")
    again = dash_duo.find_element("#tk-members-link").get_attribute("href")
    assert "/api/tickets/members.csv?" in export and "list=overdue" in export
    assert again.endswith(link.split("?", 1)[1].split("&list")[0] + "&list=overdue&part=numerator&row=" + tv.TOTAL) \
        or "list=overdue" in again
    dash_duo.driver.save_screenshot("/tmp/people_members.png")

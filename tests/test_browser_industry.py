"""/industry in a real headless Chromium (`pytest --headless`): the ranking shows graded
enterprises with grade badges, and a click opens the enterprise's what-if."""

from __future__ import annotations

import pytest

from dashboard.app_factory import create_app
from dashboard.runtime import Runtime
from dashboard.settings import FeedSettings, ServerSettings, StoreSettings, load_settings, with_changes
from feeds.sim_industry import simulate_industry, to_csv_bytes

pytestmark = pytest.mark.browser


@pytest.fixture
def industry_runtime(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "enterprises.csv").write_bytes(to_csv_bytes(simulate_industry(seed=5)))
    feeds = [FeedSettings(name="industry-file", kind="industry", format="canonical", path=str(drop))]
    settings = with_changes(load_settings(None, env={}), feeds=feeds,
                            store=StoreSettings(data_dir=str(tmp_path / "var")), server=ServerSettings(refresh_s=2))
    rt = Runtime.start(settings, poll=False)
    from feeds.poller import Poller

    poller = Poller(settings, rt.store, rt.feeds)
    for f in rt.feeds:
        poller.run_feed(f, force=True)
    yield rt
    rt.close()


def test_bri001_ranking_with_grades_and_enterprise_page(dash_duo, industry_runtime):
    app = create_app(industry_runtime)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/industry")
    # the ranking: first row is rank 1, grade A, with a badge
    dash_duo.wait_for_element("#ind-ranking .ag-row[row-index='0'] .grade-badge.grade-A", timeout=30)
    first = dash_duo.find_element("#ind-ranking .ag-row[row-index='0'] [col-id='rank']")
    assert first.text == "1"
    badges = {e.text for e in dash_duo.find_elements("#ind-ranking .grade-badge")}
    assert badges & set("ABCD")
    dash_duo.wait_for_text_to_equal("#ind-period .dash-dropdown-value", "2025", timeout=10)  # the latest
    # the summary tiles show grade counts; the map drew enterprises
    dash_duo.wait_for_element(".ind-tile-grade.grade-D .ind-tile-value", timeout=10)
    dash_duo.wait_for_element("#ind-map path.leaflet-interactive, #ind-map canvas", timeout=20)
    # open an enterprise: its page with the what-if
    dash_duo.find_element("#ind-ranking .ag-row[row-index='0'] [col-id='name']").click()
    dash_duo.wait_for_element(".ind-detail-head h2", timeout=20)
    assert "ent=" in dash_duo.driver.current_url
    dash_duo.wait_for_contains_text(".ind-detail-body", "已是A类", timeout=10)
    mine = [e for e in dash_duo.get_logs() or [] if "ind-" in e.get("message", "")]
    assert mine == [], mine

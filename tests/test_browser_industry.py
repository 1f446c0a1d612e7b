"""/industry in a real headless Chromium (`pytest --headless`): the ranking shows graded
enterprises with grade badges, a click opens the enterprise's what-if, and the ranking
filters live in the URL (shared links, the back button)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from dashboard.queries import industry_views as iv
from dashboard.queries.access import Viewer
from dashboard.app.factory import create_app
from dashboard.app.runtime import Runtime
from dashboard.config.settings import FeedSettings, ServerSettings, StoreSettings, load_settings, with_changes
from feeds.demo.industry import simulate_industry, to_csv_bytes

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


RANKING_IDS = """
const api = window.dash_ag_grid && window.dash_ag_grid.getApi('ind-ranking');
if (!api) { return null; }
const ids = [];
api.forEachNode(n => ids.push(n.id));
return ids;
"""


def _ranking_ids(dash_duo) -> set | None:
    ids = dash_duo.driver.execute_script(RANKING_IDS)
    return None if ids is None else set(ids)


def _wait_ranking(dash_duo, want: set, timeout: float = 30) -> None:
    """Until the ranking grid holds exactly the enterprises `want`."""
    try:
        WebDriverWait(dash_duo.driver, timeout, 0.25).until(lambda d: _ranking_ids(dash_duo) == want)
    except Exception:
        got = _ranking_ids(dash_duo) or set()
        raise AssertionError(f"ranking: {len(got)} rows, want {len(want)}; extra {sorted(got - want)[:5]}, "
                             f"missing {sorted(want - got)[:5]}") from None


def _query(dash_duo) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(dash_duo.driver.current_url).query).items()}


def _wait_query(dash_duo, want: dict, timeout: float = 20) -> None:
    try:
        WebDriverWait(dash_duo.driver, timeout, 0.25).until(lambda d: _query(dash_duo) == want)
    except Exception:
        raise AssertionError(f"URL query {_query(dash_duo)}, want {want}") from None


def _choose(dash_duo, dropdown_id: str, label: str) -> None:
    """Open a Dash 4 dropdown and click the option with this label."""
    dash_duo.find_element(f"#{dropdown_id}").click()
    xpath = (f"//button[@id='{dropdown_id}']/ancestor::div[contains(@class,'dash-dropdown-wrapper')]"
             f"//label[contains(@class,'dash-dropdown-option')][normalize-space()='{label}']")
    WebDriverWait(dash_duo.driver, 10).until(lambda d: d.find_elements(By.XPATH, xpath))
    dash_duo.driver.find_element(By.XPATH, xpath).click()


def test_bri002_filters_in_the_url_shared_link_change_and_back(dash_duo, industry_runtime):
    q = industry_runtime.queries
    everyone = Viewer()
    rows = iv.graded(q, "2025").rows
    park = rows.loc[rows["grade"] == "D", "park"].value_counts().index[0]
    codes = lambda **f: set(iv.ranking(q, everyone, "2025", filters=iv.Filters(**f))["credit_code"])  # noqa: E731
    d_in_park, a_in_park = codes(grade="D", park=park), codes(grade="A", park=park)
    assert d_in_park and a_in_park and d_in_park != a_in_park and len(d_in_park) < len(codes(grade="D"))
    app = create_app(industry_runtime)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app)
    # a shared link: the grid holds only the matching enterprises, the dropdowns show the filters
    dash_duo.driver.get(dash_duo.server_url + f"/industry?period=2025&grade=D&park={quote(park)}")
    dash_duo.wait_for_text_to_equal("#ind-grade .dash-dropdown-value", "D类", timeout=30)
    dash_duo.wait_for_text_to_equal("#ind-park .dash-dropdown-value", park, timeout=10)
    _wait_ranking(dash_duo, d_in_park)
    badges = {e.text for e in dash_duo.find_elements("#ind-ranking .grade-badge")}
    assert badges == {"D"}, badges
    # another grade: a new URL, the park kept
    _choose(dash_duo, "ind-grade", "A类")
    _wait_query(dash_duo, {"period": "2025", "park": park, "grade": "A"})
    _wait_ranking(dash_duo, a_in_park)
    dash_duo.wait_for_text_to_equal("#ind-park .dash-dropdown-value", park, timeout=10)
    # the browser's back button: grade D again, on the grid and in the dropdown
    dash_duo.driver.back()
    _wait_query(dash_duo, {"period": "2025", "park": park, "grade": "D"})
    dash_duo.wait_for_text_to_equal("#ind-grade .dash-dropdown-value", "D类", timeout=20)
    _wait_ranking(dash_duo, d_in_park)
    # forward again, then clear the park with its ✕: the URL drops it
    dash_duo.driver.forward()
    dash_duo.wait_for_text_to_equal("#ind-grade .dash-dropdown-value", "A类", timeout=20)
    _wait_ranking(dash_duo, a_in_park)
    dash_duo.find_element("#ind-park .dash-dropdown-clear").click()
    _wait_query(dash_duo, {"period": "2025", "grade": "A"})
    _wait_ranking(dash_duo, codes(grade="A"))
    dash_duo.wait_for_text_to_equal("#ind-park .dash-dropdown-value", "全部", timeout=10)
    mine = [e for e in dash_duo.get_logs() or [] if "ind-" in e.get("message", "")]
    assert mine == [], mine


def test_bri003_unknown_filters_in_a_link_are_ignored(dash_duo, industry_runtime):
    q = industry_runtime.queries
    every_c = set(iv.ranking(q, Viewer(), "2025", filters=iv.Filters(grade="C"))["credit_code"])
    app = create_app(industry_runtime)
    dash_duo.driver.set_window_size(1920, 1080)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/industry?grade=C&park=" + quote("不存在的园区")
                        + "&industry=%ZZ&street=999")
    dash_duo.wait_for_text_to_equal("#ind-grade .dash-dropdown-value", "C类", timeout=30)
    _wait_ranking(dash_duo, every_c)                    # the unknown park, industry and street are ignored
    for dropdown in ("ind-park", "ind-industry", "ind-street"):
        assert dash_duo.find_element(f"#{dropdown} .dash-dropdown-value").text == "全部"
    dash_duo.wait_for_contains_text("#ind-notice", "不存在的园区", timeout=10)
    # the link stays as it was given (nothing rewritten behind the user's back)
    assert _query(dash_duo)["park"] == "不存在的园区"
    mine = [e for e in dash_duo.get_logs() or [] if "ind-" in e.get("message", "")]
    assert mine == [], mine

"""/health for admins: errors in one localised line (the raw text on hover), unplaced tickets
split by reason, and each unplaced count opens its tickets."""

from __future__ import annotations

import pandas as pd

from callbacks import health
from conftest import free_port
from dashboard.queries.access import Viewer
from dashboard.config.settings import FeedSettings, load_settings
from feeds.poller import Poller
from layouts.health import error_cell, error_summary
from metrics.placement import placement_counts, placement_of
from test_health_page import _texts


def test_hrd001_real_connection_errors_summarised(embedded_store):
    """A feed pointed at a closed port: requests' long urllib3 text becomes one line."""
    port = free_port()
    feed = FeedSettings(name="gone", kind="tickets", format="canonical", url=f"http://127.0.0.1:{port}/t.jsonl",
                        interval_s=1, timeout_s=2)
    h = Poller(load_settings(None, env={}), embedded_store, [feed]).run_feed(feed)
    raw = h["last_error"]
    assert "Max retries exceeded" in raw or "refused" in raw.lower()      # the library's own words
    assert error_summary(raw, "zh") == f"连接被拒绝 · 127.0.0.1:{port}"
    assert error_summary(raw, "en") == f"Connection refused · 127.0.0.1:{port}"
    cell = error_cell(raw + "\n  second line", "zh")
    assert cell.children == f"连接被拒绝 · 127.0.0.1:{port}" and "\n" not in cell.title and "second line" in cell.title


def test_hrd002_other_errors():
    assert error_summary("FeedError: http://10.0.0.5:8080/open311/v2/requests.json: HTTP 503", "zh") == \
        "服务器返回 HTTP 503 · 10.0.0.5:8080"
    assert error_summary("ReadTimeout: HTTPConnectionPool(host='sta.intra', port=443): Read timed out.", "zh") == \
        "连接超时 · sta.intra:443"
    assert error_summary("FeedError: /srv/drop/tickets.csv: not valid UTF-8", "en") == "Bad data format"
    assert error_summary("", "zh") == ""


def _frame(rows):
    df = pd.DataFrame(rows, columns=["grid_code", "lat", "lon"])
    return df


def test_hrd003_unplaced_split_by_reason():
    df = _frame([("G1", None, None), (None, 39.6, 106.8), ("NOPE", None, None), (None, None, None),
                 (None, 10.0, 10.0), (None, 39.6, None)])
    grid = pd.Series(["G1", "G7", None, None, None, None])    # the tree placed the first two
    assert placement_of(df, grid).tolist() == ["by_code", "by_position", "unknown_code", "no_position",
                                               "outside_city", "no_position"]
    assert placement_counts(df, grid) == {"by_code": 1, "by_position": 1, "unknown_code": 1, "no_position": 2,
                                          "outside_city": 1}


def test_hrd004_counts_link_to_their_tickets(demo_runtime):
    rt = demo_runtime
    _, place, *_ = health.update(1, None, "zh", rt)
    text = _texts(place)
    assert "无编码、无坐标(未落格)" in text and "坐标在市域外(未落格)" in text
    counts = rt.queries.placement()
    reason = next(k for k in ("no_position", "outside_city", "unknown_code") if counts[k])
    links = [li.children for li in place.children if hasattr(li.children, "href")]
    assert f"/health?placement={reason}" in {link.href for link in links}
    out = health.unplaced(f"?placement={reason}", "zh", rt, Viewer())
    grid = out[-1]
    assert len(grid.rowData) == min(500, counts[reason])
    assert all(r["caller_phone"] == "" or "****" in r["caller_phone"] for r in grid.rowData)   # masked
    assert health.unplaced("?placement=bogus", "zh", rt, Viewer()) == []


def test_hrd005_unplaced_list_shows_status_in_words():
    from layouts.health import unplaced_columns
    status = next(c for c in unplaced_columns("zh") if c["field"] == "status")
    assert status["refData"]["dispatched"] == "派遣"

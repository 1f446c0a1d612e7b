"""/tickets: the list behind a number can be exported (CSV, masked, audited) and linked (a
URL that opens the same list)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

from callbacks import tickets as cb
from callbacks import tickets_members as mcb
from dashboard.queries import ticket_views as tv
from dashboard.queries.access import Viewer


def test_tml001_link_round_trip_and_junk(demo_runtime):
    tree = demo_runtime.queries.tree()
    district = tree.children(tree.root.code)[0].code
    state = tv.DrillState(node=district, win="last_30_days", metric="on_time_rate")
    mq = tv.MemberQuery(district, tree.children(district)[0].code, "on_time_rate", "denominator",
                        department="城管局", day="2026-11-20")
    search = tv.member_search(state, mq)
    assert search.startswith(tv.format_search(state) + "&list=on_time_rate&part=denominator")
    assert tv.member_from_search(search, tree) == mq
    assert tv.parse_state(search, tree) == state            # the drill state is unchanged by the list
    for junk in ("?list=nope", "?list=received&part=half", "?list=received&row=999", "?list=received&day=x", ""):
        assert tv.member_from_search(junk, tree) is None


def test_tml002_export_is_the_list_masked_and_linked_page_opens_it(demo_runtime):
    rt = demo_runtime
    now = cb.as_of(rt, datetime.now(timezone.utc))
    search = "?win=last_30_days&metric=received&list=overdue&part=numerator&row=" + tv.TOTAL
    mq = tv.member_from_search(search, rt.queries.tree())
    asof = mcb.asof_for(search, rt, now)
    df, num, _ = tv.member_frame(rt.queries, Viewer(), mq, *(__import__("pandas").Timestamp(asof[k])
                                                             for k in ("now", "start", "end")))
    data, name = mcb.export_members(search, "zh", rt, Viewer(export=True), now)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "工单号" and len(rows) - 1 == num == len(df) > 0
    assert name.startswith("tickets-overdue-numerator-") and name.endswith(".csv")
    phones = [r[rows[0].index("联系电话")] for r in rows[1:] if r[rows[0].index("联系电话")]]
    assert all("****" in p for p in phones)                    # masked, whoever exports
    status = {r[rows[0].index("状态")] for r in rows[1:]}
    assert not status & {"handling", "dispatched", "registered"}   # coded values in words
    # over HTTP as the panel's link fetches it; a viewer without the export permission is refused
    from dashboard.app.factory import create_app
    client = create_app(rt).server.test_client()
    export_href, link = mcb.links(mq, search, "zh", rt)
    assert link.startswith("/tickets?") and "list=overdue" in link
    resp = client.get(export_href)
    assert resp.status_code == 403                          # anonymous reading may not export (audited)
    assert client.get(mcb.EXPORT_URL + "?win=today").status_code == 404   # a URL that opens no list


def test_tml003_a_link_opens_the_panel(demo_runtime, monkeypatch):
    """The members callback, given a URL with list=…, opens the panel with that list."""
    rt = demo_runtime
    search = "?win=last_30_days&metric=received&list=received&part=numerator&row=" + tv.TOTAL
    mq = tv.member_from_search(search, rt.queries.tree())
    asof = mcb.asof_for(search, rt)
    title, options, rows, note = mcb.show(mq, asof, "zh", rt, Viewer())
    assert rows and "受理量" in title and title.startswith(rt.queries.tree().root.name)
    export_href, link = mcb.links(mq, search, "zh", rt)
    assert export_href.startswith(mcb.EXPORT_URL + "?") and link == "/tickets" + tv.member_search(
        tv.parse_state(search, rt.queries.tree()), mq)

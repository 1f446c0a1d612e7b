"""/overdue: the board, its refresh and its exports, called as plain functions."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import openpyxl
import pandas as pd
import pytest

from callbacks import overdue as cb
from dashboard.queries import overdue_views as ov
from dashboard.queries.access import Viewer
from metrics import tickets as tk


@pytest.fixture(scope="module")
def now(demo_runtime):
    return cb.as_of(demo_runtime, datetime.now(timezone.utc)).replace(second=0)


def test_odp001_board_is_exactly_overdue_plus_due_soon(demo_runtime, now):
    q = demo_runtime.queries
    board = ov.board_frame(q, Viewer(), now)
    k = tk.kpis(q.tickets(Viewer()), now, now, now, q.settings.tickets)
    assert (board["state"] == "overdue").sum() == k["overdue"] > 0
    assert (board["state"] == "due_soon").sum() == k["due_soon"]
    assert board["ticket_id"].is_unique
    # overdue tickets are red and past their deadline; due-soon ones are not past it
    late = board[board["state"] == "overdue"]
    assert (late["light"] == "red").all() and (late["late_h"] > 0).all()
    assert (board.loc[board["state"] == "due_soon", "late_h"] <= 0).all()
    assert list(board["late_h"]) == sorted(board["late_h"], reverse=True)


def test_odp002_filters_by_department_and_area(demo_runtime, now):
    q = demo_runtime.queries
    board = ov.board_frame(q, Viewer(), now)
    dept = board["department"].value_counts().index[0]
    only = ov.board_frame(q, Viewer(), now, departments=[dept])
    assert len(only) == (board["department"] == dept).sum() and set(only["department"]) == {dept}
    street_name = board["street"].replace("", pd.NA).dropna().value_counts().index[0]
    tree = q.tree()
    code = next(c for c in tree.codes_at("street") if tree.node(c).name == street_name)
    in_street = ov.board_frame(q, Viewer(), now, areas=[code])
    assert len(in_street) == (board["street"] == street_name).sum()
    assert len(ov.board_frame(q, Viewer(), now, states=["due_soon"])) == (board["state"] == "due_soon").sum()


def test_odp003_screen_rows_are_masked_and_a_tick_sends_nothing_new(demo_runtime, now):
    rt = demo_runtime
    rows, summary, notice, key = cb.refresh(["overdue", "due_soon"], None, None, None, "zh", rt, Viewer(), now)
    assert rows and all("****" in r["caller_phone"] for r in rows if r["caller_phone"])
    assert all(len(r["caller_name"]) <= 1 or set(r["caller_name"][1:]) == {"*"} for r in rows if r["caller_name"])
    s = ov.summary(rows)
    assert f"已超期 {s['overdue']} 件" in summary
    again = cb.refresh(["overdue", "due_soon"], None, None, key, "zh", rt, Viewer(), now)
    assert all(x is cb.no_update for x in again)  # same data, same minute, same filters


def test_odp004_export_is_the_view_in_order_and_masked(demo_runtime, now):
    rt = demo_runtime
    board = ov.board_frame(rt.queries, Viewer(), now)
    shown = board["ticket_id"].head(5).tolist()[::-1]  # the user's sort order
    virtual = [{"ticket_id": i} for i in shown] + [{"ticket_id": "not-mine"}]
    sent = cb.export("csv", virtual, "zh", rt, Viewer(export=True), now)
    assert sent["filename"].endswith(".csv") and sent["base64"]
    import base64
    csv = base64.b64decode(sent["content"]).decode("utf-8-sig")
    df = pd.read_csv(io.StringIO(csv), dtype=str)
    assert list(df["工单号"]) == shown                       # the unknown id is left out
    assert "联系电话" in df.columns and "灯" in df.columns
    phones = df["联系电话"].dropna()
    raw = board.set_index("ticket_id").loc[shown, "caller_phone"]
    assert not set(phones) & set(raw.dropna())             # never a real number
    assert phones.str.contains(r"\*\*\*\*").all()
    urgency = [c for c in df.columns if c not in ("工单号",) and set(df[c].dropna()) & {"一般", "紧急", "复杂"}]
    assert urgency, "urgency exported with its Chinese label, as on screen"
    assert not df.isin(["normal", "urgent", "complex"]).any().any()
    xl = cb.export("xlsx", virtual, "en", rt, Viewer(export=True), now)
    wb = openpyxl.load_workbook(io.BytesIO(base64.b64decode(xl["content"])))
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header[0] == "Ticket" and "Phone" in header
    phone_col = header.index("Phone")
    assert [r[0] for r in ws.iter_rows(min_row=2, values_only=True)] == shown
    assert all(r[phone_col] is None or "****" in r[phone_col] for r in ws.iter_rows(min_row=2, values_only=True))


def test_odp005_export_masks_even_for_a_role_that_may_see_personal_data(demo_runtime, now):
    rt = demo_runtime
    board = ov.board_frame(rt.queries, Viewer(), now)
    with_phone = board[board["caller_phone"] != ""]["ticket_id"].head(3).tolist()
    boss = Viewer(role="admin", see_personal_data=True, export=True)
    screen = ov.board_rows(rt.queries, boss, now)
    assert any(r["caller_phone"] and "*" not in r["caller_phone"] for r in screen)  # the role sees them
    sent = cb.export("csv", [{"ticket_id": i} for i in with_phone], "en", rt, boss, now)
    import base64
    df = pd.read_csv(io.StringIO(base64.b64decode(sent["content"]).decode("utf-8-sig")), dtype=str)
    assert len(df) == len(with_phone) and df["Phone"].str.contains(r"\*\*\*\*").all()


def test_odp006_filter_options(demo_runtime):
    depts, areas = ov.filter_options(demo_runtime.queries, Viewer())
    tree = demo_runtime.queries.tree()
    assert depts == sorted(depts) and len(depts) > 3
    assert len(areas) == len(tree.codes_at("street")) + len(tree.codes_at("community"))

"""The tickets frame a web worker keeps (`dashboard.queries.Queries.all_tickets`), on real
Redis (embedded): loaded a chunk at a time and refreshed from the change log, it holds
exactly what a frame built from every record at once holds, its categorical columns stay
categorical, and every number computed on it is the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import dashboard.queries as dq
from dashboard.config.settings import load_settings
from dashboard.queries import Queries, concat_keeping_categories
from feeds.records import tickets_frame
from metrics import tickets as tk
from metrics.deadlines import CATEGORY_COLUMNS

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


def record(i: int, **kw) -> dict:
    t = T0 + timedelta(minutes=i)
    stamp = t.isoformat().replace("+00:00", "Z")
    r = {"ticket_id": f"Q-{i:05d}", "status": "registered", "created_at": stamp, "updated_at": stamp,
         "category": "市容环境", "department": "城管局", "grid_code": None, "source": "12345", "kind": "complaint"}
    r.update(kw)
    return r


def history() -> list[dict]:
    """Chunks of 50 that differ: no rating at all in the first, ratings and another
    department later, urgencies only in the last."""
    out = [record(i) for i in range(50)]
    closed = (T0 + timedelta(hours=30)).isoformat().replace("+00:00", "Z")
    out += [record(i, status="closed", closed_at=closed, updated_at=closed, dispatched_at=closed,
                   rating=("satisfied", "basic", "dissatisfied")[i % 3], resolved="yes",
                   department="水务局" if i % 2 else "城管局") for i in range(50, 100)]
    out += [record(i, urgency=("urgent", "normal")[i % 2], category="供水") for i in range(100, 150)]
    return out


def same_frames(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a = a.sort_values("ticket_id").reset_index(drop=True)
    b = b.sort_values("ticket_id").reset_index(drop=True)
    assert sorted(a.columns) == sorted(b.columns)        # (the order of the columns means nothing)
    for c in a.columns:
        assert a[c].astype(object).where(a[c].notna(), None).tolist() == \
            b[c].astype(object).where(b[c].notna(), None).tolist(), c


@pytest.fixture
def queries(embedded_store, monkeypatch):
    monkeypatch.setattr(dq, "LOAD_CHUNK", 50)
    return Queries(embedded_store, load_settings(None, env={}))


def test_qf001_chunked_load_and_refresh_equal_one_frame(queries, embedded_store):
    recs = history()
    embedded_store.tickets.upsert(recs)
    got = queries.all_tickets()
    want = queries._prepare(recs, queries.tree())
    same_frames(got, want)
    for c in CATEGORY_COLUMNS:
        assert isinstance(got[c].dtype, pd.CategoricalDtype), c
    now, start, end = T0 + timedelta(days=3), T0 - timedelta(days=1), T0 + timedelta(days=3)
    assert tk.kpis(got, now, start, end) == tk.kpis(want, now, start, end)

    # a refresh bringing values no chunk had (a new department, category, status) and
    # changing old tickets: still categorical, still the same as one frame of everything
    closed = (T0 + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    changed = [dict(r, status="closed", closed_at=closed, updated_at=closed, rating="satisfied",
                    department="住建局", category="房屋安全") for r in recs[:5]]
    changed.append(record(500, status="cancelled", department="交通局", kind="consultation"))
    embedded_store.tickets.upsert(changed)
    got = queries.all_tickets()
    latest = {r["ticket_id"]: r for r in recs + changed}
    want = queries._prepare(list(latest.values()), queries.tree())
    same_frames(got, want)
    for c in CATEGORY_COLUMNS:
        assert isinstance(got[c].dtype, pd.CategoricalDtype), c
    assert tk.kpis(got, now, start, end) == tk.kpis(want, now, start, end)
    assert len(got) == 151 and set(got["department"].dropna()) == {"城管局", "水务局", "住建局", "交通局"}


def test_qf002_concat_keeping_categories_with_an_empty_column():
    a = tk.prepare(tickets_frame([record(1), record(2)]))                       # no rating at all
    b = tk.prepare(tickets_frame([record(3, rating="basic", status="closed")]))
    out = concat_keeping_categories([a, b])
    assert isinstance(out["rating"].dtype, pd.CategoricalDtype)
    assert out["rating"].astype(object).where(out["rating"].notna(), None).tolist() == [None, None, "basic"]
    assert out["status"].tolist() == ["registered", "registered", "closed"]


def random_history(rnd, n: int) -> list[dict]:
    """n tickets over the last 200 days before T0: old and new, open and closed, late,
    cancelled, some closed long after they were made, some with deadlines far ahead."""
    out = []
    for i in range(n):
        created = T0 - timedelta(days=rnd.uniform(0, 200))
        r = record(i, created_at=created.isoformat().replace("+00:00", "Z"),
                   department=rnd.choice(["城管局", "水务局", None]), rating=None)
        r["updated_at"] = r["created_at"]
        if rnd.random() < 0.4:
            r["deadline_at"] = (created + timedelta(days=rnd.uniform(0.1, 90))).isoformat().replace("+00:00", "Z")
        fate = rnd.random()
        if fate < 0.9:
            closed = created + timedelta(days=rnd.expovariate(1 / 6))
            if closed < T0:
                stamp = closed.isoformat().replace("+00:00", "Z")
                r.update(status="closed", closed_at=stamp, updated_at=stamp, dispatched_at=r["created_at"],
                         rating=rnd.choice(["satisfied", "basic", "dissatisfied", None]), resolved="yes")
        elif fate < 0.93:
            r["status"] = "cancelled"
        out.append(r)
    return out


def straight(q: Queries, viewer, now, level: str = "street") -> tuple[dict, dict]:
    """The wall's numbers and open tickets per node straight from `metrics.tickets` on every
    ticket `q` holds (no cut, no backlog split): the reference."""
    df = q.tickets(viewer)
    start, end = tk.window("today", now, q.tz)
    numbers = dict(tk.kpis(df, now, start, end, q.settings.tickets), total=len(df))
    open_ = df[tk.open_mask(df, now).to_numpy()]
    nodes = q.tree().ancestor_at(open_["grid"], level).astype(object).to_numpy()
    per: dict[str, dict] = {}
    for node, overdue in zip(nodes, (open_["deadline_at"] < now).to_numpy(dtype=bool, na_value=False)):
        if isinstance(node, str):
            e = per.setdefault(node, {"open": 0, "overdue": 0})
            e["open"] += 1
            e["overdue"] += int(overdue)
    return numbers, dict(sorted(per.items()))


def same_numbers(a: dict, b: dict) -> bool:
    """Every metric equal; "total" only says whether there is any ticket at all."""
    return {k: v for k, v in a.items() if k != "total"} == {k: v for k, v in b.items() if k != "total"} \
        and bool(a["total"]) == bool(b["total"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_qf003_the_wall_on_its_recent_cut_equals_the_wall_on_every_ticket(seed, embedded_store):
    """wall_numbers, trend and open_by_area read `recent_tickets` (a few per cent of a year):
    every number equals the same function on the whole frame, at random instants."""
    import random

    from dashboard.queries.access import Viewer
    from tests.test_aggregates import GRIDS, ROWS

    rnd = random.Random(seed)
    embedded_store.put_areas({"rows": ROWS})
    embedded_store.tickets.upsert([dict(r, grid_code=rnd.choice(GRIDS)) for r in random_history(rnd, 1500)])
    q = Queries(embedded_store, load_settings(None, env={}))
    whole = Queries(embedded_store, load_settings(None, env={}))
    whole.recent_tickets = lambda viewer, now: whole.tickets(viewer)          # the reference: every ticket
    whole.today_tickets = whole.recent_tickets
    v = Viewer()
    assert len(q.recent_tickets(v, T0)) < len(q.tickets(v)) / 2
    for _ in range(6):
        now = T0 + timedelta(hours=rnd.uniform(0, 30))
        assert same_numbers(q.wall_numbers(v, now), whole.wall_numbers(v, now)), now
        assert q.trend(v, now) == whole.trend(v, now), now
        assert q.open_by_area(v, now, "street") == whole.open_by_area(v, now, "street"), now
        assert q.open_by_area(v, now, "street")
        numbers, per_street = straight(whole, v, now)
        assert same_numbers(q.wall_numbers(v, now), numbers) and q.open_by_area(v, now, "street") == per_street
    # a scoped viewer: the same cut, then the viewer's scope
    street = Viewer(areas=("S1",))
    assert same_numbers(q.wall_numbers(street, now), whole.wall_numbers(street, now))

@pytest.mark.parametrize("seed", [4, 5])
def test_qf004_the_walls_cut_is_kept_apart_and_refreshed_by_changes(seed, embedded_store, monkeypatch):
    """A process serving only the wall never loads every ticket: its cut is streamed from
    the store once per local day and refreshed from the change log. Through changes that
    move tickets into the cut (an old ticket reopened), keep them (closures today, a grid
    moved, a withdrawal) and add new ones, across a local midnight and a redrawn area
    tree, every number equals the same function on every ticket."""
    import random

    from dashboard.queries.access import Viewer
    from tests.test_aggregates import GRIDS, ROWS

    monkeypatch.setattr(dq, "LOAD_CHUNK", 97)            # many chunks, most with no row in the cut
    rnd = random.Random(seed)
    embedded_store.put_areas({"rows": ROWS})
    recs = [dict(r, grid_code=rnd.choice(GRIDS)) for r in random_history(rnd, 1200)]
    embedded_store.tickets.upsert(recs)
    q = Queries(embedded_store, load_settings(None, env={}))
    whole = Queries(embedded_store, load_settings(None, env={}))
    whole.recent_tickets = lambda viewer, now: whole.tickets(viewer)          # the reference: every ticket
    whole.today_tickets = whole.recent_tickets
    v, street = Viewer(), Viewer(areas=("S1",))

    def same(now):
        for viewer in (v, street):
            assert same_numbers(q.wall_numbers(viewer, now), whole.wall_numbers(viewer, now)), now
            assert q.trend(viewer, now) == whole.trend(viewer, now), now
            assert q.open_by_area(viewer, now, "street") == whole.open_by_area(viewer, now, "street"), now
            numbers, per_street = straight(whole, viewer, now)
            assert same_numbers(q.wall_numbers(viewer, now), numbers), now
            assert q.open_by_area(viewer, now, "street") == per_street, now

    now = T0 + timedelta(hours=1)
    same(now)
    assert q._frame is None, "the wall loaded every ticket"
    assert 0 < len(q._recent["rows"]) < len(recs) / 2

    latest = {r["ticket_id"]: r for r in recs}
    old_closed = [r for r in recs if r.get("closed_at") and r["closed_at"] < iso_(T0 - timedelta(days=60))]
    assert old_closed
    for step in range(4):
        now += timedelta(hours=rnd.uniform(2, 9))            # crosses a local midnight (Asia/Shanghai)
        stamp = iso_(now)
        changes = []
        for r in rnd.sample(old_closed, 3):                   # reopened: back into the cut
            changes.append(dict(latest[r["ticket_id"]], status="processing", closed_at=None, updated_at=stamp))
        open_ = [r for r in latest.values() if r.get("status") not in ("closed", "cancelled")]
        for r in rnd.sample(open_, 5):                        # closed now
            changes.append(dict(r, status="closed", closed_at=stamp, updated_at=stamp,
                                dispatched_at=r["created_at"], rating="satisfied", resolved="yes"))
        for r in rnd.sample(list(latest.values()), 3):        # moved to another grid
            changes.append(dict(r, grid_code=rnd.choice(GRIDS), updated_at=stamp))
        r = rnd.choice(list(latest.values()))                 # withdrawn upstream
        changes.append(dict(r, withdrawn_at=stamp, updated_at=stamp))
        changes += [record(5000 + step * 10 + i, created_at=stamp, updated_at=stamp, grid_code=rnd.choice(GRIDS))
                    for i in range(4)]
        changes = list({c["ticket_id"]: c for c in changes}.values())
        embedded_store.tickets.upsert(changes)
        latest.update({c["ticket_id"]: c for c in changes})
        same(now)
        if step == 1:                                         # a redrawn tree: S0's first community moves to S1
            rows = [dict(r, parent_code="S1") if r["code"] == "S0K0" else r for r in ROWS]
            embedded_store.put_areas({"rows": rows})
            same(now)
    assert q._frame is None, "the wall loaded every ticket"
    # the cut holds what a fresh cut of every ticket holds
    fresh = Queries(embedded_store, load_settings(None, env={}))
    # (no withdrawn ticket is in a cut: it counts nowhere; the column exists where a part had one)
    def tickets(df):  # not the markers (their own test: qf005)
        df = df[df["ticket_id"] != ""]
        assert "withdrawn" not in df or not df["withdrawn"].to_numpy(dtype=bool, na_value=False).any()
        return df.drop(columns=["withdrawn"], errors="ignore")
    same_frames(tickets(q.recent_tickets(v, now)), tickets(fresh.recent_tickets(v, now)))


def iso_(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("seed", [6, 7])
def test_qf005_the_pages_read_the_recent_cut_with_the_same_numbers_and_rows(seed, embedded_store, monkeypatch):
    """The drill, the department table, `/api/v1/kpi`, the members, the categories, the
    trend and the overdue board read `Queries.window_tickets`: for every window the pages
    offer, the recent cut (with its markers for the groups only settled tickets have) gives
    the very tables and ticket lists of every ticket, through changes and a local midnight,
    and the process never loads every ticket. A window starting before the cut reads every
    ticket (and loads them)."""
    import random

    from dashboard.queries import overdue_views as ov
    from dashboard.queries import ticket_views as tv
    from dashboard.queries.access import Viewer
    from tests.test_aggregates import GRIDS, ROWS

    monkeypatch.setattr(dq, "LOAD_CHUNK", 131)
    rnd = random.Random(seed)
    embedded_store.put_areas({"rows": ROWS})
    recs = [dict(r, grid_code=rnd.choice(GRIDS)) for r in random_history(rnd, 1200)]
    # groups that only settled tickets have: a department of long ago (in two grids only),
    # an unknown grid code (the drill's "unplaced" row)
    for i, r in enumerate(recs[:40]):
        if r.get("closed_at") and r["closed_at"] < iso_(T0 - timedelta(days=60)):
            r.update(department="老部门" if i % 2 else r["department"], grid_code="S0K0G0" if i % 3 else "NOWHERE")
    recs = [r if r["grid_code"] != "NOWHERE" or (r.get("closed_at") and r["closed_at"] < iso_(T0 - timedelta(days=60)))
            else dict(r, grid_code="S1K1G2") for r in recs]
    # departments whose only tickets are old and cancelled, or withdrawn upstream: listed too,
    # before and after a local midnight narrows the cut
    old_day = iso_(T0 - timedelta(days=90))
    recs += [record(9000 + i, created_at=old_day, updated_at=old_day, status="cancelled", department="撤销部门",
                    grid_code="S1K0G1") for i in range(2)]
    recs += [record(9100, created_at=old_day, updated_at=iso_(T0 - timedelta(days=1)), status="closed",
                    closed_at=old_day, withdrawn_at=iso_(T0 - timedelta(days=1)), department="撤回部门",
                    grid_code="S0K1G0")]
    embedded_store.tickets.upsert(recs)
    q = Queries(embedded_store, load_settings(None, env={}))
    whole = Queries(embedded_store, load_settings(None, env={}))
    whole.window_tickets = lambda viewer, now, start, area=None: whole.tickets(viewer, area)   # the reference
    viewers = (Viewer(), Viewer(areas=("S0",)), Viewer(departments=("水务局", "老部门")))

    def ids(df):
        return sorted(df["ticket_id"].tolist())

    def same(now):
        for viewer in viewers:
            for win in tk.WINDOW_PRESETS:
                start, end = tk.window(win, now, q.tz)
                for node in ("C", "S0", "S1K0", "S0K0G0"):
                    assert tv.drill_table(q, viewer, node, now, start, end) == \
                        tv.drill_table(whole, viewer, node, now, start, end), (now, win, node)
                for node in ("C", "S0"):
                    assert tv.department_ranking(q, viewer, node, now, start, end) == \
                        tv.department_ranking(whole, viewer, node, now, start, end), (now, win, node)
                    assert tv.top_categories(q, viewer, node, now, start, end) == \
                        tv.top_categories(whole, viewer, node, now, start, end)
                    assert tv.trend(q, viewer, node, start, end) == tv.trend(whole, viewer, node, start, end)
                for by in ("department", "area:grid", "none"):
                    assert tv.kpi_report(q, viewer, by, None, now, start, end) == \
                        tv.kpi_report(whole, viewer, by, None, now, start, end), (now, win, by)
                for metric, part in (("on_time_rate", "denominator"), ("satisfaction_rate", "numerator"),
                                     ("overdue", "numerator"), ("response_rate", "denominator")):
                    mq = tv.MemberQuery("S0", "TOTAL" if metric != "overdue" else "S0K1", metric, part)
                    a, b = tv.member_frame(q, viewer, mq, now, start, end), tv.member_frame(whole, viewer, mq, now, start, end)
                    assert ids(a[0]) == ids(b[0]) and a[1:] == b[1:], (now, win, metric)
                for pop in ("received", "open"):
                    assert tv.ticket_page(q, viewer, None, pop, now, start, end, 1, 50) == \
                        tv.ticket_page(whole, viewer, None, pop, now, start, end, 1, 50)
            minute = now.replace(second=0, microsecond=0)
            assert ov.board_rows(q, viewer, minute) == ov.board_rows(whole, viewer, minute)
            assert ov.filter_options(q, viewer, minute) == ov.filter_options(whole, viewer, minute)

    now = T0 + timedelta(hours=1)
    same(now)
    assert q._frame is None, "a page loaded every ticket"
    listed = {r["department"] for r in tv.department_ranking(q, viewers[0], "C", now, *tk.window("today", now, q.tz))}
    assert {"老部门", "撤销部门", "撤回部门"} <= listed
    latest = {r["ticket_id"]: r for r in recs}
    for step in range(3):
        now += timedelta(hours=rnd.uniform(4, 9))             # crosses a local midnight (Asia/Shanghai)
        stamp = iso_(now)
        old = [r for r in latest.values() if r.get("closed_at") and r["closed_at"] < iso_(T0 - timedelta(days=60))]
        changes = [dict(r, status="processing", closed_at=None, updated_at=stamp) for r in rnd.sample(old, 2)]
        # a settled ticket moved to a department no other ticket has: listed from now on
        changes.append(dict(rnd.choice(old), department=f"新部门{step}", updated_at=stamp))
        open_ = [r for r in latest.values() if r.get("status") not in ("closed", "cancelled")]
        changes += [dict(r, status="closed", closed_at=stamp, updated_at=stamp, dispatched_at=r["created_at"],
                         rating="basic", resolved="no") for r in rnd.sample(open_, 4)]
        changes += [record(6000 + step * 10 + i, created_at=stamp, updated_at=stamp, grid_code=rnd.choice(GRIDS),
                           department=rnd.choice(["城管局", "水务局"])) for i in range(3)]
        changes = list({c["ticket_id"]: c for c in changes}.values())
        embedded_store.tickets.upsert(changes)
        latest.update({c["ticket_id"]: c for c in changes})
        same(now)
    assert q._frame is None, "a page loaded every ticket"

    # a custom window starting before the cut: every ticket, the same numbers
    start, end = now - timedelta(days=90), now
    a, b = tv.drill_table(q, viewers[0], "C", now, start, end), tv.drill_table(whole, viewers[0], "C", now, start, end)
    assert q._frame is not None
    # (the two frames hold their rows in another order: a mean may differ in its last bits)
    for row_a, row_b in zip([a["total"]] + a["rows"], [b["total"]] + b["rows"], strict=True):
        assert row_a.pop("mean_handling_hours") == pytest.approx(row_b.pop("mean_handling_hours"), rel=1e-12)
    assert a == b


def test_qf006_every_ticket_is_let_go_when_nothing_asks_for_it(embedded_store, monkeypatch):
    """A window older than the recent cut loads every ticket in the process; the warm-up
    keeps them fresh while they are asked for, and lets them go after FRAME_IDLE_S without
    a request: the process is back to the cut alone, and the same old window loads them
    again with the same numbers."""
    import random
    import time

    from dashboard.queries import ticket_views as tv
    from dashboard.queries.access import Viewer
    from tests.test_aggregates import GRIDS, ROWS

    monkeypatch.setattr(dq, "FRAME_IDLE_S", 1.5)
    rnd = random.Random(9)
    embedded_store.put_areas({"rows": ROWS})
    embedded_store.tickets.upsert([dict(r, grid_code=rnd.choice(GRIDS)) for r in random_history(rnd, 600)])
    q = Queries(embedded_store, load_settings(None, env={}))
    v, now = Viewer(), T0 + timedelta(hours=2)
    old = tv.drill_table(q, v, "C", now, now - timedelta(days=120), now)
    assert q._frame is not None
    q.warm(now)
    assert q._frame is not None                       # asked for just now: kept, refreshed
    time.sleep(1.6)
    q.warm(now)
    assert q._frame is None                           # let go
    assert q._recent is not None
    tv.drill_table(q, v, "C", now, *tk.window("this_month", now, q.tz))
    assert q._frame is None                           # the pages' windows do not bring it back
    assert tv.drill_table(q, v, "C", now, now - timedelta(days=120), now) == old


def test_qf007_a_request_from_just_before_midnight_does_not_make_the_cut_again(embedded_store, monkeypatch):
    """Requests are floored to the refresh step, so for a few seconds after a local midnight
    some carry the day before while the warm-up has moved the cut on. The later cut answers
    them (every ticket their windows need is in it): the store is not read again, and the
    numbers are those on every ticket."""
    import random

    from dashboard.queries import ticket_views as tv
    from dashboard.queries.access import Viewer
    from tests.test_aggregates import GRIDS, ROWS

    rnd = random.Random(11)
    embedded_store.put_areas({"rows": ROWS})
    embedded_store.tickets.upsert([dict(r, grid_code=rnd.choice(GRIDS)) for r in random_history(rnd, 800)])
    q = Queries(embedded_store, load_settings(None, env={}))
    whole = Queries(embedded_store, load_settings(None, env={}))
    whole.recent_tickets = lambda viewer, now: whole.tickets(viewer)
    whole.today_tickets = whole.recent_tickets
    whole.window_tickets = lambda viewer, now, start, area=None: whole.tickets(viewer, area)
    midnight = pd.Timestamp("2026-11-21T00:00:00+08:00").to_pydatetime()
    v = Viewer()
    q.warm(midnight + timedelta(seconds=2))              # the warm-up: today's cut
    whole.all_tickets()                                   # (the reference reads every ticket first)
    reads = []
    real = embedded_store.tickets.iter_stamped
    monkeypatch.setattr(embedded_store.tickets, "iter_stamped", lambda **kw: reads.append(1) or real(**kw))
    before = midnight - timedelta(seconds=3)              # a request floored to before midnight
    assert same_numbers(q.wall_numbers(v, before), whole.wall_numbers(v, before))
    assert q.trend(v, before) == whole.trend(v, before)
    for win in tk.WINDOW_PRESETS:
        start, end = tk.window(win, before, q.tz)
        assert tv.drill_table(q, v, "C", before, start, end) == tv.drill_table(whole, v, "C", before, start, end)
    assert reads == [] and q._frame is None
    assert q._recent["day"] == midnight.date()

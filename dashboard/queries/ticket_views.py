"""What the /tickets page shows, computed through the query layer (one door to the store).

Each function takes the `Queries` and the `Viewer` (their scope is applied by
`q.tickets`) and returns plain data; heavy ones are memoized by `q.memo`, keyed by their
arguments and the data versions. Numbers come from `metrics.tickets` only: the drill
table is `kpi_table` grouped by the children of a node, so its rows and `cityops kpi
--by area:LEVEL` agree, and `member_frame` lists exactly the tickets behind any of them.

The page's state lives in the URL (`?node=…&win=…&from=…&to=…&metric=…`):
`parse_state` / `format_search` turn one into the other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlencode

import pandas as pd

from dashboard.queries.access import Viewer
from metrics import tickets as tk

UNPLACED = "__unplaced__"      # row key of the tickets no grid holds (city level only)
TOTAL = "__total__"            # row key of the node itself
PRESETS = tk.WINDOW_PRESETS + ("custom",)
DEFAULT_WINDOW = "this_month"
DEFAULT_METRIC = "on_time_rate"
MEMBER_LIMIT = 2000            # rows sent to the members panel (counts are always exact)


@dataclass(frozen=True)
class DrillState:
    node: str | None = None            # None: the root (the whole city)
    win: str = DEFAULT_WINDOW
    start: date | None = None          # custom window: local dates, both included
    end: date | None = None
    metric: str = DEFAULT_METRIC


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def parse_state(search: str | None, tree=None) -> DrillState:
    """The page state from a URL query string; anything unknown falls back to the default."""
    qs = parse_qs((search or "").lstrip("?"))
    one = lambda k: (qs.get(k) or [None])[0]  # noqa: E731
    node = one("node")
    if tree is not None and (node not in tree or node == tree.root.code):
        node = None
    win = one("win") if one("win") in PRESETS else DEFAULT_WINDOW
    metric = one("metric") if one("metric") in tk.METRIC_IDS else DEFAULT_METRIC
    start, end = _day(one("from")), _day(one("to"))
    if win == "custom":
        if start is None and end is None:
            win = DEFAULT_WINDOW
        else:
            start, end = start or end, end or start
            start, end = min(start, end), max(start, end)
    else:
        start = end = None
    return DrillState(node, win, start, end, metric)


def format_search(state: DrillState) -> str:
    """The query string of a state ("?node=…&win=…&metric=…"), stable for sharing."""
    params = {}
    if state.node:
        params["node"] = state.node
    params["win"] = state.win
    if state.win == "custom" and state.start and state.end:
        params["from"], params["to"] = state.start.isoformat(), state.end.isoformat()
    params["metric"] = state.metric
    return "?" + urlencode(params)


def with_node(state: DrillState, node: str | None) -> DrillState:
    return replace(state, node=node)


def resolve_window(state: DrillState, now: datetime, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the state's window, cut in local time, end never after `now`."""
    now = pd.Timestamp(now)
    if state.win != "custom":
        return tk.window(state.win, now, tz)
    start = pd.Timestamp(state.start).tz_localize(tz)
    end = pd.Timestamp(state.end + timedelta(days=1)).tz_localize(tz)
    end = min(end, now)
    return min(start, end), end


def node_code(q, node: str | None) -> str | None:
    tree = q.tree()
    return node if node else (tree.root.code if tree is not None else None)


def child_level(tree, node: str) -> str | None:
    kids = tree.children(node)
    return kids[0].level if kids else None


def _frame(q, viewer: Viewer, node: str | None) -> pd.DataFrame:
    return q.tickets(viewer, area=node)


def _records(table: pd.DataFrame) -> list[dict]:
    return tk.table_records(table)


def drill_table(q, viewer: Viewer, node: str | None, now, start, end) -> dict:
    """Every metric for each child of `node` (rows), and for `node` itself (total).

    rows: one per child (also those without tickets), plus an UNPLACED row at the root
    when some tickets have no grid; a leaf lists itself. Each row has key, name, code,
    level and every id of METRIC_IDS with `<rate>_num` / `<rate>_den`.
    """
    tree = q.tree()
    node = node_code(q, node)
    rules = q.settings.tickets

    def compute() -> dict:
        df = _frame(q, viewer, node)
        total = tk.kpis(df, now, start, end, rules)
        total.update(key=TOTAL, code=node, name=tree.node(node).name if tree else "", level=None)
        if tree is None:
            return {"rows": [], "total": total, "level": None}
        level = child_level(tree, node)
        if level is None:  # a grid: itself
            row = dict(total, key=node, code=node, name=tree.node(node).name, level=tree.level_of(node))
            return {"rows": [row], "total": total, "level": tree.level_of(node)}
        kids = [c.code for c in tree.children(node)]
        keys = tk.roll_up(df["grid"], lambda g: tree.ancestor_at(g, level))
        table = tk.kpi_table(df, now, start, end, rules, keys, kids)
        rows = []
        for rec in _records(table):
            code = rec["key"]
            if code is None:
                rec.update(key=UNPLACED, code=None, name=None, level=None)
            else:
                rec.update(code=code, name=tree.node(code).name, level=level)
            rows.append(rec)
        return {"rows": rows, "total": total, "level": level}

    return q.memo("tk.drill", viewer, (node, str(start), str(end), str(now)), compute)


def trend(q, viewer: Viewer, node: str | None, start, end) -> list[dict]:
    """Received and closed per local day of the window, for the node."""
    node = node_code(q, node)

    def compute():
        t = tk.daily_counts(_frame(q, viewer, node), q.tz, start, end)
        return [{"date": str(r.date), "received": int(r.received), "closed": int(r.closed)}
                for r in t.itertuples()]
    return q.memo("tk.trend", viewer, (node, str(start), str(end)), compute)


def top_categories(q, viewer: Viewer, node: str | None, now, start, end, n: int = 10) -> list[dict]:
    """The n categories with the most tickets received in the window (ties by name)."""
    node = node_code(q, node)

    def compute():
        df = _frame(q, viewer, node)
        received = tk.members(df, "received", "numerator", now, start, end, q.settings.tickets)
        counts = df.loc[received.to_numpy(), "category"].fillna("—").value_counts()
        counts = counts.sort_index().sort_values(ascending=False, kind="stable").head(n)
        return [{"category": str(k), "received": int(v)} for k, v in counts.items()]
    return q.memo("tk.categories", viewer, (node, str(start), str(end), str(now), n), compute)


def department_ranking(q, viewer: Viewer, node: str | None, now, start, end) -> list[dict]:
    """kpi rows per department in the node as ranked by METRICS.md ("ranking"): units with at
    least `tickets.min_rank_volume` tickets by score (ties share a rank), then the others
    (`rank` None, `ranked` False), their numbers still shown."""
    node = node_code(q, node)
    rules = q.settings.tickets

    def compute():
        df = _frame(q, viewer, node)
        table = tk.kpi_table(df, now, start, end, rules, df["department"].astype(object))
        rows = _records(tk.rank_units(table, rules.min_rank_volume))
        for r in rows:
            r["rank"] = None if r["rank"] is None or r["rank"] is pd.NA else int(r["rank"])
            r["ranked"] = bool(r["ranked"])
            r["department"] = r.pop("key") or "—"
        return rows
    return q.memo("tk.departments", viewer, (node, str(start), str(end), str(now), rules.min_rank_volume),
                  compute)


@dataclass(frozen=True)
class MemberQuery:
    """Which number was opened: a metric of a row of a table, and its part."""
    node: str | None          # the page's node
    row: str | None           # a child code, UNPLACED, TOTAL (the node itself) or None
    metric: str
    part: str = "numerator"
    department: str | None = None
    category: str | None = None
    day: str | None = None    # a local date (the trend): the window becomes that day


def member_frame(q, viewer: Viewer, mq: MemberQuery, now, start, end) -> tuple[pd.DataFrame, int, int]:
    """(tickets behind the number, masked for the viewer; numerator count; denominator count).

    Counts are exact; for a rate the frame holds the tickets of `mq.part`.
    """
    tree = q.tree()
    node = node_code(q, mq.node)
    df = _frame(q, viewer, node)
    if mq.row == UNPLACED:
        df = df[df["grid"].isna()]
    elif mq.row and mq.row != TOTAL and tree is not None and mq.row in tree and mq.row != node:
        df = df[tree.in_subtree(df["grid"], mq.row).to_numpy()]
    if mq.department is not None:
        df = df[(df["department"].astype(object).fillna("—") == mq.department).to_numpy()]
    if mq.category is not None:
        df = df[(df["category"].fillna("—") == mq.category).to_numpy()]
    if mq.day:
        day = pd.Timestamp(mq.day).tz_localize(q.tz)
        start, end = max(day, pd.Timestamp(start)), min(day + pd.Timedelta(days=1), pd.Timestamp(end))
        start = min(start, end)
    rules = q.settings.tickets
    num = tk.members(df, mq.metric, "numerator", now, start, end, rules).to_numpy()
    den = tk.members(df, mq.metric, "denominator", now, start, end, rules).to_numpy()
    chosen = df[num if mq.part == "numerator" else den]
    return q.for_display(chosen, viewer, "ticket_members"), int(num.sum()), int(den.sum())


def area_names(tree, grids: pd.Series, levels=("street", "community", "grid")) -> dict[str, pd.Series]:
    """Name of each ticket's street, community and grid ('' when unplaced)."""
    out = {}
    for level in levels:
        if tree is None or level not in tree.levels:
            out[level] = pd.Series("", index=grids.index)
            continue
        codes = tk.roll_up(grids, lambda g: tree.ancestor_at(g, level))
        names = {c: tree.node(c).name for c in codes.cat.categories}
        out[level] = codes.map(names).astype(object).fillna("")
    return out


ROW_FIELDS = ("ticket_id", "created_at", "category", "urgency", "status", "department", "street",
              "community", "grid", "deadline_at", "closed_at", "rating", "caller_name", "caller_phone")
_TIME_FIELDS = ("created_at", "deadline_at", "closed_at")


def local_text(times: pd.Series, tz: str) -> pd.Series:
    """Times as local 'YYYY-MM-DD HH:MM' text ('' when empty)."""
    return times.dt.tz_convert(tz).dt.strftime("%Y-%m-%d %H:%M").astype(object).fillna("")


def ticket_rows(df: pd.DataFrame, tree, tz: str, limit: int | None = None) -> list[dict]:
    """Tickets (already masked for the viewer) as grid rows, newest first, at most `limit`."""
    df = df.sort_values("created_at", ascending=False, kind="stable")
    if limit is not None:
        df = df.head(limit)
    names = area_names(tree, df["grid"])
    out = pd.DataFrame(index=df.index)
    for f in ROW_FIELDS:
        if f in _TIME_FIELDS:
            out[f] = local_text(df[f], tz)
        elif f in names:
            out[f] = names[f]
        else:
            out[f] = df[f].astype(object).where(df[f].notna(), "")
    return out.to_dict("records")

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

KPI_FIELDS: list[str] = ["key", "name", *tk.COUNT_IDS, *tk.RATE_IDS, *tk.HANDLING_IDS, "score"]
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


def home_node(q, viewer: Viewer) -> str | None:
    """Where a viewer lands: the deepest area holding every area they may see (a district
    leader: their district); None (the city) for a viewer without an area scope."""
    tree = q.tree()
    codes = [c for c in viewer.areas if tree is not None and c in tree]
    if not codes:
        return None
    paths = [[n.code for n in tree.path(c)] for c in codes]
    common = [c for c, *rest in zip(*paths) if all(r == c for r in rest)]
    home = common[-1] if common else tree.root.code
    return None if home == tree.root.code else home


def viewer_node(q, viewer: Viewer, node: str | None) -> str | None:
    """The URL's node if the viewer may drill there, else their home area (a node above the
    home — the city crumb — also leads home: the areas beside it are not theirs)."""
    tree = q.tree()
    home = home_node(q, viewer)
    if node is None or (viewer.areas and tree is not None and node in tree
                        and not _overlaps_scope(q, viewer, node)):
        return home
    if home and tree is not None and node in {n.code for n in tree.ancestors(home)}:
        return home
    return node


def child_level(tree, node: str) -> str | None:
    kids = tree.children(node)
    return kids[0].level if kids else None


def _frame(q, viewer: Viewer, node: str | None, now, start) -> pd.DataFrame:
    """The tickets a view of the window from `start` at `now` reads (`Queries.window_tickets`)."""
    return q.window_tickets(viewer, now, start, area=node)


def _records(table: pd.DataFrame) -> list[dict]:
    return tk.table_records(table)


class GroupingError(ValueError):
    """A `by` that cannot be used (the message says why; callers name the parameter)."""


def kpi_groups(tree, grids: pd.Series | None, departments: pd.Series | None, by: str,
               node: str | None = None, visible=None, children: bool = True):
    """How `kpi_table` groups tickets for `by`: (keys per ticket or None, keys to list,
    {key: name}, name of the row of tickets without a key).

    by: "none" (one row "all"), "department", "children" (the children of `node`, or the
    node itself when it is a leaf: the drill table) or "area:LEVEL" (every node of that
    level, within `node`'s subtree when given). `grids` is each ticket's effective grid;
    `visible(code)`, when given, drops the listed areas it refuses (a viewer's scope).
    Shared by `cityops kpi`, the drill table and `/api/v1/kpi`.
    """
    if by == "none":
        return None, None, {"all": "all"}, None
    if by == "department":
        return departments, None, {}, "no department"
    if by == "children" and children:
        if tree is None:
            raise GroupingError("children needs an area tree")
        node = node or tree.root.code
        level = child_level(tree, node) or tree.level_of(node)
        codes = [c.code for c in tree.children(node)] or [node]
    elif by.startswith("area:"):
        level = by.split(":", 1)[1]
        if tree is None:
            raise GroupingError("area:LEVEL needs an area tree")
        try:
            codes = tree.codes_at(level)
        except ValueError:
            raise GroupingError(f"unknown level {level!r}") from None
        if not codes:
            raise GroupingError(f"the area tree has no node on level {level!r}")
        if node and node != tree.root.code:
            codes = [c for c in codes if node in {n.code for n in tree.path(c)}]
    else:
        kinds = "none, department, children or area:LEVEL" if children else "none, department or area:LEVEL"
        raise GroupingError(f"expected {kinds}, got {by!r}")
    if visible is not None:
        codes = [c for c in codes if visible(c)]
    keys = tk.roll_up(grids, lambda g: tree.ancestor_at(g, level))
    return keys, codes, {c: tree.node(c).name for c in codes}, "unplaced"


def kpi_records(df: pd.DataFrame, grids: pd.Series | None, tree, by: str, now, start, end, rules,
                node: str | None = None, visible=None, children: bool = True) -> list[dict]:
    """The rows of `cityops kpi --json` (KPI_FIELDS) for the tickets of `df`, grouped by `by`."""
    keys, listed, names, missing = kpi_groups(tree, grids, df["department"], by, node, visible, children)
    table = tk.kpi_table(df, now, start, end, rules, keys, listed)
    table["name"] = [names.get(k, k) if k is not None else missing for k in table["key"]]
    return tk.table_records(table, KPI_FIELDS)


def _overlaps_scope(q, viewer: Viewer, code: str) -> bool:
    """The area lies in the viewer's scope, or holds part of it (an ancestor of a scope area)."""
    tree = q.tree()
    if q.area_visible(viewer, code):
        return True
    return any(a in tree and code in {n.code for n in tree.path(a)} for a in viewer.areas)


def kpi_report(q, viewer: Viewer, by: str, node: str | None, now, start, end) -> list[dict]:
    """`/api/v1/kpi`: `kpi_records` over the tickets the console holds, in the viewer's scope
    (areas outside it are not listed), within area `node`."""
    def compute() -> list[dict]:
        df = _frame(q, viewer, node, now, start)
        return kpi_records(df, df["grid"], q.tree(), by, now, start, end, q.settings.tickets, node,
                           visible=(lambda c: _overlaps_scope(q, viewer, c)) if viewer.areas else None)
    return q.memo("tk.kpi", viewer, (by, node, str(now), str(start), str(end)), compute)


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
        df = _frame(q, viewer, node, now, start)
        level = child_level(tree, node) if tree is not None else None
        if level is None:
            total = tk.kpis(df, now, start, end, rules)
        else:
            # areas outside the viewer's scope are not listed (not as zeros): only those they may see
            keys, kids, _, _ = kpi_groups(tree, df["grid"], None, "children", node,
                                          visible=(lambda c: _overlaps_scope(q, viewer, c)) if viewer.areas else None)
            table, total = tk.kpi_table_and_total(df, now, start, end, rules, keys, kids)
        total.update(key=TOTAL, code=node, name=tree.node(node).name if tree else "", level=None)
        if tree is None:
            return {"rows": [], "total": total, "level": None}
        if level is None:  # a grid: itself
            row = dict(total, key=node, code=node, name=tree.node(node).name, level=tree.level_of(node))
            return {"rows": [row], "total": total, "level": tree.level_of(node)}
        rows = []
        for rec in _records(table):
            code = rec["key"]
            if code is not None and code not in kids:
                continue
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
        t = tk.daily_counts(_frame(q, viewer, node, end, start), q.tz, start, end)
        return [{"date": str(r.date), "received": int(r.received), "closed": int(r.closed)}
                for r in t.itertuples()]
    return q.memo("tk.trend", viewer, (node, str(start), str(end)), compute)


def top_categories(q, viewer: Viewer, node: str | None, now, start, end, n: int = 10) -> list[dict]:
    """The n categories with the most tickets received in the window (ties by name)."""
    node = node_code(q, node)

    def compute():
        df = _frame(q, viewer, node, now, start)
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
        df = _frame(q, viewer, node, now, start)
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


def member_search(state: DrillState, mq: MemberQuery) -> str:
    """The page URL that opens this list (a link to share): the drill state of the number's
    table plus `list=METRIC&part=&row=&dept=&cat=&day=`."""
    base = format_search(with_node(state, mq.node))
    extra = {"list": mq.metric, "part": mq.part}
    for key, value in (("row", mq.row), ("dept", mq.department), ("cat", mq.category), ("day", mq.day)):
        if value is not None:
            extra[key] = value
    return base + "&" + urlencode(extra)


def member_from_search(search: str | None, tree=None) -> MemberQuery | None:
    """The list a URL opens (None: no list, or a malformed one — ignored, never an error)."""
    qs = parse_qs((search or "").lstrip("?"))
    one = lambda k: (qs.get(k) or [None])[0]  # noqa: E731
    metric, part, row = one("list"), one("part") or "numerator", one("row")
    if metric not in tk.METRIC_IDS or part not in ("numerator", "denominator"):
        return None
    if row not in (None, TOTAL, UNPLACED) and (tree is None or row not in tree):
        return None
    day = one("day")
    if day is not None and _day(day) is None:
        return None
    return MemberQuery(parse_state(search, tree).node, row, metric, part, one("dept"), one("cat"), day)


def member_frame(q, viewer: Viewer, mq: MemberQuery, now, start, end) -> tuple[pd.DataFrame, int, int]:
    """(tickets behind the number, masked for the viewer; numerator count; denominator count).

    Counts are exact; for a rate the frame holds the tickets of `mq.part`.
    """
    tree = q.tree()
    node = node_code(q, mq.node)
    if mq.day:
        day = pd.Timestamp(mq.day).tz_localize(q.tz)
        start, end = max(day, pd.Timestamp(start)), min(day + pd.Timedelta(days=1), pd.Timestamp(end))
        start = min(start, end)
    df = _frame(q, viewer, node, now, start)
    if mq.row == UNPLACED:
        df = df[df["grid"].isna()]
    elif mq.row and mq.row != TOTAL and tree is not None and mq.row in tree and mq.row != node:
        df = df[tree.in_subtree(df["grid"], mq.row).to_numpy()]
    if mq.department is not None:
        df = df[(df["department"].astype(object).fillna("—") == mq.department).to_numpy()]
    if mq.category is not None:
        df = df[(df["category"].fillna("—") == mq.category).to_numpy()]
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


def unplaced_tickets(q, viewer: Viewer, reason: str) -> pd.DataFrame:
    """The viewer's tickets not placed for `reason` (unknown_code, no_position, outside_city:
    `metrics.placement`), unmasked — mask with `q.for_display` before showing."""
    from metrics.placement import placement_of
    df = q.tickets(viewer)
    if df.empty:
        return df
    return df[(placement_of(df, df["grid"]) == reason).to_numpy()]


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


# -- the tickets behind a number, a page at a time (`/api/v1/tickets`) -----------------------------
POPULATIONS = tk.COUNT_IDS
MAX_PAGE_SIZE = 1000


def iso_text(times: pd.Series, tz: str) -> pd.Series:
    """Times as ISO 8601 in the city's zone with its offset, microseconds kept (None when empty)."""
    text = times.dt.tz_convert(tz).dt.strftime("%Y-%m-%dT%H:%M:%S.%f%z")     # vectorised isoformat():
    text = text.str.replace(".000000+", "+", regex=False).str.replace(".000000-", "-", regex=False)
    text = text.str.slice(0, -2) + ":" + text.str.slice(-2)                  # +0800 → +08:00
    return text.astype(object).where(times.notna(), None)


def canonical_rows(df: pd.DataFrame, tz: str) -> list[dict]:
    """Tickets (already masked for the viewer) as canonical records, plus `grid`: the grid
    they count in (their own code, else the one whose polygon holds their position)."""
    from feeds.records import TICKET_FIELDS, TIME_FIELDS
    out = pd.DataFrame(index=df.index)
    for f in (*TICKET_FIELDS, "grid"):
        if f not in df:
            out[f] = None
        elif f in TIME_FIELDS:
            out[f] = iso_text(df[f], tz)
        elif f in ("lat", "lon"):
            out[f] = df[f].astype(object).where(df[f].notna(), None)
        elif f == "return_count":
            out[f] = df[f].astype(int)
        elif f == "rating_excluded":
            out[f] = df[f].astype(bool)
        else:
            out[f] = df[f].astype(object).where(df[f].notna(), None)
    return out.to_dict("records")


def ticket_page(q, viewer: Viewer, node: str | None, population: str | None, now, start, end,
                page: int = 1, page_size: int = 100) -> dict:
    """A page of the tickets behind a count (`population`, one of COUNT_IDS, in [start, end)
    at `now`: the members panel's `member_frame`), or of every ticket the console holds in
    the area when None; newest first, personal data masked unless the viewer may see it."""
    if population is None:
        df = q.tickets(viewer, area=node_code(q, node))
    else:
        df, _, _ = member_frame(q, viewer, MemberQuery(node, TOTAL, population), now, start, end)
    total = int(len(df))
    # newest first, ties by id: two stable one-key sorts (a two-key sort factorizes both, 6× slower)
    df = df.sort_values("ticket_id", kind="stable").sort_values("created_at", ascending=False, kind="stable",
                                                               na_position="last")
    part = df.iloc[(page - 1) * page_size: page * page_size]
    if population is None:      # masked a page at a time, not the whole area's tickets
        part = q.for_display(part, viewer, "api.tickets")
    return {"total": total, "page": page, "page_size": page_size, "rows": canonical_rows(part, q.tz)}

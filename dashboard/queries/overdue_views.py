"""What the /overdue board shows: open tickets that are overdue or due soon, and exports.

Populations come from `metrics.tickets` (overdue: open and deadline < now; due soon: open
and now <= deadline < now + warn), lights from `step_light`; the viewer's scope is applied
by `q.tickets`, personal data masked by `q.for_display` on screen and always in exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlencode

import numpy as np
import pandas as pd

from dashboard.queries import exports
from dashboard.queries.access import Viewer
from dashboard.queries.ticket_views import area_names, local_text
from metrics import tickets as tk
from metrics.privacy import mask_frame

STATES = ("overdue", "due_soon")
BOARD_FIELDS = ("ticket_id", "light", "state", "late_h", "deadline_at", "department", "street", "community",
                "grid", "category", "urgency", "status", "created_at", "caller_name", "caller_phone")
_HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class BoardState:
    """The board's filters, as kept in the URL (`?state=&dept=&area=&q=`): bookmarks and the
    back button give the same board."""
    states: tuple[str, ...] = STATES
    departments: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()
    search: str = ""


def parse_search(search: str | None, departments=None, areas=None) -> BoardState:
    """The filters of a URL's query; values the board does not offer (an old or hand-edited
    link: an unknown state, department or area) are ignored, never an error. `departments`
    and `areas`: the values offered (None: not checked)."""
    qs = parse_qs((search or "").lstrip("?"), keep_blank_values=True)
    states = tuple(s for s in STATES if s in _split(qs.get("state")))
    if "state" not in qs:
        states = STATES
    depts = tuple(d for d in dict.fromkeys(_split(qs.get("dept"))) if departments is None or d in departments)
    area = tuple(a for a in dict.fromkeys(_split(qs.get("area"))) if areas is None or a in areas)
    return BoardState(states, depts, area, ((qs.get("q") or [""])[0]).strip()[:100])


def _split(values) -> list[str]:
    return [v.strip() for x in (values or []) for v in x.split(",") if v.strip()]


def format_search(state: BoardState) -> str:
    """The query string of a board state (defaults left out: a plain /overdue is the whole board)."""
    parts = []
    if tuple(state.states) != STATES:
        parts.append(("state", ",".join(state.states)))
    parts += [("dept", d) for d in state.departments] + [("area", a) for a in state.areas]
    if state.search:
        parts.append(("q", state.search))
    return "?" + urlencode(parts) if parts else ""


def _scoped(q, viewer: Viewer, now, departments=None, areas=None) -> pd.DataFrame:
    df = q.window_tickets(viewer, now, now)      # open tickets: all of them are in the recent cut
    if departments:
        df = df[df["department"].isin(list(departments)).to_numpy()]
    tree = q.tree()
    if areas and tree is not None:
        keep = np.zeros(len(df), dtype=bool)
        for code in areas:
            if code in tree:
                keep |= tree.in_subtree(df["grid"], code).to_numpy()
        df = df[keep]
    return df


def board_frame(q, viewer: Viewer, now, departments=None, areas=None, states=STATES) -> pd.DataFrame:
    """The board's tickets (unmasked, internal): one row per overdue / due-soon ticket.

    Columns: BOARD_FIELDS with `state` "overdue" | "due_soon", `light` from step_light,
    `late_h` = hours past the deadline (negative: hours left), times as local text.
    Sorted by late_h, most overdue first.
    """
    df = _scoped(q, viewer, now, departments, areas)
    p = tk.populations(df, now, now, now, q.settings.tickets)
    want = np.zeros(len(df), dtype=bool)
    for s in states or STATES:
        if s in STATES:
            want |= p[s]
    sub = df[want]
    state = np.where(p["overdue"][want], "overdue", "due_soon")
    out = pd.DataFrame(index=sub.index)
    out["ticket_id"] = sub["ticket_id"]
    out["light"] = tk.step_light(sub, now)
    out["state"] = state
    out["late_h"] = ((pd.Timestamp(now) - sub["deadline_at"]) / _HOUR).round(2)
    out["deadline_at"] = local_text(sub["deadline_at"], q.tz)
    out["created_at"] = local_text(sub["created_at"], q.tz)
    names = area_names(q.tree(), sub["grid"])
    for level in ("street", "community", "grid"):
        out[level] = names[level]
    for f in ("department", "category", "urgency", "status", "caller_name", "caller_phone"):
        out[f] = sub[f].astype(object).where(sub[f].notna(), "")
    return out[list(BOARD_FIELDS)].sort_values(["late_h", "ticket_id"], ascending=[False, True])


def board_rows(q, viewer: Viewer, now, departments=None, areas=None, states=STATES) -> list[dict]:
    """The board for the screen: personal data masked unless the viewer's role allows it."""
    parts = (str(now), sorted(departments or []), sorted(areas or []), sorted(states or STATES))

    def compute():
        return q.for_display(board_frame(q, viewer, now, departments, areas, states), viewer, "overdue").to_dict("records")
    rows = q.memo("od.board", viewer, parts, compute)
    if viewer.see_personal_data and rows:          # a cached view seen by another person is their view too
        q.audit_unmasked([str(r["ticket_id"]) for r in rows], viewer, "overdue")
    return rows


def summary(rows: list[dict]) -> dict[str, int]:
    out = {"overdue": 0, "due_soon": 0, "red": 0, "yellow": 0, "green": 0}
    for r in rows:
        out[r["state"]] += 1
        if r.get("light") in out:
            out[r["light"]] += 1
    return out


def filter_options(q, viewer: Viewer, now: datetime | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """(departments present in the viewer's tickets, [(area code, label)] of streets and communities)."""
    now = now or datetime.now(timezone.utc)
    df = q.window_tickets(viewer, now, now)      # its markers keep the departments of settled tickets
    depts = sorted(str(d) for d in df["department"].dropna().unique())
    tree = q.tree()
    areas: list[tuple[str, str]] = []
    if tree is not None:
        for street in (tree.codes_at("street") if "street" in tree.levels else []):
            areas.append((street, tree.node(street).name))
            for c in tree.children(street):
                areas.append((c.code, f"{tree.node(street).name} / {c.name}"))
    return depts, areas


def export_frame(q, viewer: Viewer, now, ticket_ids: list[str], headers: dict[str, str],
                 light_names: dict[str, str], state_names: dict[str, str],
                 value_names: dict[str, dict[str, str]] | None = None, late_text=None) -> pd.DataFrame:
    """The rows on screen (given by id, in screen order) rebuilt on the server, always masked.

    Only tickets of the board in the viewer's scope are exported, whatever ids arrive.
    With `late_text` (hours → words, as the page shows them: 35天4小时) and a `late_text`
    header, the hours past the deadline are exported both as a number and in words.
    """
    board = board_frame(q, viewer, now).set_index("ticket_id", drop=False)
    ids = [i for i in dict.fromkeys(ticket_ids) if i in board.index]
    out = mask_frame(board.loc[ids])
    out["light"] = out["light"].map(light_names).fillna("")
    out["state"] = out["state"].map(state_names)
    if late_text is not None and "late_text" in headers:
        out["late_text"] = out["late_h"].map(late_text)
    for field, names in (value_names or {}).items():      # coded values as the screen shows them
        if field in out:
            out[field] = out[field].astype(object).map(lambda v, n=names: n.get(v, v))
    return out.rename(columns=headers)[list(headers.values())].reset_index(drop=True)


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark; formula-looking cells neutralised (`dashboard.queries.exports`)."""
    return exports.export_bytes(df, "csv")


def to_xlsx_bytes(df: pd.DataFrame, sheet: str = "overdue") -> bytes:
    return exports.export_bytes(df, "xlsx", sheet)

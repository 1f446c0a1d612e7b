"""What a process keeps of the tickets, the pieces: the recent cut's rows (`counting`,
with its marker rows for the groups only settled tickets have), the filter that skips
records which surely cannot count before they are parsed (`Settled`), and the frame
helpers (categoricals kept across a concat, memory given back). `Queries` in
`dashboard/queries/__init__.py` holds the frames and refreshes them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from metrics import tickets as tk
from metrics.areas import AreaTree
from metrics.placement import effective_grid


def counting(df: pd.DataFrame, since, pairs: set) -> pd.DataFrame:
    """The rows of `df` that can count since `since`, plus a marker for each (grid,
    department) pair of the others not in `pairs` yet (added to it)."""
    can = tk.can_count_since(df, since)
    if can.all():
        return df.reset_index(drop=True)
    settled = df[~can].drop_duplicates(["grid", "department"])
    new = [pair not in pairs for pair in zip(*pair_columns(settled))]
    marked = markers(settled[new])
    pairs |= pairs_of(marked)
    return joined([df[can], marked], empty=lambda: df.iloc[:0])


class Settled:
    """Records that surely cannot count since `since`, told from their text alone (before
    they are parsed into a frame, the cost of a full read): withdrawn; or closed (or
    cancelled) before it, due before it, and created so long before it that no deadline of
    the SLA table reaches it. Dates only, with two days to spare, so any ISO offset is safe.
    Their groups are kept through one record per (grid code, position, department)."""

    def __init__(self, since, horizon_days: int):
        t = pd.Timestamp(since).tz_convert("UTC")
        self.before = (t - pd.Timedelta(days=2)).strftime("%Y-%m-%d")
        self.created_before = (t - pd.Timedelta(days=2 + horizon_days)).strftime("%Y-%m-%d")
        self._groups: dict[tuple, dict] = {}

    def _sure(self, r: dict) -> bool:
        if r.get("withdrawn_at"):
            return True
        closed = r.get("closed_at")
        if closed:
            if closed[:10] >= self.before:
                return False
        elif r.get("status") != "cancelled":
            return False
        due = r.get("deadline_at")
        if due and due[:10] >= self.before:
            return False
        created = r.get("created_at")
        return bool(created) and created[:10] < (self.before if due else self.created_before)

    def others(self, records: list[dict]) -> list[dict]:
        """The records that may count (to be parsed and cut exactly); the others' groups kept."""
        out = []
        for r in records:
            if not self._sure(r):
                out.append(r)
            else:
                self._groups.setdefault((r.get("grid_code"), r.get("lat"), r.get("lon"), r.get("department")), r)
        return out

    def representatives(self) -> list[dict]:
        return list(self._groups.values())


def placed(df: pd.DataFrame, tree: AreaTree | None) -> pd.Series:
    """Each ticket's effective grid, as a categorical (a view groups by it: codes, not strings)."""
    return effective_grid(df, tree).astype("category")


MARKER_ID = ""                # a marker row's ticket id (no ticket has an empty id)
MARKER_BLANK = ("created_at", "updated_at", "dispatched_at", "first_response_at", "response_due_at",
                 "closed_at", "deadline_at")


def pair_columns(df: pd.DataFrame) -> tuple[list, list]:
    """(grid, department) of each row as plain values (None for missing)."""
    return tuple(df[c].astype(object).where(df[c].notna(), None).tolist() for c in ("grid", "department"))


def pairs_of(df: pd.DataFrame) -> set:
    return set(zip(*pair_columns(df)))


def is_marker(df: pd.DataFrame):
    return (df["ticket_id"] == MARKER_ID).to_numpy()


def markers(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows standing for their (grid, department) only: no id, no times (so in no population,
    whatever the window or `now`), no personal data. A table over the cut lists the groups
    of settled tickets through them, as it would over every ticket."""
    m = rows.copy()
    m["ticket_id"] = MARKER_ID
    for c in MARKER_BLANK:
        if c in m:
            m[c] = pd.Series(pd.NaT, index=m.index, dtype=m[c].dtype)
    for c in ("caller_name", "caller_phone", "repeat_of"):
        if c in m:
            m[c] = None
    for c in ("deadline_fallback", "deadline_from_sla", "is_repeat", "withdrawn"):
        if c in m:
            m[c] = False
    # no status either: a marker is never cancelled, so every later cut keeps it
    # (`can_count_since`), whatever the ticket it was made from
    m["status"] = m["status"].where(np.zeros(len(m), dtype=bool))
    return m


def joined(parts: list[pd.DataFrame], empty) -> pd.DataFrame:
    """The non-empty `parts` as one frame with a fresh index (`empty()` when all are empty)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty().reset_index(drop=True)
    return concat_keeping_categories(parts) if len(parts) > 1 else parts[0].reset_index(drop=True)


def concat_keeping_categories(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """`pd.concat` of prepared ticket frames whose categorical columns stay categorical
    (plain concat turns a categorical into strings when the parts' categories differ: about
    60 bytes more per ticket and column, and slower comparisons)."""
    cats = [c for c in parts[0].columns if isinstance(parts[0][c].dtype, pd.CategoricalDtype)]
    if cats:
        parts = [p.copy(deep=False) for p in parts]
        for c in cats:
            # the values, not union_categoricals: a part with no value in a column has empty
            # categories of another dtype, which it refuses
            values: list = []
            for p in parts:
                col = p[c]
                values += (col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype)
                           else pd.Index(col.dropna().unique())).tolist()
            union = pd.Index(list(dict.fromkeys(values)), dtype=object)
            for p in parts:
                p[c] = p[c].cat.set_categories(union) if isinstance(p[c].dtype, pd.CategoricalDtype) \
                    else pd.Categorical(p[c].astype(object), categories=union)
    return pd.concat(parts, ignore_index=True)


def give_back_freed_memory(collect: bool = True) -> None:
    """Return freed memory to the system (glibc's malloc_trim, every arena; a no-op
    elsewhere): after a full load the parsed records are gone, their pages need not stay."""
    try:
        import ctypes
        import gc

        if collect:
            gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


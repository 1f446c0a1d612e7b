"""Where a ticket counts: its effective grid in the area tree.

A ticket whose `grid_code` is a node of the tree counts there (normally a grid; a source
that only knows the community is counted for the community and everything above it). One
without a code but with a position is placed in the grid whose polygon contains it. Anything else — an unknown
grid code, or no code and no position inside the city — is *unplaced*: accepted, counted
for the whole city's totals, and listed on the data health page.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metrics.areas import AreaTree


def effective_grid(df: pd.DataFrame, tree: AreaTree | None) -> pd.Series:
    """The node each ticket counts in (None = unplaced), aligned with `df`."""
    if tree is None or df.empty:
        return pd.Series([None] * len(df), index=df.index, dtype=object)
    known = {node.code for node in tree}
    codes = df["grid_code"].astype(object)
    out = codes.where(codes.isin(known), None).astype(object)
    need = codes.isna() & df["lat"].notna() & df["lon"].notna()
    if need.any():
        located = tree.locate_many(df.loc[need, "lat"].to_numpy(), df.loc[need, "lon"].to_numpy())
        out.loc[need] = np.asarray(located, dtype=object)
    return out


def placement_counts(df: pd.DataFrame, grid: pd.Series) -> dict[str, int]:
    """How tickets were placed: by code, by position, or not at all (for the health page)."""
    has_code = df["grid_code"].notna()
    placed = grid.notna()
    return {
        "by_code": int((has_code & placed).sum()),
        "by_position": int((~has_code & placed).sum()),
        "unknown_code": int((has_code & ~placed).sum()),
        "no_place": int((~has_code & ~placed).sum()),
    }

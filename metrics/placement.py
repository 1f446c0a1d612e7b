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


PLACEMENTS = ("by_code", "by_position", "unknown_code", "no_position", "outside_city")
UNPLACED = ("unknown_code", "no_position", "outside_city")


def placement_of(df: pd.DataFrame, grid: pd.Series) -> pd.Series:
    """How each ticket was placed (a value of PLACEMENTS), aligned with `df`: by its grid
    code, by its position, or unplaced for a reason — a code the tree does not know, no
    code and no position, or a position outside every grid of the city."""
    has_code = df["grid_code"].notna().to_numpy()
    placed = grid.notna().to_numpy()
    has_pos = (df["lat"].notna() & df["lon"].notna()).to_numpy()
    out = np.select([has_code & placed, ~has_code & placed, has_code & ~placed, ~has_pos],
                    ["by_code", "by_position", "unknown_code", "no_position"], "outside_city")
    return pd.Series(out, index=df.index, dtype=object)


def placement_counts(df: pd.DataFrame, grid: pd.Series) -> dict[str, int]:
    """How many tickets were placed each way (for the health page), every reason listed."""
    counts = placement_of(df, grid).value_counts()
    return {k: int(counts.get(k, 0)) for k in PLACEMENTS}

"""Ranking of departments or areas by composite score, exactly as METRICS.md ("ranking").

A unit is ranked only when it has at least `min_volume` tickets in received(W) ∪ due(W)
(the `volume` column of `kpi_table`) and a score; ranked units are ordered by score, ties
sharing the better rank (rank = 1 + the number of ranked units with a strictly higher
score). The others follow, unranked (rank None, `ranked` False: "样本不足" on the page),
with their numbers still shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rank_units(table: pd.DataFrame, min_volume: int) -> pd.DataFrame:
    """`table` (a kpi_table: key, score, volume, …) ordered for a ranking, with `rank` and `ranked`.

    Order: ranked units by score descending (equal scores by key), then the unranked ones
    by volume descending, then key. `rank` is a nullable integer.
    """
    score = table["score"].to_numpy(dtype=float)
    volume = table["volume"].to_numpy(dtype=np.int64)
    ranked = (volume >= int(min_volume)) & ~np.isnan(score)
    scores = np.sort(score[ranked])
    # strictly higher scores among the ranked ones: n − (number ≤ s)
    higher = len(scores) - np.searchsorted(scores, score[ranked], side="right")
    rank = pd.array([pd.NA] * len(table), dtype="Int64")
    rank[np.flatnonzero(ranked)] = 1 + higher
    out = table.assign(rank=rank, ranked=ranked)
    out["_order_score"] = np.where(ranked, -np.nan_to_num(score, nan=0.0), 0.0)
    out["_order_volume"] = np.where(ranked, 0, -volume)
    out["_key"] = out["key"].map(lambda k: "" if k is None else str(k))
    out = out.sort_values(["ranked", "_order_score", "_order_volume", "_key"],
                          ascending=[False, True, True, True], kind="stable")
    return out.drop(columns=["_order_score", "_order_volume", "_key"]).reset_index(drop=True)

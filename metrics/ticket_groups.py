"""Grouping tickets for KPI tables: group keys per ticket, and tables as plain records."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd


def roll_up(codes: pd.Series, to_key: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Group keys from a code column, mapped once per distinct code, as a categorical.

    E.g. the street of each ticket: `roll_up(df["grid_code"], lambda g: tree.ancestor_at(g,
    "street"))`. On a categorical column (as `prepare` leaves grid_code) the cost is per
    grid, not per ticket, and kpi_table groups the result without hashing strings.
    """
    cat = codes if isinstance(codes.dtype, pd.CategoricalDtype) else codes.astype("category")
    mapped = pd.Series(to_key(pd.Series(cat.cat.categories, dtype=object)).to_numpy(dtype=object))
    keys, uniques = pd.factorize(mapped, use_na_sentinel=True)
    lookup = np.append(keys, -1)  # category code -1 (missing) stays missing
    return pd.Series(pd.Categorical.from_codes(lookup[cat.cat.codes.to_numpy()], categories=uniques),
                     index=codes.index, name=codes.name)


def group_codes(index: pd.Index, keys: pd.Series | None, all_keys: list | None) -> tuple[np.ndarray, list]:
    """Group number of each ticket (-1: missing key) and the group labels in row order:
    all_keys first, then the other keys present, sorted."""
    if keys is None:
        return np.zeros(len(index), dtype=np.int64), ["all"]
    if not keys.index.equals(index):
        keys = keys.reindex(index)
    if isinstance(keys.dtype, pd.CategoricalDtype):  # codes already: no hashing of strings
        codes = keys.cat.codes.to_numpy().astype(np.int64)
        used = np.bincount(codes[codes >= 0], minlength=len(keys.cat.categories)) > 0
        uniques = [k if used[i] else None for i, k in enumerate(keys.cat.categories)]
    else:
        codes, uniques = pd.factorize(keys, use_na_sentinel=True)
        uniques = list(uniques)
    first = list(all_keys or [])
    seen = set(first)
    labels = first + sorted((k for k in uniques if k is not None and k not in seen), key=str)
    position = {k: i for i, k in enumerate(labels)}
    remap = np.array([position.get(k, -1) for k in uniques] + [-1], dtype=np.int64)
    return remap[codes], labels


def table_records(table: pd.DataFrame, columns: list[str] | None = None) -> list[dict]:
    """Rows of a kpi_table as plain dicts: NaN → None, numpy numbers → int/float."""
    cols = columns or list(table.columns)
    out = []
    for row in table[cols].itertuples(index=False):
        rec = {}
        for c, v in zip(cols, row):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                rec[c] = None
            elif isinstance(v, (np.integer, int)) and not isinstance(v, bool):
                rec[c] = int(v)
            elif isinstance(v, (np.floating, float)):
                rec[c] = float(v)
            else:
                rec[c] = v
        out.append(rec)
    return out

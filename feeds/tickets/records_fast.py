"""Canonical ticket validation column by column: the typed frame of many rows at once.

`validate_columns` gives exactly what `validate_many` + `tickets_frame` give for the same
items — the same accepted tickets with the same values and dtypes, the same rejects — in a
fraction of the time. It never words a rejection itself: each column is checked with the
helpers of `feeds.records`, applied once per distinct value, or by a vectorised equivalent
for the columns whose values are mostly distinct (times, numbers, free texts); every row
that fails a check, or that a vectorised check cannot vouch for, goes through
`validate_ticket` as before. So a row that makes `validate_ticket` raise something other
than a `RecordError` raises it here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from feeds.tickets.iso_times import NAT, ByteCells, fast_times
from feeds.records import (
    KINDS, RATINGS, RESOLVED, SOURCES, STATUSES, TICKET_FIELDS, TIME_FIELDS, URGENCIES,
    Reject, _bool, _choice, _count, _number, _text, parse_time, validate_many,
)

_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)
_US = 1_000_000
PLAIN_TEXT_FIELDS = ("ticket_id", "category", "grid_code", "department", "repeat_of", "caller_name",
                     "caller_phone")
RANGES = {"lat": (-90, 90), "lon": (-180, 180)}

# one check per field, the calls `validate_ticket` makes: raw value -> canonical value
CHECKS: dict[str, Callable[[Any], Any]] = {
    **{name: (lambda v, n=name: _micros(parse_time(v, n))) for name in TIME_FIELDS},
    **{name: _text for name in PLAIN_TEXT_FIELDS},
    "source": lambda v: _choice(v, "source", SOURCES) or "other",
    "kind": lambda v: _choice(v, "kind", KINDS),
    "urgency": lambda v: _choice(v, "urgency", URGENCIES) or "normal",
    "status": lambda v: _choice(v, "status", STATUSES),
    "rating": lambda v: _choice(v, "rating", RATINGS),
    "resolved": lambda v: _choice(v, "resolved", RESOLVED),
    "lat": lambda v: _number(v, "lat", *RANGES["lat"]),
    "lon": lambda v: _number(v, "lon", *RANGES["lon"]),
    "rating_excluded": lambda v: _bool(v, "rating_excluded"),
    "return_count": lambda v: _count(v, "return_count"),
}


@dataclass
class RawColumns:
    """Raw ticket items column by column, as an adapter read them.

    `columns` maps canonical field names to sequences with one raw value per row (a field
    the payload lacks may be left out: it reads as None, like `dict.get`); `index` is each
    row's position in its payload; `item(row)` rebuilds the raw item of a row exactly as
    the per-row path sees it (for `validate_ticket` and the rejects' excerpts);
    `texts_only` promises that every value is a str or None (CSV).
    """
    columns: dict[str, Sequence]
    index: np.ndarray
    item: Callable[[int], Any]
    texts_only: bool = False

    def __len__(self) -> int:
        return len(self.index)

    def column(self, name: str) -> Sequence:
        values = self.columns.get(name)
        return [None] * len(self) if values is None else values


def validate_columns(raw: RawColumns) -> tuple[pd.DataFrame, list[Reject]]:
    """Raw columns -> (the frame `tickets_frame` would build, rejects ordered by index)."""
    values, keep, rejects = _checked(raw)
    return _frame({name: v[keep] for name, v in values.items()}), rejects


def validate_records(raw: RawColumns) -> tuple[list[dict], list[Reject]]:
    """Raw columns -> (exactly the records `validate_many` gives, in the same order, each
    with the same keys in the same order and values of the same types; the same rejects).

    The poller's path: the checks run column by column as for `validate_columns`, then the
    canonical values are turned back into records column by column."""
    values, keep, rejects = _checked(raw)
    return _records({name: v[keep] for name, v in values.items()}), rejects


def objects_columns(objects: list[dict], index: Sequence[int] | None = None) -> RawColumns:
    """Raw ticket objects (canonical field names) as columns; row i is objects[i], at
    position index[i] of its payload (default: i)."""
    columns = {name: list(map(dict.get, objects, repeat(name))) for name in TICKET_FIELDS}
    positions = np.arange(len(objects), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
    return RawColumns(columns, positions, objects.__getitem__)


def validate_items(objects: list[dict], index: Sequence[int] | None = None) -> tuple[list[dict], list[Reject]]:
    """`validate_many` of raw ticket objects, column by column (same records, same rejects;
    a reject's index is index[i])."""
    return validate_records(objects_columns(objects, index))


def _checked(raw: RawColumns) -> tuple[dict[str, np.ndarray], np.ndarray, list[Reject]]:
    """(canonical values by field, which rows are kept, the rejects)."""
    values: dict[str, np.ndarray] = {}
    ok = np.ones(len(raw), dtype=bool)
    for name in TICKET_FIELDS:
        values[name], good = check_column(raw.column(name), name, raw.texts_only)
        ok &= good
    ok &= _row_rules(values)
    _fill_updated_at(values)

    keep = ok.copy()
    rejects: list[Reject] = []
    for row in np.flatnonzero(~ok):
        # the exact reason (or the exact exception) comes from the per-row path
        records, rejected = validate_many([raw.item(int(row))], start_index=int(raw.index[row]))
        rejects += rejected
        if records:
            _put_record(values, int(row), records[0])
            keep[row] = True
    return values, keep, rejects


# the keys of a record in the order validate_ticket makes them
RECORD_KEYS = ("ticket_id", *TIME_FIELDS, "source", "kind", "urgency", "status", "rating", "resolved",
               "category", "grid_code", "department", "repeat_of", "caller_name", "caller_phone",
               "lat", "lon", "rating_excluded", "return_count")


def _records(v: dict[str, np.ndarray]) -> list[dict]:
    """Canonical columns -> records, as validate_ticket writes them."""
    columns = []
    for name in RECORD_KEYS:
        x = v[name]
        if name in TIME_FIELDS:
            columns.append(_iso_texts(x))
        elif name in RANGES:
            columns.append([None if f != f else f for f in x.tolist()])   # NaN: no value
        else:
            columns.append(x.tolist())
    keys = RECORD_KEYS
    return [dict(zip(keys, row)) for row in zip(*columns)]


def _iso_texts(micros: np.ndarray) -> list:
    """UTC microseconds -> canonical texts as parse_time writes them ("2026-11-20T02:00:00Z",
    "2026-11-20T02:00:00.212428Z"), NAT -> None."""
    whole = np.where(micros == NAT, 0, micros // _US)
    texts = np.datetime_as_string(whole.view("M8[s]"), unit="s", timezone="UTC").astype(object)
    frac = (micros % _US != 0) & (micros != NAT)
    if frac.any():
        texts[frac] = np.datetime_as_string(micros[frac].view("M8[us]"), unit="us", timezone="UTC").astype(object)
    empty = micros == NAT
    if empty.any():
        texts[empty] = None
    return texts.tolist()


# -- columns ------------------------------------------------------------------------
_SAMPLE = 1024      # rows looked at to guess whether a column has few distinct values


def check_column(values: Sequence, name: str, texts_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One field of every row -> (canonical values, typed; True where the check passed).

    A missing ticket_id or status fails here: the per-row path words it.
    """
    if not (texts_only or _all_texts(values)):
        out, good = _json_values(values, name)
    elif name in TIME_FIELDS:
        out, good = _times(values, name)
    elif name in RANGES and not _few_distinct(values):
        out, good = _numbers(values, name)
    elif name in PLAIN_TEXT_FIELDS and not _few_distinct(values):
        out, good = _plain_texts(values), np.ones(len(values), dtype=bool)
    else:
        out, good = _by_value(values, name)
    if name in ("ticket_id", "status"):
        good &= out != None  # noqa: E711 — elementwise
    return out, good


def _all_texts(values: Sequence) -> bool:
    return set(map(type, values)) <= {str, type(None)}


def _few_distinct(values: Sequence) -> bool:
    """Whether the first rows suggest few distinct values (any answer gives the same result)."""
    return len(set(values[:_SAMPLE])) <= _SAMPLE // 16


def _objects(values: Sequence) -> np.ndarray:
    """A sequence as a 1-d object array (a list in it stays one element)."""
    if isinstance(values, np.ndarray) and values.dtype == object:
        return values
    return np.fromiter(values, dtype=object, count=len(values))


def _each(values: Sequence, check: Callable[[Any], Any]) -> tuple[list, np.ndarray]:
    """Apply a check to every value: (results, None where it failed; passed)."""
    out, good = [], np.ones(len(values), dtype=bool)
    for i, v in enumerate(values):
        try:
            out.append(check(v))
        except Exception:  # noqa: BLE001 — the row goes to the per-row path, which words or raises it
            out.append(None)
            good[i] = False
    return out, good


def _json_values(values: Sequence, name: str) -> tuple[np.ndarray, np.ndarray]:
    """JSON numbers, booleans, ...: checked once per distinct value when all are of one
    type that compares exactly (1 == 1.0 == True, 0.0 == -0.0 tell the checks apart);
    JSON floats as positions vectorised; else value by value."""
    types = set(map(type, values)) - {type(None)}
    if name in RANGES and types == {float}:
        x = np.array([np.nan if v is None else v for v in values], dtype="float64")   # no NaN in JSON
        lo, hi = RANGES[name]
        return x, np.isnan(x) | ((x >= lo) & (x <= hi))
    if types == {int} or types == {bool}:
        distinct = list(dict.fromkeys(values))
        codes = np.fromiter(map({v: i for i, v in enumerate(distinct)}.__getitem__, values), dtype=np.int64,
                            count=len(values))
        results, passed = _each(distinct, CHECKS[name])
        return _typed(results, name).take(codes), passed.take(codes)
    out, good = _each(values, CHECKS[name])
    return _typed(out, name), good


def _by_value(values: Sequence, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Like _each + _typed, calling the field's check once per distinct text (values are
    str or None)."""
    codes, distinct = pd.factorize(_objects(values))        # None: code -1, the last below
    results, passed = _each([*distinct, None], CHECKS[name])
    return _typed(results, name).take(codes), passed.take(codes)


def _plain_texts(values: Sequence) -> np.ndarray:
    """_text of each str or None: stripped, empty -> None."""
    if None in values:
        values = [v or "" for v in values]
    return _objects([t or None for t in map(str.strip, values)])


def _numbers(values: Sequence, name: str) -> tuple[np.ndarray, np.ndarray]:
    """_number of each str or None: float() of the text, empty or NaN -> NaN, out of range fails."""
    try:
        # float("nan") is NaN, which _number takes for "no value", as it takes "" and None
        x = np.array(list(map(float, [v or "nan" for v in values])), dtype="float64")
    except ValueError:   # blanks, junk: one check per distinct value says which
        return _by_value(values, name)
    lo, hi = RANGES[name]
    return x, np.isnan(x) | ((x >= lo) & (x <= hi))


def _typed(out: list, name: str) -> np.ndarray:
    """Check results -> the column's array (a failed check's None becomes a placeholder)."""
    if name in TIME_FIELDS:
        return np.array([NAT if v is None else v for v in out], dtype=np.int64)
    if name in RANGES:
        return np.array([np.nan if v is None else v for v in out], dtype="float64")
    if name == "rating_excluded":
        return np.array(out, dtype=bool)
    if name == "return_count":
        try:
            return np.array([0 if v is None else v for v in out], dtype=np.int64)
        except OverflowError:
            pass    # counts beyond int64 stay Python ints, for _frame to treat as tickets_frame does
    return _objects(out)


def _micros(text: str | None) -> int | None:
    """A canonical UTC time ("2026-11-20T02:00:00Z", "….212428Z") -> microseconds since 1970;
    None stays None."""
    if text is None:
        return None
    return (datetime.fromisoformat(text[:-1]) - _EPOCH) // _MICROSECOND


# -- times --------------------------------------------------------------------------
# Read vectorised by `feeds.tickets.iso_times` where the shape allows; the rest by parse_time.

def _times(values: Sequence, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Times (str or None, or ByteCells) -> (UTC microseconds, NAT for none; passed)."""
    if isinstance(values, ByteCells):
        seconds, good = values.fast_times()
    else:
        values = _objects(values)
        values = np.where(values == None, "", values) if None in values else values  # noqa: E711
        seconds, good = fast_times(values)
    rest = np.flatnonzero(~good)
    if len(rest):
        seconds[rest], good[rest] = _by_value([values[i] for i in rest], name)
    return seconds, good


# -- rows ---------------------------------------------------------------------------

def _row_rules(v: dict[str, np.ndarray]) -> np.ndarray:
    """The checks of validate_ticket that look at more than one field."""
    created, closed = v["created_at"], v["closed_at"]
    ok = created != NAT
    ok &= np.isnan(v["lat"]) == np.isnan(v["lon"])
    ok &= ~((v["status"] == "closed") & (closed == NAT))
    ok &= ~((closed != NAT) & (closed < created))
    return ok


def _fill_updated_at(v: dict[str, np.ndarray]) -> None:
    """No updated_at: the newest time the record carries stands for its version."""
    newest = np.max(np.stack([v[name] for name in TIME_FIELDS]), axis=0)
    v["updated_at"] = np.where(v["updated_at"] == NAT, newest, v["updated_at"])


def _put_record(v: dict[str, np.ndarray], row: int, rec: dict) -> None:
    """Write one record of the per-row path into the columns."""
    for name in TICKET_FIELDS:
        value = rec[name]
        if name in TIME_FIELDS:
            value = NAT if value is None else _micros(value)
        elif name in RANGES and value is None:
            value = np.nan
        elif name == "return_count" and v[name].dtype != object and not -2**63 <= value < 2**63:
            v[name] = v[name].astype(object)
        v[name][row] = value


def _frame(v: dict[str, np.ndarray]) -> pd.DataFrame:
    """The columns -> the typed frame, dtypes as tickets_frame makes them."""
    df = pd.DataFrame({name: _time_column(v[name]) if name in TIME_FIELDS else
                       pd.Series(v[name], dtype=v[name].dtype, copy=False)   # object stays object
                       for name in TICKET_FIELDS})
    # the tail of tickets_frame, which also decides what a count beyond int64 becomes
    df["return_count"] = pd.to_numeric(df["return_count"], errors="coerce").fillna(0).astype("int64")
    df["ticket_id"] = df["ticket_id"].astype(str)
    return df


def _time_column(micros: np.ndarray) -> pd.Series:
    """UTC microseconds -> tz-aware times; microsecond unit, or second unit when all are
    empty (what pd.to_datetime makes of the canonical texts)."""
    if (micros == NAT).all():
        return pd.Series(micros.view("M8[s]")).dt.tz_localize("UTC")
    return pd.Series(micros.view("M8[us]")).dt.tz_localize("UTC")

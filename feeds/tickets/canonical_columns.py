"""Canonical CSV / JSON Lines tickets read column by column: the way for large files.

`parse_tickets_frame(data, fmt)` gives exactly `tickets_frame(parse_tickets(data, fmt)[0])`
and the same rejects as `feeds.tickets.canonical.parse_tickets`, much faster: a plain CSV (no
quotes, NULs or lone CRs) is cut by numpy and pandas' C tokenizer the way `csv.reader`
cuts it, anything else by `csv.reader`; the columns are validated by
`feeds.tickets.records_fast.validate_columns`, which leaves every doubtful row to the per-row
validator, so the reasons are the per-row path's. `tests/test_kpi_fast.py` proves both
paths equal.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from typing import Sequence

import numpy as np
import orjson
import pandas as pd

from feeds.tickets.canonical import FIELD_LIMIT, PayloadError, _decode, _jsonl_items, oversized
from feeds.tickets.iso_times import ByteCells
from feeds.records import TICKET_FIELDS, TIME_FIELDS, Reject, excerpt
from feeds.tickets.records_fast import RawColumns, objects_columns, validate_columns, validate_records


def parse_tickets_frame(data: bytes, fmt: str) -> tuple[pd.DataFrame, list[Reject]]:
    """CSV or JSON Lines bytes -> (the typed frame, rejects): exactly
    `tickets_frame(parse_tickets(data, fmt)[0])` and its rejects, much faster."""
    raw, bad = _raw_columns(data, fmt)
    frame, rejects = validate_columns(raw)
    return frame, sorted(bad + rejects, key=lambda r: r.index)


def parse_tickets_records(data: bytes, fmt: str) -> tuple[list[dict], list[Reject]]:
    """CSV or JSON Lines bytes -> exactly `parse_tickets(data, fmt)` (the same records in the
    same order, the same rejects), validated column by column: the poller's path."""
    raw, bad = _raw_columns(data, fmt)
    records, rejects = validate_records(raw)
    return records, sorted(bad + rejects, key=lambda r: r.index)


def _raw_columns(data: bytes, fmt: str) -> tuple[RawColumns, list[Reject]]:
    if fmt == "jsonl":
        fast = _jsonl_objects(data)
        if fast is not None:
            return objects_columns(fast), []
    text = _decode(data, lines=fmt == "jsonl")
    if fmt == "csv":
        return _csv_columns(data, text)
    if fmt == "jsonl":
        return _jsonl_columns(text)
    raise PayloadError(f"unknown canonical format {fmt!r}: expected csv or jsonl")


# bytes that str.splitlines() takes for line ends besides "\n" (then the per-line reader decides)
_OTHER_LINE_ENDS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\xc2\x85", b"\xe2\x80\xa8",
                    b"\xe2\x80\xa9")


def _jsonl_objects(data: bytes) -> list[dict] | None:
    """The objects of a JSON Lines payload read in one call, or None when the per-line
    reader must decide (a line that is not one JSON object, other line ends, bad UTF-8).

    Each non-blank line is one element of one JSON array: that array parses to as many
    objects as there are lines only if every line is exactly one JSON value."""
    body = data.removeprefix(codecs.BOM_UTF8)
    if any(end in body for end in _OTHER_LINE_ENDS):
        return None
    lines = [line for line in body.split(b"\n") if line.strip()]
    try:
        objects = orjson.loads(b"[" + b",".join(lines) + b"]")
    except orjson.JSONDecodeError:
        return None
    if len(objects) != len(lines) or not all(type(o) is dict for o in objects):
        return None
    return objects


def _jsonl_columns(text: str) -> tuple[RawColumns, list[Reject]]:
    items, bad = _jsonl_items(text)
    index = [i for i, it in enumerate(items) if it is not None]
    objects = [items[i] for i in index]
    columns = {name: list(map(dict.get, objects, repeat(name))) for name in TICKET_FIELDS}
    return RawColumns(columns, np.array(index, dtype=np.int64), objects.__getitem__), bad


def _csv_columns(data: bytes, text: str) -> tuple[RawColumns, list[Reject]]:
    """The rows csv.DictReader gives _parse_csv, column by column (rows with more cells
    than the header are rejected as there)."""
    plain = _plain_csv(data, text)
    if plain is not None:
        return plain
    try:
        return _csv_reader_columns(text)
    except csv.Error as exc:      # as the per-row path: refused whole, with the reason
        raise PayloadError(f"CSV cannot be read: {exc}") from None


def _csv_reader_columns(text: str) -> tuple[RawColumns, list[Reject]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    _check_header(header)
    if oversized(header):
        raise PayloadError(f"CSV header: {oversized(header)}")
    with _no_gc():
        rows = [row for row in reader if row]   # DictReader skips empty rows
        big = [(i, why) for i, why in enumerate(map(oversized, rows)) if why] if len(text) > FIELD_LIMIT else []
        kept_rows = rows
        if big:                                  # rejected as the per-row path rejects them
            drop = {i for i, _ in big}
            kept_rows = [r if i not in drop else [] for i, r in enumerate(rows)]
        cells, long_rows = _split_rows([r for r in kept_rows if r] if big else rows, len(header))
    if big:
        # positions in `rows` of the rows _split_rows saw, and of its long rows
        seen = [i for i, r in enumerate(kept_rows) if r]
        long_rows = [(seen[i], row) for i, row in long_rows]
    else:
        seen = list(range(len(rows)))
    index = np.delete(np.array(seen, dtype=np.int64), [seen.index(i) for i, _ in long_rows]) \
        if big else np.delete(np.arange(len(rows)), [i for i, _ in long_rows])

    def item(row: int) -> dict:
        return _row_dict(header, rows[index[row]])

    columns = {name: cells[j] for name, j in _last_positions(header).items()}
    big_rejects = [Reject(i, f"row {i + 2}: {why}", excerpt({k: v for k, v in _row_dict(header, rows[i]).items()
                                                             if k is None or len(v or "") <= 200}))
                   for i, why in big]
    return RawColumns(columns, index, item, texts_only=True), _long_rejects(header, long_rows) + big_rejects


def _split_rows(rows: list[list[str]], width: int) -> tuple[list[Sequence], list[tuple[int, list]]]:
    """Rows cut by csv.reader -> (cells by header column of the rows kept, "" past the
    end of a short row; the rows with more cells than the header, which are not kept)."""
    widths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    regular, long_rows = rows, []
    if (widths != width).any():
        regular = list(rows)
        for i in map(int, np.flatnonzero(widths != width)):
            if len(rows[i]) > width:
                long_rows.append((i, rows[i]))
                regular[i] = None
            else:
                regular[i] = rows[i] + [""] * (width - len(rows[i]))   # "" checks as None does
        regular = [row for row in regular if row is not None]
    return (list(zip(*regular)) if regular else [() for _ in range(width)]), long_rows


def _check_header(header: list[str] | None) -> None:
    if not header or "ticket_id" not in header:
        raise PayloadError("CSV has no header row with a ticket_id column")


def _last_positions(header: list[str]) -> dict[str, int]:
    """Ticket field -> its column; of a repeated name the last one counts (as in a dict)."""
    last = {name: j for j, name in enumerate(header)}
    return {name: last[name] for name in TICKET_FIELDS if name in last}


def _long_rejects(header: list[str], long_rows: list[tuple[int, list[str]]]) -> list[Reject]:
    return [Reject(i, f"row {i + 2}: {len(row) - len(header)} cells more than the header",
                   excerpt(_row_dict(header, row))) for i, row in long_rows]


def _row_dict(header: list[str], row: list) -> dict:
    """The dict csv.DictReader makes of a row (restkey None, restval None)."""
    d = dict(zip(header, row))
    if len(header) < len(row):
        d[None] = row[len(header):]
    elif len(header) > len(row):
        for key in header[len(row):]:
            d[key] = None
    return d


# A plain CSV: no quotes, no NULs, no lone carriage returns. csv.reader then cuts records at
# the line ends and cells at the commas, and skips empty lines; so do the functions below.
_PANDAS_CHUNK = 1 << 18     # bytes pandas' C tokenizer takes at a time


def _plain_csv(data: bytes, text: str) -> tuple[RawColumns, list[Reject]] | None:
    """A plain CSV column by column, or None (then csv.reader reads it).

    The commas and line ends, found with numpy, give each cell's bytes: the times are
    read from there without making texts of them. pandas' C tokenizer, which cuts a
    plain line as csv.reader does (no quoting, comment or escape character, no blank line
    skipped), makes the other texts column by column, equal ones shared: much faster to
    check than the texts of str.split.
    """
    header_end = data.find(b"\n")
    if b'"' in data or b"\x00" in data or header_end < 0:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    first = text[:text.find("\n")].removesuffix("\r")
    if len(first) > FIELD_LIMIT:
        return None     # csv.reader judges (and rejects) an oversized cell
    header = first.split(",") if first else None
    _check_header(header)
    width = len(header)
    if width < 2:
        return None     # one-cell lines: left to csv.reader
    body = data[header_end + 1:]
    spans = _Spans.of(body, width)
    if spans.longest_line() > FIELD_LIMIT:
        return None
    long_rows, short = [], {}
    if not spans.regular():
        body, long_rows, short = _regularize(body, width)
        spans = _Spans.of(body, width)
    if not len(spans) or codecs.BOM_UTF8 in body[:spans.ends[0] + 1] or spans.ends[0] >= _PANDAS_CHUNK:
        return None     # no rows; or pandas would drop a byte order mark in its first line
    last = _last_positions(header)
    texts = _tokenize(body, width, sorted({j for name, j in last.items() if name not in TIME_FIELDS}))
    if texts is None or any(len(column) != len(spans) for column in texts.values()):
        return None
    columns = {name: spans.cells(j) if name in TIME_FIELDS else texts[j] for name, j in last.items()}

    def item(row: int) -> dict:
        line = short[row] if row in short else spans.line(row)     # a short row as it came
        return _row_dict(header, line.split(","))

    index = np.delete(np.arange(len(spans) + len(long_rows)), [i for i, _ in long_rows])
    return RawColumns(columns, index, item, texts_only=True), _long_rejects(header, long_rows)


@dataclass
class _Spans:
    """Where the lines and commas of a plain CSV body are."""
    chars: np.ndarray           # the body's bytes
    starts: np.ndarray          # of each line
    ends: np.ndarray            # of each line, before "\r\n" / "\n"
    commas: np.ndarray          # positions
    width: int                  # cells per line expected

    @classmethod
    def of(cls, body: bytes, width: int) -> _Spans:
        chars = np.frombuffer(body, dtype=np.uint8)
        ends = np.flatnonzero(chars == ord("\n"))
        starts = np.concatenate([[0], ends + 1])
        ends = np.append(ends, len(chars))
        if starts[-1] == len(chars):          # the last line has a line end
            starts, ends = starts[:-1], ends[:-1]
        ends = ends - ((chars[np.maximum(ends - 1, 0)] == ord("\r")) & (ends > starts))
        return cls(chars, starts, ends, np.flatnonzero(chars == ord(",")), width)

    def __len__(self) -> int:
        return len(self.starts)

    def regular(self) -> bool:
        """Every line has `width` cells (so none is empty)."""
        per_line = np.searchsorted(self.commas, self.ends) - np.searchsorted(self.commas, self.starts)
        return bool((per_line == self.width - 1).all())

    def longest_line(self) -> int:
        return int((self.ends - self.starts).max(initial=0))

    def cells(self, j: int) -> ByteCells:
        """Column j of a regular body."""
        commas = self.commas.reshape(len(self), self.width - 1)
        first = self.starts if j == 0 else commas[:, j - 1] + 1
        return ByteCells(self.chars, first, self.ends if j == self.width - 1 else commas[:, j])

    def line(self, row: int) -> str:
        return self.chars[self.starts[row]:self.ends[row]].tobytes().decode("utf-8")


def _regularize(body: bytes, width: int) -> tuple[bytes, list[tuple[int, list]], dict[int, str]]:
    """(the body without its empty lines and the rows with more cells than the header,
    short rows padded with empty cells — "" checks as the None of csv.DictReader does;
    the rows left out, by row; the short rows as they were, by row kept)."""
    lines, long_rows, short = [], [], {}
    for line in body.decode("utf-8").split("\n"):
        line = line.removesuffix("\r")
        if not line:
            continue
        cells = line.count(",") + 1
        if cells > width:
            long_rows.append((len(lines) + len(long_rows), line.split(",")))
            continue
        if cells < width:
            short[len(lines)] = line
            line += "," * (width - cells)
        lines.append(line)
    return "\n".join(lines).encode("utf-8"), long_rows, short


def _tokenize(body: bytes, width: int, wanted: list[int]) -> dict[int, np.ndarray] | None:
    """The wanted columns of a plain CSV body whose lines all have `width` cells."""
    try:
        frame = pd.read_csv(io.BytesIO(body), header=None, names=range(width), usecols=wanted, index_col=False,
                            dtype=object, na_filter=False, quoting=csv.QUOTE_NONE, skip_blank_lines=False,
                            engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return None     # not expected; csv.reader will say
    return {j: frame[j].to_numpy() for j in wanted}


@contextmanager
def _no_gc():
    """Build a million small lists without the collector walking them over and over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

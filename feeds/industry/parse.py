"""Industry feed adapter: CSV or XLSX bytes -> canonical enterprise records + rejects.

Only what cannot be true is rejected (bad or missing credit code, missing or malformed
period, text where a number belongs, a negative land area, sales, energy, headcount or
R&D spend); a negative tax or value added is real data. A second row for the same
enterprise and period replaces the first only when newer, and `replaced` says so.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from feeds.industry.config import (
    CANONICAL_FIELDS, MONEY_FIELDS, NON_NEGATIVE_FIELDS, NUMERIC_FIELDS, IndustryFeedConfig,
)
from metrics.credit_code import credit_code_problem, normalize_credit_code
from metrics.privacy import mask_record

_HEADER_SCAN_ROWS = 10  # title rows above the header are common in government sheets
_MISSING = {"", "-", "—", "--", "/", "na", "n/a", "null", "none", "nan"}
_TRUE = {"1", "true", "yes", "y", "是", "免评", "免", "t"}
_FALSE = {"0", "false", "no", "n", "否", "f", ""}
_PERIOD = re.compile(r"^(\d{4})(?:年(?:度)?)?(?:\s*[-_ ]?\s*Q([1-4]))?$", re.IGNORECASE)


class IndustryFeedError(ValueError):
    """The file as a whole cannot be read (format, header, a required column)."""


@dataclass(frozen=True)
class BadRow:
    """A CSV line the reader could not cut into fields (e.g. a field over the csv module's
    limit, 131,072 characters): the row is a reject with this reason, the rest is read."""
    reason: str


@dataclass(frozen=True)
class Formula:
    """An XLSX cell holding a formula with no cached value (the file was written by a program
    that does not compute formulas): its value is unknown, never taken as empty."""
    text: str


@dataclass
class IndustryParseResult:
    records: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)  # {"index", "credit_code", "reason", "excerpt"}
    replaced: list[dict] = field(default_factory=list)  # duplicates of (credit_code, period)
    rows_in: int = 0

    def frame(self) -> pd.DataFrame:
        return records_frame(self.records)


def records_frame(records: list[dict]) -> pd.DataFrame:
    """Canonical records as a frame with fixed columns and dtypes."""
    df = pd.DataFrame(records, columns=list(CANONICAL_FIELDS))
    for col in NUMERIC_FIELDS:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["exempt"] = df["exempt"].fillna(False).astype(bool)
    return df


def _norm_header(h: object) -> str:
    s = "" if h is None else str(h)
    s = s.replace("（", "(").replace("）", ")").replace("\ufeff", "")
    return "".join(s.split()).lower()


def _table(content: bytes, fmt: str | None, sheet: str) -> list[list[object]]:
    if fmt is None:
        fmt = "xlsx" if content[:4] == b"PK\x03\x04" else "csv"
    if fmt == "xlsx":
        from openpyxl import load_workbook  # optional at import time; installed with the console

        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
            wf = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
        except Exception as exc:  # openpyxl raises several unrelated types
            raise IndustryFeedError(f"not a readable XLSX file: {exc}") from exc
        try:
            ws = wb[sheet] if sheet else wb.worksheets[0]
            fs = wf[sheet] if sheet else wf.worksheets[0]
            # the cached values, and where a cell has a formula but no cached value, the formula
            return [[Formula(f) if v is None and isinstance(f, str) and f.startswith("=") else v
                     for v, f in zip(list(r) + [None] * max(0, len(fr) - len(r)), fr or [None] * len(r))]
                    for r, fr in _zip_rows(ws.iter_rows(values_only=True), fs.iter_rows(values_only=True))]
        finally:
            wb.close()
            wf.close()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise IndustryFeedError("CSV is neither UTF-8 nor GB18030")
    return _csv_rows(text)


def _zip_rows(values, formulas):
    """Rows of the cached-values sheet with the same rows of the formulas sheet."""
    formulas = iter(formulas)
    for r in values:
        yield list(r), list(next(formulas, ()) or ())


MAX_CELL = 131_072   # the csv module's default field limit; also what the canonical ticket feed allows


def _csv_rows(text: str) -> list:
    """The CSV's rows; a line the reader refuses, or with a field over `MAX_CELL` characters
    (whatever limit the csv module was given elsewhere in the process), is a `BadRow` and
    reading goes on with the next line."""
    rows: list = []
    reader = csv.reader(io.StringIO(text))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return rows
        except csv.Error as exc:
            rows.append(BadRow(f"line {reader.line_num}: the CSV reader refused the line ({exc}): "
                               f"a field over {MAX_CELL:,} characters?"))
            continue
        long = next((i for i, cell in enumerate(row) if len(cell) > MAX_CELL), None)
        rows.append(row if long is None else
                    BadRow(f"line {reader.line_num}: column {long + 1} has {len(row[long]):,} characters, "
                           f"over {MAX_CELL:,}"))


def _map_header(table: list[list[object]], config: IndustryFeedConfig) -> tuple[int, dict[int, str]]:
    mapping = {_norm_header(k): v for k, v in config.columns.items()}
    mapping.update({f: f for f in CANONICAL_FIELDS})
    for r, row in enumerate(table[:_HEADER_SCAN_ROWS]):
        if isinstance(row, BadRow):
            continue
        cols = {i: mapping[_norm_header(h)] for i, h in enumerate(row) if _norm_header(h) in mapping}
        if "credit_code" in cols.values():
            seen: dict[str, int] = {}
            for i, f in cols.items():
                if f in seen:
                    raise IndustryFeedError(f"columns {seen[f] + 1} and {i + 1} both map to {f}")
                seen[f] = i
            if "period" not in seen:
                raise IndustryFeedError("no column maps to period")
            return r, cols
    raise IndustryFeedError("no header row with a credit_code column in the first rows")


def _is_missing(v: object) -> bool:
    if isinstance(v, Formula):
        return False
    return v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and v.strip().lower() in _MISSING)


def _number(v: object) -> float | None:
    """Float, None when missing; raises ValueError for text where a number belongs."""
    if _is_missing(v):
        return None
    if isinstance(v, bool) or isinstance(v, (datetime, date, Formula)):
        raise ValueError("not a number")
    try:
        x = float(v) if isinstance(v, (int, float)) else float(str(v).strip().replace(",", "").replace("，", ""))
    except (ValueError, OverflowError):   # text, or an integer too large for a float
        raise ValueError("not a number") from None
    if not math.isfinite(x):    # inf, Infinity, NaN written out, 1e999
        raise ValueError("not a finite number")
    return x


def normalize_period(v: object) -> str | None:
    """"2025", 2025, "2025年", "2025Q3", "2025-q3" -> "2025" or "2025Q3"; None if not a period."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    m = _PERIOD.match(str(v).strip())
    return None if m is None else m.group(1) + (f"Q{m.group(2)}" if m.group(2) else "")


def _timestamp(v: object, tz: str) -> pd.Timestamp:
    ts = pd.Timestamp(v)
    if pd.isna(ts):
        raise ValueError
    ts = (ts.tz_localize(tz) if ts.tzinfo is None else ts).tz_convert("UTC")
    if not 1900 <= ts.year <= 2199:   # as for tickets (FORMATS.md); also keeps the text comparable
        raise ValueError
    return ts


def _excerpt(raw: dict[str, object]) -> str:
    raw = mask_record({k: v for k, v in raw.items() if not _is_missing(v)})
    text = ", ".join(f"{k}={v}" for k, v in raw.items())
    return text if len(text) <= 160 else text[:157] + "..."


def _record(raw: dict[str, object], config: IndustryFeedConfig) -> tuple[dict | None, str]:
    """(record, "") or (None, reason); every problem of the row goes into the reason."""
    problems: list[str] = [f"{f}: a formula with no cached value ({v.text[:60]}): the file must be saved by "
                           f"a program that computes formulas" for f, v in raw.items() if isinstance(v, Formula)]
    if problems:
        return None, "; ".join(problems)
    code = normalize_credit_code(None if _is_missing(raw.get("credit_code")) else raw["credit_code"])
    if not code:
        problems.append("missing credit code")
    elif (p := credit_code_problem(code, org_check=config.org_code_check)) is not None:
        problems.append(p)
    period = None
    if _is_missing(raw.get("period")):
        problems.append("missing period")
    elif (period := normalize_period(raw["period"])) is None:
        problems.append(f"period: expected YYYY or YYYYQn, got {raw['period']!r}")
    rec: dict[str, object] = {"credit_code": code, "period": period}
    for f in ("name", "grid_code", "park", "industry"):
        rec[f] = None if _is_missing(raw.get(f)) else str(raw[f]).strip()
    for f in NUMERIC_FIELDS:
        try:
            x = _number(raw.get(f))
        except ValueError as exc:
            problems.append(f"{f}: {exc}: {raw.get(f)!r}")
            continue
        if x is not None and x < 0 and f in NON_NEGATIVE_FIELDS:
            problems.append(f"{f}: negative ({x:g})")
        if x is not None and f == "land_mu":
            x = config.to_mu(x)
        elif x is not None and f in MONEY_FIELDS:
            x = config.to_wan_yuan(x)
        if x is not None and not math.isfinite(x):   # finite as written, not in our unit (1e308 ha)
            problems.append(f"{f}: out of range: {raw.get(f)!r}")
            continue
        rec[f] = x
    ex = raw.get("exempt")
    ex_text = "" if _is_missing(ex) else str(ex).strip().lower()
    if ex_text not in _TRUE | _FALSE:
        problems.append(f"exempt: expected yes/no, got {ex!r}")
    rec["exempt"] = ex_text in _TRUE
    rec["updated_at"] = None
    if not _is_missing(raw.get("updated_at")):
        try:
            rec["updated_at"] = _timestamp(raw["updated_at"], config.timezone).isoformat()
        except (ValueError, TypeError):
            problems.append(f"updated_at: not a timestamp: {raw['updated_at']!r}")
    return (None, "; ".join(problems)) if problems else (rec, "")


def _newer(new: dict, old: dict) -> tuple[bool, str]:
    a, b = new.get("updated_at"), old.get("updated_at")
    if a and b:
        newer = pd.Timestamp(a) > pd.Timestamp(b)
        return newer, "newer updated_at" if newer else "not newer by updated_at"
    if a or b:
        return bool(a), "only one row has updated_at"
    return True, "later row in the file"


def parse_industry(content: bytes, config: IndustryFeedConfig | None = None, fmt: str | None = None) -> IndustryParseResult:
    """Parse one CSV or XLSX file (`fmt` "csv"/"xlsx", None = sniff the bytes)."""
    config = config or IndustryFeedConfig()
    table = _table(content, fmt, config.sheet)
    header_row, cols = _map_header(table, config)
    result = IndustryParseResult()
    kept: dict[tuple[str, str], int] = {}  # key -> position in result.records
    index_of: dict[int, int] = {}  # position in result.records -> data-row index
    for index, row in enumerate(table[header_row + 1:]):
        if isinstance(row, BadRow):
            result.rows_in += 1
            result.rejects.append({"index": index, "credit_code": None, "reason": row.reason, "excerpt": ""})
            continue
        raw = {f: (row[i] if i < len(row) else None) for i, f in cols.items()}
        if all(_is_missing(v) for v in raw.values()):
            continue  # blank line, not a record
        result.rows_in += 1
        try:
            rec, reason = _record(raw, config)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, ArithmeticError, RecursionError) as exc:
            rec, reason = None, f"cannot be read: {type(exc).__name__}: {str(exc)[:120]}"   # no check foresaw it
        if rec is None:
            given = raw.get("credit_code")
            code = normalize_credit_code(given) if isinstance(given, (str, int)) and not _is_missing(given) else None
            result.rejects.append({"index": index, "credit_code": code, "reason": reason, "excerpt": _excerpt(raw)})
            continue
        key = (rec["credit_code"], rec["period"])
        if key not in kept:
            kept[key] = len(result.records)
            index_of[kept[key]] = index
            result.records.append(rec)
            continue
        pos = kept[key]
        wins, why = _newer(rec, result.records[pos])
        note = {"credit_code": key[0], "period": key[1], "reason": why}
        if wins:
            note.update(kept_index=index, dropped_index=index_of[pos])
            result.records[pos], index_of[pos] = rec, index
        else:
            note.update(kept_index=index_of[pos], dropped_index=index)
        result.replaced.append(note)
    return result


def read_industry_file(path: str | Path, config: IndustryFeedConfig | None = None) -> IndustryParseResult:
    path = Path(path)
    fmt = {".xlsx": "xlsx", ".csv": "csv"}.get(path.suffix.lower())
    return parse_industry(path.read_bytes(), config, fmt)


"""The one writer of export files (CSV and XLSX), used by every export of the console.

Cells that came from a feed may look like formulas (`=HYPERLINK(…)`, `+1+cmd|…`, `@SUM(…)`).
Following OWASP's CSV-injection advice, a text cell starting with `=`, `+`, `-`, `@`, a tab
or a carriage return is written with a leading `'` in CSV, and every text cell of an XLSX is
written as a text cell (never a formula; the dangerous ones also carry Excel's quote prefix).
Numbers stay numbers: a negative number is not text and is written as the number it is.
"""

from __future__ import annotations

import io

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell made safe for a spreadsheet: a formula-looking text gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _texts(df: pd.DataFrame, fn) -> pd.DataFrame:
    out = df.copy()
    out.columns = [fn(c) if isinstance(c, str) else c for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(fn, na_action="ignore")
    return out


def csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese right; CRLF
    line ends (RFC 4180), so a cell holding a carriage return is quoted."""
    return _texts(df, neutralise).to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig")


def xlsx_bytes(df: pd.DataFrame, sheet: str = "export") -> bytes:
    """An XLSX whose text cells are text cells, whatever they start with."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        df.to_excel(xw, index=False, sheet_name=sheet[:31])
        ws = xw.sheets[sheet[:31]]
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"            # openpyxl marks "=…" as a formula otherwise
                    if cell.value.startswith(FORMULA_STARTS):
                        cell.quotePrefix = True
    return buf.getvalue()


def export_bytes(df: pd.DataFrame, fmt: str, sheet: str = "export") -> bytes:
    """`df` as `fmt` ("csv" or "xlsx"): the one function every export goes through."""
    if fmt == "xlsx":
        return xlsx_bytes(df, sheet)
    if fmt == "csv":
        return csv_bytes(df)
    raise ValueError(f"export format: expected csv or xlsx, got {fmt!r}")


class ExportRefused(PermissionError):
    """The viewer's role has no `export` permission (refused and audited)."""

    status = 403


def export_for(store, viewer, what: str, df: pd.DataFrame, fmt: str, filters: dict | None = None,
               masked: bool = True, sheet: str = "export") -> bytes:
    """The file of an export for `viewer`: refused (and audited) without the `export`
    permission; every export is audited with what, filters, rows and whether it was masked."""
    from dashboard.queries import audit

    base = {"who": viewer.user, "role": viewer.role, "via": viewer.via, "export": what, "format": fmt,
            "filters": filters or {}}
    if not viewer.export:
        audit.record(store, {"what": "refused", "action": "export", **base, "reason": "no export permission"})
        raise ExportRefused(f"export of {what}: this viewer may not export")
    data = export_bytes(df, fmt, sheet)
    audit.record(store, {"what": "export", **base, "rows": int(len(df)), "masked": bool(masked)})
    return data

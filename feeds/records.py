"""Canonical records: the one shape every ticket adapter produces, and its validation.

A record that fails validation becomes a `Reject` with the reason and an excerpt of the raw
input; it never takes the other records of its batch down with it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import orjson
import pandas as pd

from metrics.privacy import mask_record, scrub_text

SOURCES = ("hotline", "patrol", "app", "police", "open311", "other")
KINDS = ("event", "component")
URGENCIES = ("urgent", "normal", "complex")
STATUSES = ("reported", "registered", "dispatched", "handling", "verifying", "closed", "cancelled")
RATINGS = ("satisfied", "basic", "dissatisfied")
RESOLVED = ("yes", "no")

TIME_FIELDS = ("created_at", "dispatched_at", "first_response_at", "closed_at", "deadline_at", "updated_at")
TEXT_FIELDS = ("source", "kind", "category", "urgency", "grid_code", "department", "status",
               "rating", "resolved", "repeat_of", "caller_name", "caller_phone")
TICKET_FIELDS = ("ticket_id", "source", "kind", "category", "urgency", "grid_code", "lat", "lon",
                 "department", "status", "created_at", "dispatched_at", "first_response_at",
                 "closed_at", "deadline_at", "updated_at", "rating", "rating_excluded", "resolved",
                 "return_count", "repeat_of", "caller_name", "caller_phone")
PERSONAL_FIELDS = ("caller_name", "caller_phone")
EXCERPT_CHARS = 300


class RecordError(ValueError):
    """Why one input record cannot be used."""


@dataclass(frozen=True)
class Reject:
    index: int              # position of the item in its payload (0-based)
    reason: str
    excerpt: str            # the raw input, cut short, with personal data masked
    ticket_id: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def excerpt(raw: Any) -> str:
    """A short, printable, privacy-safe piece of the raw input for the rejects list."""
    if isinstance(raw, (dict, list)):
        raw = mask_record(raw)
        try:
            text = orjson.dumps(raw, default=str).decode()
        except TypeError:
            text = repr(raw)
    elif isinstance(raw, bytes):
        text = _masked_text(raw.decode("utf-8", "replace"))
    else:
        text = _masked_text(str(raw))
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"


def _masked_text(text: str) -> str:
    """A raw line (JSON or CSV text): masked field by field when it parses as JSON, else its
    phone numbers, e-mails and ID numbers masked (`metrics.privacy`)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return scrub_text(text)
    if isinstance(value, (dict, list)):
        return orjson.dumps(mask_record(value), default=str).decode()
    return scrub_text(text)


# Instants outside these UTC years cannot be a ticket's and would leave pandas' range later.
YEARS = (1900, 2199)
MAX_RETURNS = 1000


def parse_time(value: Any, name: str) -> str | None:
    """An ISO 8601 instant with an offset → canonical UTC string; empty → None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if not isinstance(value, str):
        raise RecordError(f"{name}: expected an ISO 8601 time with offset, got {value!r}")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(f"{name}: not an ISO 8601 time: {value!r}") from None
    if t.tzinfo is None:
        raise RecordError(f"{name}: time without a UTC offset (ambiguous): {value!r}")
    try:
        t = t.astimezone(timezone.utc)
    except OverflowError:
        t = None
    if t is None or not YEARS[0] <= t.year <= YEARS[1]:
        raise RecordError(f"{name}: expected a time in the years {YEARS[0]}..{YEARS[1]}, got {value!r}")
    # microseconds kept when there are any ("…:31.212428Z"), else whole seconds ("…:31Z")
    return t.isoformat(timespec="microseconds" if t.microsecond else "seconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = text.lower()
    if text not in allowed:
        raise RecordError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    return text


def _number(value: Any, name: str, lo: float, hi: float) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{name}: expected a number, got {value!r}") from None
    if math.isnan(x):
        return None
    if not lo <= x <= hi:
        raise RecordError(f"{name}: expected {lo}..{hi}, got {value!r}")
    return x


def _bool(value: Any, name: str) -> bool:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "t"):
        return True
    if text in ("false", "0", "no", "n", "f"):
        return False
    raise RecordError(f"{name}: expected true or false, got {value!r}")


def _count(value: Any, name: str) -> int:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return 0
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{name}: expected a whole number >= 0, got {value!r}") from None
    if not 0 <= x <= MAX_RETURNS or x != int(x):
        raise RecordError(f"{name}: expected a whole number 0..{MAX_RETURNS}, got {value!r}")
    return int(x)


def validate_ticket(raw: dict) -> dict:
    """Check one raw ticket (canonical field names) and return the canonical record."""
    if not isinstance(raw, dict):
        raise RecordError(f"expected an object with ticket fields, got {type(raw).__name__}")
    tid = _text(raw.get("ticket_id"))
    if tid is None:
        raise RecordError("ticket_id: missing")
    rec: dict[str, Any] = {"ticket_id": tid}
    for name in TIME_FIELDS:
        rec[name] = parse_time(raw.get(name), name)
    if rec["created_at"] is None:
        raise RecordError("created_at: missing")
    rec["source"] = _choice(raw.get("source"), "source", SOURCES) or "other"
    rec["kind"] = _choice(raw.get("kind"), "kind", KINDS)
    rec["urgency"] = _choice(raw.get("urgency"), "urgency", URGENCIES) or "normal"
    rec["status"] = _choice(raw.get("status"), "status", STATUSES)
    if rec["status"] is None:
        raise RecordError("status: missing")
    rec["rating"] = _choice(raw.get("rating"), "rating", RATINGS)
    rec["resolved"] = _choice(raw.get("resolved"), "resolved", RESOLVED)
    for name in ("category", "grid_code", "department", "repeat_of", "caller_name", "caller_phone"):
        rec[name] = _text(raw.get(name))
    rec["lat"] = _number(raw.get("lat"), "lat", -90, 90)
    rec["lon"] = _number(raw.get("lon"), "lon", -180, 180)
    if (rec["lat"] is None) != (rec["lon"] is None):
        raise RecordError("lat/lon: expected both or neither")
    rec["rating_excluded"] = _bool(raw.get("rating_excluded"), "rating_excluded")
    rec["return_count"] = _count(raw.get("return_count"), "return_count")
    if rec["status"] == "closed" and rec["closed_at"] is None:
        raise RecordError("closed_at: missing for a closed ticket")
    if rec["closed_at"] and rec["closed_at"] < rec["created_at"]:
        raise RecordError(f"closed_at: {rec['closed_at']} is before created_at {rec['created_at']}")
    if rec["updated_at"] is None:
        # the newest time the record carries stands for its version
        rec["updated_at"] = max(t for t in (rec[n] for n in TIME_FIELDS) if t)
    return rec


def validate_many(items: list[Any], start_index: int = 0) -> tuple[list[dict], list[Reject]]:
    """Validate a batch; bad items become rejects, good ones are kept."""
    records, rejects = [], []
    for i, raw in enumerate(items, start_index):
        try:
            records.append(validate_ticket(raw))
        except RecordError as exc:
            tid = _text(raw.get("ticket_id")) if isinstance(raw, dict) else None
            rejects.append(Reject(i, str(exc), excerpt(raw), tid))
    return records, rejects


def tickets_frame(records: list[dict]) -> pd.DataFrame:
    """Canonical records → the typed frame `metrics/` works on (UTC times, NaT for empty)."""
    columns = list(TICKET_FIELDS) + (["feed"] if records and "feed" in records[0] else [])
    df = pd.DataFrame.from_records(records, columns=columns)
    for name in TIME_FIELDS:
        df[name] = pd.to_datetime(df[name], utc=True, format="ISO8601")
    df["lat"] = pd.to_numeric(df["lat"], errors="coerce").astype("float64")
    df["lon"] = pd.to_numeric(df["lon"], errors="coerce").astype("float64")
    excluded = df["rating_excluded"].astype(object)       # (all empty: float NaN, which fillna(False) warns on)
    df["rating_excluded"] = excluded.where(excluded.notna(), False).astype(bool)
    df["return_count"] = pd.to_numeric(df["return_count"], errors="coerce").fillna(0).astype("int64")
    for name in TEXT_FIELDS:
        df[name] = df[name].astype(object).where(df[name].notna(), None)
    df["ticket_id"] = df["ticket_id"].astype(str)
    # withdrawn upstream (the source no longer serves it): kept, but in no population. Only
    # when a record says so: a frame of plain source records stays the canonical columns.
    if any("withdrawn_at" in r for r in records):
        df["withdrawn"] = np.fromiter((bool(r.get("withdrawn_at")) for r in records), dtype=bool,
                                      count=len(records))
    return df

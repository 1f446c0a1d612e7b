"""Shared builders for the ticket tests: a canonical ticket frame from a few dicts.

Times are ISO strings with an offset (UTC "Z" or "+08:00"), as the import files give them.
"""

from __future__ import annotations

import pandas as pd

from metrics.tickets import TicketRules, prepare

TIME_COLUMNS = ("created_at", "dispatched_at", "first_response_at", "closed_at",
                "deadline_at", "updated_at")
DEFAULTS = {
    "source": "hotline", "kind": "event", "category": "noise", "urgency": "normal",
    "grid_code": "G1", "lat": float("nan"), "lon": float("nan"), "department": "D1",
    "status": "handling", "rating": None, "rating_excluded": False, "resolved": None,
    "return_count": 0, "repeat_of": None, "caller_name": None, "caller_phone": None,
}


def frame(*rows: dict) -> pd.DataFrame:
    """Tickets with canonical columns and dtypes; missing fields take DEFAULTS / NaT."""
    recs = []
    for i, r in enumerate(rows):
        rec = {"ticket_id": r.get("ticket_id", f"T{i + 1}"), **DEFAULTS}
        rec.update({c: None for c in TIME_COLUMNS})
        rec.update(r)
        recs.append(rec)
    df = pd.DataFrame(recs)
    for c in TIME_COLUMNS:
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601").dt.as_unit("ns")
    df["rating_excluded"] = df["rating_excluded"].astype(bool)
    df["return_count"] = df["return_count"].astype(int)
    return df


def prepared(*rows: dict, rules: TicketRules | None = None, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    return prepare(frame(*rows), rules or TicketRules(), tz)


def ts(iso: str) -> pd.Timestamp:
    return pd.Timestamp(iso)


def test_frame_builder_keeps_instants() -> None:
    # 2026-11-20T10:00+08:00 is 02:00 UTC
    df = frame({"created_at": "2026-11-20T10:00:00+08:00"}, {"created_at": "2026-11-20T02:00:00Z"})
    assert df["created_at"].iloc[0] == df["created_at"].iloc[1]
    assert str(df["created_at"].dtype) == "datetime64[ns, UTC]"

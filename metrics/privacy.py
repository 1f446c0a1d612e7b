"""Masking of citizens' personal data (names, phone numbers).

Every screen, export and log shows personal data masked unless the viewer's role allows
it; the masking rule lives here, once.
"""

from __future__ import annotations

import re

import pandas as pd

_DIGITS = re.compile(r"\d")


def mask_name(name: str | None) -> str | None:
    """Keep the family name (first character): 张三丰 → 张**, 李四 → 李*."""
    if not name:
        return name
    name = str(name).strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """Keep the first 3 and last 4 digits of a mobile number: 13812345678 → 138****5678.

    Shorter numbers keep only their last 2 digits; every other digit becomes '*'.
    """
    if not phone:
        return phone
    phone = str(phone).strip()
    digits = _DIGITS.findall(phone)
    n = len(digits)
    keep_head, keep_tail = (3, 4) if n >= 11 else (0, 2)
    out, seen = [], 0
    for ch in phone:
        if ch.isdigit():
            keep = seen < keep_head or seen >= n - keep_tail
            out.append(ch if keep else "*")
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_frame(df: pd.DataFrame, columns=("caller_name", "caller_phone")) -> pd.DataFrame:
    """A copy of `df` with the personal columns masked (the others untouched)."""
    out = df.copy()
    if "caller_name" in columns and "caller_name" in out:
        out["caller_name"] = out["caller_name"].map(mask_name, na_action="ignore")
    if "caller_phone" in columns and "caller_phone" in out:
        out["caller_phone"] = out["caller_phone"].map(mask_phone, na_action="ignore")
    return out

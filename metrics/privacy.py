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


# -- every personal field of every format ------------------------------------------------------
# Field names (lower-cased, '-' and ' ' read as '_') that hold personal data in any feed format:
# canonical tickets, Open311 GeoReport v2 (first_name, last_name, phone, email, device_id,
# account_id), enterprise files (legal representative, contact), FIWARE/SensorThings notes.
NAME_FIELDS = frozenset({
    "caller_name", "first_name", "last_name", "full_name", "contact_name", "contact", "reporter",
    "reporter_name", "citizen_name", "legal_person", "legal_representative", "legal_rep", "owner_name",
    "acknowledged_by_name", "联系人", "姓名", "法定代表人", "法人代表", "来电人"})
PHONE_FIELDS = frozenset({
    "caller_phone", "phone", "phone_number", "mobile", "mobile_phone", "tel", "telephone", "contact_phone",
    "reporter_phone", "联系电话", "电话", "手机", "手机号"})
SECRET_FIELDS = frozenset({                   # masked whole: nothing of them is shown
    "email", "e_mail", "mail", "email_address", "id_number", "id_card", "id_card_number", "identity_card",
    "citizen_id", "sfz", "sfzh", "passport", "passport_number", "device_id", "account_id",
    "身份证", "身份证号", "邮箱", "电子邮件"})
TEXT_FIELDS = frozenset({                     # free text: phone numbers, e-mails, ID numbers inside it masked
    "description", "descr", "content", "comment", "comments", "note", "notes", "remark", "remarks",
    "status_notes", "address", "address_string", "描述", "内容", "备注", "诉求内容", "地址"})
PERSONAL_FIELDS = NAME_FIELDS | PHONE_FIELDS | SECRET_FIELDS | TEXT_FIELDS

# a match starts only where a run of local-part characters starts: the same matches, but a long
# run without "@" (an oversized field) is scanned once, not once per character (quadratic)
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)|(?<!\d)\d{15}(?!\d)")   # GB 11643 resident ID (18/15)
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(?:1[3-9]\d{9}|0\d{2,3}[- ]?\d{7,8})(?!\d)")


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def is_id_number(s: str) -> bool:
    """A resident ID number (GB 11643): 18 characters with a valid birth date and check
    character, or the old 15-digit form with a valid date (so credit codes and ticket ids
    that are merely long digit strings are not taken for one)."""
    from datetime import date
    s = s.upper()
    try:
        if len(s) == 18:
            born = date(int(s[6:10]), int(s[10:12]), int(s[12:14]))
            check = "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS)) % 11]
            return 1900 <= born.year <= 2100 and s[17] == check
        if len(s) == 15:
            date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12]))
            return True
    except ValueError:
        return False
    return False


def _field_key(key) -> str:
    return re.sub(r"[-\s]+", "_", str(key).strip().lower())


def scrub_text(text: str | None) -> str | None:
    """Free text with the phone numbers, e-mail addresses and ID numbers in it masked."""
    if not text or not isinstance(text, str):
        return text
    text = _EMAIL.sub(lambda m: "***@" + m.group(0).rsplit("@", 1)[1], text)
    text = _ID_NUMBER.sub(lambda m: (m.group(0)[:2] + "*" * (len(m.group(0)) - 2)) if is_id_number(m.group(0))
                          else m.group(0), text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


def mask_value(key, value):
    """`value` of field `key` masked when the field is personal (else unchanged)."""
    if not isinstance(value, str) or not value:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and _field_key(key) in PHONE_FIELDS | SECRET_FIELDS:
            return mask_phone(str(value)) if _field_key(key) in PHONE_FIELDS else "***"
        return value
    k = _field_key(key)
    if k in NAME_FIELDS:
        return mask_name(value)
    if k in PHONE_FIELDS:
        return mask_phone(value)
    if k in SECRET_FIELDS:
        return "***"
    if k in TEXT_FIELDS:
        return scrub_text(value)
    return value


def mask_record(obj):
    """Any raw input (dict, list, nested) with every personal field masked: the one masking
    function for rejects and logs of every feed format."""
    if isinstance(obj, dict):
        return {k: (mask_value(k, v) if not isinstance(v, (dict, list, tuple)) else mask_record(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [mask_record(v) for v in obj]
    if isinstance(obj, str):
        return scrub_text(obj)
    return obj

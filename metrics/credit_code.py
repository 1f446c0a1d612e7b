"""Unified social credit code (统一社会信用代码), GB 32100-2015.

Structure of the 18 characters:
  1      registration authority (登记管理部门代码)
  2      institution category (机构类别代码)
  3-8    administrative division of the registering office (GB/T 2260, digits)
  9-17   subject identifier = organisation code (GB 11714, its own check at 17)
  18     check character

Character set: 0-9 and the capitals A-H J-N P-R T-U W-Y (no I, O, S, V, Z), valued
0..30 in that order. Weight of position i (1-based) is 3^(i-1) mod 31; the check
character is the one valued (31 - Σ value·weight mod 31) mod 31.
"""

from __future__ import annotations

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {ch: i for i, ch in enumerate(CHARSET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, 17, 20, ...

# GB 11714 organisation code: 8 body characters (digits, A-Z valued 10..35), weights below,
# check = 11 - (Σ mod 11), written "X" for 10 and "0" for 11.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_VALUES = {ch: i for i, ch in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}


def check_char(body: str) -> str:
    """The GB 32100 check character of the first 17 characters."""
    if len(body) != 17 or any(ch not in VALUES for ch in body):
        raise ValueError(f"body: expected 17 characters of {CHARSET}, got {body!r}")
    total = sum(VALUES[ch] * w for ch, w in zip(body, WEIGHTS))
    return CHARSET[(31 - total % 31) % 31]


def org_check_char(body8: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    total = sum(_ORG_VALUES[ch] * w for ch, w in zip(body8, _ORG_WEIGHTS))
    c = 11 - total % 11
    return {10: "X", 11: "0"}.get(c, str(c))


def normalize_credit_code(raw: object) -> str:
    """Strip spaces and upper-case; everything else is left for the check to judge."""
    if raw is None:
        return ""
    return "".join(str(raw).split()).upper()


def credit_code_problem(code: str, *, org_check: bool = False) -> str | None:
    """Why `code` is not a valid unified social credit code, or None when it is.

    `org_check` also verifies the embedded GB 11714 organisation-code check character
    (position 17); off by default, since GB 32100 itself only fixes position 18.
    """
    if len(code) != 18:
        return f"credit code: length {len(code)}, expected 18"
    bad = sorted({ch for ch in code if ch not in VALUES})
    if bad:
        return f"credit code: characters not allowed by GB 32100: {''.join(bad)}"
    if not code[2:8].isdigit():
        return f"credit code: positions 3-8 (division code) must be digits, got {code[2:8]}"
    expected = check_char(code[:17])
    if code[17] != expected:
        return f"credit code: check character is {code[17]}, expected {expected}"
    if org_check:
        org = org_check_char(code[8:16])
        if code[16] != org:
            return f"credit code: organisation-code check (position 17) is {code[16]}, expected {org}"
    return None


def is_valid_credit_code(code: str, *, org_check: bool = False) -> bool:
    return credit_code_problem(code, org_check=org_check) is None

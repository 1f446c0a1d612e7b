"""ISO 8601 times of many cells at once, as UTC microseconds (numpy), for the fast ticket path
(a fraction of a second is kept to the microsecond, as `feeds.records.parse_time` keeps it).

Only the shapes below are read; anything else is "not read", for `feeds.records.parse_time`
to decide (the per-row rules stay the only rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from feeds.records import YEARS

NAT = np.iinfo(np.int64).min          # "no time" in the arrays of UTC microseconds
US = 1_000_000
# The shapes read vectorised: YYYY-MM-DD, "T" or " ", HH:MM:SS, optionally "." and 1 to 6
# digits, then "Z", "z" or ±HH:MM, no blanks around; "" is no time. Anything else — and a
# shape that is no real time (02-30, 24:00, +24:00) — is left to parse_time.
_SHAPES = range(20, 33)         # lengths: ...SSZ (20) to ...SS.ffffff+08:00 (32)


def fast_times(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(UTC microseconds, read) of each text (an object array of str) in the shapes above;
    "" reads as NAT."""
    def chars(rows: np.ndarray, length: int) -> np.ndarray | None:
        try:
            data = "".join(texts[rows]).encode("ascii")
        except UnicodeEncodeError:
            return None    # parse_time says what those are
        return np.frombuffer(data, dtype=np.uint8).reshape(len(rows), length)

    return _read_shapes(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)), chars)


@dataclass
class ByteCells:
    """One column of a CSV as spans of its UTF-8 bytes: a text is made only when asked for."""
    chars: np.ndarray       # all the bytes (uint8)
    starts: np.ndarray
    ends: np.ndarray

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, row: int) -> str:
        return self.chars[self.starts[row]:self.ends[row]].tobytes().decode("utf-8")

    def fast_times(self) -> tuple[np.ndarray, np.ndarray]:
        """fast_times of the cells, read from the bytes."""
        def chars(rows: np.ndarray, length: int) -> np.ndarray:
            windows = np.lib.stride_tricks.sliding_window_view(self.chars, length)
            return windows[self.starts[rows]]

        return _read_shapes(self.ends - self.starts, chars)


def _read_shapes(lengths: np.ndarray, chars: Callable[[np.ndarray, int], np.ndarray | None]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(UTC microseconds, read) of times of these lengths; chars(rows, length) gives the
    rows' character codes (None: not ASCII). Length 0 reads as NAT."""
    n = len(lengths)
    seconds = np.full(n, NAT, dtype=np.int64)
    good = lengths == 0
    counts = np.bincount(np.minimum(lengths, _SHAPES.stop), minlength=_SHAPES.stop + 1)
    for length in _SHAPES:
        if not counts[length]:
            continue
        rows = np.arange(n) if counts[length] == n else np.flatnonzero(lengths == length)
        codes = chars(rows, length)
        if codes is None:
            continue
        secs, read = _parse_chars(codes)
        seconds[rows[read]] = secs[read]
        good[rows[read]] = True
    return seconds, good


# A shape is a template: D a digit, T "T" or " ", Z "Z" or "z", S "+" or "-", others literal.
_DATE_TIME = "DDDD-DD-DDTDD:DD:DD"
_UTC, _OFFSET = "Z", "SDD:DD"
_EITHER = {"T": b"T ", "Z": b"Zz", "S": b"+-"}


def _template(length: int, zone: str) -> str | None:
    """The shape of `length` characters ending in `zone`; None if there is none."""
    fraction = length - len(_DATE_TIME) - len(zone)
    if fraction == 0:
        return _DATE_TIME + zone
    if 2 <= fraction <= 7:
        return _DATE_TIME + "." + "D" * (fraction - 1) + zone
    return None


def _matches(c: np.ndarray, digits: np.ndarray, template: str | None) -> np.ndarray:
    """Rows of character codes that have the template's shape."""
    if template is None:
        return np.zeros(len(c), dtype=bool)
    ok = (digits[:, [j for j, t in enumerate(template) if t == "D"]] < 10).all(axis=1)
    for j, t in enumerate(template):
        if t in _EITHER:
            a, b = _EITHER[t]
            ok &= (c[:, j] == a) | (c[:, j] == b)
        elif t != "D":
            ok &= c[:, j] == ord(t)
    return ok


def _parse_chars(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ASCII codes, all of one length -> (UTC microseconds, read)."""
    length = c.shape[1]
    digits = c - np.uint8(ord("0"))        # a digit becomes 0..9, anything else more (wraps round)
    utc = _matches(c, digits, _template(length, _UTC))
    zoned = _matches(c, digits, _template(length, _OFFSET))
    offset = np.zeros(len(c), dtype=np.int64)
    if zoned.any():
        hours, minutes = _number_at(digits, length - 5, 2), _number_at(digits, length - 2, 2)
        zoned &= (hours <= 23) & (minutes <= 59)
        east = np.where(c[:, length - 6] == ord("-"), -1, 1)
        offset = np.where(zoned, east * (hours * 3600 + minutes * 60), 0)
    read = utc | zoned

    year, month, day = _number_at(digits, 0, 4), _number_at(digits, 5, 2), _number_at(digits, 8, 2)
    hour, minute, second = _number_at(digits, 11, 2), _number_at(digits, 14, 2), _number_at(digits, 17, 2)
    # the first and last allowed years may leave the range once moved to UTC: parse_time decides
    read &= (year > YEARS[0]) & (year < YEARS[1]) & (month >= 1) & (month <= 12)
    month = np.clip(month, 1, 12)
    read &= (day >= 1) & (day <= _days_in_month(year, month))
    read &= (hour <= 23) & (minute <= 59) & (second <= 59)
    days = _days_from_civil(year, month, day)
    seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
    return seconds * US + _fraction_us(digits, utc, length), read


def _fraction_us(digits: np.ndarray, utc: np.ndarray, length: int) -> np.ndarray:
    """The ".f" to ".ffffff" part of each row, in microseconds (0 when there is none); the
    fraction's width depends on the zone's (Z: 1 character, ±HH:MM: 6)."""
    out = np.zeros(len(digits), dtype=np.int64)
    for zone_len, rows in ((1, utc), (6, ~utc)):
        width = length - len(_DATE_TIME) - zone_len - 1
        if 1 <= width <= 6 and rows.any():
            out = np.where(rows, _number_at(digits, len(_DATE_TIME) + 1, width) * 10 ** (6 - width), out)
    return out


def _number_at(digits: np.ndarray, start: int, width: int) -> np.ndarray:
    """The decimal number in columns start .. start + width - 1 of each row (if digits)."""
    out = digits[:, start].astype(np.int64)
    for j in range(start + 1, start + width):
        out = out * 10 + digits[:, j]
    return out


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    table = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    return table[month] + ((month == 2) & leap)


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468

"""OData query options of the demo's SensorThings view (`feeds/demo/sensors/sensorthings.py`):
`$top`, `$skip`, `$skiptoken`, `$count`, `$orderby`, `$filter` (comparisons joined by `and`)
and `$expand` (with a nested `$select` and/or a nested `$expand`, separated by `;`, e.g.
`Thing($expand=Locations)`), checked (`sta_query`; anything else is
a `StaError` with its HTTP status), and server-driven paging (`sta_page`, `sta_next_link`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable
from urllib.parse import quote, urlencode

STA_TOP_DEFAULT, STA_TOP_MAX = 100, 1000
STA_EXPAND = {   # entity set → its navigation properties that $expand serves → their entity set
    "Observations": {"Datastream": "Datastreams"},
    "Datastreams": {"Thing": "Things", "Sensor": "Sensors", "ObservedProperty": "ObservedProperties"},
    "Things": {"Locations": "Locations", "Datastreams": "Datastreams"},
}
STA_SELECT = {   # what a nested $select names, besides id and selfLink (e.g. `Datastream($select=id)`)
    "Things": ("name", "description", "properties"),
    "Locations": ("name", "description", "encodingType", "location"),
    "Datastreams": ("name", "description", "unitOfMeasurement", "observationType", "properties"),
    "Sensors": ("name", "description", "encodingType", "metadata"),
    "ObservedProperties": ("name", "definition", "description"),
}
STA_OPTIONS = {"$top", "$skip", "$skiptoken", "$count", "$orderby", "$filter", "$expand"}
_STA_EXPAND_ITEM = re.compile(r"^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$", re.S)
_STA_TERM = re.compile(r"^\(*\s*(phenomenonTime|resultTime|result|id|@iot\.id)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*\)*$")
_STA_OPS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge,
            "lt": operator.lt, "le": operator.le}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LINK_SAFE = "$,():='"   # left as they are in a nextLink's query, for readability


@dataclass(frozen=True)
class Nested:
    """The options of one expanded navigation property: a nested $select (None: every
    property) and a nested $expand (navigation property → Nested)."""

    select: tuple[str, ...] | None = None
    expand: Mapping = field(default_factory=dict)


class StaError(Exception):
    """A request the SensorThings view refuses: `code` is the HTTP status."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class StaQuery:
    """The query options of one request, checked."""

    top: int = STA_TOP_DEFAULT
    skip: int = 0
    after: tuple | None = None        # $skiptoken: the sort key the previous page ended with
    count: bool = False
    desc: bool = False
    by_time: bool = False             # ordered by phenomenonTime (then @iot.id), else by @iot.id
    expand: Mapping = field(default_factory=dict)   # navigation property → its Nested options
    where: tuple = ()                 # predicates on a buffered reading (Observations only)

    def key(self, entity_set: str) -> Callable[[object], tuple]:
        """The sort key of an item of `entity_set` in this order (what a $skiptoken holds)."""
        if entity_set != "Observations":
            return lambda n: (n,)
        if self.by_time:
            return lambda r: (r["ms"], r["obs_id"])
        return lambda r: (r["obs_id"],)


def sta_query(params: dict[str, str], entity_set: str, top_max: int = STA_TOP_MAX) -> StaQuery:
    """The query options of a request on `entity_set`; unknown or unsupported ones raise StaError."""
    unknown = sorted(k for k in params if k.startswith("$") and k not in STA_OPTIONS)
    if unknown:
        raise StaError(501, f"query option {unknown[0]} is not implemented by the demo server")
    by_time, desc = _ordering(params.get("$orderby", ""), entity_set)
    return StaQuery(top=min(_whole(params, "$top", STA_TOP_DEFAULT), top_max), skip=_whole(params, "$skip", 0),
                    after=_skiptoken(params.get("$skiptoken"), 2 if by_time else 1), count=_flag(params, "$count"),
                    desc=desc, by_time=by_time, expand=_expand(params.get("$expand", ""), entity_set),
                    where=_where(params.get("$filter", ""), entity_set))


def _whole(params: dict[str, str], name: str, default: int | None) -> int | None:
    text = params.get(name)
    if text is None:
        return default
    if not text.strip().isdigit():
        raise StaError(400, f"{name}: expected a whole number >= 0, got {text!r}")
    return int(text)


def _flag(params: dict[str, str], name: str) -> bool:
    text = params.get(name, "false").strip().lower()
    if text not in ("true", "false"):
        raise StaError(400, f"{name}: expected true or false, got {text!r}")
    return text == "true"


def _skiptoken(text: str | None, size: int) -> tuple | None:
    """A `$skiptoken` of an @iot.nextLink: `size` whole numbers joined by '_'."""
    if text is None:
        return None
    parts = text.strip().split("_")
    if len(parts) != size or not all(p.isdigit() for p in parts):
        raise StaError(400, f"$skiptoken: expected the token of an @iot.nextLink of this request, got {text!r}")
    return tuple(int(p) for p in parts)


def _ordering(text: str, entity_set: str) -> tuple[bool, bool]:
    """`$orderby` → (by phenomenonTime, descending). The first key decides; @iot.id breaks ties
    (phenomenonTime and resultTime are the same instant here)."""
    time_keys = {"phenomenonTime", "resultTime"} if entity_set == "Observations" else set()
    keys = {"id", "@iot.id"} | time_keys
    names, ways = [], set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, way = part.partition(" ")
        way = way.strip().lower() or "asc"
        if name not in keys or way not in ("asc", "desc"):
            raise StaError(501, f"$orderby {part!r}: the demo server orders {entity_set} by "
                                f"{' or '.join(sorted(keys))}, asc or desc")
        names.append(name)
        ways.add(way)
    if len(ways) > 1:
        raise StaError(501, "$orderby: mixed directions are not implemented by the demo server")
    return bool(names) and names[0] in time_keys, ways == {"desc"}


def _expand(text: str, entity_set: str, depth: int = 0) -> dict[str, Nested]:
    """`$expand`: navigation properties, each with optional nested options
    `($select=…;$expand=…)` (at most two levels deep)."""
    allowed = STA_EXPAND.get(entity_set, {})
    out: dict[str, Nested] = {}
    for part in _split_outside_parentheses(text):
        m = _STA_EXPAND_ITEM.match(part)
        if not m or m[1] not in allowed or depth > 1:
            raise StaError(501, f"$expand={part.strip()} on {entity_set}: the demo server expands "
                                f"{', '.join(sorted(allowed)) or 'nothing'} there (two levels at most; of the "
                                f"nested options, $select and $expand only)")
        out[m[1]] = Nested() if m[2] is None else _nested(m[2], allowed[m[1]], part.strip(), depth)
    return out


def _nested(options: str, target_set: str, part: str, depth: int) -> Nested:
    """The nested options of one expanded property: `$select=…` and `$expand=…`, `;`-separated."""
    select, expand = None, {}
    for option in _split_outside_parentheses(options, sep=";"):
        name = option.partition("=")[0].strip()
        if name == "$select":
            select = _nested_select(option, target_set, part)
        elif name == "$expand":
            expand = _expand(option.partition("=")[2], target_set, depth + 1)
        else:
            raise StaError(501, f"$expand={part}: of the nested query options the demo server implements "
                                f"$select and $expand only")
    return Nested(select, expand)


def _split_outside_parentheses(text: str, sep: str = ",") -> list[str]:
    """`text` split at the `sep` that are not inside parentheses (empty parts dropped)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise StaError(400, f"$expand {text!r}: unbalanced parentheses")
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _nested_select(options: str, target_set: str, part: str) -> tuple[str, ...]:
    """The properties a nested `$select=a,b` keeps of an expanded entity."""
    name, _, value = options.partition("=")
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    known = ("id", "selfLink") + STA_SELECT[target_set]
    bad = [n for n in names if n not in known] or ([] if names else ["(none)"])
    if bad:
        raise StaError(400, f"$expand={part}: $select {bad[0]!r} is not a property of {target_set} "
                            f"(expected {', '.join(known)})")
    return names


def select_props(entity: dict, names: "tuple[str, ...] | Nested | None") -> dict:
    """An expanded entity with only the properties a nested $select names (all when None)."""
    if isinstance(names, Nested):
        names = names.select
    if names is None:
        return entity
    control = {"id": "@iot.id", "selfLink": "@iot.selfLink"}
    return {control.get(n, n): entity.get(control.get(n, n)) for n in names}


def _where(text: str, entity_set: str) -> tuple:
    """`$filter` as predicates: comparisons of phenomenonTime, result or id joined by `and`."""
    if not text.strip():
        return ()
    if entity_set != "Observations":
        raise StaError(501, "$filter is implemented on Observations only")
    if re.search(r"\s(or|not)\s|^not\s|\w\(", text):
        raise StaError(501, f"$filter {text!r}: the demo server implements comparisons joined by 'and' only "
                            f"(no or, not or functions)")
    out = []
    for term in re.split(r"\s+and\s+", text.strip()):
        m = _STA_TERM.match(term)
        if not m:
            raise StaError(501, f"$filter {term!r}: the demo server compares phenomenonTime, resultTime, result "
                                f"or id (eq, ne, gt, ge, lt, le), terms joined by 'and'")
        out.append(_predicate(*m.groups()))
    return tuple(out)


def _predicate(name: str, op: str, literal: str) -> Callable[[dict], bool]:
    cmp = _STA_OPS[op]
    if name in ("phenomenonTime", "resultTime"):
        at_us = _time_literal(literal)
        return lambda r: cmp(r["ms"] * 1000, at_us)
    try:
        number = float(literal) if name == "result" else int(literal)
    except ValueError:
        raise StaError(400, f"$filter: {name} needs a number, got {literal!r}") from None
    if name == "result":
        return lambda r: not r["bad"] and cmp(r["value"], number)
    return lambda r: cmp(r["obs_id"], number)


def _time_literal(text: str) -> int:
    """An ISO 8601 time with offset (quoted or not; a '+' sent unencoded arrives as a space) → µs."""
    text = text.strip().strip("'").replace(" ", "+")
    try:
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise StaError(400, f"$filter: not an ISO 8601 time: {text!r}") from None
    if at.tzinfo is None:
        raise StaError(400, f"$filter: the time {text!r} needs a UTC offset")
    return (at - _EPOCH) // timedelta(microseconds=1)


def sta_page(items: list, key: Callable[[object], tuple], q: StaQuery) -> tuple[list, int, tuple | None]:
    """(the page, how many match, the sort key to continue after or None) of `items` (in
    ascending @iot.id) in the order `key` gives (ascending, or descending with `q.desc`)."""
    rows = [it for it in items if all(w(it) for w in q.where)]
    rows.sort(key=key, reverse=q.desc)   # nearly in order already: a late arrival is out of place
    count = len(rows)
    if q.after is not None:
        rows = [it for it in rows if (key(it) < q.after if q.desc else key(it) > q.after)]
    rows = rows[q.skip:]
    page = rows[:q.top]
    return page, count, key(page[-1]) if len(rows) > q.top and page else None


def sta_next_link(url: str, params: dict[str, str], top: int, after: tuple) -> str:
    """The request again, continuing after the sort key `after` (no $skip: it applied to the
    first page)."""
    keep = {k: v for k, v in params.items() if k not in ("$skip", "$skiptoken", "$top")}
    keep.update({"$top": str(top), "$skiptoken": "_".join(str(k) for k in after)})
    return f"{url}?{urlencode(keep, quote_via=quote, safe=_LINK_SAFE)}"

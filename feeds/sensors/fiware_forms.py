"""Recognising and unwrapping the NGSI forms of FIWARE entities.

Four forms carry the same Smart Data Model entity:
- NGSI v2 key-values: `"severity": "high"`, `"location": {"type": "Point", ...}`;
- NGSI v2 normalized: `"severity": {"type": "Text", "value": "high"}`, relationships
  `{"type": "Relationship", "value": "urn:..."}`, units in `metadata.unitCode.value`;
- NGSI-LD normalized: `{"type": "Property", "value": ...}`, `{"type": "Relationship",
  "object": "urn:..."}`, `{"type": "GeoProperty", "value": {GeoJSON}}`, units in the
  property's `unitCode`, times possibly as `{"@type": "DateTime", "@value": ...}`;
- NGSI-LD key-values (concise/simplified): plain values and an `@context`.
The form is recognised from the entity itself; `plain()` turns any of them into
key-values so the adapters read one shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Form = Literal["ngsi-v2-keyvalues", "ngsi-v2-normalized", "ngsi-ld-keyvalues", "ngsi-ld-normalized"]

_META = {"id", "type", "@context"}
_LD_TYPES = {"Property", "GeoProperty", "LanguageProperty", "VocabProperty", "ListProperty"}
_ATTR_KEYS = {"type", "value", "object", "metadata", "observedAt", "unitCode", "datasetId",
              "createdAt", "modifiedAt", "instanceId", "@context"}


def _is_attr(x: object) -> bool:
    """A normalized attribute: `{"type": T, "value"|"object": ...}` with only attribute keys."""
    return isinstance(x, Mapping) and "type" in x and ("value" in x or "object" in x) \
        and set(x) <= _ATTR_KEYS


def form_of(entity: Mapping) -> Form:
    """Which NGSI form an entity is written in."""
    attrs = [v for k, v in entity.items() if k not in _META]
    normalized = bool(attrs) and all(
        _is_attr(v) or (isinstance(v, list) and v and all(_is_attr(i) for i in v)) for v in attrs)
    # "Relationship" does not tell: the official v2 examples write `{"type": "Relationship",
    # "object": ...}` too; plain v2 types (Text, Number, DateTime, geo:json) never say Property
    ld = "@context" in entity or any(isinstance(v, Mapping) and v.get("type") in _LD_TYPES for v in attrs)
    if ld:
        return "ngsi-ld-normalized" if normalized else "ngsi-ld-keyvalues"
    return "ngsi-v2-normalized" if normalized else "ngsi-v2-keyvalues"


MAX_DEPTH = 64   # no Smart Data Model nests values this deep; a deeper one is refused, not recursed into


class TooDeep(ValueError):
    """A value nested deeper than `MAX_DEPTH`."""


def plain(x: object, depth: int = 0) -> object:
    """Any form's value as a key-values value (recursively unwrapping attributes); raises
    `TooDeep` for a value nested more than `MAX_DEPTH` levels."""
    if depth > MAX_DEPTH:
        raise TooDeep(f"a value is nested more than {MAX_DEPTH} levels deep")
    if isinstance(x, Mapping):
        if "@value" in x:
            return plain(x["@value"], depth + 1)
        if _is_attr(x):
            return plain(x["value"] if "value" in x else x["object"], depth + 1)
        return {k: plain(v, depth + 1) for k, v in x.items()}
    if isinstance(x, list):
        return [plain(v, depth + 1) for v in x]
    return x


def unit_code(entity: Mapping, name: str) -> str | None:
    """The unit carried on attribute `name` itself (LD `unitCode`, v2 `metadata.unitCode`)."""
    attr = entity.get(name)
    if not isinstance(attr, Mapping):
        return None
    if isinstance(attr.get("unitCode"), str):
        return attr["unitCode"]
    meta = attr.get("metadata")
    if isinstance(meta, Mapping) and meta.get("unitCode") is not None:
        code = plain(meta["unitCode"])
        return code if isinstance(code, str) else None
    return None


def observed_at(entity: Mapping, name: str) -> object:
    """NGSI-LD `observedAt` of attribute `name`, if any."""
    attr = entity.get(name)
    return attr.get("observedAt") if isinstance(attr, Mapping) else None


def short_type(t: object) -> str:
    """`Anomaly` from `Anomaly` or an expanded `https://.../Anomaly` (LD without context)."""
    text = str(t or "")
    return text.rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def entities_of(doc: object) -> list:
    """The entities of a payload: one entity, an array, or an NGSI notification (`data`)."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, Mapping):
        if "subscriptionId" in doc and isinstance(doc.get("data"), list):
            return doc["data"]
        if "@graph" in doc and isinstance(doc["@graph"], list):
            return doc["@graph"]
        return [doc]
    from feeds.sensors.records import FeedFormatError
    raise FeedFormatError(f"expected an NGSI entity or an array of entities, got {type(doc).__name__}")

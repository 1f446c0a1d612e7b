"""Settings of one sensor feed (settings section `[feeds.sensors]`, or one per utility).

Common to every format: which coordinate system positions arrive in, the city's
bounding box, a default network, how the feed's quantity names map to ours, the units
it uses when a payload gives none, and how to read times without an offset. Each format
has its own nested block: `json` (a utility's own JSON), `fiware`, `sensorthings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

NETWORK_CHOICES = ("", "gas", "water", "heating")


def _default_kind_map() -> dict[str, str]:
    return {
        "pressure": "pressure", "waterpressure": "pressure", "gaspressure": "pressure",
        "temperature": "temperature", "watertemperature": "temperature", "supplytemperature": "temperature",
        "methane": "gas_concentration", "ch4": "gas_concentration", "gasconcentration": "gas_concentration",
        "gas_concentration": "gas_concentration", "combustiblegas": "gas_concentration",
        "flow": "flow", "waterflow": "flow", "flowrate": "flow",
    }


@dataclass(frozen=True)
class JsonFormat:
    """A utility's own JSON: where the items are and where each canonical field sits.

    items_path: dotted path to the list of readings ("" = the document itself is a list,
        or one object). fields: canonical name → dotted path inside one item; names are
        sensor_id, value, unit, observed_at, kind, network, lon, lat (the first four are
        required unless the feed settings supply them). time_format: how observed_at is
        written: ISO 8601, or Unix seconds / milliseconds.
    """

    items_path: str = ""
    fields: dict[str, str] = field(default_factory=lambda: {
        "sensor_id": "sensor_id", "value": "value", "unit": "unit", "observed_at": "observed_at",
        "kind": "kind", "network": "network", "lon": "lon", "lat": "lat"})
    time_format: Literal["iso", "epoch_s", "epoch_ms"] = "iso"

    def __post_init__(self) -> None:
        missing = [k for k in ("sensor_id", "value", "observed_at") if not self.fields.get(k)]
        if missing:
            raise ValueError(f"fields: expected paths for sensor_id, value and observed_at, missing {missing}")
        if self.time_format not in ("iso", "epoch_s", "epoch_ms"):
            raise ValueError(f"time_format: expected iso, epoch_s or epoch_ms, got {self.time_format!r}")


@dataclass(frozen=True)
class FiwareFormat:
    """FIWARE Alert / Anomaly / DeviceMeasurement options.

    severity_levels: Alert `severity` → level (an unlisted severity is rejected).
    alert_networks: Alert `category` or `subCategory` → network, when the feed has no
        single network. id_last_segment: use the last ":"-separated part of URN ids
        (`urn:ngsi-ld:Device:gm-17` → `gm-17`) for sensor ids.
    feed_alarm_level: the level of an Anomaly whose value our own thresholds do not flag.
    """

    severity_levels: dict[str, int] = field(
        default_factory=lambda: {"critical": 1, "high": 2, "medium": 3, "low": 4})
    alert_networks: dict[str, str] = field(default_factory=dict)
    id_last_segment: bool = False
    feed_alarm_level: int = 4

    def __post_init__(self) -> None:
        bad = {k: v for k, v in self.severity_levels.items() if v not in (1, 2, 3, 4)}
        if bad:
            raise ValueError(f"severity_levels: expected levels 1–4, got {bad}")
        bad_n = {k: v for k, v in self.alert_networks.items() if v not in NETWORK_CHOICES[1:]}
        if bad_n:
            raise ValueError(f"alert_networks: expected gas, water or heating, got {bad_n}")
        if self.feed_alarm_level not in (1, 2, 3, 4):
            raise ValueError(f"feed_alarm_level: expected 1–4, got {self.feed_alarm_level}")


@dataclass(frozen=True)
class Datastream:
    """What one SensorThings Datastream measures, in our terms (unit "" = take the
    Datastream's own unitOfMeasurement.symbol when the payload carries it)."""

    id: str
    sensor_id: str
    network: Literal["gas", "water", "heating"]
    kind: str
    unit: str = ""

    def __post_init__(self) -> None:
        if not self.id or not self.sensor_id or not self.kind:
            raise ValueError(f"id: expected id, sensor_id and kind, got {self.id!r}, {self.sensor_id!r}, {self.kind!r}")
        if self.network not in NETWORK_CHOICES[1:]:
            raise ValueError(f"network: expected gas, water or heating, got {self.network!r}")


SENSORTHINGS_MODES = ("datastreams", "observations")
MAX_OVERLAP_S = 86400.0


@dataclass(frozen=True)
class SensorThingsFormat:
    """SensorThings v1.1: the base URL, the Datastreams to read, a page cap per fetch.

    mode: how a poll collects Observations.
        "datastreams": one paged request per configured Datastream
            (`Datastreams(id)/Observations`), each from its own cursor (the newest
            phenomenonTime read from it) — exact, but one GET per Datastream a poll.
        "observations": one paged request for all of them (`/Observations` with the
            Datastream expanded), from the newest phenomenonTime read minus `overlap_s`;
            Observations read already within that window are dropped. A few GETs a poll,
            whatever the number of Datastreams; an Observation that reaches the server
            more than `overlap_s` after a newer one was read is missed (docs/FORMATS.md).
    overlap_s: how far back ("observations" mode) each poll re-reads, for late arrivals.
    first_lookback_s: how far back the very first poll reads (a server may hold years of
        Observations; the alarm engine needs the recent ones). 0 = everything it has.
    datastreams: listed by hand (then nothing is discovered); empty (the default) = the
        Datastreams are discovered from the server (`Datastreams?$expand=Thing($expand=
        Locations),ObservedProperty,Sensor`, `feeds/sensors/sensorthings_discover.py`), again every
        `discover_every_s`; the sensors and their positions come from the Things' Locations.
    kinds: ObservedProperty name → our kind (exact names; others go through `kind_map`).
    network_property: the Thing property that names a sensor's network ("" = the feed's
        `network` for all).
    reconcile_window_s: the trailing window over which each Datastream's `@iot.count` is
        compared with the Observations the feed took, to find late arrivals (re-read when
        the server has more); 0 = no reconciliation. It must lie within what the server keeps.
    reconcile_bucket_s: the feed remembers how many Observations it took per Datastream
        and per bucket of this many seconds; windows are cut on bucket boundaries.
    reconcile_per_poll: how many Datastreams a poll counts one by one when the whole
        window's count differs (rotating, so every one is counted within a few polls).
    """

    base_url: str = ""
    datastreams: list[Datastream] = field(default_factory=list)
    page_cap: int = 20
    timeout_s: float = 10.0
    mode: Literal["datastreams", "observations"] = "datastreams"
    overlap_s: float = 120.0
    first_lookback_s: float = 3600.0
    kinds: dict[str, str] = field(default_factory=dict)
    network_property: str = ""
    discover_every_s: float = 600.0
    reconcile_window_s: float = 86400.0
    reconcile_bucket_s: float = 60.0
    reconcile_per_poll: int = 50

    def __post_init__(self) -> None:
        if self.reconcile_window_s < 0 or self.reconcile_bucket_s <= 0 or self.reconcile_per_poll < 1:
            raise ValueError(f"reconcile_window_s: expected a window >= 0 s, a bucket > 0 s and at least one "
                             f"Datastream a poll, got {self.reconcile_window_s}, {self.reconcile_bucket_s}, "
                             f"{self.reconcile_per_poll}")
        if self.discover_every_s <= 0:
            raise ValueError(f"discover_every_s: expected positive seconds, got {self.discover_every_s}")
        if self.page_cap < 1:
            raise ValueError(f"page_cap: expected a positive number of pages, got {self.page_cap}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s: expected positive seconds, got {self.timeout_s}")
        if self.mode not in SENSORTHINGS_MODES:
            raise ValueError(f"mode: expected datastreams or observations, got {self.mode!r}")
        if not 0 <= self.overlap_s <= MAX_OVERLAP_S:
            raise ValueError(f"overlap_s: expected 0..{MAX_OVERLAP_S:.0f} seconds, got {self.overlap_s}")
        if self.first_lookback_s < 0:
            raise ValueError(f"first_lookback_s: expected seconds >= 0 (0 = everything), got {self.first_lookback_s}")

    @cached_property
    def by_id(self) -> dict[str, Datastream]:
        """The configured Datastreams by id (an Observations page names thousands of them)."""
        return {ds.id: ds for ds in self.datastreams}


@dataclass(frozen=True)
class SensorFeedSettings:
    """One sensor feed.

    coord_system: the system positions arrive in; stored positions are WGS-84.
    bbox: [min_lon, min_lat, max_lon, max_lat] of the city in WGS-84; a position outside
        is rejected. Empty: only the WGS-84 range is checked.
    network: the network of every reading of this feed ("" = from payload or registry).
    kind_map: the feed's quantity names (lower-cased, "_", "-" and spaces ignored) → ours.
    units_by_kind: the unit a payload without one uses, per kind (declared, not guessed).
    assume_tz: IANA zone for times written without an offset ("" = reject such times).
    clear_on_normal: a reading back in range resolves the sensor's active alarm ("cleared").
    registry_url: where the poller reads the sensor registry (canonical sensor fields, a
        list or `{"sensors": [...]}`); relative to the feed's url; "" = no registry.
    """

    coord_system: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    bbox: list[float] = field(default_factory=list)
    network: Literal["", "gas", "water", "heating"] = ""
    kind_map: dict[str, str] = field(default_factory=_default_kind_map)
    units_by_kind: dict[str, str] = field(default_factory=dict)
    assume_tz: str = ""
    clear_on_normal: bool = False
    registry_url: str = ""
    json: JsonFormat = field(default_factory=JsonFormat)
    fiware: FiwareFormat = field(default_factory=FiwareFormat)
    sensorthings: SensorThingsFormat = field(default_factory=SensorThingsFormat)

    def __post_init__(self) -> None:
        if self.coord_system not in ("wgs84", "gcj02", "bd09"):
            raise ValueError(f"coord_system: expected wgs84, gcj02 or bd09, got {self.coord_system!r}")
        if self.bbox:
            ok = len(self.bbox) == 4 and -180 <= self.bbox[0] < self.bbox[2] <= 180 \
                and -90 <= self.bbox[1] < self.bbox[3] <= 90
            if not ok:
                raise ValueError(f"bbox: expected [min_lon, min_lat, max_lon, max_lat] in WGS-84, got {self.bbox}")
        if self.network not in NETWORK_CHOICES:
            raise ValueError(f"network: expected '', gas, water or heating, got {self.network!r}")
        if self.assume_tz:
            from zoneinfo import ZoneInfo
            try:
                ZoneInfo(self.assume_tz)
            except Exception:
                raise ValueError(f"assume_tz: expected an IANA time zone, got {self.assume_tz!r}") from None

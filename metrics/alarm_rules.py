"""The alarm rules (settings section `[alarms]`): units, thresholds, limits.

Defaults are demo values chosen to be plausible for a northern Chinese city's networks
(medium-pressure gas mains around 0.2–0.4 MPa, water mains 0.28–0.5 MPa, district
heating supply 70–120 °C, combustible-gas detectors alarming at 20–25 % LEL). They are
not a standard: each utility sets its own, in the settings.

A threshold is one bound of one network's measured quantity, in one unit, with up to
four level bounds: for `direction = "above"` a value >= `level_1` is level I, else >=
`level_2` is level II, and so on; for "below" a value <= the bound. A missing level is
skipped. Several thresholds may cover the same kind (a pressure too high and too low):
the most severe level found wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

NETWORKS: tuple[str, ...] = ("gas", "water", "heating")
LEVELS: tuple[int, ...] = (1, 2, 3, 4)
LEVEL_NAMES: dict[int, str] = {1: "I", 2: "II", 3: "III", 4: "IV"}
# the fields of an alarm record, in order (the alarm engine and every sensor adapter)
ALARM_FIELDS = ("alarm_id", "sensor_id", "network", "kind", "level", "value", "threshold", "unit",
                "raised_at", "acknowledged_at", "acknowledged_by", "resolved_at", "resolution",
                "status", "lat", "lon", "grid_code", "levels")
OFFLINE_KIND = "offline"


@dataclass(frozen=True)
class Unit:
    """One known unit: `value_in_base = value * factor + offset`.

    Two units convert into each other only when they share `base`.
    """

    base: str
    factor: float = 1.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        if not self.base.strip():
            raise ValueError("base: expected a base unit name, got ''")
        if self.factor == 0:
            raise ValueError("factor: expected a non-zero number, got 0")


@dataclass(frozen=True)
class Threshold:
    """One bound of a network's quantity, with level I–IV limits in `unit`."""

    network: Literal["gas", "water", "heating"]
    kind: str
    unit: str
    direction: Literal["above", "below"] = "above"
    level_1: float | None = None
    level_2: float | None = None
    level_3: float | None = None
    level_4: float | None = None

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"network: expected one of {list(NETWORKS)}, got {self.network!r}")
        if not self.kind.strip():
            raise ValueError("kind: expected a measured quantity name, got ''")
        if self.direction not in ("above", "below"):
            raise ValueError(f"direction: expected 'above' or 'below', got {self.direction!r}")
        bounds = [b for b in self.bounds() if b is not None]
        if not bounds:
            raise ValueError(f"level_1: expected at least one level bound for {self.network}/{self.kind}, got none")
        ordered = sorted(bounds, reverse=self.direction == "above")
        if bounds != ordered or len(set(bounds)) != len(bounds):
            want = "decreasing" if self.direction == "above" else "increasing"
            raise ValueError(f"level_1: expected strictly {want} bounds from level I to IV "
                             f"for {self.network}/{self.kind} ({self.direction}), got {bounds}")

    def bounds(self) -> list[float | None]:
        return [self.level_1, self.level_2, self.level_3, self.level_4]


def _default_units() -> dict[str, Unit]:
    kpa, lel, cel, m3h = Unit("kPa"), Unit("%LEL"), Unit("°C"), Unit("m3/h")
    return {
        # pressure; UN/CEFACT codes (used by FIWARE) beside the usual symbols
        "kPa": kpa, "KPA": kpa, "MPa": Unit("kPa", 1000.0), "MPA": Unit("kPa", 1000.0),
        "Pa": Unit("kPa", 0.001), "PAL": Unit("kPa", 0.001), "bar": Unit("kPa", 100.0),
        "BAR": Unit("kPa", 100.0),
        # combustible gas (methane: LEL 5 % vol = 50,000 ppm, so 1 ppm = 0.002 %LEL)
        "%LEL": lel, "ppm": Unit("%LEL", 0.002), "59": Unit("%LEL", 0.002),
        "%vol": Unit("%LEL", 20.0),
        # temperature
        "°C": cel, "degC": cel, "CEL": cel, "K": Unit("°C", 1.0, -273.15), "KEL": Unit("°C", 1.0, -273.15),
        # flow
        "m3/h": m3h, "MQH": m3h, "L/s": Unit("m3/h", 3.6), "m3/s": Unit("m3/h", 3600.0), "MQS": Unit("m3/h", 3600.0),
    }


def _default_thresholds() -> list[Threshold]:
    T = Threshold
    return [
        T("gas", "gas_concentration", "%LEL", "above", 50.0, 25.0, 10.0, 5.0),
        T("gas", "pressure", "kPa", "above", 500.0, 460.0, 440.0, 420.0),
        T("gas", "pressure", "kPa", "below", 80.0, 120.0, 150.0, 180.0),
        T("water", "pressure", "kPa", "below", 80.0, 120.0, 160.0, 200.0),
        T("water", "pressure", "kPa", "above", 800.0, 700.0, 650.0, 600.0),
        T("heating", "temperature", "°C", "above", 140.0, 135.0, 130.0, 125.0),
        T("heating", "temperature", "°C", "below", 35.0, 40.0, 45.0, 50.0),
        T("heating", "pressure", "kPa", "above", 1600.0, 1500.0, 1400.0, 1300.0),
        T("heating", "pressure", "kPa", "below", 100.0, 150.0, 200.0, 250.0),
    ]


@dataclass(frozen=True)
class AlarmRules:
    """Thresholds, units, acknowledgement limits and offline limits.

    units: every unit a feed may send, by name (case-sensitive), with its base.
    thresholds: level bounds per network and kind (see module doc).
    ack_limits_s: acknowledgement limit in seconds for levels I, II, III, IV.
    offline_after_s: a sensor silent longer than this (per network) is offline; a
        sensor's own `offline_after_s`, when positive, takes precedence.
    offline_level: the level of an "offline" alarm.
    """

    units: dict[str, Unit] = field(default_factory=_default_units)
    thresholds: list[Threshold] = field(default_factory=_default_thresholds)
    ack_limits_s: list[int] = field(default_factory=lambda: [300, 600, 1800, 3600])
    offline_after_s: dict[str, int] = field(
        default_factory=lambda: {"gas": 900, "water": 1800, "heating": 1800})
    offline_level: int = 4

    def __post_init__(self) -> None:
        if len(self.ack_limits_s) != 4 or any(v <= 0 for v in self.ack_limits_s):
            raise ValueError(f"ack_limits_s: expected 4 positive seconds (levels I–IV), got {self.ack_limits_s}")
        missing = [n for n in NETWORKS if n not in self.offline_after_s]
        bad = {k: v for k, v in self.offline_after_s.items() if k not in NETWORKS or v <= 0}
        if missing or bad:
            raise ValueError(f"offline_after_s: expected positive seconds for each of {list(NETWORKS)}, "
                             f"got {self.offline_after_s}")
        if self.offline_level not in LEVELS:
            raise ValueError(f"offline_level: expected 1–4, got {self.offline_level}")
        for t in self.thresholds:
            if t.unit not in self.units:
                raise ValueError(f"thresholds: expected units listed in units, got {t.unit!r} "
                                 f"for {t.network}/{t.kind}")

    def ack_limit_s(self, level: int) -> int:
        return self.ack_limits_s[level - 1]

    def kinds(self, network: str) -> list[str]:
        return sorted({t.kind for t in self.thresholds if t.network == network})

"""The settings of ticket assessment (section `[tickets]`): SLA table, weights, calendar.

Defaults follow METRICS.md. Every field is plain data so the settings loader can validate
a TOML table into it by type hints, e.g.

    [tickets]
    w_basic = 0.9
    extra_holidays = ["2027-01-01"]
    [tickets.sla.urgent]
    value = 2
    unit = "hours"
    [tickets.sla.categories."咨询".normal]     # a category's own limit, per urgency
    value = 3
    unit = "workdays"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Literal

from metrics.workdays import WorkCalendar

URGENCIES: tuple[str, ...] = ("urgent", "normal", "complex")


@dataclass(frozen=True)
class SlaRule:
    """A time limit: `value` calendar hours, or `value` working days (an integer)."""

    value: float = 5.0
    unit: Literal["hours", "workdays"] = "workdays"

    def __post_init__(self) -> None:
        if self.unit not in ("hours", "workdays"):
            raise ValueError(f"unit: expected 'hours' or 'workdays', got {self.unit!r}")
        if not 0 <= self.value <= 10000:
            raise ValueError(f"value: expected 0..10000, got {self.value}")
        if self.unit == "workdays" and float(self.value) != int(self.value):
            raise ValueError(f"value: expected a whole number of working days, got {self.value}")


@dataclass(frozen=True)
class SlaOverride:
    """A category's own limits; an urgency left out keeps the table's default."""

    urgent: SlaRule | None = None
    normal: SlaRule | None = None
    complex: SlaRule | None = None


@dataclass(frozen=True)
class SlaTable:
    """Handling limits by urgency (empty urgency = normal), optionally by category."""

    urgent: SlaRule = field(default_factory=lambda: SlaRule(2.0, "hours"))
    normal: SlaRule = field(default_factory=lambda: SlaRule(5.0, "workdays"))
    complex: SlaRule = field(default_factory=lambda: SlaRule(15.0, "workdays"))
    categories: dict[str, SlaOverride] = field(default_factory=dict)

    def rule(self, urgency: str | None, category: str | None = None) -> SlaRule:
        """The limit of one ticket (unknown or empty urgency counts as normal)."""
        u = urgency if urgency in URGENCIES else "normal"
        override = self.categories.get(category) if category else None
        own = getattr(override, u) if override is not None else None
        return own if own is not None else getattr(self, u)


@dataclass(frozen=True)
class ScoreWeights:
    """Weights of the composite score (only the rates that are not null take part)."""

    response: float = 0.1
    on_time: float = 0.3
    resolution: float = 0.3
    satisfaction: float = 0.3

    def __post_init__(self) -> None:
        for name in ("response", "on_time", "resolution", "satisfaction"):
            v = getattr(self, name)
            if not 0 <= v <= 1000:
                raise ValueError(f"{name}: expected a weight 0..1000, got {v}")
        if self.response + self.on_time + self.resolution + self.satisfaction <= 0:
            raise ValueError(f"response: expected at least one weight > 0, got all 0")


@dataclass(frozen=True)
class TicketRules:
    """How tickets are assessed; every number of METRICS.md that a city may change.

    w_basic: weight of a "basic" (基本满意) rating in the satisfaction rate.
    warn_hours: the due-soon (临期) window before a deadline.
    response_sla_hours: response limit after creation (response_due_at).
    sla: handling limits (deadline_at when the source gives none).
    weights: composite score weights.
    score_satisfaction: which satisfaction rate the score uses: "raw" (satisfaction_rate)
        or "adjusted" (satisfaction_rate_adjusted, excluded ratings left out).
    extra_holidays / extra_workdays: ISO dates overriding the official calendar, and the
        only holidays known for years the calendar package does not cover.
    min_rank_volume: a unit is ranked only with at least this many tickets in
        received(W) ∪ due(W); the others are listed after it, marked too few (样本不足).
    map_rate_bands / map_low_rate_bands: where the map's colour bands of the rates are cut
        (better-high rates and the score ×100; better-low rates: return, repeat).
    """

    w_basic: float = 0.9
    warn_hours: float = 24.0
    response_sla_hours: float = 2.0
    sla: SlaTable = field(default_factory=SlaTable)
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    score_satisfaction: Literal["raw", "adjusted"] = "raw"
    extra_holidays: list[str] = field(default_factory=list)
    extra_workdays: list[str] = field(default_factory=list)
    min_rank_volume: int = 10
    map_rate_bands: list[float] = field(default_factory=lambda: [0.80, 0.90, 0.95])
    map_low_rate_bands: list[float] = field(default_factory=lambda: [0.02, 0.05, 0.10])

    def __post_init__(self) -> None:
        for name in ("map_rate_bands", "map_low_rate_bands"):
            cuts = getattr(self, name)
            if len(cuts) != 3 or list(cuts) != sorted(cuts) or not all(0 <= c <= 1 for c in cuts):
                raise ValueError(f"{name}: expected three increasing rates in 0..1, got {list(cuts)}")
        if not 0 <= self.min_rank_volume <= 10**9:
            raise ValueError(f"min_rank_volume: expected a ticket count >= 0, got {self.min_rank_volume}")
        if not 0 <= self.w_basic <= 1:
            raise ValueError(f"w_basic: expected 0..1, got {self.w_basic}")
        if not 0 <= self.warn_hours <= 24 * 366:
            raise ValueError(f"warn_hours: expected 0..8784 hours, got {self.warn_hours}")
        if not 0 <= self.response_sla_hours <= 24 * 366:
            raise ValueError(f"response_sla_hours: expected 0..8784 hours, got {self.response_sla_hours}")
        if self.score_satisfaction not in ("raw", "adjusted"):
            raise ValueError(f"score_satisfaction: expected 'raw' or 'adjusted', got {self.score_satisfaction!r}")
        for name in ("extra_holidays", "extra_workdays"):
            for s in getattr(self, name):
                try:
                    date.fromisoformat(s)
                except (TypeError, ValueError):
                    raise ValueError(f"{name}: expected ISO dates like '2027-01-01', got {s!r}") from None
        if set(self.extra_holidays) & set(self.extra_workdays):
            both = sorted(set(self.extra_holidays) & set(self.extra_workdays))
            raise ValueError(f"extra_workdays: expected no date that is also in extra_holidays, got {both}")

    @cached_property
    def calendar(self) -> WorkCalendar:
        """The working-day calendar of these rules (built once per rules object)."""
        return WorkCalendar([date.fromisoformat(s) for s in self.extra_holidays],
                            [date.fromisoformat(s) for s in self.extra_workdays])

"""Rules of the per-mu (亩均效益) assessment: every number here is a setting.

Defaults follow one published municipal scheme (weights 45/20/15/15/5, A top 25 %,
B to 70 %, C to 95 %, D the rest); see METRICS.md, "Industrial land use".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# indicator id -> (numerator, denominator), both canonical enterprise columns
INDICATORS: dict[str, tuple[str, str]] = {
    "tax_per_mu": ("tax", "land_mu"),
    "sales_per_mu": ("sales", "land_mu"),
    "value_added_per_mu": ("value_added", "land_mu"),
    "value_added_per_energy": ("value_added", "energy_tce"),
    "labour_productivity": ("value_added", "employees"),
    "rd_intensity": ("rd_spend", "sales"),
}

GRADES = ("A", "B", "C", "D")

NOT_GRADED_EXEMPT = "exempt"
NOT_GRADED_SMALL_LAND = "land below threshold"
NOT_GRADED_NO_LAND = "land area missing"
NOT_GRADED_NO_SCORE = "no indicator available"


def _default_weights() -> dict[str, float]:
    return {
        "tax_per_mu": 45.0,
        "sales_per_mu": 20.0,
        "value_added_per_energy": 15.0,
        "rd_intensity": 15.0,
        "labour_productivity": 5.0,
    }


@dataclass(frozen=True)
class IndustryRules:
    """Grading rules. `benchmark` "fixed" takes `fixed_benchmarks` (one per weighted indicator)."""

    weights: dict[str, float] = field(default_factory=_default_weights)
    cap: float = 2.0
    land_threshold_mu: float = 3.0
    benchmark: Literal["median", "mean", "fixed"] = "median"
    fixed_benchmarks: dict[str, float] = field(default_factory=dict)
    grade_cutoffs: list[float] = field(default_factory=lambda: [0.25, 0.70, 0.95])
    low_efficiency_tax_per_mu: float | None = 3.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(INDICATORS))
        if unknown:
            raise ValueError(f"weights: expected keys among {sorted(INDICATORS)}, got {unknown}")
        if any(not isinstance(w, (int, float)) or w < 0 for w in self.weights.values()):
            raise ValueError(f"weights: expected numbers >= 0, got {self.weights}")
        if sum(self.weights.values()) <= 0:
            raise ValueError(f"weights: expected a positive sum, got {self.weights}")
        if not self.cap > 0:
            raise ValueError(f"cap: expected a number > 0, got {self.cap}")
        if not self.land_threshold_mu >= 0:
            raise ValueError(f"land_threshold_mu: expected a number >= 0, got {self.land_threshold_mu}")
        if self.benchmark not in ("median", "mean", "fixed"):
            raise ValueError(f"benchmark: expected 'median', 'mean' or 'fixed', got {self.benchmark!r}")
        bad = sorted(set(self.fixed_benchmarks) - set(INDICATORS))
        if bad:
            raise ValueError(f"fixed_benchmarks: expected keys among {sorted(INDICATORS)}, got {bad}")
        if self.benchmark == "fixed":
            missing = sorted(k for k, w in self.weights.items() if w > 0 and k not in self.fixed_benchmarks)
            if missing:
                raise ValueError(f"fixed_benchmarks: expected a value for every weighted indicator, missing {missing}")
        cuts = list(self.grade_cutoffs)
        if len(cuts) != len(GRADES) - 1 or any(not 0 < c <= 1 for c in cuts) or cuts != sorted(set(cuts)):
            raise ValueError(f"grade_cutoffs: expected 3 increasing fractions in (0, 1], got {cuts}")
        floor = self.low_efficiency_tax_per_mu
        if floor is not None and not isinstance(floor, (int, float)):
            raise ValueError(f"low_efficiency_tax_per_mu: expected a number or none, got {floor!r}")

    @property
    def scored(self) -> dict[str, float]:
        """The indicators that count in the score (weight > 0)."""
        return {k: float(w) for k, w in self.weights.items() if w > 0}

"""The colour scale of a ticket metric on the map: fixed per metric, so a colour means the
same on every screen and equal values never read as "the worst".

- rates that are better high (on-time, satisfaction, …): bands on 0–100 % cut at
  `rules.map_rate_bands` (default 80 %, 90 %, 95 %): red < 80 % ≤ orange < 90 % ≤ yellow
  < 95 % ≤ green; the composite score the same on 0–100;
- rates that are better low (return, repeat): bands cut at `rules.map_low_rate_bands`
  (default 2 %, 5 %, 10 %), green lowest;
- counts and hours: a blue ramp from 0 (not from the smallest value) to the largest value.
"""

from __future__ import annotations

import math

from metrics.ticket_rules import TicketRules

BAND_COLOURS = ("#d83a3a", "#ff7a1a", "#ffd633", "#35d07f")       # worst → best
RAMP_COLOURS = ("#12305e", "#1f5fa8", "#2f8fd8", "#5fb6ff", "#a8d8ff")   # 0 → max
LOW_BETTER_RATES = ("return_rate", "repeat_rate")
RATE_METRICS = ("response_rate", "closure_rate", "on_time_rate", "resolution_rate", "satisfaction_rate",
                "satisfaction_rate_adjusted", "return_rate", "repeat_rate")


def scale_for(metric: str, values, rules: TicketRules | None = None) -> dict:
    """{"kind": "bands", "cuts": [...], "colours": [...], "low_better": bool, "unit": "%"|""}
    for rates and the score; {"kind": "ramp", "min": 0, "max": M, "colours": [...]} otherwise."""
    rules = rules or TicketRules()
    if metric in RATE_METRICS or metric == "score":
        low = metric in LOW_BETTER_RATES
        cuts = list(rules.map_low_rate_bands if low else rules.map_rate_bands)
        if metric == "score":
            cuts = [100 * c for c in cuts]
        colours = list(reversed(BAND_COLOURS)) if low else list(BAND_COLOURS)
        return {"kind": "bands", "cuts": cuts, "colours": colours, "low_better": low,
                "unit": "" if metric == "score" else "%", "factor": 1 if metric == "score" else 100}
    known = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    top = max(known) if known else 0.0
    return {"kind": "ramp", "min": 0.0, "max": top if top > 0 else 1.0, "colours": list(RAMP_COLOURS)}


def colour_of(value, scale: dict) -> str | None:
    """The fill colour of one value on `scale` (None: no value, drawn as "no data")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    v = float(value)
    if scale["kind"] == "bands":
        i = sum(1 for c in scale["cuts"] if v >= c)     # a value on a cut belongs to the band above
        return scale["colours"][i]
    x = max(0.0, min(1.0, (v - scale["min"]) / ((scale["max"] - scale["min"]) or 1.0)))
    colours = scale["colours"]
    return colours[min(len(colours) - 1, int(x * (len(colours) - 1) + 0.5))]


def legend_items(scale: dict) -> list[tuple[str, str]]:
    """(colour, range text) from the lowest values to the highest, for the legend."""
    if scale["kind"] == "bands":
        f, unit = scale["factor"], scale["unit"]
        cuts = [f"{c * f:g}{unit}" for c in scale["cuts"]]
        ranges = [f"< {cuts[0]}"] + [f"{a} – {b}" for a, b in zip(cuts, cuts[1:])] + [f"≥ {cuts[-1]}"]
        return list(zip(scale["colours"], ranges))     # low to high (green first when lower is better)
    return [(scale["colours"][0], f"{scale['min']:,.0f}"), (scale["colours"][-1], f"{scale['max']:,.0f}")]

"""Seeded simulator of the demo city's sensors, incidents, bursts and response teams.

- Readings: every sensor reports every `report_every_s` (staggered), a plausible normal
  value with noise (gas mains ~300 kPa, water ~350 kPa, heating supply ~85 °C, …).
- Incidents: each sensor starts one at `incidents_per_sensor_day`; for 5–40 minutes its
  value sits past a level I–IV bound (IV most often, I rarely), then returns to normal.
- Bursts: `bursts_per_day` times a day a main bursts: the sensors within `burst_radius_m`
  along it go out of range together (water/heating pressure falls, gas leaks).
- Offline: sensors fall silent at `offline_per_sensor_day` for 20–120 minutes.
- Teams: a few response teams per network wander near their base; the nearest free team
  drives (~30 km/h) to a new incident or burst, works 15–40 minutes, then is free again.
Deterministic for a seed and the same sequence of `step(now)` calls. Times UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from feeds.demo.sensors.network import M_PER_DEG_LAT
from metrics.geo import distance_m

# kind → (normal value, noise sd, unit, incident direction, level I..IV out-of-range values)
PROFILES = {
    ("gas", "gas_concentration"): (0.8, 0.4, "%LEL", "above", (60.0, 30.0, 15.0, 7.0)),
    ("gas", "pressure"): (300.0, 8.0, "kPa", "below", (60.0, 110.0, 140.0, 170.0)),
    ("water", "pressure"): (350.0, 12.0, "kPa", "below", (60.0, 110.0, 150.0, 190.0)),
    ("water", "flow"): (40.0, 6.0, "m3/h", "above", (None, None, None, None)),
    ("heating", "temperature"): (85.0, 3.0, "°C", "below", (30.0, 38.0, 43.0, 48.0)),
    ("heating", "pressure"): (800.0, 25.0, "kPa", "below", (80.0, 140.0, 190.0, 240.0)),
}
LEVEL_MIX = (0.05, 0.15, 0.30, 0.50)
TEAM_STATUS = ("free", "en_route", "on_site")


@dataclass(frozen=True)
class SimSensorsConfig:
    """Rates of the simulated city (settings section `[demo.sensors]` if wired)."""

    seed: int = 20261121
    n_sensors: int = 3000
    report_every_s: int = 60
    incidents_per_sensor_day: float = 0.01
    bursts_per_day: float = 3.0
    burst_radius_m: float = 600.0
    offline_per_sensor_day: float = 0.004
    teams_per_network: int = 2
    team_speed_kmh: float = 30.0

    def __post_init__(self) -> None:
        for name in ("n_sensors", "report_every_s", "teams_per_network"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)}")
        for name in ("incidents_per_sensor_day", "bursts_per_day", "offline_per_sensor_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: expected a rate >= 0, got {getattr(self, name)}")
        if self.burst_radius_m <= 0 or self.team_speed_kmh <= 0:
            raise ValueError(f"burst_radius_m: expected positive distance and speed, got "
                             f"{self.burst_radius_m}, {self.team_speed_kmh}")


@dataclass
class Team:
    team_id: str
    name: str
    network: str
    base: tuple[float, float]
    lon: float
    lat: float
    status: str = "free"
    target: tuple[float, float] | None = None
    busy_until: datetime | None = None
    job: str | None = None


@dataclass
class _Trouble:
    until: datetime
    value: float


class SensorSimulator:
    """Call `step(now)` with increasing times; it returns the readings due since the last call."""

    def __init__(self, sensors: pd.DataFrame, config: SimSensorsConfig, start: datetime):
        self.sensors = sensors.reset_index(drop=True)
        self.cfg = config
        self.rng = np.random.default_rng(config.seed)
        self.now = start
        n, s = len(self.sensors), self.sensors
        self.t0 = start
        self.next_due = self.rng.uniform(0, config.report_every_s, n)  # seconds after start
        prof = [PROFILES[(net, kind)] for net, kind in zip(s["network"], s["kind"])]
        self.normal = np.array([p[0] for p in prof])
        self.sd = np.array([p[1] for p in prof])
        self.units = [p[2] for p in prof]
        self.ids, self.nets, self.kinds = s["sensor_id"].tolist(), s["network"].tolist(), s["kind"].tolist()
        self.lats, self.lons = [float(v) for v in s["lat"]], [float(v) for v in s["lon"]]
        self.trouble: dict[int, _Trouble] = {}
        self.silent_until: dict[int, datetime] = {}
        self.events: list[dict] = []  # incidents and bursts started (for tests and the benchmark)
        self.teams = self._make_teams()

    # ---- teams -------------------------------------------------------------------------
    def _make_teams(self) -> list[Team]:
        teams = []
        for net in ("gas", "water", "heating"):
            part = self.sensors[self.sensors["network"] == net]
            for k in range(self.cfg.teams_per_network if len(part) else 0):
                row = part.iloc[int(self.rng.integers(len(part)))]
                teams.append(Team(f"{net[0].upper()}T{k + 1}", f"{ {'gas': '燃气', 'water': '供水', 'heating': '供热'}[net]}抢修{k + 1}队",
                                  net, (row.lon, row.lat), row.lon, row.lat))
        return teams

    def _dispatch(self, net: str, lon: float, lat: float, job: str) -> None:
        free = [t for t in self.teams if t.network == net and t.status == "free"]
        if not free:
            return
        d = [distance_m(lon, lat, t.lon, t.lat) for t in free]
        team = free[int(np.argmin(d))]
        team.status, team.target, team.job = "en_route", (lon, lat), job

    def _move_teams(self, dt_s: float) -> None:
        step_m = self.cfg.team_speed_kmh / 3.6 * dt_s
        for t in self.teams:
            if t.status == "en_route" and t.target:
                dist = float(distance_m(t.lon, t.lat, *t.target))
                if dist <= step_m:
                    t.lon, t.lat = t.target
                    t.status = "on_site"
                    t.busy_until = self.now + timedelta(minutes=float(self.rng.uniform(15, 40)))
                else:
                    f = step_m / dist
                    t.lon += (t.target[0] - t.lon) * f
                    t.lat += (t.target[1] - t.lat) * f
            elif t.status == "on_site" and t.busy_until and self.now >= t.busy_until:
                t.status, t.target, t.busy_until, t.job = "free", None, None, None
            elif t.status == "free":  # patrol: a small random walk that drifts back to base
                jitter = self.rng.normal(0, min(step_m, 300) / M_PER_DEG_LAT, 2)
                t.lon += jitter[0] / math.cos(math.radians(t.lat)) + (t.base[0] - t.lon) * 0.05
                t.lat += jitter[1] + (t.base[1] - t.lat) * 0.05

    def responders(self) -> list[dict]:
        """The responders feed: team, position, status (and where an en-route team is going)."""
        return [{"team_id": t.team_id, "name": t.name, "network": t.network, "lat": round(float(t.lat), 6),
                 "lon": round(float(t.lon), 6), "status": t.status, "job": t.job,
                 "updated_at": self.now.isoformat()} for t in self.teams]

    # ---- incidents -----------------------------------------------------------------------
    def _bad_value(self, i: int, level: int) -> float | None:
        row = self.sensors.iloc[i]
        normal, sd, _, direction, levels = PROFILES[(row.network, row.kind)]
        bound = levels[level - 1]
        if bound is None:
            return None
        return bound + abs(self.rng.normal(0, sd)) * (1 if direction == "above" else -1)

    def _start_incident(self, i: int, level: int, minutes: float, tag: str) -> bool:
        value = self._bad_value(i, level)
        if value is None:
            return False
        self.trouble[i] = _Trouble(self.now + timedelta(minutes=minutes), value)
        row = self.sensors.iloc[i]
        self.events.append({"at": self.now.isoformat(), "type": tag, "sensor_id": row.sensor_id,
                            "network": row.network, "level": level, "main_id": row.get("main_id")})
        return True

    def _random_events(self, dt_s: float) -> None:
        n, days = len(self.sensors), dt_s / 86400
        for i in np.flatnonzero(self.rng.random(n) < self.cfg.incidents_per_sensor_day * days):
            if i not in self.trouble:
                level = int(self.rng.choice(4, p=LEVEL_MIX)) + 1
                if self._start_incident(i, level, float(self.rng.uniform(5, 40)), "incident"):
                    row = self.sensors.iloc[i]
                    self._dispatch(row.network, row.lon, row.lat, row.sensor_id)
        for i in np.flatnonzero(self.rng.random(n) < self.cfg.offline_per_sensor_day * days):
            self.silent_until[i] = self.now + timedelta(minutes=float(self.rng.uniform(20, 120)))
        if self.rng.random() < self.cfg.bursts_per_day * days:
            self.burst()

    def burst(self, index: int | None = None) -> list[str]:
        """A main bursts near sensor `index` (random if None): its neighbours on the main alarm together."""
        i = int(self.rng.integers(len(self.sensors))) if index is None else index
        c = self.sensors.iloc[i]
        same = self.sensors["main_id"] == c["main_id"] if "main_id" in self.sensors else self.sensors["network"] == c.network
        near = same & (distance_m(c.lon, c.lat, self.sensors["lon"], self.sensors["lat"]) <= self.cfg.burst_radius_m)
        hit = []
        for j in np.flatnonzero(near.to_numpy()):
            level = 1 if j == i else int(self.rng.choice([2, 3], p=[0.5, 0.5]))
            if self._start_incident(int(j), level, float(self.rng.uniform(30, 90)), "burst"):
                hit.append(self.sensors.iloc[j].sensor_id)
        self._dispatch(c.network, c.lon, c.lat, f"burst {c['main_id'] if 'main_id' in c else c.sensor_id}")
        return hit

    # ---- readings --------------------------------------------------------------------------
    def step(self, now: datetime) -> list[dict]:
        dt_s = max(0.0, (now - self.now).total_seconds())
        self.now = now
        self._random_events(dt_s)
        self._move_teams(dt_s)
        t = (now - self.t0).total_seconds()
        due = self.next_due <= t
        idx = np.flatnonzero(due)
        every = float(self.cfg.report_every_s)
        # the latest report time <= now of each due sensor; the next one after now
        at = self.next_due[idx] + np.floor((t - self.next_due[idx]) / every) * every
        self.next_due[idx] = at + every
        values = np.maximum(0.0, self.normal[idx] + self.rng.normal(0, 1, len(idx)) * self.sd[idx])
        out = []
        for i, when, value in zip(idx.tolist(), at.tolist(), values.tolist()):
            if i in self.silent_until:
                if now < self.silent_until[i]:
                    continue
                del self.silent_until[i]
            trouble = self.trouble.get(i)
            if trouble and now >= trouble.until:
                del self.trouble[i]
                trouble = None
            out.append({"sensor_id": self.ids[i], "network": self.nets[i], "kind": self.kinds[i],
                        "value": round(trouble.value if trouble else value, 3), "unit": self.units[i],
                        "observed_at": (self.t0 + timedelta(seconds=when)).isoformat(),
                        "lat": self.lats[i], "lon": self.lons[i]})
        return out

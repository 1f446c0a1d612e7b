"""Conversions between WGS-84, GCJ-02 ("Mars" coordinates) and BD-09 (Baidu).

Chinese map vendors publish positions in GCJ-02 (AutoNavi/Amap, Tencent) or BD-09
(Baidu); GPS receivers give WGS-84. The console stores WGS-84 only, so every feed says
which system it sends (a setting) and positions are converted on the way in.

- WGS-84 → GCJ-02 and GCJ-02 → BD-09 are the published forward formulas.
- GCJ-02 → WGS-84 and BD-09 → GCJ-02 have no closed form: they are solved by fixed-point
  iteration on the forward formula until the forward image matches the input to
  better than 1e-9° (at most 30 rounds; it converges in 3–5). The one-step inverses
  found in many libraries are off by up to a few metres; this is not.
- Outside China's bounding box GCJ-02 applies no offset (the usual rule), so there a
  GCJ-02 position equals its WGS-84 position; BD-09 still adds its own offset.

Angles in degrees, argument order (lon, lat) as in GeoJSON. Pure functions.
"""

from __future__ import annotations

import math
from typing import Literal

CoordSystem = Literal["wgs84", "gcj02", "bd09"]
SYSTEMS: tuple[str, ...] = ("wgs84", "gcj02", "bd09")

_A = 6378245.0  # semi-major axis of Krasovsky 1940, used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_TOL = 1e-9
_MAX_ROUNDS = 30


def out_of_china(lon: float, lat: float) -> bool:
    """True outside the rectangle in which GCJ-02 applies its offset."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _dlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlon(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (the published forward formula)."""
    if out_of_china(lon, lat):
        return lon, lat
    dlat = _dlat(lon - 105.0, lat - 35.0)
    dlon = _dlon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(radlat) ** 2
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → BD-09 (the published forward formula)."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def _invert(forward, lon: float, lat: float) -> tuple[float, float]:
    """Solve forward(x, y) == (lon, lat) by fixed-point iteration from (lon, lat)."""
    x, y = lon, lat
    for _ in range(_MAX_ROUNDS):
        fx, fy = forward(x, y)
        dx, dy = fx - lon, fy - lat
        if abs(dx) < _TOL and abs(dy) < _TOL:
            break
        x, y = x - dx, y - dy
    return x, y


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by iteration (error well below 1e-6°)."""
    if out_of_china(lon, lat):
        return lon, lat
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """BD-09 → GCJ-02 by iteration on the forward formula."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def to_wgs84(lon: float, lat: float, system: str) -> tuple[float, float]:
    """A position given in `system` ("wgs84", "gcj02" or "bd09") as WGS-84 (lon, lat)."""
    if system == "wgs84":
        return lon, lat
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise ValueError(f"system: expected one of {list(SYSTEMS)}, got {system!r}")


def from_wgs84(lon: float, lat: float, system: str) -> tuple[float, float]:
    """A WGS-84 position expressed in `system` (for simulators and map vendors)."""
    if system == "wgs84":
        return lon, lat
    if system == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if system == "bd09":
        return wgs84_to_bd09(lon, lat)
    raise ValueError(f"system: expected one of {list(SYSTEMS)}, got {system!r}")

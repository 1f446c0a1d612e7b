"""WGS-84 / GCJ-02 / BD-09 conversions against published point pairs.

Pairs: the `wandergis/coordtransform` test (`test/app.js`), input (116.404, 39.915) near
Tiananmen, Beijing — the Baidu Maps API's own example point:
  wgs84togcj02 → [116.41024449916938, 39.91640428150164]   (forward formula: exact)
  gcj02tobd09  → [116.41036949371029, 39.92133699351021]   (forward formula: exact)
  gcj02towgs84 → [116.39775550083061, 39.91359571849836]   (their one-step inverse)
  bd09togcj02  → [116.39762729119315, 39.90865673957631]   (their one-step inverse)
and Beijing railway station, GCJ-02 (116.42703, 39.90245) = BD-09 (116.43351, 39.90851)
(R package documentation, 5 decimals). Our inverses iterate to the exact inverse, so
they may differ from the one-step ones by up to ~1e-6°.
"""

import pytest

from metrics import coords

P = (116.404, 39.915)


def test_wgs84_to_gcj02_published():
    assert coords.wgs84_to_gcj02(*P) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)


def test_gcj02_to_bd09_published():
    assert coords.gcj02_to_bd09(*P) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)


def test_gcj02_to_wgs84_near_published_and_exact_inverse():
    lon, lat = coords.gcj02_to_wgs84(*P)
    assert (lon, lat) == pytest.approx((116.39775550083061, 39.91359571849836), abs=1e-6)
    assert coords.wgs84_to_gcj02(lon, lat) == pytest.approx(P, abs=1e-8)


def test_bd09_to_gcj02_near_published_and_exact_inverse():
    lon, lat = coords.bd09_to_gcj02(*P)
    assert (lon, lat) == pytest.approx((116.39762729119315, 39.90865673957631), abs=1e-6)
    assert coords.gcj02_to_bd09(lon, lat) == pytest.approx(P, abs=1e-8)


def test_beijing_railway_station_pair():
    assert coords.bd09_to_gcj02(116.43351, 39.90851) == pytest.approx((116.42703, 39.90245), abs=1e-5)
    assert coords.gcj02_to_bd09(116.42703, 39.90245) == pytest.approx((116.43351, 39.90851), abs=1e-5)


@pytest.mark.parametrize("system", ["wgs84", "gcj02", "bd09"])
@pytest.mark.parametrize("point", [(106.8, 39.67), (106.85, 39.45), (121.47, 31.23), (87.6, 43.8)])
def test_round_trip_below_1e6_degrees(system, point):
    there = coords.from_wgs84(*point, system)
    back = coords.to_wgs84(*there, system)
    assert back == pytest.approx(point, abs=1e-6)


def test_gcj_offset_is_hundreds_of_metres_in_wuhai():
    lon, lat = coords.wgs84_to_gcj02(106.8, 39.67)
    assert 0.001 < abs(lon - 106.8) + abs(lat - 39.67) < 0.01


def test_outside_china_gcj_is_identity():
    assert coords.wgs84_to_gcj02(-3.7, 40.4) == (-3.7, 40.4)
    assert coords.to_wgs84(-3.7, 40.4, "gcj02") == (-3.7, 40.4)


def test_unknown_system_raises():
    with pytest.raises(ValueError, match="system"):
        coords.to_wgs84(1.0, 2.0, "utm")

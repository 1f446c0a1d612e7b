"""A small hand-drawable area tree shared by the area tests.

City 150300 covers lon 0..2, lat 0..1 (it has no shape of its own):

    lat 1 +---------+---------+-------------------+
          | 15030201| 15030202|      15030301      |
          |  (G11)  |  (G12)  |       (G21)        |
    lat 0 +---------+---------+-------------------+
        lon 0     lon 0.5   lon 1               lon 2
          \\___ district 150302 ___/\\__ district 150303 __/
"""

from __future__ import annotations


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def feature(code: str, geometry: dict | None, **props: object) -> dict:
    return {"type": "Feature", "properties": {"code": code, **props}, "geometry": geometry}


def rows() -> list[dict]:
    return [
        {"code": "150300", "name": "乌海市", "level": "city", "parent_code": ""},
        {"code": "150302", "name": "海勃湾区", "level": "district", "parent_code": "150300"},
        {"code": "150303", "name": "海南区", "level": "district", "parent_code": "150300"},
        {"code": "15030201", "name": "G11", "level": "grid", "parent_code": "150302"},
        {"code": "15030202", "name": "G12", "level": "grid", "parent_code": "150302"},
        {"code": "15030301", "name": "G21", "level": "grid", "parent_code": "150303"},
    ]


def geojson() -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            feature("150302", square(0, 0, 1, 1), made_up=False),
            feature("150303", square(1, 0, 2, 1), made_up=False),
            feature("15030201", square(0, 0, 0.5, 1), made_up=True),
            feature("15030202", square(0.5, 0, 1, 1), made_up=True),
            feature("15030301", square(1, 0, 2, 1)),
        ],
    }


def test_fixture_is_the_drawing_in_the_docstring() -> None:
    """The grids tile their districts: 0.5 + 0.5 = 1 and 1 = 1 (unit degrees²)."""
    from shapely.geometry import shape

    areas = {f["properties"]["code"]: shape(f["geometry"]).area for f in geojson()["features"]}
    assert areas["15030201"] + areas["15030202"] == areas["150302"] == 1.0
    assert areas["15030301"] == areas["150303"] == 1.0
    assert {r["parent_code"] for r in rows() if r["level"] == "grid"} == {"150302", "150303"}

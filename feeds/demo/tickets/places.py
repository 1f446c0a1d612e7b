"""Where simulated tickets happen: the grids of the demo city, and points inside them.

The simulator takes its grids as a list of `Grid` (code, polygon, weight), so it does not
depend on how area files are laid out. `grids_from_area_files` reads the canonical area
files (`areas.csv` + `areas.geojson`); `demo_grids` is a tiny made-up set for tests.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry


KIND_WEIGHT = {"urban": 3.0, "rural": 1.0, "industrial": 0.3}


@dataclass(frozen=True)
class Grid:
    code: str
    polygon: BaseGeometry  # WGS-84 lon/lat, Polygon or MultiPolygon
    weight: float = 1.0  # relative ticket volume
    street: str = ""  # name of the street/town, for its 街道办事处 and slow-street draws
    address: str = ""  # human label, e.g. 海勃湾区海北街道新华社区第2网格


def demo_grids() -> list[Grid]:
    """Six made-up square grids near central Wuhai: four urban, two in a town."""
    out = []
    for i, (street, w) in enumerate((("海北街道", 3.0), ("海北街道", 3.0), ("新华街道", 3.0),
                                     ("新华街道", 3.0), ("千里山镇", 1.0), ("千里山镇", 1.0))):
        x0, y0 = 106.80 + 0.01 * (i % 3), 39.66 + 0.01 * (i // 3)
        out.append(Grid(f"15030200{i // 2 + 1}001{i % 2 + 1:03d}", box(x0, y0, x0 + 0.01, y0 + 0.01),
                        w, street, f"海勃湾区{street}第{i % 2 + 1}网格"))
    return out


def grids_from_area_files(areas_csv: Path, geojson: Path) -> list[Grid]:
    """Grids (level "grid" with a polygon) from canonical area files.

    Weight: by the feature's `kind` property when it has one (urban 3, rural 1,
    industrial 0.3); otherwise 3 for grids in a 街道 (urban street), 1 elsewhere, ×0.6 for
    a village (村). The address is the chain of names below the city.
    """
    with open(areas_csv, encoding="utf-8-sig", newline="") as f:
        rows = {r["code"]: r for r in csv.DictReader(f)}
    shapes, kinds = {}, {}
    for feat in json.loads(Path(geojson).read_text(encoding="utf-8"))["features"]:
        props = feat.get("properties") or {}
        code = str(props.get("code", ""))
        if code in rows and rows[code]["level"] == "grid" and feat.get("geometry"):
            shapes[code], kinds[code] = shape(feat["geometry"]), props.get("kind")
    out = []
    for code, geom in shapes.items():
        chain, node = [], rows[code]
        while node is not None and node["level"] != "city":
            chain.append(node)
            node = rows.get(node.get("parent_code") or "")
        chain.reverse()
        street = next((n["name"] for n in chain if n["level"] == "street"), "")
        community = next((n["name"] for n in chain if n["level"] == "community"), "")
        weight = KIND_WEIGHT.get(kinds[code] or "", 0.0) or \
            (3.0 if street.endswith("街道") else 1.0) * (0.6 if "村" in community else 1.0)
        if len(chain) > 1 and chain[-1]["name"].startswith(community):  # 兴华社区3号网格
            chain = [n for n in chain if n["level"] != "community"]
        out.append(Grid(code, geom, weight, street, "".join(n["name"] for n in chain)))
    return out


class PointSampler:
    """Uniform random points inside each grid's polygon, vectorised over many tickets.

    Each polygon is cut into triangles once (constrained Delaunay); a point picks a
    triangle by area, then a uniform point in it, so it is always inside its grid.
    """

    def __init__(self, grids: list[Grid]) -> None:
        a, b, c, key = [], [], [], []
        for gi, g in enumerate(grids):
            tris = [t for t in shapely.constrained_delaunay_triangles(g.polygon).geoms if t.area > 0]
            if not tris:  # degenerate shape: fall back to its representative point
                p = g.polygon.representative_point()
                tris_xy = [np.array([[p.x, p.y]] * 3)]
                areas = np.array([1.0])
            else:
                tris_xy = [np.asarray(t.exterior.coords)[:3] for t in tris]
                areas = np.array([t.area for t in tris])
            cum = np.cumsum(areas) / areas.sum()
            for t, k in zip(tris_xy, cum):
                a.append(t[0]), b.append(t[1]), c.append(t[2]), key.append(gi + min(k, 1.0))
        self._a, self._b, self._c = np.array(a), np.array(b), np.array(c)
        self._key = np.array(key)

    def sample(self, rng: np.random.Generator, grid_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lon, lat) arrays: one uniform point inside the grid of each index."""
        u = rng.random(len(grid_idx)) * (1 - 1e-12)
        t = np.searchsorted(self._key, grid_idx + u, side="right")
        t = np.minimum(t, len(self._key) - 1)
        r1, r2 = rng.random(len(t)), rng.random(len(t))
        flip = r1 + r2 > 1
        r1, r2 = np.where(flip, 1 - r1, r1), np.where(flip, 1 - r2, r2)
        a = self._a[t]
        pts = a + r1[:, None] * (self._b[t] - a) + r2[:, None] * (self._c[t] - a)
        return np.round(pts[:, 0], 6), np.round(pts[:, 1], 6)

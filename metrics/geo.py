"""Geometry helpers for the area tree: parse and check GeoJSON, locate points, sample points.

Pure functions over shapely 2 geometries. Coordinates are WGS-84 longitude/latitude
degrees; GeoJSON puts longitude first, the public API of the tree takes ``lat, lon``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

POLYGON_TYPES = ("Polygon", "MultiPolygon")
Bounds = tuple[float, float, float, float]


def feature_code(feature: Any) -> str | None:
    """Return ``properties.code`` of a GeoJSON feature as a stripped string, or None."""
    if not isinstance(feature, dict):
        return None
    props = feature.get("properties")
    if not isinstance(props, dict):
        return None
    code = props.get("code")
    if code is None or isinstance(code, bool):
        return None
    text = str(code).strip()
    return text or None


def check_geometry(code: str, geometry: Any) -> tuple[BaseGeometry | None, list[str]]:
    """Parse one GeoJSON geometry; return the shape (None if null) and its errors.

    Checks: polygonal type, parseable coordinates, finite and within WGS-84 range
    (lon -180..180, lat -90..90), and shapely validity.
    """
    if geometry is None:
        return None, []
    if not isinstance(geometry, dict) or geometry.get("type") not in POLYGON_TYPES:
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        return None, [f"{code}: geometry type {kind} is not Polygon or MultiPolygon"]
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        return None, [f"{code}: unreadable coordinates ({exc})"]
    if geom.is_empty:
        return None, [f"{code}: empty geometry"]
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return None, [f"{code}: coordinate is not a finite number"]
    lon, lat = coords[:, 0], coords[:, 1]
    if (np.abs(lon) > 180).any() or (np.abs(lat) > 90).any():
        bad = coords[(np.abs(lon) > 180) | (np.abs(lat) > 90)][0]
        return None, [
            f"{code}: coordinate ({bad[0]:g}, {bad[1]:g}) outside WGS-84 range "
            "(lon -180..180, lat -90..90)"
        ]
    if not geom.is_valid:
        return None, [f"{code}: invalid polygon ({explain_validity(geom)})"]
    return geom, []


def parse_features(geojson: Any) -> tuple[dict[str, BaseGeometry], dict[str, dict], list[str]]:
    """Read a FeatureCollection into ``{code: shape}``, ``{code: feature}`` and errors.

    Features with a null geometry are accepted and left out of both dicts.
    """
    if not isinstance(geojson, dict) or geojson.get("type") != "FeatureCollection":
        return {}, {}, ["geojson: not a FeatureCollection"]
    features = geojson.get("features")
    if not isinstance(features, list):
        return {}, {}, ["geojson: 'features' is not a list"]
    shapes: dict[str, BaseGeometry] = {}
    raw: dict[str, dict] = {}
    errors: list[str] = []
    seen: set[str] = set()
    for i, feature in enumerate(features):
        code = feature_code(feature)
        if code is None:
            errors.append(f"geojson feature #{i}: no properties.code")
            continue
        if code in seen:
            errors.append(f"{code}: more than one geometry")
            continue
        seen.add(code)
        geom, errs = check_geometry(code, feature.get("geometry"))
        errors.extend(errs)
        if geom is not None:
            shapes[code] = geom
            raw[code] = feature
    return shapes, raw, errors


def to_geometry_dict(geom: BaseGeometry) -> dict:
    """GeoJSON geometry dict (lists, not tuples) of a shapely geometry."""
    return _listify(mapping(geom))


def _listify(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_listify(v) for v in value]
    return value


def union_bounds(bounds: Iterable[Bounds]) -> Bounds | None:
    """Smallest box holding all given ``(min_lon, min_lat, max_lon, max_lat)`` boxes."""
    boxes = np.array(list(bounds), dtype=float)
    if boxes.size == 0:
        return None
    return (
        float(boxes[:, 0].min()),
        float(boxes[:, 1].min()),
        float(boxes[:, 2].max()),
        float(boxes[:, 3].max()),
    )


class PointLocator:
    """Find which of a set of polygons holds each point (vectorised, STRtree).

    A point on a boundary (shared edge, outer edge) counts as inside; a point held by
    several polygons goes to the smallest code, so shared edges resolve deterministically.
    """

    def __init__(self, shapes: dict[str, BaseGeometry]) -> None:
        self._codes = np.array(sorted(shapes), dtype=object)
        self._geoms = np.array([shapes[c] for c in self._codes], dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)

    def locate_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        """Code of the polygon holding each ``(lat, lon)``, None where no polygon does."""
        lat = np.asarray(lats, dtype=float).ravel()
        lon = np.asarray(lons, dtype=float).ravel()
        if lat.shape != lon.shape:
            raise ValueError("lats and lons differ in length")
        result = np.full(len(lat), None, dtype=object)
        ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon))
        if len(ok) == 0 or len(self._codes) == 0:
            return result.tolist()
        points = shapely.points(lon[ok], lat[ok])
        point_idx, tree_idx = self._tree.query(points)  # bounding boxes first
        hit = shapely.intersects(self._geoms[tree_idx], points[point_idx])  # prepared polygons
        point_idx, tree_idx = point_idx[hit], tree_idx[hit]
        # Sort by (point, tree index); codes are sorted, so the first hit is the smallest code.
        order = np.lexsort((tree_idx, point_idx))
        point_idx, tree_idx = point_idx[order], tree_idx[order]
        first = np.unique(point_idx, return_index=True)[1]
        result[ok[point_idx[first]]] = self._codes[tree_idx[first]]
        return result.tolist()


def sample_points(geom: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniformly random points inside ``geom`` as an ``(n, 2)`` array of (lon, lat).

    Rejection sampling in the bounding box; deterministic for a seeded ``rng``.
    """
    if n <= 0:
        return np.empty((0, 2))
    if geom.is_empty or geom.area <= 0:
        raise ValueError("cannot sample points in an empty or zero-area geometry")
    min_x, min_y, max_x, max_y = geom.bounds
    fill = geom.area / ((max_x - min_x) * (max_y - min_y))
    shapely.prepare(geom)
    out: list[np.ndarray] = []
    found = 0
    while found < n:
        batch = max(16, int((n - found) / max(fill, 0.01) * 1.3))
        xy = np.column_stack(
            (rng.uniform(min_x, max_x, batch), rng.uniform(min_y, max_y, batch))
        )
        inside = xy[shapely.contains_xy(geom, xy[:, 0], xy[:, 1])]
        out.append(inside)
        found += len(inside)
    return np.concatenate(out)[:n]


def distance_m(lon1: float, lat1: float, lon2: np.ndarray | float, lat2: np.ndarray | float) -> np.ndarray:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * np.arcsin(np.sqrt(a))

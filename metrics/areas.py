"""The area tree: city → district → street → community → grid, with shapes.

The tree is data (rows + GeoJSON), validated once by :meth:`AreaTree.build` and then
read-only. Lookups the pages and the query layer call per request are precomputed:
children, root-first paths, and one ``{code: ancestor code}`` dict per level.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from metrics.areas_check import LEVELS, AreaNode, AreaTreeError, check_rows
from metrics.geo import Bounds, PointLocator, parse_features, sample_points, union_bounds

__all__ = ["LEVELS", "AreaNode", "AreaTree", "AreaTreeError"]


@dataclass(frozen=True, slots=True)
class _Shape:
    geom: BaseGeometry
    feature: dict  # the source GeoJSON feature (its geometry is served as given)


class AreaTree:
    """A validated, immutable area tree. Build it with :meth:`AreaTree.build`."""

    def __init__(self, nodes: dict[str, AreaNode], shapes: dict[str, _Shape]) -> None:
        """Private: use :meth:`build`, which validates first."""
        self._nodes = nodes
        self._shapes = shapes
        self._children: dict[str, list[str]] = {code: [] for code in nodes}
        root = None
        for node in nodes.values():
            if node.parent_code is None:
                root = node.code
            else:
                self._children[node.parent_code].append(node.code)
        for kids in self._children.values():
            kids.sort()
        assert root is not None
        self._root = root
        self._paths: dict[str, tuple[str, ...]] = {root: (root,)}
        self._order: list[str] = [root]  # breadth first: root, its children, ...
        for code in self._order:
            for kid in self._children[code]:
                self._paths[kid] = self._paths[code] + (kid,)
                self._order.append(kid)
        present = {n.level for n in nodes.values()}
        self._levels = tuple(level for level in LEVELS if level in present)
        self._by_level: dict[str, list[str]] = {level: [] for level in self._levels}
        self._up: dict[str, dict[str, str]] = {level: {} for level in self._levels}
        for code in self._order:
            self._by_level[nodes[code].level].append(code)
            for ancestor in self._paths[code]:
                self._up[nodes[ancestor].level][code] = ancestor
        for codes in self._by_level.values():
            codes.sort()
        self._up_series = {lvl: pd.Series(d, dtype=object) for lvl, d in self._up.items()}
        self._subtree: dict[str, np.ndarray] = {}
        self._locator: PointLocator | None = None

    # ----------------------------------------------------------------- building
    @classmethod
    def build(cls, rows: Sequence[dict], geojson: dict | None = None) -> AreaTree:
        """Validate rows (code, name, level, parent_code) and a GeoJSON FeatureCollection.

        Collects every problem and raises one :class:`AreaTreeError` listing them all.
        """
        nodes, errors = check_rows(rows)
        shapes: dict[str, _Shape] = {}
        if geojson is not None:
            geoms, features, geo_errors = parse_features(geojson)
            errors.extend(geo_errors)
            for code in sorted(geoms):
                if code not in nodes:
                    errors.append(f"{code}: geometry for unknown code")
                else:
                    shapes[code] = _Shape(geoms[code], features[code])
        if errors:
            raise AreaTreeError(errors)
        return cls(nodes, shapes)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_locator"] = None  # rebuilt on demand after unpickling
        return state

    # ------------------------------------------------------------------ nodes
    @property
    def root(self) -> AreaNode:
        return self._nodes[self._root]

    @property
    def levels(self) -> tuple[str, ...]:
        """Levels present, top first (a subsequence of :data:`LEVELS`)."""
        return self._levels

    @property
    def leaf_level(self) -> str:
        """The deepest level present."""
        return self._levels[-1]

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, code: object) -> bool:
        return code in self._nodes

    def __iter__(self) -> Iterator[AreaNode]:
        """Nodes breadth first: root, then each level by parent and code."""
        return (self._nodes[c] for c in self._order)

    def node(self, code: str) -> AreaNode:
        """The node with this code; KeyError if there is none."""
        return self._nodes[code]

    def parent(self, code: str) -> AreaNode | None:
        parent = self._nodes[code].parent_code
        return None if parent is None else self._nodes[parent]

    def children(self, code: str) -> list[AreaNode]:
        """Direct children, sorted by code (empty for a leaf)."""
        return [self._nodes[c] for c in self._children[code]]

    def ancestors(self, code: str) -> list[AreaNode]:
        """Ancestors, root first, without the node itself."""
        return [self._nodes[c] for c in self._paths[code][:-1]]

    def path(self, code: str) -> list[AreaNode]:
        """Root first down to and including the node: a breadcrumb."""
        return [self._nodes[c] for c in self._paths[code]]

    def level_of(self, code: str) -> str:
        return self._nodes[code].level

    def codes_at(self, level: str) -> list[str]:
        """Sorted codes of every node at ``level`` (empty if the level is absent)."""
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        return list(self._by_level.get(level, []))

    def subtree_codes(self, code: str) -> np.ndarray:
        """Codes of the node and all its descendants (cached, do not modify)."""
        if code not in self._subtree:
            self._nodes[code]  # KeyError for an unknown code
            found, stack = [], [code]
            while stack:
                current = stack.pop()
                found.append(current)
                stack.extend(self._children[current])
            self._subtree[code] = np.array(sorted(found), dtype=object)
        return self._subtree[code]

    # ------------------------------------------------------------ vectorised
    def ancestor_at(self, grid_codes: pd.Series, level: str) -> pd.Series:
        """Map each code to its ancestor's code at ``level`` (a node at ``level`` maps to itself).

        Unknown or missing codes, and codes above ``level``, give NaN. Same index as input,
        dtype object, named ``level``; about 0.1–0.2 s for a million codes.
        """
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        codes = _as_code_series(grid_codes)
        if level not in self._up_series:
            return pd.Series(np.nan, index=codes.index, dtype=object, name=level)
        mapped = codes.map(self._up_series[level])
        return (mapped if mapped.dtype == object else mapped.astype(object)).rename(level)

    def in_subtree(self, grid_codes: pd.Series, code: str) -> pd.Series:
        """True where the code lies in ``code``'s subtree (the node itself included)."""
        return _as_code_series(grid_codes).isin(self.subtree_codes(code))

    # ---------------------------------------------------------------- shapes
    def has_shape(self, code: str) -> bool:
        return code in self._shapes

    def shape(self, code: str) -> BaseGeometry | None:
        """The node's shapely geometry, or None if the data has no shape for it."""
        self._nodes[code]
        found = self._shapes.get(code)
        return None if found is None else found.geom

    def locate(self, lat: float, lon: float) -> str | None:
        """Code of the leaf whose polygon holds the point, or None."""
        return self.locate_many([lat], [lon])[0]

    def locate_many(self, lats: Sequence[float], lons: Sequence[float]) -> list[str | None]:
        """Leaf code for each point; None outside every leaf or for NaN coordinates.

        A point on a border between leaves goes to the leaf with the smallest code.
        """
        if self._locator is None:
            leaves = {c: s.geom for c, s in self._shapes.items() if not self._children[c]}
            self._locator = PointLocator(leaves)
        return self._locator.locate_many(lats, lons)

    def geojson(self, codes: Sequence[str]) -> dict:
        """FeatureCollection of the given nodes' shapes (nodes without a shape are left out).

        Properties: ``code, name, level`` and ``made_up`` when the source file gave it.
        """
        features = []
        for code in codes:
            node = self._nodes[code]
            found = self._shapes.get(code)
            if found is None:
                continue
            props: dict[str, Any] = {"code": code, "name": node.name, "level": node.level}
            made_up = found.feature.get("properties", {}).get("made_up")
            if isinstance(made_up, bool):
                props["made_up"] = made_up
            features.append(
                {"type": "Feature", "properties": props, "geometry": found.feature["geometry"]}
            )
        return {"type": "FeatureCollection", "features": features}

    def children_geojson(self, code: str) -> dict:
        return self.geojson(self._children[code])

    def bounds(self, code: str) -> Bounds | None:
        """``(min_lon, min_lat, max_lon, max_lat)`` of the node's shape.

        Falls back to the box around its descendants' shapes; None if there are none.
        """
        if code in self._shapes:
            return tuple(float(v) for v in self._shapes[code].geom.bounds)  # type: ignore[return-value]
        return union_bounds(
            self._shapes[c].geom.bounds for c in self.subtree_codes(code) if c in self._shapes
        )

    def sample_points(self, code: str, n: int, rng: np.random.Generator) -> list[tuple[float, float]]:
        """``n`` random ``(lat, lon)`` points inside the node's shape (seeded by ``rng``)."""
        geom = self.shape(code)
        if geom is None:
            raise ValueError(f"{code}: no shape to sample from")
        return [(float(lat), float(lon)) for lon, lat in sample_points(geom, n, rng)]

    # ----------------------------------------------------------------- export
    def to_rows(self) -> list[dict]:
        """Rows ``code, name, level, parent_code`` breadth first (root's parent is None)."""
        return [
            {"code": n.code, "name": n.name, "level": n.level, "parent_code": n.parent_code}
            for n in self
        ]

    @cached_property
    def fingerprint(self) -> str:
        """Stable SHA-256 hex digest of the rows and shapes (for cache keys)."""
        digest = hashlib.sha256()
        rows = sorted(self.to_rows(), key=lambda r: r["code"])
        digest.update(json.dumps(rows, ensure_ascii=False, sort_keys=True).encode())
        for code in sorted(self._shapes):
            found = self._shapes[code]
            made_up = found.feature.get("properties", {}).get("made_up")
            digest.update(f"\n{code}:{made_up!r}:".encode())
            digest.update(shapely.to_wkb(shapely.normalize(found.geom)))
        return digest.hexdigest()


def _as_code_series(codes: pd.Series | Sequence[Any]) -> pd.Series:
    """Codes as a Series of strings; integer columns (a CSV read without dtype) are converted."""
    series = codes if isinstance(codes, pd.Series) else pd.Series(list(codes), dtype=object)
    if pd.api.types.is_integer_dtype(series.dtype):
        return series.astype("Int64").astype(str).where(series.notna())
    return series

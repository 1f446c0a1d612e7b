"""Placing points in leaf grids: inside, outside, on borders, vectorised."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.areas import AreaTree
from metrics.geo import PointLocator
from tests.test_areas_fixtures import feature, geojson, rows, square
from shapely.geometry import box


@pytest.fixture(scope="module")
def tree() -> AreaTree:
    return AreaTree.build(rows(), geojson())


def test_point_inside_a_grid(tree: AreaTree) -> None:
    assert tree.locate(0.5, 0.25) == "15030201"
    assert tree.locate(0.9, 0.75) == "15030202"
    assert tree.locate(0.1, 1.99) == "15030301"


def test_point_outside_the_city_is_none(tree: AreaTree) -> None:
    assert tree.locate(0.5, 2.01) is None
    assert tree.locate(-0.01, 0.5) is None
    assert tree.locate(39.6, 106.8) is None


def test_shared_border_goes_to_exactly_one_grid_the_smallest_code(tree: AreaTree) -> None:
    assert tree.locate(0.5, 0.5) == "15030201"  # between 15030201 and 15030202
    assert tree.locate(0.3, 1.0) == "15030202"  # between 15030202 and 15030301
    assert tree.locate(1.0, 0.5) == "15030201"  # a corner shared by two grids
    assert tree.locate(0.0, 0.0) == "15030201"  # the city's outer edge counts as inside


def test_only_leaves_are_returned_never_districts(tree: AreaTree) -> None:
    # Districts have shapes too; the locator must only answer with leaves.
    found = set(tree.locate_many(np.linspace(0.05, 0.95, 7), np.linspace(0.05, 1.95, 7)))
    assert found <= {"15030201", "15030202", "15030301"}


def test_locate_many_is_aligned_and_handles_missing(tree: AreaTree) -> None:
    lats = [0.5, math.nan, 0.5, 5.0, 0.5]
    lons = [0.25, 0.25, None, 5.0, 1.5]
    assert tree.locate_many(lats, lons) == ["15030201", None, None, None, "15030301"]
    assert tree.locate_many([], []) == []
    with pytest.raises(ValueError, match="differ in length"):
        tree.locate_many([1.0, 2.0], [1.0])


def test_leaf_without_shape_is_skipped_and_mixed_depths_work() -> None:
    extra = rows() + [{"code": "150304", "name": "乌达区", "level": "district", "parent_code": "150300"}]
    gj = geojson()
    gj["features"].append(feature("150304", square(2, 0, 3, 1)))  # a leaf district
    tree = AreaTree.build(extra, gj)
    assert tree.locate(0.5, 2.5) == "150304"
    assert AreaTree.build(rows()).locate(0.5, 0.25) is None  # no shapes at all


def test_point_locator_on_many_points_matches_a_slow_check() -> None:
    rng = np.random.default_rng(3)
    shapes = {f"{i:02d}": box(i, 0, i + 1, 1) for i in range(10)}
    lons, lats = rng.uniform(-1, 11, 5000), rng.uniform(-0.5, 1.5, 5000)
    got = PointLocator(shapes).locate_many(lats, lons)
    expected = [
        f"{int(math.floor(x)):02d}" if 0 <= x < 10 and 0 <= y <= 1 else None
        for x, y in zip(lons, lats)
    ]
    assert got == expected

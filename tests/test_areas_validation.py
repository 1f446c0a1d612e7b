"""AreaTree.build refuses bad data, naming every offending code, all at once."""

from __future__ import annotations

import pytest

from metrics.areas import AreaTree, AreaTreeError
from tests.test_areas_fixtures import feature, geojson, rows, square


def errors_of(rows_in: list[dict], gj: dict | None = None) -> list[str]:
    with pytest.raises(AreaTreeError) as info:
        AreaTree.build(rows_in, gj)
    return info.value.errors


def test_valid_fixture_builds() -> None:
    assert len(AreaTree.build(rows(), geojson())) == 6


def test_error_is_a_value_error_listing_the_errors() -> None:
    with pytest.raises(ValueError, match="1 area tree error"):
        AreaTree.build(rows() + [rows()[1]])


def test_duplicate_code() -> None:
    assert errors_of(rows() + [rows()[3]]) == ["15030201: duplicate code"]


def test_missing_parent() -> None:
    extra = {"code": "15030299", "name": "x", "level": "grid", "parent_code": "150399"}
    assert errors_of(rows() + [extra]) == ["15030299: parent 150399 does not exist"]


def test_child_level_must_be_deeper_than_parent() -> None:
    same = {"code": "150304", "name": "乌达区", "level": "district", "parent_code": "150302"}
    higher = {"code": "150305", "name": "x", "level": "city", "parent_code": "15030201"}
    assert errors_of(rows() + [same, higher]) == [
        "150304: level district is not deeper than parent 150302's level district",
        "150305: level city is not deeper than parent 15030201's level grid",
    ]


def test_unknown_level_and_empty_fields() -> None:
    bad = [
        {"code": "15030203", "name": "x", "level": "village", "parent_code": "150302"},
        {"code": "15030204", "name": " ", "level": "grid", "parent_code": "150302"},
        {"code": "", "name": "nameless", "level": "grid", "parent_code": "150302"},
    ]
    errs = errors_of(rows() + bad)
    assert errs[0].startswith("15030203: unknown level 'village'")
    assert errs[1:] == ["15030204: empty name", "row #9: empty code"]


def test_exactly_one_root() -> None:
    second = {"code": "150400", "name": "另一市", "level": "city", "parent_code": None}
    assert errors_of(rows() + [second]) == [
        "150400: a second root (roots: 150300, 150400); only one node may have no parent"
    ]
    looped = [dict(r, parent_code=r["parent_code"] or "15030201") for r in rows()]
    errs = errors_of(looped)
    assert "tree: no root (every row has a parent_code)" in errs
    assert "150300: level city is not deeper than parent 15030201's level grid" in errs
    assert "150300: cycle in parents (150300 → 15030201 → 150302 → 150300)" in errs


def test_empty_input() -> None:
    assert errors_of([]) == ["tree: no rows"]


def test_self_parent() -> None:
    me = {"code": "150399", "name": "x", "level": "district", "parent_code": "150399"}
    assert "150399: is its own parent" in errors_of(rows() + [me])


def test_bow_tie_polygon_is_invalid() -> None:
    gj = geojson()
    bow_tie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    gj["features"][2] = feature("15030201", bow_tie)
    errs = errors_of(rows(), gj)
    assert len(errs) == 1 and errs[0].startswith("15030201: invalid polygon (Self-intersection")


def test_coordinate_out_of_wgs84_range() -> None:
    gj = geojson()
    gj["features"][4] = feature("15030301", square(179, 0, 181, 1))
    gj["features"][3] = feature("15030202", square(0.5, 89, 1, 91))
    assert errors_of(rows(), gj) == [
        "15030202: coordinate (1, 91) outside WGS-84 range (lon -180..180, lat -90..90)",
        "15030301: coordinate (181, 0) outside WGS-84 range (lon -180..180, lat -90..90)",
    ]


def test_geometry_for_unknown_code_and_other_feature_problems() -> None:
    gj = geojson()
    gj["features"] += [
        feature("99", square(0, 0, 1, 1)),
        feature("150302", square(0, 0, 1, 1)),
        {"type": "Feature", "properties": {}, "geometry": square(0, 0, 1, 1)},
        feature("150300", {"type": "Point", "coordinates": [1, 1]}),
    ]
    assert errors_of(rows(), gj) == [
        "150302: more than one geometry",
        "geojson feature #7: no properties.code",
        "150300: geometry type Point is not Polygon or MultiPolygon",
        "99: geometry for unknown code",
    ]


def test_not_a_feature_collection() -> None:
    assert errors_of(rows(), {"type": "Feature"}) == ["geojson: not a FeatureCollection"]


def test_all_errors_are_collected_together() -> None:
    gj = geojson()
    gj["features"].append(feature("77", square(0, 0, 1, 1)))
    bad_rows = rows() + [rows()[0] | {"code": "150302"}]
    bad_rows.append({"code": "1503029", "name": "x", "level": "grid", "parent_code": "404"})
    errs = errors_of(bad_rows, gj)
    assert errs == [
        "150302: duplicate code",
        "1503029: parent 404 does not exist",
        "77: geometry for unknown code",
    ]


def test_null_geometry_is_allowed_and_numeric_codes_become_text() -> None:
    gj = geojson()
    gj["features"].append(feature("150300", None))
    numeric = [dict(r, code=int(r["code"]), parent_code=int(r["parent_code"]) if r["parent_code"] else None)
               for r in rows()]
    tree = AreaTree.build(numeric, gj)
    assert tree.root.code == "150300" and not tree.has_shape("150300")
    assert tree.node("15030201").parent_code == "150302"

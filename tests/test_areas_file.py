"""Reading area files: CSV with or without BOM, GeoJSON, clear errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from feeds.areas.files import read_area_files
from metrics.areas import AreaTreeError
from tests.test_areas_fixtures import geojson, rows

CSV_TEXT = "code,name,level,parent_code\n" + "".join(
    f"{r['code']},{r['name']},{r['level']},{r['parent_code']}\n" for r in rows()
)


def write(tmp_path: Path, csv_text: str = CSV_TEXT, gj: object = None, bom: bool = False) -> tuple[Path, Path]:
    csv_path, gj_path = tmp_path / "areas.csv", tmp_path / "areas.geojson"
    csv_path.write_text(csv_text, encoding="utf-8-sig" if bom else "utf-8")
    gj_path.write_text(json.dumps(geojson() if gj is None else gj, ensure_ascii=False), encoding="utf-8")
    return csv_path, gj_path


@pytest.mark.parametrize("bom", [False, True])
def test_reads_csv_with_or_without_bom(tmp_path: Path, bom: bool) -> None:
    tree = read_area_files(*write(tmp_path, bom=bom))
    assert tree.root.code == "150300" and tree.root.name == "乌海市"
    assert tree.codes_at("grid") == ["15030201", "15030202", "15030301"]
    assert tree.locate(0.5, 0.25) == "15030201"


def test_columns_in_any_order_extra_columns_and_leading_zeros(tmp_path: Path) -> None:
    text = "level,parent_code,code,name,note\ncity,,0010,城,x\ndistrict,0010,00101,区,y\n"
    tree = read_area_files(write(tmp_path, text)[0], None)
    assert tree.root.code == "0010" and tree.children("0010")[0].code == "00101"
    assert not tree.has_shape("0010")


def test_missing_column_names_the_file(tmp_path: Path) -> None:
    csv_path, gj_path = write(tmp_path, "code,name,parent_code\n150300,乌海市,\n")
    with pytest.raises(AreaTreeError) as info:
        read_area_files(csv_path, gj_path)
    assert info.value.errors == [f"{csv_path}: missing column(s) level"]


def test_unreadable_files_name_the_file(tmp_path: Path) -> None:
    csv_path, gj_path = write(tmp_path)
    with pytest.raises(AreaTreeError, match="nothere.csv: cannot read area CSV"):
        read_area_files(tmp_path / "nothere.csv", gj_path)
    gj_path.write_text("{not json", encoding="utf-8")
    with pytest.raises(AreaTreeError, match="areas.geojson: cannot read GeoJSON"):
        read_area_files(csv_path, gj_path)
    gj_path.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(AreaTreeError, match="areas.geojson: not a GeoJSON FeatureCollection"):
        read_area_files(csv_path, gj_path)
    csv_path.write_bytes("code,name,level,parent_code\n1,\xff\xfe,city,\n".encode("latin-1"))
    with pytest.raises(AreaTreeError, match="areas.csv: cannot read area CSV"):
        read_area_files(csv_path, gj_path)


def test_content_errors_are_named_by_code(tmp_path: Path) -> None:
    csv_path, gj_path = write(tmp_path, CSV_TEXT + "15030299,x,grid,150399\n")
    with pytest.raises(AreaTreeError) as info:
        read_area_files(csv_path, gj_path)
    assert info.value.errors == ["15030299: parent 150399 does not exist"]

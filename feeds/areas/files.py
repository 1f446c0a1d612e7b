"""Read an area tree from files: a CSV of ``code,name,level,parent_code`` and a GeoJSON.

The only I/O of the area tree. Every value is read as text, so codes keep their leading
zeros and never turn into numbers. A file that cannot be read, or a CSV without a needed
column, raises :class:`AreaTreeError` naming the file; the tree's own checks name codes.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from metrics.areas import AreaTree, AreaTreeError

AREA_COLUMNS = ("code", "name", "level", "parent_code")
DEMO_DIR = Path(__file__).resolve().parents[1] / "demo" / "data" / "wuhai"


def demo_area_paths() -> tuple[Path, Path]:
    """The packaged demo city (乌海市): ``(areas.csv, areas.geojson)``."""
    return DEMO_DIR / "areas.csv", DEMO_DIR / "areas.geojson"


def read_area_rows(csv_path: str | Path) -> list[dict]:
    """Rows of the four area columns as text (UTF-8, with or without BOM)."""
    path = Path(csv_path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [(h or "").strip() for h in (reader.fieldnames or [])]
            missing = [c for c in AREA_COLUMNS if c not in header]
            if missing:
                raise AreaTreeError([f"{path}: missing column(s) {', '.join(missing)}"])
            reader.fieldnames = header
            return [{c: (row.get(c) or "").strip() for c in AREA_COLUMNS} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AreaTreeError([f"{path}: cannot read area CSV ({exc})"]) from exc


def read_area_geojson(geojson_path: str | Path) -> dict:
    """A GeoJSON document from a file (UTF-8, with or without BOM)."""
    path = Path(geojson_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise AreaTreeError([f"{path}: cannot read GeoJSON ({exc})"]) from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise AreaTreeError([f"{path}: not a GeoJSON FeatureCollection"])
    return data


def read_area_files(csv_path: str | Path, geojson_path: str | Path | None) -> AreaTree:
    """Build a validated :class:`AreaTree` from a CSV and a GeoJSON (None: no shapes)."""
    rows = read_area_rows(csv_path)
    geojson = read_area_geojson(geojson_path) if geojson_path else None
    return AreaTree.build(rows, geojson)

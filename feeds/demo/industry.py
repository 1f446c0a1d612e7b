"""Seeded simulator of the demo city's industrial enterprises (亩均效益 input).

About 400 made-up enterprises in Wuhai's three industrial parks over three years, in
canonical enterprise columns. Calibrated to FIGURES.md (铜陵 2021: tax per mu 14.05
万元/亩, sales per mu ≈ 604 万元/亩, labour productivity ≈ 54.5 万元/人; 黄岩: R&D
intensity ≈ 3 %, value added per tce a few 万元): tax per mu is log-normal with mean ≈ 14
and a long tail. A few exempt utilities, a few plots under the 3-mu threshold, a few
refund years (negative tax) and a few missing inputs. Names and codes are invented; the
credit codes pass the GB 32100 check so the feed accepts them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from feeds.industry.config import CANONICAL_FIELDS
from metrics.credit_code import CHARSET, check_char, org_check_char

DEFAULT_AREAS = Path(__file__).resolve().parent / "data" / "wuhai" / "areas.csv"

# park, district code (GB/T 2260), the streets (NBS 2023 codes) whose grids it uses
PARKS = (
    ("海勃湾产业园", "150302", ("150302400000", "150302101000")),  # 高新区海勃湾产业园, 千里山镇
    ("海南产业园", "150303", ("150303103000", "150303002000")),  # 拉僧庙镇, 西卓子山街道
    ("乌达产业园", "150304", ("150304400000", "150304101000")),  # 乌达经济开发区, 乌兰淖尔镇
)

# sector, share, value added / sales, tce per 万元 of value added, R&D intensity, exempt
SECTORS = (
    ("煤化工", 0.22, 0.25, 2.6, 0.012, False),
    ("氯碱化工", 0.12, 0.22, 2.2, 0.010, False),
    ("冶金", 0.14, 0.18, 3.0, 0.006, False),
    ("建材", 0.12, 0.25, 1.6, 0.008, False),
    ("新材料", 0.13, 0.30, 0.9, 0.030, False),
    ("装备制造", 0.13, 0.30, 0.3, 0.035, False),
    ("农副食品加工", 0.12, 0.22, 0.2, 0.010, False),
    ("电力热力燃气水务", 0.015, 0.35, 2.0, 0.003, True),
)
_TRADE = "海勃蒙泰宏达金鑫恒源瑞丰华兴天宇隆盛汇通广源君正黄河阳光神华东源西来峰"
_SUFFIX = ("有限公司", "有限责任公司", "股份有限公司")

TAX_PER_MU_MEAN = 14.0  # 万元/亩
TAX_PER_MU_SIGMA = 1.05  # log-normal spread: the long tail
SMALL_LAND_SHARE = 0.025
REFUND_SHARE = 0.01
GROWTH = 0.03  # mean yearly growth of an enterprise's business (log)


def _noise(rng: np.random.Generator, sigma: float) -> float:
    """A log-normal factor with mean 1."""
    return float(np.exp(rng.normal(-sigma * sigma / 2, sigma)))


def _credit_code(rng: np.random.Generator, division: str, taken: set[str]) -> str:
    body_chars = CHARSET[:-1]  # any GB 32100 character works for the organisation body
    while True:
        body = "".join(rng.choice(list(body_chars), 8))
        head = "91" + division + body + org_check_char(body)
        code = head + check_char(head)
        if code not in taken:
            taken.add(code)
            return code


def grid_pools(areas_csv: str | Path | None) -> dict[str, list[str]]:
    """Grid codes of an area-tree CSV (code,name,level,parent_code) under each ancestor
    code; district ancestors are also keyed by their 6-digit GB/T 2260 code."""
    if areas_csv is None or not Path(areas_csv).exists():
        return {}
    areas = pd.read_csv(areas_csv, dtype=str).fillna("")
    parent = dict(zip(areas["code"], areas["parent_code"]))
    level = dict(zip(areas["code"], areas["level"]))
    out: dict[str, list[str]] = {}
    for code in areas.loc[areas["level"] == "grid", "code"]:
        node, depth = parent.get(code, ""), 0
        while node and depth < 10:
            out.setdefault(node, []).append(code)
            if level.get(node) == "district":
                out.setdefault(node[:6], []).append(code)
            node, depth = parent.get(node, ""), depth + 1
    return out


def simulate_industry(
    seed: int = 2025,
    n: int = 400,
    years: tuple[int, ...] = (2023, 2024, 2025),
    areas_csv: str | Path | None = DEFAULT_AREAS,
    grid_codes: list[str] | None = None,
) -> pd.DataFrame:
    """Canonical enterprise records, one row per enterprise and year."""
    rng = np.random.default_rng(seed)
    pools = grid_pools(areas_csv)
    all_grids = sorted({g for gs in pools.values() for g in gs}) or list(grid_codes or [])
    shares = np.array([s[1] for s in SECTORS])
    sector_idx = rng.choice(len(SECTORS), n, p=shares / shares.sum())
    park_idx = rng.choice(len(PARKS), n, p=[0.35, 0.35, 0.30])
    land = np.exp(rng.normal(np.log(40), 1.0, n)).clip(3.2, 3000)
    small = rng.random(n) < SMALL_LAND_SHARE
    land[small] = rng.uniform(0.8, 2.9, small.sum())
    tax_pm = np.exp(rng.normal(0.0, TAX_PER_MU_SIGMA, n))
    tax_pm *= TAX_PER_MU_MEAN / tax_pm.mean()  # mean exactly 14 before yearly noise
    tax_share = np.exp(rng.normal(np.log(0.0233), 0.35, n))  # tax / sales (铜陵: 14.05 / 603.7)
    lab_prod = np.exp(rng.normal(np.log(55), 0.5, n))  # 万元 of value added per person
    taken: set[str] = set()
    rows = []
    for i in range(n):
        name, _, va_ratio, energy_int, rd_int, exempt = SECTORS[sector_idx[i]]
        park, district, streets = PARKS[park_idx[i]]
        code = _credit_code(rng, district, taken)
        pool = [g for st in streets for g in pools.get(st, [])] or pools.get(district) or all_grids
        grid = pool[rng.integers(len(pool))] if pool else None
        trade = "".join(rng.choice(list(_TRADE), 2))
        title = f"乌海市{trade}{name}{_SUFFIX[rng.integers(3)]}"
        level = float(np.exp(-GROWTH * (len(years) - 1) / 2))  # the middle year is on calibration
        for year in years:
            level *= _noise(rng, 0.12) * (float(np.exp(GROWTH)) if year != years[0] else 1.0)
            tax = land[i] * tax_pm[i] * level * _noise(rng, 0.15)
            sales = tax / tax_share[i] * float(np.exp(rng.normal(0, 0.1)))
            if rng.random() < REFUND_SHARE:
                tax = -float(rng.uniform(0.5, 20))  # a refund year
            va = sales * va_ratio * float(np.exp(rng.normal(0, 0.15)))
            energy = va * energy_int * float(np.exp(rng.normal(0, 0.4)))
            rd = sales * rd_int * float(np.exp(rng.normal(0, 0.6))) if rng.random() > 0.25 else 0.0
            rows.append({
                "credit_code": code, "name": title, "grid_code": grid, "park": park,
                "industry": name, "period": str(year), "land_mu": round(float(land[i]), 2),
                "sales": round(sales, 2), "tax": round(tax, 2), "value_added": round(va, 2),
                "energy_tce": None if rng.random() < 0.02 else round(energy, 1),
                "employees": max(5, int(round(va / lab_prod[i]))),
                "rd_spend": None if rng.random() < 0.03 else round(rd, 2),
                "exempt": bool(exempt),
                "updated_at": f"{year + 1}-0{1 + int(rng.integers(3))}-15T10:00:00+08:00",
            })
    return pd.DataFrame(rows, columns=list(CANONICAL_FIELDS))


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV (with BOM, as Excel expects) in canonical columns."""
    buf = io.StringIO()
    df.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_excel(buf, index=False)
    return buf.getvalue()

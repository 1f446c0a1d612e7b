"""What the simulated city's tickets are about: categories, departments, sources.

The category mix follows the published 12345 figures in `shared/data/FIGURES.md`
(a provincial network's city level: 咨询 ~42 %, 投诉举报 ~33 %, 求助 ~20 %, 建议 ~2 %,
other ~3 %), mapped onto concrete categories a city operations centre sees. Each row gives
the category's class, kind (event 事件 / component 部件), responsible department, Open311
service code, its weight per source, and how likely it is urgent or complex.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SOURCES: tuple[str, ...] = ("hotline", "patrol", "app")
SOURCE_SHARES: tuple[float, ...] = (0.70, 0.15, 0.15)
URGENCIES: tuple[str, ...] = ("urgent", "normal", "complex")
RATINGS: tuple[str | None, ...] = (None, "satisfied", "basic", "dissatisfied")
RESOLVED: tuple[str | None, ...] = (None, "yes", "no")

STREET_OFFICE = "街道办事处"  # a category handled by the ticket's own street office
HOTLINE_CENTRE = "12345热线服务中心"  # consultations answered directly on the phone


@dataclass(frozen=True)
class Category:
    code: str  # Open311 service_code (a string, strict JSON)
    name: str
    klass: str  # 咨询 / 求助 / 投诉举报 / 建议 / 其他
    kind: str  # event / component
    department: str
    w_hotline: float
    w_patrol: float
    w_app: float
    p_urgent: float = 0.0
    p_complex: float = 0.08
    heating: bool = False  # seasonal: heating season in Wuhai is 15 Oct – 15 Apr


CATEGORIES: tuple[Category, ...] = (
    # 咨询 (consultations): most are answered directly by the hotline operator
    Category("001", "政策咨询", "咨询", "event", "政务服务局", 24.0, 0, 8.0, 0, 0.02),
    Category("002", "社保医保咨询", "咨询", "event", "人社局", 20.0, 0, 6.0, 0, 0.02),
    Category("003", "户籍证件咨询", "咨询", "event", "公安局", 14.0, 0, 4.0, 0, 0.02),
    Category("004", "公交出行咨询", "咨询", "event", "交通运输局", 10.0, 0, 4.0, 0, 0.02),
    Category("005", "供暖缴费咨询", "咨询", "event", "热力公司", 12.0, 0, 3.0, 0, 0.02, True),
    # 求助 (requests for help)
    Category("011", "供水问题", "求助", "event", "水务公司", 9.0, 1.0, 5.0, 0.06, 0.05),
    Category("012", "供暖问题", "求助", "event", "热力公司", 9.0, 0.5, 5.0, 0.03, 0.08, True),
    Category("013", "供电问题", "求助", "event", "供电公司", 5.0, 0.5, 2.0, 0.05, 0.05),
    Category("014", "燃气异味", "求助", "event", "燃气公司", 1.0, 0.5, 1.0, 0.60, 0.02),
    Category("015", "路灯不亮", "求助", "component", "城管局", 1.5, 8.0, 3.0, 0, 0.03),
    Category("016", "井盖缺失", "求助", "component", "城管局", 0.5, 6.0, 2.0, 0.30, 0.03),
    # 投诉举报 (complaints and reports)
    Category("021", "噪音扰民", "投诉举报", "event", "生态环境局", 5.0, 2.0, 7.0, 0, 0.08),
    Category("022", "违章停车", "投诉举报", "event", "交警支队", 4.0, 12.0, 8.0, 0, 0.03),
    Category("023", "占道经营", "投诉举报", "event", "城管局", 3.0, 20.0, 6.0, 0, 0.05),
    Category("024", "物业纠纷", "投诉举报", "event", "住建局", 5.0, 0, 5.0, 0, 0.35),
    Category("025", "垃圾清运", "投诉举报", "event", "城管局", 3.0, 18.0, 7.0, 0, 0.03),
    Category("026", "道路破损", "投诉举报", "component", "住建局", 2.0, 12.0, 5.0, 0.02, 0.15),
    Category("027", "食品安全", "投诉举报", "event", "市场监管局", 2.0, 1.0, 3.0, 0.02, 0.15),
    Category("028", "消费纠纷", "投诉举报", "event", "市场监管局", 3.0, 0, 4.0, 0, 0.12),
    Category("029", "违章建筑", "投诉举报", "event", "城管局", 1.0, 6.0, 2.0, 0, 0.60),
    Category("030", "劳动欠薪", "投诉举报", "event", "人社局", 2.0, 0, 1.5, 0, 0.45),
    Category("031", "环境污染", "投诉举报", "event", "生态环境局", 1.0, 3.0, 2.0, 0.03, 0.25),
    Category("032", "小区环境", "投诉举报", "event", STREET_OFFICE, 2.0, 9.0, 5.0, 0, 0.05),
    # 建议 (suggestions) and 其他 (other, incl. thanks)
    Category("041", "城市建设建议", "建议", "event", "住建局", 2.0, 0, 3.0, 0, 0.40),
    Category("042", "其他诉求", "其他", "event", "政务服务局", 3.0, 0.5, 2.0, 0, 0.05),
)

DEPARTMENTS: tuple[str, ...] = tuple(dict.fromkeys(
    c.department for c in CATEGORIES if c.department != STREET_OFFICE))

# How much more often than the base rate a department closes late (leaders need something
# to see); street offices default to 1 and a few "slow" streets are drawn from the seed.
LATE_FACTOR: dict[str, float] = {
    "住建局": 2.6, "城管局": 1.5, "热力公司": 1.8, "人社局": 1.4, "交警支队": 0.6,
    "公安局": 0.5, "燃气公司": 0.8, "水务公司": 1.0, "市场监管局": 1.2,
}

# Relative ticket intake per local hour, per source (hotline peaks mid-morning and
# mid-afternoon; patrol staff work days; the app has an evening peak).
HOURLY: dict[str, tuple[float, ...]] = {
    "hotline": (0.4, 0.25, 0.2, 0.15, 0.15, 0.3, 0.8, 2.0, 4.5, 6.5, 7.0, 6.5,
                4.5, 4.0, 5.5, 6.0, 6.0, 5.5, 4.0, 3.5, 3.0, 2.5, 1.6, 0.9),
    "patrol": (0, 0, 0, 0, 0, 0, 0.2, 1.5, 6.0, 7.0, 7.0, 5.5,
               2.0, 2.5, 6.0, 6.5, 6.0, 4.0, 1.0, 0.2, 0, 0, 0, 0),
    "app": (1.0, 0.6, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 3.5, 4.5, 4.5, 4.5,
            4.0, 3.5, 4.0, 4.5, 4.5, 4.5, 5.0, 5.5, 5.5, 4.5, 3.0, 1.8),
}


def category_weights(source: str, heating_season: bool) -> np.ndarray:
    """Probability of each category for tickets of one source on one day."""
    w = np.array([getattr(c, f"w_{source}") for c in CATEGORIES], dtype=float)
    heat = np.array([c.heating for c in CATEGORIES])
    w[heat] *= 2.5 if heating_season else 0.15
    return w / w.sum()


def hourly_probs(source: str) -> np.ndarray:
    h = np.array(HOURLY[source], dtype=float)
    return h / h.sum()


def is_heating_season(month: int, day: int) -> bool:
    return (month, day) >= (10, 15) or (month, day) < (4, 15)


DESCRIPTIONS: dict[str, str] = {
    "咨询": "市民咨询{cat}相关事宜，请予以答复。",
    "求助": "市民反映{place}附近{cat}，请求尽快协调处理。",
    "投诉举报": "市民反映{place}存在{cat}情况，请相关部门核实处理。",
    "建议": "市民就{place}提出{cat}，请研究答复。",
    "其他": "市民反映{place}的{cat}，请相关部门处理。",
}

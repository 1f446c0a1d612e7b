"""How one industry feed (CSV/XLSX of enterprise indicators) is read: header mapping and
units. Built from a `[[feeds]]` entry of kind "industry" by `feed_config`:

    [[feeds]]
    name = "tax-bureau"
    kind = "industry"
    path = "/data/drop/industry"          # a file or a drop folder; or url = "https://..."
    mapping = { "纳税人识别号" = "credit_code" }
    land_unit = "m2"                      # mu | m2 | ha
    money_unit = "yuan"                   # wan_yuan | yuan
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CANONICAL_FIELDS = (
    "credit_code", "name", "grid_code", "park", "industry", "period", "land_mu", "sales",
    "tax", "value_added", "energy_tce", "employees", "rd_spend", "exempt", "updated_at",
)
NUMERIC_FIELDS = ("land_mu", "sales", "tax", "value_added", "energy_tce", "employees", "rd_spend")
MONEY_FIELDS = ("sales", "tax", "value_added", "rd_spend")
# A negative value of these cannot be true; a negative tax or value added can (refunds, losses).
NON_NEGATIVE_FIELDS = ("land_mu", "sales", "energy_tce", "employees", "rd_spend")

M2_PER_MU = 666.67
MU_PER_HECTARE = 15.0
YUAN_PER_WAN = 10_000.0


def default_columns() -> dict[str, str]:
    """Headers real departments send -> canonical field (canonical names always work)."""
    return {
        "统一社会信用代码": "credit_code", "社会信用代码": "credit_code", "信用代码": "credit_code",
        "企业名称": "name", "单位名称": "name",
        "网格编码": "grid_code", "网格代码": "grid_code", "所属网格": "grid_code",
        "所属园区": "park", "园区": "park",
        "所属行业": "industry", "行业": "industry", "行业类别": "industry",
        "评价年度": "period", "年度": "period", "期间": "period", "评价期": "period",
        "用地面积(亩)": "land_mu", "用地面积": "land_mu", "占地面积(亩)": "land_mu",
        "销售收入(万元)": "sales", "营业收入(万元)": "sales", "开票销售(万元)": "sales",
        "税收(万元)": "tax", "入库税收(万元)": "tax", "实缴税金(万元)": "tax",
        "工业增加值(万元)": "value_added", "增加值(万元)": "value_added",
        "综合能耗(吨标准煤)": "energy_tce", "综合能耗(吨标煤)": "energy_tce", "能耗(吨标准煤)": "energy_tce",
        "职工人数": "employees", "从业人员": "employees", "年平均职工人数": "employees",
        "研发经费(万元)": "rd_spend", "研发投入(万元)": "rd_spend",
        "是否免评": "exempt", "免评": "exempt",
        "更新时间": "updated_at",
    }


@dataclass(frozen=True)
class IndustryFeedConfig:
    """One upstream file feed: its header mapping and the units its numbers come in."""

    name: str = "industry"
    columns: dict[str, str] = field(default_factory=default_columns)
    land_unit: Literal["mu", "m2", "ha"] = "mu"
    money_unit: Literal["wan_yuan", "yuan"] = "wan_yuan"
    sheet: str = ""  # XLSX sheet name; "" = the first sheet
    org_code_check: bool = False  # also check the GB 11714 character at position 17
    timezone: str = "Asia/Shanghai"  # for updated_at values without an offset

    def __post_init__(self) -> None:
        bad = sorted({v for v in self.columns.values() if v not in CANONICAL_FIELDS})
        if bad:
            raise ValueError(f"columns: expected canonical fields {list(CANONICAL_FIELDS)}, got {bad}")
        if self.land_unit not in ("mu", "m2", "ha"):
            raise ValueError(f"land_unit: expected 'mu', 'm2' or 'ha', got {self.land_unit!r}")
        if self.money_unit not in ("wan_yuan", "yuan"):
            raise ValueError(f"money_unit: expected 'wan_yuan' or 'yuan', got {self.money_unit!r}")

    def to_mu(self, value: float) -> float:
        """A land figure in this feed's unit, in 亩."""
        if self.land_unit == "m2":
            return value / M2_PER_MU
        return value * MU_PER_HECTARE if self.land_unit == "ha" else value

    def to_wan_yuan(self, value: float) -> float:
        """A money figure in this feed's unit, in 万元."""
        return value / YUAN_PER_WAN if self.money_unit == "yuan" else value


def feed_config(feed: object, timezone: str = "Asia/Shanghai") -> IndustryFeedConfig:
    """The adapter's config from a `[[feeds]]` entry (dashboard.config.settings.FeedSettings):
    its `mapping` is added to the default headers; `land_unit`, `money_unit`, `sheet` and
    `org_code_check` are read when the entry has them."""
    base = IndustryFeedConfig()
    return IndustryFeedConfig(
        name=getattr(feed, "name", base.name) or base.name,
        columns={**default_columns(), **dict(getattr(feed, "mapping", {}) or {})},
        land_unit=getattr(feed, "land_unit", base.land_unit),
        money_unit=getattr(feed, "money_unit", base.money_unit),
        sheet=getattr(feed, "sheet", base.sheet),
        org_code_check=getattr(feed, "org_code_check", base.org_code_check),
        timezone=timezone,
    )

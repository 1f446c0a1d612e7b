"""/industry export: numbers rounded as the page shows them, R&D intensity in per cent, the
missing inputs in words, the what-if target, and a note on negative tax (a refund year)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

from callbacks import industry as cb
from dashboard.queries import industry_views as iv
from layouts.industry import missing_text
from metrics.industry import low_efficiency
from test_page_industry import EXPORTER, expected, rt  # noqa: F401 - fixtures


def _row(**kw):
    base = {c: np.nan for c in iv.EXPORT_COLUMNS}
    base.update(credit_code="91150300MA0000001X", name="某厂", tax=-0.9213221601489757, land_mu=12.345678,
                tax_per_mu=-0.07462733, rd_intensity=0.0156, score=41.23456, rank=17, grade="D",
                missing="rd_intensity,energy_tce", what_if_grade="C", what_if_tax_per_mu=3.456789,
                low_reason="grade D")
    base.update(kw)
    return base


def test_iex001_rounded_percent_words_and_note():
    df = pd.DataFrame([_row(), _row(credit_code="B", tax=5.0, tax_per_mu=-0.0001, missing="", rd_intensity=np.nan)])
    out = iv.export_frame(df, missing_words=lambda m: missing_text(m, "zh"), negative_tax_note="税收为负(退税年度)")
    r = out.iloc[0]
    assert (r["tax"], r["land_mu"], r["tax_per_mu"], r["score"]) == (-0.92, 12.35, -0.07, 41.2)
    assert r["rd_intensity"] == 1.56                       # per cent, not the fraction 0.0156
    assert r["missing"] == "研发强度、综合能耗(吨标煤)"
    assert "rd_intensity" not in r["missing"]
    assert (r["what_if_grade"], r["what_if_tax_per_mu"]) == ("C", 3.46)
    assert r["note"] == "税收为负(退税年度)"
    s = out.iloc[1]
    assert s["note"] == "" and s["missing"] == "" and pd.isna(s["rd_intensity"])   # missing stays empty
    assert str(s["tax_per_mu"]) == "0.0"                   # never "-0.0"


def test_iex002_exported_file(rt, expected):  # noqa: F811
    exp = low_efficiency(expected["2025"], rt.settings.industry)
    out = cb.export("csv", "?period=2025", "zh", rt, EXPORTER)
    text = base64.b64decode(out["content"]).decode("utf-8-sig")
    csv = pd.read_csv(io.StringIO(text), dtype=str)
    for col in ("研发强度(%)", "提升目标等级", "升级需增亩均税收(万元/亩)", "说明", "缺项"):
        assert col in csv.columns, col
    rd = pd.to_numeric(csv["研发强度(%)"], errors="coerce")
    want = (exp["rd_intensity"] * 100).round(2)
    assert np.allclose(rd.dropna().to_numpy(), want.dropna().to_numpy())
    for col in csv.columns:   # no float with more than two decimals anywhere
        for v in csv[col].dropna():
            if v.replace(".", "", 1).replace("-", "", 1).isdigit() and "." in v:
                assert len(v.split(".")[1]) <= 2, (col, v)
    assert not csv["缺项"].fillna("").str.contains("rd_intensity|energy_tce|_").any()
    graded_bcd = exp["grade"].isin(["B", "C", "D"])
    assert csv.loc[graded_bcd.to_numpy(), "提升目标等级"].notna().all()
    negative = pd.to_numeric(exp["tax"], errors="coerce") < 0
    assert (csv.loc[negative.to_numpy(), "说明"].fillna("").str.contains("退税")).all()
    assert not csv.loc[~negative.to_numpy(), "说明"].fillna("").str.contains("退税").any()

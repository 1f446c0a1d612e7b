"""Industry feed adapter and the GB 32100 credit-code check."""

import io

import pytest
from openpyxl import Workbook

from feeds.industry.parse import IndustryFeedError, normalize_period, parse_industry
from feeds.industry.config import IndustryFeedConfig, default_columns
from metrics.credit_code import check_char, credit_code_problem, is_valid_credit_code, org_check_char

# Real codes, as published on the companies' business licences.
HUAWEI = "914403001922038216"    # 华为技术有限公司
TENCENT = "91440300708461136T"   # 深圳市腾讯计算机系统有限公司
BYD = "91440300192317458F"       # 比亚迪股份有限公司
BAIDU = "91110000802100433B"     # 北京百度网讯科技有限公司
XIAOMI = "91110108558521630L"    # 小米通讯技术有限公司


@pytest.mark.parametrize("code", [HUAWEI, TENCENT, BYD, BAIDU, XIAOMI])
def test_real_codes_pass_both_checks(code):
    assert check_char(code[:17]) == code[17]
    assert org_check_char(code[8:16]) == code[16]
    assert is_valid_credit_code(code, org_check=True)


def test_check_character_by_hand():
    # 91440300708461136 with weights 3^(i-1) mod 31 = 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28:
    # 9+3+36+108+0+78+0+0+140+0+200+52+48+24+10+90+168 = 966; 966 mod 31 = 5; 31-5 = 26 -> 'T'
    assert check_char("91440300708461136") == "T"


@pytest.mark.parametrize("code, reason", [
    (TENCENT[:-1] + "X", "check character is X, expected T"),
    (HUAWEI[:-1], "length 17, expected 18"),
    ("91440300708461I36T", "characters not allowed by GB 32100: I"),
    ("9144O300708461136T", "characters not allowed by GB 32100: O"),
    ("91AB0300708461136T", "positions 3-8"),
])
def test_bad_codes_say_which_check_failed(code, reason):
    assert reason in credit_code_problem(code)


def test_org_code_check_is_optional():
    body = "91110000802100434"  # Baidu with position 17 changed, check character recomputed
    code = body + check_char(body)
    assert credit_code_problem(code) is None
    assert "position 17" in credit_code_problem(code, org_check=True)


def csv_bytes(text: str, enc: str = "utf-8") -> bytes:
    return text.strip().encode(enc) + b"\n"


def test_chinese_headers_units_and_rejects():
    cfg = IndustryFeedConfig(columns={**default_columns(), "用地面积(平方米)": "land_mu", "税收(元)": "tax"},
                             land_unit="m2", money_unit="yuan")
    data = csv_bytes(f"""
统一社会信用代码,企业名称,评价年度,用地面积（平方米）,税收(元),是否免评
{HUAWEI},华为,2025,6666.7,1000000,否
{TENCENT[:-1]}X,腾讯,2025,100,1,否
,无码,2025,100,1,否
{BYD},比亚迪,,100,1,否
{BAIDU},百度,2025,-5,1,否
{XIAOMI},小米,2025,666.67,abc,否
{XIAOMI},小米,2025Q3,666.67,-20000,是
""", "gb18030")
    res = parse_industry(data, cfg)
    assert res.rows_in == 7
    good = {(r["credit_code"], r["period"]): r for r in res.records}
    # 6666.7 m² / 666.67 = 10.0000 亩; 1,000,000 元 / 10,000 = 100 万元
    assert good[(HUAWEI, "2025")]["land_mu"] == pytest.approx(10.0, abs=1e-9)
    assert good[(HUAWEI, "2025")]["tax"] == pytest.approx(100.0)
    # a refund year is real data; -20,000 元 = -2 万元
    assert good[(XIAOMI, "2025Q3")]["tax"] == pytest.approx(-2.0) and good[(XIAOMI, "2025Q3")]["exempt"]
    reasons = {r["index"]: r["reason"] for r in res.rejects}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "check character is X, expected T" in reasons[1]
    assert reasons[2] == "missing credit code"
    assert reasons[3] == "missing period"
    assert reasons[4] == "land_mu: negative (-5)"
    assert reasons[5] == "tax: not a number: 'abc'"
    assert all(set(r) == {"index", "credit_code", "reason", "excerpt"} for r in res.rejects)
    assert res.rejects[0]["credit_code"] == TENCENT[:-1] + "X" and "腾讯" in res.rejects[0]["excerpt"]


def test_missing_input_and_zero_are_not_rejects():
    data = csv_bytes(f"""
credit_code,period,land_mu,tax,sales,energy_tce,rd_spend
{HUAWEI},2025,10,5,0,0,
""")
    res = parse_industry(data)
    assert not res.rejects
    rec = res.records[0]
    assert rec["sales"] == 0.0 and rec["energy_tce"] == 0.0 and rec["rd_spend"] is None


def test_second_row_replaces_only_if_newer():
    data = csv_bytes(f"""
credit_code,period,land_mu,tax,updated_at
{HUAWEI},2025,10,1,
{HUAWEI},2025,10,2,
{BYD},2025,10,1,2026-02-01T09:00:00+08:00
{BYD},2025,10,2,2026-01-01T09:00:00+08:00
{BAIDU},2025,10,1,2026-01-01 09:00
{BAIDU},2025,10,2,2026-01-01T02:00:00Z
{BAIDU},2025,10,3,2026-03-01
""")
    res = parse_industry(data)
    tax = {r["credit_code"]: r["tax"] for r in res.records}
    # no updated_at: the later row wins; older updated_at: the first stays; equal instant
    # (09:00 Shanghai = 01:00Z < 02:00Z): newer wins, then 2026-03-01 is newer again
    assert tax == {HUAWEI: 2.0, BYD: 1.0, BAIDU: 3.0}
    notes = [(n["credit_code"], n["kept_index"], n["dropped_index"], n["reason"]) for n in res.replaced]
    assert notes == [(HUAWEI, 1, 0, "later row in the file"),
                     (BYD, 2, 3, "not newer by updated_at"),
                     (BAIDU, 5, 4, "newer updated_at"),
                     (BAIDU, 6, 5, "newer updated_at")]
    baidu = next(r for r in res.records if r["credit_code"] == BAIDU)
    assert baidu["updated_at"] == "2026-02-28T16:00:00+00:00"  # local midnight 03-01 -> UTC


def test_xlsx_with_a_title_row():
    wb = Workbook()
    ws = wb.active
    ws.append(["2025年度工业企业亩均效益评价数据"])
    ws.append(["统一社会信用代码", "企业名称", "年度", "用地面积(亩)", "税收(万元)", "综合能耗(吨标准煤)"])
    ws.append([HUAWEI, "华为", 2025, 12.5, 250, 100])
    ws.append([BYD, "比亚迪", 2025, "十亩", 1, 1])
    ws.append([None, None, None, None, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    res = parse_industry(buf.getvalue())
    assert [(r["credit_code"], r["period"], r["land_mu"], r["tax"], r["energy_tce"]) for r in res.records] == \
        [(HUAWEI, "2025", 12.5, 250.0, 100.0)]
    assert res.rejects[0]["index"] == 1 and "land_mu: not a number" in res.rejects[0]["reason"]
    assert res.rows_in == 2  # the blank row is not a record


def test_file_level_errors():
    with pytest.raises(IndustryFeedError, match="credit_code"):
        parse_industry(b"name,period\nx,2025\n")
    with pytest.raises(IndustryFeedError, match="period"):
        parse_industry(b"credit_code,name\nx,y\n")
    with pytest.raises(IndustryFeedError, match="XLSX"):
        parse_industry(b"PK\x03\x04 not really a zip")


@pytest.mark.parametrize("raw, period", [("2025", "2025"), (2025, "2025"), (2025.0, "2025"),
                                         ("2025年", "2025"), ("2025Q3", "2025Q3"), ("2025-q3", "2025Q3"),
                                         ("2025Q5", None), ("25", None)])
def test_periods(raw, period):
    assert normalize_period(raw) == period

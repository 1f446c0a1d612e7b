"""Safe output: exports never carry live formulas; rejects never carry personal data in clear."""

from __future__ import annotations

import csv
import io

import openpyxl
import orjson
import pandas as pd
import pytest

from dashboard.queries import exports
from feeds.tickets import open311
from feeds.records import excerpt
from feeds.sensors.records import excerpt as sensor_excerpt
from metrics.privacy import is_id_number, mask_record, scrub_text

FORMULAS = ["=HYPERLINK(\"http://evil/\",\"点我\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", "=cmd|' /C notepad'!'A1'"]


def _frame():
    return pd.DataFrame({"name": FORMULAS + ["安全企业"], "tax": [-1.5] * len(FORMULAS) + [2.0]})


def test_sec001_csv_export_neutralises_every_formula_start():
    data = exports.export_bytes(_frame(), "csv")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    names = [r[0] for r in rows[1:]]
    assert names[:len(FORMULAS)] == ["'" + v for v in FORMULAS]
    assert names[-1] == "安全企业"
    assert [r[1] for r in rows[1:]] == ["-1.5"] * len(FORMULAS) + ["2.0"]   # numbers stay numbers
    for cell in (c for r in rows[1:] for c in r[:1]):
        assert cell[0] not in "=+-@\t\r"


def test_sec002_xlsx_export_writes_text_cells_never_formulas():
    data = exports.export_bytes(_frame(), "xlsx", sheet="x")
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    cells = [ws.cell(row=i + 2, column=1) for i in range(len(FORMULAS))]
    assert [c.value for c in cells] == FORMULAS          # the text as it was, but as text
    assert all(c.data_type == "s" for c in cells)
    assert all(c.quotePrefix for c in cells)
    assert ws.cell(row=2, column=2).data_type == "n" and ws.cell(row=2, column=2).value == -1.5
    # the raw sheet XML holds no <f> (formula) element at all
    import zipfile
    xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in xml and b"<f " not in xml


def test_sec003_industry_and_overdue_exports_use_the_one_writer(demo_runtime):
    from dashboard.queries import industry_views as iv
    from dashboard.queries import overdue_views as ov
    df = pd.DataFrame({c: [None] for c in iv.EXPORT_COLUMNS})
    df["name"] = ["=HYPERLINK(\"http://x\")"]
    df["rank"] = [1]
    ws = openpyxl.load_workbook(io.BytesIO(iv.export_bytes(df, "xlsx"))).active
    name_col = list(iv.EXPORT_COLUMNS).index("name") + 1
    assert ws.cell(row=2, column=name_col).data_type == "s"
    assert b"'=HYPERLINK" in iv.export_bytes(df, "csv")
    od = pd.DataFrame({"类别": ["@SUM(1)"]})
    assert b"'@SUM(1)" in ov.to_csv_bytes(od)
    assert openpyxl.load_workbook(io.BytesIO(ov.to_xlsx_bytes(od))).active["A2"].data_type == "s"


def test_sec004_open311_rejects_mask_every_personal_field():
    items = [{"service_request_id": "r1", "service_code": "x", "first_name": "Wei", "last_name": "王小明",
              "phone": "13812345678", "email": "wang@example.cn", "device_id": "dev-9",
              "description": "请回电 13912345678 或 a.b@c.cn，身份证 11010519491231002X",
              "requested_datetime": "not a time"}]
    _, rejects = open311.parse_requests(orjson.dumps(items))
    text = excerpt(items[0])
    for secret in ("Wei", "王小明", "13812345678", "wang@example.cn", "dev-9", "13912345678", "a.b@c.cn",
                   "11010519491231002X"):
        assert secret not in text, secret
    assert "王**" in text and "138****5678" in text
    # raw lines (JSON text, CSV text) too
    line = orjson.dumps(items[0])
    assert "13812345678" not in excerpt(line) and "wang@example.cn" not in excerpt(line)
    assert "13812345678" not in excerpt("r1,王小明,13812345678,x")
    assert rejects and all("13812345678" not in r.excerpt and "王小明" not in r.excerpt for r in rejects)


def test_sec005_sensor_and_nested_excerpts_are_masked():
    item = {"id": "s1", "contact": {"phone": "13812345678", "联系人": "张三丰"}, "notes": ["mail me x@y.cn"]}
    text = sensor_excerpt(item)
    assert "13812345678" not in text and "张三丰" not in text and "x@y.cn" not in text
    assert mask_record([{"mobile": 13812345678}]) == [{"mobile": "138****5678"}]


def test_sec006_id_numbers_are_recognised_by_their_check_digit():
    assert is_id_number("11010519491231002X")
    assert not is_id_number("110105194912310021")       # wrong check character
    assert not is_id_number("913301001234567890")       # a credit-code-like digit run
    assert scrub_text("code 913301001234567890") == "code 913301001234567890"


def test_sec007_poller_masks_rejects_it_keeps(embedded_store, tmp_path):
    """End to end: a canonical file with a bad row holding personal data; /health's rejects are masked."""
    from dashboard.config.settings import FeedSettings, load_settings, with_changes
    from feeds.poller import Poller
    f = tmp_path / "t.jsonl"
    f.write_text(orjson.dumps({"ticket_id": "T1", "caller_name": "李四光", "caller_phone": "13812345678",
                               "email": "li@example.cn", "created_at": "bad"}).decode() + "\n", encoding="utf-8")
    feed = FeedSettings(name="t", kind="tickets", format="canonical", path=str(f))
    settings = with_changes(load_settings(None, env={}), feeds=[feed])
    poller = Poller(settings, embedded_store, [feed])
    poller.run_feed(feed, force=True)
    rejects = embedded_store.rejects("t")
    assert rejects
    blob = orjson.dumps(rejects).decode()
    for secret in ("李四光", "13812345678", "li@example.cn"):
        assert secret not in blob


def test_sec008_log_lines_are_masked():
    import logging

    from dashboard.app.server import MaskPersonalData
    rec = logging.LogRecord("feeds", logging.WARNING, __file__, 1, "feed %s: bad item %s", ("x", {"phone": "13812345678",
                            "mail": "wang@example.cn"}), None)
    assert MaskPersonalData().filter(rec)
    line = logging.Formatter("%(message)s").format(rec)
    assert "13812345678" not in line and "wang@example.cn" not in line and "138****5678" in line
    try:
        raise ValueError("caller 13912345678 unreachable")
    except ValueError:
        import sys
        rec = logging.LogRecord("feeds", logging.ERROR, __file__, 1, "poll failed", None, sys.exc_info())
    MaskPersonalData().filter(rec)
    assert "13912345678" not in logging.Formatter("%(message)s").format(rec)

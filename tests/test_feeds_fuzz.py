"""No payload crashes an adapter; every item is a record or a reject with a reason; no
non-finite number is stored (issue 10, item 9), for the sensor JSON, FIWARE, SensorThings
and industry CSV/XLSX adapters.

First the defects found, one test each; then a seeded fuzzer: `FUZZ_N` payloads per adapter
(default 300; `CITYOPS_FUZZ_N=2000` for the long run), built from values that broke adapters
before (oversized fields, deep nesting, non-finite and huge numbers, bad bytes, times out of
range, formula-only cells) mixed with good items, and byte-level mutations of whole payloads.
A payload that is not readable as a whole (not JSON, no header) may be refused as a whole,
with its error type; anything else must account for every item.
"""

from __future__ import annotations

import io
import json
import math
import os
import random

import pytest

from feeds.sensors import fiware, json_readings as sensors_json, sensorthings
from feeds.sensors import records as sr
from feeds.industry.parse import IndustryFeedError, parse_industry
from feeds.sensors.settings import Datastream, SensorFeedSettings, SensorThingsFormat
from metrics.alarms import AlarmRules

RULES = AlarmRules()
FUZZ_N = int(os.environ.get("CITYOPS_FUZZ_N", "300"))
JSON_SETTINGS = SensorFeedSettings()
FIWARE_SETTINGS = SensorFeedSettings(network="gas")
STREAM = Datastream(id="1", sensor_id="H-1", network="heating", kind="pressure", unit="MPa")
STA_SETTINGS = SensorFeedSettings(sensorthings=SensorThingsFormat(datastreams=[STREAM]))
GOOD_CODE = "914403001922038216"


def _finite_everywhere(x) -> bool:
    if isinstance(x, float):
        return math.isfinite(x)
    if isinstance(x, dict):
        return all(_finite_everywhere(v) for v in x.values())
    if isinstance(x, (list, tuple)):
        return all(_finite_everywhere(v) for v in x)
    return True


def _check(records, rejects, n_items):
    assert len(records) + len(rejects) == n_items, (len(records), len(rejects), n_items)
    assert all(isinstance(r["reason"], str) and r["reason"].strip() for r in rejects)
    assert all(_finite_everywhere(r) for r in records)


def _deep(n: int, leaf: str = "1") -> str:
    return '{"a":' * n + leaf + "}" * n


# ---- the defects found -----------------------------------------------------------------------------
def test_a_sensor_value_of_1e308_mpa_is_rejected_not_stored_as_inf():
    item = {"sensor_id": "W-1", "network": "water", "kind": "pressure", "value": 1e308, "unit": "MPa",
            "observed_at": "2026-11-20T08:00:00Z"}
    good = dict(item, sensor_id="W-2", value=0.3)
    records, rejects = sensors_json.parse_readings(json.dumps([item, good]).encode(), JSON_SETTINGS, RULES)
    assert [r["sensor_id"] for r in records] == ["W-2"] and records[0]["value"] == 300.0
    assert "out of range" in rejects[0]["reason"]


def test_a_fiware_value_nested_600_deep_is_one_reject():
    deep = ('[{"id": "urn:ngsi-ld:DeviceMeasurement:1", "type": "DeviceMeasurement", "refDevice": "gm-1",'
            '"controlledProperty": "methane", "numValue": 1.0, "unit": "%LEL", "dateObserved": "2026-11-20T08:00:00Z",'
            f'"extra": {_deep(600)}}},'
            '{"id": "urn:ngsi-ld:DeviceMeasurement:2", "type": "DeviceMeasurement", "refDevice": "gm-2",'
            '"controlledProperty": "methane", "numValue": 2.0, "unit": "%LEL", "dateObserved": "2026-11-20T08:00:00Z"}]')
    records, rejects = fiware.parse_entities(deep.encode(), FIWARE_SETTINGS, RULES)
    assert [r["sensor_id"] for r in records] == ["gm-2"]
    assert len(rejects) == 1 and "nested more than" in rejects[0]["reason"]


def test_a_json_number_too_large_for_a_double_rejects_its_item_only():
    doc = ('[{"sensor_id": "W-1", "network": "water", "kind": "pressure", "value": 1e999, "unit": "kPa",'
           ' "observed_at": "2026-11-20T08:00:00Z"},'
           ' {"sensor_id": "W-2", "network": "water", "kind": "pressure", "value": 300, "unit": "kPa",'
           ' "observed_at": "2026-11-20T08:00:00Z"}]')
    records, rejects = sensors_json.parse_readings(doc.encode(), JSON_SETTINGS, RULES)
    assert [r["sensor_id"] for r in records] == ["W-2"] and "not a finite number" in rejects[0]["reason"]


def test_a_time_past_the_last_year_is_a_reject():
    obs = {"value": [{"result": 0.3, "phenomenonTime": "9999-12-31T23:00:00-05:00"},
                     {"result": 0.3, "phenomenonTime": "2026-11-20T08:00:00Z"}]}
    page = sensorthings.parse_observations(obs, STREAM, STA_SETTINGS, RULES)
    assert len(page.records) == 1 and "out of range" in page.rejects[0]["reason"]


CSV_HEAD = "credit_code,name,period,land_mu,sales,tax\n"


@pytest.mark.parametrize("limit_raised", [False, True])
def test_an_industry_csv_field_over_the_csv_limit_is_one_reject(limit_raised):
    """Whether or not the process raised the csv module's limit (the canonical feed does)."""
    import csv
    old = csv.field_size_limit(1 << 30 if limit_raised else 131_072)
    try:
        big = "x" * 200_000
        data = (CSV_HEAD + f'{GOOD_CODE},"{big}",2025,10,100,5\n' + f"{GOOD_CODE},乙公司,2024,10,100,5\n").encode()
        res = parse_industry(data, fmt="csv")
    finally:
        csv.field_size_limit(old)
    assert [r["period"] for r in res.records] == ["2024"]
    assert len(res.rejects) == 1 and "over 131,072" in res.rejects[0]["reason"]


@pytest.mark.parametrize("text", ["inf", "Infinity", "-inf", "1e999", "1" * 400])
def test_industry_non_finite_numbers_are_rejects(text):
    data = (CSV_HEAD + f"{GOOD_CODE},甲公司,2025,10,{text},5\n").encode()
    res = parse_industry(data, fmt="csv")
    assert res.records == [] and "sales: not a finite number" in res.rejects[0]["reason"]


def test_industry_a_number_finite_as_written_but_not_in_our_unit_is_a_reject():
    from feeds.industry.config import IndustryFeedConfig
    data = (CSV_HEAD + f"{GOOD_CODE},甲公司,2025,1e308,100,5\n").encode()
    res = parse_industry(data, IndustryFeedConfig(land_unit="ha"), fmt="csv")
    assert res.records == [] and "land_mu: out of range" in res.rejects[0]["reason"]


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_an_xlsx_row_whose_only_content_is_a_formula_without_a_cached_value_is_a_reject():
    data = _xlsx([["credit_code", "name", "period", "land_mu", "sales"],
                  [GOOD_CODE, "甲公司", "2025", 10, 100],
                  [None, None, None, None, "=E2*2"],          # openpyxl writes no cached value
                  [GOOD_CODE, "甲公司", "2024", 10, "=E2"]])
    res = parse_industry(data, fmt="xlsx")
    assert [r["period"] for r in res.records] == ["2025"]
    assert res.rows_in == 3 and len(res.rejects) == 2
    assert all("a formula with no cached value" in r["reason"] for r in res.rejects)
    assert "=E2*2" in res.rejects[0]["reason"] and "sales" in res.rejects[1]["reason"]


# ---- the fuzzer -----------------------------------------------------------------------------------
NASTY_TEXT = ["", " ", "ERR", "n/a", "null", "\u0000", "\ud800"[:0] + "\u202e", "é" * 3, "甲" * 50, "=1+1",
              "-", "1,000", "１２３", "9" * 400, "1e999", "-1e999", "inf", "Infinity", "NaN", "0x10", "1_000"]
TIMES = ["2026-11-20T08:00:00Z", "2026-11-20T08:00:00.123456+08:00", "2026-11-20T08:00:00", "2026-13-45T99:00:00Z",
         "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "yesterday", "2026-11-20T08:00:00Z/2026-11-20T08:01:00Z"]


def _value(rng: random.Random, depth: int = 0):
    """A JSON value token (text of JSON) from the nasty ones and ordinary ones."""
    k = rng.random()
    if k < 0.25:
        return json.dumps(rng.choice([0.3, -1.5, 42, 0, 1e308, -1e308, 5e-324, 2**63, 2**64 + 1, -(2**70)]))
    if k < 0.29:
        return rng.choice(["1e999", "-1e999", "1" * 400])     # JSON, but not doubles
    if k < 0.3:
        return rng.choice(["NaN", "Infinity"])                # not JSON: the whole payload is refused
    if k < 0.55:
        return json.dumps(rng.choice(NASTY_TEXT + TIMES))
    if k < 0.6:
        return json.dumps("x" * rng.choice([1000, 140_000]))
    if k < 0.65:
        return _deep(rng.choice([10, 70, 300, 600, 900]))
    if k < 0.7:
        return rng.choice(["true", "false", "null", "[]", "{}"])
    if k < 0.8 and depth < 3:
        return "[" + ",".join(_value(rng, depth + 1) for _ in range(rng.randint(0, 3))) + "]"
    if depth < 3:
        return "{" + ",".join(f'{json.dumps(rng.choice(["type", "value", "@value", "object", "a"]))}:{_value(rng, depth + 1)}'
                              for _ in range(rng.randint(0, 3))) + "}"
    return "1"


def _obj(rng: random.Random, fields: dict[str, list]) -> str:
    """An object with the adapter's fields: mostly good values, sometimes a nasty one or none."""
    parts = []
    for name, good in fields.items():
        r = rng.random()
        if r < 0.08:
            continue
        parts.append(f"{json.dumps(name)}:{json.dumps(rng.choice(good)) if r < 0.7 else _value(rng)}")
    return "{" + ",".join(parts) + "}"


def _items(rng: random.Random, fields: dict[str, list]) -> list[str]:
    out = []
    for _ in range(rng.randint(0, 8)):
        out.append(_obj(rng, fields) if rng.random() < 0.9 else _value(rng))
    return out


def _mutate(rng: random.Random, data: bytes) -> bytes:
    if not data or rng.random() < 0.85:
        return data
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(b))
        op = rng.random()
        if op < 0.4:
            b[i] = rng.choice(b'\xff\xfe\x80"{}[],:\\0')
        elif op < 0.7:
            del b[i:i + rng.randint(1, 20)]
        else:
            b[i:i] = rng.choice([b"\xc3\x28", b'"\\ud800"', b"1e999", b"\x00"])
        if not b:
            break
    return bytes(b)


JSON_FIELDS = {"sensor_id": ["W-1", "W-2", 17], "network": ["water", "gas", "heating"],
               "kind": ["pressure", "temperature", "gas_concentration", "flow"],
               "value": [0.3, 300, "0.25", 71.5], "unit": ["kPa", "MPa", "°C", "%LEL", "m3/h"],
               "observed_at": TIMES[:2], "lon": [106.8], "lat": [39.6]}
FIWARE_FIELDS = {"id": ["urn:ngsi-ld:DeviceMeasurement:1", "urn:ngsi-ld:Anomaly:2", "urn:ngsi-ld:Alert:3"],
                 "type": ["DeviceMeasurement", "Anomaly", "Alert"], "refDevice": ["gm-1"], "detectedBy": ["gm-1"],
                 "alertSource": ["gm-1"], "controlledProperty": ["methane"], "anomalousProperty": ["methane"],
                 "numValue": [3.5, 30], "unit": ["%LEL"], "dateObserved": TIMES[:2], "dateDetected": TIMES[:2],
                 "dateIssued": TIMES[:2], "validTo": TIMES[:2], "severity": ["high", "critical"],
                 "category": ["gas"], "location": [{"type": "Point", "coordinates": [106.8, 39.6]}],
                 "thresholdBreach": [[{"measuredValue": 30, "thresholdValue": 25, "unit": "%LEL",
                                       "dateObserved": "2026-11-20T08:00:00Z"}]]}
STA_FIELDS = {"@iot.id": [1, 2, "x"], "result": [0.3, 0.5, "ERR", None], "phenomenonTime": TIMES[:2] + TIMES[-1:],
              "resultTime": TIMES[:1], "Datastream": [{"@iot.id": 1}, {"@iot.id": 1, "unitOfMeasurement": {"symbol": "MPa"}},
                                                      {"@iot.id": 9}, {"@iot.id": 1, "unitOfMeasurement": "MPa"}]}


def _fuzz(adapter: str, seed: int):
    rng = random.Random(seed)
    if adapter == "json":
        items = _items(rng, JSON_FIELDS)
        data = _mutate(rng, ("[" + ",".join(items) + "]").encode())
        try:
            records, rejects = sensors_json.parse_readings(data, JSON_SETTINGS, RULES)
        except sr.FeedFormatError:
            return None
        n = len(sensors_json.items_of(sr.load_json(data), ""))
    elif adapter == "fiware":
        items = _items(rng, FIWARE_FIELDS)
        data = _mutate(rng, ("[" + ",".join(items) + "]").encode())
        try:
            records, rejects = fiware.parse_entities(data, FIWARE_SETTINGS, RULES, now=None)
        except sr.FeedFormatError:
            return None
        n = len(fiware.entities_of(sr.load_json(data)))
    elif adapter == "sensorthings":
        items = _items(rng, STA_FIELDS)
        data = _mutate(rng, ('{"value": [' + ",".join(items) + "]}").encode())
        try:
            doc = sr.load_json(data)
            page = sensorthings.parse_observations(doc, STREAM, STA_SETTINGS, RULES)
        except sr.FeedFormatError:
            return None
        records, rejects = page.records, page.rejects
        n = page.items
    else:
        return _fuzz_industry(rng, adapter)
    _check(records, rejects, n)
    return len(records), len(rejects)


INDUSTRY_GOOD = {"credit_code": [GOOD_CODE, "914403001922038216 ", "123"], "name": ["甲公司", "乙"],
                 "period": ["2025", "2025Q3", 2024, "2025年"], "land_mu": [10, "12.5", 0],
                 "sales": [100, "1,000", -3], "tax": [5, -1], "employees": [30], "updated_at": TIMES[:2]}
INDUSTRY_NASTY = ["inf", "Infinity", "-inf", "1e999", "NaN", "1" * 400, "x" * 140_000, "=A1*2", "", None,
                  "9999-12-31T23:00:00-05:00", "\u202e", 1e308, -1e308, True]


def _fuzz_industry(rng: random.Random, fmt: str):
    cols = list(INDUSTRY_GOOD)
    rows = []
    for _ in range(rng.randint(0, 8)):
        row = [rng.choice(INDUSTRY_GOOD[c]) if rng.random() < 0.75 else rng.choice(INDUSTRY_NASTY) for c in cols]
        if rng.random() < 0.1:
            row = [None] * len(cols)
            row[rng.randrange(len(cols))] = "=B2+1"                  # only a formula
        rows.append(row)
    if fmt == "csv":
        import csv
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])
        data = _mutate(rng, buf.getvalue().encode())
    else:
        data = _xlsx([cols] + [[v if not (isinstance(v, str) and len(v) > 32_000) else v[:32_000] for v in r]
                               for r in rows])
    try:
        res = parse_industry(data, fmt=fmt)
    except IndustryFeedError:
        return None
    assert len(res.records) + len(res.rejects) + len(res.replaced) == res.rows_in
    assert all(r["reason"].strip() for r in res.rejects)
    assert all(_finite_everywhere(r) for r in res.records)
    return len(res.records), len(res.rejects)


@pytest.mark.parametrize("adapter", ["json", "fiware", "sensorthings", "csv", "xlsx"])
def test_fuzz_no_payload_crashes_an_adapter(adapter):
    n = FUZZ_N if adapter != "xlsx" else max(50, FUZZ_N // 5)   # an XLSX file is slow to write
    outcomes = [_fuzz(adapter, seed) for seed in range(n)]
    read = [o for o in outcomes if o is not None]
    # the fuzzer reaches both sides: most payloads are read, with records and rejects
    assert len(read) > n * 0.6
    assert sum(o[0] for o in read) > 0 and sum(o[1] for o in read) > 0

"""Sensor feed adapters: FIWARE (all NGSI forms), a utility's mapped JSON; rejects with reasons."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from feeds.sensors import fiware, json_readings as sensors_json
from feeds.sensors.records import FeedFormatError
from feeds.sensors.settings import FiwareFormat, JsonFormat, SensorFeedSettings
from metrics.alarms import AlarmRules
from metrics.coords import from_wgs84

PAYLOADS = Path(__file__).parents[2] / "shared" / "data" / "payloads"
FIXTURES = Path(__file__).parent / "data" / "fiware"
RULES = AlarmRules()
WATER = SensorFeedSettings(network="water", units_by_kind={"pressure": "kPa"})


def shared(name):
    path = PAYLOADS / name
    if not path.exists():
        pytest.skip(f"shared payload {path} is absent (needs /work/shared next to the repo)")
    return path.read_bytes()


# ---- form recognition ------------------------------------------------------------------------
@pytest.mark.parametrize("name, form", [
    ("Anomaly__example.json", "ngsi-v2-keyvalues"),
    ("Anomaly__example-normalized.json", "ngsi-v2-normalized"),
    ("Anomaly__example.jsonld", "ngsi-ld-keyvalues"),
    ("Anomaly__example-normalized.jsonld", "ngsi-ld-normalized"),
    ("DeviceMeasurement__example.json", "ngsi-v2-keyvalues"),
])
def test_forms_recognised(name, form):
    assert fiware.describe_forms((FIXTURES / name).read_bytes()) == [form]


def test_alert_shared_payload_forms():
    assert fiware.describe_forms(shared("fiware/Alert__Alert__example.json")) == ["ngsi-v2-keyvalues"]
    assert fiware.describe_forms(shared("fiware/Alert__Alert__example-normalized.json")) == ["ngsi-v2-normalized"]


# ---- Anomaly: the same alarm from every form ------------------------------------------------
@pytest.mark.parametrize("name", ["Anomaly__example.json", "Anomaly__example-normalized.json",
                                  "Anomaly__example.jsonld", "Anomaly__example-normalized.jsonld"])
def test_anomaly_every_form_same_alarm(name):
    records, rejects = fiware.parse_entities((FIXTURES / name).read_bytes(), WATER, RULES)
    assert rejects == []
    (a,) = records
    assert a["sensor_id"] == "urn:ngsi-ld:Device:1863179e-3868-4480-3496-jf21f090dd20"
    assert (a["network"], a["kind"], a["unit"]) == ("water", "pressure", "kPa")
    assert (a["value"], a["threshold"]) == (18.91, 20.0)
    assert a["level"] == 1  # 18.91 kPa <= 80 kPa: level I by our water thresholds
    assert a["raised_at"] == "2021-01-14T15:45:00+00:00" and a["status"] == "active"


def test_anomaly_without_network_or_unit_is_rejected():
    data = (FIXTURES / "Anomaly__example.json").read_bytes()
    _, rejects = fiware.parse_entities(data, SensorFeedSettings(), RULES)
    assert "network unknown" in rejects[0]["reason"]
    _, rejects = fiware.parse_entities(data, SensorFeedSettings(network="water"), RULES)
    assert "no unit" in rejects[0]["reason"]


def test_anomaly_network_from_registry_and_short_ids():
    data = (FIXTURES / "Anomaly__example.jsonld").read_bytes()
    s = SensorFeedSettings(units_by_kind={"pressure": "MPa"}, fiware=FiwareFormat(id_last_segment=True))
    registry = {"1863179e-3868-4480-3496-jf21f090dd20": {"network": "gas", "lon": 106.8, "lat": 39.6, "grid_code": "g1"}}
    (a,), _ = fiware.parse_entities(data, s, RULES, registry)
    # 18.91 MPa = 18,910 kPa: far above the gas mains' level I bound (500 kPa)
    assert (a["network"], a["level"], a["value"], a["grid_code"], a["lon"]) == ("gas", 1, 18910.0, "g1", 106.8)


# ---- DeviceMeasurement ---------------------------------------------------------------------
def measurement(**over):
    e = {"id": "m1", "type": "DeviceMeasurement", "refDevice": "urn:ngsi-ld:Device:gm-17",
         "controlledProperty": "methane", "numValue": 12.5, "unit": "%LEL",
         "dateObserved": "2026-11-20T08:00:00+08:00", "location": {"type": "Point", "coordinates": [106.8, 39.67]}}
    e.update(over)
    return e


def test_device_measurement_official_example_rejected_for_its_kind():
    records, rejects = fiware.parse_entities((FIXTURES / "DeviceMeasurement__example.json").read_bytes(),
                                             SensorFeedSettings(network="water"), RULES)
    assert records == [] and "'humidity' is not a quantity" in rejects[0]["reason"]


def test_device_measurement_reading_in_every_form():
    kv = measurement()
    v2 = {"id": "m1", "type": "DeviceMeasurement",
          "refDevice": {"type": "Relationship", "value": "urn:ngsi-ld:Device:gm-17"},
          "controlledProperty": {"type": "Text", "value": "methane"},
          "numValue": {"type": "Number", "value": 12.5, "metadata": {"unitCode": {"type": "Text", "value": "%LEL"}}},
          "dateObserved": {"type": "DateTime", "value": "2026-11-20T00:00:00Z"},
          "location": {"type": "geo:json", "value": {"type": "Point", "coordinates": [106.8, 39.67]}}}
    ld = {"id": "urn:ngsi-ld:DeviceMeasurement:m1", "type": "DeviceMeasurement", "@context": [],
          "refDevice": {"type": "Relationship", "object": "urn:ngsi-ld:Device:gm-17"},
          "controlledProperty": {"type": "Property", "value": "methane"},
          "numValue": {"type": "Property", "value": 12.5, "unitCode": "%LEL", "observedAt": "2026-11-20T00:00:00Z"},
          "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [106.8, 39.67]}}}
    s = SensorFeedSettings(network="gas", fiware=FiwareFormat(id_last_segment=True))
    records, rejects = fiware.parse_entities(json.dumps([kv, v2, ld]).encode(), s, RULES)
    assert rejects == [] and len(records) == 3
    for r in records:
        assert r == {"sensor_id": "gm-17", "network": "gas", "kind": "gas_concentration", "value": 12.5,
                     "unit": "%LEL", "observed_at": "2026-11-20T00:00:00+00:00", "lat": 39.67, "lon": 106.8}


@pytest.mark.parametrize("over, reason", [
    ({"numValue": "high"}, "not a number"),
    ({"numValue": True}, "not a number"),
    ({"unit": "furlongs"}, "unit 'furlongs' is not one the settings know"),
    ({"dateObserved": "2026-11-20T08:00:00"}, "no UTC offset"),
    ({"location": {"type": "Point", "coordinates": [200.0, 39.0]}}, "outside WGS-84 range"),
    ({"location": {"type": "Point", "coordinates": [116.4, 39.9]}}, "outside the city's box"),
    ({"location": {"type": "Polygon", "coordinates": []}}, "not a GeoJSON Point"),
    ({"type": "WeatherObserved"}, "is not one of"),
])
def test_measurement_rejects_with_reason(over, reason):
    s = SensorFeedSettings(network="gas", bbox=[106.6, 39.0, 107.2, 40.0])
    good = measurement(id="ok")
    records, rejects = fiware.parse_entities(json.dumps([good, measurement(**over)]).encode(), s, RULES)
    assert len(records) == 1 and len(rejects) == 1
    assert rejects[0]["index"] == 1 and reason in rejects[0]["reason"] and rejects[0]["excerpt"]


def test_measurement_positions_converted_from_gcj02():
    lon, lat = from_wgs84(106.8, 39.67, "gcj02")
    e = measurement(location={"type": "Point", "coordinates": [lon, lat]})
    (r,), _ = fiware.parse_entities(json.dumps(e).encode(), SensorFeedSettings(network="gas", coord_system="gcj02"), RULES)
    assert (r["lon"], r["lat"]) == pytest.approx((106.8, 39.67), abs=1e-6)


# ---- Alert -----------------------------------------------------------------------------------
def test_alert_shared_payloads_rejected_as_not_a_utility_alarm():
    for name in ("fiware/Alert__Alert__example.json", "fiware/Alert__Alert__example-normalized.json"):
        records, rejects = fiware.parse_entities(shared(name), SensorFeedSettings(), RULES)
        assert records == [] and "category 'traffic'" in rejects[0]["reason"]


def test_alert_mapped_to_a_network_and_cleared_by_valid_to():
    data = shared("fiware/Alert__Alert__example-normalized.json")
    s = SensorFeedSettings(fiware=FiwareFormat(alert_networks={"trafficJam": "water"}))
    (a,), _ = fiware.parse_entities(data, s, RULES)
    assert (a["network"], a["level"], a["kind"], a["status"]) == ("water", 2, "trafficJam", "active")
    assert a["raised_at"] == "2017-01-02T09:25:55+00:00" and a["lon"] == pytest.approx(-3.712247222222222)
    (a,), _ = fiware.parse_entities(data, s, RULES, now=datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert (a["status"], a["resolution"], a["resolved_at"]) == ("resolved", "cleared", "2017-01-02T10:25:55+00:00")
    bbox = SensorFeedSettings(bbox=[106.7, 39.3, 107.1, 39.9], fiware=s.fiware)
    _, rejects = fiware.parse_entities(data, bbox, RULES)
    assert "outside the city's box" in rejects[0]["reason"]


def test_not_json_is_a_format_error():
    with pytest.raises(FeedFormatError):
        fiware.parse_entities(b"{not json", SensorFeedSettings(), RULES)


# ---- a utility's own JSON ---------------------------------------------------------------------
UTILITY = {"code": 0, "data": {"list": [
    {"devNo": "W-001", "type": "WaterPressure", "val": "0.31", "unit": "MPa", "ts": 1795651200000, "lng": 106.80, "lat": 39.67},
    {"devNo": "W-002", "type": "WaterPressure", "val": 0.07, "unit": "MPa", "ts": 1795651200000},
    {"devNo": "W-003", "type": "WaterPressure", "val": "--", "unit": "MPa", "ts": 1795651200000},
    {"devNo": "W-004", "type": "WaterPressure", "val": 0.3, "unit": "psi", "ts": 1795651200000},
    {"devNo": "W-005", "type": "WaterPressure", "val": 0.3, "unit": "MPa", "ts": 1795651200000, "lng": 120.0, "lat": 30.0},
    "garbage",
]}}
MAPPED = SensorFeedSettings(network="water", bbox=[106.7, 39.3, 107.1, 39.9], json=JsonFormat(
    items_path="data.list", time_format="epoch_ms",
    fields={"sensor_id": "devNo", "kind": "type", "value": "val", "unit": "unit", "observed_at": "ts",
            "lon": "lng", "lat": "lat"}))


def test_utility_json_mapping():
    records, rejects = sensors_json.parse_readings(json.dumps(UTILITY).encode(), MAPPED, RULES)
    assert len(records) + len(rejects) == 6
    assert records[0] == {"sensor_id": "W-001", "network": "water", "kind": "pressure", "value": 310.0,
                          "unit": "kPa", "observed_at": "2026-11-26T00:00:00+00:00", "lat": 39.67, "lon": 106.8}
    assert records[1]["value"] == pytest.approx(70.0) and records[1]["lat"] is None
    assert [r["index"] for r in rejects] == [2, 3, 4, 5]
    assert "not a number" in rejects[0]["reason"] and "'psi'" in rejects[1]["reason"]
    assert "box" in rejects[2]["reason"] and "not an object" in rejects[3]["reason"]


def test_utility_json_missing_items_path_is_a_format_error():
    with pytest.raises(FeedFormatError, match="items_path"):
        sensors_json.parse_readings(b'{"data": {}}', MAPPED, RULES)


def test_settings_validation_names_the_field():
    with pytest.raises(ValueError, match="^bbox:"):
        SensorFeedSettings(bbox=[107.0, 39.0, 106.0, 40.0])
    with pytest.raises(ValueError, match="^fields:"):
        JsonFormat(fields={"value": "v"})
    with pytest.raises(ValueError, match="^severity_levels:"):
        FiwareFormat(severity_levels={"high": 7})

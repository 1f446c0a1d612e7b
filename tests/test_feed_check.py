"""`cityops feed check`: every shared sample payload, every item accounted for; exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.app.commands.feed import CheckError, check, main

REPO = Path(__file__).parents[1]
PAYLOADS = REPO.parent / "shared" / "data" / "payloads"
FIXTURES = Path(__file__).parent / "data" / "fiware"

# a sensor feed entry of the console's settings; `feed check` reads its [feeds.sensor] table
FEED = '[[feeds]]\nname = "utility"\nkind = "sensors"\nformat = "fiware"\nurl = "http://127.0.0.1:9/x"\n'

SAMPLES = [  # (kind, format, file, items in the file)
    ("sensors", "fiware", "fiware/Alert__Alert__example.json", 1),
    ("sensors", "fiware", "fiware/Alert__Alert__example-normalized.json", 1),
    ("sensors", "sensorthings", "sensorthings/bblocks-sta__Observation__Observation.json", 1),
    ("sensors", "sensorthings", "sensorthings/bblocks-sta__Thing__Thing.json", 1),
    ("sensors", "sensorthings", "sensorthings/bblocks-sta__Sensor__Sensor.json", 1),
    ("sensors", "sensorthings", "sensorthings/bblocks-sta__FeatureOfInterest__FeatureOfInterest.json", 1),
    ("tickets", "open311", "open311/georeport_v2_spec__post_request.json", 1),
    ("tickets", "open311", "open311/georeport_v2_spec__token.json", 1),
]
NOT_JSON = ["open311/georeport_v2_spec__requests.json", "open311/georeport_v2_spec__request.json",
            "open311/georeport_v2_spec__services.json"]  # the spec's `"service_code":006`


def sample(rel):
    path = PAYLOADS / rel
    if not path.exists():
        pytest.skip(f"shared payload {path} is absent")
    return path


def accounted(out, items):
    indexes = sorted([r["index"] for r in out["rejects"]])
    assert len(out["records"]) + len(out["rejects"]) == items
    assert len(set(indexes)) == len(indexes)
    assert all(set(r) == {"index", "reason", "excerpt"} and r["reason"] for r in out["rejects"])


@pytest.mark.parametrize("kind, fmt, rel, items", SAMPLES)
def test_every_sample_accounted_for(kind, fmt, rel, items):
    accounted(check(kind, fmt, sample(rel)), items)


@pytest.mark.parametrize("rel", NOT_JSON)
def test_not_strict_json_cannot_be_parsed(rel):
    with pytest.raises(CheckError, match="not strict JSON"):
        check("tickets", "open311", sample(rel))


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json*")))
def test_fiware_fixtures_with_config(tmp_path, name):
    cfg = tmp_path / "settings.toml"
    cfg.write_text(FEED + '[feeds.sensor]\nnetwork = "water"\nunits_by_kind = {pressure = "kPa"}\n', encoding="utf-8")
    out = check("sensors", "fiware", FIXTURES / name, str(cfg))
    accounted(out, 1)
    if name.startswith("Anomaly"):
        assert out["records"][0]["level"] == 1


def test_cli_json_and_exit_codes(tmp_path, capsys):
    cfg = tmp_path / "settings.toml"
    cfg.write_text(FEED.replace("fiware", "sensorthings") +
                   '[feeds.sensor.sensorthings]\ndatastreams = [{id = "1", sensor_id = "H-1", network = "heating", '
                   'kind = "temperature", unit = "°C"}]\n[alarms]\nack_limits_s = [60, 600, 1800, 3600]\n',
                   encoding="utf-8")
    obs = sample("sensorthings/bblocks-sta__Observation__Observation.json")
    assert main(["feed", "check", "--kind", "sensors", "--format", "sensorthings", str(obs),
                 "--config", str(cfg), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rejects"] == [] and out["records"][0]["value"] == 70.4

    assert main(["feed", "check", "--kind", "sensors", "--format", "fiware", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(FEED + '[feeds.sensor]\nbbox = [1, 2]\n', encoding="utf-8")
    assert main(["feed", "check", "--kind", "sensors", "--format", "fiware", str(obs), "--config", str(bad)]) == 2
    assert "feeds[0].sensor.bbox" in capsys.readouterr().err
    assert main(["feed", "check", "--kind", "sensors", "--format", "sensorthings", str(obs), "--config", str(cfg),
                 "--feed", "nope"]) == 2
    assert "no [[feeds]] entry named 'nope'" in capsys.readouterr().err
    assert main(["feed", "check", "--kind", "sensors", "--format", "open311", str(obs)]) == 2
    assert "--format" in capsys.readouterr().err


def test_utility_json_garbage_exit_2(tmp_path):
    f = tmp_path / "x.json"
    f.write_bytes(b"\x00\x01 not json")
    proc = subprocess.run([sys.executable, "-m", "dashboard.app.commands.feed", "feed", "check", "--kind", "sensors",
                           "--format", "json", str(f), "--json"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr and proc.stdout == ""


def test_industry_duplicates_are_accounted_for(tmp_path):
    huawei, byd = "914403001922038216", "91440300192317458F"
    f = tmp_path / "industry.csv"
    f.write_text(f"credit_code,period,land_mu,tax\n{huawei},2025,10,1\n{huawei},2025,10,2\n"
                 f"{byd},2025,10,1\n12345,2025,10,1\n", encoding="utf-8")
    out = check("industry", "canonical", f)
    accounted(out, 4)
    assert [r["index"] for r in out["rejects"]] == [0, 3]
    assert "replaced by row 1" in out["rejects"][0]["reason"]


def test_industry_options_come_from_a_feeds_entry(tmp_path):
    cfg = tmp_path / "settings.toml"
    cfg.write_text('[[feeds]]\nname = "tax-bureau"\nkind = "industry"\nformat = "canonical"\npath = "/tmp/x"\n'
                   'land_unit = "m2"\nmapping = { "纳税人识别号" = "credit_code" }\n', encoding="utf-8")
    f = tmp_path / "industry.csv"
    f.write_text("纳税人识别号,period,land_mu,tax\n914403001922038216,2025,6666.7,1\n", encoding="utf-8")
    out = check("industry", "canonical", f, str(cfg), "tax-bureau")
    accounted(out, 1)
    assert out["records"][0]["land_mu"] == pytest.approx(10.0, abs=1e-6)   # 6,666.7 m² = 10 亩


def _open311_items(n: int) -> list[dict]:
    return [{"service_request_id": str(i), "status": "open", "service_name": "路灯",
             "requested_datetime": "2026-11-20T10:00:00+08:00"} for i in range(n)]


def test_fck010_a_saved_response_that_is_one_page_of_more_says_so(tmp_path, capsys):
    body = json.dumps(_open311_items(100)).encode()
    bare = tmp_path / "requests.json"
    bare.write_bytes(body)
    out = check("tickets", "open311", bare)
    assert len(out["records"]) == 100 and out["page"]["more"] == "possibly"
    # saved with its headers (curl -i): the next-page link is definite
    full = tmp_path / "with-headers.json"
    full.write_bytes(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
                     b'Link: <https://x.example/open311/v2/requests.json?page=2>; rel="next"\r\n\r\n' + body)
    out = check("tickets", "open311", full)
    assert len(out["records"]) == 100 and out["page"]["more"] == "yes"
    assert main(["feed", "check", "--kind", "tickets", "--format", "open311", str(full)]) == 0
    assert "one page of more" in capsys.readouterr().out
    total = tmp_path / "total.json"
    total.write_bytes(b"HTTP/1.1 200 OK\nX-Total-Count: 250\n\n" + json.dumps(_open311_items(37)).encode())
    assert check("tickets", "open311", total)["page"] == {
        "more": "yes", "items": 37, "total": 250,
        "why": "the server counts 250 items, the file holds 37: one page of more"}
    canon = tmp_path / "page.jsonl"
    canon.write_bytes(b"HTTP/1.1 200 OK\r\nX-Has-More: true\r\n\r\n"
                      b'{"ticket_id":"A","status":"registered","created_at":"2026-11-20T10:00:00+08:00"}\n')
    out = check("tickets", "canonical", canon)
    assert len(out["records"]) == 1 and out["page"]["more"] == "yes"
    last = tmp_path / "last.jsonl"
    last.write_bytes(b"HTTP/1.1 200 OK\r\nX-Has-More: false\r\n\r\n"
                     b'{"ticket_id":"A","status":"registered","created_at":"2026-11-20T10:00:00+08:00"}\n')
    assert check("tickets", "canonical", last)["page"]["more"] == "no"


def test_fck011_open311_xml_saved_response(tmp_path):
    f = tmp_path / "requests.xml"
    f.write_bytes(b'<?xml version="1.0"?><service_requests><request><service_request_id>9</service_request_id>'
                  b"<status>closed</status><requested_datetime>2026-11-20T10:00:00+08:00</requested_datetime>"
                  b"<updated_datetime>2026-11-20T12:00:00+08:00</updated_datetime></request></service_requests>")
    out = check("tickets", "open311", f)
    assert len(out["records"]) == 1 and out["records"][0]["closed_at"] == "2026-11-20T04:00:00Z"

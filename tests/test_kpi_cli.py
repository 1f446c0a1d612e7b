"""`cityops kpi` end to end on small files, against hand-computed numbers.

W = [2026-11-01, 2026-11-16) local (+08:00), now = 2026-11-20 12:00 local. SLA defaults:
normal 5 working days, urgent 2 h, response 2 h. Areas: city C › streets S1 (grids G1, G2),
S2 (G3), S3 (no grid).

| id | grid | dept | created (local) | deadline (local)        | outcome                         |
|----|------|------|-----------------|-------------------------|---------------------------------|
| K1 | G1   | D1   | Mon 11-02 09:00 | 11-06 00:00 (source)    | closed 11-05 09:00; dispatched 11-02 10:00; resp 09:30; satisfied; yes |
| K2 | G2   | D2   | Mon 11-02 09:00 (given in UTC) | SLA: 11-03..06, 09 → 11-10 00:00 | closed 11-09 23:00; dispatched 11-03 09:00; no resp; basic; no |
| K3 | G3   | D1   | Tue 11-03 09:00 | SLA: 11-04..06, 09, 10 → 11-11 00:00 | open, overdue; resp 10:00 |
| K4 | —    | —    | Wed 11-04 09:00 | (SLA)                   | cancelled; no resp               |
| K5 | G404 | D2   | Thu 11-05 09:00 | urgent: 11:00           | closed 12:00 (late); dispatched 09:30; resp 09:10; dissatisfied, excluded |
| K6 | bad created_at → rejected;  K7 | unknown status → rejected |
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.app.commands.kpi import ROW_FIELDS, main

REPO = Path(__file__).resolve().parents[1]
COLUMNS = ["ticket_id", "source", "kind", "category", "urgency", "grid_code", "lat", "lon", "department",
           "status", "created_at", "dispatched_at", "first_response_at", "closed_at", "deadline_at",
           "updated_at", "rating", "rating_excluded", "resolved", "return_count", "repeat_of",
           "caller_name", "caller_phone"]
TICKETS = [
    {"ticket_id": "K1", "grid_code": "G1", "department": "D1", "status": "closed",
     "created_at": "2026-11-02T09:00:00+08:00", "deadline_at": "2026-11-06T00:00:00+08:00",
     "closed_at": "2026-11-05T09:00:00+08:00", "dispatched_at": "2026-11-02T10:00:00+08:00",
     "first_response_at": "2026-11-02T09:30:00+08:00", "rating": "satisfied", "resolved": "yes"},
    {"ticket_id": "K2", "grid_code": "G2", "department": "D2", "status": "closed",
     "created_at": "2026-11-02T01:00:00Z", "closed_at": "2026-11-09T15:00:00Z",
     "dispatched_at": "2026-11-03T01:00:00Z", "rating": "basic", "resolved": "no"},
    {"ticket_id": "K3", "grid_code": "G3", "department": "D1", "status": "handling",
     "created_at": "2026-11-03T09:00:00+08:00", "first_response_at": "2026-11-03T10:00:00+08:00"},
    {"ticket_id": "K4", "status": "cancelled", "created_at": "2026-11-04T09:00:00+08:00"},
    {"ticket_id": "K5", "grid_code": "G404", "department": "D2", "status": "closed", "urgency": "urgent",
     "created_at": "2026-11-05T09:00:00+08:00", "closed_at": "2026-11-05T12:00:00+08:00",
     "dispatched_at": "2026-11-05T09:30:00+08:00", "first_response_at": "2026-11-05T09:10:00+08:00",
     "rating": "dissatisfied", "rating_excluded": "true"},
    {"ticket_id": "K6", "status": "handling", "created_at": "2026-13-01T09:00:00+08:00"},
    {"ticket_id": "K7", "status": "lost", "created_at": "2026-11-05T09:00:00+08:00"},
]
AREAS = "code,name,level,parent_code\nC,city,city,\nS1,street one,street,C\nS2,street two,street,C\n" \
        "S3,street three,street,C\nG1,grid 1,grid,S1\nG2,grid 2,grid,S1\nG3,grid 3,grid,S2\n"
WINDOW = ["--now", "2026-11-20T12:00:00+08:00", "--start", "2026-11-01T00:00:00+08:00",
          "--end", "2026-11-16T00:00:00+08:00"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    tickets = tmp_path / "tickets.csv"
    with tickets.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLUMNS)
        w.writeheader()
        for t in TICKETS:
            w.writerow({c: t.get(c, "") for c in COLUMNS})
    jsonl = tmp_path / "tickets.jsonl"
    jsonl.write_text("\n".join(json.dumps(t) for t in TICKETS) + "\n", encoding="utf-8")
    areas = tmp_path / "areas.csv"
    areas.write_text(AREAS, encoding="utf-8")
    return {"csv": tickets, "jsonl": jsonl, "areas": areas, "dir": tmp_path}


def kpi(capsys, *args) -> tuple[int, dict | None, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and "--json" in args else None), err


def test_by_street(files, capsys) -> None:
    code, report, err = kpi(capsys, "--tickets", str(files["csv"]), "--areas", str(files["areas"]),
                            *WINDOW, "--by", "area:street", "--json")
    assert code == 0
    assert list(report) == ["now", "start", "end", "by", "rows"] and report["by"] == "area:street"
    assert "row 6 (line 7), ticket K6: created_at" in err and "row 7 (line 8), ticket K7: status" in err
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == ["S1", "S2", "S3", None]
    assert all(list(r) == ROW_FIELDS for r in report["rows"])
    s1, s2, s3, unplaced = rows["S1"], rows["S2"], rows["S3"], rows[None]
    assert s1["name"] == "street one" and unplaced["name"] == "unplaced"
    # S1: K1 and K2 both closed on time (K2 at 23:00 before its 11-10 00:00 SLA deadline)
    assert [s1[k] for k in ("received", "closed", "due", "on_time", "open", "overdue", "due_soon", "rated")] \
        == [2, 2, 2, 2, 0, 0, 0, 2]
    assert s1["response_rate"] == 0.5 and s1["closure_rate"] == 1.0 and s1["on_time_rate"] == 1.0
    assert s1["resolution_rate"] == 0.5
    assert s1["satisfaction_rate"] == pytest.approx(0.95) and s1["satisfaction_rate_adjusted"] == pytest.approx(0.95)
    assert (s1["return_rate"], s1["repeat_rate"]) == (0.0, 0.0)
    # handling: K1 71 h, K2 11-03 09:00 → 11-09 23:00 = 158 h; p90 = 71 + 0.9 · 87 = 149.3
    assert s1["mean_handling_hours"] == pytest.approx(114.5) and s1["p90_handling_hours"] == pytest.approx(149.3)
    assert s1["score"] == pytest.approx(100 * (0.1 * 0.5 + 0.3 * 1 + 0.3 * 0.5 + 0.3 * 0.95))  # 78.5
    # S2: K3 open, its SLA deadline 11-11 00:00 is in W and passed → due, not closed, overdue
    assert [s2[k] for k in ("received", "due", "on_time", "open", "overdue")] == [1, 1, 0, 1, 1]
    assert (s2["response_rate"], s2["closure_rate"], s2["resolution_rate"]) == (1.0, 0.0, None)
    assert s2["score"] == pytest.approx(100 * 0.1 / 0.4)  # response 1, on-time 0 → 25
    # S3: no tickets at all, still listed
    assert s3["received"] == 0 and s3["response_rate"] is None and s3["score"] is None
    # unplaced: K4 (no grid, cancelled) and K5 (unknown grid, urgent, closed an hour late)
    assert [unplaced[k] for k in ("received", "closed", "due", "on_time", "rated")] == [2, 1, 1, 0, 1]
    assert unplaced["response_rate"] == 0.5          # K4 never answered, K5 at 09:10
    assert unplaced["satisfaction_rate"] == 0.0 and unplaced["satisfaction_rate_adjusted"] is None
    assert unplaced["mean_handling_hours"] == pytest.approx(2.5)
    assert unplaced["score"] == pytest.approx(100 * 0.1 * 0.5 / 0.7)


def test_by_department_and_none(files, capsys) -> None:
    code, report, _ = kpi(capsys, "--tickets", str(files["csv"]), *WINDOW, "--by", "department", "--json")
    assert code == 0
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == ["D1", "D2", None] and rows[None]["name"] == "no department"
    assert [rows[k]["received"] for k in rows] == [2, 2, 1]
    assert [rows[k]["due"] for k in rows] == [2, 2, 0]     # D1: K1, K3; D2: K2, K5
    assert [rows[k]["on_time"] for k in rows] == [1, 1, 0]
    code, report, _ = kpi(capsys, "--tickets", str(files["csv"]), *WINDOW, "--json")
    (all_,) = report["rows"]
    assert (all_["key"], all_["received"], all_["closed"], all_["due"], all_["on_time"], all_["open"]) \
        == ("all", 5, 3, 4, 2, 1)


def test_jsonl_gives_the_same_numbers(files, capsys) -> None:
    args = [*WINDOW, "--areas", str(files["areas"]), "--by", "area:street", "--json"]
    _, from_csv, _ = kpi(capsys, "--tickets", str(files["csv"]), *args)
    code, from_jsonl, err = kpi(capsys, "--tickets", str(files["jsonl"]), *args)
    assert code == 0 and from_jsonl["rows"] == from_csv["rows"]
    assert "record 6, ticket K6" in err


def test_settings_file_changes_the_rules(files, capsys) -> None:
    config = files["dir"] / "cityops.toml"
    config.write_text("[tickets]\nw_basic = 0.5\n", encoding="utf-8")
    code, report, _ = kpi(capsys, "--tickets", str(files["csv"]), "--config", str(config), *WINDOW,
                          "--areas", str(files["areas"]), "--by", "area:street", "--json")
    assert code == 0 and report["rows"][0]["satisfaction_rate"] == pytest.approx((1 + 0.5) / 2)


def test_nothing_usable_exits_non_zero(files, capsys) -> None:
    bad = files["dir"] / "bad.csv"
    bad.write_text("ticket_id,status,created_at\nX1,lost,2026-11-02T09:00:00+08:00\n", encoding="utf-8")
    code, _, err = kpi(capsys, "--tickets", str(bad), *WINDOW, "--json")
    assert code == 1 and "ticket X1" in err and "no usable tickets" in err


@pytest.mark.parametrize("extra, message", [
    (["--by", "street"], "--by: expected none, department or area:LEVEL"),
    (["--by", "area:street"], "--by area:LEVEL needs --areas"),
    (["--by", "area:planet", "--areas", "AREAS"], "--by: unknown level"),
    (["--now", "2026-11-20T12:00:00"], "--now: time without a UTC offset"),
])
def test_usage_errors_exit_2(files, capsys, extra, message) -> None:
    extra = [str(files["areas"]) if e == "AREAS" else e for e in extra]
    code, _, err = kpi(capsys, "--tickets", str(files["csv"]), *WINDOW, *extra)
    assert code == 2 and message in err


def test_text_output_and_module_entry_point(files) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CITYOPS_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "dashboard.app.commands.kpi", "--tickets", str(files["csv"]),
                           *WINDOW, "--by", "department"], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split()[:3] == ["name", "received", "closed"]
    assert lines[2].split()[:3] == ["D1", "2", "1"] and "—" in lines[4]

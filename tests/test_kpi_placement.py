"""`cityops kpi` places tickets exactly as the pages do (one implementation)."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from dashboard.app.cli import main
from feeds.areas.files import demo_area_paths, read_area_files
from metrics.placement import effective_grid


def test_kpp001_position_only_and_community_level_tickets_count_like_on_pages(tmp_path, capsys):
    csv_path, geo_path = demo_area_paths()
    shutil.copy(csv_path, tmp_path / "areas.csv")
    shutil.copy(geo_path, tmp_path / "areas.geojson")
    tree = read_area_files(csv_path, geo_path)
    grid = tree.codes_at("grid")[0]
    community = tree.node(grid).parent_code
    street = tree.node(community).parent_code
    pt = tree.shape(grid).representative_point()
    base = {"status": "registered", "created_at": "2026-11-20T10:00:00+08:00", "source": "hotline"}
    rows = [dict(base, ticket_id="G1", grid_code=grid),
            dict(base, ticket_id="P1", lat=pt.y, lon=pt.x),            # position only
            dict(base, ticket_id="C1", grid_code=community),           # community-level code
            dict(base, ticket_id="U1", grid_code="999999999999999")]   # unknown: unplaced
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    code = main(["kpi", "--tickets", str(tmp_path / "t.jsonl"), "--areas", str(tmp_path / "areas.csv"),
                 "--now", "2026-11-21T00:00:00+08:00", "--start", "2026-11-20T00:00:00+08:00",
                 "--end", "2026-11-21T00:00:00+08:00", "--by", "area:street", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    by_key = {r["key"]: r for r in out["rows"]}
    assert by_key[street]["received"] == 3            # G1 + P1 + C1
    assert by_key[None]["received"] == 1 and by_key[None]["name"] == "unplaced"
    # the pages' placement gives the same
    df = pd.DataFrame(rows).reindex(columns=["grid_code", "lat", "lon"])
    placed = effective_grid(df, tree).tolist()
    assert placed == [grid, grid, community, None]

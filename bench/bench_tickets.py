"""Benchmark of the ticket metrics at 1 million tickets (10 million with --rows 10000000).

Not a test: run it by hand, before and after a change, and put the figures in the README.

    python bench/bench_tickets.py [--rows N] [--repeat R] [--skip-cli | --cli-only]

Synthetic tickets are spread over the grids of the demo city (feeds/demo/data/wuhai/
areas.csv; synthetic grid codes when it is missing). It prints the median server time of:
`prepare` (once per data version), a street-level kpi_table for the whole city, a
grid-level drill (one community's grids), the overdue step lights, `cityops kpi` end to end
on a file of the same tickets, and the peak memory of this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metrics.areas import AreaTree  # noqa: E402
from metrics.tickets import TicketRules, kpi_table, prepare, roll_up, step_light, window  # noqa: E402

AREAS = ROOT / "feeds" / "demo" / "data" / "wuhai" / "areas.csv"
TZ = "Asia/Shanghai"
NOW = pd.Timestamp("2026-11-20T15:00:00+08:00")


def synthetic_areas() -> pd.DataFrame:
    rows = [("C", "city", "city", None)]
    for s in range(20):
        rows.append((f"S{s}", f"street {s}", "street", "C"))
        for c in range(4):
            rows.append((f"S{s}C{c}", f"community {s}.{c}", "community", f"S{s}"))
            rows += [(f"S{s}C{c}G{g}", f"grid {s}.{c}.{g}", "grid", f"S{s}C{c}") for g in range(6)]
    return pd.DataFrame(rows, columns=["code", "name", "level", "parent_code"])


def load_areas() -> pd.DataFrame:
    if AREAS.exists():
        return pd.read_csv(AREAS, dtype=str)
    return synthetic_areas()


def synthetic_tickets(n: int, grids: list[str], seed: int = 1, days: int = 120,
                      closed_share: float = 0.8) -> pd.DataFrame:
    """n tickets over the last `days` days before NOW, in the canonical columns and dtypes;
    a share `closed_share` of them closed (when their closing time has come), 3 % cancelled, the
    rest still being handled."""
    rng = np.random.default_rng(seed)
    now_ns = NOW.value
    created = now_ns - rng.integers(0, days * 86400, n) * 1_000_000_000
    sec = 1_000_000_000
    dispatched = created + rng.integers(60, 4 * 3600, n) * sec
    first_resp = created + rng.integers(60, 3 * 3600, n) * sec
    closed = dispatched + rng.integers(3600, 12 * 86400, n) * sec
    rest = 1 - closed_share - 0.03
    status = rng.choice(["closed", "handling", "dispatched", "verifying", "cancelled"], n,
                        p=[closed_share, rest * 8 / 17, rest * 5 / 17, rest * 4 / 17, 0.03])
    closed = np.where((status == "closed") & (closed <= now_ns), closed, np.iinfo(np.int64).min)
    status = np.where((status == "closed") & (closed == np.iinfo(np.int64).min), "handling", status)
    nat = np.iinfo(np.int64).min

    def times(a: np.ndarray) -> pd.Series:
        return pd.Series(pd.DatetimeIndex(a.view("datetime64[ns]")).tz_localize("UTC"))

    grid = np.array(grids, dtype=object)[rng.integers(0, len(grids), n)]
    grid[rng.random(n) < 0.002] = None  # a few unplaced
    rating = rng.choice(np.array(["satisfied", "basic", "dissatisfied", None], dtype=object), n,
                        p=[0.6, 0.15, 0.05, 0.2])
    return pd.DataFrame({
        "ticket_id": np.char.add("T", np.arange(n).astype(str)).astype(object),
        "source": rng.choice(np.array(["hotline", "patrol", "app", "open311"], dtype=object), n),
        "kind": rng.choice(np.array(["event", "component"], dtype=object), n),
        "category": rng.choice(np.array(["noise", "parking", "road", "garbage", "water"], dtype=object), n),
        "urgency": rng.choice(np.array(["urgent", "normal", "complex"], dtype=object), n, p=[0.1, 0.8, 0.1]),
        "grid_code": grid, "lat": np.nan, "lon": np.nan,
        "department": rng.choice(np.array([f"dept{i}" for i in range(30)], dtype=object), n),
        "status": status.astype(object),
        "created_at": times(created), "dispatched_at": times(dispatched),
        "first_response_at": times(first_resp), "closed_at": times(closed),
        "deadline_at": times(np.full(n, nat)), "updated_at": times(created),
        "rating": np.where(status == "closed", rating, None),
        "rating_excluded": rng.random(n) < 0.03,
        "resolved": np.where(status == "closed", rng.choice(np.array(["yes", "no", None], dtype=object), n), None),
        "return_count": rng.poisson(0.1, n).astype(np.int64),
        "repeat_of": np.where(rng.random(n) < 0.05, "T0", None),
        "caller_name": None, "caller_phone": None,
    })


def timed(fn, repeat: int) -> tuple[float, object]:
    runs, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs) * 1000, out


def write_file(df: pd.DataFrame, path: Path) -> None:
    out = df.copy()
    for c in ("created_at", "dispatched_at", "first_response_at", "closed_at", "deadline_at", "updated_at"):
        out[c] = out[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-cli", action="store_true", help="skip `cityops kpi` on a file")
    ap.add_argument("--cli-only", action="store_true", help="only `cityops kpi` on a file")
    ap.add_argument("--cli-rows", type=int, default=None, help="rows of the kpi file (default --rows)")
    args = ap.parse_args()

    areas = load_areas()
    tree = AreaTree.build(areas.astype(object).where(areas.notna(), None).to_dict("records"))
    grids = tree.codes_at("grid")
    print(f"areas: {len(tree)} nodes, {len(grids)} grids ({'demo city' if AREAS.exists() else 'synthetic'})")
    t = time.perf_counter()
    raw = synthetic_tickets(args.rows, list(grids))
    print(f"generated {len(raw):,} tickets in {time.perf_counter() - t:.1f} s")

    start, end = window("last_30_days", NOW, TZ)
    if not args.cli_only:
        in_process(raw, tree, start, end, args.repeat)
    if not args.skip_cli:
        cli(raw, areas, args.cli_rows or args.rows, start, end, args.repeat)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process {peak:,.0f} MB")
    return 0


def in_process(raw: pd.DataFrame, tree: AreaTree, start: pd.Timestamp, end: pd.Timestamp, repeat: int) -> None:
    """The server-side figures: prepare, tables, drill, step lights."""
    rules = TicketRules()
    ms, df = timed(lambda: prepare(raw, rules, TZ), repeat)
    print(f"prepare (once per data version):        {ms:8.1f} ms")

    street_codes = tree.codes_at("street")
    to_street = lambda grids: tree.ancestor_at(grids, "street")  # noqa: E731
    ms, streets = timed(lambda: roll_up(df["grid_code"], to_street), repeat)
    print(f"roll-up grid → street (cacheable):        {ms:8.1f} ms")
    ms, table = timed(lambda: kpi_table(df, NOW, start, end, rules, roll_up(df["grid_code"], to_street),
                                        street_codes), repeat)
    print(f"street table, whole city (incl. roll-up): {ms:8.1f} ms  ({len(table)} rows)")
    ms, _ = timed(lambda: kpi_table(df, NOW, start, end, rules, streets, street_codes), repeat)
    print(f"street table, roll-up cached:             {ms:8.1f} ms")

    community = tree.codes_at("community")[0]
    grid_codes = [c for c in tree.subtree_codes(community) if tree.level_of(c) == "grid"]

    def drill() -> pd.DataFrame:
        inside = tree.in_subtree(df["grid_code"], community)
        part = df[inside.to_numpy()]
        return kpi_table(part, NOW, start, end, rules, part["grid_code"], grid_codes)

    ms, table = timed(drill, repeat)
    print(f"grid drill (one community, {len(grid_codes)} grids):  {ms:8.1f} ms")
    ms, _ = timed(lambda: kpi_table(df, NOW, start, end, rules), repeat)
    print(f"city totals (one row):                    {ms:8.1f} ms")
    ms, _ = timed(lambda: step_light(df, NOW), repeat)
    print(f"step lights of every open ticket:         {ms:8.1f} ms")


def cli(raw: pd.DataFrame, areas: pd.DataFrame, n_cli: int, start: pd.Timestamp, end: pd.Timestamp,
        repeat: int) -> None:
    """`cityops kpi` end to end (a new process: start-up, reading, validation, the table)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tickets.csv"
        write_file(raw.iloc[:n_cli], path)
        areas.to_csv(Path(tmp) / "areas.csv", index=False)
        cmd = [sys.executable, "-c", "import sys; from dashboard.app.commands.kpi import main; sys.exit(main())",
               "--tickets", str(path), "--areas", str(Path(tmp) / "areas.csv"),
               "--now", NOW.isoformat(), "--start", start.isoformat(), "--end", end.isoformat(),
               "--by", "area:street", "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # started from a small process, so its peak memory is its own (a child forked from
        # this big process would count this one's pages until it execs)
        wrap = [sys.executable, "-c", "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
                "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"]
        runs, peaks = [], []
        for _ in range(max(1, min(repeat, 3))):
            t = time.perf_counter()
            out = subprocess.run(wrap + cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
            runs.append(time.perf_counter() - t)
            peaks.append(int(out.stdout.split()[-1]) / 1024)
        each = ", ".join(f"{r:.2f}" for r in runs)
        print(f"cityops kpi, {n_cli:,}-row CSV ({path.stat().st_size / 2**20:,.0f} MB), end to end:  "
              f"{statistics.median(runs):8.2f} s  (runs: {each} s); its peak memory {max(peaks):,.0f} MB")


if __name__ == "__main__":
    sys.exit(main())

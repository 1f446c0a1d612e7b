"""Demo upstream: a seeded simulated city operations backend for 乌海市 (Wuhai).

It serves citizen service tickets over HTTP on 127.0.0.1 in the formats a real
deployment reads: Open311 GeoReport v2 (the city app's tickets) and canonical JSON Lines
(hotline and grid patrol tickets). Every ticket's whole life is drawn when it is created
from (seed, date); what is served is its state as of the simulator's clock.

    server, base_url = start_simulator(seed=2024)
    ...
    server.stop()
"""

from __future__ import annotations

import threading
from pathlib import Path

from .http import SimulatorServer
from .model import Clock, SimulatedCity, accelerated_clock, system_clock
from .places import Grid, demo_grids, grids_from_area_files

__all__ = ["Grid", "SimulatedCity", "SimulatorServer", "accelerated_clock", "default_grids",
           "demo_grids", "grids_from_area_files", "start_simulator", "stop"]

DEMO_AREAS = Path(__file__).resolve().parents[1] / "data" / "wuhai"


def default_grids(area_dir: Path = DEMO_AREAS) -> list[Grid]:
    """The demo city's grids from its area files; the tiny test set if they are missing."""
    csv_path, geo_path = area_dir / "areas.csv", area_dir / "areas.geojson"
    if csv_path.exists() and geo_path.exists():
        grids = grids_from_area_files(csv_path, geo_path)
        if grids:
            return grids
    return demo_grids()


def start_simulator(grids: list[Grid] | None = None, seed: int = 2024,
                    clock: Clock | None = None, speed: float | None = None,
                    host: str = "127.0.0.1", port: int = 0, history_days: int = 90,
                    hang_s: float = 30.0) -> tuple[SimulatorServer, str]:
    """Start the simulator in a daemon thread; returns (server, base_url).

    grids: where tickets happen (default: the demo city's area files, see `default_grids`).
    clock: a callable returning an aware datetime (default: the system clock).
    speed: optional time acceleration; the clock then starts at clock() and runs `speed`
        times faster. history_days: days of history before the start day.
    hang_s: how long the "timeout" fault keeps a request hanging.
    Stop it with `server.stop()` (or `stop(server)`).
    """
    base = clock or system_clock
    if speed is not None and speed != 1:
        base = accelerated_clock(base(), speed, real=base)
    city = SimulatedCity(grids if grids is not None else default_grids(), seed=seed,
                         clock=base, history_days=history_days)
    server = SimulatorServer(city, host, port, hang_s=hang_s)
    server.thread = threading.Thread(target=server.serve_forever, name="cityops-simulator",
                                     kwargs={"poll_interval": 0.05}, daemon=True)
    server.thread.start()
    return server, server.base_url


def stop(server: SimulatorServer) -> None:
    server.stop()


"""Run the demo upstream on its own: `python -m feeds.demo.tickets --port 8311`."""

from __future__ import annotations

import argparse
import time

from . import start_simulator


def main() -> None:
    ap = argparse.ArgumentParser(description="Simulated 乌海 city operations backend")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--speed", type=float, default=None, help="time acceleration factor")
    ap.add_argument("--history-days", type=int, default=90)
    args = ap.parse_args()
    server, url = start_simulator(seed=args.seed, port=args.port, speed=args.speed,
                                  history_days=args.history_days)
    print(f"simulator serving on {url} (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

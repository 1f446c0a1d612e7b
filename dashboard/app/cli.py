"""`cityops …`: the jobs people run by hand.

    cityops run       the console (same as `python app.py`)
    cityops poll      only the poller (production: beside gunicorn workers)
    cityops simulate  only the demo upstream (a simulated city backend over HTTP)
    cityops settings  validate a settings file and print the effective settings
    cityops kpi       ticket KPIs from files, the pages' numbers for reports and checks
    cityops feed      dry-run a feed against a sample payload (`feed check`)
    cityops industry  per-mu grading from a file (`industry grade`)
    cityops user      accounts (`user add|passwd|disable|enable|list`)
    cityops token     API tokens (`token add|revoke|list`); `cityops kiosk …` display tokens
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

COMMAND_MODULES = ("kpi", "feed", "industry", "backup", "access", "aggregates")


def serve_main(runtime, app) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop everything (no Redis left behind)."""
    from dashboard.app.runtime import exit_after_close, install_signal_handlers

    install_signal_handlers()
    s = runtime.settings
    print(f"cityops: console on http://{s.server.host}:{s.server.port}/ "
          f"({'demo city' if s.demo_mode else 'configured feeds'}; store "
          f"{'embedded Redis' if runtime.embedded else 'external Redis'}) — Ctrl-C stops", flush=True)
    try:
        app.run(host=s.server.host, port=s.server.port, debug=False, dev_tools_disable_version_check=True)
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()
        exit_after_close(0)


def script_config(argv: list[str]) -> str | None:
    """The `--config F` of `python app.py [--config F]` (None: $CITYOPS_CONFIG or the demo)."""
    p = argparse.ArgumentParser(prog="app.py", description="City operations console")
    p.add_argument("--config", help="settings TOML file (default: $CITYOPS_CONFIG, else the demo)")
    return p.parse_args(argv).config


def _run(args) -> int:
    from dashboard.app.server import build

    from dashboard.app.runtime import install_signal_handlers

    install_signal_handlers()       # a SIGTERM during the start also closes what was started
    try:
        runtime, app = build(args.config)
    except KeyboardInterrupt:       # stopped while starting: build() closed what it had started
        return 130
    serve_main(runtime, app)
    return 0


def _until_interrupted(message: str, stop) -> int:
    """Print `message`, wait for Ctrl-C or SIGTERM, then call `stop()`."""
    from dashboard.app.runtime import exit_after_close, install_signal_handlers

    install_signal_handlers()
    print(message, flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        exit_after_close(0)
    return 0


def _poll(args) -> int:
    from dashboard.app.runtime import Runtime
    from dashboard.app.server import limit_malloc_arenas, settings_or_exit, setup_logging

    limit_malloc_arenas()
    setup_logging()
    rt = Runtime.start(settings_or_exit(args.config), poll=True)
    return _until_interrupted(f"cityops: poller {rt.poller.owner} running — Ctrl-C stops", rt.close)


def _simulate(args) -> int:
    from dashboard.app.runtime import start_demo_tickets
    from dashboard.app.server import settings_or_exit

    settings = settings_or_exit(args.config)
    sim, url = start_demo_tickets(settings, port=args.port)
    stops, where = [sim.stop], f"tickets on {url}"
    if args.sensor_port is not None:
        from dashboard.app.runtime import start_demo_sensors

        sensors, sensor_url = start_demo_sensors(settings, port=args.sensor_port)
        stops.append(sensors.stop)
        where += f", sensors on {sensor_url}"

    def stop() -> None:
        for fn in stops:
            fn()
    return _until_interrupted(f"cityops: demo upstream: {where} — Ctrl-C stops", stop)


def _settings(args) -> int:
    from dashboard.config.schema import to_plain
    from dashboard.app.server import settings_or_exit

    s = settings_or_exit(args.config)
    print(json.dumps(_redacted(to_plain(s)), ensure_ascii=False, indent=2))
    return 0


SECRET_KEYS = ("api_key", "proxy_secret", "session_secret")


def _redacted(obj):
    """The effective settings with secrets shown as "***" (set) or "" (unset)."""
    if isinstance(obj, dict):
        return {k: ("***" if v else "") if k in SECRET_KEYS and isinstance(v, str) else _redacted(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_redacted(v) for v in obj]
    return obj


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cityops", description="City operations console")
    sub = p.add_subparsers(dest="command", required=True)
    for name, fn, help_ in (("run", _run, "start the console"), ("poll", _poll, "run only the poller"),
                            ("simulate", _simulate, "serve only the demo upstream"),
                            ("settings", _settings, "validate and print the settings")):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("--config", help="settings TOML file (default: $CITYOPS_CONFIG, else the demo)")
        if name == "simulate":
            sp.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
            sp.add_argument("--sensor-port", type=int, default=None,
                            help="also serve the demo sensor platform on this port (0: any free)")
        sp.set_defaults(func=fn)
    for mod_name in COMMAND_MODULES:
        mod = importlib.import_module(f"dashboard.app.commands.{mod_name}")
        before = set(sub.choices)
        mod.add_parser(sub)
        for name in set(sub.choices) - before:
            if sub.choices[name].get_default("func") is None:
                sub.choices[name].set_defaults(func=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

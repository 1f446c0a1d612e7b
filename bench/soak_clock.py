"""Run a `cityops` command with its clock shifted (for bench/soak.py): `datetime.now()` in
the project's own modules answers `SOAK_CLOCK_OFFSET_S` seconds ahead, so a soak of minutes
can cross the city's local midnight and watch "today" roll over on a wall left open. Only
for the soak: the console has no clock setting. (libfaketime cannot do it: it hangs
Python's threaded waits; replacing `datetime.datetime` globally breaks pandas.)

How: `from datetime import datetime` inside dashboard/, feeds/, callbacks/, layouts/,
metrics/ gets a stand-in class whose `now()` / `today()` are shifted; everything else it
does (constructors, `fromisoformat`, `isinstance`) is the real `datetime`'s.

    SOAK_CLOCK_OFFSET_S=3600 python bench/soak_clock.py run --config F
"""

from __future__ import annotations

import builtins
import datetime as _dt
import os
import sys
import types
from pathlib import Path

OFFSET = _dt.timedelta(seconds=float(os.environ.get("SOAK_CLOCK_OFFSET_S", "0")))
# apscheduler too: the poller schedules its first runs at its own (shifted) now
PROJECT = {"dashboard", "feeds", "callbacks", "layouts", "metrics", "app", "apscheduler"}
_real = _dt.datetime


class _Meta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, _real)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, _real)

    def __call__(cls, *args, **kwargs):
        return _real(*args, **kwargs)

    def __getattr__(cls, name):
        return getattr(_real, name)


class ShiftedDatetime(metaclass=_Meta):
    @staticmethod
    def now(tz=None):
        return _real.now(tz) + OFFSET

    @staticmethod
    def today():
        return _real.today() + OFFSET

    @staticmethod
    def utcnow():
        return _real.utcnow() + OFFSET


_shifted = types.ModuleType("datetime")
_shifted.__dict__.update({k: v for k, v in _dt.__dict__.items() if not k.startswith("__")})
_shifted.datetime = ShiftedDatetime
_import = builtins.__import__


def _shifting_import(name, globals=None, locals=None, fromlist=(), level=0):
    mod = _import(name, globals, locals, fromlist, level)
    if name == "datetime" and fromlist and "datetime" in fromlist and globals \
            and str(globals.get("__name__", "")).split(".")[0] in PROJECT:
        return _shifted
    return mod


builtins.__import__ = _shifting_import

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dashboard.app.cli import main

    sys.exit(main(sys.argv[1:]))

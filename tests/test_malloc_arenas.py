"""The console caps glibc's malloc arenas before its threads start (a thread per request
otherwise opens arenas that keep freed frames: memory growing in steps under load)."""

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import ctypes, os, sys, tempfile, threading
    if sys.argv[1] == "cap":
        from dashboard.app.server import limit_malloc_arenas
        limit_malloc_arenas()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    start, held = threading.Barrier(8), []

    def work():
        start.wait()            # all eight allocate at once: contention makes glibc open arenas
        for _ in range(2000):
            p = libc.malloc(4096)
            held.append(p)
        start.wait()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    path = tempfile.mktemp()
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    print(open(path).read().count("<heap nr="))
    os.unlink(path)
""")


def arenas(mode: str, env: dict | None = None) -> int:
    import os
    e = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    e.update(env or {})
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                         check=True, env=e, timeout=60)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_mar001_console_caps_malloc_arenas():
    uncapped = arenas("plain")
    capped = arenas("cap")
    assert capped <= 2
    # the control: without the cap the same threads use more arenas (else this proves nothing)
    assert uncapped > 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_mar002_environment_wins():
    assert arenas("cap", {"MALLOC_ARENA_MAX": "1"}) == 1

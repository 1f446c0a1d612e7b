"""`pip install .` (not editable) ships what the console needs: the top-level `assets/` (the
wall theme and map functions) and the demo city's data (`feeds/demo/data/`).

The wheel is built from a copy of the sources, installed into a fresh virtual environment
(`--no-deps`; the dependencies come from this interpreter's site-packages through a `.pth`
line, so nothing is downloaded), and `cityops run` is started from an unrelated folder
without `PYTHONPATH`: the page and its CSS must come from the installed copy.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO, free_port

pytestmark = pytest.mark.slow


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", "tests", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "var", "tmp", ".venv"))
    out = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, cwd=tmp, timeout=300)
    (wheel,) = out.glob("cityops-*.whl")
    return wheel


def _venv_with(wheel: Path, tmp: Path) -> Path:
    env_dir = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}   # see only the new environment
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, timeout=300, env=clean)
    assert list(Path(purelib).glob("cityops-*.dist-info")), "installed into the new environment"
    # the dependencies: this interpreter's site-packages, after the venv's own (written after
    # the install, so pip never sees, nor touches, what is installed there)
    Path(purelib, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def test_the_wheel_ships_assets_and_demo_data_and_serves_a_styled_page(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "assets/cityops.css" in names and "assets/cityops.js" in names
    assert "feeds/demo/data/wuhai/areas.csv" in names and "feeds/demo/data/wuhai/areas.geojson" in names

    env_dir = _venv_with(wheel, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CITYOPS_CONFIG", "REDIS_URL")}
    port = free_port()
    env.update(CITYOPS_PORT=str(port), CITYOPS_HOST="127.0.0.1", CITYOPS_DATA_DIR=str(tmp_path / "data"))

    where = subprocess.run([str(env_dir / "bin" / "python"), "-c", "import dashboard, feeds; print(dashboard.__file__)"],
                           cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout
    assert str(env_dir) in where, f"the installed copy is imported, not the checkout: {where}"

    proc = subprocess.Popen([str(env_dir / "bin" / "cityops"), "run"], cwd=elsewhere, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        page = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                page = requests.get(base + "/", timeout=5)
                if page.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert proc.poll() is None, proc.stdout.read()
        assert page is not None and page.status_code == 200
        assert "/assets/cityops.css" in page.text, "the page links the theme"
        css = requests.get(base + "/assets/cityops.css", timeout=10)
        assert css.status_code == 200
        assert "text/css" in css.headers.get("Content-Type", "")
        assert css.content == (REPO / "assets" / "cityops.css").read_bytes()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

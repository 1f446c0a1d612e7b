"""Turning the state of selected tickets into served records: canonical and Open311.

Everything is computed column-wise over numpy and zipped into dicts at the end; times are
ISO 8601 with the city's +08:00 offset, to the second; a field whose time is still in the
future is null.
"""

from __future__ import annotations

import numpy as np

from . import catalog as cat
from .tickets import NEVER, S, SLOTS, CityContext

CANONICAL_FIELDS: tuple[str, ...] = (
    "ticket_id", "source", "kind", "category", "urgency", "grid_code", "lat", "lon",
    "department", "status", "created_at", "dispatched_at", "first_response_at", "closed_at",
    "deadline_at", "updated_at", "rating", "rating_excluded", "resolved", "return_count",
    "repeat_of", "caller_name", "caller_phone",
)
STATUS = np.array([s for _, s in SLOTS], dtype=object)
STEP_NOTES = {"reported": "已受理", "registered": "已立案", "dispatched": "已派遣",
              "handling": "处置中", "verifying": "核查中", "closed": "已办结",
              "cancelled": "已撤销（诉求人撤回或重复诉求）"}
_CAT_NAME = np.array([c.name for c in cat.CATEGORIES], dtype=object)
_CAT_KIND = np.array([c.kind for c in cat.CATEGORIES], dtype=object)
_CAT_CODE = np.array([c.code for c in cat.CATEGORIES], dtype=object)
_CAT_CLASS = np.array([c.klass for c in cat.CATEGORIES], dtype=object)
OFFSET_S = 8 * 3600


def iso(t: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Epoch seconds → 'YYYY-MM-DDTHH:MM:SS+08:00' strings (object array; None where invalid)."""
    t = np.asarray(t, dtype=np.int64)
    ok = t < NEVER if valid is None else valid & (t < NEVER)
    local = np.where(ok, t, 0) + OFFSET_S
    s = np.char.add(np.datetime_as_string(local.astype("datetime64[s]"), unit="s"), "+08:00")
    return np.where(ok, s.astype(object), None)


class Columns:
    """The served fields of table rows `idx` as of `now` (each a numpy array)."""

    def __init__(self, ctx: CityContext, table: dict[str, np.ndarray], idx: np.ndarray,
                 slot: np.ndarray, updated: np.ndarray, now: int) -> None:
        self.ctx, self.idx, self.now = ctx, idx, now
        ev = table["events"][idx]
        self.ev, self.slot, self.updated = ev, slot, updated
        self.t = {k: table[k][idx] for k in table if k not in ("events", "id_sorted")}
        self.status = STATUS[slot]

    def take(self, sel: np.ndarray) -> "Columns":
        """The same columns for a subset (positions `sel`) of these rows."""
        out = object.__new__(Columns)
        out.ctx, out.now, out.idx = self.ctx, self.now, self.idx[sel]
        out.ev, out.slot, out.updated = self.ev[sel], self.slot[sel], self.updated[sel]
        out.t = {k: v[sel] for k, v in self.t.items()}
        out.status = self.status[sel]
        return out

    def at(self, slot: str) -> np.ndarray:
        """Event time if it has happened by now, else None (ISO strings)."""
        t = self.ev[:, S[slot]]
        return iso(t, t <= self.now)

    def grid_code(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(grid_code, lat, lon): ~2 % without a code, ~0.3 % with a code unknown to the tree."""
        draw, g = self.t["place_draw"], self.t["grid"]
        codes = np.array([x.code for x in self.ctx.grids], dtype=object)[g]
        unknown = (draw >= 0.02) & (draw < 0.023)
        codes = np.where(draw < 0.02, None, np.where(unknown, self.ctx.retired_codes[g], codes))
        lat = np.where(unknown, None, self.t["lat"].astype(object))
        lon = np.where(unknown, None, self.t["lon"].astype(object))
        return codes, lat, lon

    def department(self) -> np.ndarray:
        ev = self.ev
        seen = np.where(self.t["direct"], ev[:, S["closed"]], ev[:, S["dispatched"]]) <= self.now
        moved = ev[:, S["redispatched1"]] <= self.now
        names = np.array(self.ctx.departments, dtype=object)
        return np.where(seen, np.where(moved, names[self.t["dep_final"]], names[self.t["dep_first"]]), None)

    def callback(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rated = self.ev[:, S["rated"]] <= self.now
        rating = np.array(cat.RATINGS, dtype=object)[np.where(rated, self.t["rating"], 0)]
        resolved = np.array(cat.RESOLVED, dtype=object)[np.where(rated, self.t["resolved"], 0)]
        return rating, rated & self.t["rating_excluded"], resolved

    def canonical(self) -> list[dict]:
        t = self.t
        grid, lat, lon = self.grid_code()
        rating, excluded, resolved = self.callback()
        returns = (self.ev[:, S["returned1"]] <= self.now).astype(int) + \
            (self.ev[:, S["returned2"]] <= self.now)
        cols = {
            "ticket_id": t["ticket_id"], "source": np.array(cat.SOURCES, dtype=object)[t["source"]],
            "kind": _CAT_KIND[t["category"]], "category": _CAT_NAME[t["category"]],
            "urgency": np.array(cat.URGENCIES, dtype=object)[t["urgency"]],
            "grid_code": grid, "lat": lat, "lon": lon, "department": self.department(),
            "status": self.status, "created_at": self.at("created"),
            "dispatched_at": self.at("dispatched"), "first_response_at": self.at("responded"),
            "closed_at": self.at("closed"), "deadline_at": iso(t["deadline"], t["deadline_given"]),
            "updated_at": iso(self.updated), "rating": rating, "rating_excluded": excluded,
            "resolved": resolved, "return_count": returns, "repeat_of": t["repeat_of"],
            "caller_name": t["caller_name"], "caller_phone": t["caller_phone"],
        }
        lists = [cols[f].tolist() for f in CANONICAL_FIELDS]
        return [dict(zip(CANONICAL_FIELDS, row)) for row in zip(*lists)]

    def open311(self) -> list[dict]:
        """GeoReport v2 request records (source "app")."""
        t = self.t
        _, lat, lon = self.grid_code()
        done = np.isin(self.status, ["closed", "cancelled"])
        close_t = np.where(self.status == "cancelled", self.ev[:, S["cancelled"]], self.ev[:, S["closed"]])
        updated = np.where(done, close_t, self.updated)
        notes = np.array([STEP_NOTES[s] for s in self.status.tolist()], dtype=object)
        address = np.array([g.address or g.code for g in self.ctx.grids], dtype=object)[t["grid"]]
        klass, name = _CAT_CLASS[t["category"]], _CAT_NAME[t["category"]]
        desc = [cat.DESCRIPTIONS[k].format(cat=c, place=p) for k, c, p in
                zip(klass.tolist(), name.tolist(), address.tolist())]
        ids = t["ticket_id"]
        media = np.where(t["created"] % 5 < 2,
                         np.char.add(np.char.add("https://app.wuhai.example/media/", ids.astype(str)), ".jpg").astype(object),
                         None)
        cols = {
            "service_request_id": ids, "status": np.where(done, "closed", "open").astype(object),
            "status_notes": notes, "service_name": name, "service_code": _CAT_CODE[t["category"]],
            "description": np.array(desc, dtype=object), "agency_responsible": self.department(),
            "service_notice": np.full(len(ids), None, dtype=object),
            "requested_datetime": self.at("created"), "updated_datetime": iso(updated),
            "expected_datetime": iso(t["deadline"]), "address": address,
            "lat": lat, "long": lon, "media_url": media,
        }
        keys = list(cols)
        lists = [cols[k].tolist() for k in keys]
        return [dict(zip(keys, row)) for row in zip(*lists)]


def services() -> list[dict]:
    """GeoReport v2 service list: the categories a citizen can report in the app."""
    return [{"service_code": c.code, "service_name": c.name, "description": f"{c.klass}：{c.name}",
             "metadata": False, "type": "realtime", "keywords": c.klass, "group": c.klass}
            for c in cat.CATEGORIES if c.w_app > 0]

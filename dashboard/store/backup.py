"""Backup and restore of the store: every key of the namespace, read at one point in time.

A backup is a folder:

    manifest.json       what is in it: when, from which server, per-dataset record counts,
                        key counts by type, the audit entries, each file's size and SHA-256
    store.jsonl.gz      one line per key: {"k": key, "t": type, "ttl": ms or -1, "v": value}
    audit/…             the audit files found under the data directory, copied as they are

The keys are read in one MULTI/EXEC transaction (after listing them; repeated if the list
changed meanwhile), so the copy is one consistent point in time even while the poller and
people write. On a Redis Cluster a transaction cannot span slots: the keys are read (and
restored) one hash slot at a time, so each dataset (one hash tag) is one point in time,
the store as a whole is not quite. The format is logical (values, not Redis's DUMP payloads), so a backup of the
embedded Redis 6 restores into a Redis 7 and back. Derived keys are left out: the view cache
(`NS:cache:*`, recomputed on demand) and the poller lease (`NS:lease:*`).

Restore refuses a store that holds any key of the namespace unless forced; forced, it
deletes the namespace's keys first, then writes the backup's keys with their TTLs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

import redis

FORMAT = 1
STORE_FILE = "store.jsonl.gz"
MANIFEST = "manifest.json"
SKIP = (":cache:", ":lease:")
READERS = {"string": "get", "hash": "hgetall", "list": "lrange", "set": "smembers", "zset": "zrange"}


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why."""


def namespace_keys(r: redis.Redis, ns: str) -> list[bytes]:
    """Every key of the namespace that a backup holds (not the view cache, not leases)."""
    keys = []
    for k in r.scan_iter(match=f"{ns}:*", count=1000):
        text = k.decode()
        if not any(text.startswith(ns + s) for s in SKIP):
            keys.append(k)
    return sorted(keys)


def slot_groups(r, keys: list) -> list[list]:
    """The keys in groups one transaction can read or write: all of them on one Redis; on a
    Redis Cluster, one group per hash slot (the store's keys carry hash tags: a dataset's keys
    are one slot, so each dataset is still copied at one point in time)."""
    if not isinstance(r, redis.RedisCluster):
        return [keys] if keys else []
    groups: dict[int, list] = {}
    for k in keys:
        groups.setdefault(r.keyslot(k), []).append(k)
    return list(groups.values())


def _read_all(r: redis.Redis, keys: list[bytes]) -> tuple[list[str], list]:
    """(type of each key, [type, value, pttl] of each key), in key order; read in one
    transaction (on a cluster: one per hash slot, `slot_groups`)."""
    types: dict = {}
    rows: dict = {}
    for group in slot_groups(r, keys):
        got_types, got_rows = _read_group(r, group)
        types.update(zip(group, got_types))
        rows.update(zip(group, got_rows))
    return [types[k] for k in keys], [rows[k] for k in keys]


def _read_group(r: redis.Redis, keys: list[bytes]) -> tuple[list[str], list]:
    with r.pipeline(transaction=False) as p:
        for k in keys:
            p.type(k)
        types = [t.decode() if isinstance(t, bytes) else t for t in p.execute()]
    with r.pipeline(transaction=True) as p:
        for k, t in zip(keys, types):
            p.type(k)
            if t == "list":
                p.lrange(k, 0, -1)
            elif t == "zset":
                p.zrange(k, 0, -1, withscores=True)
            elif t in READERS:
                getattr(p, READERS[t])(k)
            else:
                p.exists(k)
            p.pttl(k)
        out = p.execute()
    return types, [out[i:i + 3] for i in range(0, len(out), 3)]


def _enc(b) -> str | dict:
    if isinstance(b, (int, float)):
        return b
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(b).decode()}


def _dec(v) -> bytes:
    if isinstance(v, dict):
        return base64.b64decode(v["b64"])
    return v.encode("utf-8")


def _encode_value(t: str, value):
    if t == "string":
        return _enc(value)
    if t == "hash":
        return [[_enc(k), _enc(v)] for k, v in sorted(value.items())]
    if t == "list":
        return [_enc(x) for x in value]
    if t == "set":
        return sorted((_enc(x) for x in value), key=str)
    if t == "zset":
        return [[_enc(m), s] for m, s in value]
    raise BackupError(f"key type {t!r} is not backed up")


def snapshot(r: redis.Redis, ns: str, tries: int = 5) -> list[dict]:
    """Every key of the namespace as one consistent point in time (see the module doc)."""
    for _ in range(tries):
        keys = namespace_keys(r, ns)
        types, rows = _read_all(r, keys)
        now_types = [(t.decode() if isinstance(t, bytes) else t) for t, _v, _ttl in rows]
        if now_types == types and namespace_keys(r, ns) == keys:   # no key came, went or changed type
            return [{"k": k.decode(), "t": t, "ttl": int(ttl), "v": _encode_value(t, v)}
                    for k, t, (_t, v, ttl) in zip(keys, types, rows) if t != "none"]
    raise BackupError(f"the store's keys kept changing during {tries} tries; try again")


def counts(entries: list[dict], ns: str) -> dict:
    """What a backup holds, to compare with the store it came from or went to."""
    by_type: dict[str, int] = {}
    datasets: dict[str, int] = {}
    audit = 0
    for e in entries:
        by_type[e["t"]] = by_type.get(e["t"], 0) + 1
        if e["k"].endswith(":rec") and e["k"].startswith(ns + ":{") and e["t"] == "hash":
            datasets[e["k"][len(ns) + 2:].split("}")[0]] = len(e["v"])
        if e["k"] == f"{ns}:audit":
            audit = len(e["v"])
    return {"keys": len(entries), "keys_by_type": dict(sorted(by_type.items())),
            "records": dict(sorted(datasets.items())), "audit_entries_in_store": audit}


def store_counts(r: redis.Redis, ns: str) -> dict:
    """`counts` of what the store holds now."""
    return counts(snapshot(r, ns), ns)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def audit_files(data_dir: Path) -> list[Path]:
    """The audit trail's files under the data directory (`audit*`, files or a folder)."""
    out = []
    for p in sorted(Path(data_dir).glob("audit*")):
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file())
    return out


def backup(r: redis.Redis, ns: str, target: Path, data_dir: Path | None = None) -> dict:
    """Write a backup of namespace `ns` (and the audit files under `data_dir`) to `target`,
    which must not exist or be empty. Files are written, then fsync'd, then the manifest
    last: a folder without a manifest is not a backup."""
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"{target} is not empty: give a new folder")
    target.mkdir(parents=True, exist_ok=True)
    entries = snapshot(r, ns)
    taken = datetime.now(timezone.utc)
    with gzip.open(target / STORE_FILE, "wt", encoding="utf-8") as f:
        for e in entries:
            f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
    files = {STORE_FILE: target / STORE_FILE}
    if data_dir is not None:
        for src in audit_files(data_dir):
            rel = Path("audit") / src.relative_to(data_dir)
            dst = target / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(src.read_bytes())
            files[str(rel)] = dst
    for p in files.values():
        _fsync(p)
    info = r.info("server")
    manifest = {
        "format": FORMAT, "namespace": ns, "taken_at": taken.isoformat(timespec="microseconds"),
        "redis_version": info.get("redis_version"), **counts(entries, ns),
        "files": {name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for name, p in sorted(files.items())},
    }
    tmp = target / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
    _fsync(tmp)
    tmp.rename(target / MANIFEST)
    return manifest


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def verify(source: Path) -> dict:
    """The backup's manifest, after checking every file against its size and checksum."""
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source}: no readable {MANIFEST} ({exc}); not a backup") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: backup format {manifest.get('format')!r}, expected {FORMAT}")
    for name, meta in manifest["files"].items():
        p = source / name
        if not p.is_file() or p.stat().st_size != meta["bytes"] or _sha256(p) != meta["sha256"]:
            raise BackupError(f"{source}: {name} does not match the manifest (missing, truncated or changed)")
    return manifest


def restore(r: redis.Redis, ns: str, source: Path, force: bool = False, data_dir: Path | None = None) -> dict:
    """Write the backup at `source` into namespace `ns`. Refuses when the namespace holds
    any key, or a poller holds its lease (a console is running), unless `force`."""
    source = Path(source)
    manifest = verify(source)
    existing = namespace_keys(r, ns)
    holder = r.get(f"{ns}:lease:poller")
    if not force:
        if holder:
            raise BackupError(f"a console is polling this store (lease held by {holder.decode()}): "
                              "stop it first, or give --force")
        if existing:
            raise BackupError(f"the store already holds {len(existing)} keys under '{ns}:': "
                              "restore into an empty store, or give --force to replace them")
    with gzip.open(source / STORE_FILE, "rt", encoding="utf-8") as f:
        entries = [json.loads(line) for line in f]
    if manifest.get("namespace") != ns:      # a backup restored under another namespace
        old = manifest["namespace"]
        for e in entries:
            e["k"] = ns + e["k"][len(old):]
    # one transaction (on a cluster: one per hash slot): the old keys out, the backup's in
    old = namespace_keys(r, ns) + list(r.scan_iter(match=f"{ns}:cache:*", count=1000))
    by_key = {e["k"].encode(): e for e in entries}
    old_keys = set(old)
    for group in slot_groups(r, list(dict.fromkeys(old + list(by_key)))):
        with r.pipeline(transaction=True) as p:
            for k in group:
                if k in old_keys:
                    p.delete(k)
            for k in group:
                if k in by_key:
                    _write(p, by_key[k])
            p.execute()
    restored_files = []
    if data_dir is not None:
        restored_files = _restore_files(source, manifest, Path(data_dir), force)
    got = store_counts(r, ns)
    return {"restored": got, "backup": {k: manifest[k] for k in ("keys", "keys_by_type", "records",
                                                                  "audit_entries_in_store")},
            "files": restored_files}


def _write(p, e: dict) -> None:
    k, t, v = e["k"], e["t"], e["v"]
    if t == "string":
        p.set(k, _dec(v))
    elif t == "hash" and v:
        for i in range(0, len(v), 10000):
            p.hset(k, mapping={_dec(a): _dec(b) for a, b in v[i:i + 10000]})
    elif t == "list" and v:
        for i in range(0, len(v), 10000):
            p.rpush(k, *[_dec(x) for x in v[i:i + 10000]])
    elif t == "set" and v:
        p.sadd(k, *[_dec(x) for x in v])
    elif t == "zset" and v:
        for i in range(0, len(v), 10000):
            p.zadd(k, {_dec(m): s for m, s in v[i:i + 10000]})
    if e["ttl"] and e["ttl"] > 0:
        p.pexpire(k, e["ttl"])


def _restore_files(source: Path, manifest: dict, data_dir: Path, force: bool) -> list[str]:
    """Copy the audit files back. A different file already there is never destroyed: without
    `force` the restore stops; with it, the present file is kept beside as `…before-restore-T`."""
    names = [n for n in manifest["files"] if n.startswith("audit/")]
    clashes = []
    for n in names:
        dst = data_dir / Path(n).relative_to("audit")
        if dst.exists() and _sha256(dst) != manifest["files"][n]["sha256"]:
            clashes.append(dst)
    if clashes and not force:
        raise BackupError(f"audit files differ from the backup's ({', '.join(map(str, clashes))}): give --force "
                          "(the present files are kept beside as *.before-restore-…)")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = []
    for n in names:
        dst = data_dir / Path(n).relative_to("audit")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst in clashes:
            dst.rename(dst.with_name(dst.name + f".before-restore-{stamp}"))
        tmp = dst.with_name(dst.name + ".restoring")
        tmp.write_bytes((source / n).read_bytes())
        _fsync(tmp)
        tmp.rename(dst)
        out.append(str(dst))
    return out

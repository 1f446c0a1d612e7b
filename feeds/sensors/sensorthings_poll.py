"""SensorThings API v1.1 feeds for the poller: Observations in, readings and alarms out.

The adapter registered in `feeds.registry` for (sensors, sensorthings). Parsing and paging
live in `feeds.sensors.sensorthings`; the registry, readings and alarms are shared with the other
sensor feeds (`feeds.sensors.poll`). Two ways to collect (`[feeds.sensor.sensorthings] mode`,
docs/FORMATS.md): one GET chain per Datastream from its own cursor ("datastreams"), or one
chain for all of them with an overlap window for late arrivals ("observations").

Unless the settings list Datastreams by hand, they are discovered from the server
(`feeds.sensors.sensorthings_discover`, again every `discover_every_s`): the sensors and their
positions (the Things' Locations) go to the "sensors" dataset. After reading, each poll
reconciles the Observations taken with the server's `@iot.count` over a trailing window
(`feeds.sensors.sensorthings_reconcile`), re-reading a Datastream the server has more of, and
reports the feed's coverage.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from feeds.sensors import sensorthings
from feeds.sensors import sensorthings_discover as discover
from feeds.base import Batch, FeedError, PollContext
from feeds.sensors.poll import _finish, _lookup, _registry_batch, _rejects, _store, _t, feed_settings, stamp
from feeds.sensors.settings import SensorFeedSettings
from feeds.sensors.sensorthings_reconcile import Held, Reconciler


def poll_sensorthings(ctx: PollContext) -> list[Batch]:
    """SensorThings Observations, following `@iot.nextLink`: per Datastream (listed or
    discovered), or all of them in one collection (`sensorthings.mode`); then the count
    reconciliation for late arrivals."""
    settings = feed_settings(ctx.feed)
    cfg = settings.sensorthings
    if not cfg.base_url and ctx.feed.url:
        settings = dataclasses.replace(settings, sensorthings=dataclasses.replace(cfg, base_url=ctx.feed.url))
    rules = ctx.extra["settings"].alarms
    reg = _registry_batch(ctx, settings)
    if not settings.sensorthings.datastreams:
        settings, found = _discovered(ctx, settings, rules)
        if found is not None:
            if reg is None:
                reg = found
            else:
                listed = {x["sensor_id"] for x in reg.records}   # the registry's own entry wins
                reg.records += [r for r in found.records if r["sensor_id"] not in listed]
                reg.rejects += found.rejects
                reg.received += found.received
    lookup = _lookup(ctx, reg)
    rc = ctx.state.setdefault("reconcile", {})
    if "since" not in rc:   # what the feed holds starts with its first read (or now, for an older feed)
        started = ctx.state.get("cursor") or ctx.state.get("cursors") or ctx.state.get("observations")
        rc["since"] = sensorthings.time_key(ctx.now) if started else (_first_since(ctx, settings) or "")
    held = Held(rc.get("held"), settings.sensorthings.reconcile_bucket_s)
    collect = _sta_by_collection if settings.sensorthings.mode == "observations" else _sta_by_datastream
    records, rejects = collect(ctx, settings, rules, lookup, held)
    if settings.sensorthings.reconcile_window_s > 0:
        more, bad = _reconcile(ctx, settings, rules, lookup, held, rc)
        base = len(records) + len(rejects)
        records += more
        rejects += [dict(r, index=r["index"] + base) for r in bad]
    rc["held"] = held.to_state()
    return _finish(ctx, settings, records, rejects, reg)


def _discovered(ctx: PollContext, settings: SensorFeedSettings, rules) -> tuple[SensorFeedSettings, Batch | None]:
    """The settings with the server's Datastreams, discovered again every `discover_every_s`
    (and the sensors batch when they were)."""
    cfg = settings.sensorthings
    st = ctx.state.get("discovery") or {}
    batch = None
    if not st.get("at") or (ctx.now - _t(st["at"])).total_seconds() >= cfg.discover_every_s:
        try:
            found = discover.discover(settings, rules, stamp(ctx.now), session=ctx.session)
        except Exception as exc:  # noqa: BLE001 - a bad page or requests' errors: the feed failed as a whole
            raise FeedError(f"Datastreams: {exc}") from None
        # a Datastream that cannot be read is recorded once, not at every discovery
        before = set(st.get("rejected") or [])
        fresh = [r for r in found.rejects if r["reason"] not in before]
        st = ctx.state["discovery"] = {"at": ctx.now.isoformat(), "streams": found.to_state(),
                                       "rejected": sorted({r["reason"] for r in found.rejects})}
        batch = Batch("sensors", list(found.sensors.values()), _rejects(fresh), len(found.sensors) + len(fresh))
        if len(fresh) < len(found.rejects):
            batch.notes.append(f"{len(found.rejects) - len(fresh)} Datastreams still unreadable (recorded before)")
    streams = discover.streams_from_state(st.get("streams"))
    return dataclasses.replace(settings, sensorthings=dataclasses.replace(cfg, datastreams=streams)), batch


def _reconcile(ctx: PollContext, settings: SensorFeedSettings, rules, lookup, held: Held,
               rc: dict) -> tuple[list[dict], list[dict]]:
    """Late Observations by `@iot.count` over the trailing window; the coverage for /health."""
    cfg = settings.sensorthings
    store = _store(ctx)
    by_sensor = {}

    def recent_times(ds) -> set[str]:
        if ds.sensor_id not in by_sensor:
            (rec,) = store.dataset("readings").get([f"{ds.sensor_id}/{ds.kind}"])
            by_sensor[ds.sensor_id] = {sensorthings.time_key(t) for t, _ in (rec or {}).get("recent") or []}
        return by_sensor[ds.sensor_id]

    r = Reconciler(settings, rules, rc, held, ctx.now, ctx.session, lookup, recent_times)
    try:
        if cfg.mode == "observations":
            st = ctx.state.get("observations") or {}
            cov = r.run(cfg.datastreams, None, st.get("cursor"), cfg.overlap_s)
        else:
            cov = r.run(cfg.datastreams, ctx.state.get("cursors") or {}, None, 0)
    except Exception as exc:  # noqa: BLE001 - a bad page or requests' errors: the feed failed as a whole
        raise FeedError(f"reconciling Observations by @iot.count: {exc}") from None
    if cov is not None:
        cov["late_found"] = r.found
        ctx.report["coverage"] = cov
    return r.records, r.rejects


def _sta_by_datastream(ctx: PollContext, settings: SensorFeedSettings, rules,
                       lookup: dict[str, dict], held: Held | None = None) -> tuple[list[dict], list[dict]]:
    """"datastreams" mode: one GET chain per Datastream, each from its own cursor."""
    ctx.state.pop("observations", None)   # what "observations" mode kept, if the feed switched
    links = ctx.state.setdefault("next_links", {})
    # One cursor per Datastream (the newest phenomenonTime read from it): a feed-wide cursor
    # would skip an Observation that arrives for a Datastream read early in a poll while a
    # later Datastream advances the cursor past it. The feed-wide one is only the fallback
    # for state written before there were per-Datastream cursors.
    cursors = ctx.state.setdefault("cursors", {})
    records, rejects = [], []
    for ds in settings.sensorthings.datastreams:
        url = links.get(ds.id)
        since = cursors.get(ds.id) or ctx.state.get("cursor") or _first_since(ctx, settings)
        if url is None and since:
            url = sensorthings.observations_url(settings.sensorthings.base_url, ds.id) + \
                f"&$filter=phenomenonTime%20gt%20{since.replace('+00:00', 'Z')}"
        try:
            page = sensorthings.fetch_observations(ds, settings, rules, lookup, url=url, session=ctx.session,
                                                   held=held)
        except Exception as exc:  # noqa: BLE001 - a bad page or requests' errors: the feed failed as a whole
            raise FeedError(f"Datastream {ds.id}: {exc}") from None
        if page.next_link:
            links[ds.id] = page.next_link
        else:
            links.pop(ds.id, None)
        # The newest Observation taken, a rejected one too: a rejected Observation is recorded
        # once, and the next poll starts after it.
        if page.newest and (ds.id not in cursors or _t(page.newest) > _t(cursors[ds.id])):
            cursors[ds.id] = page.newest
        base = len(records) + len(rejects)
        records += page.records
        rejects += [dict(r, index=r["index"] + base) for r in page.rejects]
    return records, rejects


def _first_since(ctx: PollContext, settings: SensorFeedSettings) -> str | None:
    """Where a SensorThings feed's very first read starts: `first_lookback_s` before now."""
    lookback = settings.sensorthings.first_lookback_s
    return sensorthings.time_key(ctx.now - timedelta(seconds=lookback)) if lookback else None


def _sta_by_collection(ctx: PollContext, settings: SensorFeedSettings, rules,
                       lookup: dict[str, dict], held: Held | None = None) -> tuple[list[dict], list[dict]]:
    """"observations" mode: one GET chain for every Datastream.

    Reads `/Observations` from the newest phenomenonTime read (`cursor`) minus `overlap_s`,
    so an Observation that reaches the server late, within the overlap, is still read; the
    ones taken already in that window are dropped (`sensorthings.Taken`, kept in the feed
    state for the window only). One that arrives later than that is missed. A chain cut by
    `page_cap` continues at the next poll from where it stopped, with the same start.
    """
    cfg = settings.sensorthings
    st = ctx.state.setdefault("observations", {})
    if not st:
        _switch_to_collection(ctx.state, st, settings)
    taken = sensorthings.Taken(st.get("taken"))
    url, since = st.get("next_link"), st.get("since")
    if not url:
        since = sensorthings.window_start(st["cursor"], cfg.overlap_s) if st.get("cursor") \
            else _first_since(ctx, settings)
        url = sensorthings.collection_url(cfg.base_url, since)
    try:
        page = sensorthings.fetch_observations(None, settings, rules, lookup, url=url, session=ctx.session,
                                               taken=taken, held=held)
    except Exception as exc:  # noqa: BLE001 - a bad page or requests' errors: the feed failed as a whole
        raise FeedError(f"Observations: {exc}") from None
    if taken.newest and taken.newest > st.get("cursor", ""):
        st["cursor"] = taken.newest
    if page.next_link:
        st.update(next_link=page.next_link, since=since)
        floor = since                   # the rest of this chain starts there too
    else:
        st.pop("next_link", None)
        st.pop("since", None)
        floor = sensorthings.window_start(st["cursor"], cfg.overlap_s) if st.get("cursor") else None
    if floor:
        taken.forget_until(floor)       # a filter `phenomenonTime gt floor` never returns those again
    st["taken"] = taken.to_state()
    return page.records, page.rejects


def _switch_to_collection(state: dict, st: dict, settings: SensorFeedSettings) -> None:
    """A feed that read in "datastreams" mode so far: what it read is taken up to each
    Datastream's cursor, and the first collection starts at the oldest of those."""
    cursors = state.pop("cursors", None) or \
        {ds.id: state["cursor"] for ds in settings.sensorthings.datastreams if state.get("cursor")}
    state.pop("next_links", None)
    if cursors:
        upto = {ds: sensorthings.time_key(at) for ds, at in cursors.items()}
        st.update(cursor=min(upto.values()), taken={"upto": upto})


ADAPTERS = {("sensors", "sensorthings"): poll_sensorthings}

"""The area tree as a feed: the files named in the settings, re-read when they change.

The tree is data, not code: grids are redrawn from time to time, and a new file is picked
up while the console runs. An invalid file is refused as a whole (with every error named
by code) and the last good tree stays in use.
"""

from __future__ import annotations

from pathlib import Path

from feeds.areas.files import demo_area_paths, read_area_files
from feeds.base import Batch, FeedError, PollContext
from metrics.areas import AreaTreeError


def area_paths(areas_settings) -> tuple[Path, Path]:
    if areas_settings.csv:
        return Path(areas_settings.csv), Path(areas_settings.geojson) if areas_settings.geojson else None
    return demo_area_paths()


def poll(ctx: PollContext) -> list[Batch]:
    csv_path, geo_path = area_paths(ctx.extra["settings"].areas)
    stamp = []
    for p in (csv_path, geo_path):
        if p is None:
            continue
        try:
            st = p.stat()
        except OSError as exc:
            raise FeedError(f"cannot read {p}: {exc.strerror or exc}") from None
        stamp.append([str(p), st.st_mtime_ns, st.st_size])
    if ctx.state.get("stamp") == stamp:
        return [Batch("areas", [], [], 0)]
    try:
        tree = read_area_files(csv_path, geo_path)
    except AreaTreeError as exc:
        shown = "; ".join(exc.errors[:10]) if getattr(exc, "errors", None) else str(exc)
        more = f" (+{len(exc.errors) - 10} more)" if len(getattr(exc, "errors", [])) > 10 else ""
        raise FeedError(f"area files refused, the last good tree stays: {shown}{more}") from None
    ctx.state["stamp"] = stamp
    payload = {"rows": tree.to_rows(), "geojson": tree.geojson([n.code for n in tree]),
               "code_scheme": ctx.extra["settings"].areas.code_scheme}
    return [Batch("areas", [payload], [], len(payload["rows"]))]


# the (kind, format) this adapter reads, for feeds.registry (every adapter module exports ADAPTERS)
ADAPTERS = {("areas", "files"): poll}

"""Which adapter reads which (kind, format) of feed."""

from __future__ import annotations

from typing import Callable

from feeds.areas import feed as areas_feed
from feeds.base import Batch, PollContext
from feeds.industry import poll as industry_poll
from feeds.sensors import poll as sensor_poll
from feeds.sensors import responders, sensorthings_poll
from feeds.tickets import canonical, open311

Adapter = Callable[[PollContext], list[Batch]]

# every adapter module exports the same shape: ADAPTERS = {(kind, format): poll(ctx) -> [Batch]}
_ADAPTERS: dict[tuple[str, str], Adapter] = {
    **open311.ADAPTERS, **canonical.ADAPTERS,                     # tickets
    **sensor_poll.ADAPTERS, **sensorthings_poll.ADAPTERS,         # sensors json | fiware | sensorthings
    **responders.ADAPTERS,                                        # responders
    **industry_poll.ADAPTERS,                                     # industry
    **areas_feed.ADAPTERS,                                        # areas
}


def register(kind: str, fmt: str, adapter: Adapter) -> None:
    _ADAPTERS[(kind, fmt)] = adapter


def adapter(feed) -> Adapter:
    try:
        return _ADAPTERS[(feed.kind, feed.format)]
    except KeyError:
        raise LookupError(f"no adapter for kind={feed.kind!r} format={feed.format!r}") from None


def extra_for(settings, feed, store=None) -> dict:
    """Adapter-specific settings handed to a poll (thresholds for sensor feeds, …), and the
    store: the alarm engine reads the current active alarms and the sensor registry."""
    return {"settings": settings, "store": store}

"""Which adapter reads which (kind, format) of feed."""

from __future__ import annotations

from typing import Callable

from feeds.areas import feed as areas_feed
from feeds.tickets import canonical, open311
from feeds.industry import poll as industry_poll
from feeds.sensors import responders as responders_poll, poll as sensor_poll, sensorthings_poll
from feeds.base import Batch, PollContext

Adapter = Callable[[PollContext], list[Batch]]

_ADAPTERS: dict[tuple[str, str], Adapter] = {
    ("tickets", "open311"): open311.poll,
    ("tickets", "canonical"): canonical.poll,
    ("areas", "files"): areas_feed.poll,
    ("industry", "canonical"): industry_poll.poll,
    **sensor_poll.ADAPTERS,         # sensors json|fiware
    **sensorthings_poll.ADAPTERS,   # sensors sensorthings
    ("responders", "json"): responders_poll.poll_responders,
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

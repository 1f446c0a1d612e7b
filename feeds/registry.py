"""Which adapter reads which (kind, format) of feed."""

from __future__ import annotations

from typing import Callable

from feeds import areas_feed, canonical, industry_poll, open311
from feeds.base import Batch, PollContext

Adapter = Callable[[PollContext], list[Batch]]

_ADAPTERS: dict[tuple[str, str], Adapter] = {
    ("tickets", "open311"): open311.poll,
    ("tickets", "canonical"): canonical.poll,
    ("areas", "files"): areas_feed.poll,
    ("industry", "canonical"): industry_poll.poll,
}


def register(kind: str, fmt: str, adapter: Adapter) -> None:
    _ADAPTERS[(kind, fmt)] = adapter


def adapter(feed) -> Adapter:
    try:
        return _ADAPTERS[(feed.kind, feed.format)]
    except KeyError:
        raise LookupError(f"no adapter for kind={feed.kind!r} format={feed.format!r}") from None


def extra_for(settings, feed) -> dict:
    """Adapter-specific settings handed to a poll (thresholds for sensor feeds, …)."""
    return {"settings": settings}

"""What every feed adapter shares: the poll context, the batch it returns, its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import requests

from feeds.records import Reject


class FeedError(Exception):
    """The upstream failed as a whole (unreachable, HTTP error, unreadable payload)."""


class Unreachable(FeedError):
    """The upstream did not answer (no connection, a timeout) or answered that it is down
    (HTTP 500, 502, 503, 504): the poller probes it cheaply at the normal interval."""


def is_down_status(status: int) -> bool:
    """An HTTP status that says the server is down, not that the request was wrong (501 Not
    Implemented means the server is up and does not know the method)."""
    return status >= 500 and status != 501


@dataclass
class Batch:
    """What one poll of one feed produced for one dataset."""
    dataset: str
    records: list[dict]
    rejects: list[Reject]
    received: int                 # items the upstream sent (records + rejects)
    notes: list[str] = field(default_factory=list)
    # Compare-and-set (when several writers change the dataset): by id, the stored `updated_at`
    # each record was derived from (None: a new record), and how to redo a record's change on
    # the version stored meanwhile (see `dashboard.store.Dataset.upsert_rebasing`)
    expected: dict[str, str | None] | None = None
    rebase: Callable[[dict | None, dict], dict | str] | None = None


@dataclass
class PollContext:
    feed: Any                     # dashboard.config.settings.FeedSettings
    state: dict                   # the feed's cursor; saved only after a successful poll
    now: datetime                 # aware, UTC
    session: requests.Session
    tz: str = "Asia/Shanghai"
    open_ids: Callable[[], list[str]] | None = None   # ids of this feed's unfinished records
    extra: dict = field(default_factory=dict)         # adapter-specific settings (thresholds, …)
    owner: str = ""                                   # which poller asks (sent as the User-Agent)
    report: dict = field(default_factory=dict)        # merged into the feed's health (coverage, …)


def fetch(ctx: PollContext, url: str, params: dict | None = None) -> bytes:
    """GET `url` with the feed's timeout and key; any failure becomes a FeedError."""
    headers = {"Accept": "application/json, text/plain, */*",
               "User-Agent": f"cityops-poller/{ctx.owner or '-'}"}
    params = dict(params or {})
    if ctx.feed.api_key:
        params.setdefault("api_key", ctx.feed.api_key)
    try:
        resp = ctx.session.get(url, params=params, headers=headers, timeout=ctx.feed.timeout_s)
    except requests.Timeout:
        raise Unreachable(f"timed out after {ctx.feed.timeout_s:g} s: {url}") from None
    except requests.ConnectionError as exc:
        raise Unreachable(f"cannot connect: {url} ({_short(exc)})") from None
    except requests.RequestException as exc:
        raise FeedError(f"request failed: {url} ({_short(exc)})") from None
    if is_down_status(resp.status_code):
        raise Unreachable(f"HTTP {resp.status_code} from {url}: {_error_text(resp)}")
    if resp.status_code >= 400:
        raise FeedError(f"HTTP {resp.status_code} from {url}: {_error_text(resp)}")
    return resp.content


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."


def _error_text(resp: requests.Response) -> str:
    """Open311 servers explain errors as [{"code":…, "description":…}]."""
    try:
        body = resp.json()
        if isinstance(body, list) and body and isinstance(body[0], dict) and "description" in body[0]:
            return "; ".join(str(e.get("description")) for e in body)
    except ValueError:
        pass
    return (resp.text or resp.reason or "")[:200]

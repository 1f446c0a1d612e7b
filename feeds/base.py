"""What every feed adapter shares: the poll context, the batch it returns, its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
import re
from datetime import datetime
from typing import Any, Callable

import requests

from feeds.records import Reject


class FeedError(Exception):
    """The upstream failed as a whole (unreachable, HTTP error, unreadable payload)."""


class Unreachable(FeedError):
    """The upstream did not answer (no connection, a timeout) or answered that it is down
    (HTTP 500, 502, 503, 504): the poller probes it cheaply at the normal interval."""


class Stopped(Exception):
    """The poller is stopping (SIGTERM, Ctrl-C): the poll ends here, before its next request
    or write. Not a feed failure; the cursor stays where the last completed write left it."""


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
    # tickets this feed holds that the upstream no longer serves: marked withdrawn upstream
    # (kept, in no population, counted on /health), never deleted
    withdraw: list[str] = field(default_factory=list)
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
    # Write a batch now and then save `state` (the poller's): an adapter that reads page by page
    # hands each page over as it comes and advances its cursor only after the page is stored,
    # so memory stays one page and a failure later in the poll loses nothing already read.
    # None (an adapter called outside the poller): the adapter returns its batches instead.
    emit: Callable[["Batch"], None] | None = None
    # this feed's tickets by created_at (UTC seconds): ids held in [lo, hi), ids marked withdrawn
    held_ids: Callable[[float, float], set[str]] | None = None
    withdrawn_ids: Callable[[float, float], set[str]] | None = None
    held_count: Callable[[float, float], int] | None = None   # held in [lo, hi), not withdrawn
    report: dict = field(default_factory=dict)        # merged into the feed's health (coverage, …)
    stop: Any = None                                  # a threading.Event set when the poller stops

    def check_stop(self) -> None:
        """Raise `Stopped` when the poller is stopping (adapters call it between pages)."""
        if self.stop is not None and self.stop.is_set():
            raise Stopped("the poller is stopping")


def emit(ctx: PollContext, batch: "Batch", kept: list["Batch"]) -> None:
    """Hand `batch` to the poller now (written, then the state saved), or keep it to return."""
    if ctx.emit is not None:
        ctx.emit(batch)
    else:
        kept.append(batch)


def fetch(ctx: PollContext, url: str, params: dict | None = None) -> bytes:
    """GET `url` with the feed's timeout and key; any failure becomes a FeedError."""
    return fetch_response(ctx, url, params).content


def fetch_response(ctx: PollContext, url: str, params: dict | None = None,
                   accept: str = "application/json, text/plain, */*") -> requests.Response:
    """`fetch`, keeping the response's headers (paging links, counts)."""
    headers = {"Accept": accept, "User-Agent": f"cityops-poller/{ctx.owner or '-'}"}
    params = dict(params or {})
    if ctx.feed.api_key:
        params.setdefault("api_key", ctx.feed.api_key)
    ctx.check_stop()                  # every page of a long backfill passes here
    try:
        resp = ctx.session.get(url, params=params, headers=headers, timeout=ctx.feed.timeout_s)
    except requests.Timeout:
        raise Unreachable(f"timed out after {ctx.feed.timeout_s:g} s: {url}") from None
    except requests.ConnectionError as exc:
        raise Unreachable(f"cannot connect: {url} ({_short(_root_cause(exc))})") from None
    except requests.RequestException as exc:
        raise FeedError(f"request failed: {url} ({_short(exc)})") from None
    if is_down_status(resp.status_code):
        raise Unreachable(f"HTTP {resp.status_code} from {_shown(resp.url or url)}: {error_summary(resp)}")
    if resp.status_code >= 400:
        raise FeedError(f"HTTP {resp.status_code} from {_shown(resp.url or url)}: {error_summary(resp)}")
    return resp


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost error under requests' and urllib3's wrappers (e.g. "[Errno 111]
    Connection refused" instead of 300 characters of "HTTPConnectionPool(...): Max retries
    exceeded ... NewConnectionError(<urllib3.connection...>")."""
    seen, cur = set(), exc
    while id(cur) not in seen:
        seen.add(id(cur))
        arg = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        nxt = getattr(cur, "reason", None) if isinstance(getattr(cur, "reason", None), BaseException) else None
        nxt = nxt or arg or cur.__cause__ or cur.__context__
        if nxt is None:
            break
        cur = nxt
    return cur


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."


def _shown(url: str) -> str:
    """A URL for messages: without the api_key's value."""
    return re.sub(r"(api_key=)[^&]*", r"\1***", url)


ERROR_CHARS = 200


def error_summary(resp: requests.Response) -> str:
    """The upstream's explanation of an error, in one readable line: the Open311 error list
    (JSON `[{"code", "description"}]` or XML `<errors><error>…`), a JSON `detail`/`message`/
    `error`, the title and first words of an HTML page, else the start of the text."""
    return summarise_error_body(resp.content or b"", resp.headers.get("Content-Type", "")) or (resp.reason or "")


def summarise_error_body(data: bytes, content_type: str = "") -> str:
    text = data.decode("utf-8", "replace").strip()
    if not text:
        return ""
    line = _json_error(text) if text[:1] in "[{" else None
    if line is None and text.startswith("<"):
        line = _markup_error(text, "html" in content_type.lower())
    if line is None:
        line = text
    line = " ".join(line.split())
    return line if len(line) <= ERROR_CHARS else line[: ERROR_CHARS - 1] + "…"


def _json_error(text: str) -> str | None:
    import orjson
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    items = body if isinstance(body, list) else [body]
    parts = []
    for e in items:
        if not isinstance(e, dict):
            continue
        said = next((e[k] for k in ("description", "detail", "message", "error", "title") if e.get(k)), None)
        if isinstance(said, (dict, list)):
            said = orjson.dumps(said).decode()
        if said is not None:
            code = e.get("code")
            parts.append(f"{said} (code {code})" if code not in (None, "") else str(said))
    return "; ".join(parts) if parts else None


def _markup_error(text: str, html_hint: bool) -> str | None:
    if not html_hint and not re.match(r"<(!doctype html|html)", text, re.I):
        try:
            from feeds.tickets.open311_xml import error_list
            said = error_list(text.encode())
        except Exception:  # noqa: BLE001 - not the error list: read it as a page
            said = None
        if said:
            return said
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
    body = re.sub(r"<(script|style|head)[^>]*>.*?</\1>", " ", text, flags=re.I | re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    import html as _html
    words = " ".join(_html.unescape(body).split())
    head = _html.unescape(title.group(1)).strip() if title else ""
    if head and words.startswith(head):
        words = words[len(head):].strip()
    return " — ".join(p for p in (head, words[:120]) if p) or None

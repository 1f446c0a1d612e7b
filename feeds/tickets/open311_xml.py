"""Open311 GeoReport v2 in XML (`requests.xml`, the format the spec makes mandatory).

Read with the standard library's ElementTree through `defusedxml`, which refuses DTDs,
entity declarations and external references (billion laughs, XXE) instead of expanding
them. As strict as the JSON path: a document that is not well-formed XML, or whose root is
not `<service_requests>`, is refused whole with a clear error; an element of the list that
is not one `<request>` with plain-text fields is rejected alone, with its reason.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException


class XmlError(ValueError):
    """The document as a whole cannot be read."""


class NotARequest(str):
    """Why an element of the list is not a readable request (the caller rejects it)."""


def _root(data: bytes) -> Element:
    try:
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise XmlError(f"XML with a DTD or entity declarations is refused ({type(exc).__name__})") from None
    except ParseError as exc:
        raise XmlError(f"not well-formed XML ({exc})") from None
    except (LookupError, ValueError) as exc:      # an encoding declaration Python does not know
        raise XmlError(f"XML in an unreadable encoding ({exc})") from None


def parse_requests_xml(data: bytes) -> list[dict | NotARequest]:
    """`<service_requests><request>…</request>…</service_requests>` → one dict per request
    (field name → text, empty elements → None); an element that is not a readable request
    becomes a string saying why (the caller rejects it). Raises XmlError."""
    root = _root(data)
    if root.tag == "errors":
        raise XmlError(f"the server answered with its error list: {_errors(root)}")
    if root.tag != "service_requests":
        raise XmlError(f"expected <service_requests> as the root element, got <{root.tag}>")
    out: list[dict | str] = []
    for el in root:
        if el.tag != "request":
            out.append(NotARequest(f"expected a <request> element, got <{el.tag}>"))
            continue
        item: dict = {}
        why = None
        for field in el:
            if len(field):
                if field.tag in ("attributes", "media"):   # structured extensions: not read
                    continue
                why = f"<{field.tag}>: expected text, got nested elements"
                break
            if field.tag in item:
                why = f"<{field.tag}>: appears twice in one request"
                break
            text = (field.text or "").strip()
            item[field.tag] = text or None
        out.append(NotARequest(why) if why else item)
    return out


def _errors(root: Element) -> str:
    parts = []
    for e in root.iter("error"):
        code = (e.findtext("code") or "").strip()
        desc = " ".join((e.findtext("description") or "").split())
        parts.append(f"{desc} (code {code})" if code else desc)
    return "; ".join(p for p in parts if p)


def error_list(data: bytes) -> str | None:
    """The spec's XML error list (`<errors><error><code/><description/></error></errors>`) as
    one line, or None when `data` is not one."""
    try:
        root = _root(data)
    except XmlError:
        return None
    return (_errors(root) or None) if root.tag == "errors" else None

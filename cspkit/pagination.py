"""Walk Partner Center collections page by page (partner-center-api.md §7.5).

A collection response is ``{"totalCount": n, "items": [...], "continuationToken"?: "...",
"links": {"self": {...}, "next": {"uri", "method", "headers": [{"key": "MS-ContinuationToken", "value": ...}]}}}``;
``totalCount`` counts **this page only**.

Two styles:

* ``"links"`` (seek paging: customers, reconciliation line items): GET ``links.next.uri`` — relative or absolute,
  with or without ``/v1``, repaired when it carries a second ``?`` — sending every ``links.next.headers`` entry as an
  HTTP header (the continuation token travels as the ``MS-ContinuationToken`` header, never in the query). When the
  next link has no usable URI, the original query plus ``seekOperation=Next`` is rebuilt with the token from the link
  headers or the top-level ``continuationToken``. Stops when ``links.next`` is absent.
* ``"offset"`` (index paging: invoices, legacy line items): ``size``/``offset`` query parameters; stops at a short or
  empty page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from cspkit.transport import Transport

__all__ = ["Page", "Paginator"]

T = TypeVar("T")
CONTINUATION_HEADER = "MS-ContinuationToken"


@dataclass
class Page(Generic[T]):
    """One response page: parsed ``items``, the page's ``total_count``, and the raw envelope."""

    items: list[T]
    total_count: int
    continuation_token: str | None
    raw: dict[str, Any]
    request_id: str
    correlation_id: str


class Paginator(Generic[T]):
    """Lazy iterable over every item of a collection (iterate it, or call :meth:`pages`).

    Args:
        transport: the :class:`~cspkit.transport.Transport`.
        path: the collection's path (``customers``) or absolute URL.
        params: query parameters of the first request.
        parse: turns one item dict into a model (default: the dict itself).
        style: ``"links"`` or ``"offset"``.
        page_size: ``size`` query parameter (offset paging requires one; default 200).
        headers: extra headers for every page request.
    """

    def __init__(
        self,
        transport: Transport,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        parse: Callable[[dict[str, Any]], T] | None = None,
        style: str = "links",
        page_size: int | None = None,
        headers: Mapping[str, str] | None = None,
        max_pages: int | None = None,
    ) -> None:
        if style not in ("links", "offset"):
            raise ValueError(f"unknown paging style {style!r}")
        self._transport = transport
        self._path = path
        self._params = dict(params or {})
        self._parse = parse or (lambda item: item)  # type: ignore[assignment, return-value]
        self._style = style
        self._page_size = page_size
        self._headers = dict(headers or {})
        self._max_pages = max_pages

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def to_list(self) -> list[T]:
        return list(self)

    def pages(self) -> Iterator[Page[T]]:
        """Yield each page in order."""
        if self._style == "offset":
            yield from self._offset_pages()
        else:
            yield from self._link_pages()

    def _page(self, response: Any) -> Page[T]:
        body = response.json if isinstance(response.json, dict) else {}
        raw_items = body.get("items")
        if raw_items is None and isinstance(response.json, list):  # bare arrays (check inventory)
            raw_items = response.json
        items = [self._parse(item) for item in (raw_items or [])]
        total = body.get("totalCount")
        return Page(
            items=items,
            total_count=int(total) if total is not None else len(items),
            continuation_token=body.get("continuationToken") or None,
            raw=body,
            request_id=response.request_id,
            correlation_id=response.correlation_id,
        )

    def _link_pages(self) -> Iterator[Page[T]]:
        params: dict[str, Any] | None = dict(self._params)
        if self._page_size is not None:
            params["size"] = self._page_size  # type: ignore[index]
        path = self._path
        headers = dict(self._headers)
        count = 0
        seen: set[tuple[str, str | None]] = set()
        while True:
            response = self._transport.request("GET", path, params=params, headers=headers or None)
            page = self._page(response)
            yield page
            count += 1
            if self._max_pages is not None and count >= self._max_pages:
                return
            next_link = ((page.raw.get("links") or {}).get("next")) if page.raw else None
            if not next_link:
                return
            link_headers = {
                str(h["key"]): str(h.get("value", ""))
                for h in (next_link.get("headers") or [])
                if isinstance(h, dict) and h.get("key")
            }
            token = _header(link_headers, CONTINUATION_HEADER) or page.continuation_token
            uri = (next_link.get("uri") or "").strip()
            if uri:
                path, params = uri, None
            else:  # rebuild from the first request: original query + seekOperation=Next
                path = self._path
                params = {**self._params, "seekOperation": "Next"}
                if self._page_size is not None:
                    params["size"] = self._page_size
            headers = {**self._headers, **link_headers}
            if token and not _header(headers, CONTINUATION_HEADER):
                headers[CONTINUATION_HEADER] = token
            marker = (path, token)
            if marker in seen:  # a server handing back the same page forever must not hang us
                raise RuntimeError(f"paging loop: {path} returned the same next link twice")
            seen.add(marker)

    def _offset_pages(self) -> Iterator[Page[T]]:
        size = self._page_size or 200
        offset = int(self._params.pop("offset", 0))
        count = 0
        while True:
            params = {**self._params, "size": size, "offset": offset}
            response = self._transport.request("GET", self._path, params=params, headers=self._headers or None)
            page = self._page(response)
            yield page
            count += 1
            n = len(page.items)
            if n < size or n == 0 or (self._max_pages is not None and count >= self._max_pages):
                return
            offset += n


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None

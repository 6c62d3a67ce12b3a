"""Price sheets: download Partner Center price lists (``api.partner.microsoft.com``), cached on disk.

Operation followed: "Get a price sheet" (billing-formats.md §1.5, Partner Center docs ``get-a-price-sheet``)::

    GET https://api.partner.microsoft.com/v1.0/sales/pricesheets(Market='{cc}',PricesheetView='{view}')/$value
        ?timeline={current|history|future}&month=YYYYMM
    Accept-Encoding: deflate   -> the CSV comes back zip-compressed

This API lives on its own host with its own token audience (``https://api.partner.microsoft.com/.default``), so it
gets its own transport: :meth:`PartnerCenter.transport_for` with ``settings.pricesheet_endpoint`` (the emulator's
URL when the target is the emulator, which serves the same route from its seeded catalog).

Files are streamed to disk (the real response is ~40 MB) and cached per host, market, view, timeline and month in
``$CSPKIT_HOME/pricesheets`` or, without CSPKIT_HOME, ``$XDG_CACHE_HOME/cspkit/pricesheets``
(``~/.cache/cspkit/pricesheets``). A download is written to a temporary file and renamed, so the cache never holds
half a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from cspkit.wire import PRICE_SHEET_VIEWS

if TYPE_CHECKING:
    from cspkit.transport import Transport

__all__ = ["PRICESHEET_SCOPES", "TIMELINES", "VIEWS", "PriceSheets", "default_cache_dir"]

#: Documented views (plus two seen in third-party tools).
VIEWS = PRICE_SHEET_VIEWS + ("licensebasedest", "licensebasedeos")
TIMELINES = ("current", "history", "future")
#: Token scope of the price-sheet API (app-only and app+user).
PRICESHEET_SCOPES = ["https://api.partner.microsoft.com/.default"]
_NO_FUTURE = ("marketplace", "software")


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$CSPKIT_HOME/pricesheets`` when CSPKIT_HOME is set, else ``$XDG_CACHE_HOME/cspkit/pricesheets``
    (``~/.cache/cspkit/pricesheets``)."""
    env = os.environ if env is None else env
    if env.get("CSPKIT_HOME"):
        return Path(env["CSPKIT_HOME"]).expanduser() / "pricesheets"
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cspkit" / "pricesheets"


class PriceSheets:
    """Download price sheets (``pc.pricesheets``).

    Args:
        transport: a :class:`~cspkit.transport.Transport` for the price-sheet host with ``api_prefix="v1.0"``, or a
            zero-argument callable returning one (built on first use, so no token is asked for until then).
        cache_dir: where files are kept (default :func:`default_cache_dir`).
        today: ``callable() -> datetime`` used for the month of ``timeline=current`` when no month is given.
    """

    def __init__(
        self,
        transport: Transport | Callable[[], Transport],
        *,
        cache_dir: str | os.PathLike[str] | None = None,
        today: Callable[[], datetime] | None = None,
    ) -> None:
        self._transport = transport
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._today = today or (lambda: datetime.now(UTC))

    @property
    def transport(self) -> Transport:
        if callable(self._transport) and not hasattr(self._transport, "request"):
            self._transport = self._transport()
        return self._transport  # type: ignore[return-value]

    @classmethod
    def for_client(cls, client: Any) -> PriceSheets:
        """The price-sheet resource of a :class:`~cspkit.client.PartnerCenter` (its host, audience and cache)."""
        settings = client.settings
        return cls(
            lambda: client.transport_for(settings.pricesheet_endpoint, scopes=PRICESHEET_SCOPES, api_prefix="v1.0")
        )

    @staticmethod
    def path_for(market: str, view: str) -> str:
        """The request path: ``sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value``."""
        return f"sales/pricesheets(Market='{quote(market, safe='')}',PricesheetView='{quote(view, safe='')}')/$value"

    def cached_path(self, market: str, view: str, *, timeline: str = "current", month: str | None = None) -> Path:
        """Where :meth:`get` keeps this sheet, without the extension (``.csv`` or ``.zip`` is added)."""
        market, view, timeline, month = self._check(market, view, timeline, month)
        parts = urlsplit(self.transport.base_url)
        # one folder per service; a local emulator gets a new port each run, so its files share "emulator"
        host = "emulator" if parts.hostname in ("127.0.0.1", "localhost", "::1") else (parts.netloc or "local")
        folder = self.cache_dir / re.sub(r"[^A-Za-z0-9._-]", "_", host)
        return folder / f"{market}_{view}_{timeline}_{month}"

    def get(
        self,
        market: str,
        view: str,
        timeline: str = "current",
        month: str | None = None,
        *,
        refresh: bool = False,
    ) -> Path:
        """Get a price sheet: download it (or reuse the cached copy) and return the file's path.

        Args:
            market: ISO 3166 alpha-2 country (``US``; an EU market's file holds all six EU currencies).
            view: one of :data:`VIEWS` (``updatedlicensebased`` = new commerce, ``marketplace``).
            timeline: ``current``, ``history`` or ``future`` (no future for marketplace/software).
            month: ``YYYYMM``; default the current UTC month.
            refresh: download again even when cached.

        Returns:
            Path of the cached file: ``.zip`` (one CSV inside) when the service compressed it, else ``.csv``. Read
            it with :func:`cspkit.billing.pricelist.read_price_list`.

        Raises:
            ValueError: bad market/view/timeline/month.
            APIStatusError subclass / APIConnectionError: the download failed (nothing is cached then).
        """
        stem = self.cached_path(market, view, timeline=timeline, month=month)
        if not refresh:
            for suffix in (".zip", ".csv"):
                candidate = stem.with_name(stem.name + suffix)
                if candidate.is_file():
                    return candidate
        market, view, timeline, month = self._check(market, view, timeline, month)
        stem.parent.mkdir(parents=True, exist_ok=True)
        partial = stem.with_name(f"{stem.name}.{os.getpid()}.part")
        first = b""
        try:  # owner-only (0600) from the first byte: the cache holds the partner's negotiated prices
            with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
                for chunk in self.transport.iter_bytes(
                    self.path_for(market, view),
                    params={"timeline": timeline, "month": month},
                    headers={"Accept": "text/csv, application/zip, */*", "Accept-Encoding": "deflate"},
                    expect_json=False,
                ):
                    if not first:
                        first = chunk[:4]
                    handle.write(chunk)
            target = stem.with_name(stem.name + (".zip" if first.startswith(b"PK\x03\x04") else ".csv"))
            for stale in (stem.with_name(stem.name + ".zip"), stem.with_name(stem.name + ".csv")):
                if stale != target and stale.exists():
                    stale.unlink()
            os.replace(partial, target)
            return target
        finally:
            if partial.exists():
                partial.unlink()

    def _check(self, market: str, view: str, timeline: str, month: str | None) -> tuple[str, str, str, str]:
        market = (market or "").strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", market):
            raise ValueError(f"market must be an ISO 3166 two-letter country code, got {market!r}")
        view = (view or "").strip().lower()
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        timeline = (timeline or "current").strip().lower()
        if timeline not in TIMELINES:
            raise ValueError(f"timeline must be one of {', '.join(TIMELINES)}, got {timeline!r}")
        if timeline == "future" and view in _NO_FUTURE:
            raise ValueError(f"the {view} view has no future timeline")
        if month is None:
            month = self._today().astimezone(UTC).strftime("%Y%m")
        month = str(month).strip()
        if not re.fullmatch(r"\d{4}(0[1-9]|1[0-2])", month):
            raise ValueError(f"month must be YYYYMM, got {month!r}")
        return market, view, timeline, month

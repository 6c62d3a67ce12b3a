"""The price-sheet route: ``GET /v1.0/sales/pricesheets(Market='{cc}',PricesheetView='{view}')/$value``
over the backend's :meth:`~cspkit.emulator.backend.Backend.price_sheet` (rules in :mod:`cspkit.emulator.pricesheets`).

``Accept-Encoding: deflate`` answers the CSV zipped (``application/zip``) as the real service does; otherwise
``text/csv``. Errors use Partner Center's error body with source ``PriceSheetEmulator``.
"""

from __future__ import annotations

import io
import re
import zipfile

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from cspkit.emulator.http import backend_of
from cspkit.emulator.models import EmulatorError

_PATH = re.compile(
    r"^pricesheets\(\s*market\s*=\s*'(?P<market>[^']*)'\s*,\s*pricesheetview\s*=\s*'(?P<view>[^']*)'\s*\)"
    r"/\$value$",
    re.IGNORECASE,
)


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"code": str(status), "description": description, "data": [],
                                                     "source": "PriceSheetEmulator"})


def get_price_sheet(request: Request, resource: str) -> Response:
    """Get a price sheet: ``pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value``."""
    match = _PATH.match(resource)
    if match is None:
        return _error(404, f"No such resource: /v1.0/sales/{resource}")
    market, view = match.group("market"), match.group("view").lower()
    timeline = (request.query_params.get("timeline") or "current").lower()
    month = request.query_params.get("month")
    try:
        body = backend_of(request).price_sheet(market=market, view=view, timeline=timeline,
                                               month=month).encode("utf-8")
    except EmulatorError as exc:
        return _error(exc.status, exc.description)
    filename = f"pricesheet_{market.upper()}_{view}_{month or timeline}"
    if "deflate" in request.headers.get("accept-encoding", "").lower():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{filename}.csv", body)
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{filename}.zip"'})
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})

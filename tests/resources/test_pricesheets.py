"""Price-sheet resource: exact request, streaming to the cache, cache reuse, retries and errors (``responses``)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import responses

from cspkit.errors import NotFoundError
from cspkit.resources.pricesheets import PriceSheets, default_cache_dir
from cspkit.transport import Transport

HOST = "https://api.partner.microsoft.com"
URL = HOST + "/v1.0/sales/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value"
CSV = b'"ProductTitle","ProductId"\r\n"A","B"\r\n'


def zipped(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sheet.csv", data)
    return buffer.getvalue()


@pytest.fixture
def sheets(tmp_path: Path) -> PriceSheets:
    transport = Transport(HOST, lambda force: "tok-123", api_prefix="v1.0", sleep=lambda s: None, jitter=lambda u: 0)
    return PriceSheets(transport, cache_dir=tmp_path, today=lambda: datetime(2026, 11, 21, 23, 0, tzinfo=UTC))


@responses.activate
def test_request_shape_and_zip_saved_to_cache(sheets: PriceSheets, tmp_path: Path) -> None:
    responses.get(URL, body=zipped(CSV), content_type="application/zip")
    path = sheets.get("us", "UpdatedLicenseBased", month="202610")
    assert path == tmp_path / "api.partner.microsoft.com" / "US_updatedlicensebased_current_202610.zip"
    with zipfile.ZipFile(path) as archive:
        assert archive.read("sheet.csv") == CSV
    call = responses.calls[0].request
    assert call.url == URL + "?timeline=current&month=202610"
    assert call.headers["Authorization"] == "Bearer tok-123"
    assert call.headers["Accept-Encoding"] == "deflate"
    assert call.headers["MS-RequestId"] and call.headers["MS-CorrelationId"]
    assert list(path.parent.iterdir()) == [path]  # no partial file left behind


@responses.activate
def test_cache_is_reused_per_month_and_refresh_downloads_again(sheets: PriceSheets) -> None:
    responses.get(URL, body=CSV, content_type="text/csv")
    first = sheets.get("US", "updatedlicensebased")  # month defaults to the current UTC month
    assert first.name == "US_updatedlicensebased_current_202611.csv"
    assert sheets.get("US", "updatedlicensebased", month="202611") == first
    assert len(responses.calls) == 1
    sheets.get("US", "updatedlicensebased", month="202611", refresh=True)
    sheets.get("US", "updatedlicensebased", month="202612")
    assert len(responses.calls) == 3
    assert first.read_bytes() == CSV


@responses.activate
def test_retries_429_with_the_same_request_id(sheets: PriceSheets) -> None:
    responses.get(URL, status=429, json={"statusCode": 429, "message": "Rate limit"}, headers={"Retry-After": "1"})
    responses.get(URL, body=CSV)
    path = sheets.get("US", "updatedlicensebased", month="202611")
    assert path.read_bytes() == CSV
    ids = {c.request.headers["MS-RequestId"] for c in responses.calls}
    assert len(responses.calls) == 2 and len(ids) == 1


@responses.activate
def test_error_leaves_nothing_in_the_cache(sheets: PriceSheets, tmp_path: Path) -> None:
    responses.get(URL, status=404, json={"code": "404", "description": "No price sheet", "data": [], "source": "x"})
    with pytest.raises(NotFoundError, match="No price sheet"):
        sheets.get("US", "updatedlicensebased", month="202611")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("USA", "updatedlicensebased", "current", None), "two-letter"),
        (("US", "licensebased", "current", None), "view must be one of"),
        (("US", "marketplace", "future", None), "no future timeline"),
        (("US", "updatedlicensebased", "later", None), "timeline must be"),
        (("US", "updatedlicensebased", "current", "202613"), "YYYYMM"),
    ],
)
def test_bad_arguments(sheets: PriceSheets, args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sheets.get(*args)


def test_default_cache_dir() -> None:
    assert default_cache_dir({"CSPKIT_HOME": "/data/csp"}) == Path("/data/csp/pricesheets")
    assert default_cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/cspkit/pricesheets")
    assert default_cache_dir({}) == Path.home() / ".cache" / "cspkit" / "pricesheets"


def test_client_exposes_pricesheets_on_its_own_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cspkit.client import PartnerCenter
    from cspkit.config import Settings

    monkeypatch.setenv("CSPKIT_HOME", str(tmp_path))
    settings = Settings(auth="token", endpoint="https://pc.example", pricesheet_endpoint="https://ps.example")
    pc = PartnerCenter(settings=settings, access_token="t")
    sheets = pc.pricesheets
    assert isinstance(sheets, PriceSheets)
    assert sheets.cache_dir == tmp_path / "pricesheets"
    assert sheets.transport.base_url == "https://ps.example"
    assert sheets.transport.url_for(PriceSheets.path_for("US", "marketplace")) == (
        "https://ps.example/v1.0/sales/pricesheets(Market='US',PricesheetView='marketplace')/$value"
    )

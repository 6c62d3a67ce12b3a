"""The emulator's price-sheet route agrees with the seed catalog, the sample files and the client's resource."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from cspkit.billing.pricelist import read_price_list
from cspkit.emulator import Backend
from cspkit.emulator.handlers.pricesheets import get_price_sheet
from cspkit.resources.pricesheets import PriceSheets
from cspkit.transport import Transport

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data"
PATH = "/v1.0/sales/pricesheets(Market='{market}',PricesheetView='{view}')/$value"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The price-sheet handler on a FastAPI app whose backend carries the seed catalog, served on 127.0.0.1."""
    app = FastAPI()
    app.state.backend = Backend(seed={"catalog": json.loads((SAMPLE / "catalog.json").read_text())})
    app.add_api_route("/v1.0/sales/{resource:path}", get_price_sheet, methods=["GET"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):
        if srv.started:
            break
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(5)


def get(base: str, market: str, view: str, *, encoding: str = "identity", **kwargs: object) -> requests.Response:
    """GET the sheet; requests sends ``Accept-Encoding: gzip, deflate`` unless told otherwise (then: a zip)."""
    url = base + PATH.format(market=market, view=view)
    return requests.get(url, timeout=10, headers={"Accept-Encoding": encoding}, **kwargs)  # type: ignore[arg-type]


def test_nce_sheet_is_the_sample_file_byte_for_byte(server: str) -> None:
    response = get(server, "US", "updatedlicensebased", params={"timeline": "current", "month": "202611"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content == (SAMPLE / "pricelist_nce_US_202611.csv").read_bytes()
    market = get(server, "us", "MARKETPLACE")
    assert market.content == (SAMPLE / "pricelist_marketplace_US_202611.csv").read_bytes()


def test_deflate_answers_a_zip_and_eur_market(server: str, tmp_path: Path) -> None:
    response = get(server, "DE", "updatedlicensebased", encoding="gzip, deflate")
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == ["pricesheet_DE_updatedlicensebased_current.csv"]
    path = tmp_path / "de.zip"
    path.write_bytes(response.content)
    frame = read_price_list(path)
    assert set(frame["Currency"]) == {"EUR"} and set(frame["Market"]) == {"DE"}
    basic = frame[(frame["ProductId"] == "CFQ7TTC0LH18") & (frame["BillingPlan"] == "Annual")]
    assert basic["UnitPrice"].tolist() == [Decimal("67.20")]


def test_future_timeline_adds_end_of_sale_column(server: str) -> None:
    response = get(server, "US", "updatedlicensebased", params={"timeline": "future"})
    header = response.text.splitlines()[0]
    assert '"EffectiveEndDate","EndofSaleDate","Tags"' in header


@pytest.mark.parametrize(
    ("market", "view", "params", "status", "fragment"),
    [
        ("US", "nonsense", {}, 400, "Unknown PricesheetView"),
        ("US", "marketplace", {"timeline": "future"}, 400, "No future timeline"),
        ("US", "updatedlicensebased", {"month": "2026-11"}, 400, "YYYYMM"),
        ("FR", "updatedlicensebased", {}, 404, "Market 'FR'"),
    ],
)
def test_errors_use_the_partner_center_body(
    server: str, market: str, view: str, params: dict, status: int, fragment: str
) -> None:
    response = get(server, market, view, params=params)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == str(status) and fragment in body["description"]


def test_client_resource_downloads_from_the_emulator(server: str, tmp_path: Path) -> None:
    transport = Transport(server, lambda force: "emulator-token", api_prefix="v1.0")
    sheets = PriceSheets(transport, cache_dir=tmp_path)
    path = sheets.get("US", "updatedlicensebased", month="202611")
    assert path.suffix == ".zip"  # the resource asks for deflate
    assert path == tmp_path / "emulator" / "US_updatedlicensebased_current_202611.zip"  # not per port
    frame = read_price_list(path)
    expected = read_price_list(SAMPLE / "pricelist_nce_US_202611.csv")
    assert frame.equals(expected)


def test_p1y_monthly_rows_carry_the_term_price_like_microsofts_lists(server: str, tmp_path: Path) -> None:
    # billing-formats.md §1.5 and ../shared/realdata: UnitPrice is the whole term's price for every billing plan;
    # P1Y/Monthly = 1.05 × P1Y/Annual and P1M = 1.2 × P1Y/Annual ÷ 12 for every licence SKU of the seed catalog
    path = tmp_path / "us.csv"
    path.write_bytes(get(server, "US", "updatedlicensebased").content)
    frame = read_price_list(path)
    basic = frame[frame["ProductId"] == "CFQ7TTC0LH18"].set_index(["TermDuration", "BillingPlan"])["UnitPrice"]
    assert basic.to_dict() == {("P1M", "Monthly"): Decimal("7.20"), ("P1Y", "Monthly"): Decimal("75.60"),
                               ("P1Y", "Annual"): Decimal("72.00")}  # fmt: skip
    paid = frame[~frame["IsFreeTrial"]]
    prices = paid.set_index(["ProductId", "SkuId", "TermDuration", "BillingPlan"])["UnitPrice"]
    skus = {key[:2] for key in prices.index}
    assert len(skus) == 5
    for product, sku in skus:
        annual = prices[(product, sku, "P1Y", "Annual")]
        assert prices[(product, sku, "P1Y", "Monthly")] == annual * Decimal("1.05")
        assert prices[(product, sku, "P1M", "Monthly")] == annual * Decimal("1.2") / 12

"""Daily rated usage from the four API sources (v1 billed/unbilled, Graph billed/unbilled) → the typed daily frame
the file reader gives, reconciled by cspkit.billing.usage exactly like a file. Requests and responses in the
documented shapes (partner-center-api.md §6.1, §6.5; billing-formats.md §1.2, §1.6, §3.2), served by `responses`:
the emulator has no Azure usage yet."""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal

import pandas as pd
import pytest
import responses

from cspkit.billing.recon_columns import DAILY_USAGE_COLUMNS
from cspkit.billing.recon_readers import read_recon
from cspkit.billing.usage import reconcile_usage
from cspkit.client import PartnerCenter
from cspkit.errors import InputFileError
from cspkit.workflows.usage import fetch_usage

PC = "https://pc.test/v1"
GRAPH = "https://graph.test"
BILLING = f"{GRAPH}/v1.0/reports/partners/billing"
ROOT = "https://blobs.test/billedusagefastpath/v1/PartnerTenantId=p1/Fragment=full"
SAS = "sv=2021-08-06&sr=d&sp=rl&sig=S3CRET"
SUB = "aaaaaaaa-0000-4000-8000-000000000001"
ENT = "eeeeeeee-0000-4000-8000-00000000000a"


def usage_item(day: int, amount, *, pec: bool = True, **extra) -> dict:
    """One DailyRatedUsageLineItem with every field partner-center-api.md §6.5 lists (numbers as numbers and as
    strings, rates as fractions, tags/additionalInfo as JSON strings)."""
    item = {
        "partnerId": "4d6f3c2a-8b1e-4f0a-9c3d-2e5b7a1f0c11", "partnerName": "Fabrikam CSP",
        "customerId": "C0FFEE00-0000-4000-8000-000000000001", "customerName": "Contoso",
        "customerDomainName": "contoso.onmicrosoft.com", "customerCountry": "US", "invoiceNumber": "G000000001",
        "mpnId": "6034453", "resellerMpnId": "7654321", "productId": "DZH318Z0BQ3Q", "skuId": "3",
        "availabilityId": "DZH318Z09SQD", "skuName": "Azure plan", "productName": "Azure plan",
        "publisherName": "Microsoft", "publisherId": "", "subscriptionId": SUB, "subscriptionDescription": "Azure plan",
        "chargeStartDate": "2025-11-01T00:00:00Z", "chargeEndDate": "2025-11-30T00:00:00Z",
        "usageDate": f"2025-11-{day:02d}T00:00:00Z", "meterType": "1 GB", "meterCategory": "Storage",
        "meterId": "0c4c7a8e-0000-4000-8000-0000000000aa", "meterSubCategory": "Tables", "meterName": "LRS Data Stored",
        "meterRegion": "US East", "unitOfMeasure": "1 GB/Month", "resourceLocation": "EASTUS",
        "consumedService": "Microsoft.Storage", "resourceGroup": "rg-1",
        "resourceUri": f"/subscriptions/{ENT}/resourceGroups/rg-1/providers/Microsoft.Storage/storageAccounts/s1",
        "tags": '{"env":"prod"}', "additionalInfo": '{"UsageType":"Storage"}', "serviceInfo1": "", "serviceInfo2": "",
        "chargeType": "Usage", "unitPrice": 0.05, "quantity": "2.5", "unitType": "1 GB/Month",
        "billingPreTaxTotal": amount, "billingCurrency": "USD", "pricingPreTaxTotal": amount,
        "pricingCurrency": "USD", "entitlementId": ENT, "entitlementDescription": "Production",
        "pcToBCExchangeRate": 1, "pcToBCExchangeRateDate": "2025-11-01T00:00:00Z", "effectiveUnitPrice": "0.0425",
        "rateOfPartnerEarnedCredit": 0.15 if pec else 0, "hasPartnerEarnedCredit": pec,
        "rateOfCredit": 0.15 if pec else 0,
        "creditType": "Partner Earned Credit Applied" if pec else "Credit Not Applied",
        "invoiceLineItemType": "usage_line_items", "billingProvider": "one_time",
        "attributes": {"objectType": "DailyRatedUsageLineItem"},
    }  # fmt: skip
    item.update(extra)
    return item


ITEMS = [usage_item(1, 1.25), usage_item(2, "0.327282959"), usage_item(3, 7.10833e-05, pec=False)]
TOTAL = Decimal("1.25") + Decimal("0.327282959") + Decimal("0.0000710833")


@pytest.fixture
def pc():
    client = PartnerCenter(endpoint="https://pc.test", access_token="t0k3n", sleep=lambda s: None,
                           jitter=lambda upper: 0.0)
    client.settings = client.settings.with_overrides(graph_endpoint=GRAPH)
    yield client
    client.close()


def seek_pages(path: str, query: dict[str, str]) -> None:
    """Two v1 seek pages: the first with links.next carrying the MS-ContinuationToken header."""
    first = {"totalCount": 2, "items": ITEMS[:2], "links": {"next": {
        "uri": f"/{path}?{'&'.join(f'{k}={v}' for k, v in query.items())}&seekOperation=Next", "method": "GET",
        "headers": [{"key": "MS-ContinuationToken", "value": "d19617b8,a4ayc/80=,0d81c700"}]}},
        "attributes": {"objectType": "Collection"}}
    responses.get(f"{PC}/{path}", json=first,
                  match=[responses.matchers.query_param_matcher({**query, "size": "2000"})])
    responses.get(f"{PC}/{path}", json={"totalCount": 1, "items": ITEMS[2:], "links": {}},
                  match=[responses.matchers.header_matcher({"MS-ContinuationToken": "d19617b8,a4ayc/80=,0d81c700"}),
                         responses.matchers.query_param_matcher({**query, "seekOperation": "Next"})])


def graph_flow(kind: str, body: dict) -> None:
    lines = [json.dumps({k: v for k, v in i.items() if k not in ("invoiceLineItemType", "billingProvider",
                                                                  "attributes")}) + "\n" for i in ITEMS]
    blob = gzip.compress("".join(lines[:2]).encode(), mtime=0) + gzip.compress(lines[2].encode(), mtime=0)
    responses.post(f"{BILLING}/usage/{kind}/export", status=202, headers={"Location": f"{BILLING}/operations/op1"},
                   match=[responses.matchers.json_params_matcher(body)])
    responses.get(f"{BILLING}/operations/op1", json={
        "id": "op1", "status": "succeeded", "@odata.type": "#microsoft.graph.partners.billing.exportSuccessOperation",
        "resourceLocation@odata.navigationLink": f"{BILLING}/manifests/m1"})
    responses.get(f"{BILLING}/manifests/m1", json={
        "id": "m1", "schemaVersion": "2", "dataFormat": "compressedJSON", "createdDateTime": "2025-12-02T09:00:00Z",
        "eTag": "e1", "partnerTenantId": "p1", "rootDirectory": ROOT, "sasToken": SAS, "partitionType": "Default",
        "blobCount": 1, "blobs": [{"name": "part-00000-u.c000.json.gz", "partitionValue": "default"}]})
    responses.get(f"{ROOT}/part-00000-u.c000.json.gz?{SAS}", body=blob, content_type="application/octet-stream")


def check_frame(frame: pd.DataFrame) -> None:
    assert list(frame.columns[:55]) == list(DAILY_USAGE_COLUMNS)
    assert len(frame) == 3 and sum(frame["BillingPreTaxTotal"]) == TOTAL  # exact, scientific notation too
    first = frame.iloc[0]
    assert first["CustomerId"] == "c0ffee00-0000-4000-8000-000000000001" and first["SkuId"] == "0003"
    assert first["Unit"] == "1 GB/Month" and first["Tier2MpnId"] == "7654321"  # unitOfMeasure, resellerMpnId
    assert first["ResourceURI"].endswith("/storageAccounts/s1")  # resourceUri
    assert first["PartnerEarnedCreditPercentage"] == Decimal(15) and first["CreditPercentage"] == Decimal(15)
    assert str(first["UsageDate"].date()) == "2025-11-01" and first["Quantity"] == Decimal("2.5")
    assert list(frame["CreditType"]) == ["Partner Earned Credit Applied"] * 2 + ["Credit Not Applied"]
    assert "attributes" not in frame.columns and "billingProvider" not in frame.columns
    result = reconcile_usage([frame])  # reconciled exactly like a file
    assert result.summary["BillingPreTaxTotal"].sum() == TOTAL
    assert int(result.summary["CreditNotAppliedRows"].sum()) == 1


@responses.activate
def test_v1_billed_usage_reads_the_invoice_currency_then_pages(pc):
    responses.get(f"{PC}/invoices/G000000001", json={"id": "G000000001", "currencyCode": "USD"})
    seek_pages("invoices/G000000001/lineitems", {"provider": "onetime", "invoicelineitemtype": "usagelineitems",
                                                 "currencycode": "USD", "period": "previous"})
    frame, sentence = fetch_usage(pc, invoice_id="G000000001", api="v1")
    check_frame(frame)
    assert list(frame["SourceFile"].unique()) == ["G000000001"] and list(frame["SourceRow"]) == [1, 2, 3]
    assert sentence == "invoice G000000001: 3 daily usage rows from the v1 line-item API"


@responses.activate
def test_v1_unbilled_usage_by_currency_and_period(pc):
    seek_pages("invoices/unbilled/lineitems", {"provider": "onetime", "invoicelineitemtype": "usagelineitems",
                                               "currencycode": "USD", "period": "previous"})
    frame, sentence = fetch_usage(pc, currency="usd", period="previous", api="v1")
    check_frame(frame)
    assert sentence.startswith("unbilled USD previous: 3 daily usage rows")


@responses.activate
def test_graph_billed_usage_export(pc, tmp_path):
    graph_flow("billed", {"invoiceId": "G000000001", "attributeSet": "full"})
    frame, sentence = fetch_usage(pc, invoice_id="G000000001", out_dir=tmp_path)
    check_frame(frame)
    assert list(frame["SourceRow"]) == [1, 2, 3] and "1 blob(s)" in sentence
    assert "S3CRET" not in (tmp_path / "manifest.json").read_text()


@responses.activate
def test_graph_unbilled_usage_export_says_last_for_previous(pc, tmp_path):
    graph_flow("unbilled", {"currencyCode": "USD", "billingPeriod": "last", "attributeSet": "full"})
    frame, _ = fetch_usage(pc, currency="USD", period="previous", out_dir=tmp_path)
    check_frame(frame)


@responses.activate
def test_graph_no_data_is_an_empty_typed_frame(pc, tmp_path):
    responses.post(f"{BILLING}/usage/unbilled/export", status=202, headers={"Location": f"{BILLING}/operations/op1"})
    responses.get(f"{BILLING}/operations/op1", json={"id": "op1", "status": "failed",
                                                     "error": {"code": "5000", "message": "No data available"}})
    frame, sentence = fetch_usage(pc, currency="USD", out_dir=tmp_path)
    assert len(frame) == 0 and list(frame.columns[:55]) == list(DAILY_USAGE_COLUMNS)
    assert "No data available" in sentence


def test_api_frame_equals_the_file_readers_frame(tmp_path):
    """The same rows as a portal CSV read by the file reader give the same typed values."""
    from cspkit.billing.exports import v1_lines_to_frame
    from cspkit.billing.recon_columns import canonical_column

    api = v1_lines_to_frame(ITEMS, source="API", kind="daily")
    path = tmp_path / "daily.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(DAILY_USAGE_COLUMNS))
        writer.writeheader()
        for item in ITEMS:
            row = {canonical_column(k): v for k, v in item.items() if canonical_column(k)}
            for rate in ("PartnerEarnedCreditPercentage", "CreditPercentage"):
                row[rate] = str(Decimal(str(row[rate])) * 100)
            writer.writerow(row)
    file = read_recon(path, kind="daily").frame
    pd.testing.assert_frame_equal(api[list(DAILY_USAGE_COLUMNS)], file[list(DAILY_USAGE_COLUMNS)])


def test_bad_values_and_bad_requests_are_named():
    from cspkit.billing.exports import v1_lines_to_frame

    with pytest.raises(InputFileError) as info:
        v1_lines_to_frame([ITEMS[0], usage_item(2, "ten")], source="G000000001", kind="daily")
    assert (info.value.row, info.value.column, info.value.value) == (2, "BillingPreTaxTotal", "ten")
    with pytest.raises(ValueError, match="either an invoice id"):
        fetch_usage(object(), invoice_id="G1", currency="USD")
    with pytest.raises(ValueError, match="period"):
        fetch_usage(object(), currency="USD", period="next")
    with pytest.raises(ValueError, match="api"):
        fetch_usage(object(), invoice_id="G1", api="v3")

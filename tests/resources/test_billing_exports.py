"""pc.billing_exports against exact Graph/blob exchanges (responses): request → poll → manifest → blobs → frame."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from decimal import Decimal

import pytest
import responses

from cspkit.client import PartnerCenter
from cspkit.models.billing_export import ExportManifest
from cspkit.resources.billing_exports import BillingExportError

GRAPH = "https://graph.test"
BILLING = f"{GRAPH}/v1.0/reports/partners/billing"
ROOT = "https://blobs.test/billedusagefastpath/v1/PartnerTenantId=p1/InvoiceId=G000000001/Fragment=full"
SAS = "sv=2021-08-06&sr=d&sp=rl&sig=S3CRET"


def line(n: int, **extra) -> dict:
    base = {
        "partnerId": "P1", "customerId": f"C{n}", "customerName": f"Customer {n}", "invoiceNumber": "G000000001",
        "tier2MpnId": "1234567", "orderId": f"o{n}", "orderDate": "2026-10-05T09:00:00Z", "productId": "CFQ7TTC0LH18",
        "skuId": "1", "availabilityId": "CFQ7TTC0K5RQ", "skuName": "Basic", "productName": "M365", "chargeType": "new",
        "unitPrice": 10.08, "subtotal": 100.80, "taxTotal": 0, "total": "100.80", "currency": "USD",
        "subscriptionId": f"00000000-0000-4000-8000-00000000000{n}", "chargeStartDate": "2026-10-05T00:00:00Z",
        "chargeEndDate": "2026-11-04T00:00:00Z", "effectiveUnitPrice": "10.08", "billableQuantity": 10,
        "pricingCurrency": "USD", "pcToBCExchangeRate": 1, "productQualifiers": '["Add-on"]',
    }
    base.update(extra)
    return base


def gz(*members: list[dict]) -> bytes:
    """Gzip JSON Lines, one gzip member per list (multi-member when several)."""
    out = io.BytesIO()
    for records in members:
        out.write(gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode(), mtime=0))
    return out.getvalue()


BLOB_A = gz([line(1), line(2)], [line(3)])  # two gzip members
BLOB_B = gz([line(4, chargeType="cancelImmediate", effectiveUnitPrice="-10.08", subtotal="-100.8")])
MANIFEST = {
    "id": "m1", "schemaVersion": "2", "dataFormat": "compressedJSON", "createdDateTime": "2026-11-02T09:00:00Z",
    "eTag": "e1", "partnerTenantId": "p1", "rootDirectory": ROOT, "sasToken": SAS, "partitionType": "Default",
    "blobCount": 2,
    "blobs": [{"name": "part-00000-a.c000.json.gz", "partitionValue": "default"},
              {"name": "part-00001-a.c000.json.gz", "partitionValue": "default"}],
}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def pc(sleeps):
    client = PartnerCenter(endpoint="https://pc.test", access_token="t0k3n", sleep=sleeps.append,
                           jitter=lambda upper: 0.0)
    client.settings = client.settings.with_overrides(graph_endpoint=GRAPH)
    yield client
    client.close()


def add_export_flow(final: dict | None = None) -> None:
    responses.post(f"{BILLING}/reconciliation/billed/export", status=202,
                   headers={"Location": f"{BILLING}/operations/op1", "Retry-After": "1"})
    responses.get(f"{BILLING}/operations/op1", json={"id": "op1", "status": "notStarted"},
                  headers={"Retry-After": "2"})
    responses.get(f"{BILLING}/operations/op1", json={"id": "op1", "status": "running"}, headers={"Retry-After": "3"})
    responses.get(f"{BILLING}/operations/op1", json=final or {
        "id": "op1", "status": "succeeded",
        "@odata.type": "#microsoft.graph.partners.billing.exportSuccessOperation",
        "resourceLocation@odata.navigationLink": f"{BILLING}/manifests/m1"})


def add_blobs() -> None:
    responses.get(f"{BILLING}/manifests/m1", json=MANIFEST)
    responses.get(f"{ROOT}/part-00000-a.c000.json.gz?{SAS}", body=BLOB_A, content_type="application/octet-stream")
    responses.get(f"{ROOT}/part-00001-a.c000.json.gz?{SAS}", body=BLOB_B, content_type="application/octet-stream")


@responses.activate
def test_export_polls_with_retry_after_downloads_every_blob_and_reads_the_lines(pc, sleeps, tmp_path):
    add_export_flow()
    add_blobs()
    polled = []

    result = pc.billing_exports.export_billed_reconciliation("G000000001", out_dir=tmp_path,
                                                             on_status=lambda op: polled.append(op.status))

    assert sleeps == [1.0, 2.0, 3.0]
    assert polled == ["notStarted", "notStarted", "running", "succeeded"]
    post = responses.calls[0].request
    assert json.loads(post.body) == {"invoiceId": "G000000001", "attributeSet": "full"}
    assert post.headers["Authorization"] == "Bearer t0k3n"
    blob_calls = [c.request for c in responses.calls if c.request.url.startswith("https://blobs.test")]
    assert len(blob_calls) == 2 and all("Authorization" not in r.headers for r in blob_calls)
    assert [b.name for b in result.blobs] == ["part-00000-a.c000.json.gz", "part-00001-a.c000.json.gz"]
    assert [b.size for b in result.blobs] == [len(BLOB_A), len(BLOB_B)]
    assert result.blobs[0].sha256 == hashlib.sha256(BLOB_A).hexdigest()
    sidecar = json.loads((tmp_path / "part-00000-a.c000.json.gz.ok").read_text())
    assert sidecar["size"] == len(BLOB_A) and sidecar["source"] == f"{ROOT}/part-00000-a.c000.json.gz"
    saved = json.loads((tmp_path / "manifest.json").read_text())
    assert saved["sasToken"] == "<redacted>"
    assert "S3CRET" not in "".join(p.read_text(errors="ignore") for p in tmp_path.glob("*.ok"))
    assert not list(tmp_path.glob("*.part"))

    frame = result.read().frame
    assert list(frame["CustomerId"]) == ["c1", "c2", "c3", "c4"]  # GUID-typed column: lower-cased
    assert list(frame["SkuId"]) == ["0001"] * 4
    assert list(frame["Subtotal"]) == [Decimal("100.80")] * 3 + [Decimal("-100.8")]
    assert list(frame["ChargeType"]) == ["new", "new", "new", "cancelImmediate"]
    assert list(frame["ProductQualifiers"]) == ['["AddOn"]'] * 4
    assert list(frame["SourceFile"]) == ["part-00000-a.c000.json.gz"] * 3 + ["part-00001-a.c000.json.gz"]
    assert list(frame["SourceRow"]) == [1, 2, 3, 1]

    chunks = list(result.iter_frames(chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 1, 1]
    assert [list(c["SourceRow"]) for c in chunks] == [[1, 2], [3], [1]]
    assert list(chunks[0]["Subtotal"]) == [Decimal("100.80")] * 2


@responses.activate
def test_no_data_available_is_an_empty_answer_not_an_error(pc, tmp_path):
    add_export_flow({"id": "op1", "status": "failed", "error": {"code": "5000", "message": "No data available"}})

    result = pc.billing_exports.export("billed-reconciliation", invoice_id="G000000001", out_dir=tmp_path)

    assert result.no_data is True and result.blobs == [] and result.manifest is None
    assert len(result.read().frame) == 0
    assert not any("/manifests/" in c.request.url for c in responses.calls)


@responses.activate
def test_a_failed_operation_raises_with_its_code_and_message(pc, tmp_path):
    add_export_flow({"id": "op1", "status": "failed", "error": {"code": 2001, "message": "Internal failure"}})

    with pytest.raises(BillingExportError) as info:
        pc.billing_exports.export("billed-reconciliation", invoice_id="G000000001", out_dir=tmp_path)

    assert str(info.value) == "export operation op1 failed (code 2001): Internal failure"
    assert info.value.operation_id == "op1" and info.value.code == "2001"


@responses.activate
def test_a_rerun_skips_verified_blobs_and_refetches_a_damaged_one(pc, tmp_path):
    responses.get(f"{ROOT}/part-00000-a.c000.json.gz?{SAS}", body=BLOB_A)
    responses.get(f"{ROOT}/part-00001-a.c000.json.gz?{SAS}", body=BLOB_B)
    manifest = ExportManifest.model_validate(MANIFEST)
    pc.billing_exports.download(manifest, tmp_path)
    assert len(responses.calls) == 2

    again = pc.billing_exports.download(manifest, tmp_path)
    assert len(responses.calls) == 2  # nothing fetched
    assert [b.skipped for b in again] == [True, True]

    (tmp_path / "part-00001-a.c000.json.gz").write_bytes(BLOB_B[:-3] + b"xyz")
    third = pc.billing_exports.download(manifest, tmp_path)
    assert [b.skipped for b in third] == [True, False]
    assert len(responses.calls) == 3
    assert (tmp_path / "part-00001-a.c000.json.gz").read_bytes() == BLOB_B


@responses.activate
def test_blob_errors_are_retried_then_reported_without_the_sas_token(pc, sleeps, tmp_path):
    url = f"{ROOT}/part-00000-a.c000.json.gz?{SAS}"
    responses.get(url, status=503, headers={"Retry-After": "4"})
    responses.get(url, body=BLOB_A)
    responses.get(f"{ROOT}/part-00001-a.c000.json.gz?{SAS}", status=403, body="<Error>AuthenticationFailed</Error>")
    manifest = ExportManifest.model_validate(MANIFEST)

    with pytest.raises(BillingExportError) as info:
        pc.billing_exports.download(manifest, tmp_path, workers=1)

    assert str(info.value) == f"downloading blob {ROOT}/part-00001-a.c000.json.gz failed: HTTP 403"
    assert info.value.hint == "The SAS token may have expired: request the export again."
    assert "S3CRET" not in str(info.value) + repr(manifest)
    assert 4.0 in sleeps
    assert (tmp_path / "part-00000-a.c000.json.gz").read_bytes() == BLOB_A


@responses.activate
def test_unbilled_reconciliation_goes_to_beta_and_usage_to_v1(pc, tmp_path):
    responses.post(f"{GRAPH}/beta/reports/partners/billing/reconciliation/unbilled/export", status=202,
                   headers={"Location": f"{BILLING}/operations/op2"})
    responses.post(f"{BILLING}/usage/unbilled/export", status=202, headers={"Location": f"{BILLING}/operations/op3"})

    recon = pc.billing_exports.request_export("unbilled-reconciliation", currency_code="usd",
                                              billing_period="previous", attribute_set="Basic")
    usage = pc.billing_exports.request_export("unbilled-usage", currency_code="EUR")

    assert json.loads(responses.calls[0].request.body) == {"currencyCode": "USD", "billingPeriod": "last",
                                                           "attributeSet": "basic"}
    assert json.loads(responses.calls[1].request.body) == {"currencyCode": "EUR", "billingPeriod": "current",
                                                           "attributeSet": "full"}
    assert (recon.id, usage.id) == ("op2", "op3")
    assert recon.location == f"{BILLING}/operations/op2"


def test_bad_arguments_are_refused_before_calling(pc):
    exports = pc.billing_exports
    with pytest.raises(ValueError, match="attribute_set must be 'full' or 'basic'"):
        exports.request_export("billed-reconciliation", invoice_id="G1", attribute_set="all")
    with pytest.raises(ValueError, match="needs an invoice id"):
        exports.request_export("billed-usage")
    with pytest.raises(ValueError, match="3-letter currency code"):
        exports.request_export("unbilled-usage", currency_code="dollars")
    with pytest.raises(ValueError, match="billing_period must be 'current' or 'last'"):
        exports.request_export("unbilled-reconciliation", currency_code="USD", billing_period="next")
    with pytest.raises(ValueError, match="unknown export kind"):
        exports.request_export("invoices")


def test_blob_names_cannot_escape_the_output_folder(pc, tmp_path):
    manifest = ExportManifest.model_validate({**MANIFEST, "blobCount": 1, "blobs": [{"name": "../../etc/x.gz"}]})
    with pytest.raises(BillingExportError, match="not a plain relative path"):
        pc.billing_exports.download(manifest, tmp_path)


@responses.activate
def test_blob_downloads_follow_the_transports_retry_policy(sleeps, tmp_path):
    from cspkit.retry import RetryPolicy

    policy = RetryPolicy(max_attempts=3, backoff_base=1.0, backoff_cap=2.0, max_total_wait=100.0)
    pc = PartnerCenter(endpoint="https://pc.test", access_token="t0k3n", sleep=sleeps.append,
                       jitter=lambda upper: upper, retry=policy)
    pc.settings = pc.settings.with_overrides(graph_endpoint=GRAPH)
    url = f"{ROOT}/part-00000-a.c000.json.gz?{SAS}"
    responses.get(url, status=429, headers={"Retry-After": "Thu, 01 Jan 1970 00:00:10 GMT"})  # a past date: 0 s
    responses.get(url, status=503, headers={"Retry-After": "5"})
    responses.get(url, status=500)
    manifest = ExportManifest.model_validate({**MANIFEST, "blobCount": 1, "blobs": MANIFEST["blobs"][:1]})

    with pytest.raises(BillingExportError, match="failed after 3 attempts: HTTP 500"):
        pc.billing_exports.download(manifest, tmp_path)

    assert pc.billing_exports.transport.retry.max_attempts == 3
    assert sleeps == [1.0, 5.0]  # back-off 1 s (jitter at its upper bound); then Retry-After 5 over the 2 s back-off
    assert len(responses.calls) == 3
    pc.close()


@responses.activate
def test_a_blob_retry_after_past_the_wait_budget_is_not_waited_for(sleeps, tmp_path):
    from cspkit.retry import RetryPolicy
    from cspkit.transport import Transport

    transport = Transport(GRAPH, lambda force: "t", api_prefix="v1.0", sleep=sleeps.append,
                          retry=RetryPolicy(max_total_wait=30.0))
    from cspkit.resources.billing_exports import BillingExports

    exports = BillingExports(transport)  # a Transport, like every resource
    url = f"{ROOT}/part-00000-a.c000.json.gz?{SAS}"
    responses.get(url, status=503, headers={"Retry-After": "60"})
    manifest = ExportManifest.model_validate({**MANIFEST, "blobCount": 1, "blobs": MANIFEST["blobs"][:1]})

    with pytest.raises(BillingExportError) as info:
        exports.download(manifest, tmp_path)

    assert "would pass the 30 s budget" in str(info.value) and "S3CRET" not in str(info.value)
    assert sleeps == [] and len(responses.calls) == 1
    exports.close()
    transport.close()


@responses.activate
def test_v1_reconciliation_line_items_read_the_currency_then_page(pc):
    from cspkit.billing.exports import v1_lines_to_frame

    responses.get("https://pc.test/v1/invoices/G000000001", json={"id": "G000000001", "currencyCode": "EUR"})
    responses.get("https://pc.test/v1/invoices/G000000001/lineitems", json={
        "totalCount": 1, "items": [line(1, attributes={"objectType": "OneTimeInvoiceLineItem"},
                                        invoiceLineItemType="billingLineItems", billingProvider="oneTime")]})

    items = pc.invoices.reconciliation_line_items("G000000001")
    frame = v1_lines_to_frame(items)

    query = responses.calls[1].request.params
    assert query == {"provider": "onetime", "invoicelineitemtype": "billinglineitems", "currencycode": "EUR",
                     "size": "2000"}
    assert list(frame["CustomerId"]) == ["c1"] and list(frame["Subtotal"]) == [Decimal("100.80")]
    assert not {"attributes", "invoiceLineItemType", "billingProvider"} & set(frame.columns)


@responses.activate
def test_an_invoice_without_a_currency_is_refused_before_paging(pc):
    from cspkit.errors import CspkitError

    responses.get("https://pc.test/v1/invoices/G000000009", json={"id": "G000000009"})
    with pytest.raises(CspkitError, match="invoice G000000009 has no currencyCode"):
        pc.invoices.reconciliation_line_items("G000000009")
    assert len(responses.calls) == 1

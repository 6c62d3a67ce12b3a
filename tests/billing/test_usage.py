"""Azure plan usage reconciliation (cspkit.billing.usage): the real subset, PEC loss, anomalies, the invoice tie."""

from __future__ import annotations

import csv
import gzip
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cspkit.billing.usage import (
    NOT_APPLIED,
    PEC_APPLIED,
    AnomalyRule,
    connect,
    invoice_tie,
    load_usage,
    reconcile_usage,
    totals,
)
from cspkit.errors import InputFileError

REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "daily-rated-usage-2025-11-subset.csv"
MONEY = pd.ArrowDtype(pa.decimal128(38, 15))


def _real() -> Path:
    if not REAL.exists():
        pytest.skip(f"real daily rated usage subset not found at {REAL} (../shared is absent)")
    return REAL


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def real_result():
    return reconcile_usage(_real())


# ---------------------------------------------------------------------------------------------------------------
# the real subset


def test_real_subset_every_row_and_exact_total(real_result) -> None:
    rows = _csv_rows(_real())
    expected = sum((Decimal(r["BillingPreTaxTotal"]) for r in rows), Decimal(0))
    assert expected == Decimal("3011.918783289273")
    assert real_result.rows_read == len(rows) == 3367
    summary = real_result.summary
    assert list(summary["BillingCurrency"]) == ["USD"]
    assert summary["BillingPreTaxTotal"].iloc[0] == expected
    assert summary["PricingPreTaxTotal"].iloc[0] == sum(Decimal(r["PricingPreTaxTotal"]) for r in rows)


def test_real_subset_per_customer_and_per_day_totals_add_up_to_the_file(real_result) -> None:
    total = real_result.summary["BillingPreTaxTotal"].iloc[0]
    for frame in (real_result.customers, real_result.subscriptions, real_result.daily, real_result.meters,
                  real_result.meter_categories, real_result.resource_groups):  # fmt: skip
        assert sum(frame["BillingPreTaxTotal"].astype(object)) == total
        assert frame["Rows"].sum() == 3367
    rows = _csv_rows(_real())
    by_customer: dict[str, Decimal] = {}
    for r in rows:
        by_customer[r["CustomerId"]] = by_customer.get(r["CustomerId"], Decimal(0)) + Decimal(r["BillingPreTaxTotal"])
    got = dict(zip(real_result.customers["CustomerId"], real_result.customers["BillingPreTaxTotal"], strict=True))
    assert got == by_customer
    assert len(got) == 24


def test_real_subset_credit_not_applied_and_money_at_stake(real_result) -> None:
    rows = _csv_rows(_real())
    not_applied = [r for r in rows if r["CreditType"] == NOT_APPLIED]
    assert len(not_applied) == 338
    first_party = [r for r in not_applied if r["PublisherName"] == "Microsoft" and not r["PublisherId"]]
    market = [r for r in not_applied if r not in first_party]
    s = real_result.summary.iloc[0]
    assert s["CreditNotAppliedRows"] == 338
    assert s["NotAppliedRows"] == len(first_party) == 177
    assert s["MarketplaceRows"] == len(market) == 161
    at_stake = Decimal("0.15") * sum(Decimal(r["PricingPreTaxTotal"]) for r in first_party)
    assert s["AtStake"] == at_stake
    assert sum(real_result.pec["AtStake"].astype(object)) == at_stake
    # marketplace rows are reported apart, never as PEC at stake
    types = real_result.pec_credit_types
    market_row = types[types["Marketplace"] & (types["CreditType"] == NOT_APPLIED)].iloc[0]
    assert market_row["Rows"] == 161 and market_row["AtStake"] == 0
    assert real_result.marketplace["Rows"].sum() == 161
    assert set(real_result.marketplace["PublisherName"]) == {"BANSIR LLC", "Bitnami", "Kyndryl, Inc", "Elastic"}
    # the subset shows no PEC loss: the subscriptions without PEC never had it or had it on some resources only
    assert set(real_result.pec["Status"]) == {"applied", "partial", "never applied"}


def test_real_subset_gzip_and_excel_resave_read_the_same(tmp_path: Path) -> None:
    src = _real()
    gz = tmp_path / "usage.csv.gz"
    with src.open("rb") as fin, gzip.open(gz, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    con = connect()
    load_usage(con, gz)
    assert totals(con)["BillingPreTaxTotal"].iloc[0] == Decimal("3011.918783289273")
    # an Excel re-save on a European locale: ';' delimiter, decimal commas (scientific notation kept), first 400 rows
    rows = _csv_rows(src)[:400]
    resave = tmp_path / "excel.csv"
    money = ["UnitPrice", "Quantity", "BillingPreTaxTotal", "PricingPreTaxTotal", "EffectiveUnitPrice",
             "PCToBCExchangeRate", "PartnerEarnedCreditPercentage", "CreditPercentage"]  # fmt: skip
    with resave.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (v.replace(".", ",") if k in money else v) for k, v in r.items()})
    con2 = connect()
    load_usage(con2, resave)
    assert totals(con2)["BillingPreTaxTotal"].iloc[0] == sum(Decimal(r["BillingPreTaxTotal"]) for r in rows)
    assert any("E-" in r["BillingPreTaxTotal"] for r in rows)  # the quirk is really in the rows re-saved


# ---------------------------------------------------------------------------------------------------------------
# synthetic frames with the daily columns

SUB_A, ENT_A = "aaaaaaaa-0000-0000-0000-000000000001", "eeeeeeee-0000-0000-0000-00000000000a"
SUB_B, ENT_B = "bbbbbbbb-0000-0000-0000-000000000002", "eeeeeeee-0000-0000-0000-00000000000b"
SUB_C, ENT_C = "cccccccc-0000-0000-0000-000000000003", "eeeeeeee-0000-0000-0000-00000000000c"


def _row(sub: str, ent: str, day: int, amount: str, *, credit: str = PEC_APPLIED, meter: str = "m-1",
         publisher: str = "Microsoft", publisher_id: str | None = None, customer: str = "cust-1",
         resource: str = "/subscriptions/x/resourcegroups/rg-1/providers/p/r1") -> dict:  # fmt: skip
    return {
        "InvoiceNumber": "G000000001", "CustomerId": customer, "CustomerName": customer.upper(),
        "SubscriptionId": sub, "EntitlementId": ent, "EntitlementDescription": "Azure subscription",
        "ProductId": "DZH318Z0BQ3Q", "SkuId": "0003", "AvailabilityId": "DZH318Z09SQD", "SkuName": "sku",
        "ProductName": "product", "PublisherName": publisher, "PublisherId": publisher_id,
        "MeterCategory": "Virtual Machines", "MeterSubCategory": "D", "MeterName": meter, "MeterId": meter,
        "ResourceGroup": "rg-1", "ResourceURI": resource, "UsageDate": pd.Timestamp(2025, 11, day, tz="UTC"),
        "BillingPreTaxTotal": Decimal(amount), "BillingCurrency": "EUR",
        "PricingPreTaxTotal": Decimal(amount) * 2, "PricingCurrency": "USD", "CreditType": credit,
    }  # fmt: skip


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for c in ("BillingPreTaxTotal", "PricingPreTaxTotal"):
        frame[c] = pd.array(frame[c].tolist(), dtype=MONEY)
    return frame


def test_pec_loss_is_found_with_the_day_it_stopped_and_the_money_at_stake() -> None:
    rows = [_row(SUB_A, ENT_A, d, "1.5") for d in range(1, 11)]
    rows += [_row(SUB_A, ENT_A, d, "2.25", credit=NOT_APPLIED) for d in range(11, 21)]
    # B: PEC on one resource, not on another, all month long: partial, not lost
    rows += [_row(SUB_B, ENT_B, d, "1") for d in range(1, 21)]
    rows += [_row(SUB_B, ENT_B, d, "0.5", credit=NOT_APPLIED, resource="r2") for d in range(1, 21)]
    # a marketplace row without credit after the loss day: reported apart, never at stake
    rows += [_row(SUB_A, ENT_A, 15, "100", credit=NOT_APPLIED, publisher="Bitnami", publisher_id="123")]
    result = reconcile_usage(_frame(rows))
    pec = result.pec.set_index("EntitlementId")
    a, b = pec.loc[ENT_A], pec.loc[ENT_B]
    assert a["Status"] == "lost"
    assert a["StoppedOn"] == pd.Timestamp(2025, 11, 11)
    assert a["LostAtStake"] == Decimal("0.15") * 10 * Decimal("4.5")  # pricing = 2 × billing in these rows
    assert a["NotAppliedRows"] == 10  # the marketplace row is not counted
    assert b["Status"] == "partial" and pd.isna(b["StoppedOn"]) and b["LostAtStake"] == 0
    assert b["AtStake"] == Decimal("0.15") * 20 * Decimal("1.0")
    s = result.summary.iloc[0]
    assert s["LostSubscriptions"] == 1 and s["LostAtStake"] == Decimal("6.75")
    assert s["MarketplaceRows"] == 1 and s["MarketplaceBillingPreTaxTotal"] == 100
    assert s["AtStake"] == Decimal("6.75") + Decimal("3")
    assert s["CreditNotAppliedRows"] == 31


def test_spend_spike_needs_factor_history_and_floor() -> None:
    rows = [_row(SUB_A, ENT_A, d, "10") for d in range(1, 10)]
    rows += [_row(SUB_A, ENT_A, 10, "31")]  # > 3 × 10
    rows += [_row(SUB_A, ENT_A, 11, "29")]  # median of the 7 days before is still 10: 29 < 30, no spike
    rows += [_row(SUB_B, ENT_B, d, "0.1") for d in range(1, 10)] + [_row(SUB_B, ENT_B, 10, "5")]  # under the floor
    rows += [_row(SUB_C, ENT_C, 1, "1"), _row(SUB_C, ENT_C, 2, "50")]  # one day of history only
    result = reconcile_usage(_frame(rows))
    spikes = result.anomalies[result.anomalies["Kind"] == "spend spike"]
    assert list(spikes["EntitlementId"]) == [ENT_A]
    assert spikes["UsageDate"].iloc[0] == pd.Timestamp(2025, 11, 10)
    assert spikes["Amount"].iloc[0] == 31 and spikes["Baseline"].iloc[0] == 10
    lower = reconcile_usage(_frame(rows), rule=AnomalyRule(spike_floor=Decimal(1), min_history_days=1))
    spiked = set(lower.anomalies.loc[lower.anomalies["Kind"] == "spend spike", "EntitlementId"])
    assert spiked == {ENT_A, ENT_B, ENT_C}
    higher = reconcile_usage(_frame(rows), rule=AnomalyRule(spike_factor=Decimal(4)))
    assert not (higher.anomalies["Kind"] == "spend spike").any()


def test_new_meters_on_known_subscriptions_only() -> None:
    rows = [_row(SUB_A, ENT_A, d, "1") for d in range(1, 21)]
    rows += [_row(SUB_A, ENT_A, d, "2", meter="m-new") for d in range(15, 21)]
    rows += [_row(SUB_B, ENT_B, d, "1", meter="m-b") for d in range(15, 21)]  # the subscription itself is new
    result = reconcile_usage(_frame(rows))
    new = result.anomalies[result.anomalies["Kind"] == "new meter"]
    assert list(zip(new["EntitlementId"], new["UsageDate"], new["Amount"], strict=True)) == [
        (ENT_A, pd.Timestamp(2025, 11, 15), Decimal(12))
    ]


def test_resources_billed_after_cancellation() -> None:
    rows = [_row(SUB_A, ENT_A, d, "1") for d in range(1, 21)]
    rows += [_row(SUB_B, ENT_B, d, "1") for d in range(1, 21)]
    subscriptions = [
        {"id": ENT_A.upper(), "status": "deleted", "cancellationDate": "2025-11-17T08:00:00Z"},
        {"id": SUB_B, "status": "active"},
    ]
    result = reconcile_usage(_frame(rows), subscriptions=subscriptions)
    after = result.anomalies[result.anomalies["Kind"] == "billed after cancellation"]
    assert list(after["EntitlementId"]) == [ENT_A]
    assert after["UsageDate"].iloc[0] == pd.Timestamp(2025, 11, 18)
    assert after["Amount"].iloc[0] == 3  # the 18th, 19th and 20th


def test_invoice_tie_per_subscription_and_product() -> None:
    rows = [_row(SUB_A, ENT_A, d, "0.333333333") for d in range(1, 4)]  # Σ 0.999999999
    rows += [_row(SUB_B, ENT_B, d, "5") for d in range(1, 3)]
    recon = pd.DataFrame(
        {
            "InvoiceNumber": ["G000000001"] * 4 + ["G999999999"],
            "SubscriptionId": [SUB_A.upper(), SUB_B, SUB_C, "dddddddd-0000-0000-0000-000000000004", SUB_A],
            "ProductId": ["DZH318Z0BQ3Q", "DZH318Z0BQ3Q", "DZH318Z0BQ3Q", "CFQ7TTC0LH18", "DZH318Z0BQ3Q"],
            "SkuId": ["0003", "0003", "0003", "0001", "0003"],
            "AvailabilityId": ["DZH318Z09SQD"] * 5,
            "SubscriptionDescription": ["Azure plan", "Azure plan", "Azure plan", "Microsoft 365", "Azure plan"],
            "Subtotal": [Decimal("1.00"), Decimal("9.50"), Decimal("4.00"), Decimal("50.00"), Decimal("7")],
            "Currency": ["eur", "EUR", "EUR", "EUR", "EUR"],
        }
    )
    result = reconcile_usage(_frame(rows), invoice=recon)
    tie = result.invoice_tie.set_index("SubscriptionId")
    assert tie.loc[SUB_A, "Status"] == "ties" and tie.loc[SUB_A, "Difference"] == Decimal("-0.000000001")
    assert tie.loc[SUB_B, "Status"] == "differs" and tie.loc[SUB_B, "Difference"] == Decimal("0.5")
    assert tie.loc[SUB_C, "Status"] == "only on invoice" and tie.loc[SUB_C, "DailyRows"] == 0
    assert "dddddddd-0000-0000-0000-000000000004" not in tie.index  # a seat line, not usage
    assert tie.loc[SUB_A, "InvoiceLines"] == 1  # the other invoice's line is left out
    assert result.has_differences
    products = result.invoice_tie_products
    assert set(products["ProductId"]) == {"DZH318Z0BQ3Q"}
    con = connect()
    load_usage(con, _frame(rows[:3]))
    only_a = invoice_tie(con, recon.iloc[[0]])
    assert list(only_a["Status"]) == ["ties"]


def test_invoice_tie_leaves_out_marketplace_seats_that_share_the_azure_prefix() -> None:
    """A marketplace SaaS seat line (ProductId DZH318Z0…, no meter) of a subscription absent from the daily rows is
    not usage; a metered DZH318Z0… line of such a subscription is (billing-formats.md §1.1: MeterDescription and
    UnitType are filled on usage lines only)."""
    rows = [_row(SUB_A, ENT_A, d, "1") for d in range(1, 4)]
    saas, metered = "eeeeeeee-0000-0000-0000-000000000005", "ffffffff-0000-0000-0000-000000000006"
    recon = pd.DataFrame(
        {
            "InvoiceNumber": ["G000000001"] * 3,
            "SubscriptionId": [SUB_A, saas, metered],
            "ProductId": ["DZH318Z0BQ3Q", "DZH318Z0SA01", "DZH318Z0BP04"],
            "SkuId": ["0003", "0001", "0003"],
            "AvailabilityId": ["DZH318Z09SQD"] * 3,
            "SubscriptionDescription": ["", "Contoso SaaS", ""],
            "MeterDescription": ["Data Stored", None, "Bandwidth"],
            "UnitType": ["1 GB", "", "1 GB"],
            "Subtotal": [Decimal("3.00"), Decimal("40.00"), Decimal("2.00")],
            "Currency": ["EUR"] * 3,
        }
    )
    tie = reconcile_usage(_frame(rows), invoice=recon).invoice_tie.set_index("SubscriptionId")
    assert saas not in tie.index
    assert tie.loc[metered, "Status"] == "only on invoice"
    assert tie.loc[SUB_A, "Status"] == "ties"


def test_parquet_source_and_bad_inputs(tmp_path: Path) -> None:
    rows = [_row(SUB_A, ENT_A, d, "1.000000000000001") for d in range(1, 4)]
    path = tmp_path / "usage.parquet"
    pq.write_table(pa.Table.from_pandas(_frame(rows), preserve_index=False), path)
    con = connect()
    load_usage(con, path)
    assert totals(con)["BillingPreTaxTotal"].iloc[0] == Decimal("3.000000000000003")
    floats = _frame(rows).assign(BillingPreTaxTotal=[1.0, 1.0, 1.0])
    with pytest.raises(InputFileError, match="BillingPreTaxTotal"):
        reconcile_usage(floats)
    with pytest.raises(InputFileError, match="CreditType"):
        reconcile_usage(_frame(rows).drop(columns=["CreditType"]))
    bad = tmp_path / "bad.csv"
    bad.write_text("UsageDate,MeterId,BillingPreTaxTotal\n11/01/2025,m,abc\n", encoding="utf-8")
    with pytest.raises(InputFileError) as info:
        reconcile_usage(bad)
    assert "bad.csv" in str(info.value)

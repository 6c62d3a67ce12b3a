"""Reconciliation engine: exact totals to the cent and exact variance rows and categories."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from cspkit.billing.pricelist import read_price_list
from cspkit.billing.recon_columns import INVOICE_RECON_COLUMNS
from cspkit.billing.recon_readers import read_recon, recon_lines_to_frame
from cspkit.billing.reconcile import CATEGORIES, Tolerance, normalize_subscriptions, reconcile

DATA = Path(__file__).resolve().parents[2] / "sample_data"
D = Decimal


@pytest.fixture(scope="module")
def sample():
    lines = read_recon(DATA / "recon_sample.csv").frame
    subs = pd.read_csv(DATA / "recon_subscriptions.csv", dtype=str)
    price_list = read_price_list(DATA / "recon_pricelist.csv")
    invoices = json.loads((DATA / "recon_invoices.json").read_text())["items"]
    return reconcile(lines, subscriptions=subs, price_list=price_list, invoices=invoices, period="2026-03")


def sid(i: int) -> str:
    return f"5b{i:06d}-0c1d-4e2f-8a3b-4c5d6e7f8a{i:02d}"


def test_sample_tieout(sample) -> None:
    tie = sample.tieout
    assert tie[["InvoiceNumber", "Currency", "Lines", "Subtotal", "TaxTotal", "Total", "InvoiceTotal", "Difference",
                "Status"]].to_dict("records") == [  # fmt: skip
        {"InvoiceNumber": "G000000301", "Currency": "USD", "Lines": 14, "Subtotal": D("856.87"), "TaxTotal": D("0.00"),
         "Total": D("856.87"), "InvoiceTotal": D("856.87"), "Difference": D("0.00"), "Status": "ties"},
        {"InvoiceNumber": "G000000302", "Currency": "EUR", "Lines": 2, "Subtotal": D("100.47"), "TaxTotal": D("6.70"),
         "Total": D("107.17"), "InvoiceTotal": D("112.17"), "Difference": D("-5.00"), "Status": "differs"},
    ]  # fmt: skip
    assert (sample.period_start, sample.period_end) == (
        pd.Timestamp("2026-03-01", tz="UTC"),
        pd.Timestamp("2026-03-31", tz="UTC"),
    )


def test_sample_every_planted_variance_exactly_once(sample) -> None:
    found = sample.variances[["Category", "SubscriptionId", "SourceRow", "Expected", "Actual", "Difference"]]
    rows = [tuple(None if pd.isna(v) else v for v in r) for r in found.itertuples(index=False)]
    assert rows == [
        ("unit_price_mismatch", sid(2), 4, D("26.40"), D("27.00"), D("0.60")),
        ("proration_mismatch", sid(9), 14, D("27.600000"), D("25.00"), D("-2.600000")),
        ("amount_mismatch", sid(12), 5, D("126.00"), D("127.50"), D("1.50")),
        ("seat_mismatch", sid(3), 6, D("18"), D("20"), D("2")),
        ("charge_after_cancellation", sid(6), 11, None, D("64.00"), None),
        ("missing_charge", sid(7), None, D("180.00"), None, None),
        ("duplicate_charge", sid(4), 8, None, D("43.20"), None),
        ("refund_without_charge", sid(8), 13, None, D("-167.55"), None),
        ("currency_mismatch", sid(11), 16, D("1"), D("0.92"), None),
    ]
    counts = dict(zip(sample.variance_counts["Category"], sample.variance_counts["Count"], strict=True))
    assert counts == {c: (0 if c in ("price_not_found", "unknown_subscription") else 1) for c in CATEGORIES}
    missing = sample.variances[sample.variances["Category"] == "missing_charge"].iloc[0]
    assert missing["CustomerName"] == "Adventure Works Cycles"
    assert missing["Evidence"] == (
        "monthly billing, status active, quantity 25, no recon line in the period; expected about 7.20 × 25 = 180.00"
    )
    dup = sample.variances[sample.variances["Category"] == "duplicate_charge"].iloc[0]
    assert dup["Evidence"] == "same charge period as row 7 (new 2026-03-10–2026-04-09)"


def test_sample_customer_and_subscription_totals(sample) -> None:
    customers = sample.customers.set_index("CustomerName")
    assert customers.loc["Contoso Dental Group", ["Lines", "Charges", "Refunds", "Total", "Variances"]].tolist() == [
        5, D("388.86"), D("-52.80"), D("336.06"), 2
    ]  # fmt: skip
    assert customers.loc["Adventure Works Cycles", ["Total", "Variances"]].tolist() == [D("-117.55"), 3]
    assert customers.loc["Wingtip Toys GmbH", ["Currency", "Subtotal", "TaxTotal", "Total"]].tolist() == [
        "EUR", D("100.47"), D("6.70"), D("107.17")
    ]  # fmt: skip
    subs = sample.subscriptions.set_index("SubscriptionId")
    # 10 seats cycle charge (63.00), -52.80 refund of the 10, +63.36 for 12: billed 12 = subscription 12
    assert subs.loc[sid(1), ["Lines", "BilledSeats", "SubscriptionQuantity", "Subtotal"]].tolist() == [
        3, D("12"), D("12"), D("73.56")
    ]  # fmt: skip
    assert subs.loc[sid(5), ["BilledSeats", "SubscriptionStatus", "Total"]].tolist() == [D("0"), "deleted", D("4.96")]
    types = sample.charge_types
    assert types[types["Currency"] == "USD"][["ChargeType", "Lines", "Total"]].values.tolist() == [
        ["addQuantity", 2, D("10.56")], ["cancelImmediate", 2, D("-762.59")], ["cycleCharge", 5, D("872.50")],
        ["new", 5, D("736.40")],
    ]  # fmt: skip
    assert sample.lines["Variances"].dropna().tolist() == [
        "unit_price_mismatch", "amount_mismatch", "seat_mismatch", "duplicate_charge", "charge_after_cancellation",
        "refund_without_charge", "proration_mismatch", "currency_mismatch",
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------- targeted


def item(**overrides: object) -> dict[str, object]:
    """A clean monthly cycle charge: 10 seats at 10.00 for 2026-03-01..31, USD."""
    row: dict[str, object] = {
        "customerId": "c1", "customerName": "Cust", "invoiceNumber": "G1", "orderId": "o1",
        "orderDate": "2026-03-01T00:00:00Z", "productId": "CFQ7TTC0LH18", "skuId": "0001", "chargeType": "cycleCharge",
        "unitPrice": "10.00", "quantity": "10", "subtotal": "100.00", "taxTotal": "0", "total": "100.00",
        "currency": "USD", "subscriptionId": "s1", "chargeStartDate": "2026-03-01", "chargeEndDate": "2026-03-31",
        "effectiveUnitPrice": "10.00", "billableQuantity": "10", "billingFrequency": "Monthly",
        "pricingCurrency": "USD", "pcToBCExchangeRate": "1", "subscriptionStartDate": "2026-01-01",
        "subscriptionEndDate": "2026-12-31", "referenceId": "", "productQualifiers": [],
    }  # fmt: skip
    row.update(overrides)
    return row


def run(items: list[dict[str, object]], **kwargs: object):
    return reconcile(recon_lines_to_frame(items).frame, **kwargs)


def categories(result) -> list[tuple[str, int | None]]:
    return [
        (c, None if pd.isna(r) else int(r))
        for c, r in zip(result.variances["Category"], result.variances["SourceRow"], strict=True)
    ]


def test_documented_add_quantity_pair_is_clean_within_tolerance() -> None:
    # §2.4: 10.08/30×28 = 9.408; 9.408×12 = 112.896 billed as 112.89 (and the 10-seat refund as -94.08)
    common = dict(chargeType="addQuantity", unitPrice="10.08", chargeStartDate="2021-06-20",
                  chargeEndDate="2021-07-17", orderDate="2021-06-20", referenceId="r1",
                  subscriptionStartDate="2021-06-18", subscriptionEndDate="2022-06-17")  # fmt: skip
    result = run([
        item(chargeStartDate="2021-06-18", chargeEndDate="2021-07-17", orderDate="2021-06-18", unitPrice="10.08",
             effectiveUnitPrice="10.08", subtotal="100.80", total="100.80", subscriptionStartDate="2021-06-18",
             subscriptionEndDate="2022-06-17"),
        item(**common, effectiveUnitPrice="-9.408", billableQuantity="10", subtotal="-94.08", total="-94.08"),
        item(**common, effectiveUnitPrice="9.408", billableQuantity="12", subtotal="112.89", total="112.89"),
    ], subscriptions=[{"customerId": "c1", "id": "s1", "quantity": 12, "status": "active",
                       "offerId": "CFQ7TTC0LH18:0001:X", "billingCycle": "monthly",
                       "termDuration": "P1Y"}])  # fmt: skip
    assert categories(result) == []
    assert result.subscriptions["BilledSeats"].tolist() == [D("12")]
    assert result.tieout["Total"].tolist() == [D("119.61")]


def test_subtotal_tolerance_is_point_01_per_unit() -> None:
    # exact 10.00 × 10 = 100.00; allowed ±0.10
    result = run([item(subtotal="100.10", total="100.10"), item(orderId="o2", subscriptionId="s2", subtotal="100.11",
                                                                total="100.11")])  # fmt: skip
    assert categories(result) == [("amount_mismatch", 2)]
    looser = run([item(subtotal="100.11", total="100.11")], tolerance=Tolerance(per_unit=D("0.02")))
    assert categories(looser) == []


def test_total_must_equal_subtotal_plus_tax() -> None:
    result = run([item(taxTotal="19.00", total="119.01")])
    assert categories(result) == [("amount_mismatch", 1)]
    assert result.variances["Evidence"].iloc[0] == "Total 119.01 ≠ Subtotal 100.00 + TaxTotal 19.00"


def test_exact_duplicates_and_refund_matching_with_history() -> None:
    refund = item(chargeType="removeQuantity", chargeStartDate="2026-03-10", effectiveUnitPrice="-7.096774",
                  subtotal="-70.90", total="-70.90", orderId="o3", orderDate="2026-03-10")  # fmt: skip
    result = run([item(), item(), refund])
    assert categories(result) == [("duplicate_charge", 2)]
    assert result.variances["Evidence"].iloc[0] == "same charge as row 1 (cycleCharge 2026-03-01–2026-03-31)"
    alone = run([refund])
    assert categories(alone) == [("refund_without_charge", 1)]
    history = recon_lines_to_frame([item()]).frame
    assert categories(reconcile(recon_lines_to_frame([refund]).frame, history=history)) == []


def test_proration_of_annual_prepaid_and_promotions_skipped() -> None:
    # 365-day term bought 2026-03-03 and cancelled 2026-03-06: 150/365×362 = 148.767123
    base = dict(billingFrequency="Annual", unitPrice="150.00", billableQuantity="4", subscriptionStartDate="2026-03-03",
                subscriptionEndDate="2027-03-02", chargeEndDate="2027-03-02")  # fmt: skip
    good = item(**base, chargeType="cancelImmediate", chargeStartDate="2026-03-06", effectiveUnitPrice="-148.767123",
                subtotal="-595.04", total="-595.04")  # fmt: skip
    bad = item(**base, chargeType="cancelImmediate", chargeStartDate="2026-03-06", effectiveUnitPrice="-150.00",
               subtotal="-600.00", total="-600.00", orderId="o2", subscriptionId="s2")  # fmt: skip
    promo = item(effectiveUnitPrice="8.00", subtotal="80.00", total="80.00", promotionId="CFQ7TTC0LDPB:1:X",
                 orderId="o3", subscriptionId="s3")  # fmt: skip
    pec = item(effectiveUnitPrice="8.50", subtotal="85.00", total="85.00", orderId="o4", subscriptionId="s4",
               priceAdjustmentDescription='["15.0% Partner earned credit for services managed"]')  # fmt: skip
    result = run([good, bad, promo, pec])
    # the two refunds have no charge in these lines; only the 150.00 refund breaks the proration rule
    assert categories(result) == [("proration_mismatch", 2), ("refund_without_charge", 1), ("refund_without_charge", 2)]
    assert result.variances["Expected"].iloc[0] == D("148.767123")


def test_unit_price_check_uses_price_in_force_on_order_date() -> None:
    price_list = pd.DataFrame(
        {
            "ProductId": ["CFQ7TTC0LH18"] * 2, "SkuId": ["0001"] * 2, "TermDuration": ["P1Y"] * 2,
            "BillingPlan": ["Monthly"] * 2, "Currency": ["USD"] * 2, "UnitPrice": [D("108.00"), D("120.00")],
            "EffectiveStartDate": pd.to_datetime(["2026-01-01", "2026-03-05"], utc=True),
            "EffectiveEndDate": pd.to_datetime([None, None], utc=True), "IsFreeTrial": [False, False],
        }
    )  # fmt: skip
    lines = [
        item(),  # 2026-03-01: 108.00 a year in force (9.00 a month), 10.00 billed
        item(orderId="o2", subscriptionId="s2", orderDate="2026-03-06T00:00:00Z", chargeStartDate="2026-03-06",
             chargeEndDate="2026-04-05"),  # 120.00 a year in force: 10.00 a month
        item(orderId="o3", subscriptionId="s3", productId="CFQ7TTC0XXXX"),
        item(orderId="o4", subscriptionId="s4", productQualifiers=["Trial"], unitPrice="0", effectiveUnitPrice="0",
             subtotal="0", total="0"),
    ]  # fmt: skip
    result = run(lines, price_list=price_list)
    assert categories(result) == [("unit_price_mismatch", 1), ("price_not_found", 3)]
    assert result.variances["Expected"].iloc[0] == D("9.00")
    assert result.variances["Evidence"].iloc[0] == (
        "price list P1Y/Monthly USD on 2026-03-01: 108.00 ÷ 12 billing periods = 9.00; line: 10.00"
    )
    assert (
        result.variances["Evidence"].iloc[1] == "no price-list row for CFQ7TTC0XXXX:0001 P1Y/Monthly USD on 2026-03-01"
    )


def test_exchange_rate_consistency_and_multi_currency_customer() -> None:
    eur = dict(currency="EUR", pricingCurrency="USD", pcToBCExchangeRateDate="2026-03-01")
    lines = [
        item(**eur, pcToBCExchangeRate="0.9", subtotal="90.00", total="90.00"),
        item(**eur, pcToBCExchangeRate="0.9", subtotal="90.00", total="90.00", orderId="o2", subscriptionId="s2"),
        item(**eur, pcToBCExchangeRate="0.95", subtotal="95.00", total="95.00", orderId="o3", subscriptionId="s3"),
        item(orderId="o4", subscriptionId="s4", pcToBCExchangeRate=""),
    ]
    result = run(lines)
    assert categories(result) == [("currency_mismatch", 1), ("currency_mismatch", 3), ("currency_mismatch", 4)]
    assert result.variances["Evidence"].tolist() == [
        "customer billed in EUR, USD on one invoice",
        "USD>EUR rate 0.95 differs from 0.9 on the other lines with rate date 2026-03-01",
        "PCToBCExchangeRate is None for USD→USD",
    ]


def test_seats_after_remove_quantity_and_unknown_subscription() -> None:
    pair = dict(chargeType="removeQuantity", orderDate="2026-03-10T00:00:00Z", chargeStartDate="2026-03-10",
                referenceId="r9")  # fmt: skip
    lines = [
        item(),
        item(**pair, effectiveUnitPrice="-7.096774", subtotal="-70.90", total="-70.90", orderId="o2"),
        item(**pair, effectiveUnitPrice="7.096774", billableQuantity="8", subtotal="56.72", total="56.72",
             orderId="o3"),
        item(orderId="o4", subscriptionId="stray"),
    ]  # fmt: skip
    subs = [{"customer_id": "c1", "subscription_id": "s1", "product_id": "CFQ7TTC0LH18", "sku_id": "1",
             "quantity": 8, "status": "Active", "billing_cycle": "Monthly"}]  # fmt: skip
    result = run(lines, subscriptions=subs)
    assert categories(result) == [("unknown_subscription", 4)]
    billed = result.subscriptions.set_index("SubscriptionId")["BilledSeats"]
    assert billed["s1"] == D("8")
    assert billed["stray"] == D("10")  # a subscription not given still has its billed seats (grouped by its id)
    result = run(lines[:3], subscriptions=[{**subs[0], "quantity": 10}])
    assert categories(result) == [("seat_mismatch", 3)]
    assert result.variances["Evidence"].tolist() == ["billed 8 seat(s) (row 3); subscription quantity 10"]


def test_annual_subscription_not_due_is_not_missing() -> None:
    subs = normalize_subscriptions(
        [
            {"customerId": "c1", "id": "A", "quantity": 1, "status": "active", "billingCycle": "annual",
             "effectiveStartDate": "2025-06-10T00:00:00Z"},
            {"customerId": "c1", "id": "B", "quantity": 1, "status": "active", "billingCycle": "annual",
             "effectiveStartDate": "2025-03-10T00:00:00Z"},
            {"customerId": "c1", "id": "C", "quantity": 1, "status": "suspended", "billingCycle": "monthly"},
            {"customerId": "c1", "id": "D", "quantity": 1, "status": "active", "billingCycle": "monthly",
             "effectiveStartDate": "2026-04-02T00:00:00Z"},
        ]
    )  # fmt: skip
    result = run([item()], subscriptions=subs, period="2026-03-15")
    assert [(c, s) for c, s in zip(result.variances["Category"], result.variances["SubscriptionId"], strict=True)] == [
        ("missing_charge", "b"), ("unknown_subscription", "s1"),
    ]  # fmt: skip


def test_without_subscriptions_or_price_list_notes_what_was_not_checked() -> None:
    result = run([item()])
    assert result.notes == [
        "no price list given: unit prices were not checked",
        "no subscriptions given: seats, cancellations and missing charges were not checked",
    ]
    assert result.tieout["Status"].tolist() == ["no invoice total"]
    assert result.subscriptions["SubscriptionQuantity"].tolist() == [None]


def test_invoice_totals_as_mapping_and_empty_lines() -> None:
    result = run([item()], invoices={"usd": "100.00"})
    assert result.tieout[["Total", "InvoiceTotal", "Status"]].values.tolist() == [[D("100.00"), D("100.00"), "ties"]]
    empty = recon_lines_to_frame([]).frame
    assert list(empty.columns[:47]) == list(INVOICE_RECON_COLUMNS)
    out = reconcile(empty)
    assert len(out.tieout) == 0 and len(out.variances) == 0 and out.period_start is None


def test_sums_are_exact_arrow_decimals_in_cents_or_micro_units() -> None:
    import pyarrow as pa

    result = run([item(), item(orderId="o2", subscriptionId="s2", subtotal="0.005", total="0.005",
                           effectiveUnitPrice="0.0005", billableQuantity="10", unitPrice="0.0005")])  # fmt: skip
    tie = result.tieout
    assert tie["Subtotal"].dtype == pd.ArrowDtype(pa.decimal128(38, 6))  # a sum with fractions of a cent
    assert tie["Subtotal"].tolist() == [D("100.005")]
    assert tie["TaxTotal"].dtype == pd.ArrowDtype(pa.decimal128(38, 2)) and str(tie["TaxTotal"].iloc[0]) == "0.00"
    subs = result.subscriptions.set_index("SubscriptionId")
    # one scale per column: micro-units as soon as one sum of the column has fractions of a cent
    assert [str(v) for v in subs.loc[["s1", "s2"], "Total"]] == ["100.000000", "0.005000"]
    assert str(result.charge_types["Total"].iloc[0]) == "100.005000"


def test_duplicates_compare_dates_with_their_time_and_decimals_exactly() -> None:
    same = dict(chargeType="usage", referenceId="r1")
    result = run([
        item(**same, orderDate="2026-03-01T10:00:00Z"),
        item(**same, orderDate="2026-03-01T10:00:00Z"),  # the same charge again
        item(**same, orderDate="2026-03-01T11:00:00Z"),  # another hour: another charge
        item(**same, orderDate="2026-03-01T10:00:00Z", effectiveUnitPrice="10.000000000000001",
             unitPrice="10.000000000000001"),  # differs in the 15th decimal
    ])  # fmt: skip
    assert [c for c in categories(result) if c[0] == "duplicate_charge"] == [("duplicate_charge", 2)]


def test_reconcile_uses_jemalloc_unless_the_user_chose_a_pool() -> None:
    import os
    import subprocess
    import sys

    import pyarrow as pa

    code = ("import pyarrow as pa; from cspkit.billing.memory import use_reuse_friendly_pool as u; "
            "print(u(), pa.default_memory_pool().backend_name)")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**env, "ARROW_DEFAULT_MEMORY_POOL": "system"})  # fmt: skip
    assert chosen.stdout.split() == ["system", "system"]
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    try:
        expected = pa.jemalloc_memory_pool().backend_name
    except NotImplementedError:  # pragma: no cover - pyarrow built without jemalloc: the default pool is kept
        expected = default.stdout.split()[1]
    assert default.stdout.split() == [expected, expected]


@pytest.mark.parametrize("names", [["Zeta", "alpha", "Alpha"], ["Zeta", "Émile", "Alpha"]])
def test_subscriptions_are_sorted_by_customer_name_in_code_point_order(names: list[str]) -> None:
    result = run([item(customerId=f"c{i}", customerName=name, subscriptionId=f"s{i}", orderId=f"o{i}")
                  for i, name in enumerate(names)])  # fmt: skip
    assert result.subscriptions["CustomerName"].tolist() == sorted(names)
    assert result.customers["CustomerId"].tolist() == sorted(result.customers["CustomerId"])


def test_a_refund_of_a_hair_more_units_than_its_charge_is_not_covered() -> None:
    # 100.000000000000001 and 100 are the same float64: the quantities are compared exactly (§2.4)
    charge = item(billableQuantity="100", subtotal="1000.00", total="1000.00")
    refund = dict(chargeType="removeQuantity", chargeStartDate="2026-03-10", effectiveUnitPrice="-7.096774",
                  subtotal="-709.68", total="-709.68", orderId="o3", orderDate="2026-03-10")  # fmt: skip
    assert categories(run([charge, item(**refund, billableQuantity="100")])) == []
    more = run([charge, item(**refund, billableQuantity="100.000000000000001")])
    assert categories(more) == [("refund_without_charge", 2)]


def test_the_float_screens_do_not_drop_a_variance_of_large_amounts() -> None:
    # 11,563,430,073.977111 × 1: Subtotal 0.010000001 off, just over the 0.01 allowed; in float64 (a step of
    # 1.9e-6 at this size) the difference reads 0.0099983, so an absolute screening margin let it through
    big = "11563430073.977111"
    line = item(unitPrice=big, effectiveUnitPrice=big, billableQuantity="1", quantity="1",
                subtotal="11563430073.987111001", total="11563430073.987111001")  # fmt: skip
    result = run([line])
    assert categories(result) == [("amount_mismatch", 1)]
    assert result.variances["Difference"].iloc[0] == D("0.01")  # 0.010000001 shown to the cent
    within = run([item(unitPrice=big, effectiveUnitPrice=big, billableQuantity="1", quantity="1",
                       subtotal="11563430073.987111", total="11563430073.987111")])  # fmt: skip
    assert categories(within) == []  # exactly 0.01 off: allowed


def test_the_proration_screen_does_not_drop_a_variance_of_large_prices() -> None:
    # a whole cycle: |EffectiveUnitPrice| must be UnitPrice within 0.01; here it is 0.010000001 above (§2.4)
    line = item(unitPrice="11563430073.977111", effectiveUnitPrice="11563430073.987111001", billableQuantity="1",
                quantity="1", subtotal="11563430073.99", total="11563430073.99")  # fmt: skip
    result = run([line])
    assert categories(result) == [("proration_mismatch", 1)]
def test_the_proration_screen_keeps_what_the_decimal_confirmation_reports() -> None:
    # a whole 31-day cycle at 3.12: exactly, 3.13 − 3.12 ÷ 31 × 31 is 0.01 (allowed); the confirmation divides in
    # 28-digit Decimal, 3.119999999999999999999999999, and reports 0.010000000000000000000000001. A screen without
    # a rounding margin would have dropped the line the rule reports (billing-formats.md §2.4).
    line = item(unitPrice="3.12", effectiveUnitPrice="3.13", subtotal="31.30", total="31.30")
    assert categories(run([line])) == [("proration_mismatch", 1)]
    assert categories(run([item(unitPrice="3.12", effectiveUnitPrice="3.12", subtotal="31.20", total="31.20")])) == []


def test_prices_beyond_the_exact_screens_bounds_are_confirmed_unscreened() -> None:
    # 5 × 10²¹ × 31 days overflows decimal(38, 15): such lines skip the exact screen (it would raise) and the
    # Decimal confirmation alone decides — one 0.02 off, one exact (billing-formats.md §2.4)
    huge, units, amount = "5000000000000000000000.00", "0.000001", "5000000000000000.00"
    off = item(unitPrice=huge, effectiveUnitPrice="5000000000000000000000.02", billableQuantity=units, quantity="1",
               subtotal=amount, total=amount)  # fmt: skip
    exact = item(unitPrice=huge, effectiveUnitPrice=huge, billableQuantity=units, quantity="1", subtotal=amount,
                 total=amount, subscriptionId="s2", orderId="o2")  # fmt: skip
    assert categories(run([off, exact])) == [("proration_mismatch", 1)]



"""The unit-price check follows Microsoft's price rule: invoice UnitPrice = price-list term price ÷ billing periods.

Proven on the real November 2025 US price list (``../shared/realdata/``, read in place, never copied) and on small
price lists for the rounding rule and the lines whose term and plan make no billing period.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from cspkit.billing.pricelist import read_price_list
from cspkit.billing.recon_readers import recon_lines_to_frame
from cspkit.billing.reconcile import Tolerance, reconcile

D = Decimal
REAL_PRICE_LIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "nce-pricelist-US-2025-11.csv"


@pytest.fixture(scope="module")
def real_list() -> pd.DataFrame:
    if not REAL_PRICE_LIST.exists():
        pytest.skip(f"the real price list is not here ({REAL_PRICE_LIST}): ../shared/realdata is absent")
    return read_price_list(REAL_PRICE_LIST)


def line(unit_price: str, *, term: str = "P1Y", plan: str = "Monthly", product: str = "CFQ7TTC0LH18",
         sku: str = "0001", seats: int = 10, n: int = 1, order_date: str = "2025-11-01") -> dict[str, object]:
    """A full-cycle cycleCharge of ``seats`` seats at ``unit_price`` for a subscription of ``term``/``plan``."""
    months = {"P1M": 1, "P1Y": 12, "P3Y": 36}[term]
    start = pd.Timestamp(order_date)
    cycle_end = start + pd.DateOffset(months={"Monthly": 1, "Annual": 12, "Triennial": 36}[plan]) - pd.Timedelta(days=1)
    amount = (D(unit_price) * seats).quantize(D("0.01"))
    return {
        "customerId": "c1", "customerName": "Cust", "invoiceNumber": "G1", "orderId": f"o{n}",
        "orderDate": f"{order_date}T00:00:00Z", "productId": product, "skuId": sku, "chargeType": "cycleCharge",
        "unitPrice": unit_price, "quantity": str(seats), "subtotal": str(amount), "taxTotal": "0",
        "total": str(amount), "currency": "USD", "subscriptionId": f"s{n}", "chargeStartDate": order_date,
        "chargeEndDate": cycle_end.date().isoformat(), "effectiveUnitPrice": unit_price, "billableQuantity": str(seats),
        "billingFrequency": plan, "pricingCurrency": "USD", "pcToBCExchangeRate": "1",
        "subscriptionStartDate": order_date,
        "subscriptionEndDate": (start + pd.DateOffset(months=months) - pd.Timedelta(days=1)).date().isoformat(),
        "referenceId": "", "productQualifiers": [],
    }  # fmt: skip


def price_findings(items: list[dict[str, object]], price_list: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
    result = reconcile(recon_lines_to_frame(items).frame, price_list=price_list, **kwargs)
    v = result.variances
    return v[v["Category"].isin(["unit_price_mismatch", "price_not_found"])].reset_index(drop=True)


# ------------------------------------------------------------------------------------------- the real price list


def test_p1y_monthly_line_at_5_04_agrees_with_the_real_term_price_60_48(real_list: pd.DataFrame) -> None:
    assert price_findings([line("5.04")], real_list).empty


def test_p1y_monthly_line_at_6_04_is_exactly_one_unit_price_variance(real_list: pd.DataFrame) -> None:
    found = price_findings([line("5.04", n=1), line("6.04", n=2)], real_list)
    assert found[["Category", "SubscriptionId", "Expected", "Actual", "Difference"]].values.tolist() == [
        ["unit_price_mismatch", "s2", D("5.04"), D("6.04"), D("1.00")]
    ]
    assert found["Evidence"].iloc[0] == (
        "price list P1Y/Monthly USD on 2025-11-01: 60.48 ÷ 12 billing periods = 5.04; line: 6.04"
    )


def test_p1y_annual_and_p1m_lines_carry_the_whole_term_price(real_list: pd.DataFrame) -> None:
    items = [line("57.60", plan="Annual", n=1), line("5.76", term="P1M", n=2), line("4.80", plan="Annual", n=3)]
    found = price_findings(items, real_list)
    # 4.80 is the monthly equivalent of the annual plan, not what an annual line is billed
    assert found[["SubscriptionId", "Expected", "Actual"]].values.tolist() == [["s3", D("57.60"), D("4.80")]]
    assert found["Evidence"].iloc[0].endswith(": 57.60 ÷ 1 billing period = 57.60; line: 4.80")


def test_p3y_lines_divide_by_36_3_and_1(real_list: pd.DataFrame) -> None:
    # Dynamics 365 Business Central Device (CFQ7TTC0LH3F/0002, Commercial): P3Y Monthly 1190.88, Annual/Triennial 1134
    bc = {"product": "CFQ7TTC0LH3F", "sku": "0002", "term": "P3Y"}
    clean = [line("33.08", plan="Monthly", n=1, **bc), line("378.00", plan="Annual", n=2, **bc),
             line("1134", plan="Triennial", n=3, **bc)]  # fmt: skip
    assert price_findings(clean, real_list).empty
    wrong = [line("1190.88", plan="Monthly", n=4, **bc), line("1134", plan="Annual", n=5, **bc)]
    found = price_findings(wrong, real_list)
    assert found[["SubscriptionId", "Expected", "Actual"]].values.tolist() == [
        ["s4", D("33.08"), D("1190.88")],
        ["s5", D("378.00"), D("1134.00")],
    ]
    assert found["Evidence"].tolist() == [
        "price list P3Y/Monthly USD on 2025-11-01: 1190.88 ÷ 36 billing periods = 33.08; line: 1190.88",
        "price list P3Y/Annual USD on 2025-11-01: 1134.00 ÷ 3 billing periods = 378.00; line: 1134.00",
    ]


# ------------------------------------------------------------------------------------------- the rounding rule


def small_list(term_price: str, term: str = "P3Y", plan: str = "Monthly") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ProductId": ["CFQ7TTC0LH18"], "SkuId": ["0001"], "TermDuration": [term], "BillingPlan": [plan],
            "Currency": ["USD"], "UnitPrice": [D(term_price)],
            "EffectiveStartDate": pd.to_datetime(["2025-01-01"], utc=True),
            "EffectiveEndDate": pd.to_datetime([None], utc=True), "IsFreeTrial": [False],
        }
    )  # fmt: skip


@pytest.mark.parametrize("as_objects", [False, True], ids=["arrow-decimals", "decimal-objects"])
def test_quotient_not_ending_at_the_cent_accepts_its_half_up_rounding_only(as_objects: bool) -> None:
    # 3393.96 ÷ 36 = 94.2766…: the invoice carries 94.28; 94.27 (rounded down) is a variance
    items = [line("94.28", term="P3Y", n=1), line("94.27", term="P3Y", n=2)]
    frame = recon_lines_to_frame(items).frame
    if as_objects:  # a user's frame of Decimal objects takes the line-by-line path
        frame["UnitPrice"] = pd.Series([v.normalize() for v in frame["UnitPrice"]], dtype=object)
    result = reconcile(frame, price_list=small_list("3393.96"))
    found = result.variances[result.variances["Category"] == "unit_price_mismatch"]
    assert found[["SubscriptionId", "Expected", "Actual", "Difference"]].values.tolist() == [
        ["s2", D("94.28"), D("94.27"), D("-0.01")]
    ]
    assert found["Evidence"].iloc[0] == (
        "price list P3Y/Monthly USD on 2025-11-01: 3393.96 ÷ 36 billing periods = 94.276667 (94.28 to the cent); "
        "line: 94.27"
    )


def test_exact_quotient_with_more_places_and_its_rounding_both_agree() -> None:
    # 157.50 ÷ 12 = 13.125: both 13.125 and 13.13 agree, 13.12 does not
    items = [line("13.125", term="P1Y", n=1), line("13.13", term="P1Y", n=2), line("13.12", term="P1Y", n=3)]
    found = price_findings(items, small_list("157.50", term="P1Y"))
    assert found[["SubscriptionId", "Expected", "Actual"]].values.tolist() == [["s3", D("13.125"), D("13.12")]]


def test_tolerance_applies_to_the_period_price() -> None:
    items = [line("94.30", term="P3Y", n=1), line("94.35", term="P3Y", n=2)]
    found = price_findings(items, small_list("3393.96"), tolerance=Tolerance(unit_price=D("0.03")))
    # 94.30 is 0.02 from 94.28; 94.35 is 0.07 from 94.28 and 0.073… from the exact quotient
    assert found["SubscriptionId"].tolist() == ["s2"]
    assert found["Difference"].tolist() == [D("0.07")]


def test_a_term_and_plan_without_billing_periods_is_named_not_compared() -> None:
    # a P1M term billed annually has no billing period: reported with the reason, never compared
    price_list = pd.concat([small_list("7.20", term="P1M", plan="Monthly"), small_list("72.00", term="P1M",
                                                                                      plan="Annual")])  # fmt: skip
    item = line("72.00", term="P1M", plan="Annual")
    found = price_findings([item], price_list.reset_index(drop=True))
    assert found[["Category", "Actual"]].values.tolist() == [["price_not_found", D("72.00")]]
    assert found["Evidence"].iloc[0] == "P1M billed annual makes no billing period (billing_periods); " \
        "the unit price was not checked"


def test_missing_charge_of_a_p1y_monthly_subscription_expects_one_month() -> None:
    subs = [{"customerId": "c1", "id": "s9", "quantity": 10, "status": "active", "offerId": "CFQ7TTC0LH18:0001:X",
             "billingCycle": "monthly", "termDuration": "P1Y", "effectiveStartDate": "2025-06-01T00:00:00Z"}]
    result = reconcile(recon_lines_to_frame([line("5.04")]).frame, price_list=small_list("60.48", term="P1Y"),
                       subscriptions=subs + [{"customerId": "c1", "id": "s1", "quantity": 10, "status": "active",
                                              "offerId": "CFQ7TTC0LH18:0001:X", "billingCycle": "monthly",
                                              "termDuration": "P1Y"}], period="2025-11")  # fmt: skip
    missing = result.variances[result.variances["Category"] == "missing_charge"]
    assert missing[["SubscriptionId", "Expected"]].values.tolist() == [["s9", D("50.40")]]
    assert missing["Evidence"].iloc[0].endswith("expected about 60.48 ÷ 12 = 5.04 × 10 = 50.40")

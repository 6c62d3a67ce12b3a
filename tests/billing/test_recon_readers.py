"""Recon readers on hand-made files: every format quirk of billing-formats.md §1 with exact expected values."""

from __future__ import annotations

import csv
import gzip
import io
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from cspkit.billing.recon_columns import (
    DAILY_USAGE_COLUMNS,
    INVOICE_RECON_COLUMNS,
    canonical_column,
    normalize_charge_type,
)
from cspkit.billing.recon_readers import (
    MONEY,
    concat_recon_frames,
    parse_recon_date,
    parse_recon_number,
    read_recon,
    read_recon_files,
    recon_lines_to_frame,
)
from cspkit.errors import InputFileError

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "recon_sample.csv"
SUB = "86646af9-e80a-4aa0-da80-3fd2b792c2cc"
UTC = "UTC"


def base_row(**overrides: str) -> dict[str, str]:
    """One documented invoice recon line (the §2.4 addQuantity example: 10.08/30×28 = 9.408, 12 seats)."""
    row = {c: "" for c in INVOICE_RECON_COLUMNS}
    row.update(
        PartnerId="0e195b37-4574-4539-bc42-0e539b9684c0",
        CustomerId="196e2273-1b5a-4b8a-9c7d-0e1f2a3b4c5d",
        CustomerName="Johnny Modern Cust DE2",
        CustomerDomainName="contoso.onmicrosoft.com",
        CustomerCountry="US",
        InvoiceNumber="G002297372",
        MpnId="6034453",
        Tier2MpnId="6048879",
        OrderId="6dc5c039750a",
        OrderDate="6/20/2021",
        ProductId="CFQ7TTC0LH18",
        SkuId="0001",
        AvailabilityId="CFQ7TTC0K5RQ",
        SkuName="Microsoft 365 Business Basic",
        ProductName="Microsoft 365 Business Basic",
        ChargeType="addQuantity",
        UnitPrice="10.08",
        Quantity="12",
        Subtotal="112.89",
        TaxTotal="0",
        Total="112.89",
        Currency="USD",
        PriceAdjustmentDescription='["Price for given billing period"]',
        PublisherName="Microsoft Corporation",
        SubscriptionDescription="Microsoft 365 Business Basic",
        SubscriptionId=SUB,
        ChargeStartDate="6/20/2021",
        ChargeEndDate="7/17/2021",
        TermAndBillingCycle="One-Year commitment for monthly/yearly billing",
        EffectiveUnitPrice="9.408",
        AlternateId="6dc5c039750a",
        BillableQuantity="12",
        BillingFrequency="Monthly",
        PricingCurrency="USD",
        PCToBCExchangeRate="1",
        PCToBCExchangeRateDate="6/1/2021",
        SubscriptionStartDate="6/18/2021",
        SubscriptionEndDate="6/17/2022",
        ReferenceId="025d68a6-3f3c-4a4b-8d1e-2f3a4b5c6d7e",
        ProductQualifiers="[]",
        PromotionId="",
        ProductCategory="Office",
    )
    row.update(overrides)
    return row


def write_csv(path: Path, rows: list[dict[str, str]], *, header: list[str] | None = None, delimiter: str = ",",
              encoding: str = "utf-8", bom: bool = False, blank_lines: tuple[int, ...] = ()) -> Path:  # fmt: skip
    header = header or list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for i, row in enumerate(rows, start=1):
        if i in blank_lines:
            buffer.write("\r\n")
        writer.writerow([row.get(h, "") for h in header])
    data = buffer.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


# ---------------------------------------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("text", "comma", "expected"),
    [
        ("10.08", False, "10.08"),
        ("-9.408", False, "-9.408"),
        ("1E-05", False, "0.00001"),
        ("(94.20)", False, "-94.20"),
        ("1,234.56", False, "1234.56"),
        ("1,234", False, "1234"),
        ("10,08", True, "10.08"),
        ("1.234,56", True, "1234.56"),
        ("0,846202666", True, "0.846202666"),
        ("\u00a01 234,50 ", True, "1234.50"),
    ],
)
def test_numbers_in_every_locale_form(text: str, comma: bool, expected: str) -> None:
    assert parse_recon_number(text, decimal_comma=comma) == Decimal(expected)


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", "1.2.3x", "--1"])
def test_numbers_reject_junk(text: str) -> None:
    with pytest.raises(ValueError):
        parse_recon_number(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10/3/2020", "2020-10-03T00:00:00"),
        ("2/28/2019 23:59", "2019-02-28T23:59:00"),
        ("2/1/2019 12:00:00 AM", "2019-02-01T00:00:00"),
        ("2/4/2021 8:35:31 PM", "2021-02-04T20:35:31"),
        ("2021-05-20T18:30:06.6045692Z", "2021-05-20T18:30:06.604569"),
        ("2021-05-01T00:00:00", "2021-05-01T00:00:00"),
        ("18.06.2021", "2021-06-18T00:00:00"),
    ],
)
def test_dates_in_every_documented_form(text: str, expected: str) -> None:
    value = parse_recon_date(text)
    assert value is not None and value.tzinfo is not None
    assert value.replace(tzinfo=None).isoformat() == expected


def test_open_ended_and_placeholder_dates_are_none() -> None:
    assert parse_recon_date("11/30/9999 23:59") is None
    assert parse_recon_date("9999-11-30T23:59:59.0000000Z") is None
    assert parse_recon_date("1/1/1753") is None


def test_charge_types_any_case_to_camel() -> None:
    assert [
        normalize_charge_type(v)
        for v in ("New", "CYCLECHARGE", "cancel_immediate", "Purchase", "Refund", "addquantity", " ", "Cycle fee")
    ] == [  # fmt: skip
        "new",
        "cycleCharge",
        "cancelImmediate",
        "new",
        "cancel",
        "addQuantity",
        None,
        "cycle fee",
    ]


def test_header_aliases() -> None:
    assert canonical_column("ResellerMpnId") == "Tier2MpnId"
    assert canonical_column("ResellerMPNID") == "Tier2MpnId"
    assert canonical_column("ReferenceID") == "ReferenceId"
    assert canonical_column("PromotionID") == "PromotionId"
    assert canonical_column("totalForCustomer") == "Total"
    assert canonical_column("total") == "Total"
    assert canonical_column("unitOfMeasure") == "Unit"
    assert canonical_column("Subscription Id") == "SubscriptionId"
    assert canonical_column("pcToBCExchangeRate") == "PCToBCExchangeRate"
    assert canonical_column("NotAColumn") is None
    assert len(INVOICE_RECON_COLUMNS) == 47 and len(DAILY_USAGE_COLUMNS) == 55


# ---------------------------------------------------------------------------------------------------- CSV


def test_portal_csv_sample_types_and_totals() -> None:
    result = read_recon(SAMPLE)
    frame = result.frame
    assert (result.kind, result.format, result.delimiter) == ("invoice", "csv", ",")
    assert (result.rows_read, result.rows_skipped, result.missing_columns) == (16, 0, [])
    assert list(frame.columns[:47]) == list(INVOICE_RECON_COLUMNS)
    assert list(frame.columns[47:]) == ["SourceFile", "SourceRow"]
    assert sum(frame["Total"], Decimal(0)) == Decimal("964.04")
    assert sum(frame.loc[frame["Currency"] == "EUR", "Total"], Decimal(0)) == Decimal("107.17")
    assert str(frame["OrderDate"].dtype) == "datetime64[ns, UTC]"
    assert frame["UnitPrice"].dtype == MONEY and isinstance(frame["UnitPrice"].iloc[0], Decimal)
    assert frame["SkuId"].tolist()[:2] == ["0001", "0001"]
    assert frame["EffectiveUnitPrice"].iloc[1] == Decimal("-5.283871")
    assert frame["BillableQuantity"].iloc[1] == Decimal("10")
    assert frame["SourceRow"].tolist() == list(range(1, 17))
    assert frame["ProductCategory"].isna().all()
    assert frame["ChargeStartDate"].iloc[0] == pd.Timestamp("2026-03-15", tz=UTC)


def test_excel_resave_semicolon_bom_cp1252_decimal_comma_mangled_ids(tmp_path: Path) -> None:
    rows = [
        base_row(
            SkuId="1",
            MpnId="6034453.0",
            CustomerName="Müller Büro GmbH",
            UnitPrice="10,08",
            EffectiveUnitPrice="9,408",
            Subtotal="112,89",
            Total="112,89",
            PCToBCExchangeRate="0,846202666",
            Quantity="12",
            OrderDate="20.06.2021",
            ChargeType="AddQuantity",
        ),  # fmt: skip
        base_row(
            SkuId="006G",
            Subtotal="1.234,56",
            Total="1.234,56",
            EffectiveUnitPrice="-9,408",
            ChargeType="CANCELIMMEDIATE",
            SubscriptionId=SUB.upper(),
        ),  # fmt: skip
    ]
    header = [c if c != "Tier2MpnId" else "ResellerMpnId" for c in INVOICE_RECON_COLUMNS[:-1]]  # 46 columns, older
    rows = [{("ResellerMpnId" if k == "Tier2MpnId" else k): v for k, v in r.items()} for r in rows]
    path = write_csv(tmp_path / "resaved.csv", rows, header=header, delimiter=";", encoding="cp1252", bom=False)
    result = read_recon(path)
    frame = result.frame
    assert (result.delimiter, result.rows_read, result.missing_columns) == (";", 2, ["ProductCategory"])
    assert frame["CustomerName"].iloc[0] == "Müller Büro GmbH"
    assert frame["SkuId"].tolist() == ["0001", "006G"]
    assert frame["MpnId"].iloc[0] == "6034453"
    assert frame["Tier2MpnId"].iloc[0] == "6048879"
    assert frame["UnitPrice"].iloc[0] == Decimal("10.08")
    assert frame["PCToBCExchangeRate"].iloc[0] == Decimal("0.846202666")
    assert frame["Subtotal"].tolist() == [Decimal("112.89"), Decimal("1234.56")]
    assert frame["OrderDate"].iloc[0] == pd.Timestamp("2021-06-20", tz=UTC)
    assert frame["ChargeType"].tolist() == ["addQuantity", "cancelImmediate"]
    assert frame["SubscriptionId"].tolist() == [SUB, SUB]
    assert frame["EffectiveUnitPrice"].iloc[1] == Decimal("-9.408")


def test_bom_and_blank_rows_are_counted_not_dropped_silently(tmp_path: Path) -> None:
    rows = [base_row(), {c: "" for c in INVOICE_RECON_COLUMNS}, base_row(Subtotal="1.00", Total="1.00")]
    path = write_csv(tmp_path / "bom.csv", rows, delimiter=";", bom=True, blank_lines=(3,))
    result = read_recon(path)
    # physical data rows: 1 line, 2 all-empty fields, 3 blank line, 4 line
    assert (result.rows_read, result.rows_skipped, result.skipped_rows) == (2, 2, [2, 3])
    assert result.frame["SourceRow"].tolist() == [1, 4]
    assert result.frame["PartnerId"].iloc[0] == "0e195b37-4574-4539-bc42-0e539b9684c0"
    assert result.frame["Subtotal"].tolist() == [Decimal("112.89"), Decimal("1.00")]


def test_excel_rounded_ids_are_reported(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sci.csv", [base_row(OrderId="1.23457E+11"), base_row()])
    result = read_recon(path)
    assert result.frame["OrderId"].iloc[0] == "1.23457E+11"
    assert len(result.warnings) == 1 and result.warnings[0].startswith("OrderId: 1 value(s) look like numbers")


def test_total_and_total_for_customer_both_present_keeps_canonical(tmp_path: Path) -> None:
    row = base_row()
    row["TotalForCustomer"] = "999.99"
    path = write_csv(tmp_path / "both.csv", [row])
    result = read_recon(path)
    assert result.frame["Total"].iloc[0] == Decimal("112.89")
    assert result.extra_columns == ["TotalForCustomer"]
    assert result.frame["TotalForCustomer"].iloc[0] == "999.99"


# ---------------------------------------------------------------------------------------------------- errors


def test_bad_number_names_file_row_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [base_row(), base_row(), base_row(UnitPrice="ten")])
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    err = info.value
    assert (err.row, err.column, err.expected, err.value) == (3, "UnitPrice", "a decimal number", "ten")
    assert str(err).startswith(f"{path}, row 3, column 'UnitPrice': expected a decimal number, got 'ten'")


def test_bad_number_after_blank_row_keeps_source_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad2.csv", [base_row(), base_row(Subtotal="1O.00")], blank_lines=(2,))
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    assert (info.value.row, info.value.column) == (3, "Subtotal")


def test_money_columns_are_exact_arrow_decimals_and_refuse_to_drop_digits(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "digits.csv", [base_row(EffectiveUnitPrice="0.123456789012345")])
    frame = read_recon(path).frame
    assert all(frame[c].dtype == MONEY for c in ("UnitPrice", "Subtotal", "EffectiveUnitPrice", "PCToBCExchangeRate"))
    assert frame["EffectiveUnitPrice"].iloc[0] == Decimal("0.123456789012345")  # 15 places: the most MONEY holds
    path = write_csv(tmp_path / "more.csv", [base_row(), base_row(EffectiveUnitPrice="0.1234567890123456")])
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    assert (info.value.row, info.value.column, info.value.value) == (2, "EffectiveUnitPrice", "0.1234567890123456")


def test_bad_date(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "date.csv", [base_row(ChargeEndDate="13/45/2021")])
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    assert (info.value.row, info.value.column) == (1, "ChargeEndDate")
    assert info.value.expected.startswith("a date as M/D/YYYY")


def test_wrong_field_count(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "short.csv", [base_row(), base_row()])
    text = path.read_text().splitlines()
    text[2] = ",".join(text[2].split(",")[:20])
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    assert info.value.row == 2
    assert "47 fields separated by ','" in info.value.expected


def test_missing_required_column(tmp_path: Path) -> None:
    row = base_row()
    del row["Subtotal"]
    path = write_csv(tmp_path / "nosub.csv", [row])
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    assert (info.value.row, info.value.column) == (0, "Subtotal")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(InputFileError, match="expected a header row"):
        read_recon(tmp_path / "empty.csv")
    with pytest.raises(InputFileError, match="expected an existing file"):
        read_recon(tmp_path / "nope.csv")


def test_header_only_gives_empty_typed_frame(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text(",".join(INVOICE_RECON_COLUMNS) + "\n")
    result = read_recon(tmp_path / "h.csv")
    assert (result.rows_read, len(result.frame)) == (0, 0)
    assert str(result.frame["OrderDate"].dtype) == "datetime64[ns, UTC]"


# ---------------------------------------------------------------------------------------------------- JSON


def api_item(**overrides: object) -> dict[str, object]:
    item: dict[str, object] = {
        "partnerId": "0e195b37-4574-4539-bc42-0e539b9684c0",
        "customerId": "196E2273-1B5A-4B8A-9C7D-0E1F2A3B4C5D",
        "customerName": "Contoso",
        "invoiceNumber": "G002297372",
        "mpnId": 6034453,
        "resellerMpnId": "0",
        "orderId": "6dc5c039750a",
        "orderDate": "2021-06-20T00:00:00.0000000Z",
        "productId": "CFQ7TTC0LH18",
        "skuId": "0001",
        "chargeType": "AddQuantity",
        "unitPrice": "10.08",
        "quantity": 12,
        "subtotal": 112.89,
        "taxTotal": "0",
        "totalForCustomer": "112.89",
        "currency": "USD",
        "subscriptionId": SUB,
        "chargeStartDate": "2021-06-20T00:00:00Z",
        "chargeEndDate": "2021-07-17T00:00:00Z",
        "effectiveUnitPrice": 9.408,
        "billableQuantity": "12",
        "pricingCurrency": "USD",
        "pcToBCExchangeRate": 1,
        "pcToBCExchangeRateDate": "2021-06-01T00:00:00",
        "productQualifiers": ["Add-on", "Trial"],
        "invoiceLineItemType": "billing_line_items",
        "billingProvider": "one_time",
        "attributes": {"objectType": "OneTimeInvoiceLineItem"},
    }
    item.update(overrides)
    return item


def test_multi_member_gzip_json_lines_streamed(tmp_path: Path) -> None:
    items = [api_item(subtotal=f"{i}.10", total=f"{i}.10") for i in range(3)]
    for item in items:
        del item["totalForCustomer"]
    first = "\n".join(json.dumps(item) for item in items) + "\n"
    second = json.dumps(api_item(subtotal="100.01", totalForCustomer="100.01", chargeType="cycleCharge")) + "\n\n"
    path = tmp_path / "part-00049-b016029b.c000.json.gz"
    path.write_bytes(gzip.compress(first.encode()) + gzip.compress(second.encode()))
    progress: list[tuple[int, int]] = []
    result = read_recon(path, progress=lambda done, total: progress.append((done, total)), chunk_rows=2)
    frame = result.frame
    assert (result.format, result.rows_read, result.rows_skipped, result.skipped_rows) == ("jsonl+gzip", 4, 1, [5])
    assert frame["Subtotal"].tolist() == [Decimal("0.10"), Decimal("1.10"), Decimal("2.10"), Decimal("100.01")]
    assert frame["Total"].tolist() == [Decimal("0.10"), Decimal("1.10"), Decimal("2.10"), Decimal("100.01")]
    assert frame["ChargeType"].tolist() == ["addQuantity"] * 3 + ["cycleCharge"]
    assert frame["CustomerId"].iloc[0] == "196e2273-1b5a-4b8a-9c7d-0e1f2a3b4c5d"
    assert frame["MpnId"].iloc[0] == "6034453" and frame["Tier2MpnId"].iloc[0] == "0"
    assert frame["EffectiveUnitPrice"].iloc[0] == Decimal("9.408")
    assert frame["Quantity"].iloc[0] == Decimal("12")
    assert frame["ProductQualifiers"].iloc[0] == '["AddOn","Trial"]'
    assert frame["OrderDate"].iloc[0] == pd.Timestamp("2021-06-20", tz=UTC)
    assert frame["PCToBCExchangeRateDate"].iloc[0] == pd.Timestamp("2021-06-01", tz=UTC)
    assert frame["SourceRow"].tolist() == [1, 2, 3, 4]
    assert "invoiceLineItemType" in result.extra_columns
    size = path.stat().st_size
    assert progress[-1] == (size, size)


def test_json_envelope_of_a_saved_api_response(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_text(json.dumps({"totalCount": 2, "items": [api_item(), api_item(unitPrice=16)], "links": {}}))
    result = read_recon(path)
    assert (result.format, result.rows_read) == ("json", 2)
    assert result.frame["UnitPrice"].tolist() == [Decimal("10.08"), Decimal("16")]


def test_bad_json_line_names_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(api_item()) + "\n{not json\n")
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    assert info.value.row == 2 and info.value.expected == "one JSON object per line"


def test_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress((json.dumps(api_item()) + "\n").encode() * 50)[:-30])
    with pytest.raises(InputFileError, match="a complete gzip stream"):
        read_recon(path)


def test_api_records_to_frame() -> None:
    result = recon_lines_to_frame(iter([api_item(), api_item(chargeType="new", unitPrice="bad")][:1]))
    assert (result.format, result.source, result.rows_read) == ("api", "API", 1)
    assert result.frame["Total"].iloc[0] == Decimal("112.89")
    with pytest.raises(InputFileError) as info:
        recon_lines_to_frame([api_item(), api_item(unitPrice="bad")])
    assert (info.value.path, info.value.row, info.value.column) == ("API", 2, "UnitPrice")


# ---------------------------------------------------------------------------------------------------- daily


def daily_row(**overrides: str) -> dict[str, str]:
    row = {c: "" for c in DAILY_USAGE_COLUMNS}
    row.update(
        PartnerId="0e195b37-4574-4539-bc42-0e539b9684c0", CustomerId="196e2273-1b5a-4b8a-9c7d-0e1f2a3b4c5d",
        CustomerName="Contoso", ProductId="DZH318Z0BNZ5", SkuId="006G", SubscriptionId=SUB,
        SubscriptionDescription="Azure plan", ChargeStartDate="6/1/2021", ChargeEndDate="6/30/2021",
        UsageDate="6/18/2021", MeterCategory="Virtual Machines", MeterId="9cc1e1c8-b5f6-4a6f-a4e1-1d3a4d6b0f11",
        Unit="1 Hour", ChargeType="new", UnitPrice="0.192", Quantity="24", UnitType="1 Hour",
        BillingPreTaxTotal="3.91", BillingCurrency="USD", PricingPreTaxTotal="3.91", PricingCurrency="USD",
        AdditionalInfo='{"ServiceType": "Standard_D3_v2"}', EffectiveUnitPrice="0.1632", PCToBCExchangeRate="1",
        EntitlementId="A1B2C3D4-0000-4000-8000-000000000001", PartnerEarnedCreditPercentage="15",
        CreditPercentage="0", CreditType="Partner Earned Credit Applied",
    )  # fmt: skip
    row.update(overrides)
    return row


def test_daily_rated_usage_csv_and_api_fraction_rates(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "daily.csv", [daily_row(), daily_row(PartnerEarnedCreditPercentage="15%")])
    result = read_recon(path)
    assert (result.kind, result.rows_read, result.missing_columns) == ("daily", 2, [])
    assert list(result.frame.columns[:55]) == list(DAILY_USAGE_COLUMNS)
    assert result.frame["PartnerEarnedCreditPercentage"].tolist() == [Decimal("15"), Decimal("15")]
    assert result.frame["EntitlementId"].iloc[0] == "a1b2c3d4-0000-4000-8000-000000000001"
    assert result.frame["AdditionalInfo"].iloc[0] == '{"ServiceType":"Standard_D3_v2"}'
    api = {
        "customerId": "c", "subscriptionId": SUB, "usageDate": "2021-06-18T00:00:00Z", "quantity": 24,
        "billingPreTaxTotal": "3.91", "billingCurrency": "usd", "unitOfMeasure": "1 Hour",
        "rateOfPartnerEarnedCredit": 0.15, "rateOfCredit": "1", "hasPartnerEarnedCredit": True,
        "meterId": "m", "resourceUri": "/subscriptions/x",
    }  # fmt: skip
    items = recon_lines_to_frame([api], kind="daily").frame
    assert items["PartnerEarnedCreditPercentage"].iloc[0] == Decimal("15.00")
    assert items["CreditPercentage"].iloc[0] == Decimal("100")
    assert items["Unit"].iloc[0] == "1 Hour" and items["BillingCurrency"].iloc[0] == "USD"
    assert items["ResourceURI"].iloc[0] == "/subscriptions/x"


def test_several_files_concatenate_with_source(tmp_path: Path) -> None:
    a = write_csv(tmp_path / "a.csv", [base_row()])
    b = write_csv(tmp_path / "b.csv", [base_row(), base_row()], delimiter=";")
    frame, reports = read_recon_files([a, b])
    assert [r.rows_read for r in reports] == [1, 2]
    assert frame["SourceFile"].astype(str).tolist() == ["a.csv", "b.csv", "b.csv"]
    assert frame["SourceRow"].tolist() == [1, 1, 2]
    daily = write_csv(tmp_path / "d.csv", [daily_row()])
    with pytest.raises(InputFileError, match="expected a invoice reconciliation file"):
        read_recon_files([a, daily])


def test_frames_read_one_by_one_concatenate_like_read_recon_files(tmp_path: Path) -> None:
    """The CLI and the export reader read file by file (progress, blobs) and join the frames with this rule."""
    a = write_csv(tmp_path / "a.csv", [base_row()])
    b = write_csv(tmp_path / "b.csv", [base_row(), base_row()])
    one, two = read_recon(a).frame, read_recon(b).frame
    joined = concat_recon_frames([one, two])
    assert isinstance(joined["SourceFile"].dtype, pd.CategoricalDtype)
    assert joined["SourceFile"].astype(str).tolist() == ["a.csv", "b.csv", "b.csv"]
    assert joined.index.tolist() == [0, 1, 2] and joined["SourceRow"].tolist() == [1, 1, 2]
    pd.testing.assert_frame_equal(joined, read_recon_files([a, b])[0])
    assert concat_recon_frames([one]) is one
    empty = concat_recon_frames([], "daily")
    assert len(empty) == 0 and list(empty.columns[:-2]) == list(DAILY_USAGE_COLUMNS)
    assert empty["UsageDate"].dtype == "datetime64[ns, UTC]"


def test_typed_values_are_trimmed_and_cased_with_or_without_non_ascii_text(tmp_path: Path) -> None:
    """The ASCII fast paths and the Unicode ones give the same values (the reader picks one per column chunk)."""
    upper = SUB.upper()
    ascii_rows = [base_row(SubscriptionId=f"  {upper}\t", Currency=" usd ", SkuId=" 1 ", ChargeType=" cycleCharge ")]
    unicode_rows = [base_row(SubscriptionId=f"\u00a0{{{upper}}} ", Currency="\u2003usd", SkuId="1\u00a0",
                             ChargeType="cycleCharge", CustomerCountry="dé")]  # fmt: skip
    for name, rows in (("ascii.csv", ascii_rows), ("unicode.csv", unicode_rows)):
        frame = read_recon(write_csv(tmp_path / name, rows)).frame
        assert frame.loc[0, ["SubscriptionId", "Currency", "SkuId", "ChargeType"]].tolist() == [
            SUB, "USD", "0001", "cycleCharge"
        ], name
    assert read_recon(tmp_path / "unicode.csv").frame.loc[0, "CustomerCountry"] == "DÉ"


def test_whitespace_only_typed_values_become_na_but_free_text_is_kept(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "blank.csv", [base_row(PromotionId="   ", SkuName="  Basic  ", TaxTotal=" ")])
    frame = read_recon(path).frame
    assert pd.isna(frame.loc[0, "PromotionId"]) and pd.isna(frame.loc[0, "TaxTotal"])
    assert frame.loc[0, "SkuName"] == "  Basic  "


def test_text_that_is_not_utf8_past_the_sniffed_head_names_its_row_and_column(tmp_path: Path) -> None:
    """The CSV reader does not check UTF-8 itself; each chunk's columns are screened (an ASCII column by one maximum,
    the others validated), so a bad byte after valid non-ASCII text is still refused, with its row and column."""
    rows = [base_row(CustomerName="Müller GmbH") for _ in range(400)]
    rows[349] = base_row(CustomerName="BADBYTE")
    path = write_csv(tmp_path / "mixed.csv", rows)
    data = path.read_bytes()
    assert data.index(b"BADBYTE") > 1 << 16  # beyond the head the encoding is guessed from (UTF-8 there)
    path.write_bytes(data.replace(b"BADBYTE", b"Bad \xff name"))
    with pytest.raises(InputFileError) as info:
        read_recon(path, chunk_rows=128)
    assert (info.value.row, info.value.column, info.value.expected) == (350, "CustomerName", "UTF-8 text")
    assert read_recon(write_csv(tmp_path / "fine.csv", rows[:3])).frame["CustomerName"].tolist() == ["Müller GmbH"] * 3


def test_the_first_bad_column_in_file_order_is_reported(tmp_path: Path) -> None:
    """Columns are converted side by side; the error is still the one a column-by-column reader would give."""
    path = write_csv(tmp_path / "two.csv", [base_row(Total="x"), base_row(UnitPrice="y")])
    with pytest.raises(InputFileError) as info:
        read_recon(path)
    assert (info.value.row, info.value.column) == (2, "UnitPrice")  # UnitPrice comes before Total in the file


def test_engine_sums_in_cents_keep_two_places_as_text() -> None:
    from cspkit.billing.recon_readers import money_text

    cents = pd.Series(pd.array([Decimal("95.70"), Decimal("0.00")], dtype=pd.ArrowDtype(pa.decimal128(38, 2))))
    assert money_text(cents).tolist() == ["95.70", "0.00"]
    money = pd.Series(pd.array([Decimal("95.70"), Decimal("0")], dtype=MONEY))
    assert money_text(money).tolist() == ["95.7", "0"]


def test_money_text_never_uses_scientific_notation() -> None:
    from cspkit.billing.recon_readers import money_text

    money = pd.Series(pd.array([Decimal("0"), Decimal("0.0000001"), Decimal("-0.000000123"), None, Decimal("12.5")],
                               dtype=MONEY))  # fmt: skip
    assert money_text(money).tolist()[:3] + money_text(money).tolist()[4:] == ["0", "0.0000001", "-0.000000123", "12.5"]
    assert pd.isna(money_text(money).iloc[3])


def test_a_bad_value_is_reported_before_a_later_broken_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks are converted while later ones are parsed; errors still come in file order."""
    import time

    import cspkit.billing.recon_text as csv_reading

    convert = csv_reading._flush

    def slow_flush(*args: object) -> None:  # the parser reaches the broken row while the first chunk converts
        time.sleep(0.5)
        convert(*args)

    monkeypatch.setattr(csv_reading, "_flush", slow_flush)

    def broken_file(name: str, unit_price: str) -> Path:
        rows = [base_row() for _ in range(4000)]  # ≈ 2.4 MB: 1 MB blocks of ~1,700 rows; the broken row in the second
        rows[4]["UnitPrice"] = unit_price
        text = write_csv(tmp_path / name, rows).read_text(encoding="utf-8").splitlines()
        text[2000] += ",one field too many"
        (tmp_path / name).write_text("\r\n".join(text) + "\r\n", encoding="utf-8")
        return tmp_path / name

    with pytest.raises(InputFileError) as info:
        read_recon(broken_file("late.csv", "ten"), chunk_rows=100)
    assert (info.value.row, info.value.column) == (5, "UnitPrice")
    with pytest.raises(InputFileError) as info:
        read_recon(broken_file("late2.csv", "10.08"), chunk_rows=100)
    assert info.value.row == 2000


# ---------------------------------------------------------------------------------------- files of another kind

LEGACY_LICENSE_HEADER = [
    "PartnerId", "CustomerId", "CustomerName", "MpnId", "Tier2MpnId", "OrderId", "SubscriptionId",
    "SyndicationPartnerSubscriptionNumber", "OfferId", "DurableOfferId", "OfferName", "SubscriptionStartDate",
    "SubscriptionEndDate", "ChargeStartDate", "ChargeEndDate", "ChargeType", "UnitPrice", "Quantity", "Amount",
    "TotalOtherDiscount", "Subtotal", "Tax", "TotalForCustomer", "Currency", "DomainName", "SubscriptionName",
    "SubscriptionDescription", "BillingCycleType",
]  # fmt: skip  (billing-formats.md §1.3, 28 columns)


def test_a_daily_usage_file_read_as_an_invoice_file_is_named_for_what_it_is(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "usage.csv", [daily_row()])
    with pytest.raises(InputFileError, match="but this is a daily rated usage file") as info:
        read_recon(path, kind="invoice")
    assert info.value.row == 0 and "invoice reconciliation file of the same invoice" in (info.value.hint or "")
    assert read_recon(path).kind == "daily"  # auto still reads it as what it is


def test_a_legacy_license_based_file_is_named_with_what_to_do_instead(tmp_path: Path) -> None:
    row = dict.fromkeys(LEGACY_LICENSE_HEADER, "")
    row.update(CustomerId=SUB, ChargeType="Cycle fee", UnitPrice="6.82", Quantity="1", Amount="6.82",
               Currency="USD", SyndicationPartnerSubscriptionNumber=SUB, BillingCycleType="Monthly")  # fmt: skip
    path = write_csv(tmp_path / "legacy.csv", [row], header=LEGACY_LICENSE_HEADER)
    for kind in ("invoice", "auto"):
        with pytest.raises(InputFileError, match="legacy license-based reconciliation file") as info:
            read_recon(path, kind=kind)
        assert "new-commerce invoice" in (info.value.hint or "")


def test_daily_usage_values_cspkit_knows_and_does_not(tmp_path: Path) -> None:
    rows = [daily_row(ChargeType="Usage"),
            daily_row(ChargeType="USAGE", CreditType="Credit Not Applied", PartnerEarnedCreditPercentage="")]
    known = read_recon(write_csv(tmp_path / "known.csv", rows))
    assert known.frame["ChargeType"].tolist() == ["usage", "usage"] and known.warnings == []
    odd = read_recon(write_csv(tmp_path / "odd.csv", [daily_row(CreditType="Mystery Credit")]))
    assert odd.warnings == [
        "CreditType: value(s) cspkit does not know: 'Mystery Credit' (known: Azure Credit Applied, Credit Not "
        "Applied, Partner Earned Credit Applied)"
    ]


def test_may_contain_needs_the_needle_itself_not_only_its_bytes() -> None:
    from cspkit.billing.recon_values import may_contain

    ids = pa.array(["6034453", "7.1", "20", None, "abc"], pa.large_string())
    assert not may_contain(ids, b".0")  # '.' and '0' occur, never side by side
    assert may_contain(pa.array(["6034453.0", None], pa.large_string()), b".0")
    assert may_contain(pa.array(["x", "1.23457E+11"], pa.string()), b"e+", b"E+")  # any needle
    assert not may_contain(pa.array(["deadbeef", "+1"], pa.string()), b"E+", b"e+")  # 'e' and '+' apart
    assert not may_contain(pa.array([], pa.string()), b".0")

"""Price list reader quirks and the price-in-force rule (billing-formats.md §1.5)."""

from __future__ import annotations

import zipfile
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cspkit.billing.pricelist import COLUMNS, lookup_prices, price_in_force, read_price_list
from cspkit.errors import InputFileError

REPO = Path(__file__).resolve().parents[2]
HEADER = (
    '"ProductTitle","ProductId","SkuId","SkuTitle","Publisher","SkuDescription","UnitOfMeasure","TermDuration",'
    '"BillingPlan","Market","Currency","UnitPrice","PricingTierRangeMin","PricingTierRangeMax",'
    '"EffectiveStartDate","EffectiveEndDate","Tags","ERP Price"'
)
# The documented sample row (API doc), a second price for the same SKU with ISO dates and the open end,
# and a free-trial row for the same SKU.
DOC_ROWS = [
    '"Advanced Communications","CFQ7TTC0HDK0","0001","Advanced Communications","Microsoft Corporation",'
    '"Advanced meetings, calling","","P1Y","Annual","US","USD","115.2","","","2/1/2019 12:00:00 AM",'
    '"2/4/2021 8:35:31 PM","License","144"',
    '"Advanced Communications","CFQ7TTC0HDK0","1","Advanced Communications","Microsoft Corporation",'
    '"Advanced meetings, calling","","p1y","annual","US","usd","120.00","","","2021-02-04T20:35:31.1234567Z",'
    '"9999-11-30T23:59:59.9999999Z","License","150"',
    '"Advanced Communications","CFQ7TTC0HDK0","0001","Advanced Communications","Microsoft Corporation",'
    '"Trial","","P1M","None","US","USD","0","","","2/1/2019 12:00:00 AM","11/30/9999 23:59","License","0"',
]


def write(tmp_path: Path, lines: list[str], name: str = "pl.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\r\n".join([header, *lines]) + "\r\n", encoding="utf-8")
    return path


@pytest.fixture
def doc_file(tmp_path: Path) -> Path:
    return write(tmp_path, DOC_ROWS)


def test_columns_types_and_documented_values(doc_file: Path) -> None:
    frame = read_price_list(doc_file)
    assert list(frame.columns) == list(COLUMNS)
    first = frame.iloc[0]
    assert first["ProductId"] == "CFQ7TTC0HDK0"
    assert first["SkuDescription"] == "Advanced meetings, calling"
    assert first["UnitPrice"] == Decimal("115.2") and isinstance(first["UnitPrice"], Decimal)
    assert first["ERPPrice"] == Decimal("144")
    assert first["EffectiveStartDate"] == pd.Timestamp("2019-02-01T00:00:00Z")
    assert first["EffectiveEndDate"] == pd.Timestamp("2021-02-04T20:35:31Z")
    assert str(frame["EffectiveStartDate"].dtype) == "datetime64[ns, UTC]"
    assert frame["UnitPrice"].dtype == object
    assert frame["PricingTierRangeMin"].tolist() == [None, None, None]
    assert frame["Segment"].isna().all() and frame["EndOfSaleDate"].isna().all()


def test_excel_mangled_sku_id_and_case_are_repaired(doc_file: Path) -> None:
    frame = read_price_list(doc_file)
    assert frame["SkuId"].tolist() == ["0001", "0001", "0001"]
    second = frame.iloc[1]
    assert (second["TermDuration"], second["BillingPlan"], second["Currency"]) == ("P1Y", "Annual", "USD")


def test_iso_dates_keep_seven_fraction_digits_and_open_end_is_nat(doc_file: Path) -> None:
    frame = read_price_list(doc_file)
    assert frame.loc[1, "EffectiveStartDate"] == pd.Timestamp("2021-02-04T20:35:31.1234567Z")
    assert pd.isna(frame.loc[1, "EffectiveEndDate"])  # 9999-11-30T23:59:59.9999999Z
    assert pd.isna(frame.loc[2, "EffectiveEndDate"])  # 11/30/9999 23:59


def test_free_trial_row_next_to_paid_row_is_flagged(doc_file: Path) -> None:
    frame = read_price_list(doc_file)
    assert frame["IsFreeTrial"].tolist() == [False, False, True]


def test_zero_price_without_paid_row_or_trial_tag_is_not_a_trial(tmp_path: Path) -> None:
    row = (
        '"Free Thing","CFQ7TTC0FREE","0001","Free","Microsoft Corporation","","","P1M","Monthly","US","USD",'
        '"0.00","","","1/1/2026","","License","0"'
    )
    tagged = row.replace("CFQ7TTC0FREE", "CFQ7TTC0TRYY").replace('"License"', '"License; Trial"')
    frame = read_price_list(write(tmp_path, [row, tagged]))
    assert frame["IsFreeTrial"].tolist() == [False, True]
    assert pd.isna(frame.loc[0, "EffectiveEndDate"])  # blank end = open


def test_us_date_variants(tmp_path: Path) -> None:
    base = DOC_ROWS[0]
    lines = [
        base.replace('"2/1/2019 12:00:00 AM"', f'"{text}"')
        for text in ("2/1/2023 0:00", "2/1/2023", "12/31/2023 11:59:59 PM", "2/1/2023 13:05:09")
    ]
    frame = read_price_list(write(tmp_path, lines))
    assert frame["EffectiveStartDate"].tolist() == [
        pd.Timestamp("2023-02-01T00:00:00Z"),
        pd.Timestamp("2023-02-01T00:00:00Z"),
        pd.Timestamp("2023-12-31T23:59:59Z"),
        pd.Timestamp("2023-02-01T13:05:09Z"),
    ]


def test_preview_file_end_of_sale_and_segment(tmp_path: Path) -> None:
    header = HEADER.replace('"Tags"', '"EndofSaleDate","Tags"') + ',"Segment"'
    row = DOC_ROWS[0].replace('"License"', '"3/31/2027 12:00:00 AM","License"') + ',"Education"'
    frame = read_price_list(write(tmp_path, [row], header=header))
    assert frame.loc[0, "EndOfSaleDate"] == pd.Timestamp("2027-03-31T00:00:00Z")
    assert frame.loc[0, "Segment"] == "Education"
    assert frame.loc[0, "Tags"] == "License"
    assert frame.loc[0, "ERPPrice"] == Decimal("144")


def test_zipped_csv_as_the_price_sheet_api_returns_it(tmp_path: Path, doc_file: Path) -> None:
    archive = tmp_path / "sheet.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as handle:
        handle.write(doc_file, "pricesheet_US.csv")
    frame = read_price_list(archive)
    assert frame["UnitPrice"].tolist() == [Decimal("115.2"), Decimal("120.00"), Decimal("0")]


def test_xlsx_with_numeric_sku_and_excel_dates(tmp_path: Path, doc_file: Path) -> None:
    raw = pd.read_csv(doc_file, dtype=str, keep_default_na=False)
    raw["SkuId"] = [1, 1, 1]  # Excel stores it as a number
    raw["UnitPrice"] = [115.2, 120.0, 0.0]
    raw["EffectiveStartDate"] = pd.to_datetime(["2019-02-01", "2021-02-04 20:35:31", "2019-02-01"], format="ISO8601")
    path = tmp_path / "pl.xlsx"
    raw.to_excel(path, index=False, engine="xlsxwriter")
    frame = read_price_list(path)
    assert frame["SkuId"].tolist() == ["0001", "0001", "0001"]
    assert frame["UnitPrice"].tolist() == [Decimal("115.2"), Decimal("120"), Decimal("0")]
    assert frame.loc[1, "EffectiveStartDate"] == pd.Timestamp("2021-02-04T20:35:31Z")
    assert frame["IsFreeTrial"].tolist() == [False, False, True]


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    header = HEADER.replace(",", ";")
    row = DOC_ROWS[0].replace('","', '";"').replace('"115.2"', '"115,2"')
    frame = read_price_list(write(tmp_path, [row], header=header))
    assert frame.loc[0, "UnitPrice"] == Decimal("115.2")
    assert frame.loc[0, "SkuDescription"] == "Advanced meetings, calling"


@pytest.mark.parametrize(
    ("old", "new", "row", "column", "expected"),
    [
        ('"115.2"', '"abc"', 1, "UnitPrice", "a decimal number"),
        ('"115.2"', '""', 1, "UnitPrice", "a price (decimal number)"),
        ('"2/1/2019 12:00:00 AM"', '"31.01.2019"', 1, "EffectiveStartDate", "a date as M/D/YYYY"),
        ('"2/1/2019 12:00:00 AM"', '"13/45/2019"', 1, "EffectiveStartDate", "a valid date"),
        ('"Annual"', '"Weekly"', 1, "BillingPlan", "Monthly, Annual, Triennial or None"),
        ('"P1Y"', '"1 year"', 1, "TermDuration", "an ISO 8601 term duration"),
    ],
)
def test_malformed_values_name_file_row_and_column(
    tmp_path: Path, old: str, new: str, row: int, column: str, expected: str
) -> None:
    path = write(tmp_path, [DOC_ROWS[1], DOC_ROWS[0].replace(old, new)])
    with pytest.raises(InputFileError) as info:
        read_price_list(path)
    error = info.value
    assert (error.path, error.row, error.column) == (str(path), row + 1, column)
    assert expected in error.expected
    assert str(path) in str(error) and f"row {row + 1}" in str(error)


def test_missing_column_and_empty_and_missing_file(tmp_path: Path) -> None:
    no_price = write(tmp_path, [], header=HEADER.replace('"UnitPrice",', ""), name="a.csv")
    with pytest.raises(InputFileError) as info:
        read_price_list(no_price)
    assert (info.value.row, info.value.column) == (0, "UnitPrice")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        read_price_list(empty)
    with pytest.raises(InputFileError, match="existing"):
        read_price_list(tmp_path / "nope.csv")


def test_ragged_row_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, [DOC_ROWS[0], DOC_ROWS[1] + ',"extra","fields"'])
    with pytest.raises(InputFileError) as info:
        read_price_list(path)
    assert info.value.row == 2


# --------------------------------------------------------------------------------------------- price in force


def frame_from(rows: list[tuple[str, str, str | None, bool]]) -> pd.DataFrame:
    """(price, start, end, trial) rows for one key."""
    return pd.DataFrame(
        {
            "ProductId": "CFQ7TTC0LFLZ",
            "SkuId": "0002",
            "TermDuration": "P1Y",
            "BillingPlan": "Annual",
            "Currency": "USD",
            "UnitPrice": [Decimal(r[0]) for r in rows],
            "EffectiveStartDate": pd.to_datetime([r[1] for r in rows], utc=True),
            "EffectiveEndDate": pd.to_datetime([r[2] for r in rows], utc=True),
            "IsFreeTrial": [r[3] for r in rows],
        }
    )


PRICES = frame_from(
    [
        ("100", "2020-01-01", None, False),  # open-ended base price
        ("90", "2021-01-01", "2021-06-30T23:59:59", False),  # overlapping promotion: latest start wins
        ("95", "2021-03-01", "2021-03-31T23:59:59", False),  # overlaps the promotion: starts later, wins
        ("0", "2022-01-01", None, True),  # a free trial never counts
    ]
)


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        ("2019-12-31", None),
        ("2020-01-01", Decimal("100")),
        ("2021-02-15", Decimal("90")),
        ("2021-03-15", Decimal("95")),
        ("2021-04-01", Decimal("90")),  # the 95 row ended: back to the promotion, still in force
        ("2021-06-30T23:59:59", Decimal("90")),  # end is inclusive
        ("2021-07-01", Decimal("100")),  # both ended: the base price again
        ("2023-01-01", Decimal("100")),  # the trial row is ignored
    ],
)
def test_price_in_force_rule(on: str, expected: Decimal | None) -> None:
    got = price_in_force(
        PRICES,
        product_id="CFQ7TTC0LFLZ",
        sku_id="2",
        term_duration="p1y",
        billing_plan="annual",
        currency="usd",
        on=on,
    )
    assert got == expected


def test_same_start_later_row_wins_and_unknown_key_is_none() -> None:
    prices = frame_from([("10", "2024-01-01", None, False), ("12", "2024-01-01", None, False)])
    kwargs = dict(product_id="CFQ7TTC0LFLZ", sku_id="0002", term_duration="P1Y", currency="USD", on="2024-05-01")
    assert price_in_force(prices, billing_plan="Annual", **kwargs) == Decimal("12")
    assert price_in_force(prices, billing_plan="Monthly", **kwargs) is None


def test_lookup_prices_vectorised_keeps_query_index() -> None:
    queries = pd.DataFrame(
        {
            "ProductId": ["CFQ7TTC0LFLZ", "CFQ7TTC0LFLZ", "CFQ7TTC0XXXX", "CFQ7TTC0LFLZ"],
            "SkuId": ["0002", "2", "0002", "0002"],
            "TermDuration": ["P1Y"] * 4,
            "BillingPlan": ["Annual"] * 4,
            "Currency": ["USD"] * 4,
            "On": pd.to_datetime(["2021-03-15", "2021-07-01", "2021-03-15", "2021-04-01"], utc=True),
        },
        index=[40, 10, 30, 20],
    )
    result = lookup_prices(PRICES, queries)
    assert result.index.tolist() == [40, 10, 30, 20]
    assert result.tolist() == [Decimal("95"), Decimal("100"), None, Decimal("90")]


def test_sample_files_agree_with_the_seed_catalog() -> None:
    import json

    catalog = json.loads((REPO / "sample_data" / "catalog.json").read_text())
    frame = read_price_list(REPO / "sample_data" / "pricelist_nce_US_202611.csv")
    market = read_price_list(REPO / "sample_data" / "pricelist_marketplace_US_202611.csv")
    both = pd.concat([frame, market], ignore_index=True)
    checked = 0
    for product in catalog["products"]:
        for sku in product["skus"]:
            for term in sku["terms"]:
                got = price_in_force(
                    both,
                    product_id=product["id"],
                    sku_id=sku["id"],
                    term_duration=term["duration"],
                    billing_plan=term["billingCycle"],
                    currency="USD",
                    on="2026-11-15",
                )
                expected = None if sku.get("isTrial") else Decimal(term["prices"]["USD"]["unitPrice"])
                assert got == expected, (product["id"], sku["id"], term)
                checked += 1
    assert checked == len(both)


def test_lookup_price_rows_gives_positions_in_the_price_list_skipping_trials() -> None:
    from cspkit.billing.pricelist import lookup_price_rows

    prices = pd.concat([frame_from([("0", "2019-01-01", None, True)]), PRICES], ignore_index=True)  # trial first
    queries = pd.DataFrame(
        {
            "ProductId": [" cfq7ttc0lflz", "CFQ7TTC0LFLZ", "CFQ7TTC0LFLZ", "CFQ7TTC0LFLZ"],
            "SkuId": ["2", "0002", "0002", "0002"],
            "TermDuration": ["p1y", "P1Y", "P1Y", "P1Y"],
            "BillingPlan": ["annual", "Annual", "Monthly", "Annual"],
            "Currency": ["usd", "USD", "USD", "USD"],
            "On": pd.to_datetime(["2021-03-15", "2019-06-01", "2021-03-15", "2023-01-01"], utc=True),
        }
    )
    rows = lookup_price_rows(prices, queries)
    # row 3 is the 95 promotion; 2019 has only the trial (never counts); no Monthly price; 2023: the base price (row 1)
    assert rows.tolist() == [3, -1, -1, 1]
    assert rows.dtype == "int64"
    # with the caller's key codes (queries 0, 1 and 3 have the same key once normalised) the answer is the same
    assert lookup_price_rows(prices, queries, key_codes=np.array([7, 7, 9, 7])).tolist() == [3, -1, -1, 1]

"""Subscriptions as the reconciliation engine reads them (cspkit.billing.recon_inputs.normalize_subscriptions, Arrow
kernels and one Python call per distinct value) and the totals' text columns (cspkit.billing.engine.totals): the
values of a plain per-row reading, on the documented API sample (../shared, partner-center-api.md §4), the sample
subscriptions file and messy frames; categoricals and Arrow strings instead of Python strings."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from cspkit.billing.engine import totals
from cspkit.billing.engine.relations import subscription_table
from cspkit.billing.reconcile import SUBSCRIPTION_COLUMNS, normalize_subscriptions, reconcile

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / ".." / "shared" / "reference" / "samples"
DATA = ROOT / "sample_data"
TEXTS = ["customer_id", "product_id", "sku_id", "status", "term_duration", "billing_cycle", "currency"]


def _plain(subs: pd.DataFrame) -> list[dict[str, object]]:
    """The rows with None for every missing value (categoricals give NaN, Arrow strings NA)."""
    return [{k: (None if not isinstance(v, (list, D)) and pd.isna(v) else v) for k, v in row.items()}
            for row in subs.astype(object).to_dict("records")]  # fmt: skip


def _by_hand(row: dict[str, str]) -> dict[str, object]:
    """One CSV row read the plain way (partner-center-api.md §4 fields), for comparison."""
    product, sku, _ = row["offer_id"].split(":")
    plan = {"monthly": "Monthly", "annual": "Annual", "none": "None"}[row["billing_cycle"].lower()]
    return {"customer_id": row["customer_id"].strip().lower(), "subscription_id": row["subscription_id"].lower(),
            "product_id": product, "sku_id": sku.zfill(4), "quantity": D(row["quantity"]),
            "status": row["status"].lower(), "term_duration": row["term_duration"].upper(), "billing_cycle": plan,
            "currency": row["currency"].upper()}  # fmt: skip


def test_the_sample_subscriptions_file_reads_as_a_plain_per_row_reading() -> None:
    raw = pd.read_csv(DATA / "recon_subscriptions.csv", dtype=str)
    subs = normalize_subscriptions(raw)
    assert list(subs.columns) == SUBSCRIPTION_COLUMNS
    expected = {}
    for row in raw.fillna("").to_dict("records"):
        expected[row["subscription_id"].lower()] = _by_hand(row)  # the last row of an id wins
    got = [{k: r[k] for k in _by_hand(raw.iloc[0].to_dict())} for r in _plain(subs)]
    assert got == list(expected.values())
    cancelled = raw["cancelled_at"].fillna("") != ""
    assert subs["cancelled_at"].notna().tolist() == cancelled.tolist()
    assert subs["effective_start"].dt.tz is not None


def test_the_documented_api_sample_normalises_with_its_types() -> None:
    path = SAMPLES / "subscriptions_list.json"
    if not path.exists():
        pytest.skip(f"the documented samples are not here ({path}): ../shared is absent")
    items = json.loads(path.read_text())["response"]["body"]["items"]
    subs = normalize_subscriptions([{**item, "customerId": "9A1E3F52-6C0B-4D7E-8F21-3B4C5D6E7F80"} for item in items])
    (row,) = _plain(subs)
    assert {k: row[k] for k in ["customer_id", "subscription_id", "product_id", "sku_id", "quantity", "status",
                                "term_duration", "billing_cycle", "is_trial", "currency"]} == {
        "customer_id": "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80",
        "subscription_id": "924671ba-eab9-45d7-95ed-dbd9477f182b",
        "product_id": "DG7GMGF0FKZV", "sku_id": "0003", "quantity": D("1"), "status": "active",
        "term_duration": "P3Y", "billing_cycle": "Triennial", "is_trial": False, "currency": None,
    }  # fmt: skip
    assert row["created"] == pd.Timestamp("2021-10-15T21:28:19.3058617Z")
    ids = subs["subscription_id"].dtype
    assert isinstance(ids, pd.StringDtype) and ids.storage == "pyarrow"
    assert all(isinstance(subs[c].dtype, pd.CategoricalDtype) for c in TEXTS)
    assert subs["quantity"].dtype == object and subs["is_trial"].dtype == bool


def test_messy_subscriptions_keep_their_rules() -> None:
    frame = pd.DataFrame({
        "CustomerId": [" C1 ", "c1", "", "C2", "c2"],
        "Id": ["S1", "s2", "s3", " ", "S1"],
        "OfferId": ["P1:1:A", "P2::A", None, "P3:0002:A", "P9:7:A"],
        "Quantity": ["5.0", "", "3", "1", "2"],
        "Status": ["Active", "SUSPENDED", "active", "active", " deleted "],
        "BillingCycle": ["monthly", "one_time", "Yearly", "annual", "none"],
        "IsTrial": ["TRUE", "no", None, "1", "false"],
        "Currency": ["usd", "EUR", None, "usd", "Usd"],
    })  # fmt: skip
    subs = normalize_subscriptions(frame)
    rows = [{k: r[k] for k in ["customer_id", "subscription_id", "product_id", "sku_id", "quantity", "status",
                               "billing_cycle", "is_trial", "currency"]} for r in _plain(subs)]  # fmt: skip
    assert rows == [
        {"customer_id": "c1", "subscription_id": "s2", "product_id": "P2", "sku_id": None, "quantity": None,
         "status": "suspended", "billing_cycle": "None", "is_trial": False, "currency": "EUR"},
        {"customer_id": None, "subscription_id": "s3", "product_id": None, "sku_id": None, "quantity": D("3"),
         "status": "active", "billing_cycle": "Annual", "is_trial": False, "currency": None},
        {"customer_id": "c2", "subscription_id": "s1", "product_id": "P9", "sku_id": "0007", "quantity": D("2"),
         "status": "deleted", "billing_cycle": "None", "is_trial": False, "currency": "USD"},
    ]  # fmt: skip  (blank ids dropped, the last S1 wins, Excel's SkuId 7 padded)
    assert list(subs["status"].cat.categories) == ["active", "deleted", "suspended"]
    assert normalize_subscriptions([]).columns.tolist() == SUBSCRIPTION_COLUMNS


def test_the_engine_table_takes_the_categoricals_as_arrow_dictionaries() -> None:
    subs = normalize_subscriptions(pd.read_csv(DATA / "recon_subscriptions.csv", dtype=str))
    table = subscription_table(subs)
    assert pa.types.is_dictionary(table["customer_id"].type)  # codes and categories, not a string per row
    assert table["customer_id"].to_pylist() == subs["customer_id"].astype(object).tolist()
    assert table["subscription_id"].to_pylist() == subs["subscription_id"].tolist()
    assert table["quantity"].type == pa.decimal128(38, 15)
    assert [None if q is None else q.normalize() for q in table["quantity"].to_pylist()] == [
        None if q is None else q.normalize() for q in subs["quantity"]]  # fmt: skip
    assert table["sub_row"].to_pylist() == list(range(len(subs)))


def test_totals_texts_are_categoricals_in_code_point_order_except_the_subscription_id() -> None:
    chunks = pa.chunked_array([pa.array(["b", None, "É"]).dictionary_encode(),
                               pa.array(["a", "b"]).dictionary_encode()])  # fmt: skip
    column = totals.text_column(chunks, "CustomerName")
    assert list(column.cat.categories) == ["a", "b", "É"]
    assert column.astype(object).where(column.notna(), None).tolist() == ["b", None, "É", "a", "b"]
    ids = totals.text_column(pa.chunked_array([pa.array(["s2", None]), pa.array(["s1"])]), "SubscriptionId")
    assert isinstance(ids.dtype, pd.StringDtype) and ids.tolist() == ["s2", pd.NA, "s1"]


def test_totals_streamed_in_small_batches_are_the_same_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    from cspkit.billing.pricelist import read_price_list
    from cspkit.billing.recon_readers import read_recon

    lines = read_recon(DATA / "recon_sample.csv").frame
    inputs = {"subscriptions": pd.read_csv(DATA / "recon_subscriptions.csv", dtype=str),
              "price_list": read_price_list(DATA / "recon_pricelist.csv"), "period": "2026-03"}  # fmt: skip
    whole = reconcile(lines, **inputs)
    monkeypatch.setattr(totals, "BATCH_ROWS", 2)
    batched = reconcile(lines, **inputs)
    for name in ("tieout", "customers", "subscriptions", "charge_types"):
        pd.testing.assert_frame_equal(batched.frames()[name], whole.frames()[name], check_exact=True, obj=name)
    subs = whole.subscriptions
    assert isinstance(subs["SubscriptionId"].dtype, pd.StringDtype)
    assert all(isinstance(subs[c].dtype, pd.CategoricalDtype)
               for c in ["CustomerId", "CustomerName", "ProductId", "SkuId", "SkuName", "Currency",
                         "SubscriptionStatus"])  # fmt: skip
    assert int(subs["Variances"].sum()) == int((whole.variances["SubscriptionId"].notna()
                                                & (whole.variances["Category"] != "missing_charge")).sum())


def _dictionary_frame(frame: pd.DataFrame, arrow: bool) -> pd.DataFrame:
    """Every column but the ids as pandas categoricals (``arrow``: Arrow dictionaries, as ``pyarrow.csv`` with
    dictionary column types reads them), with one category no row uses."""
    out = {}
    for name, column in frame.items():
        if name.lower() in {"id", "subscription_id"}:
            out[name] = column
        elif arrow:
            chunks = [pa.array(part.to_numpy(dtype=object), pa.string(), from_pandas=True).dictionary_encode()
                      for part in (column[:2], column[2:])]
            out[name] = pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(chunks)))
        else:
            categorical = column.astype("category")
            out[name] = categorical.cat.add_categories(["never used"])
    return pd.DataFrame(out)


@pytest.mark.parametrize("arrow", [False, True], ids=["categorical", "arrow-dictionary"])
def test_dictionary_columns_normalise_to_the_same_frame_as_plain_strings(arrow: bool) -> None:
    frame = pd.DataFrame({
        "CustomerId": [" C1 ", "c1", "", "C2", "c2", None],
        "Id": ["S1", "s2", "s3", " ", "S1", "s4"],
        "OfferId": ["P1:1:A", "P2::A", None, "P3:0002:A", "P9:7:A", "P9:7:A"],
        "Quantity": ["5.0", "", "3", "1", "2", "2"],
        "Status": ["Active", "SUSPENDED", "active", "active", " deleted ", "active"],
        "TermDuration": ["p1m", "P1Y", None, "P1M", "P1M", "p1m"],
        "BillingCycle": ["monthly", "one_time", "Yearly", "annual", "none", "monthly"],
        "EffectiveStartDate": ["2026-03-01T00:00:00Z", "", None, "2025-05-27T00:00:00Z", "2026-03-01T00:00:00Z",
                               "not a date"],
        "IsTrial": ["TRUE", "no", None, "1", "false", "true"],
        "Currency": ["usd", "EUR", None, "usd", "Usd", "usd"],
    })  # fmt: skip
    plain = normalize_subscriptions(frame.astype(pd.StringDtype("pyarrow")))
    dictionary = normalize_subscriptions(_dictionary_frame(frame, arrow))
    pd.testing.assert_frame_equal(dictionary, plain, check_exact=True)
    assert "never used" not in list(dictionary["status"].cat.categories)
    assert dictionary["effective_start"].notna().tolist() == [False, False, True, False]  # s2, s3, S1 (last), s4


def test_the_sample_file_read_as_arrow_dictionaries_normalises_as_plain_strings() -> None:
    from pyarrow import csv

    path = DATA / "recon_subscriptions.csv"
    names = pd.read_csv(path, nrows=0).columns
    kinds = {c: pa.string() if c == "subscription_id" else pa.dictionary(pa.int32(), pa.string()) for c in names}
    table = csv.read_csv(path, convert_options=csv.ConvertOptions(column_types=kinds, strings_can_be_null=True))
    read = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    assert isinstance(read["status"].dtype, pd.CategoricalDtype)
    plain = normalize_subscriptions(pd.read_csv(path, dtype=str))
    pd.testing.assert_frame_equal(normalize_subscriptions(read), plain, check_exact=True)


def test_the_facts_keep_three_micro_unit_amounts_and_the_charges_and_refunds_are_summed_from_sub_m() -> None:
    import ibis

    lines = ibis.memtable(pa.table({
        "pos": pa.array([0, 1, 2, 3], pa.int64()), "CustomerId": ["c1", "c1", "c1", "c2"],
        "Subtotal": pa.array([D("10.1234567"), D("-2.5"), None, D("-0.0000009")], pa.decimal128(38, 15)),
        "TaxTotal": pa.array([D("1"), None, D("0.5"), D("0")], pa.decimal128(38, 15)),
        "Total": pa.array([None, D("-2.5"), None, None], pa.decimal128(38, 15)),
    }))  # fmt: skip
    facts = totals.amounts(lines)
    assert [c for c in facts.columns if c.endswith("_m")] == ["sub_m", "tax_m", "total_m"]
    con = ibis.duckdb.connect()
    sql = str(con.compile(facts))
    # micro-units of Subtotal written twice (sub_m, total_m's Subtotal + TaxTotal), 3 scalings each; were 7 times
    assert sql.count('"Subtotal" * 1000000') == 6
    sums = {"charges_m": "Charges", "refunds_m": "Refunds", "sub_m": "Subtotal", "total_m": "Total"}
    stored = con.create_table("facts", facts, temp=True)  # as prepare() stores them (the totals stream SQL)
    got = totals.group_totals(con, stored, ["CustomerId"], sums)
    assert [str(v) for v in got["Charges"]] == ["10.123456", "0.000000"]  # truncated toward zero to micro-units
    assert [str(v) for v in got["Refunds"]] == ["-2.50", "0.00"]  # -0.0000009 is 0 micro-units
    assert [str(v) for v in got["Total"]] == ["9.123456", "0.000000"]  # blank Total: Subtotal + TaxTotal


def test_a_normalised_frame_is_taken_as_it_is_and_a_changed_one_normalised_again() -> None:
    raw = pd.read_csv(DATA / "recon_subscriptions.csv", dtype=str)
    once = normalize_subscriptions(raw)
    assert normalize_subscriptions(once) is once  # no second copy
    pd.testing.assert_frame_equal(normalize_subscriptions(once.copy()), once)
    subset = once[once["quantity"].notna()]
    assert normalize_subscriptions(subset) is subset  # filtered rows keep the mark and the dtypes
    retyped = once.assign(status=once["status"].astype(object).str.upper())  # no longer normalised: done again
    again = normalize_subscriptions(retyped)
    assert again is not retyped
    assert again["status"].astype(object).tolist() == once["status"].astype(object).tolist()
    unmarked = once.copy()
    unmarked.attrs.clear()
    assert normalize_subscriptions(unmarked) is not unmarked


def test_a_repeated_guid_keeps_its_last_row_whatever_the_fingerprint_screen_says() -> None:
    """Uniform-length ids are screened by a fingerprint before Arrow's exact count (recon_inputs._all_distinct): a
    repeated GUID, an id of another length, or a collision of fingerprints must still keep the last row of each id."""
    from cspkit.billing import recon_inputs

    guids = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(2000)]
    rows = [{"customerId": "c", "id": g, "quantity": 1, "status": "active"} for g in guids]
    plain = normalize_subscriptions(rows)
    assert plain["subscription_id"].tolist() == guids
    again = normalize_subscriptions([*rows, {**rows[7], "quantity": 5}])
    assert len(again) == 2000 and again["subscription_id"].tolist() == [*guids[:7], *guids[8:], guids[7]]
    assert again["quantity"].iloc[-1] == D(5)
    mixed = normalize_subscriptions([*rows, {**rows[0], "id": "short-id"}, {**rows[3], "quantity": 9}])
    assert len(mixed) == 2001 and mixed.set_index("subscription_id").loc[guids[3], "quantity"] == D(9)
    ids = pa.array(guids, pa.large_string())
    assert recon_inputs._all_distinct(ids) and recon_inputs._all_distinct(ids.slice(5))
    assert not recon_inputs._all_distinct(pa.concat_arrays([ids.slice(10), ids.slice(15, 1)]))
    assert not recon_inputs._all_distinct(pa.array(["ab", "cd", "ab"]))  # same length: screened, then exact
    original = recon_inputs._MIX.copy()
    try:
        recon_inputs._MIX[:] = 0  # every fingerprint collides: the exact count decides
        assert recon_inputs._all_distinct(ids)
        assert normalize_subscriptions([*rows, {**rows[7], "quantity": 5}])["subscription_id"].tolist() == \
            again["subscription_id"].tolist()  # fmt: skip
    finally:
        recon_inputs._MIX[:] = original

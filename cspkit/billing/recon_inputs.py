"""Subscriptions and invoice totals as the reconciliation engine reads them: ledger/API records or frames in any
name style → :data:`SUBSCRIPTION_COLUMNS`; invoice totals → InvoiceNumber × Currency × InvoiceTotal.

Split from :mod:`cspkit.billing.reconcile` (which re-exports :func:`normalize_subscriptions` and
:func:`normalize_invoices`); field names follow partner-center-api.md §4 (subscriptions) and §6.1 (invoices).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cspkit.billing.recon_columns import normalize_header
from cspkit.billing.recon_readers import _lower, _upper
from cspkit.billing.recon_shared import arrow as _arrow
from cspkit.billing.recon_shared import arrow_text as _arrow_text
from cspkit.billing.recon_shared import is_arrow_text as _is_arrow_text
from cspkit.billing.recon_shared import to_utc as _to_utc
from cspkit.billing.recon_values import STRING, text_bytes

__all__ = ["SUBSCRIPTION_COLUMNS", "normalize_invoices", "normalize_subscriptions"]


def _o(values: Any) -> pd.Series:
    """An object-dtype Series (pandas 3 would otherwise convert string arrays to Arrow strings, slowly)."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object, copy=False)


_SUB_ALIASES = {
    "customerid": "customer_id", "customertenantid": "customer_id", "customer": "customer_id",
    "subscriptionid": "subscription_id", "id": "subscription_id",
    "offerid": "offer_id", "catalogitemid": "offer_id",
    "productid": "product_id", "skuid": "sku_id", "quantity": "quantity", "status": "status",
    "termduration": "term_duration", "billingcycle": "billing_cycle", "billingplan": "billing_cycle",
    "created": "created", "creationdate": "created", "createdat": "created", "createddate": "created",
    "effectivestart": "effective_start", "effectivestartdate": "effective_start",
    "cancellationdate": "cancelled_at", "cancelledat": "cancelled_at", "canceledat": "cancelled_at",
    "deleteddate": "cancelled_at", "deletedat": "cancelled_at", "cancelled": "cancelled_at",
    "currency": "currency", "istrial": "is_trial",
}  # fmt: skip
SUBSCRIPTION_COLUMNS = [
    "customer_id", "subscription_id", "product_id", "sku_id", "quantity", "status", "term_duration",
    "billing_cycle", "created", "effective_start", "cancelled_at", "is_trial", "currency",
]  # fmt: skip


def _records(data: Any) -> pd.DataFrame:
    if data is None:
        return pd.DataFrame()
    if isinstance(data, pd.DataFrame):
        return data
    rows = []
    for item in data:
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        elif hasattr(item, "_asdict"):
            item = item._asdict()
        elif not isinstance(item, Mapping):
            item = dict(vars(item))
        rows.append(dict(item))
    return pd.DataFrame(rows)


def _text(picked: dict[str, pd.Series], name: str, n: int, transform: Any = None) -> pa.Array:
    """A picked text column as Arrow strings, trimmed, ``transform``-ed, blanks as nulls (all null when absent)."""
    return _arrow_text(picked[name], transform) if name in picked else pa.nulls(n, pa.large_string())


def _codes(arr: pa.Array) -> tuple[np.ndarray, list[str]]:
    """Arrow strings → (one code per row, ``len(values)`` for null; the distinct values)."""
    encoded = arr.dictionary_encode()
    values = encoded.dictionary.to_pylist()
    return encoded.indices.fill_null(len(values)).to_numpy(zero_copy_only=False), values


def _distinct(picked: dict[str, pd.Series], name: str, n: int, transform: Any = None) -> tuple[np.ndarray, list[Any]]:
    """A picked text column as (codes, values): its distinct values trimmed, ``transform``-ed, blanks as None, so
    the kernels run once per distinct value, not once per row (all missing when absent)."""
    if name not in picked:
        return np.zeros(n, dtype=np.int64), []
    series = picked[name]
    dictionary = _dictionary(series)
    if dictionary is not None:
        codes, texts = dictionary
    else:
        arr = _arrow(series if _is_arrow_text(series) else series.astype(STRING))
        codes, values = _codes(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
        texts = pd.Series(pd.arrays.ArrowStringArray(pa.array(values, pa.large_string())))
    return codes, _arrow_text(texts, transform).to_pylist()


def _dictionary(series: pd.Series) -> tuple[np.ndarray, pd.Series] | None:
    """A pandas categorical or Arrow dictionary column → (one code per row, ``len(texts)`` for missing; its
    dictionary as ``string[pyarrow]`` texts, entries no row uses as NA, as the plain reading never sees them),
    without expanding it to a string per row; None for any other column."""
    kind = series.dtype
    arrow_dict = isinstance(kind, pd.ArrowDtype) and pa.types.is_dictionary(kind.pyarrow_dtype)
    if not (isinstance(kind, pd.CategoricalDtype) or arrow_dict):
        return None
    arr = pa.array(series.array)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.unify_dictionaries().combine_chunks() if arr.num_chunks else pa.array([], arr.type)
    size = len(arr.dictionary)
    codes = arr.indices.fill_null(size).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    texts = pd.Series(arr.dictionary.to_pandas()).astype(STRING)
    unused = np.bincount(codes, minlength=size + 1)[:size] == 0
    return codes, texts.mask(unused) if unused.any() else texts


def _categorical(codes: np.ndarray, values: list[Any]) -> pd.Series:
    """Codes into ``values`` (``len(values)``: missing; values may repeat, None is missing) → a categorical with
    the distinct values as sorted ``string[pyarrow]`` categories (one small int per row)."""
    categories = sorted({v for v in values if v is not None})
    where = {v: i for i, v in enumerate(categories)}
    remap = np.array([-1 if v is None else where[v] for v in values] + [-1], dtype=np.int32)
    return pd.Series(pd.Categorical.from_codes(remap[codes], dtype=pd.CategoricalDtype(pd.Index(categories,
                                                                                            dtype=STRING))))


def _mapped(distinct: tuple[np.ndarray, list[Any]], func: Any) -> tuple[np.ndarray, list[Any]]:
    """``func`` applied once per distinct value (None stays None)."""
    codes, values = distinct
    return codes, [None if v is None else func(v) for v in values]


def normalize_subscriptions(data: Any) -> pd.DataFrame:
    """Subscriptions from the ledger or the API (frame or records) → the engine's columns.

    Accepts snake_case, camelCase or PascalCase names: customer_id/customerId, subscription_id/id, offer_id
    (``productId:skuId:availabilityId`` catalog item id) or product_id + sku_id, quantity, status, term_duration,
    billing_cycle, created/creationDate, effective_start/effectiveStartDate, cancelled_at/cancellation_date/
    deleted_date, is_trial, currency. The last row of a repeated subscription id wins; rows without one are dropped.
    Returns:
        Frame with :data:`SUBSCRIPTION_COLUMNS`: subscription_id ``string[pyarrow]`` (lower-cased GUID, one per row);
        customer_id (lower-cased), product_id, sku_id (``1`` → ``0001``), status (lower-cased), term_duration
        (upper-cased), billing_cycle (Monthly/Annual/Triennial/None) and currency (upper-cased) pandas categoricals
        (categories ``string[pyarrow]``, NaN when blank); quantity Decimal objects (None when blank); created,
        effective_start, cancelled_at ``datetime64[ns, UTC]``; is_trial bool.
    Memory: texts are trimmed and cased by Arrow kernels and Python runs once per distinct value, so 6.2 million
    subscriptions take ≈ 0.5 GB (Python strings took ≈ 1.2 GB). Text and date columns may be pandas categoricals or
    Arrow dictionaries (e.g. ``pyarrow.csv`` with dictionary column types): they are read per dictionary entry,
    never expanded to a string per row, and give the same frame as plain strings.
    A frame this function returned (marked in its ``attrs``, with exactly these columns and dtypes) is returned as
    it is: normalise once, then reconcile (:func:`cspkit.billing.reconcile.reconcile` calls this) without a second
    copy — the caller can drop the raw frame first (a 10-million-line month's 6.2 million subscriptions: ≈ 0.4 GB).
    """
    if _normalized(data):
        return data
    raw = _records(data)
    n = len(raw)
    picked: dict[str, pd.Series] = {}
    for column in raw.columns:
        target = _SUB_ALIASES.get(normalize_header(column))
        if target and target not in picked:
            picked[target] = raw[column].reset_index(drop=True)
    ids = _ids(picked["subscription_id"]) if "subscription_id" in picked else pa.nulls(n, pa.large_string())
    keep = _kept(ids)
    out = pd.DataFrame({"subscription_id": pd.arrays.ArrowStringArray(ids if keep is None else ids.take(keep))})

    def pick(codes: np.ndarray, values: list[Any]) -> tuple[np.ndarray, list[Any]]:
        return (codes if keep is None else codes[keep]), values

    out["customer_id"] = _categorical(*pick(*_distinct(picked, "customer_id", n, _lower)))
    product = _distinct(picked, "product_id", n)
    sku = _mapped(_distinct(picked, "sku_id", n), _pad_sku)
    if "offer_id" in picked:  # catalog item id productId:skuId:availabilityId, split once per distinct value
        codes, offers = _distinct(picked, "offer_id", n)
        pieces = [None if o is None else o.split(":") for o in offers]
        if "product_id" not in picked:
            product = codes, [p[0] or None if p else None for p in pieces]
        if "sku_id" not in picked:
            sku = codes, [_pad_sku(p[1]) if p and len(p) > 1 and p[1] else None for p in pieces]
    out["product_id"] = _categorical(*pick(*product))
    out["sku_id"] = _categorical(*pick(*sku))
    codes, quantities = pick(*_mapped(_distinct(picked, "quantity", n), _quantity))
    out["quantity"] = pd.Series(np.array([*quantities, None], dtype=object)[codes], dtype=object)
    out["status"] = _categorical(*pick(*_distinct(picked, "status", n, _lower)))
    out["term_duration"] = _categorical(*pick(*_distinct(picked, "term_duration", n, _upper)))
    out["billing_cycle"] = _categorical(*pick(*_mapped(_distinct(picked, "billing_cycle", n), _plan)))
    for column in ("created", "effective_start", "cancelled_at"):
        dates = _dates(picked[column]) if column in picked else pd.Series(pd.DatetimeIndex(
            np.full(n, np.datetime64("NaT", "ns"))).tz_localize("UTC"))  # fmt: skip
        out[column] = dates if keep is None else dates.iloc[keep].reset_index(drop=True)
    codes, trial = pick(*_mapped(_distinct(picked, "is_trial", n, _lower), lambda t: t in ("true", "1", "yes")))
    out["is_trial"] = np.array([*(t is True for t in trial), False], dtype=bool)[codes]
    out["currency"] = _categorical(*pick(*_distinct(picked, "currency", n, _upper)))
    out = out[SUBSCRIPTION_COLUMNS]
    out.attrs[_NORMALIZED] = _dtypes(out)
    return out


#: the ``attrs`` key marking a frame :func:`normalize_subscriptions` returned (its value: the column dtypes then)
_NORMALIZED = "cspkit.normalized_subscriptions"


def _dtypes(frame: pd.DataFrame) -> tuple[str, ...]:
    """The columns' dtypes by name (a categorical's without its categories: values may be filtered or added)."""
    return tuple(type(d).__name__ if isinstance(d, pd.CategoricalDtype) else str(d) for d in frame.dtypes)


def _normalized(data: Any) -> bool:
    """Whether ``data`` is a frame :func:`normalize_subscriptions` returned (its mark, its columns, their dtypes)."""
    return (isinstance(data, pd.DataFrame) and list(data.columns) == SUBSCRIPTION_COLUMNS
            and data.attrs.get(_NORMALIZED) == _dtypes(data))  # fmt: skip


def _dates(series: pd.Series) -> pd.Series:
    """A date column → ``datetime64[ns, UTC]`` (:func:`cspkit.billing.recon_shared.to_utc`); a categorical or
    dictionary column is parsed once per dictionary entry, then taken by code."""
    dictionary = _dictionary(series)
    if dictionary is None:
        return _to_utc(series)
    codes, texts = dictionary
    parsed = _to_utc(texts).dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return pd.Series(pd.DatetimeIndex(np.append(parsed, np.datetime64("NaT", "ns"))[codes]).tz_localize("UTC"))


def _ids(series: pd.Series) -> pa.Array | pa.ChunkedArray:
    """Subscription ids as Arrow strings, lower-cased and trimmed, blanks as nulls; ids already lower-case GUID text
    (``[0-9a-f-]``, as the API and the ledger give them) are kept as given, zero-copy (6.2 million: 0.28 GB)."""
    if _is_arrow_text(series):
        arr = _arrow(series)
        if pc.all(pc.match_substring_regex(arr, r"^[0-9a-f-]+$")).as_py() is not False:  # no blank, no upper case
            return arr.cast(pa.large_string())
    return _arrow_text(series, _lower)


def _kept(ids: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """The rows to keep (None: all): rows with an id, the last of each repeated id, in order."""
    if ids.null_count == 0 and _all_distinct(ids):
        return None
    frame = pd.DataFrame({"id": pd.arrays.ArrowStringArray(ids)})
    frame = frame[frame["id"].notna()].drop_duplicates("id", keep="last")
    return frame.index.to_numpy()


#: odd 64-bit multipliers of :func:`_all_distinct`'s screen (one per 8-byte word of an id)
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9], dtype=np.uint64)


def _all_distinct(ids: pa.Array | pa.ChunkedArray) -> bool:
    """Whether the (non-null) ids are all different. Ids of one length up to 64 bytes (GUIDs: 36) are screened by
    :func:`_fingerprints`: distinct fingerprints prove distinct ids; any repeat (a real duplicate or a collision)
    falls back to Arrow's exact ``count_distinct``, which on 6.2 million GUIDs took 3.7 s of CPU against 0.6 s for
    the screen."""
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    prints = _fingerprints(arr)
    if prints is not None:
        prints.sort()
        if not (prints[1:] == prints[:-1]).any():
            return True
    return bool(pc.count_distinct(arr).as_py() == len(arr))


def _fingerprints(arr: pa.Array) -> np.ndarray | None:
    """A 64-bit fingerprint of each value's bytes (equal values, equal fingerprints), or None unless the array is
    text of at least two values all of one length up to 64 bytes. Computed on padded copies of 262,144 values at a
    time (≈ 10 MB for GUIDs)."""
    if len(arr) < 2 or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    offsets, data = text_bytes(arr)
    width = int(offsets[1] - offsets[0])
    if not 0 < width <= 64 or (np.diff(offsets) != width).any():
        return None
    rows = data[offsets[0] : offsets[-1]].reshape(len(arr), width)
    words = -(-width // 8)
    prints = np.empty(len(arr), dtype=np.uint64)
    for start in range(0, len(arr), 1 << 18):
        block = np.zeros((min(1 << 18, len(arr) - start), words * 8), dtype=np.uint8)
        block[:, :width] = rows[start : start + len(block)]
        prints[start : start + len(block)] = np.bitwise_xor.reduce(block.view(np.uint64) * _MIX[:words], axis=1)
    return prints


def _quantity(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text[:-2] if text.endswith(".0") else text)


def _pad_sku(sku: str) -> str:
    """SkuId ``1`` (Excel's number) → ``0001``."""
    return sku.zfill(4) if sku.isdigit() else sku


def _plan(value: Any) -> str | None:
    if value is None or value != value:
        return None
    folded = str(value).replace("_", "").lower()
    return {"monthly": "Monthly", "annual": "Annual", "yearly": "Annual", "triennial": "Triennial",
            "none": "None", "onetime": "None"}.get(folded, str(value))  # fmt: skip


def normalize_invoices(data: Any) -> pd.DataFrame:
    """Invoice totals → frame ``InvoiceNumber, Currency, InvoiceTotal``.

    Accepts a mapping ``{currency: total}`` (one invoice), Invoice models/records (``id``, ``currencyCode``,
    ``totalCharges``) or a frame with those or the output column names.
    """
    if data is None:
        return pd.DataFrame(columns=["InvoiceNumber", "Currency", "InvoiceTotal"])
    if isinstance(data, Mapping):
        rows = [{"InvoiceNumber": None, "Currency": str(k).upper(), "InvoiceTotal": Decimal(str(v))}
                for k, v in data.items()]  # fmt: skip
        return pd.DataFrame(rows, columns=["InvoiceNumber", "Currency", "InvoiceTotal"])
    raw = _records(data)
    names = {normalize_header(c): c for c in raw.columns}

    def pick(*keys: str) -> pd.Series:
        for key in keys:
            if key in names:
                return raw[names[key]].astype(object)
        return pd.Series([None] * len(raw), dtype=object)

    return pd.DataFrame(
        {
            "InvoiceNumber": pick("invoicenumber", "id", "invoiceid"),
            "Currency": pick("currency", "currencycode").map(lambda v: None if v is None else str(v).upper()),
            "InvoiceTotal": pick("invoicetotal", "totalcharges", "total").map(
                lambda v: None if v is None or v != v else Decimal(str(v))
            ),
        }
    )

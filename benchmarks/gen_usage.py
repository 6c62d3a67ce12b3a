"""Generate a month of Azure plan daily rated usage as a typed Parquet dataset (what issue 15's ingest produces).

Distributions follow the real November 2025 file (``../shared/realdata/daily-rated-usage-2025-11-subset.csv``,
3,367 of its 89,780 rows: every 30th row plus all marketplace rows):

* about 3,740 rows per customer a month (89,780 rows / 24 customers), 1.4 Azure subscriptions per customer
  (33 / 24), about 9 resource groups per Azure subscription (224 / 24 in the subset), 2–3 resources each;
* a pool of meters like the real ones (273 distinct MeterIds in the subset, 50 MeterCategories), skewed (Zipf);
* PEC: 95 % of first-party rows ``Partner Earned Credit Applied``; the rest ``Credit Not Applied`` concentrated in
  one subscription in ten (3 of 33 in the subset), a few of which lose PEC mid-month (the day admin access goes);
* marketplace rows: 0.18 % (161 of 89,780), publisher set, never PEC;
* streams of one meter × resource billed every day (95 % all month, 5 % from a later day: new meters), a
  daily amount per stream log-normal around its own level (0.1 % of days ×10: spikes); BillingPreTaxTotal with a
  mean ≈ 0.45 USD a row (45,022.48 / 89,780) and 12-digit decimals
  (the real file's values such as ``8.23E-10``), billing = pricing currency USD.

Only the columns the usage checks read are written (Parquet is columnar: the other 30 columns of the file would
not be read by the queries). Money is ``decimal128(38, 12)``; UsageDate a date.

Usage:
    python benchmarks/gen_usage.py --rows 20000000 [--out benchmarks/out/usage-20000000] [--seed 16]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROWS_PER_CUSTOMER = 3740
BATCH = 1_000_000
CATEGORIES = ["Virtual Machines", "Storage", "Bandwidth", "Azure App Service", "SQL Database", "Log Analytics",
              "Virtual Network", "Azure Monitor", "Backup", "Functions", "Key Vault", "Azure DNS", "Load Balancer",
              "Container Registry", "Azure Cosmos DB", "Microsoft Defender for Cloud"]  # fmt: skip


def _guids(rng: np.random.Generator, n: int, prefix: str) -> pa.Array:
    raw = rng.integers(0, 2**62, size=(n, 2), dtype=np.int64)
    return pa.array([f"{prefix}{a:016x}"[:8] + f"-{a & 0xFFFF:04x}-{b & 0xFFFF:04x}-{(b >> 16) & 0xFFFF:04x}-"
                     f"{b >> 20:012x}"[:13] for a, b in raw])  # fmt: skip


def _decimal(nano: np.ndarray) -> pa.Array:
    """Non-negative int64 amounts in 1e-9 units → decimal128(38, 12) (little-endian 128-bit, high word 0)."""
    low = nano.astype(np.int64) * 1000
    words = np.zeros((len(low), 2), dtype=np.int64)
    words[:, 0] = low
    return pa.Array.from_buffers(pa.decimal128(38, 12), len(low), [None, pa.py_buffer(words.tobytes())])


def generate(rows: int, out: Path, seed: int = 16) -> Path:
    rng = np.random.default_rng(seed)
    customers = max(1, rows // ROWS_PER_CUSTOMER)
    subs_per_customer = rng.choice([1, 1, 1, 2, 2, 3], size=customers)
    n_ent = int(subs_per_customer.sum())
    ent_customer = np.repeat(np.arange(customers), subs_per_customer)
    customer_ids = _guids(rng, customers, "")
    customer_names = pa.array([f"Customer {i:05d}" for i in range(customers)])
    plan_ids = _guids(rng, customers, "")  # one Azure plan (Partner Center subscription) per customer
    ent_ids = _guids(rng, n_ent, "")
    ent_names = pa.array([f"Azure subscription {i:05d}" for i in range(n_ent)])
    meters = 400
    meter_ids = _guids(rng, meters, "")
    meter_cat = rng.integers(0, len(CATEGORIES), size=meters)
    meter_names = pa.array([f"Meter {i:03d}" for i in range(meters)])
    rgs_per_ent = 9
    rg_names = pa.array([f"rg-{i:06x}" for i in range(n_ent * rgs_per_ent)])
    # PEC behaviour per Azure subscription: 90 % always applied, 7 % partial, 3 % lost on a day of the month
    behaviour = rng.choice([0, 1, 2], size=n_ent, p=[0.90, 0.07, 0.03])
    lost_day = rng.integers(5, 25, size=n_ent)
    publishers = pa.array(["Microsoft", "Bitnami", "Elastic", "Kyndryl, Inc", "BANSIR LLC"])
    publisher_ids = pa.array([None, "30000001", "30000002", "30000003", "30000004"], type=pa.string())
    credit_types = pa.array(["Partner Earned Credit Applied", "Credit Not Applied"])
    out.mkdir(parents=True, exist_ok=True)
    weights = 1.0 / np.arange(1, meters + 1) ** 0.9
    weights /= weights.sum()
    written = 0
    part = 0
    while written < rows:
        # one stream = one meter of one resource billed every day from its first day (one row per meter × resource
        # × day, billing-formats.md §1.2); 95 % of streams run all month, 5 % start later (new meters)
        want = min(BATCH, rows - written)
        streams = max(1, want // 28)
        first = np.where(rng.random(streams) < 0.95, 0, rng.integers(3, 30, size=streams))
        length = 30 - first
        ent_s = rng.integers(0, n_ent, size=streams)
        meter_s = rng.choice(meters, size=streams, p=weights)
        rg_s = ent_s * rgs_per_ent + rng.integers(0, rgs_per_ent, size=streams)
        res_s = rng.integers(0, 3, size=streams)
        market_s = rng.random(streams) < 0.0018
        partial_s = rng.random(streams) < 0.4
        base_s = np.minimum(rng.lognormal(mean=np.log(0.03), sigma=2.3, size=streams), 50_000.0)
        idx = np.repeat(np.arange(streams), length)
        offsets = np.arange(len(idx)) - np.repeat(np.cumsum(length) - length, length)
        day = first[idx] + offsets
        if len(idx) > want:
            idx, day = idx[:want], day[:want]
        n = len(idx)
        ent, meter, rg, resource, market = ent_s[idx], meter_s[idx], rg_s[idx], res_s[idx], market_s[idx]
        cust = ent_customer[ent]
        publisher = np.where(market, 1 + (ent % 4), 0)
        b = behaviour[ent]
        not_applied = market | ((b == 1) & partial_s[idx]) | ((b == 2) & (day + 1 >= lost_day[ent]))
        amount = base_s[idx] * rng.lognormal(0.0, 0.3, size=n)
        amount = np.where(rng.random(n) < 0.001, amount * 10, amount)  # an occasional spike
        nano = np.round(amount * 1e9).astype(np.int64)
        dates = pa.array((np.datetime64("2025-11-01") + day.astype("timedelta64[D]")).astype("datetime64[D]"))
        uri = pa.array(np.char.add(np.char.add("/subscriptions/x/resourcegroups/rg/r", ent.astype(str)),
                                   np.char.add("-", (meter * 3 + resource).astype(str))))  # fmt: skip
        money = _decimal(nano)
        table = pa.table(
            {
                "InvoiceNumber": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["G000000016"])),
                "CustomerId": pa.DictionaryArray.from_arrays(cust.astype(np.int32), customer_ids),
                "CustomerName": pa.DictionaryArray.from_arrays(cust.astype(np.int32), customer_names),
                "SubscriptionId": pa.DictionaryArray.from_arrays(cust.astype(np.int32), plan_ids),
                "EntitlementId": pa.DictionaryArray.from_arrays(ent.astype(np.int32), ent_ids),
                "EntitlementDescription": pa.DictionaryArray.from_arrays(ent.astype(np.int32), ent_names),
                "ProductId": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["DZH318Z0BQ3Q"])),
                "SkuId": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["0003"])),
                "AvailabilityId": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["DZH318Z09SQD"])),
                "PublisherName": pa.DictionaryArray.from_arrays(publisher.astype(np.int32), publishers),
                "PublisherId": publisher_ids.take(pa.array(publisher)),
                "MeterCategory": pa.DictionaryArray.from_arrays(meter_cat[meter].astype(np.int32),
                                                                pa.array(CATEGORIES)),
                "MeterSubCategory": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["Standard"])),
                "MeterName": pa.DictionaryArray.from_arrays(meter.astype(np.int32), meter_names),
                "MeterId": pa.DictionaryArray.from_arrays(meter.astype(np.int32), meter_ids),
                "ResourceGroup": pa.DictionaryArray.from_arrays(rg.astype(np.int32), rg_names),
                "ResourceURI": uri,
                "UsageDate": dates,
                "BillingPreTaxTotal": money,
                "BillingCurrency": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["USD"])),
                "PricingPreTaxTotal": money,
                "PricingCurrency": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["USD"])),
                "CreditType": pa.DictionaryArray.from_arrays(not_applied.astype(np.int32), credit_types),
            }
        )  # fmt: skip
        pq.write_table(table, out / f"part-{part:05d}.parquet", compression="zstd")
        written += n
        part += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    out = args.out or Path(__file__).resolve().parent / "out" / f"usage-{args.rows}"
    t = time.perf_counter()
    generate(args.rows, out, args.seed)
    size = sum(p.stat().st_size for p in out.glob("*.parquet"))
    print(f"{args.rows:,} daily rows → {out} ({size / 2**20:,.0f} MiB) in {time.perf_counter() - t:,.1f} s")


if __name__ == "__main__":
    main()

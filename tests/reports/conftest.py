"""The reconciliation result every workbook test writes: the sample month with its price list, subscriptions and
invoices (sample_data/README-recon.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cspkit.billing.pricelist import read_price_list
from cspkit.billing.recon_readers import read_recon
from cspkit.billing.reconcile import ReconciliationResult, reconcile

DATA = Path(__file__).resolve().parents[2] / "sample_data"


@pytest.fixture(scope="module")
def result() -> ReconciliationResult:
    return reconcile(
        read_recon(DATA / "recon_sample.csv").frame,
        subscriptions=pd.read_csv(DATA / "recon_subscriptions.csv", dtype=str),
        price_list=read_price_list(DATA / "recon_pricelist.csv"),
        invoices=json.loads((DATA / "recon_invoices.json").read_text())["items"],
        period="2026-03",
    )

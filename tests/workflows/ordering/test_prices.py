"""Plans priced through the price-sheet API without a price-list file (as on real Partner Center): fetched per
market, cached under $CSPKIT_HOME with mode 0600, one download per month; failures leave the price unknown with why."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cspkit.billing.pricelist import read_price_list
from cspkit.errors import PermissionDeniedError
from cspkit.ledger import Ledger
from cspkit.resources.pricesheets import PRICESHEET_SCOPES, PriceSheets
from cspkit.workflows.ordering import Ordering
from cspkit.workflows.ordering.prices import PriceSheetSource

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
BASIC = "CFQ7TTC0LH18:0001"


class Counting:
    """A PriceSheets wrapper counting what it was asked for."""

    def __init__(self, sheets: PriceSheets) -> None:
        self.sheets, self.calls = sheets, []

    def get(self, market, view, timeline="current", month=None, **kwargs):
        self.calls.append((market, view, month))
        return self.sheets.get(market, view, timeline, month, **kwargs)


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="tester", target="emulator")
    yield led
    led.close()


def test_a_plan_is_priced_from_the_markets_price_sheet_cached_owner_only_for_the_month(
        emulator, emulator_client, ledger, tmp_path):
    with emulator_client() as pc:
        sheets = PriceSheets(lambda: pc.transport_for(pc.settings.pricesheet_endpoint, scopes=PRICESHEET_SCOPES,
                                                      api_prefix="v1.0"), cache_dir=tmp_path / "home" / "pricesheets")
        counting = Counting(sheets)
        source = PriceSheetSource(counting, clock=emulator.clock.now)
        service = Ordering(pc, ledger, clock=emulator.clock.now, price_source=source)
        plan = service.plan(CONTOSO, item=BASIC, quantity=10, term_duration="P1Y", billing_cycle="monthly")
        assert plan.term_price is not None and plan.term_price > 0 and plan.currency == "USD"
        assert plan.billing_periods == 12 and plan.term_total == plan.term_price * 10
        assert plan.price_note is None and "unknown" not in plan.describe()["billing"]
        month = emulator.clock.now().strftime("%Y%m")
        assert counting.calls == [("US", "updatedlicensebased", month), ("US", "marketplace", month)]
        files = source.files["US"]
        assert [f.parent for f in files] == [tmp_path / "home" / "pricesheets" / "emulator"] * 2
        assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
        assert not list(files[0].parent.glob("*.part"))

        # the same month: no new request, from memory in this run and from disk in the next
        service.plan(CONTOSO, item=BASIC, quantity=1, term_duration="P1M", billing_cycle="monthly")
        assert len(counting.calls) == 2
        before = {f: f.stat().st_mtime_ns for f in files}
        next_run = PriceSheetSource(sheets, clock=emulator.clock.now)
        assert next_run("US") is not None and next_run.files["US"] == files
        assert {f: f.stat().st_mtime_ns for f in files} == before  # reused, not downloaded again

        # a new month: the new month's list
        emulator.clock.advance(days=31)
        later = PriceSheetSource(counting, clock=emulator.clock.now)
        later("US")
        new_month = emulator.clock.now().strftime("%Y%m")
        assert new_month != month and counting.calls[-1] == ("US", "marketplace", new_month)
        assert all(new_month in f.name for f in later.files["US"])


def test_a_file_cached_by_an_older_version_is_made_owner_only_and_a_bad_one_leaves_prices_unknown(tmp_path):
    cached = tmp_path / "US_updatedlicensebased_current_202611.csv"
    cached.write_text("x")
    os.chmod(cached, 0o644)

    class Cached:
        def get(self, *args, **kwargs):
            return cached

    source = PriceSheetSource(Cached(), clock=lambda: datetime(2026, 11, 5, tzinfo=UTC),
                              views=("updatedlicensebased",))
    assert source("us") is None  # "x" is no price list: unknown, and said so naming the file
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert source.problems["US"].startswith(f"price sheet US 202611: reading {cached}: ")


def test_a_price_sheet_that_cannot_be_fetched_leaves_the_price_unknown_and_says_why(emulator_client, ledger):
    class Refusing:
        def get(self, market, view, timeline="current", month=None, **kwargs):
            raise PermissionDeniedError("the price-sheet API refused the token (HTTP 403)", status_code=403)

    with emulator_client() as pc:
        source = PriceSheetSource(Refusing(), clock=lambda: datetime(2026, 11, 5, tzinfo=UTC))
        service = Ordering(pc, ledger, price_source=source)
        plan = service.plan(CONTOSO, item=BASIC, quantity=2, term_duration="P1M", billing_cycle="monthly")
    assert plan.term_price is None and plan.period_total is None
    assert plan.price_note is not None and plan.price_note.startswith("price sheet US 202611: updatedlicensebased: ")
    assert "HTTP 403" in plan.describe()["billing"] and plan.describe()["term_total"] == "unknown"


def test_a_given_price_list_wins_over_the_price_sheet(emulator_client, ledger):
    class Never:
        def get(self, *args, **kwargs):
            raise AssertionError("the price-sheet API must not be asked when a price list is given")

    sample = Path(__file__).resolve().parents[3] / "sample_data" / "pricelist_nce_US_202611.csv"
    with emulator_client() as pc:
        service = Ordering(pc, ledger, price_list=read_price_list(sample),
                           price_source=PriceSheetSource(Never()))
        plan = service.plan(CONTOSO, item=BASIC, quantity=1, term_duration="P1Y", billing_cycle="annual",
                            on=datetime(2026, 11, 5, tzinfo=UTC))
    assert isinstance(plan.term_price, Decimal) and plan.term_price > 0 and plan.price_note is None


SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"


def test_term_prices_and_policy_of_the_documented_availability_from_the_real_price_list():
    import json

    from cspkit.models.catalog import Availability
    from cspkit.workflows.ordering.plan import describe_policy
    from cspkit.workflows.ordering.prices import term_prices

    sample = SHARED / "reference" / "samples" / "availabilities_list.json"
    real = SHARED / "realdata" / "nce-pricelist-US-2025-11.csv"
    if not sample.exists() or not real.exists():
        pytest.skip(f"shared reference files absent ({sample}, {real})")
    availability = Availability.from_wire(json.loads(sample.read_text())["response"]["body"]["items"][0])
    # the documented term: P1Y billed "Annual", refundOptions [{sequenceId 0, Full, P1D}]
    assert describe_policy(availability.terms[0]) == "full refund within 1 day of purchase"
    # the real list writes SkuId "1" for 0001 and prices CFQ7TTC0LH18/0001 P1Y Annual at UnitPrice 57.6
    prices = term_prices(read_price_list(real), availability, on=datetime(2025, 11, 15, tzinfo=UTC))
    assert prices == {("P1Y", "annual"): {"term_price": Decimal("57.6"), "billing_periods": 1,
                                          "period_price": Decimal("57.60"), "currency": "USD"}}
    assert term_prices(None, availability) == {}


def test_describe_policy_orders_phases_by_sequence():
    from cspkit.models.catalog import AvailabilityTerm
    from cspkit.workflows.ordering.plan import describe_policy

    term = AvailabilityTerm.from_wire({"duration": "P1Y", "billingCycle": "monthly", "cancellationPolicies": [
        {"refundOptions": [{"sequenceId": 1, "type": "Partial", "expiresAfter": "P7D"},
                           {"sequenceId": 0, "type": "Full", "expiresAfter": "PT72H"}]}]})
    assert describe_policy(term) == "full refund within 72 hours, partial refund within 7 days of purchase"
    assert describe_policy(AvailabilityTerm.from_wire({"duration": "P1M"})) is None and describe_policy(None) is None

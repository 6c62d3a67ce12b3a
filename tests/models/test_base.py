"""The lenient model base: numbers as strings, 7-digit fractions, enums in any case, unknown fields kept."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from cspkit.models.base import CaseInsensitiveEnum, Money, PCModel, UtcDateTime, parse_utc_datetime


class BillingCycle(CaseInsensitiveEnum):
    MONTHLY = "monthly"
    ANNUAL = "annual"
    ONE_TIME = "one_time"


class Line(PCModel):
    unit_price: Money
    quantity: Money | None = None
    billing_cycle: BillingCycle
    charge_start_date: UtcDateTime
    subscription_id: str | None = None


def test_parses_what_the_service_really_sends():
    line = Line.from_wire({
        "unitPrice": "10.08", "quantity": 25, "billingCycle": "Monthly",
        "chargeStartDate": "2021-05-20T18:30:06.6045692Z", "SubscriptionId": "s-1", "newField": {"x": 1},
    })
    assert line.unit_price == Decimal("10.08") and isinstance(line.unit_price, Decimal)
    assert line.quantity == Decimal(25)
    assert line.billing_cycle is BillingCycle.MONTHLY
    assert line.charge_start_date == datetime(2021, 5, 20, 18, 30, 6, 604569, tzinfo=UTC)
    assert line.subscription_id == "s-1"  # PascalCase accepted on input
    assert line.model_extra == {"newField": {"x": 1}}  # unknown fields kept


def test_serializes_back_to_camel_case_strictly():
    line = Line.from_wire({"unitPrice": 0.1, "billingCycle": "ONE_TIME", "chargeStartDate": "2021-05-01T00:00:00",
                           "futureThing": 3})
    wire = line.to_wire()
    assert wire == {"unitPrice": "0.1", "billingCycle": "one_time", "chargeStartDate": "2021-05-01T00:00:00Z",
                    "futureThing": 3}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-05-01T00:00:00", datetime(2021, 5, 1, tzinfo=UTC)),
        ("2021-05-01T02:00:00+02:00", datetime(2021, 5, 1, tzinfo=UTC)),
        ("2021-10-01T00:00:00.0000000Z", datetime(2021, 10, 1, tzinfo=UTC)),
        ("2021-10-01", datetime(2021, 10, 1, tzinfo=UTC)),
        ("", None),
    ],
)
def test_iso_8601_variants(text, expected):
    assert parse_utc_datetime(text) == expected


def test_bad_values_raise_validation_errors():
    with pytest.raises(ValidationError):
        Line.from_wire({"unitPrice": "ten", "billingCycle": "monthly", "chargeStartDate": "2021-01-01"})
    with pytest.raises(ValidationError):
        Line.from_wire({"unitPrice": "1", "billingCycle": "weekly", "chargeStartDate": "2021-01-01"})

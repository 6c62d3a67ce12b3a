"""The order-listing delay (partner-center-api.md §4): which just-placed orders of the ledger a listing lacks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cspkit.ledger import Ledger, Target
from cspkit.workflows.ordering import listing_delay_note, unlisted_orders

CONTOSO = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
HERE = Target.emulator("http://127.0.0.1:1", instance_id="one")
ELSEWHERE = Target.emulator("http://127.0.0.1:2", instance_id="two")


def order(ledger: Ledger, key: str, order_ids: list[str], *, customer: str = CONTOSO, done: bool = True) -> int:
    entry, _ = ledger.begin(kind="order", key=key, customer_id=customer, request={"quantity": 1})
    if done:
        ledger.complete(entry.id, after={"orders": []}, order_ids=order_ids)
    return entry.id


def test_only_recent_done_orders_of_this_target_and_customer_missing_from_the_listing(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    other = Ledger(url, actor="t", target=ELSEWHERE)
    order(other, "k-other", ["O-OTHER-TARGET"])
    other.close()
    ledger = Ledger(url, actor="t", target=HERE)
    first = order(ledger, "k1", ["O-1", "O-2"])
    order(ledger, "k2", ["O-3"], customer="another")
    order(ledger, "k3", [], done=False)
    missing = unlisted_orders(ledger, CONTOSO, ["o-1"])  # ids compare case-insensitively
    assert [(m.order_id, m.entry_id) for m in missing] == [("O-2", first)]
    assert unlisted_orders(ledger, CONTOSO, ["O-1", "O-2"]) == []
    later = datetime.now(UTC) + timedelta(hours=2)  # placed long ago: not "just placed", nothing to explain
    assert unlisted_orders(ledger, CONTOSO, [], now=later) == []
    note = listing_delay_note(CONTOSO, missing, now=missing[0].placed_at + timedelta(minutes=3))
    assert note == (f"Not listed yet: O-2 (placed 3 min ago, ledger entry {first}). Partner Center can take up to "
                    f"15 minutes to list a new order; read it now with `cspkit orders show --customer {CONTOSO} "
                    "O-2`.")
    ledger.close()

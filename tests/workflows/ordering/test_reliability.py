"""Reliability, small: 20 orders for 5 customers with faults on about 20 % of calls (429 + Retry-After, 500, 503,
a read timeout whose write still commits, a connection dropped after the checkout committed) and a crash halfway.
The end state must be exactly the 20 orders of the file: none doubled, none lost.
(benchmarks/bench_orders_reliability.py runs the same at 200 orders / 50 customers.)"""

from __future__ import annotations

from collections import Counter

from cspkit.ledger import Ledger
from cspkit.workflows.ordering import BatchRow, Ordering, fan_out, run_batch_row

ITEMS = ["CFQ7TTC0LH18:0001", "CFQ7TTC0LCHC:0002", "CFQ7TTC0LFLZ:0002", "DZH318Z0SA01:0001"]
CATALOG_ITEMS = {"CFQ7TTC0LH18:0001": "CFQ7TTC0LH18:0001:CFQ7TTC0K59J",
                 "CFQ7TTC0LCHC:0002": "CFQ7TTC0LCHC:0002:CFQ7TTC0KDN5",
                 "CFQ7TTC0LFLZ:0002": "CFQ7TTC0LFLZ:0002:CFQ7TTC0K4TS",
                 "DZH318Z0SA01:0001": "DZH318Z0SA01:0001:DZH318Z0C001"}


def add_faults(emulator, share: float = 0.2) -> None:
    """About ``share`` of all Partner Center calls fail, one way or another."""
    each = share / 5
    emulator.faults.add(action=429, plane="pc", probability=each, retryAfter=1)
    emulator.faults.add(action=500, plane="pc", probability=each)
    emulator.faults.add(action=503, plane="pc", probability=each)
    emulator.faults.add(action="timeout", plane="pc", probability=each, delay=0.4)   # client read timeout 0.2 s
    emulator.faults.add(action="drop", plane="pc", operation="checkout_cart", probability=min(1.0, each * 4))


def make_rows(customer_ids: list[str], per_customer: int, batch_id: str) -> list[BatchRow]:
    rows = []
    for i in range(per_customer * len(customer_ids)):
        customer = customer_ids[i % len(customer_ids)]
        item = ITEMS[(i // len(customer_ids)) % len(ITEMS)]
        rows.append(BatchRow(i + 1, customer, item, 1 + i % 7, "P1M", "monthly", None, f"{batch_id}:row-{i + 1}"))
    return rows


def service_for(emulator, ledger, emulator_client) -> Ordering:
    pc = emulator_client(timeout=(2.0, 0.2))
    return Ordering(pc, ledger, clock=emulator.clock.now, sleep=lambda s: None)


def test_twenty_orders_with_faults_and_a_crash_end_exactly_once(emulator, emulator_client, tmp_path):
    customers = list(emulator.backend.customers)
    assert len(customers) == 5
    rows = make_rows(customers, 4, "reliability.csv")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", actor="test")
    add_faults(emulator)

    # first run: the process "dies" right after journaling the cart of row 11 (before its checkout is sent),
    # and everything after it is never started
    first = service_for(emulator, ledger, emulator_client)
    real_submitted = ledger.submitted

    def crash_on_row_11(entry_id, **kwargs):
        if ledger.get(entry_id).row_number == 11:
            raise KeyboardInterrupt("killed")
        return real_submitted(entry_id, **kwargs)

    ledger.submitted = crash_on_row_11
    done_first = []
    try:
        for row in rows:
            done_first.append(run_batch_row(first, row, batch_id="reliability.csv").status)
    except KeyboardInterrupt:
        pass
    ledger.submitted = real_submitted
    assert len(done_first) == 10
    orders_after_crash = len(emulator.backend.orders)
    assert orders_after_crash == sum(1 for s in done_first if s == "ordered")

    # second run of the same file, concurrently, same faults: completes what is missing
    second = service_for(emulator, ledger, emulator_client)
    results = fan_out(lambda row: run_batch_row(second, row, batch_id="reliability.csv"), rows, workers=4)
    statuses = Counter(result.status for _, result, _ in results)
    unresolved = [r for _, r, _ in results if r.status not in ("ordered", "already_ordered")]
    for _ in range(3):  # a row still ambiguous after every retry is run again, as a user would
        if not unresolved:
            break
        unresolved = [r for r in (run_batch_row(second, u.row, batch_id="reliability.csv") for u in unresolved)
                      if r.status not in ("ordered", "already_ordered")]
    assert unresolved == [], statuses

    orders = list(emulator.backend.orders.values())
    bought = Counter((o.customer_id, line.offer_id, line.quantity) for o in orders for line in o.lines)
    wanted = Counter((r.customer_id, CATALOG_ITEMS[r.item], r.quantity) for r in rows)
    assert len(orders) == 20 and bought == wanted
    assert {e.status for e in ledger.list()} == {"done"} and len(ledger.list()) == 20
    fired = Counter(f["action"] for f in emulator.faults.log)
    assert fired["drop"] >= 1 and sum(fired.values()) >= 10   # the faults really happened
    ledger.close()

"""The ledger on SQLite and PostgreSQL: intents, idempotent keys, transitions with an audit trail, no secrets."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from cspkit.errors import APIConnectionError, CspkitError
from cspkit.ledger import Ledger, entry_json, run_id, scrub
from cspkit.ledger.models import LedgerEntry


@pytest.fixture
def ledger(ledger_url):
    led = Ledger(ledger_url, actor="alice@host (auth=token)", target="emulator")
    yield led
    led.close()


def test_an_order_goes_intent_cart_submitted_done_with_its_trail(ledger):
    entry, created = ledger.begin(kind="order", key="batch.csv:abc#1", customer_id="c1",
                                  request={"catalogItemId": "P:S:A", "quantity": 3}, correlation_id="corr-1")
    assert created and entry.status == "pending" and entry.created_at.tzinfo is not None
    ledger.set_cart(entry.id, cart_id="cart-1", cart={"id": "cart-1"})
    ledger.submitted(entry.id, request_id=entry.request_id)
    done = ledger.complete(entry.id, after={"orders": [{"id": "o1"}]}, order_ids=["o1"])

    assert (done.status, done.cart_id, done.attempts) == ("done", "cart-1", 1)
    assert json.loads(done.order_ids_json) == ["o1"]
    assert entry_json(done, "request_json") == {"catalogItemId": "P:S:A", "quantity": 3}
    assert entry_json(done, "before_json") == {"id": "cart-1"}
    events = ledger.events(entry_id=entry.id)
    assert [(e.status, e.detail) for e in events] == [
        ("pending", "intent recorded"), ("pending", "cart cart-1 created"), ("submitted", "sent (attempt 1)"),
        ("done", "completed")]
    assert {e.actor for e in events} == {"alice@host (auth=token)"}
    assert {e.request_id for e in events} == {entry.request_id}
    assert all(e.at.tzinfo == UTC for e in events)


def test_the_same_key_returns_the_existing_entry(ledger):
    first, created = ledger.begin(kind="order", key="k", customer_id="c1")
    again, created_again = ledger.begin(kind="order", key="k", customer_id="c1")
    assert created and not created_again and again.id == first.id
    assert len(ledger.list()) == 1


def test_concurrent_begins_with_one_key_create_exactly_one_entry(ledger):
    results: list[bool] = []

    def go() -> None:
        results.append(ledger.begin(kind="order", key="same", customer_id="c1")[1])

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_failures_keep_code_and_unknown_keeps_the_claim(ledger):
    entry, _ = ledger.begin(kind="cancel", customer_id="c1", subscription_id="s1")
    unknown = ledger.fail(entry.id, APIConnectionError("dropped", request_id="r1", correlation_id="k1"),
                          status="unknown")
    assert unknown.status == "unknown" and unknown.claimed_by == run_id()
    assert [e.id for e in ledger.unresolved()] == [entry.id]
    failed = ledger.fail(entry.id, CspkitError("nope"))
    assert failed.status == "failed" and failed.claimed_by is None and ledger.unresolved() == []


def test_list_filters_and_order(ledger):
    a, _ = ledger.begin(kind="order", customer_id="c1", batch_id="b1")
    b, _ = ledger.begin(kind="cancel", customer_id="c2")
    ledger.complete(b.id, after={})
    assert [e.id for e in ledger.list()] == [b.id, a.id]
    assert [e.id for e in ledger.list(kind="order")] == [a.id]
    assert [e.id for e in ledger.list(status="done")] == [b.id]
    assert [e.id for e in ledger.list(customer_id="c2")] == [b.id]
    assert [e.id for e in ledger.list(batch_id="b1")] == [a.id]
    assert ledger.list(since=datetime(2100, 1, 1, tzinfo=UTC)) == []


def test_claims_block_a_live_other_run_but_not_a_dead_one(ledger):
    entry, _ = ledger.begin(kind="order", customer_id="c1")
    assert ledger.claim(entry.id)
    with ledger._session() as session:   # another live process on another host claimed it just now
        row = session.get(LedgerEntry, entry.id)
        row.claimed_by = "otherhost:1:abcd"
        session.add(row)
        session.commit()
    assert not ledger.claim(entry.id)
    with ledger._session() as session:   # a process of this host that no longer exists
        row = session.get(LedgerEntry, entry.id)
        row.claimed_by = f"{run_id().split(':')[0]}:999999999:dead"
        session.add(row)
        session.commit()
    assert ledger.claim(entry.id)


def test_no_secret_reaches_the_database(ledger):
    entry, _ = ledger.begin(kind="order", customer_id="c1", request={
        "accessToken": "eyJ.secret", "nested": {"client_secret": "s3cr3t", "quantity": 2},
        "link": "https://isv.example/landing?token=PURCHASE-TOKEN&x=1"})
    stored = ledger.get(entry.id).request_json
    assert "eyJ.secret" not in stored and "s3cr3t" not in stored and "PURCHASE-TOKEN" not in stored
    assert entry_json(ledger.get(entry.id), "request_json") == {
        "accessToken": "***", "nested": {"client_secret": "***", "quantity": 2},
        "link": "https://isv.example/landing?token=***&x=1"}
    assert scrub({"tokenType": "Bearer"}) == {"tokenType": "Bearer"}


def test_a_missing_entry_is_a_clear_error_with_exit_code_2(ledger):
    with pytest.raises(CspkitError) as info:
        ledger.get(404)
    assert info.value.exit_code == 2 and "404" in str(info.value)

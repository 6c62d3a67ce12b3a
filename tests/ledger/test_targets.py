"""Targets in the ledger: keys unique per target, old ledgers migrated to target "unknown", never matched."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, create_engine, inspect

from cspkit.ledger import UNKNOWN_TARGET, Ledger, Target, tenant_from_token

EMU_A = Target.emulator("http://127.0.0.1:1111", instance_id="a" * 32, tenant_id="partner-tenant")
WHEN = datetime(2026, 11, 1, 10, tzinfo=UTC)
EMU_B = Target.emulator("http://127.0.0.1:1111", instance_id="b" * 32, tenant_id="partner-tenant")


def _jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_tenant_comes_from_the_tokens_tid_claim_without_verifying():
    token = _jwt({"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "aud": "https://api.partnercenter.microsoft.com"})
    assert tenant_from_token(token) == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert tenant_from_token("emu_0123abcd") is None  # an opaque token: no claim
    assert tenant_from_token("a.!!notbase64!!.c") is None
    target = Target.partner_center("https://api.partnercenter.microsoft.com/", token=token, tenant_id="contoso.com")
    assert target.tenant_id == "72f988bf-86f1-41af-91ab-2d7cd011db47"
    assert token not in json.dumps(target.columns())  # the token itself is never stored
    assert Target.partner_center("https://api.partnercenter.microsoft.com", tenant_id="t1").tenant_id == "t1"


def test_target_identity_per_instance_and_per_tenant_not_per_port():
    assert EMU_A.key != EMU_B.key
    moved = Target.emulator("http://127.0.0.1:2222", instance_id="a" * 32)  # restarted on another port
    assert moved.key == EMU_A.key
    pc1 = Target.partner_center("https://api.partnercenter.microsoft.com", tenant_id="T1")
    pc2 = Target.partner_center("https://api.partnercenter.microsoft.com/", tenant_id="t2")
    assert pc1.key != pc2.key and pc1.key == Target.partner_center("https://API.partnercenter.microsoft.com/",
                                                                   tenant_id="t1").key
    assert len({EMU_A.key, pc1.key, UNKNOWN_TARGET}) == 3


def test_a_key_done_on_one_target_is_new_on_another(ledger_url):
    a = Ledger(ledger_url, actor="t", target=EMU_A)
    b = Ledger(ledger_url, actor="t", target=EMU_B)
    entry, created = a.begin(kind="order", key="orders.csv:row1", customer_id="c1")
    a.complete(entry.id, after={"orders": []}, order_ids=["o1"])
    assert created and a.by_key("orders.csv:row1").status == "done"

    assert b.by_key("orders.csv:row1") is None
    other, created_b = b.begin(kind="order", key="orders.csv:row1", customer_id="c1")
    assert created_b and other.id != entry.id and other.status == "pending"
    again, created_again = b.begin(kind="order", key="orders.csv:row1", customer_id="c1")
    assert not created_again and again.id == other.id

    assert [e.id for e in b.unresolved()] == [other.id]  # resume never sees A's entries
    assert a.unresolved() == []
    assert {e.id for e in b.list(target="all")} == {entry.id, other.id}
    assert [e.id for e in b.list(target="current")] == [other.id]
    assert [e.id for e in b.list(target="aaaa")] == [entry.id]  # text matches the instance id
    row = a.get(entry.id)
    assert (row.target_kind, row.target_instance, row.target_tenant) == ("emulator", "a" * 32, "partner-tenant")
    assert row.target == EMU_A.label and "instance " + "a" * 32 in row.target
    a.close()
    b.close()


def _old_schema(url: str) -> None:
    """The ledger as it was before targets: ``key`` unique on its own, ``target`` a free text."""
    meta = MetaData()
    Table("ledger_entry", meta,
          Column("id", Integer, primary_key=True),
          Column("key", String(200), nullable=False, index=True, unique=True),
          Column("kind", String(40), nullable=False, index=True),
          Column("status", String(20), nullable=False, index=True),
          *(Column(n, String(100)) for n in ("customer_id", "subscription_id", "cart_id", "batch_id", "request_id",
                                             "correlation_id", "error_code", "claimed_by")),
          Column("order_ids_json", Text), Column("row_number", Integer),
          Column("actor", String(300)), Column("target", String(300)),
          *(Column(n, Text) for n in ("request_json", "before_json", "after_json", "error")),
          Column("attempts", Integer, nullable=False),
          Column("claimed_at", DateTime(timezone=True)),
          Column("created_at", DateTime(timezone=True), nullable=False),
          Column("updated_at", DateTime(timezone=True), nullable=False))
    Table("ledger_event", meta,
          Column("id", Integer, primary_key=True),
          Column("entry_id", Integer, nullable=False, index=True),
          Column("at", DateTime(timezone=True), nullable=False),
          Column("status", String(20), nullable=False), Column("detail", Text),
          Column("request_id", String(100)), Column("correlation_id", String(100)), Column("actor", String(300)))
    engine = create_engine(url)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(meta.tables["ledger_entry"].insert(), [{
            "key": "orders.csv:abc#1", "kind": "order", "status": "done", "customer_id": "c1", "target": "emulator",
            "attempts": 1, "created_at": WHEN, "updated_at": WHEN}])
    engine.dispose()


def test_an_old_ledger_is_migrated_and_its_entries_never_block(ledger_url):
    _old_schema(ledger_url)
    ledger = Ledger(ledger_url, actor="t", target=EMU_A)
    [old] = ledger.list(target="all")
    assert (old.key, old.status, old.target_key, old.target_kind) == ("orders.csv:abc#1", "done", "unknown",
                                                                      "unknown")
    assert old.target == "emulator"  # what was recorded is kept for people
    assert ledger.by_key("orders.csv:abc#1") is None  # never matched
    new, created = ledger.begin(kind="order", key="orders.csv:abc#1", customer_id="c1")
    assert created and new.id != old.id
    assert [e.id for e in ledger.list(target="unknown")] == [old.id]
    assert [e.id for e in ledger.list(target="current")] == [new.id]
    assert [e.id for e in ledger.unresolved()] == [new.id]

    unique = [i for i in inspect(ledger.engine).get_indexes("ledger_entry") if i.get("unique")]
    assert [i["column_names"] for i in unique] == [["target_key", "key"]]
    ledger.close()
    reopened = Ledger(ledger_url, actor="t", target=EMU_A)  # a second open is a no-op
    assert len(reopened.list(target="all")) == 2
    reopened.close()


@pytest.mark.parametrize("target", [None, "emulator"])
def test_a_ledger_without_a_described_target_keeps_its_own_keys(tmp_path, target):
    ledger = Ledger(f"sqlite:///{tmp_path / 'l.db'}", target=target)
    entry, _ = ledger.begin(kind="order", key="k")
    assert ledger.by_key("k").id == entry.id and entry.target_kind == "other"
    assert Ledger(f"sqlite:///{tmp_path / 'l.db'}", target=EMU_A).by_key("k") is None
    ledger.close()

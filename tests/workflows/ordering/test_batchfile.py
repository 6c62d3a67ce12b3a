"""The batch reader on files as people write them: delimiters, encodings, duplicate rows, add-on rows, stable keys."""

from __future__ import annotations

import hashlib

import pytest

from cspkit.errors import InputFileError
from cspkit.workflows.ordering import OrderPlan, read_batch_file

C1 = "9a1e3f52-6c0b-4d7e-8f21-3b4c5d6e7f80"
PARENT = "0c5e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f2a"


def test_keys_of_files_without_the_new_column_are_unchanged(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(f"customer_id,item,quantity,term,billing,friendly_name\n{C1},P1:S1,3,P1M,monthly,desk\n")
    _, [row] = read_batch_file(path)
    digest = hashlib.sha256(f"{C1}|P1:S1|3|P1M|monthly|desk".encode()).hexdigest()[:16]
    assert row.key == f"orders.csv:{digest}#1"  # the key the ledger already holds for this row
    assert (row.line, row.parent_subscription_id) == (2, None)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_every_delimiter_reads_the_same_rows(tmp_path, delimiter):
    path = tmp_path / "orders.csv"
    head = delimiter.join(["customer", "item", "qty", "term", "billing", "name", "parent"])
    body = delimiter.join([C1, "P1:S1", "2", "p1y", "Annual", "Smith, Jones & Co", PARENT])
    if delimiter != ",":
        path.write_text(f"{head}\n{body}\n")
    else:
        path.write_text(f'{head}\n{body.replace("Smith, Jones & Co", chr(34) + "Smith, Jones & Co" + chr(34))}\n')
    _, [row] = read_batch_file(path)
    assert (row.customer_id, row.quantity, row.term_duration, row.billing_cycle, row.friendly_name,
            row.parent_subscription_id) == (C1, 2, "P1Y", "annual", "Smith, Jones & Co", PARENT)


def test_duplicates_are_named_by_file_line_and_a_parent_makes_rows_distinct(tmp_path):
    path = tmp_path / "orders.csv"
    row = f"{C1},P1:S1,1,P1M,monthly,"
    path.write_text("customer_id,item,quantity,term,billing,friendly_name,parent_subscription_id\n"
                    f"{row},\n\n{row},{PARENT}\n{row},\n")
    with pytest.raises(InputFileError) as caught:
        read_batch_file(path)
    assert "lines 2, 5" in str(caught.value) and "nothing was ordered" in str(caught.value)
    _, rows = read_batch_file(path, allow_duplicates=True)
    assert [r.line for r in rows] == [2, 4, 5] and len({r.key for r in rows}) == 3


def test_a_header_that_matches_nothing_says_what_was_seen(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("Kunde\tArtikel\n1\t2\n")
    with pytest.raises(InputFileError) as caught:
        read_batch_file(path)
    message = str(caught.value)
    assert "missing: customer_id, item, quantity, term_duration, billing_cycle" in message
    assert "Kunde" in message and "-separated" in message


def test_an_add_on_plan_sends_its_parent_in_the_provisioning_context():
    plan = OrderPlan(customer_id=C1, country="US", catalog_item_id="P:S:A", product_id="P", sku_id="S",
                     availability_id="A", quantity=1, term_duration="P1M", billing_cycle="monthly",
                     parent_subscription_id=PARENT)
    wire = plan.line().to_wire()
    assert wire["provisioningContext"] == {"parentSubscriptionId": PARENT}
    assert plan.to_request()["parentSubscriptionId"] == PARENT
    base = OrderPlan(customer_id=C1, country="US", catalog_item_id="P:S:A", product_id="P", sku_id="S",
                     availability_id="A", quantity=1, term_duration="P1M", billing_cycle="monthly")
    assert "provisioningContext" not in base.line().to_wire()  # a base offer's line is unchanged

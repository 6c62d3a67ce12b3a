"""The emulator's structure as behaviour: one URL table, state per app (no module-global), Graph exports kept in
the backend's state file, Graph faults as rules of the one fault engine."""

from __future__ import annotations

import requests

from cspkit.emulator import Backend, EmulatorServer
from cspkit.emulator.routes import ROUTES
from cspkit.emulator.state import decode, encode

from .conftest import BASIC, US_CUSTOMER

BILLING = "/v1.0/reports/partners/billing"


def _finished_export(emu, pc) -> dict:
    pc.buy_one(US_CUSTOMER, BASIC, 3)
    auth = {"Authorization": f"Bearer {emu.token}"}
    post = requests.post(f"{emu.url}{BILLING}/reconciliation/unbilled/export", json={"currencyCode": "USD"},
                         headers=auth, timeout=10)
    assert post.status_code == 202, post.text
    for _ in range(4):
        operation = requests.get(post.headers["Location"], headers=auth, timeout=20).json()
        if operation["status"] == "succeeded":
            break
    assert operation["status"] == "succeeded", operation
    return requests.get(operation["resourceLocation@odata.navigationLink"], headers=auth, timeout=10).json()


def test_every_route_is_registered_once_under_its_operation_name(emulator):
    served = {(m, r.path): r.name for r in emulator.app.api.routes for m in getattr(r, "methods", None) or ()}
    for route in ROUTES:
        assert served[(route.method, route.path)] == route.operation
    names = [r.operation for r in ROUTES]
    assert len(names) == len(set(names)) + 1  # the unbilled export's /beta and /v1.0 paths share one name


def test_two_emulators_in_one_process_each_answer_from_their_own_state(emulator):
    with EmulatorServer(seed="empty") as other:
        auth = {"Authorization": f"Bearer {emulator.token}"}
        mine = requests.get(emulator.url + "/v1/customers", headers=auth, timeout=10)
        theirs = requests.get(other.url + "/v1/customers", headers=auth, timeout=10)
        assert len(mine.json()["items"]) == len(emulator.backend.customers) > 0
        assert theirs.json()["items"] == []
        assert theirs.headers["x-cspkit-emulator-instance"] == other.backend.instance_id != \
            mine.headers["x-cspkit-emulator-instance"]


def test_graph_exports_live_in_the_backend_and_survive_the_state_file(emulator, pc):
    manifest = _finished_export(emulator, pc)
    graph = emulator.backend.graph
    files = {key: open(path, "rb").read() for key, (path, _) in graph.blobs.items()}
    assert len(files) == manifest["blobCount"] >= 1

    restored = Backend(seed="empty")
    restored.import_state(decode(encode(emulator.backend.export_state())))
    export = restored.graph.exports[manifest["id"]]
    assert export.done.wait(20)
    again = {key: open(path, "rb").read() for key, (path, _) in restored.graph.blobs.items()}
    assert again == files  # same names, same bytes
    sas = dict(part.split("=", 1) for part in manifest["sasToken"].split("&"))
    first = next(iter(files))
    assert restored.graph.blob(first, expiry=sas["se"], signature=sas["sig"])[1] == graph.blobs[first][1]


def test_graph_faults_are_rules_of_the_one_fault_engine(emulator):
    answer = requests.post(emulator.url + "/_emulator/graph/faults",
                           json={"failNext": {"code": "503", "message": "busy"}, "dropBlobAfter": 10, "count": 2},
                           timeout=10).json()
    assert answer == {"failNext": 1, "dropBlobAfter": [10, 10], "log": []}
    rules = requests.get(emulator.url + "/_emulator/faults", timeout=10).json()["rules"]
    assert [(r["action"], r["plane"], r["count"], r["afterBytes"]) for r in rules] == [
        ("fail_export", "graph", 1, None), ("drop_blob", "graph", 2, 10)]
    # a Graph rule never fires at the edge on Partner Center calls
    auth = {"Authorization": f"Bearer {emulator.token}"}
    assert requests.get(emulator.url + "/v1/customers", headers=auth, timeout=10).status_code == 200
    post = requests.post(f"{emulator.url}{BILLING}/usage/billed/export", json={"invoiceId": "G000000001"},
                         headers=auth, timeout=10)
    assert post.status_code == 404  # refused before an export exists: the fault is not used up
    requests.delete(emulator.url + "/_emulator/faults", timeout=10)
    assert requests.post(emulator.url + "/_emulator/graph/faults", json={}, timeout=10).json() == {
        "failNext": 0, "dropBlobAfter": [], "log": []}

"""The emulator's control API (/_emulator): wrongly typed input is a 400 naming the field (never a 500), and
control calls come from loopback only unless the emulator was started with a control token."""

from __future__ import annotations

import asyncio
import json

import pytest
import requests
from click.testing import CliRunner

from cspkit.emulator import Backend
from cspkit.emulator.app import create_app
from cspkit.emulator.server import EmulatorServer


def post(emulator, path: str, body) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(emulator.url + "/_emulator" + path, data=data, timeout=10,
                         headers={"Content-Type": "application/json"})


WRONG = [
    ("/clock/advance", {"by": 5}, "Field 'by': expected a string, got 5"),
    ("/clock/advance", {"by": "a month"}, "Field 'by': expected an ISO 8601 duration"),
    ("/clock/advance", {"days": "x"}, "Field 'days': expected a number >= 0, got 'x'"),
    ("/clock/advance", {"hours": True}, "Field 'hours': expected a number"),
    ("/clock/advance", {"days": -3}, "Field 'days': expected a number >= 0, got -3"),
    ("/clock", {"now": "yesterday"}, "Field 'now': expected an ISO 8601 time"),
    ("/clock", {"now": 20261201}, "Field 'now': expected an ISO 8601 time"),
    ("/clock", {}, "Field 'now': expected an ISO 8601 time such as '2026-12-01T00:00:00Z' (required)"),
    ("/reset", {"now": "yesterday"}, "Field 'now': expected an ISO 8601 time"),
    ("/reset", {"clearFaults": "no"}, "Field 'clearFaults': expected true or false, got 'no'"),
    ("/reset", {"seed": 3}, "Field 'seed': expected a seed name or a seed object, got 3"),
    ("/faults", {"action": 500, "count": "a"}, "Field 'count': expected an integer >= 0, got 'a'"),
    ("/faults", {"action": 500, "nth": 0}, "Field 'nth': expected an integer >= 1, got 0"),
    ("/faults", {"action": "latency", "delaySeconds": "slow"}, "Field 'delaySeconds': expected a number"),
    ("/faults", {"action": 500, "probability": 2}, "Field 'probability': expected a number from 0 to 1, got 2"),
    ("/faults", {"action": 500, "plane": "v1"}, "Field 'plane': expected one of ['isv', 'pc', 'saas'], got 'v1'"),
    ("/faults", {"action": 700}, "Field 'status': expected an HTTP status code from 100 to 599, got 700"),
    ("/faults", {"action": 429, "retryAfter": "7"}, "Field 'retryAfter': expected an integer number of seconds"),
    ("/faults", {"action": "explode"}, "Field 'action': expected an HTTP status or one of"),
    ("/faults", {"action": ["drop"]}, "Field 'action': expected an HTTP status or one of"),
    ("/faults", {"action": 500, "colour": "red"}, "unknown fault rule fields: ['colour']"),
    ("/config", {"rateLimit": {"limit": "many"}}, "Field 'limit': expected an integer >= 0, got 'many'"),
    ("/config", {"rateLimit": {"pathPattern": "(("}}, "Field 'rateLimit.pathPattern': expected a regular"),
    ("/config", {"rateLimit": 5}, "Field 'rateLimit': expected a JSON object, got 5"),
    ("/config", {"publisher": {"ack": "maybe"}}, "Field 'ack': expected one of 'Success', 'Failure', 'none'"),
    ("/config", {"publisher": {"webhook_status": "200"}}, "Field 'webhook_status': expected an integer from 100"),
    ("/config", {"webhookUrl": 8080}, "Field 'webhookUrl': expected a string, got 8080"),
    ("/config", {"policy": 1}, "Field 'policy': expected a policy preset name, got 1"),
    ("/config", {"policyOverrides": {"purchase_token_ttl": "1h"}}, "Field 'purchase_token_ttl': expected a number"),
    ("/config", {"policyOverrides": {"seats": 3}}, "Field 'policyOverrides.seats': expected one of cart_expiry"),
    ("/config", {"policyOverrides": {"webhook_retry_delays": [1, "x"]}},
     "Field 'policyOverrides.webhook_retry_delays': expected a list of seconds"),
    ("/seed", {"customers": "Contoso"}, "Field 'customers': expected a list of customer objects"),
    ("/seed", {"customers": [{"domain": "x"}]}, "Field 'customers[0].companyName': expected a string (required)"),
    ("/seed", {"catalog": []}, "Field 'catalog': expected a JSON object, got list"),
    ("/recon/synthetic", {"lines": "lots"}, "Field 'lines': expected an integer >= 1, got 'lots'"),
    ("/recon/synthetic", {"currency": "dollars"}, "Field 'currency': expected a 3-letter ISO 4217 code"),
    ("/tokens/inspect", {"token": 12}, "Field 'token': expected a string, got 12"),
    ("/clock/advance", b"{not json", "The request body is not valid JSON."),
    ("/clock/advance", b"[1, 2]", "The request body must be a JSON object."),
]


@pytest.mark.parametrize(("path", "body", "message"), WRONG, ids=[f"{p} {b!r}"[:60] for p, b, _ in WRONG])
def test_wrongly_typed_input_is_a_400_naming_the_field(emulator, path, body, message):
    before = requests.get(emulator.url + "/_emulator/clock", timeout=10).json()["now"]
    answer = post(emulator, path, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["code"] == "800002" and message in error["description"], error
    assert requests.get(emulator.url + "/_emulator/clock", timeout=10).json()["now"] == before  # nothing moved
    assert emulator.faults.rules == []  # no half-made rule either


def test_well_typed_input_still_works(emulator):
    assert post(emulator, "/clock/advance", {"days": 1.5, "hours": 12}).json()["now"] == "2026-11-04T09:00:00Z"
    assert post(emulator, "/clock/advance", {"by": "P1D"}).json()["now"] == "2026-11-05T09:00:00Z"
    assert post(emulator, "/clock", {"now": "2026-11-06"}).json()["now"] == "2026-11-06T00:00:00Z"
    rule = post(emulator, "/faults", {"action": "503", "count": 2.0, "probability": 1, "delaySeconds": 0})
    assert rule.status_code == 201 and (rule.json()["status"], rule.json()["count"]) == (503, 2)
    config = post(emulator, "/config", {"rateLimit": {"limit": 7, "windowSeconds": 2}, "publisher": {"ack": "none"}})
    assert config.status_code == 200
    assert config.json()["rateLimit"]["limit"] == 7 and config.json()["publisher"]["ack"] == "none"
    overrides = {"purchase_token_ttl": 3600, "saas_activation_days": 3, "webhook_retry_delays": [5, 60]}
    assert post(emulator, "/config", {"policyOverrides": overrides}).status_code == 200
    assert emulator.backend.policy.saas_activation_days == 3
    assert post(emulator, "/reset", {"now": "2026-11-02T09:00:00Z", "clearFaults": True}).status_code == 200


def test_a_count_that_is_not_a_number_never_reaches_a_request(emulator, pc):
    """Before, {"count": "a"} was stored and every later matching request failed with a 500."""
    assert post(emulator, "/faults", {"action": 500, "count": "a"}).status_code == 400
    assert pc.get("/customers").status_code == 200


# -- who may call the control API ----------------------------------------------------------------------------------


def call(app, method: str, path: str, *, client: tuple[str, int] | None, headers: dict[str, str] | None = None,
         body: bytes = b"") -> tuple[int, dict]:
    """One HTTP request straight into the ASGI app, from ``client`` (host, port) as the server would report it."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
             "client": client, "server": ("127.0.0.1", 8765)}  # fmt: skip
    sent: list[dict] = []
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(data) if data else {}


@pytest.fixture(scope="module")
def backend():
    return Backend()


def test_control_calls_from_anything_but_loopback_are_refused(backend):
    app = create_app(backend, tokens={"t"})
    for host in ("testclient", "203.0.113.9", "10.0.0.5", "::ffff:203.0.113.9", None):
        status, body = call(app, "POST", "/_emulator/reset", client=(host, 5000) if host else None)
        assert status == 403, (host, body)
        assert "loopback callers only" in body["description"] and "--control-token" in body["description"]
        status, _ = call(app, "GET", "/_emulator/webhooks", client=(host, 5000) if host else None)
        assert status == 403  # the webhook signing key stays local
    for host in ("127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1", "localhost"):
        status, body = call(app, "GET", "/_emulator/clock", client=(host, 5000))
        assert status == 200 and body["now"], host
    # the Partner Center plane is not the control plane: a remote caller with the bearer token is served
    status, _ = call(app, "GET", "/v1/customers", client=("203.0.113.9", 5000), headers={"Authorization": "Bearer t"})
    assert status == 200


def test_with_a_control_token_every_caller_must_send_it(backend):
    app = create_app(backend, tokens={"t"}, control_token="s3cret-control")
    for host in ("203.0.113.9", "127.0.0.1"):
        status, body = call(app, "GET", "/_emulator/clock", client=(host, 5000))
        assert status == 401 and "control token" in body["description"]
        status, _ = call(app, "GET", "/_emulator/clock", client=(host, 5000),
                         headers={"X-Cspkit-Control-Token": "wrong"})
        assert status == 401
        status, _ = call(app, "GET", "/_emulator/clock", client=(host, 5000), headers={"Authorization": "Bearer t"})
        assert status == 401  # the Partner Center token is not the control token
        status, body = call(app, "GET", "/_emulator/clock", client=(host, 5000),
                            headers={"X-Cspkit-Control-Token": "s3cret-control"})
        assert status == 200 and body["now"]
        status, _ = call(app, "POST", "/_emulator/clock/advance", client=(host, 5000),
                         headers={"Authorization": "Bearer s3cret-control"}, body=b'{"by": "PT1H"}')
        assert status == 200
    status, body = call(app, "GET", "/_emulator/clock", client=("203.0.113.9", 5000))
    assert "s3cret-control" not in json.dumps(body)  # never echoed


def test_a_served_emulator_with_a_control_token(monkeypatch):
    with EmulatorServer(control_token="tok-1") as emu:
        assert requests.get(emu.url + "/_emulator/clock", timeout=10).status_code == 401
        ok = requests.get(emu.url + "/_emulator/clock", headers={"X-Cspkit-Control-Token": "tok-1"}, timeout=10)
        assert ok.status_code == 200
    with EmulatorServer() as emu:  # none configured: loopback (this test) may call it without one
        assert requests.get(emu.url + "/_emulator/clock", timeout=10).status_code == 200


def test_serve_takes_the_control_token_from_the_option_or_the_environment(monkeypatch):
    from cspkit.cli import emulator as emulator_cli

    seen = {}

    class Fake:
        def __init__(self, **kwargs):
            seen.update(kwargs)

        def serve_forever(self, on_ready=None):
            return None

    monkeypatch.setattr("cspkit.emulator.EmulatorServer", Fake)
    runner = CliRunner()
    assert runner.invoke(emulator_cli.emulator_group, ["serve", "--control-token", "abc"]).exit_code == 0
    assert seen["control_token"] == "abc"
    result = runner.invoke(emulator_cli.emulator_group, ["serve"], env={"CSPKIT_EMULATOR_CONTROL_TOKEN": "xyz"})
    assert result.exit_code == 0 and seen["control_token"] == "xyz"
    result = runner.invoke(emulator_cli.emulator_group, ["serve", "--host", "0.0.0.0"],
                           env={"CSPKIT_EMULATOR_CONTROL_TOKEN": ""})
    assert result.exit_code == 0 and "answers loopback callers only" in result.stderr

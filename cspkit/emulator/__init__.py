"""Local Partner Center emulator (with the SaaS publisher side, a virtual clock and fault injection).

- :class:`EmulatorServer` — run it (in-process thread or ``cspkit emulator serve``); ``.url``, ``.token``,
  ``.backend``, ``.clock``, ``.faults``, ``.reset()``, ``.save()``; a context manager.
- :class:`Backend` — the state machines, methods named after the operations (``create_cart``, ``checkout_cart``,
  ``update_subscription``, ``resolve_purchase_token``, ``activate_saas``…); knows nothing of HTTP.
- :class:`Clock` — virtual time; ``advance("P1M")`` / ``advance(days=3)`` / ``set(dt)`` fire due events in order
  (token expiry, window closings, cycle charges, renewals, month-end invoices, auto-cancel, ACK auto-accept).
- The pytest fixture ``emulator`` lives in :mod:`cspkit.emulator.testing`.

Planes: Partner Center under ``/v1`` (bearer token required), SaaS fulfillment under ``/api/saas`` (bearer token,
``api-version=2018-08-31``), the emulated publisher's landing page under ``/publisher/{publisherId}/landing``, and
the control API under ``/_emulator``:

=====================================  ===========================================================================
``POST /_emulator/reset``              back to the seed and start time (``{"now": ..., "seed": ...}`` optional)
``POST /_emulator/seed``               ``{"catalog": {...}, "customers": [...]}`` (sample_data/README.md shapes)
``GET|POST /_emulator/clock``          read, or ``{"now": "2026-12-01T00:00:00Z"}`` to jump forward
``POST /_emulator/clock/advance``      ``{"by": "P1M"}`` or ``{"days": 3, "hours": 1}``
``GET|POST|DELETE /_emulator/faults``  fault rules (:mod:`cspkit.emulator.faults`), ``/faults/log`` what fired
``GET|POST /_emulator/config``         ``policy`` preset, ``policyOverrides``, ``rateLimit``, ``publisher``
                                       (``ack``, ``webhookStatus``, ``autoActivate``), ``webhookUrl``
``GET /_emulator/state``               counts, pending events, event log; ``POST /_emulator/state/save``
``GET /_emulator/webhooks``            webhook deliveries and the JWT signing key
``POST /_emulator/tokens``             issue another bearer token; ``POST /_emulator/tokens/inspect`` a purchase token
``POST /_emulator/recon/synthetic``    ``{"lines": 1000000}``: an invoice of generated recon lines (benchmarks)
=====================================  ===========================================================================
"""

from cspkit.emulator.backend import Backend
from cspkit.emulator.clock import Clock
from cspkit.emulator.server import DEFAULT_TOKEN, EmulatorServer

__all__ = ["DEFAULT_TOKEN", "Backend", "Clock", "EmulatorServer"]
